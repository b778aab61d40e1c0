/*
 * codec-seal-tool: the seal codec for tests/codec/check-seal, which judges
 * what it writes with openssl and pyasn1 and hands it seals made without
 * it.
 *
 *   codec-seal-tool make DIR sm2|p256
 *	A CA (P-256), a seal maker certificate with a key of that kind and an
 *	owner certificate, and a unit seal for the owner with DIR/picture.png
 *	as its picture: DIR/seal.esl (DER), root.pem, issuing.pem, maker.pem,
 *	owner.der, and expect.txt (key=value: what the seal must say).
 *   codec-seal-tool read FILE NOW
 *	Parses FILE and verifies it at NOW (seconds since the epoch); prints
 *	"verdict field: text" and, if it parsed, the view as key=value lines
 *	(dates in seconds).
 *
 * Exit 0 on success (read: the verdict is ok), 1 on a refusal, 2 on a
 * usage or I/O error.
 */
#include "seal_fixture.h"

#include <openssl/bio.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* data (len bytes) as DIR/name; x as PEM when data is NULL.  0, or -1. */
static int
save(const char *dir, const char *name, const void *data, size_t len,
    X509 *x)
{
	char path[4096];
	BIO *b;
	bool ok;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	b = BIO_new_file(path, "wb");
	ok = b != NULL && (data != NULL ?
	    BIO_write(b, data, (int)len) == (int)len :
	    PEM_write_bio_X509(b, x) == 1);
	if (BIO_free(b) != 1 || !ok) {
		fprintf(stderr, "codec-seal-tool: cannot write \"%s\"\n", path);
		return -1;
	}
	return 0;
}

/* At most max bytes of path into a new buffer; NULL if unreadable or
 * larger. */
static unsigned char *
read_file(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = malloc(max + 1);

	*len = 0;
	if (f != NULL && buf != NULL)
		*len = fread(buf, 1, max + 1, f);
	if (f != NULL)
		fclose(f);
	if (buf == NULL || *len == 0 || *len > max) {
		fprintf(stderr, "codec-seal-tool: cannot read \"%s\"\n", path);
		free(buf);
		return NULL;
	}
	return buf;
}

static void
gtime(char out[16], time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 16, "%Y%m%d%H%M%SZ", &tm);
}

static int
make(const char *dir, const char *kind)
{
	fx_seal_t fs;
	char path[4096], why[256], t[3][16], expect[1024];
	unsigned char *png, *der = NULL;
	size_t png_len, len = 0;
	int rc = 2, n;

	snprintf(path, sizeof path, "%s/picture.png", dir);
	if ((png = read_file(path, CH_SEAL_PICTURE_MAX, &png_len)) == NULL)
		return 2;
	if (fx_seal_make(&fs, kind) != 0)
		goto out;
	fs.spec.png = png;
	fs.spec.png_len = png_len;
	if ((der = ch_seal_build(&fs.spec, fs.maker_key, fs.maker, &len, why,
	    sizeof why)) == NULL) {
		printf("ch_seal_build: %s\n", why);
		rc = 1;
		goto out;
	}
	gtime(t[0], fs.spec.create_date);
	gtime(t[1], fs.spec.valid_start);
	gtime(t[2], fs.spec.valid_end);
	n = snprintf(expect, sizeof expect, "es_id=%s\nvid=%s\ntype=%d\n"
	    "name=%s\ncreate=%s\nstart=%s\nend=%s\nwidth=%d\nheight=%d\n"
	    "sign_alg=%s\n", fs.spec.es_id, fs.spec.vid, (int)fs.spec.type,
	    fs.spec.name, t[0], t[1], t[2], fs.spec.width_mm,
	    fs.spec.height_mm, strcmp(kind, "sm2") == 0 ?
	    "1.2.156.10197.1.501" : "1.2.840.10045.4.3.2");
	if (n > 0 && (size_t)n < sizeof expect &&
	    save(dir, "seal.esl", der, len, NULL) == 0 &&
	    save(dir, "expect.txt", expect, (size_t)n, NULL) == 0 &&
	    save(dir, "owner.der", fs.owner_der, fs.owner_der_len, NULL) == 0 &&
	    save(dir, "maker.pem", NULL, 0, fs.maker) == 0 &&
	    save(dir, "root.pem", NULL, 0, fs.ca.root) == 0 &&
	    save(dir, "issuing.pem", NULL, 0, fs.ca.issuing) == 0)
		rc = 0;
out:
	OPENSSL_free(der);
	free(png);
	fx_seal_free(&fs);
	return rc;
}

static void
print_view(const ch_seal_view_t *v)
{
	char sn[80] = "";

	OBJ_obj2txt(sn, sizeof sn, OBJ_nid2obj(v->sign_nid), 1);
	printf("vid=%s\nes_id=%s\ntype=%ld\nname=%s\ncert_list_type=%d\n"
	    "entries=%zu\nowner=%s\ncreate=%lld\nstart=%lld\nend=%lld\n"
	    "picture_type=%s\npicture_len=%zu\nwidth=%ld\nheight=%ld\n"
	    "sign_alg=%s\n", v->vid, v->es_id, v->type, v->name,
	    (int)v->cert_list_type, v->n_entries, v->owner != NULL ? "yes" :
	    "no", (long long)v->create_date, (long long)v->valid_start,
	    (long long)v->valid_end, v->picture_type, v->picture_len,
	    v->width_mm, v->height_mm, sn);
	for (size_t i = 0; i < v->n_entries; i++)
		if (v->entries[i].digest_type != NULL)
			printf("digest_type=%s\n", v->entries[i].digest_type);
}

static int
read_seal(const char *file, const char *now)
{
	size_t len;
	unsigned char *in = read_file(file, CH_SEAL_MAX_BYTES + 1, &len);
	ch_seal_result_t res;
	ch_seal_t *seal;
	char *end;
	long long t = strtoll(now, &end, 10);

	if (in == NULL || *end != '\0') {
		free(in);
		return 2;
	}
	if ((seal = ch_seal_parse(in, len, &res)) != NULL)
		ch_seal_verify(seal, (time_t)t, &res);
	printf("%s %s: %s\n", ch_seal_verdict_name(res.verdict),
	    res.field != NULL ? res.field : "-",
	    res.text != NULL ? res.text : "-");
	if (seal != NULL)
		print_view(ch_seal_view(seal));
	ch_seal_free(seal);
	free(in);
	return res.verdict == CH_SEAL_OK ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "make") == 0 &&
	    (strcmp(argv[3], "sm2") == 0 || strcmp(argv[3], "p256") == 0))
		return make(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "read") == 0)
		return read_seal(argv[2], argv[3]);
	fprintf(stderr, "usage: codec-seal-tool make DIR sm2|p256\n"
	    "       codec-seal-tool read FILE NOW\n");
	return 2;
}
