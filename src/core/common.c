/*
 * common.c: result-code names, allocation wrappers with their out-of-memory
 * policy (abort with a message), the check helpers and stderr logging.
 */
#include "pm/common.h"
#include "pm/clock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

const char *pm_strerror(int rc)
{
    switch (rc) {
    case PM_OK: return "ok";
    case PM_AGAIN: return "not finished";
    case PM_DECLINED: return "declined";
    case PM_EINVAL: return "invalid input";
    case PM_ETOOBIG: return "too big";
    case PM_ENOTFOUND: return "not found";
    case PM_EEXIST: return "already exists";
    case PM_ECORRUPT: return "corrupt data";
    case PM_ESTORE: return "store failure";
    case PM_ERANGE: return "out of range";
    default: break;
    }
    if (rc < 0 && rc > -4096) return strerror(-rc);
    return "unknown error";
}

static void oom(size_t n)
{
    char msg[96];
    int len = snprintf(msg, sizeof(msg), "perfmark: out of memory allocating %zu bytes\n", n);
    if (write(2, msg, (size_t)len) < 0) {
        /* nothing more we can do */
    }
    abort();
}

void *pm_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (PM_UNLIKELY(p == NULL)) oom(n);
    return p;
}

void *pm_calloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (PM_UNLIKELY(p == NULL)) oom(count * n);
    return p;
}

void *pm_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (PM_UNLIKELY(q == NULL)) oom(n);
    return q;
}

char *pm_strndup(const char *s, size_t n)
{
    char *p = pm_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *pm_strdup(const char *s) { return pm_strndup(s, strlen(s)); }

void pm_free(void *p) { free(p); }

static _Atomic long fail_after = -1;

void pm_alloc_fail_after(long n) { atomic_store(&fail_after, n); }

void *pm_try_malloc(size_t n)
{
    long left = atomic_load(&fail_after);
    if (left >= 0) {
        if (left == 0) return NULL;
        atomic_fetch_sub(&fail_after, 1);
    }
    return malloc(n ? n : 1);
}

int pm__never_hit(const char *file, int line, const char *expr)
{
    pm_log(PM_LOG_ERROR, "internal check failed at %s:%d: %s", file, line, expr);
    return 1;
}

void pm__panic(const char *file, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pm_log(PM_LOG_ERROR, "panic at %s:%d: %s", file, line, msg);
    abort();
}

static _Atomic int min_level = PM_LOG_INFO;

void pm_log_set_level(enum pm_log_level level) { atomic_store(&min_level, (int)level); }

void pm_log(enum pm_log_level level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if ((int)level < atomic_load(&min_level)) return;
    char line[1024];
    char ts[PM_RFC3339_MAX];
    pm_time_format(pm_now(), ts);
    int n = snprintf(line, sizeof(line), "%s %-5s ", ts, names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2) len = sizeof(line) - 2;
    line[len++] = '\n';
    if (write(2, line, len) < 0) {
        /* stderr is gone; nowhere to report */
    }
}

void pm_thread_background(void)
{
#ifdef __linux__
    /* On Linux a thread is a schedulable entity with its own nice value. */
    pid_t tid = (pid_t)syscall(SYS_gettid);
    if (setpriority(PRIO_PROCESS, (id_t)tid, 10) != 0) pm_debug("cannot lower thread priority: %s", strerror(errno));
#endif
}
