/*
 * An electronic invoice (数电发票, SPEC §9) as a PDF, in memory: what the
 * tax platform confirmed, laid out like the platform's own 电子发票（普通
 * 发票）.  Pure: no database, no HTTP; cairo + pango draw it, with the
 * Noto Sans CJK SC font (Debian fonts-noto-cjk) embedded as a subset, so
 * any reader shows it and pdftotext extracts the text exactly
 * (FIELD-NOTES "PDF with Chinese"; tests/codec/check-invoice-pdf checks
 * with pdftotext, pdffonts and pdftoppm).
 *
 * The invoice
 * -----------
 * - number: the platform's 20 digits (year 2, province 2, channel 1,
 *   sequence 15; FIELD-NOTES "Fully digital e-invoices").  Only the shape
 *   is checked: the platform assigned it.
 * - kind: blue (蓝字, the sale) or red (红字, a refund).  A red invoice
 *   carries the blue one's number, negative amounts (and a negative or
 *   no quantity) that cancel the blue lines exactly, the 红字 marker
 *   beside the title and, first in 备注, "被红冲蓝字数电发票号码：<number>"
 *   as the platform prints it.
 * - Parties: the buyer is a unit (name + unified social credit code) or
 *   a person (name only; the code line stays empty); the seller is the CA
 *   (name + code).  A code is 15 to 20 of 0-9 A-Z: the 18-character GB
 *   32100 credit code, or an older 15/17/20-character taxpayer number
 *   (纳税人识别号) the platform may still print.
 * - Lines (one per fee item): name (with the platform's tax category,
 *   e.g. "*信息技术服务*证书服务费"), optional unit and quantity, rate,
 *   and net (金额), tax (税额), gross (价税合计).  Every line must add up
 *   (net + tax = gross) and the totals must be the exact sums of the lines
 *   (ch_tax_check()): an invoice that does not add up is refused, never
 *   drawn.  The tax itself is not recomputed: the platform's figure is
 *   printed (certhall computes it with ch_tax_split() before sending).
 * - Totals: 合计 (net and tax), 价税合计 in capitals (ch_money_capitals(),
 *   after "⊗" as the platform prints it, so nothing can be written in
 *   front) and in figures.  Figures have two decimals and no digit
 *   grouping, as tax invoices print them; the 合计 and 小写 figures carry
 *   "¥", a red invoice's "¥-700.00".
 * - issued_at: shown as Asia/Shanghai wall time, "2026年12月05日 14:03:21".
 *   Shanghai is UTC+8 all year (no daylight saving since 1991), so it is
 *   computed as UTC + 8 h, without the tz database.
 * - 开票人 (issuer) and optional remarks (备注, up to
 *   CH_INVOICE_REMARKS_MAX characters, newlines kept).
 *
 * Every string is UTF-8 without control characters (a newline is allowed
 * in remarks only) and at most the characters its limit below says;
 * strings are drawn as text, never as pango markup.
 *
 * The page
 * --------
 * 240 mm wide (the platform's invoice width), as tall as the lines and
 * remarks need: one page always.  No QR code and no seal: the platform's
 * PDF carries its own signature and QR code, which certhall cannot make;
 * this is certhall's rendering of the confirmed data.  The PDF's
 * CreationDate is issued_at and its Title "电子发票（普通发票） <number>",
 * so the same invoice always gives the same bytes (cairo writes no
 * document ID; the tests check this).  cairo 1.16 writes the date without
 * the "D:" prefix, which PDF Reference 1.7 §3.8.3 makes optional; poppler
 * and other readers parse it, newer cairo adds it.
 *
 * One font is embedded, Noto Sans CJK SC Regular: the title and the 红字
 * marker are made bold by stroking their outlines over the text, because
 * the Bold face would add a second subset of about 57 KB (a CJK CFF
 * subset keeps the font's global subroutines).  A page is about 80 KB.
 *
 * Memory: cairo 1.16 leaks 768 bytes per PDF drawn with a CID-keyed CFF
 * font such as Noto Sans CJK (cairo_cff_font_read_cid_fontdict() does not
 * free its index on success; still so in cairo master of 2021-03;
 * tests/codec/lsan-pdf.supp).  An invoice never changes once confirmed,
 * so render it once and keep the bytes rather than per download.
 *
 * Errors: -1 or NULL with a one-line reason in why, a field first
 * ("lines[1].tax_fen: ...", "buyer_name: is not valid UTF-8", "font:
 * ...").  Out of memory is reported like any other failure.  The font
 * must be installed: fontconfig would silently substitute another
 * family, so the renderer asks which family it got and refuses any
 * other.
 */
#ifndef CERTHALL_CODEC_INVOICE_PDF_H
#define CERTHALL_CODEC_INVOICE_PDF_H

#include <stddef.h>
#include <time.h>

#include "certhall/base/money.h"

/* The number's length, and the font every character is drawn in. */
#define CH_INVOICE_NUMBER_LEN 20
#define CH_INVOICE_FONT "Noto Sans CJK SC"

/* Limits, in characters (not bytes). */
#define CH_INVOICE_NAME_MAX 100		/* buyer, seller, line names */
#define CH_INVOICE_UNIT_MAX 10		/* 单位 */
#define CH_INVOICE_ISSUER_MAX 20	/* 开票人 */
#define CH_INVOICE_REMARKS_MAX 500	/* 备注 */
#define CH_INVOICE_LINES_MAX 50

typedef enum {
	CH_INVOICE_BLUE,	/* 蓝字: the sale */
	CH_INVOICE_RED,		/* 红字: cancels a blue invoice */
	CH_INVOICE_KIND__MAX
} ch_invoice_kind_t;

/* One line: a fee item.  Strings borrowed. */
typedef struct {
	const char *name;	/* 项目名称 */
	const char *unit;	/* 单位, NULL or "" for none */
	long long quantity;	/* 数量, 0 for none; <= 0 on a red invoice */
	int rate_bp;		/* 税率 in basis points (600 = 6%) */
	ch_tax_amounts_t amounts; /* net, tax, gross in fen; negative on a
				   * red invoice */
} ch_invoice_line_t;

/* An invoice as the platform confirmed it.  Pointers borrowed. */
typedef struct {
	ch_invoice_kind_t kind;
	const char *number;	/* 20 digits */
	const char *original_number; /* red: the blue invoice's; blue: NULL */
	time_t issued_at;
	const char *buyer_name;
	const char *buyer_code;	/* NULL or "" for a person */
	const char *seller_name;
	const char *seller_code;
	const ch_invoice_line_t *lines;
	size_t nlines;		/* 1..CH_INVOICE_LINES_MAX */
	ch_tax_amounts_t total;	/* the sums of the lines */
	const char *issuer;	/* 开票人 */
	const char *remarks;	/* 备注, NULL or "" for none */
} ch_invoice_t;

/*
 * Checks inv as described above, without drawing.  0, or -1 with why.
 */
int ch_invoice_check(const ch_invoice_t *inv, char *why, size_t whylen);

/*
 * inv, checked (ch_invoice_check()), as a one-page PDF: *len bytes in a
 * new buffer the caller frees with free().  NULL with why if inv is
 * refused, the font is missing or cairo fails.  Safe to call from
 * several threads (pango keeps a font map per thread).
 */
unsigned char *ch_invoice_pdf(const ch_invoice_t *inv, size_t *len,
    char *why, size_t whylen);

#endif
