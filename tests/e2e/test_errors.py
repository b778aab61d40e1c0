"""Errors through nginx: every one is application/problem+json (validated by conftest).

The statuses nginx sends itself, over raw sockets and in every location, are in
test_nginx_errors.py; here are those the OpenAPI validator checks too."""

import json
import os
import time
from pathlib import Path

import pytest

from conftest import api_log_request_ids, assert_problem, wait_until

QUOTES = "/api/v1/quotes"
BAD = Path(__file__).resolve().parent / "bad-bodies"
MANIFEST = json.loads((BAD / "manifest.json").read_text())
GOOD = {"business_type": "new", "certificate_type": "org", "years": 1, "seals": 1}


def padded_body(size):
    """A JSON object of exactly size bytes that would be a valid quote but for its size."""
    head = json.dumps(dict(GOOD, pad=""))[:-2]          # ... "pad": "
    pad = size - len(head) - 2
    assert pad > 0
    body = (head + "x" * pad + '"}').encode()
    assert len(body) == size
    return body


# -- 404 ----------------------------------------------------------------------------

def test_unknown_api_path_is_404(client):
    resp = client.get("/api/v1/nope")
    body = assert_problem(resp, 404, "not-found")
    assert body.get("instance") == "/api/v1/nope"


@pytest.mark.parametrize("path", ["/api/nope", "/api/v2/catalog", "/api/", "/_certhall/nope"])
def test_unknown_api_path_outside_v1_is_404_from_nginx(client, path):
    """Every other path is the web hall's (test_web_hall.py); an API path never is."""
    assert assert_problem(client.get(path), 404, "not-found").get("instance") == path


def test_trailing_slash_is_another_path(client):
    assert_problem(client.get("/api/v1/catalog/"), 404, "not-found")


# -- 405 ----------------------------------------------------------------------------

@pytest.mark.parametrize("method,path", [
    ("DELETE", "/api/v1/catalog"),
    ("POST", "/api/v1/catalog"),
    ("PUT", "/api/v1/health"),
    ("GET", QUOTES),
    ("DELETE", QUOTES),
    ("POST", "/api/v1/openapi.yaml"),      # nginx's own 405
])
def test_wrong_method_is_405_with_allow(client, method, path):
    resp = client.request(method, path)
    assert_problem(resp, 405, "method-not-allowed")
    assert resp.headers.get("Allow"), "405 without Allow"   # value checked by the validator


@pytest.mark.parametrize("method", ["FROB", "PROPFIND", "PATCHX", "CONNECTX"])
def test_unknown_method_is_501(client, method):
    """A method the API does not know at all: 501 (RFC 9110 §15.6.2), not a 405 that
    could name no Allow list for it."""
    resp = client.request(method, "/api/v1/catalog")
    body = assert_problem(resp, 501, "not-implemented")
    assert method in body["detail"], body
    assert "Allow" not in resp.headers


# -- 412 ----------------------------------------------------------------------------

def test_stale_if_match_on_openapi_yaml_is_412_from_nginx(client):
    resp = client.get("/api/v1/openapi.yaml", headers={"If-Match": '"nope"'})
    body = assert_problem(resp, 412, "precondition-failed")
    assert body["instance"] == "/api/v1/openapi.yaml"


# -- 413 ----------------------------------------------------------------------------

def test_body_over_the_apis_16k_cap_is_413_from_the_api(client):
    resp = client.post_json(QUOTES, padded_body(20 * 1024))
    assert_problem(resp, 413, "payload-too-large")
    if os.environ.get("CERTHALL_STACK"):
        rid = resp.headers["X-Request-Id"]
        wait_until(lambda: rid in api_log_request_ids(os.environ["CERTHALL_STACK"]), 5,
                   what=f"request {rid} in api.log (the API, not nginx, must answer)")


def test_body_at_the_16k_cap_is_parsed(client):
    resp = client.post_json(QUOTES, padded_body(16 * 1024))
    assert_problem(resp, 422, "unknown-field", "/pad")


def test_body_over_nginx_limit_is_413_from_nginx(client):
    resp = client.post_json(QUOTES, padded_body(2 * 1024 * 1024))
    assert_problem(resp, 413, "payload-too-large")
    if os.environ.get("CERTHALL_STACK"):
        time.sleep(0.2)
        assert resp.headers["X-Request-Id"] not in api_log_request_ids(os.environ["CERTHALL_STACK"]), (
            "a 2 MiB body reached the API: nginx must refuse it first")


# -- 415 ----------------------------------------------------------------------------

def test_text_plain_body_is_415(client):
    resp = client.post(QUOTES, data=json.dumps(GOOD).encode(), headers={"Content-Type": "text/plain"})
    body = assert_problem(resp, 415, "unsupported-media-type")
    assert body.get("header") == "Content-Type"


def test_body_without_content_type_is_415(client):
    resp = client.post(QUOTES, data=json.dumps(GOOD).encode())
    assert "Content-Type" not in resp.request.headers
    assert_problem(resp, 415, "unsupported-media-type")


# -- 400 / 422 ----------------------------------------------------------------------

def test_malformed_json_is_400(client):
    assert_problem(client.post_json(QUOTES, b'{"business_type":'), 400, "malformed-json")


def test_duplicate_key_is_400(client):
    body = b'{"business_type":"new","certificate_type":"org","years":1,"years":2}'
    assert_problem(client.post_json(QUOTES, body), 400, "duplicate-key")


def test_too_deep_nesting_is_400(client):
    body = ('{"business_type":' + "[" * 100 + "]" * 100 + "}").encode()
    assert_problem(client.post_json(QUOTES, body), 400, "too-deep")


def test_unknown_field_is_422_naming_it(client):
    assert_problem(client.post_json(QUOTES, dict(GOOD, colour="red")), 422, "unknown-field", "/colour")


def test_empty_body_is_400(client):
    assert_problem(client.post_json(QUOTES, b""), 400, "malformed-json")


def test_json_array_body_is_422_for_the_whole_body(client):
    assert_problem(client.post_json(QUOTES, b"[]"), 422, "invalid-field", "")


def test_json_scalar_body_is_422_for_the_whole_body(client):
    # "new" is valid JSON (RFC 8259), just not an object: not malformed-json.
    assert_problem(client.post_json(QUOTES, b'"new"'), 422, "invalid-field", "")


# -- the bad-bodies folder ---------------------------------------------------------------

def test_every_bad_body_file_is_in_the_manifest():
    files = {p.name for p in BAD.iterdir() if p.name != "manifest.json"}
    listed = {case["file"] for case in MANIFEST["cases"]}
    assert files == listed, f"unlisted: {sorted(files - listed)}, missing: {sorted(listed - files)}"


@pytest.mark.parametrize("case", MANIFEST["cases"],
                         ids=[f"{c['file']}:{c.get('content_type', 'json')}" for c in MANIFEST["cases"]])
def test_bad_body(client, case):
    data = (BAD / case["file"]).read_bytes()
    ctype = case.get("content_type", "application/json")
    resp = client.post(MANIFEST["endpoint"], data=data, headers={"Content-Type": ctype})
    body = assert_problem(resp, case["status"], case["slug"],
                          case["field"] if case["field"] is not None else None)
    if case["field"] is None:
        assert "field" not in body, f"{case['file']}: unexpected field {body.get('field')!r}"


# -- problem documents ------------------------------------------------------------------

def test_problem_carries_request_id_and_instance(client):
    resp = client.post_json(QUOTES, dict(GOOD, years=0))
    body = assert_problem(resp, 422, "invalid-field", "/years")
    assert body["request_id"] == resp.headers["X-Request-Id"]
    assert body["instance"] == QUOTES
    assert body.get("detail"), "problem without detail"


def test_problem_title_is_constant_per_type(client):
    a = client.post_json(QUOTES, dict(GOOD, years=0)).body
    b = client.post_json(QUOTES, dict(GOOD, seals=99)).body
    assert a["type"] == b["type"] and a["title"] == b["title"]


# -- keep-alive: errors must not desynchronise the connection ----------------------------

def test_keep_alive_survives_alternating_good_and_bad_requests(client):
    """200 requests on one connection, every other one an error the API answers without
    using the body (413, 415) or after reading it (400, 422). If the API does not drain
    unread bodies, nginx's kept-alive FastCGI connection desynchronises and answers 502."""
    bad = [
        (lambda: client.post_json(QUOTES, padded_body(20 * 1024)), 413),
        (lambda: client.post(QUOTES, data=json.dumps(GOOD).encode(),
                             headers={"Content-Type": "text/plain"}), 415),
        (lambda: client.post_json(QUOTES, b'{"years":'), 400),
        (lambda: client.post_json(QUOTES, dict(GOOD, colour=1)), 422),
    ]
    good = [
        (lambda: client.get("/api/v1/health"), 200),
        (lambda: client.post_json(QUOTES, GOOD), 200),
        (lambda: client.get("/api/v1/catalog"), 200),
    ]
    wrong = []
    for i in range(200):
        send, want = (good[(i // 2) % len(good)] if i % 2 == 0 else bad[(i // 2) % len(bad)])
        resp = send()
        if resp.status_code != want:
            wrong.append((i, want, resp.status_code, resp.headers.get("X-Request-Id")))
    assert not wrong, f"{len(wrong)} of 200 answered wrongly (i, want, got, id): {wrong[:10]}"
    pool = client.session.get_adapter(client.base).poolmanager.connection_from_url(client.base)
    assert pool.num_connections <= 2, (
        f"{pool.num_connections} client connections for 200 requests: keep-alive is not kept")
