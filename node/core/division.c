/* Administrative division codes (division.h): parsing, validation and the
 * prefix arithmetic that places a node in the tree. */
#include "core/division.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Value of one unit of each level's part, and the width of the part. */
static const uint64_t unit[6] = {
	0,
	10000000000ULL,	/* province */
	100000000ULL,	/* city */
	1000000ULL,	/* county */
	1000ULL,	/* township */
	1ULL,		/* village */
};
static const uint64_t width[6] = { 0, 100, 100, 100, 1000, 1000 };
static const char *part_name[6] = {
	"?", "province", "city", "county", "township", "village",
};

static unsigned part(uint64_t code, int level)
{
	return (unsigned)(code / unit[level] % width[level]);
}

/* Returns 0 when valid, else the level of the first offending part, so
 * parse can explain; -1 for a number out of range. */
static int check(uint64_t code, int *gap_above)
{
	unsigned prov;
	int zero_at = 0;

	if (code > WJ_DIVISION_MAX)
		return -1;
	prov = part(code, WUJI__LEVEL__PROVINCE);
	if (prov < 10)
		return WUJI__LEVEL__PROVINCE;
	for (int l = WUJI__LEVEL__CITY; l <= WUJI__LEVEL__VILLAGE; l++) {
		if (part(code, l) == 0) {
			if (!zero_at)
				zero_at = l;
		} else if (zero_at) {
			*gap_above = zero_at;
			return l;
		}
	}
	return 0;
}

bool wj_division_valid(uint64_t code)
{
	int gap;

	return check(code, &gap) == 0;
}

/* Copies user input for an error message: bounded and printable. */
static void quote(const char *s, char out[48])
{
	size_t i, n = 0;

	for (i = 0; s[i] && n < 40; i++)
		out[n++] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"') ?
			s[i] : '?';
	if (s[i] && n < 44) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

int wj_division_parse(const char *s, uint64_t *code, wj_err_t *err)
{
	char q[48];
	size_t len;
	uint64_t v = 0;
	int bad, gap = 0;

	if (!s || !*s)
		return wj_err_set(err, WJ_EINVAL,
			"a division code is required: give the 12 digits "
			"of the node's area (2 province, 2 city, 2 county, "
			"3 township, 3 village), e.g. 330106001001");
	quote(s, q);
	len = strlen(s);
	for (size_t i = 0; i < len && i < 12; i++) {
		if (s[i] < '0' || s[i] > '9')
			return wj_err_set(err, WJ_EINVAL,
				"\"%s\" is not a division code: character %zu "
				"is not a digit; write the 12 digits only, "
				"e.g. 330106001001", q, i + 1);
	}
	if (len != 12)
		return wj_err_set(err, WJ_EINVAL,
			"\"%s\" is not a division code: expected 12 digits "
			"(2 province, 2 city, 2 county, 3 township, "
			"3 village), got %zu", q, len);
	for (size_t i = 0; i < 12; i++)
		v = v * 10 + (uint64_t)(s[i] - '0');

	bad = check(v, &gap);
	if (bad == WUJI__LEVEL__PROVINCE)
		return wj_err_set(err, WJ_EINVAL,
			"\"%s\" is not a division code: the province part "
			"\"%.2s\" must be 10..99 (e.g. 33 in 330106001001)",
			q, s);
	if (bad > 0)
		return wj_err_set(err, WJ_EINVAL,
			"\"%s\" is not a division code: the %s part is %0*u "
			"but the %s part above it is zero; only trailing "
			"parts may be zero, e.g. 330106001001 (a village) or "
			"330106000000 (a county)",
			q, part_name[bad], width[bad] == 100 ? 2 : 3,
			part(v, bad), part_name[gap]);
	*code = v;
	return 0;
}

wj_level_t wj_division_level(uint64_t code)
{
	int gap;

	if (check(code, &gap) != 0)
		return WUJI__LEVEL__LEVEL_NONE;
	for (int l = WUJI__LEVEL__VILLAGE; l > WUJI__LEVEL__PROVINCE; l--)
		if (part(code, l) != 0)
			return (wj_level_t)l;
	return WUJI__LEVEL__PROVINCE;
}

uint64_t wj_division_ancestor(uint64_t code, wj_level_t level)
{
	wj_level_t own = wj_division_level(code);
	uint64_t keep;

	if (own == WUJI__LEVEL__LEVEL_NONE || level < WUJI__LEVEL__PROVINCE ||
	    level > own)
		return 0;
	keep = unit[level];
	return code / keep * keep;
}

uint64_t wj_division_parent(uint64_t code)
{
	wj_level_t own = wj_division_level(code);

	if (own <= WUJI__LEVEL__PROVINCE)
		return 0;
	return wj_division_ancestor(code, (wj_level_t)(own - 1));
}

bool wj_division_inside(uint64_t code, uint64_t area)
{
	wj_level_t al = wj_division_level(area);

	if (al == WUJI__LEVEL__LEVEL_NONE)
		return false;
	return wj_division_ancestor(code, al) == area;
}

void wj_division_format(uint64_t code, char buf[13])
{
	snprintf(buf, 13, "%012" PRIu64,
		 (uint64_t)(code % (WJ_DIVISION_MAX + 1)));
}
