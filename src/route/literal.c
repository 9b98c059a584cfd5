/*
 * literal.c: required literals of regexes (see literal.h). Two passes: the
 * pattern is first flattened (transparent groups lose their parentheses,
 * others become a "." that ends a run), then the longest run of plain
 * characters not made optional by a quantifier is taken.
 */
#include "literal.h"

#include <string.h>

#define FLAT_MAX 2048

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Past the character class starting at re[i] == '['; -1 if unclosed. */
static int skip_class(const char *re, int i)
{
    i++;
    if (re[i] == '^') i++;
    if (re[i] == ']') i++;
    while (re[i] && re[i] != ']')
        i += re[i] == '\\' && re[i + 1] ? 2 : 1;
    return re[i] ? i + 1 : -1;
}

/* The ')' closing the group opened at re[i]; -1 if none. Sets *alt when
 * the group has a top-level '|'. */
static int group_end(const char *re, int i, bool *alt)
{
    int depth = 0;
    *alt = false;
    while (re[i]) {
        if (re[i] == '\\' && re[i + 1]) {
            i += 2;
            continue;
        }
        if (re[i] == '[') {
            if ((i = skip_class(re, i)) < 0) return -1;
            continue;
        }
        if (re[i] == '(')
            depth++;
        else if (re[i] == ')' && --depth == 0)
            return i;
        else if (re[i] == '|' && depth == 1)
            *alt = true;
        i++;
    }
    return -1;
}

static bool optional_after(char c)
{
    return c == '?' || c == '*' || c == '{';
}

/* Flatten re[from, to) into out; false when the pattern is unsupported. */
static bool flatten(const char *re, int from, int to, char *out, size_t *n)
{
    for (int i = from; i < to;) {
        if (*n + 3 >= FLAT_MAX) return false;
        if (re[i] == '\\' && i + 1 < to) {
            out[(*n)++] = re[i];
            out[(*n)++] = re[i + 1];
            i += 2;
        } else if (re[i] == '[') {
            int j = skip_class(re, i);
            if (j < 0 || j > to) return false;
            out[(*n)++] = '.'; /* a class: one unknown character */
            i = j;
        } else if (re[i] == '(') {
            bool alt;
            int q = group_end(re, i, &alt);
            if (q < 0 || q >= to) return false;
            int inner = i + 1;
            bool plain = re[inner] != '?';
            if (re[inner] == '?' && re[inner + 1] == ':') inner += 2, plain = true;
            if (re[i + 1] == '?' && is_alnum(re[i + 2]) && re[i + 2] != 'P') return false; /* inline flags */
            if (plain && !alt && !optional_after(re[q + 1])) {
                if (!flatten(re, inner, q, out, n)) return false;
            } else {
                out[(*n)++] = '.';
            }
            i = q + 1;
        } else {
            out[(*n)++] = re[i++];
        }
    }
    return true;
}

static bool plain_char(char c)
{
    return c && !strchr(".^$[]()*+?{}|\\", c);
}

size_t pm__re_required_literal(const char *re, char *out)
{
    char flat[FLAT_MAX];
    size_t n = 0, best = 0, run = 0;
    char cur[PM__LITERAL_MAX];
    if (!flatten(re, 0, (int)strlen(re), flat, &n)) return 0;
    flat[n] = '\0';
    for (size_t i = 0; i <= n; i++) {
        char ch = 0;
        size_t step = 1;
        bool lit = false;
        if (flat[i] == '|') return 0; /* a top-level alternation */
        if (flat[i] == '\\' && flat[i + 1] && is_alnum(flat[i + 1]) && !strchr("dDwWsSbBAzZGhHvVRXK", flat[i + 1]))
            return 0;         /* an escape with an argument (\\x41, \\p{L}, \\1, \\Q...): not worth parsing */
        if (flat[i] == '{') { /* a quantifier's bounds are no literal */
            const char *close = strchr(flat + i, '}');
            step = close ? (size_t)(close - (flat + i)) + 1 : n + 1 - i;
        } else if (flat[i] == '\\' && flat[i + 1]) {
            lit = !is_alnum(flat[i + 1]), ch = flat[i + 1], step = 2;
        } else if (plain_char(flat[i])) {
            lit = true, ch = flat[i];
        }
        char next = i + step <= n ? flat[i + step] : '\0';
        if (lit && !optional_after(next) && run < sizeof(cur)) {
            cur[run++] = ch;
            if (next != '+') {
                i += step - 1;
                continue;
            }
        }
        if (run > best) {
            memcpy(out, cur, run);
            best = run;
        }
        run = 0;
        i += step - 1;
    }
    return best;
}
