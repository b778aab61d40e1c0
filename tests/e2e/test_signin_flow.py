"""Sign-in through nginx: SMS codes and applicant sessions, staff passwords and lockout,
sign-out, GET /me and PUT /me/password (docs/CONTRACT.md, "Identity and access").

The first flow reads its code as the applicant would, from the SMS the fake gateway
received (principals.read_sms_code); the other tests read the newest code from the outbox
row, which is committed before the 202 (a second code to one phone could otherwise be
confused with the first while the gateway has not got it yet). Each test uses phones and
usernames of its own, so the tests are independent of each other and of earlier runs.

Every request here comes from 127.0.0.1, which has one allowance of 20 codes an hour; the
`address_allowance` fixture clears that address's rate-limit windows around each test (as
the owner role), so this module neither runs out of it nor spends the rest of the suite's.
"""

import base64
import hashlib
import os
import re
import secrets

import pytest

from conftest import assert_problem
from principals import random_phone, random_username, read_sms_code, sql

SMS_CODES = "/api/v1/auth/sms-codes"
SESSIONS = "/api/v1/auth/sessions"
STAFF_SESSIONS = "/api/v1/auth/staff-sessions"
CURRENT = "/api/v1/auth/sessions/current"
ME = "/api/v1/me"
PASSWORD = "/api/v1/me/password"

TOKEN_RE = re.compile(r"^ch_[A-Za-z0-9_-]{43}$")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")


# ---------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def address_allowance():
    """Clears the per-address SMS windows before and after each test."""
    sql("DELETE FROM rate_limit WHERE bucket LIKE 'sms:addr:%%'")
    yield
    sql("DELETE FROM rate_limit WHERE bucket LIKE 'sms:addr:%%'")


def masked(phone):
    return phone[:3] + "****" + phone[-4:]


def allow_resend(phone):
    """Ends the phone's one-a-minute window early (the hourly one keeps counting), so a
    test need not sleep 60 s before its next code."""
    sql("DELETE FROM rate_limit WHERE bucket LIKE %s", (f"sms:phone:{phone}/60s",))


def outbox_code(phone):
    """The code of the newest login_code SMS queued for phone."""
    rows = sql("SELECT params->>'code' FROM outbox WHERE recipient = %s"
               " AND template = 'login_code' ORDER BY id DESC LIMIT 1", (phone,))
    assert rows, f"no login_code SMS queued for {masked(phone)}"
    return rows[0][0]


def request_code(client, phone):
    """POST /auth/sms-codes; checks the 202 and returns the code queued for the SMS."""
    resp = client.post_json(SMS_CODES, {"phone": phone})
    assert resp.status_code == 202, f"{resp.status_code}: {resp.content[:300]!r}"
    assert resp.body == {"phone": masked(phone), "expires_in": 300, "resend_after": 60}
    return outbox_code(phone)


def sign_in(client, phone, code):
    return client.post_json(SESSIONS, {"phone": phone, "code": code})


def wrong(code):
    return f"{(int(code) + 1) % 1000000:06d}"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def outbox_count(phone):
    return sql("SELECT count(*) FROM outbox WHERE recipient = %s", (phone,))[0][0]


def scrypt_hash(password):
    """The string ch_password_hash() writes: $scrypt$ln=15,r=8,p=1$<salt>$<hash>."""
    salt = os.urandom(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=2 ** 15, r=8, p=1,
                         maxmem=64 * 1024 * 1024, dklen=32)

    def b64(b):
        return base64.b64encode(b).decode().rstrip("=")
    return f"$scrypt$ln=15,r=8,p=1${b64(salt)}${b64(key)}"


def new_staff(roles=("reviewer",)):
    """A staff row made directly in the database; returns (id, username, password)."""
    username = random_username("signin")
    password = "pw-" + secrets.token_urlsafe(18)
    rows = sql("INSERT INTO staff (username, display_name, password_hash, roles)"
               " VALUES (%s, %s, %s, %s) RETURNING id",
               (username, "测试登录", scrypt_hash(password), list(roles)))
    return rows[0][0], username, password


def staff_sign_in(client, username, password):
    return client.post_json(STAFF_SESSIONS, {"username": username, "password": password})


def audit_actions(object_type, object_id):
    return [r[0] for r in sql("SELECT action FROM audit_event WHERE object_type = %s"
                              " AND object_id = %s ORDER BY id",
                              (object_type, str(object_id)))]


# ---------------------------------------------------------------------------------
# Applicants: SMS code -> session -> /me -> sign out
# ---------------------------------------------------------------------------------

def test_sms_sign_in_me_and_sign_out(client):
    phone = random_phone()
    queued = request_code(client, phone)
    code = read_sms_code(phone)     # as the phone received it
    assert code == queued and re.fullmatch(r"[0-9]{6}", code)
    body = sql("SELECT template, body FROM outbox WHERE recipient = %s", (phone,))
    assert body == [("login_code", f"【四川CA】您的登录验证码为{code}，5分钟内有效，"
                                   "请勿泄露给他人。如非本人操作，请忽略本短信。")]

    resp = sign_in(client, phone, code)
    assert resp.status_code == 201, f"{resp.status_code}: {resp.content[:300]!r}"
    s = resp.body
    assert TOKEN_RE.match(s["token"]) and s["token_type"] == "Bearer"
    assert TIME_RE.match(s["expires_at"]) and s["idle_timeout_seconds"] == 7200
    me = s["me"]
    assert me["kind"] == "applicant" and me["roles"] == ["applicant"]
    assert me["applicant"]["phone"] == phone
    assert me["staff"] is None and me["integrator"] is None
    assert me["session"] == {"expires_at": s["expires_at"], "idle_timeout_seconds": 7200}

    resp = client.get(ME, headers=bearer(s["token"]))
    assert resp.status_code == 200 and resp.body == me

    # The code is spent.
    assert_problem(sign_in(client, phone, code), 401, "unauthorized")

    resp = client.request("DELETE", CURRENT, headers=bearer(s["token"]))
    assert resp.status_code == 204 and resp.content == b""
    resp = client.get(ME, headers=bearer(s["token"]))
    assert_problem(resp, 401, "unauthorized")
    assert resp.headers.get("WWW-Authenticate", "").startswith("Bearer")

    # Signing in again is the same applicant, not a new one.
    allow_resend(phone)
    again = sign_in(client, phone, request_code(client, phone))
    assert again.status_code == 201
    assert again.body["me"]["applicant"]["id"] == me["applicant"]["id"]
    assert again.body["token"] != s["token"]

    # Nothing personal in the audit log: the phone masked, no code, no token.
    details = " ".join(r[0] for r in sql(
        "SELECT detail::text FROM audit_event WHERE action LIKE 'auth.%%'"
        " AND detail->>'phone' = %s", (masked(phone),)))
    assert details and phone not in details and code not in details
    assert s["token"] not in details
    actions = [r[0] for r in sql(
        "SELECT action FROM audit_event WHERE detail->>'phone' = %s ORDER BY id",
        (masked(phone),))]
    assert actions[:3] == ["auth.sms_code_sent", "auth.sign_in", "auth.sign_in_failed"]


def test_same_answer_for_new_and_known_phones(client):
    known, new = random_phone(), random_phone()
    assert sign_in(client, known, request_code(client, known)).status_code == 201
    allow_resend(known)
    a = client.post_json(SMS_CODES, {"phone": known})
    b = client.post_json(SMS_CODES, {"phone": new})
    assert (a.status_code, b.status_code) == (202, 202)
    assert a.body == {**b.body, "phone": masked(known)}


def test_sixth_try_is_refused_even_with_the_right_code(client):
    phone = random_phone()
    code = request_code(client, phone)
    for _ in range(5):
        assert_problem(sign_in(client, phone, wrong(code)), 401, "unauthorized")
    body = assert_problem(sign_in(client, phone, code), 401, "unauthorized")
    assert "new code" in body["detail"]
    assert sql("SELECT attempts, consumed_at FROM sms_code WHERE phone = %s",
               (phone,)) == [(5, None)]

    # A new code has tries of its own.
    allow_resend(phone)
    assert sign_in(client, phone, request_code(client, phone)).status_code == 201


def test_wrong_tries_are_counted_though_refused(client):
    phone = random_phone()
    code = request_code(client, phone)
    assert_problem(sign_in(client, phone, wrong(code)), 401, "unauthorized")
    assert_problem(sign_in(client, phone, wrong(code)), 401, "unauthorized")
    assert sql("SELECT attempts FROM sms_code WHERE phone = %s", (phone,)) == [(2,)]
    assert sign_in(client, phone, code).status_code == 201


def test_expired_code_is_refused(client):
    phone = random_phone()
    code = request_code(client, phone)
    sql("UPDATE sms_code SET expires_at = now() - interval '1 second' WHERE phone = %s",
        (phone,))
    assert_problem(sign_in(client, phone, code), 401, "unauthorized")


def test_newer_code_supersedes_older(client):
    phone = random_phone()
    first = request_code(client, phone)
    allow_resend(phone)
    second = request_code(client, phone)
    if first != second:
        assert_problem(sign_in(client, phone, first), 401, "unauthorized")
    assert sign_in(client, phone, second).status_code == 201


def test_code_for_no_request_is_refused(client):
    assert_problem(sign_in(client, random_phone(), "123456"), 401, "unauthorized")


@pytest.mark.parametrize("body, field", [
    ({"phone": "12800138000"}, "/phone"),
    ({"phone": "1380013800"}, "/phone"),
    ({"phone": "+8613800138000"}, "/phone"),
    ({"phone": 13800138000}, "/phone"),
])
def test_sms_code_refuses_bad_phones(client, body, field):
    assert_problem(client.post_json(SMS_CODES, body), 422, "invalid-field", field)


@pytest.mark.parametrize("code", ["12345", "1234567", "12345a", " 123456"])
def test_session_refuses_malformed_codes(client, code):
    resp = client.post_json(SESSIONS, {"phone": random_phone(), "code": code})
    assert_problem(resp, 422, "invalid-field", "/code")


# ---------------------------------------------------------------------------------
# Rate limits
# ---------------------------------------------------------------------------------

def retry_after(resp):
    value = resp.headers.get("Retry-After", "")
    assert value.isdigit(), f"Retry-After {value!r}"
    return int(value)


def test_one_code_a_minute_per_phone(client):
    phone = random_phone()
    request_code(client, phone)
    resp = client.post_json(SMS_CODES, {"phone": phone})
    assert_problem(resp, 429, "too-many-requests")
    assert 1 <= retry_after(resp) <= 60
    assert outbox_count(phone) == 1


def test_five_codes_an_hour_per_phone(client):
    phone = random_phone()
    for _ in range(5):
        allow_resend(phone)
        assert client.post_json(SMS_CODES, {"phone": phone}).status_code == 202
    allow_resend(phone)
    resp = client.post_json(SMS_CODES, {"phone": phone})
    assert_problem(resp, 429, "too-many-requests")
    assert 1 <= retry_after(resp) <= 3600
    assert outbox_count(phone) == 5


def test_twenty_codes_an_hour_per_address(client):
    assert client.post_json(SMS_CODES, {"phone": random_phone()}).status_code == 202
    # As if other phones had had 18 more codes from this address (the window's row is
    # the one the request above made) ...
    assert sql("UPDATE rate_limit SET hits = hits + 18 WHERE bucket LIKE 'sms:addr:%%'"
               " RETURNING hits") == [(19,)]
    assert client.post_json(SMS_CODES, {"phone": random_phone()}).status_code == 202
    # ... the 21st is refused, whatever the phone.
    other = random_phone()
    resp = client.post_json(SMS_CODES, {"phone": other})
    assert_problem(resp, 429, "too-many-requests")
    assert 1 <= retry_after(resp) <= 3600
    assert outbox_count(other) == 0


def test_a_refused_request_does_not_spend_the_allowance(client):
    phone = random_phone()
    request_code(client, phone)
    for _ in range(3):
        assert client.post_json(SMS_CODES, {"phone": phone}).status_code == 429
    hits = sql("SELECT hits FROM rate_limit WHERE bucket = %s",
               (f"sms:phone:{phone}/3600s",))
    assert hits == [(1,)]


# ---------------------------------------------------------------------------------
# Staff: password sign-in, lockout, password change
# ---------------------------------------------------------------------------------

def test_staff_sign_in_and_me(client):
    staff_id, username, password = new_staff(("reviewer", "admin"))
    resp = staff_sign_in(client, username, password)
    assert resp.status_code == 201, f"{resp.status_code}: {resp.content[:300]!r}"
    s = resp.body
    assert TOKEN_RE.match(s["token"]) and s["idle_timeout_seconds"] == 1800
    me = s["me"]
    assert me["kind"] == "staff" and sorted(me["roles"]) == ["admin", "reviewer"]
    assert me["staff"]["id"] == staff_id and me["staff"]["username"] == username
    assert me["staff"]["display_name"] == "测试登录"
    assert me["applicant"] is None and me["integrator"] is None
    assert client.get(ME, headers=bearer(s["token"])).body == me
    assert client.request("DELETE", CURRENT, headers=bearer(s["token"])).status_code == 204
    assert_problem(client.get(ME, headers=bearer(s["token"])), 401, "unauthorized")


def test_staff_refusals_look_alike(client):
    staff_id, username, password = new_staff()
    unknown = assert_problem(staff_sign_in(client, random_username("nobody"), password),
                             401, "unauthorized")
    bad = assert_problem(staff_sign_in(client, username, password + "x"),
                         401, "unauthorized")
    sql("UPDATE staff SET disabled = true WHERE id = %s", (staff_id,))
    disabled = assert_problem(staff_sign_in(client, username, password),
                              401, "unauthorized")
    assert unknown["detail"] == bad["detail"] == disabled["detail"]


def test_staff_lockout_after_five_failures(client):
    staff_id, username, password = new_staff()
    for _ in range(5):
        assert_problem(staff_sign_in(client, username, "wrong password"), 401, "unauthorized")
    locked = sql("SELECT failed_logins, locked_until > now() + interval '14 minutes'"
                 " FROM staff WHERE id = %s", (staff_id,))
    assert locked == [(5, True)]

    # Locked: even the right password is refused, with the answer every refusal gets (it
    # says how to get help, not that this account is locked: test_signin_oracle.py).
    body = assert_problem(staff_sign_in(client, username, password), 401, "unauthorized")
    assert body["detail"].startswith("wrong username or password; after 5 wrong passwords")
    assert "unlock" in body["detail"] and not re.search(r"\+08:00", body["detail"])
    assert "auth.staff_locked" in audit_actions("staff", staff_id)

    # When the lock has run out the right password works and clears the count.
    sql("UPDATE staff SET locked_until = now() - interval '1 second' WHERE id = %s",
        (staff_id,))
    assert staff_sign_in(client, username, password).status_code == 201
    assert sql("SELECT failed_logins, locked_until FROM staff WHERE id = %s",
               (staff_id,)) == [(0, None)]


def test_staff_success_resets_the_count(client):
    staff_id, username, password = new_staff()
    for _ in range(4):
        assert staff_sign_in(client, username, "wrong password").status_code == 401
    assert staff_sign_in(client, username, password).status_code == 201
    for _ in range(4):
        assert staff_sign_in(client, username, "wrong password").status_code == 401
    assert staff_sign_in(client, username, password).status_code == 201


def test_password_change(client):
    staff_id, username, password = new_staff()
    this = staff_sign_in(client, username, password).body["token"]
    other = staff_sign_in(client, username, password).body["token"]
    new = "a much longer new password"

    resp = client.request("PUT", PASSWORD, headers=bearer(this),
                          json={"current_password": "not it", "new_password": new})
    assert_problem(resp, 422, "invalid-field", "/current_password")
    resp = client.request("PUT", PASSWORD, headers=bearer(this),
                          json={"current_password": password, "new_password": "too short"})
    assert_problem(resp, 422, "invalid-field", "/new_password")

    resp = client.request("PUT", PASSWORD, headers=bearer(this),
                          json={"current_password": password, "new_password": new})
    assert resp.status_code == 204 and resp.content == b""
    assert client.get(ME, headers=bearer(this)).status_code == 200
    assert_problem(client.get(ME, headers=bearer(other)), 401, "unauthorized")
    assert_problem(staff_sign_in(client, username, password), 401, "unauthorized")
    assert staff_sign_in(client, username, new).status_code == 201
    assert "staff.password_changed" in audit_actions("staff", staff_id)


def test_applicants_cannot_change_a_password(client):
    phone = random_phone()
    token = sign_in(client, phone, request_code(client, phone)).body["token"]
    resp = client.request("PUT", PASSWORD, headers=bearer(token),
                          json={"current_password": "x", "new_password": "y" * 12})
    assert_problem(resp, 403, "forbidden")
