"""Credentials that must not work: bearer tokens that are expired, idle too long, revoked,
forged or of a disabled staff account; integrator signatures over something else than
what is sent, outside the ±5 minute window, replayed, malformed, of an unknown or disabled
key. Each is a 401 `unauthorized` problem with `WWW-Authenticate`, and every refused
signature is in the audit log as `integrator.request_refused`.

Sessions are aged by moving their times back in PostgreSQL (as the owner role), which is
what the passing of time would do. Every test makes its own principals: nothing here
spends the shared ones.
"""

import base64
import json
import os
import re
import secrets
import subprocess
import time

import pytest

from conftest import ROOT, assert_problem
from hmac_client import (EXTERNAL_USER_HEADER, canonical_string, new_nonce, sign_headers,
                         signature)
from principals import principals, sql  # noqa: F401  (principals is a fixture)

ME = "/api/v1/me"
QUOTES = "/api/v1/quotes"
QUOTE = {"business_type": "renew", "certificate_type": "personal", "years": 2, "seals": 1}


def assert_unauthorized(resp):
    body = assert_problem(resp, 401, "unauthorized")
    assert resp.headers.get("WWW-Authenticate"), "401 without WWW-Authenticate"
    assert "Set-Cookie" not in resp.headers
    return body


# ---------------------------------------------------------------------------------
# Bearer tokens
# ---------------------------------------------------------------------------------

def new_principal(principals, kind):
    if kind == "staff":
        return principals.new_staff(["counter"], name="throwaway counter")
    return principals.new_applicant(name="throwaway applicant")


def session_owner(p):
    """(column, id) of the principal's sessions in the session table."""
    if p.kind == "staff":
        return "staff_id", p.info["staff_id"]
    return "applicant_id", p.info["applicant_id"]


@pytest.mark.parametrize("kind", ["staff", "applicant"])
def test_expired_session_is_refused(principals, kind):
    p = new_principal(principals, kind)
    assert p.get(ME).status_code == 200
    column, owner = session_owner(p)
    sql(f"UPDATE session SET expires_at = now() - interval '1 second' WHERE {column} = %s",
        (owner,))
    assert_unauthorized(p.get(ME))


@pytest.mark.parametrize("kind", ["staff", "applicant"])
def test_idle_session_is_refused(principals, kind):
    p = new_principal(principals, kind)
    assert p.get(ME).status_code == 200
    column, owner = session_owner(p)
    # Idle just past its idle timeout; the absolute expiry is still ahead.
    rows = sql(f"UPDATE session SET last_seen_at = now() - make_interval(secs => idle_seconds + 5)"
               f" WHERE {column} = %s RETURNING expires_at > now()", (owner,))
    assert rows and all(r[0] for r in rows), rows
    assert_unauthorized(p.get(ME))


def test_session_just_inside_its_idle_timeout_works(principals):
    p = principals.new_staff(["counter"], name="throwaway counter")
    column, owner = session_owner(p)
    sql(f"UPDATE session SET last_seen_at = now() - make_interval(secs => idle_seconds - 60)"
        f" WHERE {column} = %s", (owner,))
    assert p.get(ME).status_code == 200
    # ... and that request counted as activity.
    assert p.get(ME).status_code == 200


@pytest.mark.parametrize("kind", ["staff", "applicant"])
def test_signed_out_session_is_refused(principals, kind):
    p = new_principal(principals, kind)
    assert p.get(ME).status_code == 200
    resp = p.request("DELETE", "/api/v1/auth/sessions/current")
    assert resp.status_code == 204, resp.content[:300]
    assert_unauthorized(p.get(ME))
    assert_unauthorized(p.request("DELETE", "/api/v1/auth/sessions/current"))


def test_signing_out_ends_only_that_session(principals):
    first = principals.new_staff(["counter"], name="throwaway counter")
    second = principals.sign_in_staff(first.info["username"], first.info["password"])
    assert first.request("DELETE", "/api/v1/auth/sessions/current").status_code == 204
    assert_unauthorized(first.get(ME))
    assert second.get(ME).status_code == 200


def forged_token():
    return "ch_" + secrets.token_urlsafe(32)          # 43 base64url characters: the real shape


@pytest.mark.parametrize("authorization", [
    pytest.param(lambda: f"Bearer {forged_token()}", id="random-token-of-the-right-shape"),
    pytest.param(lambda: f"Bearer {forged_token()[:-1]}", id="one-character-short"),
    pytest.param(lambda: f"Bearer {forged_token()}A", id="one-character-long"),
    pytest.param(lambda: "Bearer ch_" + "!" * 43, id="bad-characters"),
    pytest.param(lambda: "Bearer xx_" + secrets.token_urlsafe(32), id="wrong-prefix"),
    pytest.param(lambda: "Bearer ", id="empty-token"),
    pytest.param(lambda: "Basic dXNlcjpwYXNzd29yZA==", id="basic-scheme"),
    pytest.param(lambda: f"Token {forged_token()}", id="unknown-scheme"),
    pytest.param(lambda: f"{forged_token()}", id="no-scheme"),
])
def test_forged_credentials_are_refused(client, authorization):
    resp = client.get(ME, headers={"Authorization": authorization()})
    body = assert_unauthorized(resp)
    assert "ch_" not in body.get("detail", ""), "the detail echoes the token"


def test_a_tampered_real_token_is_refused(principals):
    p = principals.new_staff(["counter"], name="throwaway counter")
    token = p.token
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    resp = p.get(ME, headers={"Authorization": f"Bearer {flipped}"})
    assert_unauthorized(resp)
    assert p.get(ME).status_code == 200


def test_bad_credentials_are_refused_on_public_routes_too(client):
    """Credentials are checked whatever the route: a client with a dead token learns it
    (openapi.yaml, Security)."""
    resp = client.get("/api/v1/catalog", headers={"Authorization": f"Bearer {forged_token()}"})
    assert_unauthorized(resp)


def test_disabled_staff_loses_access_at_once(principals):
    p = principals.new_staff(["finance"], name="throwaway finance")
    assert p.get(ME).status_code == 200
    staff_id = p.info["staff_id"]
    resp = principals.admin().send_json("PATCH", f"/api/v1/staff/{staff_id}", {"disabled": True})
    assert resp.status_code == 200 and resp.body["disabled"] is True, resp.content[:300]
    assert_unauthorized(p.get(ME))
    # ... and cannot sign in again.
    resp = principals.anonymous_client.post_json(
        "/api/v1/auth/staff-sessions",
        {"username": p.info["username"], "password": p.info["password"]})
    assert_unauthorized(resp)


# ---------------------------------------------------------------------------------
# Integrator signatures
# ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def integrator(principals):
    return principals.new_integrator("hmac tests")


def send_signed(client, integ, method, path, query="", body=None, external_user=None,
                sign=None, timestamp=None, nonce=None, key_id=None, secret=None):
    """Sends METHOD path?query with body (a dict is sent as JSON) and external user, signed
    over the same values updated with `sign` (so what is signed can differ from what is
    sent). Returns the validated response with .signed_headers set."""
    raw = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
    signed = dict(method=method, path=path, query=query, body=raw, external_user=external_user)
    for k, v in (sign or {}).items():
        signed[k] = json.dumps(v, ensure_ascii=False).encode("utf-8") if k == "body" and isinstance(v, dict) else v
    headers = sign_headers(key_id or integ.key_id, secret or integ.secret, signed["method"],
                           signed["path"], signed["query"], signed["body"],
                           signed["external_user"], timestamp=timestamp, nonce=nonce)
    headers.pop(EXTERNAL_USER_HEADER, None)
    if external_user is not None:
        headers[EXTERNAL_USER_HEADER] = external_user
    if body is not None:
        headers["Content-Type"] = "application/json"
    resp = client.request(method, path + (f"?{query}" if query else ""),
                          data=raw if body is not None else None, headers=headers)
    resp.signed_headers = headers
    return resp


def audit_rows(resp, action):
    rid = resp.headers["X-Request-Id"]
    return sql("SELECT actor_kind, actor_id, object_type, object_id, detail FROM audit_event"
               " WHERE request_id = %s AND action = %s", (rid, action))


def assert_refused_and_audited(resp, key_id, integrator_id=None):
    assert_unauthorized(resp)
    rows = audit_rows(resp, "integrator.request_refused")
    assert len(rows) == 1, (
        f"expected one integrator.request_refused audit event for request "
        f"{resp.headers['X-Request-Id']}, found {rows}")
    actor_kind, actor_id, object_type, object_id, detail = rows[0]
    assert actor_kind == "integrator", rows[0]
    assert object_id == key_id, rows[0]
    if integrator_id is not None:
        assert actor_id == integrator_id, rows[0]
    assert "sk_" not in json.dumps(detail), "the audit detail holds a secret"
    return rows[0]


def test_valid_signed_request_passes_and_is_audited(client, integrator):
    resp = send_signed(client, integrator, "GET", ME)
    assert resp.status_code == 200, resp.content[:300]
    assert resp.body["integrator"]["key_id"] == integrator.key_id
    rows = audit_rows(resp, "integrator.key_used")
    assert len(rows) == 1 and rows[0][3] == integrator.key_id, rows


def test_valid_signed_request_with_body_external_user_and_query_passes(client, integrator):
    resp = send_signed(client, integrator, "POST", QUOTES, body=QUOTE, external_user="u-42")
    assert resp.status_code == 200, resp.content[:300]
    assert resp.body["total_fen"] == 2 * 10000 + 2 * 10000
    resp = send_signed(client, integrator, "GET", ME, query="view=full&x=%E4%B8%AD",
                       external_user="u-42")
    assert resp.status_code not in (401, 403), resp.content[:300]


def test_python_helper_and_openssl_agree(integrator):
    """The README's shell recipe (openssl dgst -sha256 -hmac, base64) gives the signature
    hmac_client computes."""
    canonical = canonical_string("POST", QUOTES, "", 1795402800, "Qm9ZtP2x8LrW4kVa", "u1",
                                 json.dumps(QUOTE).encode())
    proc = subprocess.run(["openssl", "dgst", "-sha256", "-hmac", integrator.secret, "-binary"],
                          input=canonical.encode(), capture_output=True, timeout=10)
    assert proc.returncode == 0, proc.stderr
    assert base64.b64encode(proc.stdout).decode() == signature(integrator.secret, canonical)


@pytest.mark.parametrize("what,send,sign", [
    ("body", dict(method="POST", path=QUOTES, body=QUOTE),
     dict(body=dict(QUOTE, years=3))),
    ("body (signed as empty)", dict(method="POST", path=QUOTES, body=QUOTE),
     dict(body=b"")),
    ("path", dict(method="GET", path=ME), dict(path="/api/v1/catalog")),
    ("method", dict(method="GET", path=ME), dict(method="POST")),
    ("query", dict(method="GET", path=ME, query="page=2"), dict(query="page=1")),
    ("query (added)", dict(method="GET", path=ME, query="page=1"), dict(query="")),
    ("external user", dict(method="GET", path=ME, external_user="u2"),
     dict(external_user="u1")),
    ("external user (added)", dict(method="GET", path=ME, external_user="u1"),
     dict(external_user=None)),
    ("external user (dropped)", dict(method="GET", path=ME), dict(external_user="u1")),
], ids=lambda v: v if isinstance(v, str) else "")
def test_changed_request_is_refused(client, integrator, what, send, sign):
    resp = send_signed(client, integrator, sign=sign, **send)
    assert_refused_and_audited(resp, integrator.key_id, integrator.id)


def test_wrong_secret_is_refused(client, integrator):
    resp = send_signed(client, integrator, "GET", ME, secret="sk_" + secrets.token_hex(32))
    assert_refused_and_audited(resp, integrator.key_id, integrator.id)


@pytest.mark.parametrize("offset", [-301 - 60, 301 + 60, -3600, 86400])
def test_timestamp_outside_the_window_is_refused(client, integrator, offset):
    resp = send_signed(client, integrator, "GET", ME, timestamp=int(time.time()) + offset)
    # The clock is checked before the key is looked up, so a stale request learns
    # nothing about whether its key exists: the event names the key, not an actor.
    _, actor_id, _, _, detail = assert_refused_and_audited(resp, integrator.key_id)
    assert actor_id is None
    assert detail["reason"] == "timestamp outside window"
    assert "does not verify" not in resp.json()["detail"]


@pytest.mark.parametrize("offset", [-240, 240])
def test_timestamp_inside_the_window_passes(client, integrator, offset):
    resp = send_signed(client, integrator, "GET", ME, timestamp=int(time.time()) + offset)
    assert resp.status_code == 200, resp.content[:300]


def test_replayed_nonce_is_refused(client, integrator):
    nonce = new_nonce()
    first = send_signed(client, integrator, "GET", ME, nonce=nonce)
    assert first.status_code == 200, first.content[:300]
    replay = client.get(ME, headers=first.signed_headers)
    assert_refused_and_audited(replay, integrator.key_id, integrator.id)
    # The same nonce with a new timestamp (a fresh signature) is still a replay.
    again = send_signed(client, integrator, "GET", ME, nonce=nonce,
                        timestamp=int(time.time()) + 1)
    assert_refused_and_audited(again, integrator.key_id, integrator.id)


@pytest.mark.parametrize("nonce", [
    pytest.param("short", id="too-short"),
    pytest.param("a" * 65, id="too-long"),
    pytest.param("bad nonce with spaces!", id="bad-characters"),
    pytest.param("nonce/with/slashes/0", id="slashes"),
])
def test_bad_nonce_shape_is_refused(client, integrator, nonce):
    resp = send_signed(client, integrator, "GET", ME, nonce=nonce)
    # A malformed header is refused before the key is looked up: the event names the key
    # id it carried, the actor may be unresolved.
    assert_refused_and_audited(resp, integrator.key_id)


def test_unknown_key_is_refused(client, integrator):
    key_id = "ak_" + secrets.token_hex(12)
    resp = send_signed(client, integrator, "GET", ME, key_id=key_id)
    _, actor_id, _, _, _ = assert_refused_and_audited(resp, key_id)
    assert actor_id is None
    # Same answer as a known key with a bad signature: existence does not leak.
    bad = send_signed(client, integrator, "GET", ME, secret="sk_" + secrets.token_hex(32))
    assert resp.body.get("detail") == bad.body.get("detail")


def test_disabled_integrator_is_refused(client, principals):
    integ = principals.new_integrator("to disable")
    assert send_signed(client, integ, "GET", ME).status_code == 200
    resp = principals.admin().send_json("PATCH", f"/api/v1/integrators/{integ.id}",
                                        {"disabled": True})
    assert resp.status_code == 200 and resp.body["disabled"] is True, resp.content[:300]
    assert_refused_and_audited(send_signed(client, integ, "GET", ME), integ.key_id, integ.id)
    resp = principals.admin().send_json("PATCH", f"/api/v1/integrators/{integ.id}",
                                        {"disabled": False})
    assert resp.status_code == 200 and resp.body["disabled"] is False, resp.content[:300]
    assert send_signed(client, integ, "GET", ME).status_code == 200


def readme_signing_block():
    """The README's shell example of a signed request (the block after its marker)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- integrator-signing[^>]*-->\n```sh\n(.*?)```", text, re.S)
    assert m, "README.md has no integrator-signing block"
    return m.group(1)


def test_readme_shell_example_is_a_valid_signed_request(integrator, base_url):
    first, rest = readme_signing_block().split("\n", 1)
    assert first.startswith("KEY_ID="), first        # the line we replace with real values
    env = dict(os.environ, KEY_ID=integrator.key_id, SECRET=integrator.secret, BASE=base_url)
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", rest], env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer.get("total_fen") == 40000, answer
