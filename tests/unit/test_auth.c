#include "test.h"

#include "certhall/base/crypto.h"
#include "certhall/domain/signin.h"

#include <string.h>

/* Length of "$scrypt$ln=..,r=..,p=..$" of an encoded hash, 0 if none. */
static size_t
params_length(const char *enc)
{
	const char *p = enc;

	for (int i = 0; i < 3; i++) {
		if ((p = strchr(p, '$')) == NULL)
			return 0;
		p++;
	}
	return (size_t)(p - enc);
}

/*
 * A refused staff sign-in verifies against ch_signin_dummy_password_hash
 * so that it costs what a wrong password costs (certhall/domain/signin.h,
 * issue 17): its
 * scrypt parameters and the lengths of its salt and hash must be those
 * ch_password_hash() writes today, or a refusal would answer sooner or
 * later than a wrong password.
 */
int
test_auth_dummy_password_hash(void)
{
	const char *dummy = ch_signin_dummy_password_hash;
	char enc[160];
	size_t n;

	CHECK(ch_password_hash("a password nobody chose", enc, sizeof enc) == 0);
	n = params_length(enc);
	CHECK(n > 0 && params_length(dummy) == n);
	CHECK(strncmp(dummy, enc, n) == 0);
	CHECK(strcspn(dummy + n, "$") == strcspn(enc + n, "$"));
	CHECK(strlen(dummy) == strlen(enc));
	CHECK(!ch_password_verify("a password nobody chose", dummy));
	CHECK(!ch_password_verify("", dummy));
	return 0;
}
