"""Principals for the end-to-end tests: applicants, staff and integrators, made the way a
real deployment makes them.

- Staff: the first admin with `certhall-admin create-admin` (password on stdin), the others
  with `POST /api/v1/staff` as that admin; each signs in with
  `POST /api/v1/auth/staff-sessions`.
- Applicants: the real SMS flow (`POST /auth/sms-codes`, the code read back from the fake
  SMS gateway at $CERTHALL_SMS_GATEWAY_URL, `POST /auth/sessions`).
- Integrators: `certhall-admin create-integrator --name N` (prints id, key_id, secret);
  their requests are signed with hmac_client.HmacAuth.

Phones, usernames and names are random per run, so runs against a long-lived stack
(scripts/run) do not collide. The shared principals (`principals.applicant("A")`,
`principals.staff("reviewer")`, `principals.integrator("X")`, …) are made once per test
process and must stay usable: a test that signs out, disables or otherwise spends a
principal makes its own with `new_applicant()`, `new_staff()`, `new_integrator()` or
`fresh()`.

Use the `principals` fixture (import it into the test module: pytest only collects
fixtures from conftest.py and the test module itself):

    from principals import principals  # noqa: F401  (the fixture)
"""

import json
import os
import re
import secrets
import subprocess
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest
import requests

from conftest import OPENAPI_PATH, Client, OpenAPI, require_env
from hmac_client import HmacAuth

STAFF_ROLES = ["reviewer", "operator", "finance", "counter", "admin"]
SMS_CODE_WAIT = 20          # seconds to wait for the fake gateway to receive a code
CLI_TIMEOUT = 60


# ---------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------

def random_phone():
    """A random mainland mobile number (1[3-9] + 9 digits)."""
    return "1" + "3456789"[secrets.randbelow(7)] + "".join(
        str(secrets.randbelow(10)) for _ in range(9))


def random_username(prefix="t"):
    """A username matching ^[a-z][a-z0-9._-]{2,31}$, unique per call."""
    return f"{prefix[:12]}.{secrets.token_hex(5)}"


def random_password():
    return "pw-" + secrets.token_urlsafe(18)


@contextmanager
def db():
    """A psycopg2 connection as the owner role ($CERTHALL_DB), autocommit."""
    conn = psycopg2.connect(require_env("CERTHALL_DB"))
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.close()


def sql(query, params=()):
    """Runs one statement as the owner; returns all rows ([] for statements without)."""
    with db() as conn, conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall() if cur.description else []


def pepper_file():
    """CERTHALL_PEPPER_FILE from the environment, else from $CERTHALL_STACK/env."""
    value = os.environ.get("CERTHALL_PEPPER_FILE")
    if value:
        return value
    stack = os.environ.get("CERTHALL_STACK")
    if stack and Path(stack, "env").exists():
        m = re.search(r"^export CERTHALL_PEPPER_FILE=(.*)$", Path(stack, "env").read_text(), re.M)
        if m:
            return m.group(1).strip().strip("'\"")
    pytest.fail("CERTHALL_PEPPER_FILE is not set (the stack must export it for certhall-admin)")


def admin_cli(*args, stdin=None):
    """Runs $CERTHALL_BUILD/certhall-admin ARGS as the owner role; returns stdout.

    Fails the test (with stderr) if it exits non-zero.
    """
    binary = Path(require_env("CERTHALL_BUILD")) / "certhall-admin"
    env = dict(os.environ, CERTHALL_DB=require_env("CERTHALL_DB"),
               CERTHALL_PEPPER_FILE=pepper_file())
    proc = subprocess.run([str(binary), *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=CLI_TIMEOUT)
    if proc.returncode != 0:
        pytest.fail(f"certhall-admin {' '.join(args[:1])} exited {proc.returncode}:\n"
                    f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
    return proc.stdout


def route_table():
    """`certhall-admin routes --json`: [{"method", "path", "roles": [...]}, ...]."""
    return json.loads(admin_cli("routes", "--json"))


# ---------------------------------------------------------------------------------
# Principals
# ---------------------------------------------------------------------------------

class Principal:
    """Someone who calls the API: a Client whose requests carry this principal's credentials.

    kind: anonymous | applicant | staff | integrator; roles: the role names as the route
    table prints them (anonymous: none). Every response is validated against openapi.yaml.
    """

    def __init__(self, registry, name, kind, roles, token=None, auth=None, **info):
        self.registry = registry
        self.name = name
        self.kind = kind
        self.roles = set(roles)
        self.token = token
        self.info = info            # phone, username, password, staff_id, key_id, ...
        session = requests.Session()
        session.trust_env = False   # no ~/.netrc credentials, no proxies
        if token is not None:
            session.headers["Authorization"] = f"Bearer {token}"
        if auth is not None:
            session.auth = auth
        self.client = Client(registry.base_url, registry.openapi, session)

    def __repr__(self):
        return f"<{self.name}>"

    def __getattr__(self, attr):
        # get/post/post_json/request/url come from the client
        if attr in ("get", "post", "post_json", "request", "url"):
            return getattr(self.client, attr)
        raise AttributeError(attr)

    def send_json(self, method, path, doc, **kw):
        headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
        data = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        return self.client.request(method, path, data=data, headers=headers, **kw)

    def fresh(self):
        """An equivalent principal with credentials of its own, for a request that would
        spend them (sign-out): staff sign in again, applicants are new applicants
        (another phone), integrators and anonymous are stateless and returned as they are."""
        if self.kind == "staff":
            return self.registry.sign_in_staff(self.info["username"], self.info["password"],
                                               name=f"{self.name} (fresh session)")
        if self.kind == "applicant":
            return self.registry.new_applicant(name=f"{self.name} (fresh applicant)")
        return self

    def me(self):
        resp = self.get("/api/v1/me")
        assert resp.status_code == 200, (
            f"{self.name}: GET /me answered {resp.status_code}: {resp.content[:300]!r}")
        return resp.body


class Integrator:
    """An integrator's key (from certhall-admin create-integrator)."""

    def __init__(self, registry, name, id, key_id, secret):
        self.registry = registry
        self.name = name
        self.id = id
        self.key_id = key_id
        self.secret = secret

    def auth(self, external_user=None, **kw):
        return HmacAuth(self.key_id, self.secret, external_user=external_user, **kw)

    def principal(self, external_user=None, name=None):
        label = name or (f"integrator {self.name}" +
                         (f" for {external_user!r}" if external_user else ""))
        return Principal(self.registry, label, "integrator", ["integrator"],
                         auth=self.auth(external_user), key_id=self.key_id,
                         integrator_id=self.id, external_user=external_user)


class Registry:
    """Makes principals; the shared ones are made once per test process."""

    def __init__(self, base_url, openapi):
        self.base_url = base_url.rstrip("/")
        self.openapi = openapi
        self.cache = {}
        self.anonymous_client = Client(self.base_url, openapi)

    def _once(self, key, make):
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    # -- anonymous ------------------------------------------------------------------
    def anonymous(self):
        return self._once("anonymous", lambda: Principal(self, "anonymous", "anonymous", []))

    # -- staff ----------------------------------------------------------------------
    def sign_in_staff(self, username, password, name=None):
        resp = self.anonymous_client.post_json("/api/v1/auth/staff-sessions",
                                               {"username": username, "password": password})
        assert resp.status_code == 201, (
            f"staff sign-in of {username} answered {resp.status_code}: {resp.content[:300]!r}")
        me = resp.body["me"]
        roles = me["staff"]["roles"]
        return Principal(self, name or f"staff {username} {roles}", "staff", roles,
                         token=resp.body["token"], username=username, password=password,
                         staff_id=me["staff"]["id"])

    def admin(self):
        """The shared admin, created with certhall-admin create-admin."""
        def make():
            username, password = random_username("admin"), random_password()
            admin_cli("create-admin", "--username", username, "--display-name", "测试管理员",
                      stdin=password + "\n")
            return self.sign_in_staff(username, password, name="staff admin")
        return self._once("admin", make)

    def new_staff(self, roles, name=None, display_name="测试员工"):
        """A new staff account with these roles (POST /api/v1/staff as the shared admin),
        signed in."""
        username, password = random_username(roles[0][:5]), random_password()
        resp = self.admin().post_json("/api/v1/staff", {
            "username": username, "display_name": display_name, "password": password,
            "roles": list(roles)})
        assert resp.status_code == 201, (
            f"POST /api/v1/staff answered {resp.status_code}: {resp.content[:300]!r}")
        assert sorted(resp.body["roles"]) == sorted(roles), resp.body
        return self.sign_in_staff(username, password, name=name or f"staff {'+'.join(roles)}")

    def staff(self, role):
        """The shared staff member holding exactly this one role."""
        if role == "admin":
            return self.admin()
        return self._once(("staff", role), lambda: self.new_staff([role], name=f"staff {role}"))

    # -- applicants -----------------------------------------------------------------
    def request_sms_code(self, phone):
        """POST /auth/sms-codes for phone; returns the code as the SMS carried it.

        The suite signs in many applicants from one address (127.0.0.1), so a 429 from the
        per-address limit (20 an hour) is possible when the whole suite runs more than once
        within the hour against one stack: the SMS rate-limit windows are then cleared (as
        the owner role) and the request retried once, with a warning."""
        client = self.anonymous_client
        resp = client.post_json("/api/v1/auth/sms-codes", {"phone": phone})
        if resp.status_code == 429:
            warnings.warn("POST /auth/sms-codes answered 429 (rate limit of 127.0.0.1); "
                          "clearing rate_limit and retrying once")
            sql("DELETE FROM rate_limit WHERE bucket LIKE 'sms:%%'")
            resp = client.post_json("/api/v1/auth/sms-codes", {"phone": phone})
        assert resp.status_code == 202, (
            f"POST /auth/sms-codes answered {resp.status_code}: {resp.content[:300]!r}")
        return read_sms_code(phone)

    def sign_in_applicant(self, phone, code, name=None):
        resp = self.anonymous_client.post_json("/api/v1/auth/sessions",
                                               {"phone": phone, "code": code})
        assert resp.status_code == 201, (
            f"POST /auth/sessions answered {resp.status_code}: {resp.content[:300]!r}")
        me = resp.body["me"]
        return Principal(self, name or f"applicant {phone}", "applicant", ["applicant"],
                         token=resp.body["token"], phone=phone,
                         applicant_id=me["applicant"]["id"])

    def new_applicant(self, name=None):
        phone = random_phone()
        return self.sign_in_applicant(phone, self.request_sms_code(phone), name=name)

    def applicant(self, label):
        """A shared applicant ("A", "B")."""
        return self._once(("applicant", label),
                          lambda: self.new_applicant(name=f"applicant {label}"))

    # -- integrators ----------------------------------------------------------------
    def new_integrator(self, label=None):
        name = f"测试平台 {label or secrets.token_hex(3)} {secrets.token_hex(3)}"
        out = json.loads(admin_cli("create-integrator", "--name", name))
        assert set(out) >= {"id", "key_id", "secret"}, out
        assert re.fullmatch(r"ak_[0-9a-f]{24}", out["key_id"]), out
        assert re.fullmatch(r"sk_[0-9a-f]{64}", out["secret"]), "secret is not sk_<64 hex>"
        return Integrator(self, label or name, out["id"], out["key_id"], out["secret"])

    def integrator(self, label):
        """A shared integrator ("X", "Y")."""
        return self._once(("integrator", label), lambda: self.new_integrator(label))


def read_sms_code(phone, timeout=SMS_CODE_WAIT):
    """The code of the newest login_code SMS to phone, as the fake gateway received it.

    Falls back to the outbox row (params->>'code') with a warning when the gateway has not
    got it within the timeout (e.g. a sender test left the gateway failing): the sign-in
    under test here is the API's, the delivery path has tests of its own."""
    gateway = os.environ.get("CERTHALL_SMS_GATEWAY_URL")
    if gateway:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                resp = requests.get(f"{gateway.rstrip('/')}/messages", params={"phone": phone},
                                    timeout=5)
                messages = resp.json() if resp.status_code == 200 else []
            except (requests.RequestException, ValueError):
                messages = []
            for msg in reversed(messages):
                code = sms_code_of(msg)
                if code:
                    return code
            time.sleep(0.2)
        warnings.warn(f"the fake SMS gateway did not receive a code for {phone[:3]}****"
                      f"{phone[-4:]} within {timeout}s; reading it from the outbox")
    else:
        warnings.warn("CERTHALL_SMS_GATEWAY_URL is not set; reading SMS codes from the outbox")
    rows = sql("SELECT params->>'code' FROM outbox WHERE recipient = %s "
               "AND template = 'login_code' ORDER BY id DESC LIMIT 1", (phone,))
    assert rows and rows[0][0], f"no login_code in the outbox for {phone}"
    return rows[0][0]


def sms_code_of(message):
    """The 6-digit code of a login_code message recorded by the fake gateway, or None."""
    if message.get("template") not in (None, "login_code"):
        return None
    code = (message.get("params") or {}).get("code")
    if isinstance(code, str) and re.fullmatch(r"[0-9]{6}", code):
        return code
    m = re.search(r"验证码为([0-9]{6})", message.get("text") or "")
    return m.group(1) if m else None


_REGISTRY = None


@pytest.fixture(scope="session")
def principals():
    """The process-wide Registry (shared by every module that imports this fixture)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = Registry(require_env("CERTHALL_URL"), OpenAPI(OPENAPI_PATH))
    return _REGISTRY
