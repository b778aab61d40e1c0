/*
 * Test invoices for certhall/codec/invoice_pdf.h, shared by the unit tests
 * and codec-invoice-tool (tests/codec/check-invoice-pdf knows the same
 * figures and checks them in the PDFs).
 */
#ifndef CERTHALL_TEST_INVOICE_FIXTURE_H
#define CERTHALL_TEST_INVOICE_FIXTURE_H

#include "certhall/codec/invoice_pdf.h"

#define FX_INVOICE_LINES 3
#define FX_BLUE_NUMBER "26511000000000012345"
#define FX_RED_NUMBER "26511000000000012399"

/* An invoice and the lines it points to. */
typedef struct {
	ch_invoice_t inv;
	ch_invoice_line_t lines[FX_INVOICE_LINES];
} fx_invoice_t;

/*
 * SPEC §4's org `new` for 2 years with 1 e-seal: opening fee 100, annual
 * fee 200 x 2, e-seal 100 x 2 yuan, each split at 6% (ch_tax_split()),
 * sold to 四川示例农业科技有限公司 on 2026-12-05 14:03:21 Shanghai time:
 * 700.00 yuan, 660.38 + 39.62 tax.
 */
void fx_invoice_blue(fx_invoice_t *fx);

/* The red invoice that cancels it on 2026-12-20 09:30:00. */
void fx_invoice_red(fx_invoice_t *fx);

/* The blue invoice sold to a person (张三): no credit code. */
void fx_invoice_person(fx_invoice_t *fx);

#endif
