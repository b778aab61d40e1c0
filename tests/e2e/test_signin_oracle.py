"""No account oracle in any sign-in or code route (issue 17).

Outside testing found that staff accounts could be enumerated through the lockout: the
sixth try on an existing username said "the account is locked … until …", an unknown
username "wrong username or password". Here every refusal that could tell accounts apart is
compared field by field with the others, through nginx, each answer also checked against
openapi.yaml (conftest.Client):

- staff sign-in: an unknown username, a disabled account, a locked account (locked by 5
  wrong passwords through the API), the locking try itself and a wrong password on a good
  account get the same answer, and take about the same time (each costs one scrypt);
- integrator keys: an unknown key id, a disabled key, a wrong signature and a replayed
  nonce get the same answer;
- SMS sign-in: a phone never seen and a phone that has signed in before get the same
  answers to a code request (202, and the per-phone 429) and to every refused code (none,
  wrong, expired, used; spent has a text of its own, the same for both phones);
- the verification routes of an application: a stranger gets the answer of an id that does
  not exist.

What "the same answer" means (same_answer()): the same status, the same headers and the
same body, except
  - Date: the clock, which moves between two requests;
  - X-Request-Id, and `request_id` in the body: a new random id per request (the
    validator checks that the two agree);
  - `instance` in the body: the path asked, which is the same here anyway;
and, for the 202 of a code request, `phone` in the body, which is the (masked) number the
caller sent itself.
Content-Length is compared less the length of the values left out (it is checked to be the
body's real length first), so two answers that differ only in `instance` still agree.

The audit log still tells the cases apart (for admins), which is checked too.
"""

import json
import secrets
import statistics
import time

import pytest

from conftest import assert_problem
from hmac_client import sign_headers
from principals import principals, random_phone, random_username, sql  # noqa: F401
# The SMS helpers of the sign-in tests, and their fixture that clears the per-address code
# windows around each test (imported, it applies to this module's tests too).
from test_signin_flow import (address_allowance, allow_resend, outbox_code,  # noqa: F401
                              wrong)

STAFF_SESSIONS = "/api/v1/auth/staff-sessions"
SMS_CODES = "/api/v1/auth/sms-codes"
SESSIONS = "/api/v1/auth/sessions"
STAFF = "/api/v1/staff"
ME = "/api/v1/me"

# Headers that differ between any two requests, whatever is asked (see the docstring).
PER_REQUEST_HEADERS = {"date", "x-request-id"}
PER_REQUEST_BODY = {"instance", "request_id"}

STAFF_REFUSED = ("wrong username or password; after 5 wrong passwords in a row an account "
                 "is locked for 15 minutes; if you cannot sign in, ask a certhall "
                 "administrator to unlock your account")
KEY_REFUSED = ("the request signature does not verify: the key is unknown or disabled, the "
               "signature is wrong, or the nonce has been used before")
WRONG_CODE = "the code is wrong, expired or already used"
SPENT_CODE = "this code has had 5 wrong tries; request a new code"

TIMING_ROUNDS = 7           # tries per branch; the median of each is compared
TIMING_FACTOR = 4           # no refusal may be this many times faster than a wrong password


# ---------------------------------------------------------------------------------
# Comparing answers
# ---------------------------------------------------------------------------------

def answer(resp, body_ignore=()):
    """(status, headers, body) of a response without its per-request parts; Content-Length
    less the length of the values left out of the body."""
    headers = {k.lower(): v for k, v in resp.headers.items()
               if k.lower() not in PER_REQUEST_HEADERS}
    body = resp.body
    if isinstance(body, dict):
        left_out = {k: v for k, v in body.items()
                    if k in PER_REQUEST_BODY or k in body_ignore}
        body = {k: v for k, v in body.items() if k not in left_out}
        length = int(headers["content-length"])
        assert length == len(resp.content), (headers["content-length"], len(resp.content))
        headers["content-length"] = length - sum(
            len(json.dumps(v, ensure_ascii=False).encode()) for v in left_out.values())
    return resp.status_code, headers, body


def same_answer(cases, body_ignore=()):
    """Asserts that every response in cases ({label: response}) gives the answer of the
    first, field by field; returns that answer's body."""
    labels = list(cases)
    first = labels[0]
    status, headers, body = answer(cases[first], body_ignore)
    for label in labels[1:]:
        s, h, b = answer(cases[label], body_ignore)
        assert s == status, f"status: {label} {s}, {first} {status}"
        for name in sorted(set(h) | set(headers)):
            assert h.get(name) == headers.get(name), (
                f"header {name}: {label} {h.get(name)!r}, {first} {headers.get(name)!r}")
        if isinstance(body, dict) and isinstance(b, dict):
            for key in sorted(set(b) | set(body)):
                assert b.get(key) == body.get(key), (
                    f"body {key}: {label} {b.get(key)!r}, {first} {body.get(key)!r}")
        assert b == body, f"body: {label} {b!r}, {first} {body!r}"
    return body


def audit_reason(resp, action):
    """The `reason` of the audit event of this request (by its request id)."""
    rows = sql("SELECT detail->>'reason' FROM audit_event WHERE request_id = %s"
               " AND action = %s", (resp.headers["X-Request-Id"], action))
    assert len(rows) == 1, f"{action} events of {resp.headers['X-Request-Id']}: {rows}"
    return rows[0][0]


# ---------------------------------------------------------------------------------
# Staff sign-in
# ---------------------------------------------------------------------------------

def staff_try(client, username, password):
    return client.post_json(STAFF_SESSIONS, {"username": username, "password": password})


@pytest.fixture
def staff_accounts(principals):  # noqa: F811
    """Three fresh accounts made by the admin API: good (stays usable), disabled, and one
    to lock. Returns {name: Principal}."""
    accounts = {name: principals.new_staff(["reviewer"], name=f"staff {name}")
                for name in ("good", "disabled", "locked")}
    resp = principals.admin().send_json(
        "PATCH", f"{STAFF}/{accounts['disabled'].info['staff_id']}", {"disabled": True})
    assert resp.status_code == 200 and resp.body["disabled"] is True, resp.content[:300]
    return accounts


def lock(client, account):
    """Five wrong passwords through the API; returns the answers, the fifth locks."""
    return [staff_try(client, account.info["username"], "wrong password " + str(i))
            for i in range(5)]


def test_staff_refusals_are_one_answer(client, principals, staff_accounts):  # noqa: F811
    good, disabled, locked = (staff_accounts[n] for n in ("good", "disabled", "locked"))
    tries = lock(client, locked)
    cases = {
        "unknown username": staff_try(client, random_username("nobody"),
                                      good.info["password"]),
        "not even a username": staff_try(client, "X", "x"),
        "wrong password": staff_try(client, good.info["username"], "not the password"),
        "disabled, right password": staff_try(client, disabled.info["username"],
                                              disabled.info["password"]),
        "disabled, wrong password": staff_try(client, disabled.info["username"], "nope"),
        "first wrong password of the lock": tries[0],
        "the wrong password that locks": tries[4],
        "locked, right password": staff_try(client, locked.info["username"],
                                            locked.info["password"]),
        "locked, wrong password": staff_try(client, locked.info["username"], "nope"),
    }
    body = same_answer(cases)
    assert_problem(cases["unknown username"], 401, "unauthorized")
    assert body["detail"] == STAFF_REFUSED
    assert cases["locked, right password"].headers["WWW-Authenticate"] == 'Bearer realm="certhall"'

    # The audit log keeps the real reason, for admins.
    reasons = {label: audit_reason(resp, "auth.staff_sign_in_failed")
               for label, resp in cases.items()}
    assert reasons == {
        "unknown username": "unknown user", "not even a username": "unknown user",
        "wrong password": "wrong password",
        "disabled, right password": "disabled", "disabled, wrong password": "disabled",
        "first wrong password of the lock": "wrong password",
        "the wrong password that locks": "wrong password",
        "locked, right password": "locked", "locked, wrong password": "locked",
    }
    locked_events = sql("SELECT detail->>'failed_logins' FROM audit_event WHERE request_id = %s"
                        " AND action = 'auth.staff_locked'",
                        (tries[4].headers["X-Request-Id"],))
    assert locked_events == [("5",)]

    # The good account still signs in: the wrong password counted once, not locked.
    assert principals.sign_in_staff(good.info["username"], good.info["password"]).me()


def test_admins_see_the_lock_and_unlock_it(client, principals, staff_accounts):  # noqa: F811
    admin = principals.admin()
    locked = staff_accounts["locked"]
    path = f"{STAFF}/{locked.info['staff_id']}"
    assert admin.get(path).body["failed_logins"] == 0
    staff_try(client, locked.info["username"], "wrong")
    staff_try(client, locked.info["username"], "wrong")
    one = admin.get(path).body
    assert (one["failed_logins"], one["locked_until"]) == (2, None)

    lock(client, locked)
    one = admin.get(path).body
    assert one["failed_logins"] == 5 and one["locked_until"] is not None
    listed = next(s for s in admin.get(STAFF).body["items"] if s["id"] == one["id"])
    assert listed == one
    # Tries while locked do not count (the password is not tried) nor prolong the lock.
    staff_try(client, locked.info["username"], locked.info["password"])
    again = admin.get(path).body
    assert (again["failed_logins"], again["locked_until"]) == (5, one["locked_until"])

    resp = admin.send_json("PATCH", path, {"unlock": True})
    assert resp.status_code == 200, resp.content[:300]
    assert (resp.body["failed_logins"], resp.body["locked_until"]) == (0, None)
    assert principals.sign_in_staff(locked.info["username"], locked.info["password"]).me()


def test_a_lock_that_has_run_out_shows_no_failures(client, principals, staff_accounts):  # noqa: F811
    locked = staff_accounts["locked"]
    lock(client, locked)
    sql("UPDATE staff SET locked_until = now() - interval '1 second' WHERE id = %s",
        (locked.info["staff_id"],))
    one = principals.admin().get(f"{STAFF}/{locked.info['staff_id']}").body
    assert (one["failed_logins"], one["locked_until"]) == (0, None)
    # ... as the next wrong password starts the count again at 1.
    staff_try(client, locked.info["username"], "wrong")
    one = principals.admin().get(f"{STAFF}/{locked.info['staff_id']}").body
    assert (one["failed_logins"], one["locked_until"]) == (1, None)


def test_staff_refusals_take_about_as_long(client, staff_accounts):
    """Every refusal runs one scrypt (tens to hundreds of ms here), so none may answer an
    order of magnitude sooner than a wrong password. Coarse on purpose, for a busy 2-core
    machine: the branches are tried in turn (round robin), so load hits them alike, and
    the medians of TIMING_ROUNDS tries are compared with a factor of TIMING_FACTOR. A
    locked account that skipped scrypt (as before issue 17) answered in a few ms."""
    good, disabled, locked = (staff_accounts[n] for n in ("good", "disabled", "locked"))
    lock(client, locked)
    branches = {
        "wrong password": (good.info["username"], "not the password"),
        "unknown username": (random_username("nobody"), "whatever it is"),
        "disabled": (disabled.info["username"], disabled.info["password"]),
        "locked": (locked.info["username"], locked.info["password"]),
    }
    samples = {label: [] for label in branches}
    for _ in range(TIMING_ROUNDS):
        # A wrong password counts: keep the good account from locking (not timed).
        sql("UPDATE staff SET failed_logins = 0 WHERE id = %s", (good.info["staff_id"],))
        for label, (username, password) in branches.items():
            started = time.perf_counter()
            resp = staff_try(client, username, password)
            samples[label].append(time.perf_counter() - started)
            assert resp.status_code == 401, (label, resp.content[:300])
    medians = {label: statistics.median(s) for label, s in samples.items()}
    reference = medians["wrong password"]
    for label, m in medians.items():
        assert m * TIMING_FACTOR >= reference, (
            f"{label} answers in {m * 1000:.1f} ms (median), a wrong password in "
            f"{reference * 1000:.1f} ms: more than {TIMING_FACTOR}x faster ({medians})")


# ---------------------------------------------------------------------------------
# Integrator keys
# ---------------------------------------------------------------------------------

def signed_get(client, key_id, secret, nonce=None):
    headers = sign_headers(key_id, secret, "GET", ME, nonce=nonce)
    resp = client.get(ME, headers=headers)
    resp.signed_headers = headers
    return resp


def test_integrator_refusals_are_one_answer(client, principals):  # noqa: F811
    good = principals.new_integrator("oracle good")
    off = principals.new_integrator("oracle disabled")
    resp = principals.admin().send_json("PATCH", f"/api/v1/integrators/{off.id}",
                                        {"disabled": True})
    assert resp.status_code == 200 and resp.body["disabled"] is True, resp.content[:300]
    first = signed_get(client, good.key_id, good.secret)
    assert first.status_code == 200, first.content[:300]

    cases = {
        "unknown key": signed_get(client, "ak_" + secrets.token_hex(12),
                                  "sk_" + secrets.token_hex(32)),
        "disabled key, right secret": signed_get(client, off.key_id, off.secret),
        "disabled key, wrong secret": signed_get(client, off.key_id,
                                                 "sk_" + secrets.token_hex(32)),
        "wrong signature": signed_get(client, good.key_id, "sk_" + secrets.token_hex(32)),
        "replayed nonce": client.get(ME, headers=first.signed_headers),
        "replayed nonce, fresh signature": signed_get(
            client, good.key_id, good.secret,
            nonce=first.signed_headers["Authorization"].split("Nonce=")[1].split(",")[0]),
    }
    body = same_answer(cases)
    assert_problem(cases["unknown key"], 401, "unauthorized")
    assert body["detail"] == KEY_REFUSED

    reasons = {label: audit_reason(resp, "integrator.request_refused")
               for label, resp in cases.items()}
    assert reasons == {
        "unknown key": "unknown key",
        "disabled key, right secret": "key disabled",
        "disabled key, wrong secret": "key disabled",
        "wrong signature": "signature mismatch",
        "replayed nonce": "nonce replayed",
        "replayed nonce, fresh signature": "nonce replayed",
    }


# ---------------------------------------------------------------------------------
# SMS sign-in
# ---------------------------------------------------------------------------------

def request_code(client, phone):
    resp = client.post_json(SMS_CODES, {"phone": phone})
    assert resp.status_code == 202, f"{resp.status_code}: {resp.content[:300]!r}"
    return resp


def sign_in(client, phone, code):
    return client.post_json(SESSIONS, {"phone": phone, "code": code})


def expire_codes(phone):
    """As if the phone's codes were more than 5 minutes old."""
    sql("UPDATE sms_code SET expires_at = now() - interval '1 second' WHERE phone = %s",
        (phone,))


@pytest.fixture
def phones(client):
    """A phone that has signed in before (its code used) and one never seen."""
    known, new = random_phone(), random_phone()
    request_code(client, known)
    assert sign_in(client, known, outbox_code(known)).status_code == 201
    assert sql("SELECT count(*) FROM applicant WHERE phone = %s", (new,)) == [(0,)]
    return known, new


def test_code_requests_are_one_answer(client, phones):
    known, new = phones
    allow_resend(known)
    same_answer({"known phone": request_code(client, known),
                 "new phone": request_code(client, new)}, body_ignore={"phone"})
    # Asked again within the minute: the same 429 for both.
    cases = {"known phone": client.post_json(SMS_CODES, {"phone": known}),
             "new phone": client.post_json(SMS_CODES, {"phone": new})}
    assert_problem(cases["known phone"], 429, "too-many-requests")
    same_answer(cases)


def test_refused_codes_are_one_answer(client, phones):
    known, new = phones
    cases = {
        # The known phone's newest code is the one it signed in with.
        "known phone, used code": sign_in(client, known, outbox_code(known)),
        "new phone, no code": sign_in(client, new, "123456"),
    }
    expire_codes(known)
    cases["known phone, no code"] = sign_in(client, known, "123456")

    allow_resend(known)
    codes = {}
    for label, phone in (("known phone", known), ("new phone", new)):
        request_code(client, phone)
        codes[phone] = outbox_code(phone)
        cases[f"{label}, wrong code"] = sign_in(client, phone, wrong(codes[phone]))
    for label, phone in (("known phone", known), ("new phone", new)):
        expire_codes(phone)
        cases[f"{label}, expired code"] = sign_in(client, phone, codes[phone])
    body = same_answer(cases)
    assert_problem(cases["new phone, no code"], 401, "unauthorized")
    assert body["detail"] == WRONG_CODE
    assert sql("SELECT count(*) FROM applicant WHERE phone = %s", (new,)) == [(0,)]


def test_spent_codes_are_one_answer(client, phones):
    """A code with 5 wrong tries has a text of its own (request a new code), the same for
    every phone: the applicant is looked up only after a right code (api/auth.c)."""
    known, new = phones
    allow_resend(known)
    cases = {}
    for label, phone in (("known phone", known), ("new phone", new)):
        request_code(client, phone)
        code = outbox_code(phone)
        tries = [sign_in(client, phone, wrong(code)) for _ in range(5)]
        cases[f"{label}, fifth wrong try"] = tries[4]
        cases[f"{label}, spent code"] = sign_in(client, phone, code)
    same_answer({k: v for k, v in cases.items() if "fifth" in k})
    body = same_answer({k: v for k, v in cases.items() if "spent" in k})
    assert_problem(cases["new phone, spent code"], 401, "unauthorized")
    assert body["detail"] == SPENT_CODE


# ---------------------------------------------------------------------------------
# Verification codes of an application
# ---------------------------------------------------------------------------------

def test_verification_routes_answer_strangers_as_no_such_application(principals):  # noqa: F811
    owner, stranger = principals.new_applicant(), principals.new_applicant()
    resp = owner.send_json("POST", "/api/v1/applications",
                           {"business_type": "new", "certificate_type": "org"})
    assert resp.status_code == 201, resp.content[:300]
    app_id = resp.body["id"]
    missing = sql("SELECT coalesce(max(id), 0) + 1000000 FROM application")[0][0]
    for suffix, body in (("verification/sms-code", {}), ("verification", {"code": "123456"})):
        cases = {
            "someone else's application": stranger.send_json(
                "POST", f"/api/v1/applications/{app_id}/{suffix}", body),
            "no such application": stranger.send_json(
                "POST", f"/api/v1/applications/{missing}/{suffix}", body),
        }
        assert_problem(cases["no such application"], 404, "not-found")
        same_answer(cases)
