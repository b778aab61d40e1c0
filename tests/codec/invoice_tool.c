/*
 * codec-invoice-tool DIR: writes the test invoices (invoice_fixture.h) as
 * DIR/blue.pdf, DIR/red.pdf and DIR/person.pdf, for
 * tests/codec/check-invoice-pdf to judge with poppler's tools.
 *
 * Exit 0 on success; 1 with "name: why" when the codec refuses or fails
 * (e.g. the font is missing); 2 on a usage or I/O error.
 */
#include "invoice_fixture.h"

#include <stdio.h>
#include <stdlib.h>

static int
write_pdf(const char *dir, const char *name, const fx_invoice_t *fx)
{
	char path[4096], why[256];
	unsigned char *pdf;
	size_t len;
	FILE *f;
	int rc;

	if ((pdf = ch_invoice_pdf(&fx->inv, &len, why, sizeof why)) == NULL) {
		printf("%s: %s\n", name, why);
		return 1;
	}
	snprintf(path, sizeof path, "%s/%s.pdf", dir, name);
	if ((f = fopen(path, "wb")) == NULL) {
		fprintf(stderr, "codec-invoice-tool: cannot write \"%s\"\n",
		    path);
		free(pdf);
		return 2;
	}
	rc = fwrite(pdf, 1, len, f) == len ? 0 : 2;
	if (fclose(f) != 0)
		rc = 2;
	free(pdf);
	return rc;
}

int
main(int argc, char **argv)
{
	fx_invoice_t fx;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: codec-invoice-tool DIR\n");
		return 2;
	}
	fx_invoice_blue(&fx);
	if ((rc = write_pdf(argv[1], "blue", &fx)) != 0)
		return rc;
	fx_invoice_red(&fx);
	if ((rc = write_pdf(argv[1], "red", &fx)) != 0)
		return rc;
	fx_invoice_person(&fx);
	return write_pdf(argv[1], "person", &fx);
}
