/*
 * Money as text, and VAT split out of a tax-inclusive amount: what an
 * invoice (SPEC §9) prints.  Money is integer fen (分) everywhere; nothing
 * here uses floating point.  Pure: no allocation, no locale, no state.
 *
 * Chinese capitals (中文大写金额)
 * --------------------------------
 * The rules are the People's Bank of China's 《正确填写票据和结算凭证的基本
 * 规定》 (attachment 1 of 《支付结算办法》, 银发〔1997〕393号, items 一 to 四;
 * "PBOC" below) and the Ministry of Finance's 《会计基础工作规范》 (财会字
 * 〔1996〕19号, art. 52; "MoF" below).  Where they leave a choice, the
 * choice made here is marked "decided":
 *
 * - Characters: 零壹贰叁肆伍陆柒捌玖 拾佰仟 万亿 元角分 整, simplified (万,
 *   亿; PBOC accepts the traditional 萬 億 as well), 元 not 圆.  Never 一二
 *   三, 十, 两, 另, 毛 (PBOC 一, MoF 52(三)).
 * - 整: "到元为止的，在元之后应写整（或正）字" (PBOC 三; MoF likewise).
 *   Decided: 整, not 正 (both are allowed; 整 is what tax invoices print).
 * - 整 after 角: PBOC says it may be left out ("在角之后可以不写"), MoF
 *   says it should be written ("到元或者角为止的……应当写整字").  Decided:
 *   written, which satisfies both: 100.50 -> 壹佰元伍角整.  Never after 分.
 * - A digit always precedes 拾: 10.00 -> 壹拾元整, 100000.00 ->
 *   壹拾万元整 (cheque practice: a bare 拾 at the start can be prefixed).
 * - 零 inside the yuan (PBOC 四(一)(二)): one 零 for a run of zeros
 *   between non-zero digits (1001.00 -> 壹仟零壹元整, 1000001.00 ->
 *   壹佰万零壹元整); trailing zeros of a 4-digit section are absorbed by its
 *   unit and write nothing (10000.00 -> 壹万元整); a lower section whose
 *   leading digit is 0 after a non-zero higher part gets one 零 (10010.00
 *   -> 壹万零壹拾元整, 1000010000.00 -> 壹拾亿零壹万元整).
 * - 万 or 元 digit 0 while the next lower digit is not (PBOC 四(三):
 *   ¥107,000.53 may be 壹拾万柒仟元零伍角叁分 or 壹拾万零柒仟元伍角叁分;
 *   ¥1,680.32 may be 壹仟陆佰捌拾元零叁角贰分 or ……元叁角贰分).  Decided:
 *   the optional 零 is not written in either place: 107000.00 ->
 *   壹拾万柒仟元整, 100.50 -> 壹佰元伍角整.  One rule, the shorter text.
 * - 角 0 and 分 not (PBOC 四(四), mandatory): 元 is followed by 零:
 *   10.05 -> 壹拾元零伍分.
 * - No yuan: no 元 and no leading 零: 0.01 -> 壹分, 0.10 -> 壹角整;
 *   zero itself is 零元整.
 * - Above 9999,9999 yuan the 亿 part is written like a number below 1e8
 *   (with 万) and followed by 亿: 1,0000,0000,0000 yuan -> 壹万亿元整,
 *   1,0001,0000,0000 -> 壹万零壹亿元整.  The largest amount is
 *   CH_MONEY_MAX_FEN (9999,9999,9999,9999.99 yuan); beyond it a 亿亿
 *   would be needed.
 * - Negative (a red invoice, 红字发票, also called 负数发票): 负 in front:
 *   -400.00 -> 负肆佰元整.  Neither rule covers negative amounts (a cheque
 *   has none); decided: 负, the word in 负数发票.  The prefix 人民币 is the
 *   caller's (an invoice prints it as a label).
 *
 * Figures
 * -------
 * ch_money_yuan() writes yuan with exactly two decimals (MoF 52(二):
 * amounts are written to 角 and 分), optionally with "¥" (U+00A5, what
 * invoices print; MoF 52(一): no space between the sign and the digits)
 * and 3-digit grouping.  A negative amount puts '-' after the ¥: "¥-400.00"
 * (as red invoices print it).
 *
 * VAT out of a tax-inclusive amount
 * ---------------------------------
 * Fees are quoted tax-inclusive (SPEC §4, §9).  For a line of amount A
 * fen at rate r (in basis points, 600 = 6%):
 *
 *	tax = round(A * r / (10000 + r)),  net = A - tax
 *
 * rounded half away from zero (half-up on the magnitude), so a red line,
 * the exact negative of a blue one, splits into the exact negatives:
 * tax(-A) = -tax(A).  This is the tax platform's own formula for a
 * tax-inclusive line (价税合计 / (1 + 税率) x 税率, to the fen).  Computed in
 * 64-bit integers without overflow for every amount up to
 * CH_MONEY_MAX_FEN.  Each line is split by itself; the totals are the
 * sums of the lines (never a split of the total, which can differ by a
 * fen per line).
 */
#ifndef CERTHALL_BASE_MONEY_H
#define CERTHALL_BASE_MONEY_H

#include <stdbool.h>
#include <stddef.h>

/* The largest magnitude the functions here take: 16 yuan digits (up to
 * 仟万亿) and 角 分. */
#define CH_MONEY_MAX_FEN 999999999999999999LL

/* Room for any text ch_money_capitals() writes, with the NUL: at most
 * 49 characters (负, 16 digits with their units, 零s, 万 亿 万, 元角分) of
 * 3 UTF-8 bytes each. */
#define CH_MONEY_CAPITALS_MAX 160

/* Room for any text ch_money_yuan() writes, with the NUL. */
#define CH_MONEY_YUAN_MAX 32

/* The highest rate ch_tax_split() takes, in basis points (100%). */
#define CH_TAX_RATE_MAX_BP 10000

/*
 * Writes fen in Chinese capitals (UTF-8, NUL-terminated) into out, by the
 * rules above: 100100 -> "壹仟零壹元整", 100050 -> "壹仟元伍角整",
 * -1005 -> "负壹拾元零伍分".  0, or -1 if |fen| > CH_MONEY_MAX_FEN or cap is
 * too small (out is then "" when cap > 0).  CH_MONEY_CAPITALS_MAX always
 * suffices.
 */
int ch_money_capitals(long long fen, char *out, size_t cap);

/* ch_money_yuan() flags. */
#define CH_MONEY_SIGN	0x1u	/* "¥" in front */
#define CH_MONEY_GROUP	0x2u	/* "," every 3 yuan digits */

/*
 * Writes fen as yuan with two decimals into out: 100100 -> "1001.00",
 * with CH_MONEY_SIGN | CH_MONEY_GROUP "¥1,001.00", -40000 -> "-400.00" or
 * "¥-400.00".  0, or -1 if |fen| > CH_MONEY_MAX_FEN or cap is too small
 * (out is then "" when cap > 0).  CH_MONEY_YUAN_MAX always suffices.
 */
int ch_money_yuan(long long fen, unsigned flags, char *out, size_t cap);

/*
 * The VAT contained in the tax-inclusive amount_fen at rate_bp basis
 * points (0..CH_TAX_RATE_MAX_BP), rounded half away from zero (see
 * above), into *tax_fen; the net amount is amount_fen - *tax_fen.  0, or
 * -1 if |amount_fen| > CH_MONEY_MAX_FEN or the rate is out of range
 * (*tax_fen is then 0).
 */
int ch_tax_split(long long amount_fen, int rate_bp, long long *tax_fen);

/* One invoice line's money, or an invoice's totals. */
typedef struct {
	long long net_fen;	/* 金额: excluding tax */
	long long tax_fen;	/* 税额 */
	long long gross_fen;	/* 价税合计: net + tax */
} ch_tax_amounts_t;

/*
 * Adds line to *total after checking it: net + tax == gross, every
 * magnitude at most CH_MONEY_MAX_FEN, gross non-zero and negative exactly
 * when negative is true (a red invoice), net and tax of gross's sign or 0
 * (never mixed), and the sums stay in range.  0, or -1 with a reason in
 * why ("tax_fen: ...", the field first) and *total unchanged.
 */
int ch_tax_add(ch_tax_amounts_t *total, const ch_tax_amounts_t *line,
    bool negative, char *why, size_t whylen);

/*
 * Checks that the n lines (each as ch_tax_add() wants, all of one sign:
 * negative on a red invoice) add up exactly to *total, field by field.
 * 0, or -1 with why ("lines[2].tax_fen: ..." or "total.net_fen: the lines
 * add up to 37736").
 */
int ch_tax_check(const ch_tax_amounts_t *lines, size_t n,
    const ch_tax_amounts_t *total, bool negative, char *why, size_t whylen);

#endif
