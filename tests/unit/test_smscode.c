/*
 * One-time SMS codes (certhall/smscode.h) and the base64 decoder the
 * possession signature goes through (certhall/crypto.h ch_unbase64).
 */
#include "test.h"
#include "certhall/base/crypto.h"
#include "certhall/domain/smscode.h"
#include "certhall/base/validate.h"

#include <string.h>

static void
pepper(void)
{
	unsigned char p[CH_PEPPER_LEN];

	memset(p, 0x5a, sizeof p);
	ch_crypto_set_pepper(p);
}

int
test_smscode_judge(void)
{
	char code[8], hash[CH_SMS_CODE_HASH_LITERAL];
	const char *hex = hash + 2, *label = CH_KEY_VERIFY_CODE;

	pepper();
	ch_sms_code_new(code);
	CHECK(strlen(code) == 6 && strspn(code, "0123456789") == 6);
	ch_sms_code_hash(label, "7:42:13800138000", code, hash);
	CHECK(hash[0] == '\\' && hash[1] == 'x' && strlen(hex) == 64);

	CHECK(ch_sms_code_judge(label, "7:42:13800138000", code, hex, 0, false,
	    false) == CH_SMS_CODE_RIGHT);
	CHECK(ch_sms_code_judge(label, "7:42:13800138000", code, hex, 4, false,
	    false) == CH_SMS_CODE_RIGHT);
	/* Bound to its row, application and phone, and to its key. */
	CHECK(ch_sms_code_judge(label, "8:42:13800138000", code, hex, 0, false,
	    false) == CH_SMS_CODE_WRONG);
	CHECK(ch_sms_code_judge(label, "7:43:13800138000", code, hex, 0, false,
	    false) == CH_SMS_CODE_WRONG);
	CHECK(ch_sms_code_judge(label, "7:42:13800138001", code, hex, 0, false,
	    false) == CH_SMS_CODE_WRONG);
	CHECK(ch_sms_code_judge(CH_KEY_SMS_CODE, "7:42:13800138000", code, hex,
	    0, false, false) == CH_SMS_CODE_WRONG);
	CHECK(ch_sms_code_judge(label, "7:42:13800138000",
	    strcmp(code, "000000") ? "000000" : "000001", hex, 0, false,
	    false) == CH_SMS_CODE_WRONG);
	/* Used, expired and spent are refused before the hash, in that
	 * order: the 6th try is refused even when right. */
	CHECK(ch_sms_code_judge(label, "7:42:13800138000", code, hex, 5, false,
	    false) == CH_SMS_CODE_SPENT);
	CHECK(ch_sms_code_judge(label, "7:42:13800138000", code, hex, 5, false,
	    true) == CH_SMS_CODE_EXPIRED);
	CHECK(ch_sms_code_judge(label, "7:42:13800138000", code, hex, 5, true,
	    true) == CH_SMS_CODE_USED);
	/* A stored hash that is not one (the placeholder) never matches. */
	CHECK(ch_sms_code_judge(label, "7:42:13800138000", code, "", 0, false,
	    false) == CH_SMS_CODE_WRONG);
	return 0;
}

int
test_smscode_unbase64(void)
{
	unsigned char out[8];
	size_t n = 0;
	const char *why;

	CHECK(ch_unbase64("Zm9vYg==", 8, true, out, sizeof out, &n) == 0);
	CHECK(n == 4 && memcmp(out, "foob", 4) == 0);
	CHECK(ch_unbase64("Zm9vYmE=", 8, true, out, sizeof out, &n) == 0);
	CHECK(n == 5 && memcmp(out, "fooba", 5) == 0);
	CHECK(ch_unbase64("Zm9vYmFy", 8, true, out, sizeof out, &n) == 0 &&
	    n == 6);
	CHECK(ch_unbase64("Zm9vYg", 6, false, out, sizeof out, &n) == 0 &&
	    n == 4);
	CHECK(ch_unbase64("Zm9vYg", 6, true, out, sizeof out, &n) == -1);
	CHECK(ch_unbase64("Zm9vYg==", 8, false, out, sizeof out, &n) == -1);
	CHECK(ch_unbase64("Zm9=Yg==", 8, true, out, sizeof out, &n) == -1);
	CHECK(ch_unbase64("Zm9vY===", 8, true, out, sizeof out, &n) == -1);
	CHECK(ch_unbase64("Zm9v Yg=", 8, true, out, sizeof out, &n) == -1);
	CHECK(ch_unbase64("Zm9vYmFy", 8, true, out, 5, &n) == -1);
	CHECK(ch_unbase64("Zm9vYmFy", 8, true, NULL, 6, &n) == 0 && n == 6);

	CHECK(ch_check_base64("AAAA", &why) == 0);
	CHECK(ch_check_base64("+/+/", &why) == 0);
	CHECK(ch_check_base64("", &why) == -1);
	CHECK(ch_check_base64("AAA", &why) == -1);
	CHECK(ch_check_base64("-_-_", &why) == -1);	/* base64url */
	CHECK(ch_check_base64("not base64!", &why) == -1);
	return 0;
}
