"""CORS for the single-page app: the stack allows http://127.0.0.1:5173 (a Vite dev server;
CERTHALL_CORS_ORIGINS, docs/CONTRACT.md). Preflights are answered without credentials,
allowed origins are echoed with `Vary: Origin`, other origins get no CORS headers at all,
and no response ever sets a cookie (the SPA sends a bearer token).

OPTIONS is not an operation of openapi.yaml (it is HTTP machinery, documented in its
introduction), so those answers are checked here by hand with a plain session; every
other request goes through the validating client.
"""

import pytest
import requests

from conftest import TIMEOUT, assert_problem
from principals import principals  # noqa: F401  (a fixture)

SPA = "http://127.0.0.1:5173"
ME = "/api/v1/me"


def header_list(resp, name):
    return [v.strip().lower() for v in resp.headers.get(name, "").split(",") if v.strip()]


@pytest.fixture
def raw(base_url):
    """A plain requests session (no response validation) for OPTIONS."""
    s = requests.Session()
    s.trust_env = False

    def send(method, path, **kw):
        kw.setdefault("timeout", TIMEOUT)
        kw.setdefault("allow_redirects", False)
        return s.request(method, base_url + path, **kw)
    yield send
    s.close()


def preflight(raw, path, method="GET", headers="authorization", origin=SPA):
    return raw("OPTIONS", path, headers={
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    })


def test_preflight_from_the_spa(raw):
    resp = preflight(raw, ME)
    assert resp.status_code == 204, (
        f"preflight answered {resp.status_code} (is CERTHALL_CORS_ORIGINS={SPA} set in the "
        f"stack?): {resp.content[:300]!r}")
    assert resp.headers.get("Access-Control-Allow-Origin") == SPA, resp.headers
    assert "get" in header_list(resp, "Access-Control-Allow-Methods"), resp.headers
    assert "authorization" in header_list(resp, "Access-Control-Allow-Headers"), resp.headers
    assert "origin" in header_list(resp, "Vary"), resp.headers
    assert "Access-Control-Allow-Credentials" not in resp.headers
    assert not resp.content
    assert resp.headers.get("X-Request-Id")
    assert "Set-Cookie" not in resp.headers


def test_preflight_lists_the_paths_methods_and_the_signing_headers(raw):
    resp = preflight(raw, "/api/v1/staff", method="POST",
                     headers="authorization, content-type")
    assert resp.status_code == 204, resp.content[:300]
    methods = header_list(resp, "Access-Control-Allow-Methods")
    assert {"get", "post"} <= set(methods), methods
    assert "delete" not in methods, methods
    allowed = set(header_list(resp, "Access-Control-Allow-Headers"))
    assert {"authorization", "content-type", "x-certhall-external-user"} <= allowed, allowed


def test_preflight_needs_no_credentials_even_for_admin_routes(raw):
    resp = preflight(raw, "/api/v1/audit-events")
    assert resp.status_code == 204, resp.content[:300]
    assert resp.headers.get("Access-Control-Allow-Origin") == SPA


def test_preflight_on_a_path_with_a_parameter(raw):
    resp = preflight(raw, "/api/v1/staff/999999", method="PATCH",
                     headers="authorization, content-type")
    assert resp.status_code == 204, resp.content[:300]
    assert "patch" in header_list(resp, "Access-Control-Allow-Methods")


def test_simple_request_from_the_spa_gets_cors_headers(client):
    resp = client.get("/api/v1/health", headers={"Origin": SPA})
    assert resp.status_code == 200
    assert resp.headers.get("Access-Control-Allow-Origin") == SPA
    exposed = header_list(resp, "Access-Control-Expose-Headers")
    assert "x-request-id" in exposed, exposed
    assert "origin" in header_list(resp, "Vary")
    assert "Access-Control-Allow-Credentials" not in resp.headers
    assert "Set-Cookie" not in resp.headers


def test_authenticated_request_from_the_spa(principals):
    applicant = principals.applicant("A")
    resp = applicant.get(ME, headers={"Origin": SPA})
    assert resp.status_code == 200
    assert resp.headers.get("Access-Control-Allow-Origin") == SPA
    assert "x-request-id" in header_list(resp, "Access-Control-Expose-Headers")
    assert "Set-Cookie" not in resp.headers


def test_errors_carry_cors_headers_too(client):
    """The SPA must be able to read a 401 (and its WWW-Authenticate) and a 404."""
    resp = client.get(ME, headers={"Origin": SPA})
    assert_problem(resp, 401, "unauthorized")
    assert resp.headers.get("Access-Control-Allow-Origin") == SPA
    exposed = header_list(resp, "Access-Control-Expose-Headers")
    assert "x-request-id" in exposed and "www-authenticate" in exposed, exposed

    resp = client.get("/api/v1/nope", headers={"Origin": SPA})
    assert_problem(resp, 404, "not-found")
    assert resp.headers.get("Access-Control-Allow-Origin") == SPA


@pytest.mark.parametrize("origin", [
    "http://evil.example",
    "http://127.0.0.1:5174",                 # another port
    "https://127.0.0.1:5173",                # another scheme
    "http://127.0.0.1:5173.evil.example",    # a prefix match would let this in
    "null",
])
def test_unknown_origin_gets_no_cors_headers(raw, client, origin):
    resp = preflight(raw, ME, origin=origin)
    assert "Access-Control-Allow-Origin" not in resp.headers, resp.headers
    assert "Access-Control-Allow-Methods" not in resp.headers, resp.headers
    resp = client.get("/api/v1/health", headers={"Origin": origin})
    assert resp.status_code == 200
    assert "Access-Control-Allow-Origin" not in resp.headers, resp.headers
    assert "Access-Control-Expose-Headers" not in resp.headers, resp.headers


def test_options_on_an_unknown_path_is_404(raw, openapi):
    resp = preflight(raw, "/api/v1/nope")
    assert resp.status_code == 404, resp.content[:300]
    assert resp.headers.get("Content-Type", "").startswith("application/problem+json")
    openapi.validate(resp)        # the NotFound problem


def test_plain_options_without_origin_is_204_with_allow(raw):
    resp = raw("OPTIONS", "/api/v1/staff")
    assert resp.status_code == 204, resp.content[:300]
    allow = {m.strip() for m in resp.headers.get("Allow", "").split(",")}
    assert {"GET", "POST"} <= allow, resp.headers
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert not resp.content


def test_sign_in_sets_no_cookie(principals):
    """The sign-in answers carry the token in the body only."""
    staff = principals.staff("reviewer")
    resp = principals.anonymous_client.post_json(
        "/api/v1/auth/staff-sessions",
        {"username": staff.info["username"], "password": staff.info["password"]},
        headers={"Origin": SPA})
    assert resp.status_code == 201
    assert "Set-Cookie" not in resp.headers
    assert resp.headers.get("Access-Control-Allow-Origin") == SPA
    # That extra session is not needed.
    token = resp.body["token"]
    out = principals.anonymous_client.request(
        "DELETE", "/api/v1/auth/sessions/current", headers={"Authorization": f"Bearer {token}"})
    assert out.status_code == 204
