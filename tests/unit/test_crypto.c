#include "test.h"
#include "certhall/web/auth.h"
#include "certhall/web/cors.h"
#include "certhall/base/crypto.h"
#include "certhall/base/log.h"
#include "certhall/web/router.h"

#include <string.h>

static void
test_pepper(void)
{
	unsigned char p[CH_PEPPER_LEN];

	for (int i = 0; i < CH_PEPPER_LEN; i++)
		p[i] = (unsigned char)i;
	ch_crypto_set_pepper(p);
}

int
test_crypto_encodings(void)
{
	unsigned char raw[] = { 0xfb, 0xff, 0x00, 0x10 }, back[4];
	char out[64];

	ch_hex(raw, 4, out);
	CHECK_STR(out, "fbff0010");
	CHECK(ch_unhex("FBff0010", back, 4) == 0 && memcmp(raw, back, 4) == 0);
	CHECK(ch_unhex("fbff001", back, 4) == -1);
	CHECK(ch_unhex("fbff0010aa", back, 4) == -1);
	CHECK(ch_unhex("zz", back, 1) == -1);
	/* RFC 4648 §10 vectors. */
	CHECK(ch_base64((const unsigned char *)"foob", 4, out) == 8);
	CHECK_STR(out, "Zm9vYg==");
	ch_base64((const unsigned char *)"fooba", 5, out);
	CHECK_STR(out, "Zm9vYmE=");
	ch_base64url(raw, 4, out);
	CHECK_STR(out, "-_8AEA");
	return 0;
}

int
test_crypto_hmac_vectors(void)
{
	unsigned char mac[CH_SHA256_LEN], key[20];
	char hex[65];

	/* RFC 4231 test case 2. */
	ch_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
	ch_hex(mac, sizeof mac, hex);
	CHECK_STR(hex,
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	memset(key, 0x0b, sizeof key);
	ch_hmac_sha256(key, sizeof key, "Hi There", 8, mac);
	ch_hex(mac, sizeof mac, hex);
	CHECK_STR(hex,
	    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	ch_sha256("abc", 3, mac);
	ch_hex(mac, sizeof mac, hex);
	CHECK_STR(hex,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	CHECK(ch_equal("abc", "abc", 3) && !ch_equal("abc", "abd", 3));
	return 0;
}

int
test_crypto_keyed_hash_labels(void)
{
	unsigned char a[CH_SHA256_LEN], b[CH_SHA256_LEN], c[CH_SHA256_LEN];

	test_pepper();
	ch_keyed_hash(CH_KEY_SESSION, "x", 1, a);
	ch_keyed_hash(CH_KEY_SESSION, "x", 1, b);
	ch_keyed_hash(CH_KEY_SMS_CODE, "x", 1, c);
	CHECK(memcmp(a, b, sizeof a) == 0);
	CHECK(memcmp(a, c, sizeof a) != 0);	/* one key per purpose */
	for (int i = 0; i < 1000; i++)
		CHECK(ch_random_below(1000000) < 1000000);
	return 0;
}

int
test_crypto_password(void)
{
	char enc[160];

	CHECK(ch_password_hash("correct horse battery", enc, sizeof enc) == 0);
	CHECK(strncmp(enc, "$scrypt$ln=15,r=8,p=1$", 22) == 0);
	CHECK(ch_password_verify("correct horse battery", enc));
	CHECK(!ch_password_verify("correct horse batterY", enc));
	CHECK(!ch_password_verify("", enc));
	/* Malformed or hostile parameter strings are refused, not run. */
	CHECK(!ch_password_verify("x", "$scrypt$ln=40,r=8,p=1$AAAA$AAAA"));
	CHECK(!ch_password_verify("x", "$scrypt$ln=15,r=8,p=1$!!$AAAA"));
	CHECK(!ch_password_verify("x", "plain"));
	{
		char enc2[160];

		/* Same password, new salt, different string. */
		CHECK(ch_password_hash("correct horse battery", enc2,
		    sizeof enc2) == 0);
		CHECK(strcmp(enc, enc2) != 0);
	}
	return 0;
}

int
test_crypto_seal(void)
{
	const unsigned char secret[] = "sk_0123456789abcdef";
	unsigned char sealed[128], opened[128];
	size_t slen, olen;

	test_pepper();
	CHECK(ch_seal(CH_KEY_INTEGRATOR, "ak_1", secret, sizeof secret, sealed,
	    &slen) == 0);
	CHECK(slen == sizeof secret + 28);
	CHECK(ch_open(CH_KEY_INTEGRATOR, "ak_1", sealed, slen, opened,
	    &olen) == 0);
	CHECK(olen == sizeof secret && memcmp(opened, secret, olen) == 0);
	/* Another owner, another purpose, a flipped bit: all refused. */
	CHECK(ch_open(CH_KEY_INTEGRATOR, "ak_2", sealed, slen, opened, &olen) != 0);
	CHECK(ch_open(CH_KEY_SESSION, "ak_1", sealed, slen, opened, &olen) != 0);
	sealed[20] ^= 1;
	CHECK(ch_open(CH_KEY_INTEGRATOR, "ak_1", sealed, slen, opened, &olen) != 0);
	CHECK(ch_open(CH_KEY_INTEGRATOR, "ak_1", sealed, 10, opened, &olen) != 0);
	return 0;
}

int
test_mask(void)
{
	char out[32];

	ch_mask_phone("13812345678", out);
	CHECK_STR(out, "138****5678");
	ch_mask_id("510104199001011234", out);
	CHECK_STR(out, "5101**********1234");
	ch_mask_id("91510100MA61XYZ12X", out);
	CHECK_STR(out, "9151**********Z12X");
	ch_mask_phone("123", out);
	CHECK_STR(out, "***");
	ch_mask_phone(NULL, out);
	CHECK_STR(out, "*");
	return 0;
}

int
test_auth_canonical(void)
{
	ch_pool_t *pool = ch_pool_new();
	const char *c = ch_hmac_canonical(pool, "POST", "/api/v1/quotes",
	    "a=1&b=2", "1795488840", "n0nce-n0nce-n0nce", "u1", "{}", 2);

	CHECK_STR(c, "CH-HMAC-SHA256\nPOST\n/api/v1/quotes\na=1&b=2\n1795488840\n"
	    "n0nce-n0nce-n0nce\nu1\n"
	    "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
	c = ch_hmac_canonical(pool, "GET", "/api/v1/me", NULL, "1", "n", NULL,
	    NULL, 0);
	CHECK_STR(c, "CH-HMAC-SHA256\nGET\n/api/v1/me\n\n1\nn\n\n"
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	ch_pool_free(pool);
	return 0;
}

int
test_auth_roles_parse(void)
{
	CHECK(ch_staff_roles_parse("{reviewer,admin}") ==
	    (CH_ROLE_REVIEWER | CH_ROLE_ADMIN));
	CHECK(ch_staff_roles_parse("{finance}") == CH_ROLE_FINANCE);
	CHECK(ch_staff_roles_parse("{}") == 0);
	CHECK(ch_staff_roles_parse("{administrator,rev}") == 0);
	CHECK(ch_staff_roles_parse(NULL) == 0);
	CHECK(ch_staff_roles_parse("admin") == 0);
	return 0;
}

int
test_cors_origins(void)
{
	CHECK(ch_cors_configure("https://hall.scca.com.cn, http://127.0.0.1:5173") == 0);
	CHECK(ch_cors_allowed("https://hall.scca.com.cn"));
	CHECK(ch_cors_allowed("http://127.0.0.1:5173"));
	CHECK(!ch_cors_allowed("https://hall.scca.com.cn.evil.example"));
	CHECK(!ch_cors_allowed("http://127.0.0.1:5174"));
	CHECK(!ch_cors_allowed("null"));
	CHECK(!ch_cors_allowed(NULL));
	CHECK(ch_cors_configure("https://x.example/path") == -1);
	CHECK(ch_cors_configure("*") == -1);
	CHECK(ch_cors_configure("") == 0 && !ch_cors_allowed("http://127.0.0.1:5173"));
	CHECK(ch_cors_configure(NULL) == 0);
	return 0;
}
