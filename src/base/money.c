/*
 * Money as text and VAT splits (certhall/base/money.h has the rules and
 * the decisions).
 */
#include "certhall/base/money.h"

#include <stdio.h>
#include <string.h>

static const char *const digit_cap[10] = {
	"零", "壹", "贰", "叁", "肆", "伍", "陆", "柒", "捌", "玖"
};
/* The unit of a digit's place within a 4-digit section, units first. */
static const char *const place_cap[4] = { "", "拾", "佰", "仟" };

/* An output buffer that remembers running out of room. */
typedef struct {
	char *p;
	size_t len, cap;
	bool full;
} text_t;

static void
put(text_t *t, const char *s)
{
	size_t n = strlen(s);

	if (t->full || n >= t->cap - t->len) {
		t->full = true;
		return;
	}
	memcpy(t->p + t->len, s, n + 1);
	t->len += n;
}

/* 1..9999: digits with their places, one 零 for an inner run of zeros,
 * nothing for trailing ones (PBOC 四(一)(二)). */
static void
put_section(text_t *t, long long n)
{
	static const long long pow10[4] = { 1, 10, 100, 1000 };
	bool started = false, zero = false;

	for (int i = 3; i >= 0; i--) {
		int d = (int)(n / pow10[i] % 10);

		if (d == 0) {
			zero = started;
			continue;
		}
		if (zero)
			put(t, "零");
		zero = false;
		put(t, digit_cap[d]);
		put(t, place_cap[i]);
		started = true;
	}
}

/*
 * 1 <= n < 10000^(level + 1): level 0 is one section; level 1 splits at
 * 万 and level 2 at 亿, the higher part written like a smaller number
 * (so 壹万亿, 壹万零壹亿).  A lower part whose leading digit is 0 after a
 * non-zero higher part gets one 零; trailing zeros write nothing.
 */
static void
put_number(text_t *t, long long n, int level)
{
	static const long long split[3] = { 0, 10000, 100000000 };
	static const char *const unit[3] = { "", "万", "亿" };

	if (level == 0) {
		put_section(t, n);
		return;
	}
	if (n >= split[level]) {
		put_number(t, n / split[level], level - 1);
		put(t, unit[level]);
		n %= split[level];
		if (n == 0)
			return;
		if (n < split[level] / 10)
			put(t, "零");
	}
	put_number(t, n, level - 1);
}

int
ch_money_capitals(long long fen, char *out, size_t cap)
{
	text_t t = { out, 0, cap, cap == 0 };
	long long mag, yuan;
	int jiao, fen1;

	if (cap > 0)
		out[0] = '\0';
	if (fen > CH_MONEY_MAX_FEN || fen < -CH_MONEY_MAX_FEN)
		return -1;
	mag = fen < 0 ? -fen : fen;
	yuan = mag / 100;
	jiao = (int)(mag / 10 % 10);
	fen1 = (int)(mag % 10);
	if (fen < 0)
		put(&t, "负");
	if (yuan > 0) {
		put_number(&t, yuan, 2);
		put(&t, "元");
	}
	if (jiao == 0 && fen1 == 0) {
		put(&t, yuan == 0 ? "零元整" : "整");
	} else if (jiao > 0) {
		put(&t, digit_cap[jiao]);
		put(&t, "角");
		if (fen1 == 0)
			put(&t, "整");
	} else if (yuan > 0) {
		put(&t, "零");	/* PBOC 四(四): 角 is 0, 分 is not */
	}
	if (fen1 > 0) {
		put(&t, digit_cap[fen1]);
		put(&t, "分");
	}
	if (t.full) {
		if (cap > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

int
ch_money_yuan(long long fen, unsigned flags, char *out, size_t cap)
{
	char digits[24], body[40];
	long long mag;
	size_t n, b = 0;
	int len;

	if (cap > 0)
		out[0] = '\0';
	if (fen > CH_MONEY_MAX_FEN || fen < -CH_MONEY_MAX_FEN)
		return -1;
	mag = fen < 0 ? -fen : fen;
	n = (size_t)snprintf(digits, sizeof digits, "%lld", mag / 100);
	for (size_t i = 0; i < n; i++) {
		if ((flags & CH_MONEY_GROUP) && i > 0 && (n - i) % 3 == 0)
			body[b++] = ',';
		body[b++] = digits[i];
	}
	body[b] = '\0';
	len = snprintf(out, cap, "%s%s%s.%02lld",
	    (flags & CH_MONEY_SIGN) ? "\xc2\xa5" : "", fen < 0 ? "-" : "",
	    body, mag % 100);
	if (len < 0 || (size_t)len >= cap) {
		if (cap > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

int
ch_tax_split(long long amount_fen, int rate_bp, long long *tax_fen)
{
	long long mag, d, hi, lo, tax;

	*tax_fen = 0;
	if (amount_fen > CH_MONEY_MAX_FEN || amount_fen < -CH_MONEY_MAX_FEN ||
	    rate_bp < 0 || rate_bp > CH_TAX_RATE_MAX_BP)
		return -1;
	/*
	 * mag * r / d with d = 10000 + r, as hi * r + lo * r / d where
	 * mag = hi * d + lo: hi * r is whole and below 1e18, lo * r below
	 * 2e8, so only the last term is rounded and nothing overflows.
	 */
	mag = amount_fen < 0 ? -amount_fen : amount_fen;
	d = 10000 + rate_bp;
	hi = mag / d;
	lo = mag % d;
	tax = hi * rate_bp + (2 * lo * rate_bp + d) / (2 * d);
	*tax_fen = amount_fen < 0 ? -tax : tax;
	return 0;
}

static bool
in_range(long long v)
{
	return v >= -CH_MONEY_MAX_FEN && v <= CH_MONEY_MAX_FEN;
}

/* -1, 0 or 1. */
static int
sign(long long v)
{
	return (v > 0) - (v < 0);
}

int
ch_tax_add(ch_tax_amounts_t *total, const ch_tax_amounts_t *line,
    bool negative, char *why, size_t whylen)
{
	int s = negative ? -1 : 1;
	ch_tax_amounts_t sum;

	const char *field = !in_range(line->net_fen) ? "net_fen" :
	    !in_range(line->tax_fen) ? "tax_fen" :
	    !in_range(line->gross_fen) ? "gross_fen" : NULL;

	if (field != NULL) {
		snprintf(why, whylen, "%s: out of range", field);
		return -1;
	}
	if (sign(line->gross_fen) != s) {
		snprintf(why, whylen, "gross_fen: must be %s",
		    negative ? "negative on a red invoice" : "positive");
		return -1;
	}
	if (sign(line->net_fen) == -s) {
		snprintf(why, whylen, "net_fen: has the other sign than "
		    "gross_fen");
		return -1;
	}
	if (sign(line->tax_fen) == -s) {
		snprintf(why, whylen, "tax_fen: has the other sign than "
		    "gross_fen");
		return -1;
	}
	/* Same signs and in range: no overflow in these sums. */
	if (line->net_fen + line->tax_fen != line->gross_fen) {
		snprintf(why, whylen, "gross_fen: %lld is not net_fen + tax_fen "
		    "(%lld)", line->gross_fen, line->net_fen + line->tax_fen);
		return -1;
	}
	/* Both terms in range: each sum is below 2^62, then checked. */
	if (!in_range(total->net_fen) || !in_range(total->tax_fen) ||
	    !in_range(total->gross_fen)) {
		snprintf(why, whylen, "gross_fen: the sum is out of range");
		return -1;
	}
	sum.net_fen = total->net_fen + line->net_fen;
	sum.tax_fen = total->tax_fen + line->tax_fen;
	sum.gross_fen = total->gross_fen + line->gross_fen;
	if (!in_range(sum.net_fen) || !in_range(sum.tax_fen) ||
	    !in_range(sum.gross_fen)) {
		snprintf(why, whylen, "gross_fen: the sum is out of range");
		return -1;
	}
	*total = sum;
	return 0;
}

int
ch_tax_check(const ch_tax_amounts_t *lines, size_t n,
    const ch_tax_amounts_t *total, bool negative, char *why, size_t whylen)
{
	ch_tax_amounts_t sum = { 0, 0, 0 };
	char line_why[128];

	if (n == 0) {
		snprintf(why, whylen, "lines: none");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (ch_tax_add(&sum, &lines[i], negative, line_why,
		    sizeof line_why) != 0) {
			snprintf(why, whylen, "lines[%zu].%s", i, line_why);
			return -1;
		}
	if (sum.net_fen != total->net_fen) {
		snprintf(why, whylen, "total.net_fen: the lines add up to %lld",
		    sum.net_fen);
		return -1;
	}
	if (sum.tax_fen != total->tax_fen) {
		snprintf(why, whylen, "total.tax_fen: the lines add up to %lld",
		    sum.tax_fen);
		return -1;
	}
	if (sum.gross_fen != total->gross_fen) {
		snprintf(why, whylen, "total.gross_fen: the lines add up to "
		    "%lld", sum.gross_fen);
		return -1;
	}
	return 0;
}
