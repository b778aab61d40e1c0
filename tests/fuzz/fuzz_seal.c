/*
 * libFuzzer target: the GB/T 38540 seal reader (certhall/codec/seal.h) on
 * any bytes.  A refusal always names a field and a reason; a seal that
 * parses has a view within the reader's bounds, and verifying it gives a
 * verdict that names its field unless it is ok.
 */
#include "certhall/codec/seal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_view(const ch_seal_view_t *v)
{
	if (v->vid == NULL || v->es_id == NULL || v->name == NULL ||
	    v->picture_type == NULL || v->maker == NULL ||
	    v->n_entries < 1 || v->n_entries > CH_SEAL_LIST_MAX ||
	    v->picture == NULL || v->picture_len < 1 ||
	    v->picture_len > CH_SEAL_PICTURE_MAX ||
	    v->valid_start > v->valid_end || v->width_mm < 1 ||
	    v->height_mm < 1 || v->type < 0 ||
	    strlen(v->es_id) > CH_SEAL_ID_MAX)
		abort();
	if ((v->cert_list_type == CH_SEAL_LIST_CERTS) != (v->owner != NULL) ||
	    (v->cert_list_type != CH_SEAL_LIST_CERTS &&
	    v->cert_list_type != CH_SEAL_LIST_DIGESTS))
		abort();
	for (size_t i = 0; i < v->n_entries; i++)
		if (v->entries[i].data == NULL ||
		    (v->entries[i].digest_type == NULL) !=
		    (v->cert_list_type == CH_SEAL_LIST_CERTS))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ch_seal_result_t res;
	ch_seal_t *seal = ch_seal_parse(data, size, &res);
	ch_seal_verdict_t v;

	if (seal == NULL) {
		if (res.verdict == CH_SEAL_OK || res.verdict >= CH_SEAL__MAX ||
		    res.field == NULL || res.text == NULL)
			abort();
		return 0;
	}
	if (res.verdict != CH_SEAL_OK)
		abort();
	check_view(ch_seal_view(seal));
	v = ch_seal_verify(seal, ch_seal_view(seal)->valid_start, &res);
	if (v >= CH_SEAL__MAX || v != res.verdict ||
	    (v != CH_SEAL_OK && (res.field == NULL || res.text == NULL)))
		abort();
	ch_seal_free(seal);
	return 0;
}
