/*
 * The tax platform client (src/clients/taxplat.c) against canned answers:
 * what it sends (the bearer key, the invoice as given) and how strictly it
 * reads what comes back (certhall/clients/taxplat.h).
 */
#include "test.h"
#include "certhall/clients/taxplat.h"
#include "certhall/base/pool.h"
#include "canned_http.h"

#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEY "tk-5d0c2b7e9a41"
#define RID "inv-0123456789abcdef"

static const char *
confirm(ch_pool_t *p, const char *rid, const char *number, long long gross)
{
	return canned_answer(p, "201 Created", ch_psprintf(p,
	    "{\"request_id\":\"%s\",\"number\":\"%s\",\"issued_at\":"
	    "\"2026-12-07T21:05:13+08:00\",\"gross_fen\":%lld}", rid, number,
	    gross));
}

int
test_taxplat_answers(void)
{
	ch_pool_t *p = ch_pool_new();
	const char *answers[] = {
		confirm(p, RID, "26511000000000000007", 40000),
		canned_answer(p, "200 OK", ch_psprintf(p, "{\"request_id\":"
		    "\"%s\",\"number\":\"26511000000000000007\",\"issued_at\":"
		    "\"2026-12-07T21:05:13+08:00\",\"gross_fen\":40000}", RID)),
		canned_answer(p, "409 Conflict", "{\"code\":\"REQUEST_ID_REUSED\","
		    "\"message\":\"request_id used\\nfor another invoice\"}"),
		canned_answer(p, "400 Bad Request", "{\"code\":\"INVALID\","
		    "\"message\":\"lines[0].tax_fen: expected 566\"}"),
		canned_answer(p, "503 Service Unavailable", "{\"code\":\"DOWN\"}"),
		canned_answer(p, "401 Unauthorized", "{}"),
		canned_answer(p, "429 Too Many Requests", "{}"),
		/* 2xx answers that break the protocol */
		confirm(p, "inv-another", "26511000000000000007", 40000),
		confirm(p, RID, "26511000000000000007", 39999),
		confirm(p, RID, "2651100000000000007", 40000),	/* 19 digits */
		confirm(p, RID, "26441000000000000007", 40000),	/* not 51 */
		canned_answer(p, "201 Created", ch_psprintf(p, "{\"request_id\":"
		    "\"%s\",\"number\":\"26511000000000000007\",\"issued_at\":"
		    "\"yesterday\",\"gross_fen\":40000}", RID)),
		canned_answer(p, "201 Created", ch_psprintf(p, "{\"request_id\":"
		    "\"%s\",\"number\":\"26511000000000000007\",\"issued_at\":"
		    "\"2026-12-07T21:05:13+08:00\",\"gross_fen\":40000,\"x\":1}",
		    RID)),
		canned_answer(p, "200 OK", "not json"),
		"",		/* the connection closed without an answer */
		NULL,
	};
	json_t *inv = json_pack("{s:s, s:s, s:{s:I, s:I, s:I}}", "request_id",
	    RID, "kind", "blue", "total", "net_fen", (json_int_t)37736,
	    "tax_fen", (json_int_t)2264, "gross_fen", (json_int_t)40000);
	ch_taxplat_confirm_t c;
	ch_taxplat_t *tp;
	char url[64], dir[] = "/tmp/taxplat-XXXXXX", logpath[128];
	const char *why, *log;
	pid_t pid;
	int status;

	CHECK(inv != NULL && mkdtemp(dir) != NULL);
	snprintf(logpath, sizeof logpath, "%s/requests.log", dir);
	pid = canned_start(answers, logpath, url, sizeof url);
	CHECK(pid > 0);
	url[strlen(url) - 1] = '\0';	/* no trailing '/' */
	CHECK(ch_taxplat_new("ftp://127.0.0.1", KEY) == NULL);
	CHECK(ch_taxplat_new(url, "two\nlines") == NULL);
	CHECK((tp = ch_taxplat_new(url, KEY)) != NULL);

	CHECK(ch_taxplat_issue(tp, p, inv, &c, &why) == CH_TAXPLAT_OK);
	CHECK_STR(c.number, "26511000000000000007");
	CHECK_STR(c.issued_at, "2026-12-07T21:05:13+08:00");
	CHECK(strstr(c.raw, "\"gross_fen\":40000") != NULL);
	/* The same request again: the same invoice (200). */
	CHECK(ch_taxplat_issue(tp, p, inv, &c, &why) == CH_TAXPLAT_OK);
	CHECK_STR(c.number, "26511000000000000007");
	CHECK(ch_taxplat_issue(tp, p, inv, &c, &why) == CH_TAXPLAT_REFUSED);
	CHECK_STR(why, "HTTP 409 REQUEST_ID_REUSED: request_id used?for another"
	    " invoice");
	CHECK(ch_taxplat_issue(tp, p, inv, &c, &why) == CH_TAXPLAT_REFUSED);
	CHECK(strstr(why, "expected 566") != NULL);
	for (int i = 0; i < 3; i++)		/* 503, 401, 429 */
		CHECK(ch_taxplat_issue(tp, p, inv, &c, &why) ==
		    CH_TAXPLAT_UNAVAILABLE);
	for (int i = 0; i < 8; i++) {		/* broken answers, closed */
		CHECK(ch_taxplat_issue(tp, p, inv, &c, &why) ==
		    CH_TAXPLAT_UNAVAILABLE);
		CHECK(c.number == NULL);
	}
	/* Nothing to send without a request id. */
	json_object_del(inv, "request_id");
	CHECK(ch_taxplat_issue(tp, p, inv, &c, &why) == CH_TAXPLAT_REFUSED);

	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0);
	CHECK((log = canned_slurp(logpath)) != NULL);
	CHECK(strstr(log, "POST /v1/invoices HTTP/1.1\r\n") == log);
	CHECK(strcasestr(log, "\r\nAuthorization: Bearer " KEY "\r\n") != NULL);
	CHECK(strcasestr(log, "\r\nContent-Type: application/json\r\n") != NULL);
	CHECK(strstr(log, "\"request_id\":\"" RID "\"") != NULL);
	ch_taxplat_free(tp);
	json_decref(inv);
	unlink(logpath);
	rmdir(dir);
	ch_pool_free(p);
	return 0;
}
