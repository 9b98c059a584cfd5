/*
 * test_core_buf.c: the capped growable buffer (pm/buf.h): growth, the hard
 * cap leaving the buffer untouched, NUL termination and ownership transfer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pm/buf.h"

static void test_empty(void **state)
{
    pm_buf_t b;
    pm_buf_init(&b, 10);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_string_equal(pm_buf_str(&b), "");
    pm_buf_free(&b);
    pm_buf_free(&b); /* free twice is harmless */
}

static void test_append_and_grow(void **state)
{
    pm_buf_t b;
    pm_buf_init(&b, 1 << 20);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(pm_buf_appends(&b, "abc"), PM_OK);
    assert_int_equal(b.len, 30000);
    assert_int_equal(strlen(pm_buf_str(&b)), 30000);
    assert_memory_equal(b.data + 29997, "abc", 4); /* NUL after the contents */
    assert_int_equal(pm_buf_appendc(&b, 'z'), PM_OK);
    assert_int_equal(b.data[b.len - 1], 'z');
    assert_int_equal(pm_buf_append(&b, NULL, 0), PM_OK);
    pm_buf_free(&b);
}

static void test_cap_is_hard(void **state)
{
    pm_buf_t b;
    pm_buf_init(&b, 8);
    assert_int_equal(pm_buf_appends(&b, "12345"), PM_OK);
    assert_int_equal(pm_buf_appends(&b, "6789"), PM_ETOOBIG);
    assert_string_equal(pm_buf_str(&b), "12345"); /* untouched */
    assert_int_equal(pm_buf_appends(&b, "678"), PM_OK);
    assert_int_equal(b.len, 8);
    assert_int_equal(pm_buf_appendc(&b, 'x'), PM_ETOOBIG);
    assert_int_equal(pm_buf_append(&b, "x", SIZE_MAX), PM_ETOOBIG); /* no overflow in the check */
    assert_string_equal(pm_buf_str(&b), "12345678");
    pm_buf_free(&b);
    pm_buf_init(&b, 0);
    assert_int_equal(pm_buf_appendc(&b, 'x'), PM_ETOOBIG);
    assert_int_equal(pm_buf_append(&b, "", 0), PM_OK);
    pm_buf_free(&b);
}

static void test_printf(void **state)
{
    pm_buf_t b;
    pm_buf_init(&b, 4096);
    assert_int_equal(pm_buf_printf(&b, "%s=%d", "n", 42), PM_OK);
    assert_string_equal(pm_buf_str(&b), "n=42");
    char big[1000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(pm_buf_printf(&b, "[%s]", big), PM_OK); /* past the 256-byte fast path */
    assert_int_equal(b.len, 4 + 1001);
    assert_int_equal(b.data[b.len - 1], ']');
    assert_int_equal(b.data[b.len], '\0');
    pm_buf_free(&b);
    pm_buf_init(&b, 300);
    assert_int_equal(pm_buf_printf(&b, "%s", big), PM_ETOOBIG);
    assert_int_equal(b.len, 0);
    pm_buf_free(&b);
}

static void test_reset_keeps_memory(void **state)
{
    pm_buf_t b;
    pm_buf_init(&b, 100);
    assert_int_equal(pm_buf_appends(&b, "hello"), PM_OK);
    char *mem = b.data;
    pm_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(pm_buf_str(&b), "");
    assert_int_equal(pm_buf_appends(&b, "x"), PM_OK);
    assert_ptr_equal(b.data, mem);
    pm_buf_free(&b);
}

static void test_take(void **state)
{
    pm_buf_t b;
    size_t len = 99;
    pm_buf_init(&b, 100);
    char *s = pm_buf_take(&b, &len);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    pm_free(s);
    assert_int_equal(pm_buf_appends(&b, "owned"), PM_OK);
    s = pm_buf_take(&b, &len);
    assert_string_equal(s, "owned");
    assert_int_equal(len, 5);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(pm_buf_appends(&b, "again"), PM_OK); /* reusable */
    pm_free(s);
    pm_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_append_and_grow),
        cmocka_unit_test(test_cap_is_hard),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_reset_keeps_memory),
        cmocka_unit_test(test_take),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
