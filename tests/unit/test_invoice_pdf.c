/*
 * The invoice PDF (certhall/codec/invoice_pdf.h): blue, red and person
 * invoices render to one-page PDFs, the same bytes every time; every
 * check refuses its bad field.  tests/codec/check-invoice-pdf reads the
 * PDFs back with poppler's tools.
 */
#include "test.h"
#include "certhall/codec/invoice_pdf.h"
#include "../codec/invoice_fixture.h"

#include <stdlib.h>
#include <string.h>

/* Whether the len bytes at p hold s. */
static bool
holds(const unsigned char *p, size_t len, const char *s)
{
	return memmem(p, len, s, strlen(s)) != NULL;
}

/* Renders fx twice: a PDF of one page, the same bytes both times. */
static int
renders(const fx_invoice_t *fx)
{
	char why[256] = "";
	unsigned char *a, *b;
	size_t alen, blen;
	int rc = 1;

	a = ch_invoice_pdf(&fx->inv, &alen, why, sizeof why);
	b = ch_invoice_pdf(&fx->inv, &blen, why, sizeof why);
	if (a == NULL || b == NULL) {
		fprintf(stderr, "refused: %s\n", why);
		goto out;
	}
	if (alen < 1000 || memcmp(a, "%PDF-1.", 7) != 0 ||
	    !holds(a, alen, "%%EOF") || !holds(a, alen, "/Type /Pages") ||
	    !holds(a, alen, "/Count 1\n")) {
		fprintf(stderr, "not a one-page PDF (%zu bytes)\n", alen);
		goto out;
	}
	if (alen != blen || memcmp(a, b, alen) != 0) {
		fprintf(stderr, "two renderings differ (%zu, %zu bytes)\n",
		    alen, blen);
		goto out;
	}
	/* A subset font, not the whole 16 MB collection. */
	if (alen > 200000) {
		fprintf(stderr, "%zu bytes: too large\n", alen);
		goto out;
	}
	rc = 0;
out:
	free(a);
	free(b);
	return rc;
}

int
test_invoice_pdf_render(void)
{
	fx_invoice_t fx;
	char why[256];
	unsigned char *blue, *red;
	size_t blen, rlen;

	fx_invoice_blue(&fx);
	CHECK(fx.inv.total.gross_fen == 70000);
	CHECK(fx.inv.total.tax_fen == 3962);
	CHECK(renders(&fx) == 0);
	blue = ch_invoice_pdf(&fx.inv, &blen, why, sizeof why);
	CHECK(blue != NULL);
	/* The metadata: the issue time in Shanghai (cairo 1.16 leaves out
	 * the optional "D:", later versions write it and an apostrophe). */
	CHECK(holds(blue, blen, "/CreationDate ("));
	CHECK(holds(blue, blen, "20261205140321+08'00"));
	CHECK(holds(blue, blen, "/Creator (certhall)"));

	fx_invoice_red(&fx);
	CHECK(fx.inv.total.gross_fen == -70000);
	CHECK(fx.inv.total.tax_fen == -3962);
	CHECK(renders(&fx) == 0);
	red = ch_invoice_pdf(&fx.inv, &rlen, why, sizeof why);
	CHECK(red != NULL);
	CHECK(holds(red, rlen, "20261220093000+08'00"));
	CHECK(blen != rlen || memcmp(blue, red, blen) != 0);
	free(blue);
	free(red);

	fx_invoice_person(&fx);
	CHECK(renders(&fx) == 0);
	fx.inv.buyer_code = "";
	CHECK(renders(&fx) == 0);
	return 0;
}

/* A long name wraps, many lines make a taller page: still one page. */
int
test_invoice_pdf_long(void)
{
	ch_invoice_line_t lines[CH_INVOICE_LINES_MAX];
	char name[CH_INVOICE_NAME_MAX * 3 + 1] = "";
	fx_invoice_t fx;

	for (int i = 0; i < CH_INVOICE_NAME_MAX; i++)
		strcat(name, "长");
	fx_invoice_blue(&fx);
	fx.inv.buyer_name = name;
	fx.inv.seller_name = name;
	fx.lines[0].name = name;
	CHECK(renders(&fx) == 0);

	fx.inv.total = (ch_tax_amounts_t){ 0, 0, 0 };
	for (int i = 0; i < CH_INVOICE_LINES_MAX; i++) {
		lines[i] = fx.lines[i % FX_INVOICE_LINES];
		fx.inv.total.net_fen += lines[i].amounts.net_fen;
		fx.inv.total.tax_fen += lines[i].amounts.tax_fen;
		fx.inv.total.gross_fen += lines[i].amounts.gross_fen;
	}
	fx.inv.lines = lines;
	fx.inv.nlines = CH_INVOICE_LINES_MAX;
	CHECK(renders(&fx) == 0);
	return 0;
}

/* A change to the blue (or red) test invoice and the reason it must get. */
typedef struct {
	bool red;
	void (*change)(fx_invoice_t *);
	const char *why;
} refusal_t;

static void number_short(fx_invoice_t *f) { f->inv.number = "2651100000000001234"; }
static void number_letter(fx_invoice_t *f) { f->inv.number = "2651100000000001234X"; }
static void number_null(fx_invoice_t *f) { f->inv.number = NULL; }
static void kind_bad(fx_invoice_t *f) { f->inv.kind = CH_INVOICE_KIND__MAX; }
static void blue_original(fx_invoice_t *f) { f->inv.original_number = FX_RED_NUMBER; }
static void red_no_original(fx_invoice_t *f) { f->inv.original_number = NULL; }
static void red_self(fx_invoice_t *f) { f->inv.original_number = FX_RED_NUMBER; }
static void time_1970(fx_invoice_t *f) { f->inv.issued_at = 86400; }
static void time_far(fx_invoice_t *f) { f->inv.issued_at = 253402300800LL; }
static void buyer_none(fx_invoice_t *f) { f->inv.buyer_name = ""; }
static void buyer_utf8(fx_invoice_t *f) { f->inv.buyer_name = "\xe5\x9b"; }
static void buyer_ctrl(fx_invoice_t *f) { f->inv.buyer_name = "四川\n示例"; }
static void buyer_ls(fx_invoice_t *f) { f->inv.buyer_name = "四川\xe2\x80\xa8示例"; }
static void buyer_code(fx_invoice_t *f) { f->inv.buyer_code = "91510107ma62q1234w"; }
static void buyer_code_short(fx_invoice_t *f) { f->inv.buyer_code = "91510107MA62Q"; }
static void seller_code(fx_invoice_t *f) { f->inv.seller_code = NULL; }
static void seller_none(fx_invoice_t *f) { f->inv.seller_name = NULL; }
static void issuer_none(fx_invoice_t *f) { f->inv.issuer = NULL; }
static void issuer_long(fx_invoice_t *f) { f->inv.issuer = "王王王王王王王王王王王王王王王王王王王王王"; }
static void remarks_tab(fx_invoice_t *f) { f->inv.remarks = "a\tb"; }
static void lines_none(fx_invoice_t *f) { f->inv.nlines = 0; }
static void lines_many(fx_invoice_t *f) { f->inv.nlines = CH_INVOICE_LINES_MAX + 1; }
static void line_name(fx_invoice_t *f) { f->lines[1].name = NULL; }
static void line_unit(fx_invoice_t *f) { f->lines[2].unit = "个个个个个个个个个个个"; }
static void line_qty(fx_invoice_t *f) { f->lines[0].quantity = -1; }
static void red_qty(fx_invoice_t *f) { f->lines[0].quantity = 1; }
static void line_rate(fx_invoice_t *f) { f->lines[0].rate_bp = CH_TAX_RATE_MAX_BP + 1; }
static void line_sum(fx_invoice_t *f) { f->lines[1].amounts.tax_fen += 1; }
static void total_tax(fx_invoice_t *f) { f->inv.total.tax_fen += 1; f->inv.total.net_fen -= 1; }
static void red_positive(fx_invoice_t *f) { f->lines[2].amounts = (ch_tax_amounts_t){ 18868, 1132, 20000 }; }

static const refusal_t refusals[] = {
	{ false, number_short, "number: must be 20 digits" },
	{ false, number_letter, "number: must be 20 digits" },
	{ false, number_null, "number: is required" },
	{ false, kind_bad, "kind: unknown" },
	{ false, blue_original, "original_number: only a red invoice has one" },
	{ true, red_no_original, "original_number: is required" },
	{ true, red_self, "original_number: is the red invoice's own number" },
	{ false, time_1970, "issued_at: not in the years 2000 to 9999" },
	{ false, time_far, "issued_at: not in the years 2000 to 9999" },
	{ false, buyer_none, "buyer_name: is required" },
	{ false, buyer_utf8, "buyer_name: is not valid UTF-8" },
	{ false, buyer_ctrl, "buyer_name: has a control character" },
	{ false, buyer_ls, "buyer_name: has a control character" },
	{ false, buyer_code, "buyer_code: must be 15 to 20 of 0-9 A-Z" },
	{ false, buyer_code_short, "buyer_code: must be 15 to 20 of 0-9 A-Z" },
	{ false, seller_code, "seller_code: is required" },
	{ false, seller_none, "seller_name: is required" },
	{ false, issuer_none, "issuer: is required" },
	{ false, issuer_long, "issuer: is longer than 20 characters" },
	{ false, remarks_tab, "remarks: has a control character" },
	{ false, lines_none, "lines: must be 1 to 50" },
	{ false, lines_many, "lines: must be 1 to 50" },
	{ false, line_name, "lines[1].name: is required" },
	{ false, line_unit, "lines[2].unit: is longer than 10 characters" },
	{ false, line_qty, "lines[0].quantity: must be positive or 0" },
	{ true, red_qty, "lines[0].quantity: must be negative or 0 on a red invoice" },
	{ false, line_rate, "lines[0].rate_bp: must be 0 to 10000" },
	{ false, line_sum, "lines[1].gross_fen: 40000 is not net_fen + tax_fen (40001)" },
	{ false, total_tax, "total.net_fen: the lines add up to 66038" },
	{ true, red_positive, "lines[2].gross_fen: must be negative on a red invoice" },
};

int
test_invoice_pdf_refusals(void)
{
	for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
		fx_invoice_t fx;
		char why[256] = "";
		unsigned char *pdf;
		size_t len = 1;

		if (refusals[i].red)
			fx_invoice_red(&fx);
		else
			fx_invoice_blue(&fx);
		CHECK(ch_invoice_check(&fx.inv, why, sizeof why) == 0);
		refusals[i].change(&fx);
		CHECK(ch_invoice_check(&fx.inv, why, sizeof why) == -1);
		CHECK_STR(why, refusals[i].why);
		why[0] = '\0';
		pdf = ch_invoice_pdf(&fx.inv, &len, why, sizeof why);
		CHECK(pdf == NULL && len == 0);
		CHECK_STR(why, refusals[i].why);
	}
	return 0;
}
