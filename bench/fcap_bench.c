/*
 * fcap_bench.c: memory and speed of the frequency-cap table (pm/fcap.h) at
 * 10 million visitors, the size the routing design asks for.
 *
 *   build-release/bench_fcap [VISITORS]      (default 10000000)
 *
 * Counts one click for each of VISITORS distinct visitors, then a second
 * round over the same visitors (every lookup a hit), and prints the table's
 * bytes, bytes per visitor, the process's resident memory, the share of
 * second-round counts that found their first click (evictions lose some
 * when the table is full), and nanoseconds per count.
 */
#include "pm/clock.h"
#include "pm/fcap.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL) return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

static void visitor(uint64_t i, pm_id_t *v)
{
    memset(v, 0, sizeof(*v));
    memcpy(v->b + 8, &i, sizeof(i)); /* like ids: time first, then randomness */
    v->b[0] = 1;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
    long rss0 = rss_bytes();
    pm_fcap_t *f = pm_fcap_create(n);
    int64_t now = pm_now();
    pm_id_t v;
    double t0 = seconds();
    for (uint64_t i = 0; i < n; i++) {
        visitor(i, &v);
        (void)pm_fcap_count(f, 42, &v, PM_FLOW_PER_DAY, now);
    }
    double t1 = seconds();
    uint64_t found = 0;
    for (uint64_t i = 0; i < n; i++) {
        visitor(i, &v);
        found += pm_fcap_count(f, 42, &v, PM_FLOW_PER_DAY, now) == 1;
    }
    double t2 = seconds();
    size_t bytes = pm_fcap_bytes(f);
    printf("fcap: %llu visitors, table %zu bytes (%.1f MiB), %.1f bytes/visitor, rss +%.1f MiB\n",
           (unsigned long long)n, bytes, (double)bytes / 1048576.0, (double)bytes / (double)n,
           (double)(rss_bytes() - rss0) / 1048576.0);
    printf("fcap: first round %.0f ns/click, second round %.0f ns/click, %.4f%% of visitors still counted\n",
           (t1 - t0) * 1e9 / (double)n, (t2 - t1) * 1e9 / (double)n, 100.0 * (double)found / (double)n);
    pm_fcap_destroy(f);
    return 0;
}
