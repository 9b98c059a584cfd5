# perfmark: a thin front to CMake. The README's two commands are `make run`
# and `make test`; both install missing Debian packages first when run as
# root (elsewhere they say what to install), then the npm packages of
# package-lock.json (the dashboard's chart library, embedded into the
# binary at build time, and playwright-core for the browser test).

BUILD       ?= build
BUILD_ASAN  ?= build-asan
BUILD_FUZZ  ?= build-fuzz
DATA        ?= data
LISTEN      ?= 127.0.0.1:8080
FUZZ_SECONDS ?= 10
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)

DEB_PACKAGES = build-essential cmake pkg-config clang libclang-rt-14-dev \
	libh2o-evloop-dev libjansson-dev libsqlite3-dev sqlite3 libssl-dev zlib1g-dev libcurl4-openssl-dev \
	libcmocka-dev python3 python3-pytest python3-requests wrk nginx curl \
	nodejs chromium tzdata \
	libmaxminddb-dev libyaml-dev libpcre2-dev uap-core valgrind

.PHONY: all deps build build-asan run demo test unit system browser fuzz fuzz-smoke bench clean

all: build

# npm ci again whenever package.json or package-lock.json is newer than the
# last install (npm writes node_modules/.package-lock.json). playwright-core
# never downloads a browser: the test uses Debian's chromium.
deps:
	@sh tools/deps.sh $(DEB_PACKAGES)
	@command -v npm >/dev/null 2>&1 || sh tools/deps.sh npm   # Debian's nodejs comes without npm
	@if [ ! -f node_modules/.package-lock.json ] || [ package.json -nt node_modules/.package-lock.json ] \
	    || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
	    echo "deps: npm ci"; \
	    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.package-lock.json; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DPM_SANITIZE=ON >/dev/null
	cmake --build $(BUILD_ASAN) -j $(JOBS)

# A working tracker with a demo workspace on $(LISTEN), data in $(DATA)/.
run: build
	$(BUILD)/perfmark demo --data $(DATA) --listen $(LISTEN)

# Everything: the release build `make run` uses (it must compile warning-free
# with optimisation too), unit tests, system tests and the dashboard's
# browser test under ASan+UBSan, then a short run of every fuzzer.
test: build unit system browser fuzz-smoke

unit: build-asan
	cd $(BUILD_ASAN) && ctest --output-on-failure -j $(JOBS)

# PERFMARK_RELEASE_BIN: the multi-million-event rollup check runs on the
# release build (tests/system/test_reports.py).
system: build build-asan
	PERFMARK_BIN=$(abspath $(BUILD_ASAN))/perfmark PERFMARK_RELEASE_BIN=$(abspath $(BUILD))/perfmark \
		/usr/bin/python3 -m pytest -q tests/system

# The dashboard in headless Debian chromium (playwright-core), against the
# real binary; screenshots in test-output/.
browser: build-asan
	PERFMARK_BIN=$(abspath $(BUILD_ASAN))/perfmark node --test tests/browser/

$(BUILD_FUZZ)/.built: deps $(wildcard fuzz/*.c) $(wildcard src/*/*.c) $(wildcard include/pm/*.h)
	CC=clang cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=Debug -DPM_FUZZ=ON >/dev/null
	cmake --build $(BUILD_FUZZ) -j $(JOBS)
	touch $@

fuzz-smoke: $(BUILD_FUZZ)/.built
	sh tools/fuzz.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

# Longer fuzzing by hand: make fuzz FUZZ_SECONDS=600
fuzz: FUZZ_SECONDS=120
fuzz: fuzz-smoke

bench: build
	sh bench/click.sh $(BUILD)/perfmark

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
