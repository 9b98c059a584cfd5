/*
 * import.c: `perfmark import conversions FILE.csv`: sends offline (CRM)
 * conversions to a running server's POST /api/v1/conversions:batch, so
 * they go through its journal like postbacks (durable before the answer,
 * deduped on (offer, txid): importing the same file twice changes nothing).
 * Prints the server's JSON answer on stdout and each bad row, by line
 * number, on stderr. Plain HTTP to the server (it usually listens on
 * loopback; put TLS in front of a remote one and use its local address).
 */
#include "pm/buf.h"
#include "pm/cli.h"

#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FILE (256u << 20)

static const char usage[] = "usage: perfmark import conversions FILE.csv [--server URL] [--key KEY]\n"
                            "\n"
                            "Send offline conversions (a CRM export) to a running perfmark server.\n"
                            "FILE.csv has a header naming its columns, in any order:\n"
                            "  click_id   the perfmark click id, or\n"
                            "  lead_id    the advertiser's lead id recorded on an earlier conversion of the click\n"
                            "  type       conversion type / stage (lead, qualified, opportunity, won...)\n"
                            "  status     pending | approved | rejected | chargeback | refund (default approved)\n"
                            "  payout     revenue (decimal), currency (ISO 4217), amount (sale value), txid\n"
                            "Good rows are recorded (durably) even when others are bad; bad rows are listed\n"
                            "by line number. Re-importing the same file records nothing new.\n"
                            "\n"
                            "  --server URL   the server (default http://127.0.0.1:8080)\n"
                            "  --key KEY      an admin API key (default: $PERFMARK_KEY)\n"
                            "Exit status: 0 all rows good, 1 some rows bad or the request failed, 2 usage.\n";

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    char *buf = pm_malloc(MAX_FILE + 1);
    *len = fread(buf, 1, MAX_FILE + 1, f);
    bool bad = ferror(f) || *len > MAX_FILE;
    fclose(f);
    if (bad) {
        pm_free(buf);
        return NULL;
    }
    return buf;
}

/* "http://host:port" -> host, port. */
static bool parse_url(const char *url, char *host, size_t hcap, char *port, size_t pcap)
{
    if (strncmp(url, "http://", 7) != 0) return false;
    const char *h = url + 7, *colon = strchr(h, ':'), *slash = strchr(h, '/');
    const char *hend = colon ? colon : slash ? slash : h + strlen(h);
    if (hend == h || (size_t)(hend - h) >= hcap) return false;
    snprintf(host, hcap, "%.*s", (int)(hend - h), h);
    if (colon) {
        const char *pend = slash ? slash : colon + strlen(colon);
        snprintf(port, pcap, "%.*s", (int)(pend - colon - 1), colon + 1);
    } else {
        snprintf(port, pcap, "80");
    }
    return true;
}

static int connect_to(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0) return -1;
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) close(fd), fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return false;
        p += w, n -= (size_t)w;
    }
    return true;
}

/* POST the file; the response (status line .. body) into *resp. */
static int post(const char *url, const char *key, const char *body, size_t len, pm_buf_t *resp)
{
    char host[256], port[16], head[1024];
    if (!parse_url(url, host, sizeof(host), port, sizeof(port))) {
        fprintf(stderr, "perfmark import: --server must be http://host[:port]\n");
        return 2;
    }
    int fd = connect_to(host, port);
    if (fd < 0) {
        fprintf(stderr, "perfmark import: cannot connect to %s\n", url);
        return 1;
    }
    int n = snprintf(head, sizeof(head),
                     "POST /api/v1/conversions:batch HTTP/1.1\r\nHost: %s:%s\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: text/csv\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     host, port, key, len);
    bool ok = n > 0 && (size_t)n < sizeof(head) && send_all(fd, head, (size_t)n) && send_all(fd, body, len);
    char buf[65536];
    ssize_t r;
    while (ok && (r = recv(fd, buf, sizeof(buf), 0)) > 0)
        ok = pm_buf_append(resp, buf, (size_t)r) == PM_OK;
    close(fd);
    if (!ok) fprintf(stderr, "perfmark import: the request to %s failed\n", url);
    return ok ? 0 : 1;
}

/* Print the answer; 0 when every row was good. */
static int report(const pm_buf_t *resp)
{
    const char *p = pm_buf_str(resp), *body = strstr(p, "\r\n\r\n");
    int status = 0;
    if (sscanf(p, "HTTP/1.%*d %d", &status) != 1 || body == NULL) {
        fprintf(stderr, "perfmark import: no HTTP answer\n");
        return 1;
    }
    body += 4;
    json_t *doc = json_loads(body, 0, NULL);
    printf("%s\n", body);
    int rc = status == 200 ? 0 : 1;
    json_t *errors = json_object_get(doc, "errors"), *e;
    size_t i;
    json_array_foreach(errors, i, e)
    {
        fprintf(stderr, "line %lld: %s: %s\n", (long long)json_integer_value(json_object_get(e, "line")),
                json_string_value(json_object_get(e, "code")), json_string_value(json_object_get(e, "message")));
        rc = 1;
    }
    if (status != 200) {
        json_t *err = json_object_get(doc, "error");
        fprintf(stderr, "perfmark import: %d %s\n", status,
                json_string_value(json_object_get(err, "message")) ? json_string_value(json_object_get(err, "message"))
                                                                   : "");
    }
    json_decref(doc);
    return rc;
}

static int import_run(int argc, char **argv)
{
    const char *server = "http://127.0.0.1:8080", *key = getenv("PERFMARK_KEY"), *file = NULL;
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc < 3 || strcmp(argv[1], "conversions") != 0) {
        fputs(usage, stderr);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
            server = argv[++i];
        else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
            key = argv[++i];
        else if (strcmp(argv[i], "--help") == 0)
            return fputs(usage, stdout), 0;
        else if (argv[i][0] != '-' && file == NULL)
            file = argv[i];
        else
            return fputs(usage, stderr), 2;
    }
    if (file == NULL || key == NULL || *key == '\0' || strpbrk(key, "\r\n")) {
        fprintf(stderr, "perfmark import: needs FILE.csv and an API key (--key or $PERFMARK_KEY)\n");
        return 2;
    }
    size_t len = 0;
    char *body = read_file(file, &len);
    if (body == NULL) {
        fprintf(stderr, "perfmark import: cannot read %s (or larger than 256 MiB)\n", file);
        return 1;
    }
    pm_buf_t resp;
    pm_buf_init(&resp, 512u << 20);
    int rc = post(server, key, body, len, &resp);
    if (rc == 0) rc = report(&resp);
    pm_buf_free(&resp);
    pm_free(body);
    return rc;
}

const pm_cli_verb_t pm_cli_import = {"import", "import offline (CRM) conversions from CSV into a running server",
                                     import_run};
