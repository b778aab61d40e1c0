/* Content negotiation over Accept (certhall/web/accept.h). */
#include "test.h"
#include "certhall/web/accept.h"

static const char *const offers[] = {
	"application/json", "application/pkix-cert", "application/x-pem-file",
	"application/pkcs7-mime", NULL,
};

int
test_accept_pick(void)
{
	/* No preference: the server's first. */
	CHECK(ch_accept_pick(NULL, offers) == 0);
	CHECK(ch_accept_pick("", offers) == 0);
	CHECK(ch_accept_pick(" , ", offers) == 0);
	CHECK(ch_accept_pick("*/*", offers) == 0);
	CHECK(ch_accept_pick("application/*", offers) == 0);
	/* One exact type, any case, with parameters and white space. */
	CHECK(ch_accept_pick("application/pkix-cert", offers) == 1);
	CHECK(ch_accept_pick("Application/X-PEM-File", offers) == 2);
	CHECK(ch_accept_pick("application/pkcs7-mime; smime-type=certs-only",
	    offers) == 3);
	CHECK(ch_accept_pick("application/pkcs7-mime;smime-type=\"certs-only\"",
	    offers) == 3);
	CHECK(ch_accept_pick(" text/html ,application/pkix-cert ;q=0.9", offers)
	    == 1);
	/* Weights: the heaviest wins, the most specific range decides. */
	CHECK(ch_accept_pick("application/json;q=0.5, application/x-pem-file",
	    offers) == 2);
	CHECK(ch_accept_pick("*/*;q=0.1, application/pkcs7-mime;q=0.2", offers)
	    == 3);
	CHECK(ch_accept_pick("application/*, application/json;q=0", offers) == 1);
	CHECK(ch_accept_pick("application/pkix-cert;q=1.000, */*;q=0.999",
	    offers) == 1);
	/* Equal weights: the server's order. */
	CHECK(ch_accept_pick("application/x-pem-file, application/pkix-cert",
	    offers) == 1);
	/* Nothing acceptable. */
	CHECK(ch_accept_pick("image/png", offers) == -1);
	CHECK(ch_accept_pick("text/*, image/png;q=0.5", offers) == -1);
	CHECK(ch_accept_pick("application/json;q=0, application/pkix-cert;q=0,"
	    " application/x-pem-file;q=0.000, application/pkcs7-mime;q=0",
	    offers) == -1);
	CHECK(ch_accept_pick("*/*;q=0", offers) == -1);
	/* Elements that do not parse are skipped. */
	CHECK(ch_accept_pick("application/pkix-cert;q=2, application/x-pem-file",
	    offers) == 2);
	CHECK(ch_accept_pick("application/pkix-cert;q=0.1234, image/png",
	    offers) == -1);
	CHECK(ch_accept_pick("*/json, image/png", offers) == -1);
	CHECK(ch_accept_pick("garbage", offers) == 0);
	CHECK(ch_accept_pick("application/pkix-cert;q=1.5", offers) == 0);
	CHECK(ch_accept_pick("application/pkix-cert;q=0.5;level=1", offers) == 1);
	return 0;
}
