/*
 * fuzz_iplist.c: CIDR list files (pm/iplist.h, `serve --datacenter-cidrs`).
 * A list that parses must contain the network address and the last address
 * of every entry in it (split here by the documented rules), and a list
 * that fails must name a line of the input.
 */
#include "pm/iplist.h"

#include <stdlib.h>
#include <string.h>

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static void check_entry(const pm_iplist_t *l, const char *s, size_t n)
{
    while (n && blank(*s))
        s++, n--;
    while (n && blank(s[n - 1]))
        n--;
    pm_cidr_t c;
    if (n == 0 || pm_cidr_parse(s, n, &c) != PM_OK) abort(); /* the list parsed, so must each entry */
    if (!pm_iplist_contains(l, &c.net)) abort();
    pm_ip_t last = c.net;
    for (int bit = c.prefix; bit < 128; bit++)
        last.b[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
    if (!pm_iplist_contains(l, &last)) abort();
}

static void check_all(const pm_iplist_t *l, const char *text, size_t len)
{
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len;
        const char *hash = memchr(text + i, '#', end - i);
        size_t stop = hash ? (size_t)(hash - text) : end;
        for (size_t j = i; j < stop;) {
            const char *comma = memchr(text + j, ',', stop - j);
            size_t e = comma ? (size_t)(comma - text) : stop;
            size_t k = j;
            while (k < e && blank(text[k]))
                k++;
            if (k < e) check_entry(l, text + j, e - j);
            j = e + 1;
        }
        i = end + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    pm_iplist_t *l = NULL;
    size_t bad = 0;
    int rc = pm_iplist_parse(s, size, &l, &bad);
    if (rc == PM_OK) {
        if (l == NULL) abort();
        check_all(l, s, size);
    } else if (l != NULL || (rc == PM_EINVAL && bad == 0)) {
        abort();
    }
    pm_iplist_destroy(l);
    return 0;
}
