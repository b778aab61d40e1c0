"""The authorization matrix, generated from the route table (`certhall-admin routes --json`).

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
principal; PATCH and POST act on throwaway objects made for this module. The application
routes (issue 4) act on a real application of applicant A, made through the API with one
material uploaded, so `{id}` and `{kind}` name things that exist; their JSON bodies carry an
unknown member and the material upload is declared a PDF but is not one, so each fails
after authorization (422, 415) and the application stays as it is. Routes this file does
not know get placeholder ids (999999) and, for POST/PUT/PATCH, a body with an unknown
member: a 404 or 422 from the handler still shows that authorization let them through.

Object level (issue 4): applicant B, integrator Y (acting for nobody), integrator X acting
for another of its users, and a counter clerk (for changes to an online application) get
404 on every route of A's application, and A's application is unchanged afterwards; the
same for an application an integrator made for its user.
"""

import datetime
import json
import os
import secrets
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import ROOT, assert_problem
from principals import STAFF_ROLES, principals, random_password, random_phone, random_username, sql  # noqa: F401

BUILD = Path(os.environ.get("CERTHALL_BUILD") or ROOT / "build")
PLACEHOLDER_ID = "999999"
PROBE = {"matrix_probe": True}       # an unknown member: the body fails validation (422)
BODY_METHODS = {"POST", "PUT", "PATCH"}
SIGN_OUT = ("DELETE", "/api/v1/auth/sessions/current")

APPLICATIONS = "/api/v1/applications"
APPLICATION_ROUTES = APPLICATIONS + "/{id}"     # every route under one application
CERTIFICATE_ROUTES = "/api/v1/certificates/{serial}"   # every route under one certificate
CA_ROUTES = "/api/v1/ca/{name}"                 # every route under one CA certificate
INVOICE_ROUTES = "/api/v1/invoices/{id}"        # every route under one invoice (issue 14)
MATERIAL_KIND = "application_form"              # the material the matrix's application has
# A tiny but real PDF (what the server checks is the leading "%PDF-").
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
NOT_A_PDF = b"not a PDF at all: refused by its first bytes (415), after authorization\n"
# Routes whose body is not JSON: (content type the route accepts, body). The content type
# must be one the route takes, or the answer (415) would come before authorization.
RAW_BODIES = {
    ("PUT", APPLICATION_ROUTES + "/materials/{kind}"): ("application/pdf", NOT_A_PDF),
}
# Public routes that check a signature of their own (issue 5: the payment gateway's
# notification): whoever calls without it gets the route's own 401, naming the header.
NOTIFY = ("POST", "/api/v1/payments/notify/{provider}")
# Issue 14: the courier's delivery callback, signed likewise (X-Courier-Signature).
COURIER_NOTIFY = ("POST", "/api/v1/couriers/notify/{courier}")
OWN_SIGNATURE = {NOTIFY: "X-Pay-Signature", COURIER_NOTIFY: "X-Courier-Signature"}


def admin_routes(*args):
    """`certhall-admin routes [args]`: its standard output (it needs no database)."""
    out = subprocess.run([str(BUILD / "certhall-admin"), "routes", *args],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, f"certhall-admin routes exited {out.returncode}: {out.stderr}"
    return out.stdout


def load_routes():
    """The route table, read once at collection."""
    return json.loads(admin_routes("--json"))


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


def make_application(owner, body=None):
    """A draft made by owner through the API, with the matrix's material uploaded; returns
    its id (str)."""
    body = body or {"business_type": "new", "certificate_type": "org",
                    "unit_name": "矩阵测试单位", "years": 1}
    resp = owner.post_json(APPLICATIONS, body)
    assert resp.status_code == 201, (
        f"{owner.name}: POST {APPLICATIONS} answered {resp.status_code}: {resp.content[:300]!r}")
    app_id = str(resp.body["id"])
    resp = owner.request("PUT", f"{APPLICATIONS}/{app_id}/materials/{MATERIAL_KIND}", data=PDF,
                         headers={"Content-Type": "application/pdf"})
    assert resp.status_code == 201, (
        f"{owner.name}: PUT material answered {resp.status_code}: {resp.content[:300]!r}")
    return app_id


def make_certificate(owner):
    """A certificate of owner's, stored as the signer stores one (issue 12); its serial."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "矩阵测试单位")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    serial = f"{cert.serial_number:x}"
    serial = ("0" + serial) if len(serial) % 2 else serial
    sql("INSERT INTO certificate (serial, certificate_type, unit_name, credit_code, not_before,"
        " not_after, der, applicant_id, key_algorithm, subject)"
        " VALUES (%s, 'org', '矩阵测试单位', '91510100MA61234567', %s, %s, %s, %s, 'ec-p256',"
        " 'CN=矩阵测试单位')",
        (serial, now, now + datetime.timedelta(days=30),
         cert.public_bytes(serialization.Encoding.DER), owner.info["applicant_id"]))
    return serial


def make_invoice(owner):
    """A pending blue invoice of a counter payment on another application of owner's, written
    as payment.c writes one (issue 14); its id. The application the matrix must not change
    stays unpaid."""
    app_id = make_application(owner)
    no = "CH" + "".join(secrets.choice("0123456789") for _ in range(24))
    order = sql("INSERT INTO payment_order (out_trade_no, application_id, provider, amount_fen,"
                " status, expires_at, created_by_kind, paid_at) VALUES (%s, %s, 'counter',"
                " 40000, 'paid', now(), 'system', now()) RETURNING id", (no, app_id))[0][0]
    payment = sql("INSERT INTO payment (order_id, application_id, provider, transaction_id,"
                  " method, amount_fen, disposition, source, paid_at) VALUES (%s, %s,"
                  " 'counter', %s, 'cash', 40000, 'captured', 'counter', now()) RETURNING id",
                  (order, app_id, "R" + secrets.token_hex(8)))[0][0]
    return str(sql("INSERT INTO invoice (kind, application_id, payment_id, buyer_name, lines,"
                   " net_fen, tax_fen, gross_fen) VALUES ('blue', %s, %s, '矩阵测试单位',"
                   " '[]', 37736, 2264, 40000) RETURNING id", (app_id, payment))[0][0])


@pytest.fixture(scope="module")
def objects(principals):
    """The objects the matrix acts on, {path template: {parameter: value}}: a throwaway
    staff member and integrator (which the matrix may change), and an application of
    applicant A (which it must not change)."""
    staff = principals.new_staff(["reviewer"], name="matrix target staff")
    integrator = principals.new_integrator("matrix target")
    owner = get_principal(principals, "applicant A")
    app_id = make_application(owner)
    return {
        "/api/v1/staff/{id}": {"id": str(staff.info["staff_id"])},
        "/api/v1/integrators/{id}": {"id": str(integrator.id)},
        APPLICATION_ROUTES: {"id": app_id, "kind": MATERIAL_KIND},
        CERTIFICATE_ROUTES: {"serial": make_certificate(owner)},
        CA_ROUTES: {"name": "issuing"},
        INVOICE_ROUTES: {"id": make_invoice(owner)},
        NOTIFY[1]: {"provider": "sandbox"},
        COURIER_NOTIFY[1]: {"courier": "sandbox"},
        "snapshot": {app_id: application_state(owner, app_id)},
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


def path_params(path, objects):
    """The parameter values for a route: those of the object made for it (routes under an
    application share it), else none."""
    if path in objects:
        return objects[path]
    for prefix in (APPLICATION_ROUTES, CERTIFICATE_ROUTES, CA_ROUTES, INVOICE_ROUTES):
        if path.startswith(prefix + "/"):
            return objects[prefix]
    return {}


def fill_path(path, objects):
    """The route's path with its parameters filled: a real object where the module made
    one, else a placeholder id."""
    params = path_params(path, objects)
    out, i = "", 0
    while i < len(path):
        if path[i] == "{":
            j = path.index("}", i)
            out += params.get(path[i + 1:j], PLACEHOLDER_ID)
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
    if (method, template) in RAW_BODIES:
        content_type, data = RAW_BODIES[(method, template)]
        resp = principal.request(method, path, data=data, headers={"Content-Type": content_type})
    elif body is None:
        resp = principal.request(method, path)
    else:
        resp = principal.send_json(method, path, body)

    where = (f"{who} → {method} {path} (roles {route['roles']}): {resp.status_code} "
             f"{resp.content[:200]!r} [X-Request-Id {resp.headers.get('X-Request-Id')}]")
    assert "Set-Cookie" not in resp.headers, f"{where}: a cookie was set"
    if (method, template) in OWN_SIGNATURE:
        body = assert_problem(resp, 401, "unauthorized")
        assert body.get("header") == OWN_SIGNATURE[(method, template)], (
            f"{where}: the 401 must be the route's own signature check")
    elif allowed(route, principal):
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


def test_route_table_for_people_matches_the_json():
    """Without --json the same table is printed for a person: a METHOD PATH ROLES header,
    then one row a route in the same order, the roles joined by commas."""
    header, *rows = admin_routes().splitlines()
    assert header.split() == ["METHOD", "PATH", "ROLES"], header
    assert [row.split() for row in rows] == [
        [r["method"], r["path"], ",".join(r["roles"])] for r in ROUTES]
    # Aligned columns: every path starts where the header's PATH does.
    assert {row.index(" /") + 1 for row in rows} == {header.index("PATH")}, rows


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


# ---------------------------------------------------------------------------------
# Object level: applications (issue 4)
# ---------------------------------------------------------------------------------

def application_state(owner, app_id):
    """What must not change when someone else tries: status, version, the materials."""
    resp = owner.get(f"{APPLICATIONS}/{app_id}")
    assert resp.status_code == 200, (
        f"{owner.name}: GET its own application {app_id}: {resp.status_code} {resp.content[:300]!r}")
    body = resp.body
    return {"status": body["status"], "version": body["version"],
            "unit_name": body["unit_name"], "etag": resp.headers.get("ETag"),
            "materials": sorted((m["kind"], m["sha256"]) for m in body["materials"])}


def test_matrix_left_applicant_as_application_as_it_was(principals, objects):
    """Runs after the matrix (file order): none of its requests changed A's application."""
    app_id = objects[APPLICATION_ROUTES]["id"]
    owner = get_principal(principals, "applicant A")
    assert application_state(owner, app_id) == objects["snapshot"][app_id]


# Every route of one application, as a stranger would try it: (label, method, path under
# /applications/{id}, how to send). A change is sent as the owner would send it: a valid
# body, the application's current ETag in If-Match, a real PDF; only the caller is wrong.
FOREIGN_REQUESTS = [
    ("get", "GET", "", None),
    ("patch", "PATCH", "", {"unit_name": "别人改过的单位名称"}),
    ("submit", "POST", "/submit", {}),
    ("cancel", "POST", "/cancel", {}),
    ("history", "GET", "/history", None),
    ("materials list", "GET", "/materials", None),
    ("material put", "PUT", f"/materials/{MATERIAL_KIND}", PDF),
    ("material get", "GET", f"/materials/{MATERIAL_KIND}", None),
    ("verification code", "POST", "/verification/sms-code", {}),
    ("verification", "POST", "/verification", {"code": "123456"}),
    ("possession challenge", "POST", "/possession-challenges", {}),
    ("possession", "POST", "/possession", {"challenge_id": 1, "signature": "AAAA"}),
    ("payment get", "GET", "/payment", None),
    ("payment create", "POST", "/payment", {}),
    ("key request", "POST", "/csr", {"csr": "-----BEGIN CERTIFICATE REQUEST-----\n"}),
    ("certificate get", "GET", "/certificate", None),
]
CHANGES = {"patch", "submit", "cancel", "material put", "verification code", "verification",
           "possession challenge", "possession", "key request"}


def foreign_request(principal, app_id, etag, method, suffix, body):
    path = f"{APPLICATIONS}/{app_id}{suffix}"
    if isinstance(body, bytes):
        return principal.request(method, path, data=body, headers={"Content-Type": "application/pdf"})
    headers = {"If-Match": etag} if method == "PATCH" and etag else {}
    if body is None:
        return principal.request(method, path, headers=headers)
    return principal.send_json(method, path, body, headers=headers)


def stranger(registry, name):
    """The principals who must not reach someone else's application."""
    if name == "integrator X for 'u2'":
        return registry.integrator("X").principal("u2", name=name)
    if name == "integrator X for nobody":
        return registry.integrator("X").principal(name=name)
    if name == "integrator Y for 'u1'":
        return registry.integrator("Y").principal("u1", name=name)
    if name == "counter clerk":
        return registry.staff("counter")
    return get_principal(registry, name)


def assert_hidden(resp, who, label):
    where = (f"{who} → {label}: {resp.status_code} {resp.content[:200]!r} "
             f"[X-Request-Id {resp.headers.get('X-Request-Id')}]")
    assert resp.status_code == 404, f"{where}: someone else's application must be 404"
    assert_problem(resp, 404, "not-found")


A_STRANGERS = ["applicant B", "integrator Y", "integrator X for 'u2'"]


@pytest.mark.parametrize("label,method,suffix,body", FOREIGN_REQUESTS,
                         ids=[r[0] for r in FOREIGN_REQUESTS])
@pytest.mark.parametrize("who", A_STRANGERS)
def test_strangers_get_404_on_applicant_as_application(principals, objects, who, label, method,
                                                        suffix, body):
    app_id = objects[APPLICATION_ROUTES]["id"]
    owner = get_principal(principals, "applicant A")
    before = application_state(owner, app_id)
    resp = foreign_request(stranger(principals, who), app_id, before["etag"], method, suffix, body)
    assert_hidden(resp, who, label)
    assert application_state(owner, app_id) == before, f"{who} → {label} changed A's application"


@pytest.mark.parametrize("label,method,suffix,body",
                         [r for r in FOREIGN_REQUESTS if r[0] in CHANGES],
                         ids=[r[0] for r in FOREIGN_REQUESTS if r[0] in CHANGES])
def test_counter_clerk_cannot_change_an_online_application(principals, objects, label, method,
                                                           suffix, body):
    """Counter clerks change counter applications only; an online one is as unknown to
    them as to a stranger (they may read it, as all staff may)."""
    app_id = objects[APPLICATION_ROUTES]["id"]
    owner = get_principal(principals, "applicant A")
    before = application_state(owner, app_id)
    resp = foreign_request(stranger(principals, "counter clerk"), app_id, before["etag"], method,
                           suffix, body)
    assert_hidden(resp, "counter clerk", label)
    assert application_state(owner, app_id) == before, f"counter clerk → {label} changed it"


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_every_staff_role_reads_the_application(principals, objects, role):
    app_id = objects[APPLICATION_ROUTES]["id"]
    staff = principals.staff(role)
    resp = staff.get(f"{APPLICATIONS}/{app_id}")
    assert resp.status_code == 200, f"staff {role}: {resp.status_code} {resp.content[:200]!r}"
    assert str(resp.body["id"]) == app_id
    resp = staff.get(f"{APPLICATIONS}/{app_id}/materials/{MATERIAL_KIND}")
    assert resp.status_code == 200, f"staff {role}: download {resp.status_code}"
    assert resp.content == PDF and resp.headers["Content-Type"].startswith("application/pdf")


def list_ids(principal):
    resp = principal.get(APPLICATIONS, params={"limit": 100})
    assert resp.status_code == 200, f"{principal.name}: list {resp.status_code} {resp.content[:200]!r}"
    return {str(item["id"]) for item in resp.body["items"]}, resp.body


@pytest.mark.parametrize("who", A_STRANGERS)
def test_strangers_do_not_list_applicant_as_application(principals, objects, who):
    app_id = objects[APPLICATION_ROUTES]["id"]
    ids, body = list_ids(stranger(principals, who))
    assert app_id not in ids, f"{who} lists A's application {app_id}"
    if who == "integrator Y":
        assert body["items"] == [] and body["next_cursor"] is None, (
            f"an integrator acting for nobody has no applications: {body}")
    owner_ids, _ = list_ids(get_principal(principals, "applicant A"))
    assert app_id in owner_ids, "A does not list its own application"


@pytest.fixture(scope="module")
def integrator_application(principals):
    """An application integrator X made for its user u1 (channel integrator)."""
    owner = get_principal(principals, "integrator X")
    app_id = make_application(owner, {"business_type": "new", "certificate_type": "personal",
                                      "unit_name": "矩阵测试单位", "years": 2})
    resp = owner.get(f"{APPLICATIONS}/{app_id}")
    assert resp.body["channel"] == "integrator", resp.body
    return owner, app_id


X_STRANGERS = ["applicant A", "integrator X for 'u2'", "integrator X for nobody",
               "integrator Y for 'u1'"]


@pytest.mark.parametrize("label,method,suffix,body", FOREIGN_REQUESTS,
                         ids=[r[0] for r in FOREIGN_REQUESTS])
@pytest.mark.parametrize("who", X_STRANGERS)
def test_strangers_get_404_on_an_integrators_application(principals, integrator_application, who,
                                                         label, method, suffix, body):
    owner, app_id = integrator_application
    before = application_state(owner, app_id)
    resp = foreign_request(stranger(principals, who), app_id, before["etag"], method, suffix, body)
    assert_hidden(resp, who, label)
    assert application_state(owner, app_id) == before, f"{who} → {label} changed X's application"


def test_counter_clerk_cannot_take_money_for_an_online_application(principals, objects):
    """Counter payments are for counter applications: an online one is 404 to the clerk."""
    app_id = objects[APPLICATION_ROUTES]["id"]
    owner = get_principal(principals, "applicant A")
    before = application_state(owner, app_id)
    resp = stranger(principals, "counter clerk").send_json(
        "POST", f"{APPLICATIONS}/{app_id}/counter-payment",
        {"method": "cash", "receipt_no": "R" + secrets.token_hex(6), "amount_fen": 40000})
    assert_hidden(resp, "counter clerk", "counter payment")
    assert application_state(owner, app_id) == before


# ---------------------------------------------------------------------------------
# Object level: certificates (issue 12)
# ---------------------------------------------------------------------------------

CERTIFICATE_REQUESTS = [
    ("get", "GET", "", None),
    ("der", "GET", "/der", None),
    ("pem", "GET", "/pem", None),
    ("p7c", "GET", "/p7c", None),
    ("installed", "POST", "/installed", {}),
]


@pytest.mark.parametrize("label,method,suffix,body", CERTIFICATE_REQUESTS,
                         ids=[r[0] for r in CERTIFICATE_REQUESTS])
@pytest.mark.parametrize("who", A_STRANGERS + ["integrator X for nobody"])
def test_strangers_get_404_on_applicant_as_certificate(principals, objects, who, label, method,
                                                       suffix, body):
    serial = objects[CERTIFICATE_ROUTES]["serial"]
    path = f"/api/v1/certificates/{serial}{suffix}"
    principal = stranger(principals, who)
    resp = principal.request(method, path) if body is None else \
        principal.send_json(method, path, body)
    assert_hidden(resp, who, f"certificate {label}")
    owner = get_principal(principals, "applicant A")
    assert [i["serial"] for i in owner.get("/api/v1/certificates").body["items"]] == [serial]
    assert serial not in {i["serial"] for i in principal.get("/api/v1/certificates",
                                                            params={"limit": 100}).body["items"]}


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_every_staff_role_reads_the_certificate(principals, objects, role):
    serial = objects[CERTIFICATE_ROUTES]["serial"]
    staff = principals.staff(role)
    assert staff.get(f"/api/v1/certificates/{serial}").body["serial"] == serial
    resp = staff.get(f"/api/v1/certificates/{serial}/der")
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/pkix-cert"


# ---------------------------------------------------------------------------------
# Object level: invoices (issue 14)
# ---------------------------------------------------------------------------------

INVOICE_REQUESTS = [("get", ""), ("pdf", "/pdf")]


@pytest.mark.parametrize("label,suffix", INVOICE_REQUESTS, ids=[r[0] for r in INVOICE_REQUESTS])
@pytest.mark.parametrize("who", A_STRANGERS + ["integrator X for nobody"])
def test_strangers_get_404_on_applicant_as_invoice(principals, objects, who, label, suffix):
    invoice_id = objects[INVOICE_ROUTES]["id"]
    assert_hidden(stranger(principals, who).get(f"/api/v1/invoices/{invoice_id}{suffix}"),
                  who, f"invoice {label}")
    owner = get_principal(principals, "applicant A")
    assert owner.get(f"/api/v1/invoices/{invoice_id}").body["id"] == int(invoice_id)
    # Its PDF does not exist yet (pending): the owner is told so, not "not found".
    resp = owner.get(f"/api/v1/invoices/{invoice_id}/pdf")
    assert_problem(resp, 409, "conflict")


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_only_finance_and_admin_staff_read_invoices(principals, objects, role):
    invoice_id = objects[INVOICE_ROUTES]["id"]
    staff = principals.staff(role)
    for path in (f"/api/v1/invoices/{invoice_id}", "/api/v1/finance/invoices",
                 "/api/v1/finance/payments.csv"):
        resp = staff.get(path)
        if role in ("finance", "admin"):
            assert resp.status_code == 200, (role, path, resp.content[:200])
        else:
            assert_problem(resp, 403, "forbidden")
