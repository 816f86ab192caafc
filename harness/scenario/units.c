/* Units as users write them, with iproute2's meanings (tc/tc_util.c): rates
 * with "bit" are bits per second, with "bps" bytes per second; k/m/g are
 * powers of 1000 for rates and of 1024 for sizes. Never allocates. */
#include "faultline/units.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

static int ends_blank(const char *s)
{
	return *skip_ws(s) == '\0';
}

/* A non-negative decimal number at *s (digits, optional fraction); advances. */
/* The unit after a number: blanks skipped, then letters, lowercased into
 * unit (at most len - 1); *s moves past them. Returns its length. */
static size_t take_unit(const char **s, char *unit, size_t len)
{
	const char *p = skip_ws(*s);
	size_t n = 0;

	while (*p && isalpha((unsigned char)*p) && n < len - 1)
		unit[n++] = (char)tolower((unsigned char)*p++);
	unit[n] = '\0';
	*s = p;
	return n;
}

static int take_number(const char **s, double *v)
{
	const char *p = *s;
	char *end;

	if (!isdigit((unsigned char)*p) && !(*p == '.' && isdigit((unsigned char)p[1])))
		return -EINVAL;
	errno = 0;
	*v = strtod(p, &end);
	if (errno || end == p || !isfinite(*v))
		return -EINVAL;
	/* strtod accepts exponents and hex: we do not want "1e3s" or "0x1s" */
	for (const char *q = p; q < end; q++)
		if (!isdigit((unsigned char)*q) && *q != '.')
			return -EINVAL;
	*s = end;
	return 0;
}

static const struct {
	const char *name;
	int64_t ns;
} dur_units[] = {
	{ "ns", 1 },  { "us", FL_NS_PER_US }, { "µs", FL_NS_PER_US },
	{ "ms", FL_NS_PER_MS }, { "s", FL_NS_PER_S }, { "m", 60 * FL_NS_PER_S },
	{ "h", 3600 * FL_NS_PER_S },
};

int fl_parse_duration(const char *s, int allow_negative, int64_t *ns, const char **why)
{
	static const char *const units_hint = "unknown duration unit (use ns, us, ms, s, m or h)";
	const char *p = skip_ws(s);
	int neg = 0, parts = 0;
	double total = 0;

	if (*p == '-' || *p == '+') {
		if (*p == '-' && !allow_negative) {
			*why = "a duration cannot be negative";
			return -EINVAL;
		}
		neg = *p == '-';
		p++;
	}
	if (*p == '\0') {
		*why = "expected a duration like '250ms', '10s' or '1m30s'";
		return -EINVAL;
	}
	while (*p && !(*p == ' ' || *p == '\t')) {
		double v;
		char unit[8];
		size_t ul = 0, i;

		if (take_number(&p, &v) < 0) {
			*why = "expected a duration like '250ms', '10s' or '1m30s'";
			return -EINVAL;
		}
		while (*p && (isalpha((unsigned char)*p) || (unsigned char)*p >= 0x80)) {
			if (ul + 1 >= sizeof(unit)) {
				*why = units_hint;
				return -EINVAL;
			}
			unit[ul++] = *p++;
		}
		unit[ul] = '\0';
		if (!ul) {
			if (*p == '\0' && parts == 0 && v == 0) {
				*ns = 0; /* a bare 0 needs no unit */
				return 0;
			}
			if (*p == ' ' || *p == '\t') {
				*why = "write the unit right after the number, without a space (e.g. '10s')";
				return -EINVAL;
			}
			if (*p == '\0' && parts == 0) {
				*why = "a duration needs a unit: ns, us, ms, s, m or h (e.g. '10s')";
				return -EINVAL;
			}
			*why = units_hint;
			return -EINVAL;
		}
		for (i = 0; i < sizeof(dur_units) / sizeof(dur_units[0]); i++)
			if (!strcmp(unit, dur_units[i].name))
				break;
		if (i == sizeof(dur_units) / sizeof(dur_units[0])) {
			*why = units_hint;
			return -EINVAL;
		}
		total += v * (double)dur_units[i].ns;
		parts++;
		if (total > 9.2e18) {
			*why = "duration too large";
			return -ERANGE;
		}
	}
	if (!ends_blank(p)) {
		*why = "write durations without spaces (e.g. '1m30s')";
		return -EINVAL;
	}
	*ns = (int64_t)llround(neg ? -total : total);
	return 0;
}

int fl_parse_percent(const char *s, double *pct, const char **why)
{
	const char *p = skip_ws(s);
	double v;

	if (take_number(&p, &v) < 0) {
		*why = "expected a percentage like '25%'";
		return -EINVAL;
	}
	p = skip_ws(p);
	if (*p != '%') {
		*why = "a percentage needs a '%' sign (e.g. '25%')";
		return -EINVAL;
	}
	if (!ends_blank(p + 1)) {
		*why = "unexpected text after the percentage";
		return -EINVAL;
	}
	if (v > 100) {
		*why = "a percentage must be between 0% and 100%";
		return -ERANGE;
	}
	*pct = v;
	return 0;
}

int fl_parse_bitrate(const char *s, uint64_t *bps, const char **why)
{
	static const struct {
		const char *name;
		double bytes; /* bytes per second per unit */
	} u[] = {
		{ "bit", 1.0 / 8 }, { "kbit", 1000.0 / 8 }, { "mbit", 1e6 / 8 }, { "gbit", 1e9 / 8 },
		{ "tbit", 1e12 / 8 }, { "bps", 1 }, { "kbps", 1000 }, { "mbps", 1e6 }, { "gbps", 1e9 },
		{ "tbps", 1e12 }, { "kibit", 1024.0 / 8 }, { "mibit", 1048576.0 / 8 },
		{ "gibit", 1073741824.0 / 8 },
	};
	const char *p = skip_ws(s);
	double v;
	char unit[16];
	size_t n = 0;

	if (take_number(&p, &v) < 0) {
		*why = "expected a rate like '10mbit' or '500kbps'";
		return -EINVAL;
	}
	n = take_unit(&p, unit, sizeof(unit));
	if (!ends_blank(p) || n == 0) {
		*why = n ? "unexpected text after the rate"
			 : "a rate needs a unit: bit, kbit, mbit, gbit (bits/s) or bps, kbps, mbps (bytes/s)";
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		if (strcmp(unit, u[i].name) == 0) {
			double b = v * u[i].bytes;
			if (b < 1) {
				*why = "a rate must be at least 8bit (1 byte per second)";
				return -ERANGE;
			}
			if (b > 1.8e19) {
				*why = "rate too large";
				return -ERANGE;
			}
			*bps = (uint64_t)llround(b);
			return 0;
		}
	}
	*why = "unknown rate unit: use bit, kbit, mbit, gbit (bits/s) or bps, kbps, mbps (bytes/s)";
	return -EINVAL;
}

int fl_parse_op_rate(const char *s, double *ops, const char **why)
{
	const char *p = skip_ws(s);
	double v, per;

	if (strcmp(p, "unlimited") == 0) {
		*ops = 0;
		return 0;
	}
	if (take_number(&p, &v) < 0) {
		*why = "expected an operation rate like '200/s' or 'unlimited'";
		return -EINVAL;
	}
	p = skip_ws(p);
	if (*p != '/') {
		*why = "a rate needs a period: '200/s', '1200/m' or '5/ms'";
		return -EINVAL;
	}
	p = skip_ws(p + 1);
	if (strncmp(p, "ms", 2) == 0) {
		per = 0.001;
		p += 2;
	} else if (*p == 's') {
		per = 1;
		p++;
	} else if (*p == 'm') {
		per = 60;
		p++;
	} else if (*p == 'h') {
		per = 3600;
		p++;
	} else {
		*why = "unknown rate period: use /s, /m, /h or /ms";
		return -EINVAL;
	}
	if (!ends_blank(p)) {
		*why = "unknown rate period: use /s, /m, /h or /ms (e.g. '200/s')";
		return -EINVAL;
	}
	if (v <= 0) {
		*why = "a rate must be above 0 (or 'unlimited')";
		return -ERANGE;
	}
	*ops = v / per;
	if (*ops > 1e7) {
		*why = "rate too large (at most 10000000/s)";
		return -ERANGE;
	}
	return 0;
}

int fl_parse_size(const char *s, uint64_t *bytes, const char **why)
{
	static const struct {
		const char *name;
		double mult;
	} u[] = {
		{ "", 1 }, { "b", 1 }, { "k", 1024.0 }, { "kib", 1024.0 }, { "kb", 1e3 },
		{ "m", 1048576.0 }, { "mib", 1048576.0 }, { "mb", 1e6 },
		{ "g", 1073741824.0 }, { "gib", 1073741824.0 }, { "gb", 1e9 },
		{ "t", 1099511627776.0 }, { "tib", 1099511627776.0 }, { "tb", 1e12 },
	};
	const char *p = skip_ws(s);
	double v;
	char unit[8];

	if (take_number(&p, &v) < 0) {
		*why = "expected a size like '512MiB' or '2GiB'";
		return -EINVAL;
	}
	take_unit(&p, unit, sizeof(unit));
	if (!ends_blank(p)) {
		*why = "unexpected text after the size";
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		if (strcmp(unit, u[i].name) == 0) {
			double b = v * u[i].mult;
			if (b > 1.8e19) {
				*why = "size too large";
				return -ERANGE;
			}
			*bytes = (uint64_t)llround(b);
			return 0;
		}
	}
	*why = "unknown size unit: use KiB, MiB, GiB (or K, M, G)";
	return -EINVAL;
}

int fl_parse_int(const char *s, int64_t min, int64_t max, int64_t *out, const char **why)
{
	const char *p = skip_ws(s);
	char *end;
	long long v;

	if (*p == '\0' || (!isdigit((unsigned char)*p) && *p != '-' && *p != '+')) {
		*why = "expected an integer";
		return -EINVAL;
	}
	errno = 0;
	/* decimal ("010" is ten, not octal eight); hexadecimal only with "0x" */
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		v = strtoll(p, &end, 16);
	else
		v = strtoll(p, &end, 10);
	if (end == p || !ends_blank(end)) {
		*why = "expected an integer";
		return -EINVAL;
	}
	if (errno == ERANGE || v < min || v > max) {
		*why = "out of range";
		return -ERANGE;
	}
	*out = v;
	return 0;
}

uint32_t fl_percent_to_u32(double pct)
{
	if (pct <= 0)
		return 0;
	if (pct >= 100)
		return UINT32_MAX;
	return (uint32_t)rint(pct / 100.0 * (double)UINT32_MAX);
}

void fl_format_duration(int64_t ns, char *buf, size_t len)
{
	char *p = buf;
	size_t left = len;
	uint64_t u, h, m, sec, frac;
	int w;

	if (ns < 0) {
		w = snprintf(p, left, "-");
		p += w;
		left -= (size_t)w;
		u = (uint64_t)(-(ns + 1)) + 1;
	} else {
		u = (uint64_t)ns;
	}
	if (u == 0) {
		snprintf(p, left, "0s");
		return;
	}
	if (u < FL_NS_PER_S) {
		if (u % FL_NS_PER_MS == 0)
			snprintf(p, left, "%llums", (unsigned long long)(u / FL_NS_PER_MS));
		else if (u % FL_NS_PER_US == 0)
			snprintf(p, left, "%lluus", (unsigned long long)(u / FL_NS_PER_US));
		else
			snprintf(p, left, "%lluns", (unsigned long long)u);
		return;
	}
	/* 1h2m3s, 1m14.675s: hours and minutes whole, seconds with the fraction trimmed */
	sec = u / FL_NS_PER_S;
	frac = u % FL_NS_PER_S;
	h = sec / 3600;
	m = (sec / 60) % 60;
	sec %= 60;
	if (h)
		w = snprintf(p, left, "%lluh", (unsigned long long)h), p += w, left -= (size_t)w;
	if (m)
		w = snprintf(p, left, "%llum", (unsigned long long)m), p += w, left -= (size_t)w;
	if (frac) {
		char f[16];
		int fl = 9;
		snprintf(f, sizeof(f), "%09llu", (unsigned long long)frac);
		while (fl > 0 && f[fl - 1] == '0')
			f[--fl] = '\0';
		snprintf(p, left, "%llu.%ss", (unsigned long long)sec, f);
	} else if (sec || (!h && !m)) {
		snprintf(p, left, "%llus", (unsigned long long)sec);
	}
}

void fl_format_percent(double pct, char *buf, size_t len)
{
	snprintf(buf, len, "%.6g%%", pct);
}

void fl_format_bitrate(uint64_t bps, char *buf, size_t len)
{
	double bits = (double)bps * 8;

	if (bits >= 1e9)
		snprintf(buf, len, "%.6ggbit", bits / 1e9);
	else if (bits >= 1e6)
		snprintf(buf, len, "%.6gmbit", bits / 1e6);
	else if (bits >= 1e3)
		snprintf(buf, len, "%.6gkbit", bits / 1e3);
	else
		snprintf(buf, len, "%.6gbit", bits);
}
