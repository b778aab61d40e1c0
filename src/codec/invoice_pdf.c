/*
 * An e-invoice as a PDF (certhall/codec/invoice_pdf.h): the checks, then
 * cairo + pango draw the page twice, once on a recording surface to learn
 * its height and once on the PDF surface of that height.
 */
#include "certhall/codec/invoice_pdf.h"

#include <cairo-pdf.h>
#include <cairo.h>
#include <pango/pangocairo.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MM(x) ((x) * 72.0 / 25.4)

/* Shanghai's offset from UTC, all year since 1991. */
#define SHANGHAI_OFFSET (8 * 3600)

#define PAGE_WIDTH 240.0	/* mm, like the platform's invoices */

/* ------------------------------------------------------------------ */
/* Checks */

#define TEXT_OPTIONAL	0x1u	/* NULL or "" allowed */
#define TEXT_NEWLINES	0x2u	/* '\n' allowed */

/* field is 1..max characters of UTF-8 without control characters (see
 * the flags); 0, or -1 with why. */
static int
check_text(const char *field, const char *s, size_t max, unsigned flags,
    char *why, size_t whylen)
{
	size_t n = 0;

	if (s == NULL || *s == '\0') {
		if (flags & TEXT_OPTIONAL)
			return 0;
		snprintf(why, whylen, "%s: is required", field);
		return -1;
	}
	if (!g_utf8_validate(s, -1, NULL)) {
		snprintf(why, whylen, "%s: is not valid UTF-8", field);
		return -1;
	}
	for (const char *p = s; *p != '\0'; p = g_utf8_next_char(p), n++) {
		gunichar c = g_utf8_get_char(p);
		GUnicodeType type = g_unichar_type(c);

		if (c == '\n' && (flags & TEXT_NEWLINES))
			continue;
		if (type == G_UNICODE_CONTROL ||
		    type == G_UNICODE_LINE_SEPARATOR ||
		    type == G_UNICODE_PARAGRAPH_SEPARATOR) {
			snprintf(why, whylen, "%s: has a control character",
			    field);
			return -1;
		}
	}
	if (n > max) {
		snprintf(why, whylen, "%s: is longer than %zu characters",
		    field, max);
		return -1;
	}
	return 0;
}

/* An invoice number: exactly 20 ASCII digits. */
static int
check_number(const char *field, const char *s, char *why, size_t whylen)
{
	size_t n = 0;

	if (s == NULL) {
		snprintf(why, whylen, "%s: is required", field);
		return -1;
	}
	while (s[n] >= '0' && s[n] <= '9')
		n++;
	if (n != CH_INVOICE_NUMBER_LEN || s[n] != '\0') {
		snprintf(why, whylen, "%s: must be %d digits", field,
		    CH_INVOICE_NUMBER_LEN);
		return -1;
	}
	return 0;
}

/* A credit code or taxpayer number: 15 to 20 of 0-9 A-Z. */
static int
check_code(const char *field, const char *s, bool optional, char *why,
    size_t whylen)
{
	size_t n = 0;

	if (s == NULL || *s == '\0') {
		if (optional)
			return 0;
		snprintf(why, whylen, "%s: is required", field);
		return -1;
	}
	while ((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'A' && s[n] <= 'Z'))
		n++;
	if (s[n] != '\0' || n < 15 || n > 20) {
		snprintf(why, whylen, "%s: must be 15 to 20 of 0-9 A-Z", field);
		return -1;
	}
	return 0;
}

/* issued_at as Shanghai wall time; -1 outside the years 2000..9999. */
static int
shanghai_time(time_t t, struct tm *tm)
{
	if (t > (time_t)253402271999 - SHANGHAI_OFFSET)
		return -1;
	t += SHANGHAI_OFFSET;
	if (gmtime_r(&t, tm) == NULL || tm->tm_year < 100)
		return -1;
	return 0;
}

static int
check_line(const ch_invoice_line_t *line, size_t i, bool red, char *why,
    size_t whylen)
{
	char field[48];

	snprintf(field, sizeof field, "lines[%zu].name", i);
	if (check_text(field, line->name, CH_INVOICE_NAME_MAX, 0, why,
	    whylen) != 0)
		return -1;
	snprintf(field, sizeof field, "lines[%zu].unit", i);
	if (check_text(field, line->unit, CH_INVOICE_UNIT_MAX, TEXT_OPTIONAL,
	    why, whylen) != 0)
		return -1;
	if (red ? line->quantity > 0 : line->quantity < 0) {
		snprintf(why, whylen, "lines[%zu].quantity: must be %s", i,
		    red ? "negative or 0 on a red invoice" : "positive or 0");
		return -1;
	}
	if (line->quantity > 999999999 || line->quantity < -999999999) {
		snprintf(why, whylen, "lines[%zu].quantity: out of range", i);
		return -1;
	}
	if (line->rate_bp < 0 || line->rate_bp > CH_TAX_RATE_MAX_BP) {
		snprintf(why, whylen, "lines[%zu].rate_bp: must be 0 to %d", i,
		    CH_TAX_RATE_MAX_BP);
		return -1;
	}
	return 0;
}

int
ch_invoice_check(const ch_invoice_t *inv, char *why, size_t whylen)
{
	ch_tax_amounts_t amounts[CH_INVOICE_LINES_MAX];
	bool red = inv->kind == CH_INVOICE_RED;
	struct tm tm;

	if ((int)inv->kind < 0 || inv->kind >= CH_INVOICE_KIND__MAX) {
		snprintf(why, whylen, "kind: unknown");
		return -1;
	}
	if (check_number("number", inv->number, why, whylen) != 0)
		return -1;
	if (red) {
		if (check_number("original_number", inv->original_number, why,
		    whylen) != 0)
			return -1;
		if (strcmp(inv->original_number, inv->number) == 0) {
			snprintf(why, whylen, "original_number: is the red "
			    "invoice's own number");
			return -1;
		}
	} else if (inv->original_number != NULL) {
		snprintf(why, whylen, "original_number: only a red invoice "
		    "has one");
		return -1;
	}
	if (shanghai_time(inv->issued_at, &tm) != 0) {
		snprintf(why, whylen, "issued_at: not in the years 2000 to "
		    "9999");
		return -1;
	}
	if (check_text("buyer_name", inv->buyer_name, CH_INVOICE_NAME_MAX, 0,
	    why, whylen) != 0 ||
	    check_code("buyer_code", inv->buyer_code, true, why, whylen) != 0 ||
	    check_text("seller_name", inv->seller_name, CH_INVOICE_NAME_MAX, 0,
	    why, whylen) != 0 ||
	    check_code("seller_code", inv->seller_code, false, why,
	    whylen) != 0 ||
	    check_text("issuer", inv->issuer, CH_INVOICE_ISSUER_MAX, 0, why,
	    whylen) != 0 ||
	    check_text("remarks", inv->remarks, CH_INVOICE_REMARKS_MAX,
	    TEXT_OPTIONAL | TEXT_NEWLINES, why, whylen) != 0)
		return -1;
	if (inv->lines == NULL || inv->nlines == 0 ||
	    inv->nlines > CH_INVOICE_LINES_MAX) {
		snprintf(why, whylen, "lines: must be 1 to %d",
		    CH_INVOICE_LINES_MAX);
		return -1;
	}
	for (size_t i = 0; i < inv->nlines; i++) {
		if (check_line(&inv->lines[i], i, red, why, whylen) != 0)
			return -1;
		amounts[i] = inv->lines[i].amounts;
	}
	return ch_tax_check(amounts, inv->nlines, &inv->total, red, why,
	    whylen);
}

/* ------------------------------------------------------------------ */
/* Drawing */

typedef struct {
	double r, g, b;
} rgb_t;

/* The platform's invoices print their frame and labels in a brown red
 * and the data in black. */
#define BROWN { 0.60, 0.28, 0.12 }
#define BLACK { 0, 0, 0 }
#define RED { 0.82, 0.06, 0.06 }

typedef struct {
	double size;		/* points */
	PangoAlignment align;
	bool bold;		/* the outlines stroked over the text: one
				 * embedded face, not two (see the header) */
	bool wrap_only;		/* never shrunk to fit one line */
	rgb_t color;
} style_t;

static const style_t LABEL = { 9, PANGO_ALIGN_LEFT, false, false, BROWN };
static const style_t LABEL_C = { 9, PANGO_ALIGN_CENTER, false, false, BROWN };
static const style_t UPRIGHT = { 8, PANGO_ALIGN_CENTER, false, false, BROWN };
static const style_t VALUE = { 9, PANGO_ALIGN_LEFT, false, false, BLACK };
static const style_t VALUE_C = { 9, PANGO_ALIGN_CENTER, false, false, BLACK };
static const style_t FIGURE = { 9, PANGO_ALIGN_RIGHT, false, false, BLACK };
static const style_t TITLE = { 20, PANGO_ALIGN_CENTER, true, false, BROWN };
static const style_t MARKER = { 15, PANGO_ALIGN_CENTER, true, false, RED };
static const style_t REMARKS = { 9, PANGO_ALIGN_LEFT, false, true, BLACK };
static const style_t CAPITALS = { 10, PANGO_ALIGN_LEFT, false, false, BLACK };

typedef struct {
	cairo_t *cr;
	PangoContext *pango;
} pen_t;

/*
 * s laid out w points wide in style st: shrunk to fit one line down to
 * 3/4 of its size, then wrapped.  *width gets the widest line's width.
 * The caller unrefs the layout.
 */
static PangoLayout *
layout(pen_t *pen, const style_t *st, double w, const char *s,
    double *width)
{
	PangoLayout *l = pango_layout_new(pen->pango);
	PangoFontDescription *font = pango_font_description_new();
	double size = st->size;
	int natural, height;

	pango_font_description_set_family_static(font, CH_INVOICE_FONT);
	pango_font_description_set_absolute_size(font, size * PANGO_SCALE);
	pango_layout_set_font_description(l, font);
	pango_layout_set_text(l, s, -1);
	pango_layout_get_size(l, &natural, &height);
	if (natural > w * PANGO_SCALE && !st->wrap_only) {
		size *= 0.98 * w * PANGO_SCALE / natural;
		if (size < 0.75 * st->size)
			size = 0.75 * st->size;
		pango_font_description_set_absolute_size(font,
		    size * PANGO_SCALE);
		pango_layout_set_font_description(l, font);
		pango_layout_get_size(l, &natural, &height);
	}
	*width = natural < w * PANGO_SCALE ?
	    (double)natural / PANGO_SCALE : w;
	pango_layout_set_width(l, (int)(w * PANGO_SCALE));
	pango_layout_set_wrap(l, PANGO_WRAP_WORD_CHAR);
	pango_layout_set_alignment(l, st->align);
	pango_font_description_free(font);
	return l;
}

/* The height s takes in style st, w points wide. */
static double
measure(pen_t *pen, const style_t *st, double w, const char *s)
{
	double width;
	PangoLayout *l = layout(pen, st, w, s, &width);
	int lw, lh;

	pango_layout_get_size(l, &lw, &lh);
	g_object_unref(l);
	return (double)lh / PANGO_SCALE;
}

/*
 * Draws s in the box x, y, w (points) in style st (see layout()).  With
 * h > 0 the text is centred in the box's height h, else it starts at y.
 * Returns its height; *width (if not NULL) gets its width.
 */
static double
text(pen_t *pen, const style_t *st, double x, double y, double w, double h,
    const char *s, double *width)
{
	double tw;
	PangoLayout *l = layout(pen, st, w, s, &tw);
	int lw, lh;

	pango_layout_get_size(l, &lw, &lh);
	cairo_set_source_rgb(pen->cr, st->color.r, st->color.g, st->color.b);
	cairo_move_to(pen->cr, x, h > 0 ?
	    y + (h - (double)lh / PANGO_SCALE) / 2 : y);
	pango_cairo_show_layout(pen->cr, l);
	if (st->bold) {
		pango_cairo_layout_path(pen->cr, l);
		cairo_set_line_width(pen->cr, st->size / 28);
		cairo_stroke(pen->cr);
	}
	g_object_unref(l);
	if (width != NULL)
		*width = tw;
	return (double)lh / PANGO_SCALE;
}

/* A label and its value on one line from x, w wide, in the row y, h. */
static void
field(pen_t *pen, double x, double y, double w, double h, const char *label,
    const char *value)
{
	double lw;

	text(pen, &LABEL, x, y, w, h, label, &lw);
	if (value != NULL && *value != '\0')
		text(pen, &VALUE, x + lw, y, w - lw, h, value, NULL);
}

/* The height of field()'s value, or of one line if there is none. */
static double
field_height(pen_t *pen, double w, const char *label, const char *value)
{
	double lw;
	PangoLayout *l = layout(pen, &LABEL, w, label, &lw);

	g_object_unref(l);
	return measure(pen, &VALUE, w - lw,
	    value != NULL && *value != '\0' ? value : label);
}

/* s with a newline after every character: a label standing upright in a
 * narrow column, as the platform prints 购买方信息 and 备注. */
static void
upright(pen_t *pen, double x, double y, double w, double h, const char *s)
{
	char buf[64];
	size_t n = 0;

	for (const char *p = s; *p != '\0' && n + 8 < sizeof buf;) {
		const char *next = g_utf8_next_char(p);

		if (n > 0)
			buf[n++] = '\n';
		memcpy(buf + n, p, (size_t)(next - p));
		n += (size_t)(next - p);
		p = next;
	}
	buf[n] = '\0';
	text(pen, &UPRIGHT, x, y, w, h, buf, NULL);
}

static void
line(pen_t *pen, double x0, double y0, double x1, double y1, double width)
{
	static const rgb_t brown = BROWN;

	cairo_set_source_rgb(pen->cr, brown.r, brown.g, brown.b);
	cairo_set_line_width(pen->cr, width);
	cairo_move_to(pen->cr, x0, y0);
	cairo_line_to(pen->cr, x1, y1);
	cairo_stroke(pen->cr);
}

/* "6%", "1.5%", "0%". */
static void
rate_text(int bp, char *out, size_t cap)
{
	if (bp % 100 == 0)
		snprintf(out, cap, "%d%%", bp / 100);
	else if (bp % 10 == 0)
		snprintf(out, cap, "%d.%d%%", bp / 100, bp % 100 / 10);
	else
		snprintf(out, cap, "%d.%02d%%", bp / 100, bp % 100);
}

/* The table's columns, in mm from the page's left edge: name, unit,
 * quantity, net, rate, tax, gross. */
enum { COL_NAME, COL_UNIT, COL_QTY, COL_NET, COL_RATE, COL_TAX, COL_GROSS,
	COL__MAX };
static const double col_x[COL__MAX + 1] = { 10, 78, 92, 106, 142, 162, 194,
	230 };
static const char *const col_head[COL__MAX] = { "项目名称", "单位", "数量",
	"金额", "税率/征收率", "税额", "价税合计" };

#define COL_W(c) MM(col_x[(c) + 1] - col_x[c] - 4)
#define COL_X(c) MM(col_x[c] + 2)

/* One table row at y (points), at least 6 mm tall, a wrapped name
 * making it taller; returns its height. */
static double
item_row(pen_t *pen, const ch_invoice_line_t *it, double y)
{
	char buf[CH_MONEY_YUAN_MAX];
	double h = measure(pen, &VALUE, COL_W(COL_NAME), it->name) + MM(2);

	if (h < MM(6))
		h = MM(6);
	text(pen, &VALUE, COL_X(COL_NAME), y, COL_W(COL_NAME), h, it->name,
	    NULL);
	if (it->unit != NULL && *it->unit != '\0')
		text(pen, &VALUE_C, COL_X(COL_UNIT), y, COL_W(COL_UNIT), h,
		    it->unit, NULL);
	if (it->quantity != 0) {
		snprintf(buf, sizeof buf, "%lld", it->quantity);
		text(pen, &FIGURE, COL_X(COL_QTY), y, COL_W(COL_QTY), h, buf,
		    NULL);
	}
	ch_money_yuan(it->amounts.net_fen, 0, buf, sizeof buf);
	text(pen, &FIGURE, COL_X(COL_NET), y, COL_W(COL_NET), h, buf, NULL);
	rate_text(it->rate_bp, buf, sizeof buf);
	text(pen, &VALUE_C, COL_X(COL_RATE), y, COL_W(COL_RATE), h, buf,
	    NULL);
	ch_money_yuan(it->amounts.tax_fen, 0, buf, sizeof buf);
	text(pen, &FIGURE, COL_X(COL_TAX), y, COL_W(COL_TAX), h, buf, NULL);
	ch_money_yuan(it->amounts.gross_fen, 0, buf, sizeof buf);
	text(pen, &FIGURE, COL_X(COL_GROSS), y, COL_W(COL_GROSS), h, buf,
	    NULL);
	return h;
}

/*
 * Draws inv (checked) with pen; date is its issue time as shown.  Returns
 * the page height in points.
 */
static double
draw(pen_t *pen, const ch_invoice_t *inv, const char *date)
{
	static const rgb_t brown = BROWN, red = RED;
	const double left = MM(10), right = MM(230), mid = MM(120);
	char buf[CH_MONEY_CAPITALS_MAX + 8], remarks[CH_INVOICE_REMARKS_MAX *
	    4 + 128];
	double top, y, h, tw;
	cairo_t *cr = pen->cr;

	/* Head: the title with its double rule, the number and date, the
	 * red marker. */
	text(pen, &TITLE, MM(60), MM(7), MM(120), MM(11),
	    "电子发票（普通发票）", &tw);
	line(pen, MM(120) - tw / 2, MM(19), MM(120) + tw / 2, MM(19), 0.8);
	line(pen, MM(120) - tw / 2, MM(19.8), MM(120) + tw / 2, MM(19.8), 0.8);
	field(pen, MM(162), MM(7), MM(68), MM(5), "发票号码：", inv->number);
	field(pen, MM(162), MM(13), MM(68), MM(5), "开票日期：", date);
	if (inv->kind == CH_INVOICE_RED) {
		cairo_set_source_rgb(cr, red.r, red.g, red.b);
		cairo_set_line_width(cr, 1.2);
		cairo_rectangle(cr, MM(14), MM(7), MM(24), MM(11));
		cairo_stroke(cr);
		text(pen, &MARKER, MM(14), MM(7), MM(24), MM(11), "红字", NULL);
	}

	/* Buyer and seller: a long name wraps and makes the row taller. */
	top = MM(24);
	y = top;
	h = field_height(pen, MM(99), "名称：", inv->buyer_name);
	tw = field_height(pen, MM(99), "名称：", inv->seller_name);
	h = tw > h ? tw : h;
	h = h > MM(6) ? h : MM(6);
	field(pen, MM(19), y + MM(4), MM(99), h, "名称：", inv->buyer_name);
	field(pen, MM(129), y + MM(4), MM(99), h, "名称：", inv->seller_name);
	field(pen, MM(19), y + h + MM(8), MM(99), MM(6),
	    "统一社会信用代码/纳税人识别号：", inv->buyer_code);
	field(pen, MM(129), y + h + MM(8), MM(99), MM(6),
	    "统一社会信用代码/纳税人识别号：", inv->seller_code);
	h += MM(18);
	upright(pen, left, y, MM(7), h, "购买方信息");
	upright(pen, mid, y, MM(7), h, "销售方信息");
	line(pen, left + MM(7), y, left + MM(7), y + h, 0.6);
	line(pen, mid, y, mid, y + h, 0.6);
	line(pen, mid + MM(7), y, mid + MM(7), y + h, 0.6);
	y += h;
	line(pen, left, y, right, y, 0.6);

	/* The lines, at least three rows tall, and 合计. */
	for (int c = 0; c < COL__MAX; c++)
		text(pen, &LABEL_C, COL_X(c), y, COL_W(c), MM(7), col_head[c],
		    NULL);
	y += MM(7);
	h = 0;
	for (size_t i = 0; i < inv->nlines; i++)
		h += item_row(pen, &inv->lines[i], y + h);
	y += h > MM(18) ? h : MM(18);
	text(pen, &LABEL_C, COL_X(COL_NAME), y, COL_W(COL_NAME), MM(7),
	    "合　　计", NULL);
	ch_money_yuan(inv->total.net_fen, CH_MONEY_SIGN, buf, sizeof buf);
	text(pen, &FIGURE, COL_X(COL_NET), y, COL_W(COL_NET), MM(7), buf,
	    NULL);
	ch_money_yuan(inv->total.tax_fen, CH_MONEY_SIGN, buf, sizeof buf);
	text(pen, &FIGURE, COL_X(COL_TAX), y, COL_W(COL_TAX), MM(7), buf,
	    NULL);
	ch_money_yuan(inv->total.gross_fen, CH_MONEY_SIGN, buf, sizeof buf);
	text(pen, &FIGURE, COL_X(COL_GROSS), y, COL_W(COL_GROSS), MM(7), buf,
	    NULL);
	y += MM(7);
	line(pen, left, y, right, y, 0.6);

	/* 价税合计 in capitals and in figures. */
	text(pen, &LABEL_C, left, y, MM(40), MM(9), "价税合计（大写）", NULL);
	line(pen, left + MM(40), y, left + MM(40), y + MM(9), 0.6);
	memcpy(buf, "⊗", sizeof "⊗");
	ch_money_capitals(inv->total.gross_fen, buf + strlen(buf),
	    sizeof buf - strlen(buf));
	text(pen, &CAPITALS, left + MM(43), y, MM(110), MM(9), buf, NULL);
	text(pen, &LABEL, MM(170), y, MM(16), MM(9), "（小写）", &tw);
	ch_money_yuan(inv->total.gross_fen, CH_MONEY_SIGN, buf, sizeof buf);
	text(pen, &CAPITALS, MM(170) + tw, y, right - MM(172) - tw, MM(9),
	    buf, NULL);
	y += MM(9);
	line(pen, left, y, right, y, 0.6);

	/* 备注: a red invoice names the invoice it cancels first. */
	remarks[0] = '\0';
	if (inv->kind == CH_INVOICE_RED)
		snprintf(remarks, sizeof remarks, "被红冲蓝字数电发票号码：%s%s",
		    inv->original_number,
		    inv->remarks != NULL && *inv->remarks != '\0' ? "\n" : "");
	if (inv->remarks != NULL)
		strncat(remarks, inv->remarks,
		    sizeof remarks - strlen(remarks) - 1);
	h = text(pen, &REMARKS, left + MM(9), y + MM(2), MM(208), 0, remarks,
	    NULL) + MM(4);
	if (h < MM(16))
		h = MM(16);
	upright(pen, left, y, MM(7), h, "备注");
	line(pen, left + MM(7), y, left + MM(7), y + h, 0.6);
	y += h;

	/* The frame, then 开票人 under it. */
	cairo_set_source_rgb(cr, brown.r, brown.g, brown.b);
	cairo_set_line_width(cr, 1.0);
	cairo_rectangle(cr, left, top, right - left, y - top);
	cairo_stroke(cr);
	field(pen, MM(14), y + MM(2), MM(100), MM(7), "开票人：", inv->issuer);
	return y + MM(14);
}

/* ------------------------------------------------------------------ */
/* The PDF */

typedef struct {
	unsigned char *p;
	size_t len, cap;
} buf_t;

static cairo_status_t
buf_write(void *closure, const unsigned char *data, unsigned int n)
{
	buf_t *b = closure;

	if (n > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 65536;
		unsigned char *p;

		while (n > cap - b->len)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL)
			return CAIRO_STATUS_WRITE_ERROR;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return CAIRO_STATUS_SUCCESS;
}

/* A pango context for cr with the font options of a vector surface, so
 * that the recording pass measures what the PDF pass draws. */
static PangoContext *
pango_for(cairo_t *cr)
{
	PangoContext *pc = pango_cairo_create_context(cr);
	cairo_font_options_t *fo = cairo_font_options_create();

	cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
	cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
	pango_cairo_context_set_font_options(pc, fo);
	cairo_font_options_destroy(fo);
	return pc;
}

/* 0 if fontconfig gives CH_INVOICE_FONT itself for it, not a
 * substitute. */
static int
font_present(PangoContext *pc, char *why, size_t whylen)
{
	PangoFontDescription *want = pango_font_description_from_string(
	    CH_INVOICE_FONT " 9");
	PangoFont *font = pango_context_load_font(pc, want);
	PangoFontDescription *got = font ? pango_font_describe(font) : NULL;
	const char *family = got ? pango_font_description_get_family(got) :
	    NULL;
	int rc = 0;

	if (family == NULL || strcmp(family, CH_INVOICE_FONT) != 0) {
		snprintf(why, whylen, "font: \"%s\" is not installed (Debian "
		    "fonts-noto-cjk); fontconfig offers %s%s%s", CH_INVOICE_FONT,
		    family ? "\"" : "", family ? family : "no font",
		    family ? "\"" : "");
		rc = -1;
	}
	if (got != NULL)
		pango_font_description_free(got);
	if (font != NULL)
		g_object_unref(font);
	pango_font_description_free(want);
	return rc;
}

unsigned char *
ch_invoice_pdf(const ch_invoice_t *inv, size_t *len, char *why,
    size_t whylen)
{
	cairo_surface_t *rec = NULL, *pdf = NULL;
	cairo_t *cr = NULL;
	pen_t pen = { NULL, NULL };
	buf_t out = { NULL, 0, 0 };
	char date[96], iso[96], title[64];
	unsigned char *ret = NULL;
	double height;
	struct tm tm;

	*len = 0;
	if (ch_invoice_check(inv, why, whylen) != 0)
		return NULL;
	shanghai_time(inv->issued_at, &tm);
	snprintf(date, sizeof date, "%04d年%02d月%02d日 %02d:%02d:%02d",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec);
	snprintf(iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:%02d+08:00",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec);
	snprintf(title, sizeof title, "电子发票（普通发票） %s", inv->number);

	/* Pass 1: how tall the page is. */
	rec = cairo_recording_surface_create(CAIRO_CONTENT_COLOR_ALPHA, NULL);
	cr = cairo_create(rec);
	pen = (pen_t){ cr, pango_for(cr) };
	if (font_present(pen.pango, why, whylen) != 0)
		goto out;
	height = draw(&pen, inv, date);
	if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
		snprintf(why, whylen, "cairo: %s",
		    cairo_status_to_string(cairo_status(cr)));
		goto out;
	}
	g_object_unref(pen.pango);
	cairo_destroy(cr);
	pen.pango = NULL;

	/* Pass 2: the PDF. */
	pdf = cairo_pdf_surface_create_for_stream(buf_write, &out,
	    MM(PAGE_WIDTH), height);
	cairo_pdf_surface_set_metadata(pdf, CAIRO_PDF_METADATA_TITLE, title);
	cairo_pdf_surface_set_metadata(pdf, CAIRO_PDF_METADATA_CREATOR,
	    "certhall");
	cairo_pdf_surface_set_metadata(pdf, CAIRO_PDF_METADATA_CREATE_DATE,
	    iso);
	cr = cairo_create(pdf);
	pen = (pen_t){ cr, pango_for(cr) };
	draw(&pen, inv, date);
	cairo_show_page(cr);
	cairo_surface_finish(pdf);
	if (cairo_surface_status(pdf) != CAIRO_STATUS_SUCCESS ||
	    cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
		snprintf(why, whylen, "cairo: %s", cairo_status_to_string(
		    cairo_surface_status(pdf) != CAIRO_STATUS_SUCCESS ?
		    cairo_surface_status(pdf) : cairo_status(cr)));
		goto out;
	}
	ret = out.p;
	*len = out.len;
	out.p = NULL;
out:
	if (pen.pango != NULL)
		g_object_unref(pen.pango);
	if (cr != NULL)
		cairo_destroy(cr);
	if (pdf != NULL)
		cairo_surface_destroy(pdf);
	if (rec != NULL)
		cairo_surface_destroy(rec);
	free(out.p);
	return ret;
}
