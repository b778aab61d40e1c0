/*
 * One-time SMS codes (certhall/smscode.h).
 */
#include "certhall/domain/smscode.h"
#include "certhall/base/crypto.h"
#include "certhall/base/pool.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
ch_sms_code_new(char code[8])
{
	snprintf(code, 8, "%06u", ch_random_below(1000000));
}

/* HMAC(key(label), "<bound>:<code>"). */
static void
keyed(const char *label, const char *bound, const char *code,
    unsigned char out[CH_SHA256_LEN])
{
	size_t n = strlen(bound) + 1 + strlen(code) + 1;
	char *text = ch_xmalloc(n);

	snprintf(text, n, "%s:%s", bound, code);
	ch_keyed_hash(label, text, n - 1, out);
	OPENSSL_cleanse(text, n);
	free(text);
}

void
ch_sms_code_hash(const char *label, const char *bound, const char *code,
    char out[CH_SMS_CODE_HASH_LITERAL])
{
	unsigned char h[CH_SHA256_LEN];

	keyed(label, bound, code, h);
	out[0] = '\\';
	out[1] = 'x';
	ch_hex(h, sizeof h, out + 2);
}

ch_sms_code_verdict_t
ch_sms_code_judge(const char *label, const char *bound, const char *code,
    const char *stored_hex, int attempts, bool consumed, bool expired)
{
	unsigned char want[CH_SHA256_LEN], got[CH_SHA256_LEN];

	if (consumed)
		return CH_SMS_CODE_USED;
	if (expired)
		return CH_SMS_CODE_EXPIRED;
	if (attempts >= CH_SMS_CODE_MAX_TRIES)
		return CH_SMS_CODE_SPENT;
	keyed(label, bound, code, got);
	if (strlen(stored_hex) != 2 * CH_SHA256_LEN ||
	    ch_unhex(stored_hex, want, sizeof want) != 0)
		return CH_SMS_CODE_WRONG;
	return ch_equal(want, got, sizeof want) ? CH_SMS_CODE_RIGHT
	    : CH_SMS_CODE_WRONG;
}
