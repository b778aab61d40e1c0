/*
 * libFuzzer target: the header values read before a body is (the
 * CONTENT_LENGTH conversion and the media type check).  An accepted length
 * never exceeds the cap, whatever the digits.
 */
#include "certhall/web/body.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[256];
	size_t n = size < sizeof buf - 1 ? size : sizeof buf - 1, len = 0;

	memcpy(buf, data, n);
	buf[n] = '\0';
	for (size_t cap = 0; cap < 100000; cap = cap * 10 + 7) {
		ch_body_len_t r = ch_body_length(buf, cap, &len);

		if (r == CH_BODY_OK && (len == 0 || len > cap))
			abort();
	}
	(void)ch_body_is_json(buf);
	return 0;
}
