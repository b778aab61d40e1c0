/*
 * Money text and VAT splits (certhall/base/money.h): Chinese capitals
 * against a table that includes the People's Bank's own examples, yuan
 * figures, the split at .5-fen boundaries and against a 128-bit
 * reference, and the line/total check.
 */
#include "test.h"
#include "certhall/base/money.h"

#include <limits.h>
#include <stdio.h>

static const struct {
	long long fen;
	const char *text;
} capitals[] = {
	{ 0, "零元整" },
	{ 1, "壹分" },				/* 0.01 */
	{ 5, "伍分" },
	{ 10, "壹角整" },			/* 0.10 */
	{ 11, "壹角壹分" },
	{ 100, "壹元整" },
	{ 1000, "壹拾元整" },			/* 拾 has its 壹 */
	{ 1005, "壹拾元零伍分" },		/* 10.05: PBOC 四(四) */
	{ 1100, "壹拾壹元整" },
	{ 10005, "壹佰元零伍分" },
	{ 10050, "壹佰元伍角整" },		/* 100.50: optional 零 left out */
	{ 40000, "肆佰元整" },
	{ 100100, "壹仟零壹元整" },		/* 1001.00 */
	{ 100500, "壹仟零伍元整" },
	{ 1000000, "壹万元整" },
	{ 1001010, "壹万零壹拾元壹角整" },	/* 10010.10 */
	{ 10000000, "壹拾万元整" },
	{ 10010000, "壹拾万零壹佰元整" },	/* 100100.00 */
	{ 100000100, "壹佰万零壹元整" },	/* 1000001.00 */
	{ 101010101, "壹佰零壹万零壹佰零壹元零壹分" }, /* 1010101.01 */
	/* The People's Bank's examples (PBOC 四), in the forms chosen. */
	{ 140950, "壹仟肆佰零玖元伍角整" },
	{ 600714, "陆仟零柒元壹角肆分" },
	{ 168032, "壹仟陆佰捌拾元叁角贰分" },
	{ 10700053, "壹拾万柒仟元伍角叁分" },
	{ 1640902, "壹万陆仟肆佰零玖元零贰分" },
	{ 32504, "叁佰贰拾伍元零肆分" },
	/* 亿 */
	{ 10000000000LL, "壹亿元整" },		/* 1,0000,0000.00 */
	{ 20000000000LL, "贰亿元整" },		/* 200000000.00 */
	{ 10100000000LL, "壹亿零壹佰万元整" },
	{ 10000100000LL, "壹亿零壹仟元整" },
	{ 100001000000LL, "壹拾亿零壹万元整" },	/* 10,0001,0000.00 */
	{ 101000000000LL, "壹拾亿壹仟万元整" },
	{ 100000000000000LL, "壹万亿元整" },
	{ 100010000000000LL, "壹万零壹亿元整" },
	{ 100000000000100LL, "壹万亿零壹元整" },
	{ CH_MONEY_MAX_FEN, "玖仟玖佰玖拾玖万玖仟玖佰玖拾玖亿"
	    "玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分" },
	/* Issue 14's table is above (0.01 ... 1000001.00); more of what the
	 * rules make tricky: 零 between sections, 拾 at a section's start,
	 * 角 0 with 分, amounts the fee schedule produces. */
	{ 101, "壹元零壹分" },
	{ 55, "伍角伍分" },
	{ 2050, "贰拾元伍角整" },
	{ 10101, "壹佰零壹元零壹分" },		/* 101.01 */
	{ 101000, "壹仟零壹拾元整" },		/* 1010.00 */
	{ 1000100, "壹万零壹元整" },		/* 10001.00 */
	{ 10000100, "壹拾万零壹元整" },		/* 100001.00 */
	{ 11000000, "壹拾壹万元整" },		/* 110000.00 */
	{ 100000000, "壹佰万元整" },		/* 1000000.00 */
	{ 5000, "伍拾元整" },			/* reissue */
	{ 60000, "陆佰元整" },			/* personal renew, 3 years, 1 seal */
	{ 37736, "叁佰柒拾柒元叁角陆分" },	/* 400.00 net of 6% VAT */
	{ 2264, "贰拾贰元陆角肆分" },		/* and its tax */
	/* Red invoices. */
	{ -1, "负壹分" },
	{ -5000, "负伍拾元整" },
	{ -40000, "负肆佰元整" },
	{ -1005, "负壹拾元零伍分" },
	{ -CH_MONEY_MAX_FEN, "负玖仟玖佰玖拾玖万玖仟玖佰玖拾玖亿"
	    "玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分" },
};

int
test_money_capitals(void)
{
	char out[CH_MONEY_CAPITALS_MAX];

	for (size_t i = 0; i < sizeof capitals / sizeof capitals[0]; i++) {
		if (ch_money_capitals(capitals[i].fen, out, sizeof out) != 0) {
			fprintf(stderr, "%lld: refused\n", capitals[i].fen);
			return 1;
		}
		if (strcmp(out, capitals[i].text) != 0) {
			fprintf(stderr, "%lld: \"%s\", wanted \"%s\"\n",
			    capitals[i].fen, out, capitals[i].text);
			return 1;
		}
	}
	return 0;
}

int
test_money_capitals_limits(void)
{
	char out[CH_MONEY_CAPITALS_MAX], small[8];

	CHECK(ch_money_capitals(CH_MONEY_MAX_FEN + 1, out, sizeof out) == -1);
	CHECK(out[0] == '\0');
	CHECK(ch_money_capitals(-CH_MONEY_MAX_FEN - 1, out, sizeof out) == -1);
	CHECK(ch_money_capitals(LLONG_MIN, out, sizeof out) == -1);
	CHECK(ch_money_capitals(LLONG_MAX, out, sizeof out) == -1);
	/* Too small: refused, and nothing half-written. */
	CHECK(ch_money_capitals(40000, small, sizeof small) == -1);
	CHECK(small[0] == '\0');
	CHECK(ch_money_capitals(40000, out, strlen("肆佰元整")) == -1);
	CHECK(ch_money_capitals(40000, out, strlen("肆佰元整") + 1) == 0);
	CHECK(ch_money_capitals(1, NULL, 0) == -1);
	/* Long texts fit CH_MONEY_CAPITALS_MAX: all nines, and zeros
	 * between all of them (a 零 for each). */
	CHECK(ch_money_capitals(-CH_MONEY_MAX_FEN, out, sizeof out) == 0);
	CHECK(ch_money_capitals(-909090909090909001LL, out, sizeof out) == 0);
	CHECK(strlen(out) < sizeof out);
	return 0;
}

int
test_money_yuan(void)
{
	static const struct {
		long long fen;
		unsigned flags;
		const char *text;
	} cases[] = {
		{ 0, 0, "0.00" },
		{ 0, CH_MONEY_SIGN, "\xc2\xa5" "0.00" },
		{ 5, 0, "0.05" },
		{ 10, 0, "0.10" },
		{ 100100, 0, "1001.00" },
		{ 100100, CH_MONEY_SIGN | CH_MONEY_GROUP, "¥1,001.00" },
		{ 100000, CH_MONEY_GROUP, "1,000.00" },
		{ 99999, CH_MONEY_GROUP, "999.99" },
		{ 123456789, CH_MONEY_GROUP, "1,234,567.89" },
		{ 37736, CH_MONEY_SIGN, "¥377.36" },
		{ -40000, 0, "-400.00" },
		{ -40000, CH_MONEY_SIGN, "¥-400.00" },
		{ -1, 0, "-0.01" },
		{ -123456789, CH_MONEY_GROUP, "-1,234,567.89" },
		{ CH_MONEY_MAX_FEN, CH_MONEY_GROUP, "9,999,999,999,999,999.99" },
		{ -CH_MONEY_MAX_FEN, CH_MONEY_SIGN | CH_MONEY_GROUP,
		    "¥-9,999,999,999,999,999.99" },
	};
	char out[CH_MONEY_YUAN_MAX], small[4];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		CHECK(ch_money_yuan(cases[i].fen, cases[i].flags, out,
		    sizeof out) == 0);
		CHECK_STR(out, cases[i].text);
	}
	CHECK(ch_money_yuan(CH_MONEY_MAX_FEN + 1, 0, out, sizeof out) == -1);
	CHECK(ch_money_yuan(LLONG_MIN, 0, out, sizeof out) == -1);
	CHECK(out[0] == '\0');
	CHECK(ch_money_yuan(100100, 0, small, sizeof small) == -1);
	CHECK(small[0] == '\0');
	return 0;
}

/* The split as the header defines it, in 128-bit arithmetic. */
static long long
tax_reference(long long amount, int rate)
{
	__int128 mag = amount < 0 ? -(__int128)amount : amount;
	__int128 d = 10000 + rate;
	long long tax = (long long)((2 * mag * rate + d) / (2 * d));

	return amount < 0 ? -tax : tax;
}

int
test_money_tax_split(void)
{
	static const struct {
		long long amount;
		int rate;
		long long tax;
	} cases[] = {
		{ 40000, 600, 2264 },	/* 400 yuan: 377.36 + 22.64 */
		{ 30000, 600, 1698 },
		{ 20000, 600, 1132 },
		{ 10000, 600, 566 },
		{ 5000, 600, 283 },
		{ 9, 600, 1 },		/* 0.509 */
		{ 44, 600, 2 },		/* 2.4906 */
		/* Exactly .5 fen: 4% is 1/26, 12% is 3/28, 100% is 1/2. */
		{ 13, 400, 1 },		/* 0.5 */
		{ 12, 400, 0 },		/* 0.46 */
		{ 39, 400, 2 },		/* 1.5 */
		{ 65, 400, 3 },		/* 2.5: up, not to even */
		{ 14, 1200, 2 },	/* 1.5 */
		{ 1, 10000, 1 },	/* 0.5 */
		{ 3, 10000, 2 },	/* 1.5 */
		{ -13, 400, -1 },	/* away from zero: red = -blue */
		{ -39, 400, -2 },
		{ -65, 400, -3 },
		{ -40000, 600, -2264 },
		{ 40000, 0, 0 },
		{ 0, 600, 0 },
		{ CH_MONEY_MAX_FEN, 10000, 500000000000000000LL },
		{ -CH_MONEY_MAX_FEN, 10000, -500000000000000000LL },
	};
	static const int rates[] = { 0, 1, 100, 150, 300, 400, 500, 600, 900,
	    1000, 1200, 1300, 1700, 9999, 10000 };
	unsigned long long x = 88172645463325252ULL;
	long long tax;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		CHECK(ch_tax_split(cases[i].amount, cases[i].rate, &tax) == 0);
		if (tax != cases[i].tax) {
			fprintf(stderr, "%lld at %d bp: %lld, wanted %lld\n",
			    cases[i].amount, cases[i].rate, tax, cases[i].tax);
			return 1;
		}
	}
	/* Every amount up to 200 yuan, then large ones (xorshift), at every
	 * rate: the 128-bit reference, and red = -blue. */
	for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
		for (long long a = 0; a <= 20000; a++) {
			long long neg;

			CHECK(ch_tax_split(a, rates[r], &tax) == 0);
			CHECK(tax == tax_reference(a, rates[r]));
			CHECK(ch_tax_split(-a, rates[r], &neg) == 0);
			CHECK(neg == -tax);
		}
		for (int i = 0; i < 20000; i++) {
			long long a;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			a = (long long)(x % (unsigned long long)CH_MONEY_MAX_FEN);
			CHECK(ch_tax_split(a, rates[r], &tax) == 0);
			CHECK(tax == tax_reference(a, rates[r]));
			CHECK(ch_tax_split(-a, rates[r], &tax) == 0);
			CHECK(tax == tax_reference(-a, rates[r]));
		}
	}
	tax = 7;
	CHECK(ch_tax_split(100, -1, &tax) == -1);
	CHECK(tax == 0);
	CHECK(ch_tax_split(100, CH_TAX_RATE_MAX_BP + 1, &tax) == -1);
	CHECK(ch_tax_split(CH_MONEY_MAX_FEN + 1, 600, &tax) == -1);
	CHECK(ch_tax_split(LLONG_MIN, 600, &tax) == -1);
	return 0;
}

/* Lines split one by one, like an invoice is made. */
static void
split_line(ch_tax_amounts_t *line, long long gross, int rate)
{
	line->gross_fen = gross;
	ch_tax_split(gross, rate, &line->tax_fen);
	line->net_fen = gross - line->tax_fen;
}

int
test_money_tax_check(void)
{
	ch_tax_amounts_t lines[3], red[3], total = { 0, 0, 0 }, sum;
	long long whole;
	char why[128];

	/* SPEC §4: org new, 1 year, 1 seal: 100 + 200 + 100 yuan at 6%. */
	split_line(&lines[0], 10000, 600);
	split_line(&lines[1], 20000, 600);
	split_line(&lines[2], 10000, 600);
	for (int i = 0; i < 3; i++) {
		CHECK(ch_tax_add(&total, &lines[i], false, why,
		    sizeof why) == 0);
		split_line(&red[i], -lines[i].gross_fen, 600);
		CHECK(red[i].tax_fen == -lines[i].tax_fen);
		CHECK(red[i].net_fen == -lines[i].net_fen);
	}
	CHECK(total.gross_fen == 40000 && total.tax_fen == 2264 &&
	    total.net_fen == 37736);
	CHECK(ch_tax_check(lines, 3, &total, false, why, sizeof why) == 0);
	/* The red invoice cancels the blue one exactly. */
	sum = (ch_tax_amounts_t){ -total.net_fen, -total.tax_fen,
	    -total.gross_fen };
	CHECK(ch_tax_check(red, 3, &sum, true, why, sizeof why) == 0);
	CHECK(ch_tax_check(red, 3, &total, true, why, sizeof why) == -1);
	CHECK(ch_tax_check(lines, 3, &total, true, why, sizeof why) == -1);
	CHECK_STR(why, "lines[0].gross_fen: must be negative on a red invoice");

	/* The total is the sum of the lines, not a split of the total:
	 * 0.09 + 0.09 at 6% is 0.01 + 0.01 tax, 0.18 alone 0.01. */
	split_line(&lines[0], 9, 600);
	split_line(&lines[1], 9, 600);
	CHECK(ch_tax_split(18, 600, &whole) == 0 && whole == 1);
	total = (ch_tax_amounts_t){ 16, 2, 18 };
	CHECK(ch_tax_check(lines, 2, &total, false, why, sizeof why) == 0);
	total = (ch_tax_amounts_t){ 17, 1, 18 };
	CHECK(ch_tax_check(lines, 2, &total, false, why, sizeof why) == -1);
	CHECK_STR(why, "total.net_fen: the lines add up to 16");
	total = (ch_tax_amounts_t){ 16, 2, 19 };
	CHECK(ch_tax_check(lines, 2, &total, false, why, sizeof why) == -1);
	CHECK_STR(why, "total.gross_fen: the lines add up to 18");

	/* A line that does not add up, or mixes signs. */
	total = (ch_tax_amounts_t){ 16, 2, 18 };
	lines[1].tax_fen = 2;
	CHECK(ch_tax_check(lines, 2, &total, false, why, sizeof why) == -1);
	CHECK_STR(why, "lines[1].gross_fen: 9 is not net_fen + tax_fen (10)");
	lines[1] = (ch_tax_amounts_t){ 10, -1, 9 };
	CHECK(ch_tax_check(lines, 2, &total, false, why, sizeof why) == -1);
	CHECK_STR(why, "lines[1].tax_fen: has the other sign than gross_fen");
	lines[1] = (ch_tax_amounts_t){ 0, 0, 0 };
	CHECK(ch_tax_check(lines, 2, &total, false, why, sizeof why) == -1);
	CHECK_STR(why, "lines[1].gross_fen: must be positive");
	lines[1] = (ch_tax_amounts_t){ CH_MONEY_MAX_FEN + 1, 0,
	    CH_MONEY_MAX_FEN + 1 };
	CHECK(ch_tax_check(lines, 2, &total, false, why, sizeof why) == -1);
	CHECK_STR(why, "lines[1].net_fen: out of range");
	CHECK(ch_tax_check(lines, 0, &total, false, why, sizeof why) == -1);

	/* Sums that leave the range are refused, not wrapped. */
	lines[0] = (ch_tax_amounts_t){ CH_MONEY_MAX_FEN, 0, CH_MONEY_MAX_FEN };
	lines[1] = (ch_tax_amounts_t){ 1, 0, 1 };
	sum = (ch_tax_amounts_t){ 0, 0, 0 };
	CHECK(ch_tax_add(&sum, &lines[0], false, why, sizeof why) == 0);
	CHECK(ch_tax_add(&sum, &lines[1], false, why, sizeof why) == -1);
	CHECK(sum.gross_fen == CH_MONEY_MAX_FEN);
	return 0;
}
