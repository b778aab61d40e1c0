"""The authorization matrix, generated from the route table (`certhall-admin routes`).

Every route × every principal — anonymous, two applicants, two integrators (X acting for
its user "u1", Y for nobody) and one staff member per staff role — sends one request and
checks only the authorization outcome:

- the principal holds one of the route's roles (public routes: everyone): not 401/403
  (nor a 5xx: the handler it reached must answer);
- otherwise anonymous gets 401 `unauthorized` with `WWW-Authenticate`, the others 403
  `forbidden`.

The route table is also checked against openapi.yaml (`x-roles`, `security`) both ways, so
a new route without roles, or one that is not documented, fails here.

Requests that would spend shared state are shaped so they cannot: sign-in bodies carry an
unknown member (422 after the authorization step, so no code is sent, no rate limit or
lockout counter moves); sign-out is sent with a fresh session of the same kind of
principal; PATCH and POST act on throwaway objects made for this module. Routes this file
does not know get placeholder ids (999999) and, for POST/PUT/PATCH, a body with an unknown
member: a 404 or 422 from the handler still shows that authorization let them through.
"""

import json
import os
import secrets
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, assert_problem
from principals import STAFF_ROLES, principals, random_password, random_phone, random_username  # noqa: F401

BUILD = Path(os.environ.get("CERTHALL_BUILD") or ROOT / "build")
PLACEHOLDER_ID = "999999"
PROBE = {"matrix_probe": True}       # an unknown member: the body fails validation (422)
BODY_METHODS = {"POST", "PUT", "PATCH"}
SIGN_OUT = ("DELETE", "/api/v1/auth/sessions/current")


def load_routes():
    """The route table, read once at collection (it needs no database)."""
    out = subprocess.run([str(BUILD / "certhall-admin"), "routes"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, f"certhall-admin routes exited {out.returncode}: {out.stderr}"
    return json.loads(out.stdout)


ROUTES = load_routes()
PRINCIPAL_NAMES = ["anonymous", "applicant A", "applicant B", "integrator X", "integrator Y",
                   *[f"staff {role}" for role in STAFF_ROLES]]


def route_id(route):
    return f"{route['method']} {route['path']}"


# ---------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------

_principal_cache = {}


def get_principal(registry, name):
    if name not in _principal_cache:
        if name == "anonymous":
            p = registry.anonymous()
        elif name.startswith("applicant "):
            p = registry.applicant(name.split()[1])
        elif name == "integrator X":
            p = registry.integrator("X").principal("u1", name="integrator X for 'u1'")
        elif name == "integrator Y":
            p = registry.integrator("Y").principal(name="integrator Y")
        else:
            p = registry.staff(name.split()[1])
        _principal_cache[name] = p
    return _principal_cache[name]


@pytest.fixture(scope="module")
def objects(principals):
    """Throwaway objects the matrix may change: a staff member and an integrator."""
    staff = principals.new_staff(["reviewer"], name="matrix target staff")
    integrator = principals.new_integrator("matrix target")
    return {
        "/api/v1/staff/{id}": str(staff.info["staff_id"]),
        "/api/v1/integrators/{id}": str(integrator.id),
    }


# ---------------------------------------------------------------------------------
# Requests per route
# ---------------------------------------------------------------------------------

def body_for(method, path):
    """The JSON body the matrix sends (None: no body)."""
    key = (method, path)
    if key == ("POST", "/api/v1/quotes"):
        return {"business_type": "new", "certificate_type": "org", "years": 1, "seals": 1}
    if key == ("POST", "/api/v1/auth/sms-codes"):
        return {"phone": random_phone(), **PROBE}           # no SMS, no rate limit spent
    if key == ("POST", "/api/v1/auth/sessions"):
        return {"phone": random_phone(), "code": "000000", **PROBE}
    if key == ("POST", "/api/v1/auth/staff-sessions"):
        return {"username": random_username("nobody"), "password": random_password(), **PROBE}
    if key == ("PUT", "/api/v1/me/password"):
        return {"current_password": random_password(), "new_password": random_password(),
                **PROBE}
    if key == ("POST", "/api/v1/staff"):
        return {"username": random_username("matrix"), "display_name": "矩阵测试",
                "password": random_password(), "roles": ["reviewer"]}
    if key == ("PATCH", "/api/v1/staff/{id}"):
        return {"display_name": f"矩阵测试 {secrets.token_hex(2)}"}
    if key == ("POST", "/api/v1/integrators"):
        return {"name": f"矩阵测试平台 {secrets.token_hex(3)}"}
    if key == ("PATCH", "/api/v1/integrators/{id}"):
        return {"name": f"矩阵测试平台 {secrets.token_hex(3)}"}
    if method in BODY_METHODS:
        return dict(PROBE)
    return None


def fill_path(path, objects):
    """The route's path with its parameters filled: a real object where the module made
    one, else a placeholder id."""
    if path in objects:
        return path.replace("{id}", objects[path])
    out, i = "", 0
    while i < len(path):
        if path[i] == "{":
            j = path.index("}", i)
            out += PLACEHOLDER_ID
            i = j + 1
        else:
            out += path[i]
            i += 1
    return out


def allowed(route, principal):
    roles = set(route["roles"])
    return "public" in roles or bool(roles & principal.roles)


# ---------------------------------------------------------------------------------
# The matrix
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("who", PRINCIPAL_NAMES)
@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_matrix(principals, objects, route, who):
    principal = get_principal(principals, who)
    method, template = route["method"], route["path"]
    if (method, template) == SIGN_OUT and allowed(route, principal):
        principal = principal.fresh()        # signing out would end the shared session
    path = fill_path(template, objects)
    body = body_for(method, template)
    if body is None:
        resp = principal.request(method, path)
    else:
        resp = principal.send_json(method, path, body)

    where = (f"{who} → {method} {path} (roles {route['roles']}): {resp.status_code} "
             f"{resp.content[:200]!r} [X-Request-Id {resp.headers.get('X-Request-Id')}]")
    assert "Set-Cookie" not in resp.headers, f"{where}: a cookie was set"
    if allowed(route, principal):
        assert resp.status_code not in (401, 403), f"{where}: allowed, but refused"
        assert resp.status_code < 500, f"{where}: allowed, but the handler failed"
    elif principal.kind == "anonymous":
        assert_problem(resp, 401, "unauthorized")
        assert resp.headers.get("WWW-Authenticate"), f"{where}: 401 without WWW-Authenticate"
    else:
        assert_problem(resp, 403, "forbidden")


# ---------------------------------------------------------------------------------
# The route table against itself and openapi.yaml
# ---------------------------------------------------------------------------------

KNOWN_ROLES = {"public", "applicant", "integrator", *STAFF_ROLES}
BEARER_ROLES = {"applicant", *STAFF_ROLES}


def openapi_operations(openapi):
    """{(METHOD, path): operation} for every operation in openapi.yaml."""
    ops = {}
    for path, item in openapi.doc["paths"].items():
        for method in openapi.METHODS:
            if method in item:
                ops[(method.upper(), path)] = item[method]
    return ops


def test_route_table_is_not_empty():
    assert len(ROUTES) >= 3, ROUTES


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_every_route_declares_known_roles(route):
    assert route["roles"], f"{route_id(route)} declares no roles"
    assert set(route["roles"]) <= KNOWN_ROLES, f"{route_id(route)}: unknown roles {route['roles']}"
    assert len(set(route["roles"])) == len(route["roles"]), f"{route_id(route)}: repeated roles"
    if "public" in route["roles"]:
        assert route["roles"] == ["public"], f"{route_id(route)}: public and other roles"


def test_every_route_is_documented_with_the_same_roles(openapi):
    ops = openapi_operations(openapi)
    wrong = []
    for route in ROUTES:
        op = ops.get((route["method"], route["path"]))
        if op is None:
            wrong.append(f"{route_id(route)}: not in openapi.yaml")
        elif op.get("x-roles") != route["roles"]:
            wrong.append(f"{route_id(route)}: x-roles {op.get('x-roles')} != route table "
                         f"{route['roles']}")
    assert not wrong, "\n".join(wrong)


def test_every_documented_operation_is_a_route(openapi):
    """Every operation of openapi.yaml is in the route table, except what nginx serves
    itself (marked `x-served-by: nginx`)."""
    table = {(r["method"], r["path"]) for r in ROUTES}
    missing = []
    for key, op in openapi_operations(openapi).items():
        if op.get("x-served-by") == "nginx":
            assert key not in table, f"{key} is marked x-served-by: nginx but is a route"
            continue
        if key not in table:
            missing.append(f"{key[0]} {key[1]}")
    assert not missing, f"in openapi.yaml but not in the route table: {missing}"


def test_every_operation_security_matches_its_roles(openapi):
    """public: security: []; otherwise exactly the schemes that can carry its roles."""
    wrong = []
    for (method, path), op in openapi_operations(openapi).items():
        roles = set(op.get("x-roles") or [])
        if not roles:
            wrong.append(f"{method} {path}: no x-roles")
            continue
        security = op.get("security", openapi.doc.get("security"))
        schemes = {name for requirement in security or [] for name in requirement}
        if "public" in roles:
            want = set()
        else:
            want = set()
            if roles & BEARER_ROLES:
                want.add("bearerAuth")
            if "integrator" in roles:
                want.add("integratorHmac")
        if schemes != want:
            wrong.append(f"{method} {path}: security {sorted(schemes)}, roles {sorted(roles)} "
                         f"need {sorted(want)}")
        if want and any(len(req) != 1 for req in security):
            wrong.append(f"{method} {path}: each security requirement must be one scheme "
                         f"(alternatives, not a combination)")
    assert not wrong, "\n".join(wrong)


# ---------------------------------------------------------------------------------
# Object level: who the caller is, and whose data it reaches
# ---------------------------------------------------------------------------------

def masked(phone):
    return phone[:3] + "****" + phone[-4:]


def test_applicants_each_see_only_themselves(principals):
    a, b = principals.applicant("A"), principals.applicant("B")
    me_a, me_b = a.me(), b.me()
    for p, me in ((a, me_a), (b, me_b)):
        assert me["kind"] == "applicant" and me["roles"] == ["applicant"], me
        assert me["staff"] is None and me["integrator"] is None, me
        assert me["applicant"]["id"] == p.info["applicant_id"], me
        assert me["applicant"]["phone"] in (p.info["phone"], masked(p.info["phone"])), me
        assert me["session"] is not None, me
    assert me_a["applicant"]["id"] != me_b["applicant"]["id"]
    text_b = json.dumps(me_b)
    assert a.info["phone"] not in text_b and masked(a.info["phone"]) not in text_b, (
        "B's /me shows A's phone")


def test_each_staff_member_has_exactly_their_role(principals):
    for role in STAFF_ROLES:
        me = principals.staff(role).me()
        assert me["kind"] == "staff", me
        assert me["staff"]["roles"] == [role] and me["roles"] == [role], me
        assert me["applicant"] is None and me["integrator"] is None, me


def integrator_me(integrator, external_user=None):
    me = integrator.principal(external_user).me()
    assert me["kind"] == "integrator" and me["roles"] == ["integrator"], me
    assert me["integrator"]["key_id"] == integrator.key_id, me
    assert me["integrator"]["id"] == integrator.id, me
    assert me["integrator"]["external_user_id"] == external_user, me
    assert me["staff"] is None and me["session"] is None, me
    return me


def test_integrator_without_external_user_acts_for_nobody(principals):
    me = integrator_me(principals.integrator("X"))
    assert me["applicant"] is None, me


def test_integrators_users_are_their_own(principals):
    x, y = principals.integrator("X"), principals.integrator("Y")
    x_u1 = integrator_me(x, "u1")["applicant"]
    x_u1_again = integrator_me(x, "u1")["applicant"]
    x_u2 = integrator_me(x, "u2")["applicant"]
    y_u1 = integrator_me(y, "u1")["applicant"]
    for applicant in (x_u1, x_u2, y_u1):
        assert applicant is not None and applicant["phone"] is None, applicant
    assert x_u1["id"] == x_u1_again["id"], "the same external user became two applicants"
    assert x_u1["id"] != x_u2["id"], "two external users of X are one applicant"
    assert x_u1["id"] != y_u1["id"], "integrator Y acting for 'u1' reached X's user 'u1'"
    direct = {principals.applicant(label).info["applicant_id"] for label in ("A", "B")}
    assert not {x_u1["id"], x_u2["id"], y_u1["id"]} & direct, (
        "an integrator's user is a direct applicant")
