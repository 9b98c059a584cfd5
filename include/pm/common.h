/*
 * common.h: what every perfmark module shares: the result codes, the
 * allocation wrappers with their out-of-memory policy, the three tiers of
 * checks, and logging.
 *
 * Result codes follow one rule across the project: PM_OK is 0, failures are
 * negative; a system failure carries -errno (so PM_OK > every error, and
 * `rc < 0` means failure). Fallible functions are PM_MUST_CHECK.
 */
#ifndef PM_COMMON_H
#define PM_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define PM_MUST_CHECK __attribute__((warn_unused_result))
#define PM_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define PM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PM_LIKELY(x) __builtin_expect(!!(x), 1)
#define PM_UNLIKELY(x) __builtin_expect(!!(x), 0)

enum {
    PM_OK = 0,
    /* Project errors sit below the errno range (errno values are < 4096). */
    PM_AGAIN = -10001,    /* not finished: call again */
    PM_DECLINED = -10002, /* not mine: let the next handler try */
    PM_EINVAL = -10003,   /* malformed input */
    PM_ETOOBIG = -10004,  /* input past a configured cap */
    PM_ENOTFOUND = -10005,
    PM_EEXIST = -10006,   /* unique constraint: already there */
    PM_ECORRUPT = -10007, /* checksum or structure mismatch */
    PM_ESTORE = -10008,   /* the store (SQLite) failed */
    PM_ERANGE = -10009,   /* number out of range */
};

/* A short static description of a result code. Can't fail. */
const char *pm_strerror(int rc);

/*
 * Allocation. Out of memory is not recoverable in a server that must not
 * lose acknowledged events half-way, so pm_malloc and friends abort with a
 * message instead of returning NULL (the policy of redis' zmalloc). Tests
 * can inject failures with pm_alloc_fail_after() to exercise the paths that
 * use pm_try_malloc, which may return NULL.
 */
void *pm_malloc(size_t n);
void *pm_calloc(size_t count, size_t n);
void *pm_realloc(void *p, size_t n);
char *pm_strdup(const char *s);
char *pm_strndup(const char *s, size_t n);
void pm_free(void *p);
void *pm_try_malloc(size_t n); /* NULL on failure (or injected failure) */
/* After `n` more successful pm_try_malloc calls, fail every one; n < 0 disarms. */
void pm_alloc_fail_after(long n);

/* Checks. assert() for debug-only invariants; PM_ALWAYS/PM_NEVER for
 * "impossible" states that still recover in release builds (they log and
 * return the condition); pm_panic for corrupted state. */
#define PM_ALWAYS(x) (PM_LIKELY(x) ? 1 : !pm__never_hit(__FILE__, __LINE__, #x))
#define PM_NEVER(x) (PM_UNLIKELY(x) ? pm__never_hit(__FILE__, __LINE__, #x) : 0)
#define pm_panic(...) pm__panic(__FILE__, __LINE__, __VA_ARGS__)
int pm__never_hit(const char *file, int line, const char *expr); /* logs, returns 1 */
__attribute__((noreturn)) void pm__panic(const char *file, int line, const char *fmt, ...) PM_PRINTF(3, 4);

/* Logging to stderr, one line per call, prefixed with UTC time and level.
 * Thread-safe (one write(2) per line). */
enum pm_log_level { PM_LOG_DEBUG, PM_LOG_INFO, PM_LOG_WARN, PM_LOG_ERROR };
void pm_log(enum pm_log_level level, const char *fmt, ...) PM_PRINTF(2, 3);
void pm_log_set_level(enum pm_log_level level);
#define pm_info(...) pm_log(PM_LOG_INFO, __VA_ARGS__)
#define pm_warn(...) pm_log(PM_LOG_WARN, __VA_ARGS__)
#define pm_error(...) pm_log(PM_LOG_ERROR, __VA_ARGS__)
#define pm_debug(...) pm_log(PM_LOG_DEBUG, __VA_ARGS__)

/* Mark the calling thread as background work (Linux: nice +10 for this
 * thread only), so it yields the CPU to the event loops under load and
 * catches up when they idle. Best effort; can't fail. */
void pm_thread_background(void);

/* For a result that is deliberately not acted on (e.g. a best-effort
 * append whose failure the caller cannot do better about); the name says so
 * at the call site, where a (void) cast would not satisfy the compiler. */
static inline void pm_ignore_rc(int rc) { (void)rc; }

#endif
