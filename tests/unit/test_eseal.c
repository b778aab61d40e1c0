/*
 * E-seals: the picture's size in millimetres (certhall/domain/eseal.h),
 * from the PNG's pHYs chunk or the defaults by seal type.
 */
#include "test.h"
#include "certhall/domain/eseal.h"

#include <string.h>

/* A PNG of w x h pixels (IHDR, an optional pHYs of ppm pixels per unit,
 * unit 1 = metre, IDAT, IEND); CRCs are not judged by the function. */
static size_t
png(unsigned char *out, unsigned w, unsigned h, unsigned ppm, int unit)
{
	static const unsigned char sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n',
	    0x1a, '\n' };
	size_t n = 0;

#define BE32(v) do { out[n++] = (unsigned char)((v) >> 24); \
	out[n++] = (unsigned char)((v) >> 16); \
	out[n++] = (unsigned char)((v) >> 8); out[n++] = (unsigned char)(v); \
	} while (0)
	memcpy(out, sig, 8);
	n = 8;
	BE32(13u);
	memcpy(out + n, "IHDR", 4);
	n += 4;
	BE32(w);
	BE32(h);
	memcpy(out + n, "\x08\x06\x00\x00\x00", 5);
	n += 5;
	BE32(0u);
	if (ppm != 0) {
		BE32(9u);
		memcpy(out + n, "pHYs", 4);
		n += 4;
		BE32(ppm);
		BE32(ppm);
		out[n++] = (unsigned char)unit;
		BE32(0u);
	}
	BE32(0u);
	memcpy(out + n, "IDAT", 4);
	n += 4;
	BE32(0u);
	BE32(0u);
	memcpy(out + n, "IEND", 4);
	n += 4;
	BE32(0u);
#undef BE32
	return n;
}

int
test_eseal_picture_mm(void)
{
	unsigned char b[256];
	size_t n;
	int w = 0, h = 0;

	/* 472 px at 11811 px/m (300 dpi): 40 mm. */
	n = png(b, 472, 472, 11811, 1);
	CHECK(ch_eseal_picture_mm(b, n, CH_SEAL_TYPE_ORG, &w, &h) == 0);
	CHECK(w == 40 && h == 40);
	/* No pHYs: 40 mm wide for a unit seal, 20 for a personal one, the
	 * height in proportion. */
	n = png(b, 200, 100, 0, 0);
	CHECK(ch_eseal_picture_mm(b, n, CH_SEAL_TYPE_ORG, &w, &h) == 0);
	CHECK(w == 40 && h == 20);
	CHECK(ch_eseal_picture_mm(b, n, CH_SEAL_TYPE_PERSONAL, &w, &h) == 0);
	CHECK(w == 20 && h == 10);
	/* pHYs without a unit (aspect only), or out of 10..100 mm: the
	 * defaults; a very flat picture is clamped to 10 mm. */
	n = png(b, 100, 100, 3000, 0);
	CHECK(ch_eseal_picture_mm(b, n, CH_SEAL_TYPE_ORG, &w, &h) == 0);
	CHECK(w == 40 && h == 40);
	n = png(b, 1, 1, 1000, 1);
	CHECK(ch_eseal_picture_mm(b, n, CH_SEAL_TYPE_PERSONAL, &w, &h) == 0);
	CHECK(w == 20 && h == 20);
	n = png(b, 1000, 10, 0, 0);
	CHECK(ch_eseal_picture_mm(b, n, CH_SEAL_TYPE_ORG, &w, &h) == 0);
	CHECK(w == 40 && h == 10);
	/* Not a PNG. */
	CHECK(ch_eseal_picture_mm((const unsigned char *)"GIF89a", 6,
	    CH_SEAL_TYPE_ORG, &w, &h) == -1);
	b[12] = 'X';
	CHECK(ch_eseal_picture_mm(b, n, CH_SEAL_TYPE_ORG, &w, &h) == -1);
	n = png(b, 0, 10, 0, 0);
	CHECK(ch_eseal_picture_mm(b, n, CH_SEAL_TYPE_ORG, &w, &h) == -1);
	return 0;
}
