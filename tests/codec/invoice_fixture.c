/* Test invoices (invoice_fixture.h). */
#include "invoice_fixture.h"

#include <stddef.h>

static void
fx_line(ch_invoice_line_t *line, const char *name, const char *unit,
    long long quantity, long long gross_fen)
{
	line->name = name;
	line->unit = unit;
	line->quantity = quantity;
	line->rate_bp = 600;
	line->amounts.gross_fen = gross_fen;
	ch_tax_split(gross_fen, 600, &line->amounts.tax_fen);
	line->amounts.net_fen = gross_fen - line->amounts.tax_fen;
}

static void
fx_total(fx_invoice_t *fx)
{
	fx->inv.lines = fx->lines;
	fx->inv.nlines = FX_INVOICE_LINES;
	fx->inv.total = (ch_tax_amounts_t){ 0, 0, 0 };
	for (size_t i = 0; i < FX_INVOICE_LINES; i++) {
		fx->inv.total.net_fen += fx->lines[i].amounts.net_fen;
		fx->inv.total.tax_fen += fx->lines[i].amounts.tax_fen;
		fx->inv.total.gross_fen += fx->lines[i].amounts.gross_fen;
	}
}

void
fx_invoice_blue(fx_invoice_t *fx)
{
	fx->inv = (ch_invoice_t){
		.kind = CH_INVOICE_BLUE,
		.number = FX_BLUE_NUMBER,
		.issued_at = 1796450601,	/* 2026-12-05T06:03:21Z */
		.buyer_name = "四川示例农业科技有限公司",
		.buyer_code = "91510107MA62Q1234W",
		.seller_name = "四川示例数字认证服务有限公司",
		.seller_code = "91510100MA6C8X2Y4K",
		.issuer = "王芳",
		.remarks = "申请编号：A2026120500042\n"
		    "机构证书新办，服务期2年，含电子印章1枚",
	};
	fx_line(&fx->lines[0], "*信息技术服务*数字证书开户费", "个", 1,
	    10000);
	fx_line(&fx->lines[1], "*信息技术服务*数字证书年服务费", "年", 2,
	    40000);
	fx_line(&fx->lines[2], "*信息技术服务*电子印章年服务费", "年", 2,
	    20000);
	fx_total(fx);
}

void
fx_invoice_red(fx_invoice_t *fx)
{
	fx_invoice_blue(fx);
	fx->inv.kind = CH_INVOICE_RED;
	fx->inv.number = FX_RED_NUMBER;
	fx->inv.original_number = FX_BLUE_NUMBER;
	fx->inv.issued_at = 1797730200;	/* 2026-12-20T01:30:00Z */
	fx->inv.remarks = "申请编号：A2026120500042 退款";
	for (size_t i = 0; i < FX_INVOICE_LINES; i++)
		fx_line(&fx->lines[i], fx->lines[i].name, fx->lines[i].unit,
		    -fx->lines[i].quantity, -fx->lines[i].amounts.gross_fen);
	fx_total(fx);
}

void
fx_invoice_person(fx_invoice_t *fx)
{
	fx_invoice_blue(fx);
	fx->inv.buyer_name = "张三";
	fx->inv.buyer_code = NULL;
	fx->inv.remarks = NULL;
}
