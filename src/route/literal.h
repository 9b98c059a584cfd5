/*
 * literal.h: a literal substring every match of a regex must contain, for
 * a memmem prefilter before the regex runs (the crawler list, uap-core's
 * regexes). Internal to src/route. Pure; thread-safe.
 */
#ifndef PM_ROUTE_LITERAL_H
#define PM_ROUTE_LITERAL_H

#include "pm/common.h"

#define PM__LITERAL_MAX 32

/* The longest run of plain characters that every match of the (PCRE /
 * Python syntax) pattern `re` contains, into out (>= PM__LITERAL_MAX
 * bytes, not NUL-terminated); returns its length, 0 when none is known:
 * a top-level alternation, inline flags such as (?i), or nothing but
 * metacharacters. Groups without alternation that are not optional count
 * as their contents; other groups, classes and quantified characters end
 * a run. Conservative: a wrong answer here would make a regex miss. */
size_t pm__re_required_literal(const char *re, char *out);

#endif
