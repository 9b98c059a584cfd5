#!/bin/sh
# bench/attribution.sh: time every attribution model on synthetic journeys.
#
#   sh bench/attribution.sh [PERFMARK_BIN]     (default build/perfmark; use a Release build)
#
# Generates N journeys (default 1,000,000) over CHANNELS channels (default 20)
# with `perfmark attribute --generate` (deterministic per SEED), then runs each
# model once and prints wall time, CPU time, journeys per second and peak RSS
# (from /usr/bin/time -v). Every run includes reading and aggregating the CSV;
# the `first` row is essentially that cost alone. A second input over 12
# channels times the exact (enumerating) Shapley model. Targets (docs/attribution.md):
# Markov order 1 <= 1 s, Shapley exact over 12 channels <= 5 s, judged on CPU
# time (user + sys): the runs are single-threaded, so on an idle machine CPU
# and wall time agree, and on a shared one CPU time is the figure that holds.
set -eu

BIN=${1:-build/perfmark}
N=${N:-1000000}
CHANNELS=${CHANNELS:-20}
SEED=${SEED:-1}

die() {
    echo "bench: $*" >&2
    exit 1
}

[ -x "$BIN" ] || die "$BIN is not an executable (make build first)"
[ -x /usr/bin/time ] || die "/usr/bin/time not found (Debian: apt-get install -y time)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/perfmark-attrib.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT

echo "bench: generating $N journeys over $CHANNELS channels (seed $SEED)"
"$BIN" attribute --generate "$N" --channels "$CHANNELS" --seed "$SEED" >"$TMP/journeys.csv"
"$BIN" attribute --generate "$N" --channels 12 --seed "$SEED" >"$TMP/journeys12.csv"
distinct=$(tail -n +2 "$TMP/journeys.csv" | cut -d';' -f1 | sort -u | wc -l)
echo "bench: $(wc -c <"$TMP/journeys.csv") bytes, $distinct distinct paths"
echo

# run LABEL TARGET_SECONDS FILE ARGS...: one timed run, one line of output.
run() {
    label=$1
    target=$2
    file=$3
    shift 3
    if ! /usr/bin/time -v -o "$TMP/time" "$BIN" attribute --paths "$file" "$@" >"$TMP/out" 2>"$TMP/err"; then
        echo "bench: $label failed:" >&2
        cat "$TMP/err" >&2
        exit 1
    fi
    awk -v label="$label" -v n="$N" -v target="$target" '
        /Elapsed \(wall clock\)/ {
            k = split($NF, t, ":"); wall = 0
            for (i = 1; i <= k; i++) wall = wall * 60 + t[i]
        }
        /User time/ { user = $NF }
        /System time/ { sys = $NF }
        /Maximum resident set size/ { rss = $NF }
        END {
            verdict = ""; cpu = user + sys
            if (target != "-") verdict = (cpu <= target) ? sprintf("ok (cpu <= %s s)", target) : sprintf("MISSED (cpu > %s s)", target)
            printf "%-28s %8.2f %8.2f %12.0f %9.1f  %s\n", label, wall, user + sys, n / (wall > 0 ? wall : 0.001), rss / 1024, verdict
        }' "$TMP/time"
    grep -h "perfmark attribute:" "$TMP/err" | sed 's/^/    /' || true
}

printf "%-28s %8s %8s %12s %9s  %s\n" "model" "wall s" "cpu s" "journeys/s" "RSS MiB" "target"
for model in first last last_non_direct linear time_decay position; do
    run "$model" - "$TMP/journeys.csv" --model "$model"
done
run "markov order 1" 1 "$TMP/journeys.csv" --model markov --order 1
run "markov order 2" - "$TMP/journeys.csv" --model markov --order 2
run "markov order 3" - "$TMP/journeys.csv" --model markov --order 3
run "shapley ($CHANNELS ch, auto)" - "$TMP/journeys.csv" --model shapley
run "shapley (sample 1000)" - "$TMP/journeys.csv" --model shapley --shapley-method sample --samples 1000
run "shapley exact (12 ch)" 5 "$TMP/journeys12.csv" --model shapley --shapley-method enumerate
run "all models" - "$TMP/journeys.csv" --model all

# The reference: the same first-order Markov model in plain Python
# (bench/markov_ref.py, written apart from perfmark), timed the same way,
# and its removal effects compared with perfmark's.
echo
"$BIN" attribute --paths "$TMP/journeys.csv" --model markov --order 1 --format csv 2>/dev/null |
    awk -F, 'NR > 1 { printf "%s %s %s\n", $1, $4, $2 }' | sort >"$TMP/pm-markov.txt"
pm_cpu=$(/usr/bin/time -f '%U %S' "$BIN" attribute --paths "$TMP/journeys.csv" --model markov --order 1 2>&1 >/dev/null |
    tail -n 1 | awk '{ print $1 + $2 }')
/usr/bin/time -f '%U %S' -o "$TMP/ref.time" python3 "$(dirname "$0")/markov_ref.py" "$TMP/journeys.csv" >"$TMP/ref-markov.txt" ||
    die "the Python reference failed"
ref_cpu=$(awk '{ print $1 + $2 }' "$TMP/ref.time")
diff=$(sort "$TMP/ref-markov.txt" | join - "$TMP/pm-markov.txt" |
    awk '{ d = $2 - $4; if (d < 0) d = -d; if (d > m) m = d; n++ } END { printf "%.2g %d\n", m, n }')
echo "reference: Python markov order 1 (bench/markov_ref.py): cpu $ref_cpu s; perfmark cpu $pm_cpu s;" \
    "largest removal-effect difference $(echo "$diff" | cut -d' ' -f1) over $(echo "$diff" | cut -d' ' -f2) channels"
awk -v a="$pm_cpu" -v b="$ref_cpu" 'BEGIN { printf "ratio perfmark/python (markov order 1, cpu s): %.2f\n", (b > 0 ? a / b : 0) }'
