/* The pure parts of certhall/domain/material.h: what a file is, by its
 * bytes and by its declared media type. */
#include "test.h"
#include "certhall/domain/material.h"

#include <string.h>

int
test_material_types(void)
{
	static const char pdf[] = "%PDF-1.7\n";
	static const char jpeg[] = "\xFF\xD8\xFF\xE0\x00\x10JFIF";
	static const char png[] = "\x89PNG\r\n\x1A\n\x00\x00\x00\x0DIHDR";
	const ch_material_type_t *t;

	t = ch_material_type_sniff(pdf, sizeof pdf - 1);
	CHECK(t != NULL);
	CHECK_STR(t->content_type, "application/pdf");
	CHECK_STR(t->ext, "pdf");
	t = ch_material_type_sniff(jpeg, sizeof jpeg - 1);
	CHECK(t != NULL);
	CHECK_STR(t->content_type, "image/jpeg");
	t = ch_material_type_sniff(png, sizeof png - 1);
	CHECK(t != NULL);
	CHECK_STR(t->name, "a PNG image");
	/* Too short for a signature, or none of ours. */
	CHECK(ch_material_type_sniff(png, 7) == NULL);
	CHECK(ch_material_type_sniff("%PDF", 4) == NULL);
	CHECK(ch_material_type_sniff("GIF89a", 6) == NULL);
	CHECK(ch_material_type_sniff("", 0) == NULL);

	/* By name: case-insensitive, exactly len characters. */
	t = ch_material_type_named("Image/PNG", 9);
	CHECK(t != NULL && t == ch_material_type_sniff(png, sizeof png - 1));
	CHECK(ch_material_type_named("image/png; q=1", 9) == t);
	CHECK(ch_material_type_named("image/png", 8) == NULL);
	CHECK(ch_material_type_named("image/gif", 9) == NULL);
	CHECK(ch_material_type_named(NULL, 0) == NULL);
	return 0;
}
