/*
 * test_csv.c: the strict CSV reader of conversion imports: quoting, CRLF,
 * embedded newlines (line numbers count them), blank lines, the errors and
 * the recovery to the next line, and the caps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "pm/csv.h"

#include <stdlib.h>
#include <string.h>

static pm_csv_t c;

static void read_ok(size_t n, const char *const *want, uint64_t line)
{
    assert_int_equal(pm_csv_next(&c), PM_OK);
    assert_int_equal(c.line, line);
    assert_int_equal(c.nfields, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(c.field[i], want[i]);
}

static void test_records(void **state)
{
    (void)state;
    static const char in[] = "a,b,c\r\n\n\"x,1\",\"say \"\"hi\"\"\",\n\"multi\nline\",z\nlast,";
    pm_csv_init(&c, in, strlen(in));
    read_ok(3, (const char *[]){"a", "b", "c"}, 1);
    read_ok(3, (const char *[]){"x,1", "say \"hi\"", ""}, 3);
    read_ok(2, (const char *[]){"multi\nline", "z"}, 4);
    read_ok(2, (const char *[]){"last", ""}, 6);
    assert_int_equal(pm_csv_next(&c), PM_ENOTFOUND);
}

static void test_errors_resume(void **state)
{
    (void)state;
    static const char in[] = "ok,1\nbad\"q,2\n\"x\"y,3\nfine,4\n\"open,5";
    pm_csv_init(&c, in, strlen(in));
    read_ok(2, (const char *[]){"ok", "1"}, 1);
    assert_int_equal(pm_csv_next(&c), PM_EINVAL);
    assert_int_equal(c.line, 2);
    assert_non_null(strstr(c.error, "quote"));
    assert_int_equal(pm_csv_next(&c), PM_EINVAL);
    assert_int_equal(c.line, 3);
    read_ok(2, (const char *[]){"fine", "4"}, 4);
    assert_int_equal(pm_csv_next(&c), PM_EINVAL);
    assert_non_null(strstr(c.error, "unterminated"));
    assert_int_equal(pm_csv_next(&c), PM_ENOTFOUND);
}

static void test_caps(void **state)
{
    (void)state;
    char *in = malloc(4096);
    memset(in, 'a', PM_CSV_MAX_FIELD + 1);
    strcpy(in + PM_CSV_MAX_FIELD + 1, "\nb\n");
    pm_csv_init(&c, in, strlen(in));
    assert_int_equal(pm_csv_next(&c), PM_EINVAL);
    read_ok(1, (const char *[]){"b"}, 2);
    size_t n = 0;
    for (int i = 0; i < PM_CSV_MAX_FIELDS + 1; i++)
        in[n++] = ',';
    in[n++] = '\n';
    pm_csv_init(&c, in, n);
    assert_int_equal(pm_csv_next(&c), PM_EINVAL);
    static const char nul[] = {'a', '\0', 'b', '\n'};
    pm_csv_init(&c, nul, sizeof(nul));
    assert_int_equal(pm_csv_next(&c), PM_EINVAL);
    static const char cr[] = "a\rb\n";
    pm_csv_init(&c, cr, strlen(cr));
    assert_int_equal(pm_csv_next(&c), PM_EINVAL);
    free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records),
        cmocka_unit_test(test_errors_resume),
        cmocka_unit_test(test_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
