/*
 * geo.c: IP -> country/region with libmaxminddb (see pm/geo.h).
 *
 * libmaxminddb opens databases by file name only (it mmaps them), so the
 * built-in database is handed over as an anonymous memfd, named through
 * /proc/self/fd; where that fails (no /proc), as an unlinked temporary
 * file. Either way the mapping outlives the descriptor, which is closed at
 * once, and the pages are shared with the page cache rather than copied
 * per process.
 */
#include "pm/geo.h"
#include "route/route_data.h"

#include <arpa/inet.h>
#include <errno.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

struct pm_geo_s {
    MMDB_s db;
    char describe[160];
};

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -errno;
        p += w;
        n -= (size_t)w;
    }
    return PM_OK;
}

/* A descriptor holding the built-in database, or -1. */
static int builtin_fd(char *path, size_t cap)
{
    size_t n = (size_t)(pm__geo_default_db_end - pm__geo_default_db_start);
    int fd = memfd_create("perfmark-geo", MFD_CLOEXEC);
    if (fd >= 0) {
        snprintf(path, cap, "/proc/self/fd/%d", fd);
        if (access(path, R_OK) != 0) {
            close(fd);
            fd = -1;
        }
    }
    if (fd < 0) {
        const char *tmp = getenv("TMPDIR");
        snprintf(path, cap, "%s/perfmark-geo-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        fd = mkstemp(path);
    }
    if (fd >= 0 && write_all(fd, pm__geo_default_db_start, n) != PM_OK) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void describe(pm_geo_t *g, const char *path)
{
    char day[16] = "";
    time_t built = (time_t)g->db.metadata.build_epoch;
    struct tm tm;
    if (gmtime_r(&built, &tm)) strftime(day, sizeof(day), "%Y-%m-%d", &tm);
    if (path)
        snprintf(g->describe, sizeof(g->describe), "%s (%s, built %s)", path, g->db.metadata.database_type, day);
    else
        snprintf(g->describe, sizeof(g->describe), "DB-IP country lite (built in), built %s", day);
}

int pm_geo_open(const char *path, pm_geo_t **out)
{
    pm_geo_t *g = pm_calloc(1, sizeof(*g));
    char file[256];
    int fd = -1, rc = PM_OK;
    if (path == NULL && (fd = builtin_fd(file, sizeof(file))) < 0) {
        pm_error("geo: cannot stage the built-in database: %s", strerror(errno));
        rc = -EIO;
        goto out;
    }
    int st = MMDB_open(path ? path : file, MMDB_MODE_MMAP, &g->db);
    if (fd >= 0) {
        if (strncmp(file, "/proc/", 6) != 0) unlink(file);
        close(fd);
    }
    if (st != MMDB_SUCCESS) {
        pm_error("geo: %s: %s", path ? path : "built-in database", MMDB_strerror(st));
        rc = st == MMDB_FILE_OPEN_ERROR ? PM_ENOTFOUND : PM_EINVAL;
        goto out;
    }
    describe(g, path);
out:
    if (rc != PM_OK) {
        pm_free(g);
        g = NULL;
    }
    *out = g;
    return rc;
}

void pm_geo_close(pm_geo_t *g)
{
    if (g == NULL) return;
    MMDB_close(&g->db);
    pm_free(g);
}

const char *pm_geo_describe(const pm_geo_t *g)
{
    return g->describe;
}

/* A string at `path` of the entry, as upper-case letters/digits, into out;
 * false if absent or not 1..cap-1 such characters. */
static bool code_at(MMDB_entry_s *e, const char *const *path, char *out, size_t cap)
{
    MMDB_entry_data_s d;
    if (MMDB_aget_value(e, &d, path) != MMDB_SUCCESS || !d.has_data || d.type != MMDB_DATA_TYPE_UTF8_STRING)
        return false;
    if (d.data_size == 0 || d.data_size >= cap) return false;
    for (uint32_t i = 0; i < d.data_size; i++) {
        char c = d.utf8_string[i];
        if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
        out[i] = c;
    }
    out[d.data_size] = '\0';
    return true;
}

static const char *const p_country[] = {"country", "iso_code", NULL};
static const char *const p_country_code[] = {"country_code", NULL};
static const char *const p_registered[] = {"registered_country", "iso_code", NULL};
static const char *const p_subdivision[] = {"subdivisions", "0", "iso_code", NULL};

bool pm_geo_lookup(const pm_geo_t *g, const pm_ip_t *ip, pm_geo_result_t *out)
{
    memset(out, 0, sizeof(*out));
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    const struct sockaddr *sa;
    if (ip->v4) {
        memcpy(&v4.sin_addr, ip->b + 12, 4);
        sa = (const struct sockaddr *)&v4;
    } else {
        memcpy(&v6.sin6_addr, ip->b, 16);
        sa = (const struct sockaddr *)&v6;
    }
    int err = MMDB_SUCCESS;
    MMDB_lookup_result_s r = MMDB_lookup_sockaddr((MMDB_s *)&g->db, sa, &err);
    if (err != MMDB_SUCCESS || !r.found_entry) return false;
    if (!code_at(&r.entry, p_country, out->country, 3) && !code_at(&r.entry, p_country_code, out->country, 3) &&
        !code_at(&r.entry, p_registered, out->country, 3))
        return false;
    if (strlen(out->country) != 2) {
        out->country[0] = '\0';
        return false;
    }
    char sub[5];
    if (code_at(&r.entry, p_subdivision, sub, sizeof(sub)))
        snprintf(out->region, sizeof(out->region), "%s-%s", out->country, sub);
    return true;
}
