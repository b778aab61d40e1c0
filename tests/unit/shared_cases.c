/*
 * The case tables the C checkers and the web hall's validators share
 * (tests/unit/validate_cases.json; web/src/validators.test.ts reads the same
 * file), so that the page refuses as the server does.
 */
#include "test.h"
#include "shared_cases.h"

#include <jansson.h>
#include <stddef.h>

#ifndef CERTHALL_UNIT_CASES
#error "CERTHALL_UNIT_CASES (the path of validate_cases.json) is set by CMakeLists.txt"
#endif

/* The file as JSON, or NULL (said on stderr). */
static json_t *
cases_load(void)
{
	json_error_t err;
	json_t *root = json_load_file(CERTHALL_UNIT_CASES, JSON_REJECT_DUPLICATES, &err);

	if (root == NULL)
		fprintf(stderr, "%s:%d: %s\n", CERTHALL_UNIT_CASES, err.line, err.text);
	return root;
}

/* Every string of list through check: want 0 (accepted, why untouched) or
 * -1 (refused with a reason). 0 when all went as wanted. */
static int
cases_run(json_t *list, shared_checker_fn check, int want)
{
	size_t i;
	json_t *v;

	if (!json_is_array(list) || json_array_size(list) == 0)
		return 1;
	json_array_foreach(list, i, v) {
		const char *why = NULL;
		int rc;

		if (!json_is_string(v))
			return 1;
		rc = check(json_string_value(v), &why);
		if (rc != want || (want == 0 ? why != NULL : why == NULL || *why == '\0')) {
			fprintf(stderr, "%s value \"%s\"\n", want == 0 ? "refused good" :
			    "accepted bad", json_string_value(v));
			return 1;
		}
	}
	return 0;
}

int
shared_cases(const char *table, shared_checker_fn check)
{
	json_t *root = cases_load(), *t;
	int rc = 1;

	if (root == NULL)
		goto out;
	t = json_object_get(root, table);
	if (t == NULL) {
		fprintf(stderr, "no table \"%s\" in %s\n", table, CERTHALL_UNIT_CASES);
		goto out;
	}
	if (cases_run(json_object_get(t, "good"), check, 0) != 0 ||
	    cases_run(json_object_get(t, "bad"), check, -1) != 0)
		goto out;
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int
shared_cases_pairs(const char *table, shared_pair_fn each)
{
	json_t *root = cases_load(), *list, *pair;
	size_t i;
	int rc = 1;

	if (root == NULL)
		goto out;
	list = json_object_get(json_object_get(root, table), "cases");
	if (!json_is_array(list) || json_array_size(list) == 0)
		goto out;
	json_array_foreach(list, i, pair) {
		json_t *s = json_array_get(pair, 0), *ok = json_array_get(pair, 1);

		if (!json_is_string(s) || !json_is_boolean(ok) ||
		    each(json_string_value(s), json_is_true(ok)) != 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}
