/*
 * The scanned materials of an application (SPEC §3; docs/CONTRACT.md
 * "Applications, materials, review"): what a file may be, the kinds an
 * application takes, the caps on their sizes, and replacing a file while
 * keeping the one it replaces (superseded_at), so a reviewer can see what
 * was sent before.
 *
 * The type of a file is decided by its bytes, never by its name, and must
 * agree with the type the uploader declares.  The recognition lives here,
 * not in base: which types a material may be, what a refusal calls them
 * and the name a download gets are the CA's rules for materials, and
 * nothing else takes files (the seal codec checks its own PNG in
 * certhall/codec/seal.h).
 *
 * Files travel to and from PostgreSQL in binary (a binary bytea parameter,
 * a binary result for a download): a 10 MiB file then costs 10 MiB on the
 * wire and one copy in ctx->pool, where the text protocol would double it
 * as hex and need a third copy to unescape.
 *
 * Who may read or change the application is decided by its load
 * (certhall/domain/application.h); nothing here commits.
 */
#ifndef CERTHALL_MATERIAL_H
#define CERTHALL_MATERIAL_H

#include <stdbool.h>
#include <stddef.h>

#include "certhall/domain/application.h"
#include "certhall/store/ctx.h"

/* A type a material may be, recognised by its first bytes (the PDF header
 * of ISO 32000-1 §7.5.2, the JPEG SOI marker with the first marker's 0xFF,
 * the PNG signature of RFC 2083 §3.1). */
typedef struct {
	const char *content_type;	/* "application/pdf" */
	const char *name;		/* "a PDF document", for refusals */
	const char *ext;		/* "pdf", for a download's file name */
	const char *magic;
	size_t magic_len;
} ch_material_type_t;

/* The type whose signature the len bytes at bytes start with, or NULL.
 * Pure. */
const ch_material_type_t *ch_material_type_sniff(const void *bytes,
    size_t len);

/* The type named by the len characters of media_type (a media type
 * without parameters, compared without regard to case), or NULL.  Pure. */
const ch_material_type_t *ch_material_type_named(const char *media_type,
    size_t len);

typedef enum {
	CH_MATERIAL_OK,
	CH_MATERIAL_NO_KIND,	/* the application takes no material of this
				 * kind (or there is no such kind): *detail
				 * lists those it takes */
	CH_MATERIAL_BAD_TYPE,	/* the bytes are none of the types, not the
				 * type declared, or not the kind's type */
	CH_MATERIAL_CONFLICT,	/* its status allows no change of materials */
	CH_MATERIAL_TOO_LARGE,	/* over a cap of material_policy */
	CH_MATERIAL_NONE,	/* (download) no current file of the kind */
	CH_MATERIAL_ERROR,	/* database error, logged */
} ch_material_result_t;

/* What an upload stored. */
typedef struct {
	const char *json;	/* the Material object (ctx->pool) */
	size_t len;
	int version;		/* the application's new version */
	bool replaced;		/* it superseded a current file of the kind */
} ch_material_stored_t;

/*
 * Stores the len bytes at bytes as application a's material of kind
 * (anything: a path parameter; only a known kind reaches SQL or a
 * detail), declared (by the uploader) to be of type declared (NULL: none of
 * ours).  a is loaded with CH_APP_CHANGE in the caller's transaction, so
 * an upload and a submit or another upload take turns.  Refusals, in this
 * order: CH_MATERIAL_NO_KIND, CH_MATERIAL_BAD_TYPE, CH_MATERIAL_CONFLICT
 * (not a draft or returned), CH_MATERIAL_TOO_LARGE, each with *detail
 * (static or ctx->pool) and nothing written.  Otherwise supersedes the
 * current file of the kind, inserts the new one (uploaded by
 * ctx->principal), bumps the application's version and queues the audit
 * event application.material_uploaded: CH_MATERIAL_OK with *out set.
 * After anything but CH_MATERIAL_OK the caller rolls back.
 */
ch_material_result_t ch_material_put(ch_ctx_t *ctx, const ch_app_t *a,
    const char *kind, const ch_material_type_t *declared, const void *bytes,
    size_t len, ch_material_stored_t *out, const char **detail);

/*
 * The materials of application id: {"items": [current files, catalogue
 * order], "history": [the files they replaced, newest first]} as JSON text
 * (owned by ctx->pool, *len bytes), or NULL after a database error.  No
 * visibility check: load first.
 */
const char *ch_material_list_json(ch_ctx_t *ctx, long long id, size_t *len);

/* A current file, for a download.  bytes live in ctx->pool. */
typedef struct {
	const ch_material_type_t *type;
	const char *bytes;
	size_t len;
} ch_material_file_t;

/*
 * Application id's current file of kind (anything: a path parameter).
 * CH_MATERIAL_OK with *out set; CH_MATERIAL_NO_KIND when kind is no
 * material kind at all; CH_MATERIAL_NONE when there is no current file of
 * it; CH_MATERIAL_ERROR.  No visibility check: load first.
 */
ch_material_result_t ch_material_get(ch_ctx_t *ctx, long long id,
    const char *kind, ch_material_file_t *out);

#endif
