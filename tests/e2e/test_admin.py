"""Administration through nginx: staff accounts, integrator keys, the audit log, and the
certhall-admin steps that create the first admin and an integrator (docs/CONTRACT.md,
"Identity and access").

Every response goes through the openapi.yaml validator (principals' clients). Staff and
integrators made here are throwaways with random names, so the module can run against a
long-lived stack and never spends the shared principals other modules use.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import assert_problem
from principals import (principals, pepper_file, random_password,  # noqa: F401
                        random_username, require_env, sql)

STAFF = "/api/v1/staff"
INTEGRATORS = "/api/v1/integrators"
AUDIT = "/api/v1/audit-events"
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$")


# ---------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def admin(principals):  # noqa: F811
    return principals.admin()


def create_staff(admin, roles, **extra):
    """POSTs a new staff account; returns (body, password)."""
    password = random_password()
    doc = {"username": random_username("adm"), "display_name": "测试 员工",
           "password": password, "roles": roles, **extra}
    resp = admin.post_json(STAFF, doc)
    assert resp.status_code == 201, resp.body
    return resp.body, password


def patch(principal, path, doc):
    return principal.send_json("PATCH", path, doc)


def audit_events(admin, **query):
    resp = admin.get(AUDIT, params=query)
    assert resp.status_code == 200, resp.body
    return resp.body


def events_for(admin, object_type, object_id, limit=200):
    """The newest events about one object, newest first."""
    items = audit_events(admin, limit=limit)["items"]
    return [e for e in items
            if e["object_type"] == object_type and e["object_id"] == str(object_id)]


def run_admin_cli(*args, stdin="", pepper=True):
    """certhall-admin ARGS as the owner role; returns the CompletedProcess (any exit)."""
    env = dict(os.environ, CERTHALL_DB=require_env("CERTHALL_DB"))
    env.pop("CERTHALL_PEPPER_FILE", None)
    if pepper:
        env["CERTHALL_PEPPER_FILE"] = pepper_file()
    binary = Path(require_env("CERTHALL_BUILD")) / "certhall-admin"
    return subprocess.run([str(binary), *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=60)


# ---------------------------------------------------------------------------------
# Staff
# ---------------------------------------------------------------------------------

def test_staff_create_list_get(admin):
    body, _ = create_staff(admin, ["counter", "reviewer"])
    assert body["roles"] == ["reviewer", "counter"]    # stored in the canonical order
    assert body["display_name"] == "测试 员工"
    assert body["disabled"] is False and body["locked_until"] is None
    assert TIME.match(body["created_at"]) and TIME.match(body["updated_at"])
    assert "password" not in json.dumps(body) and "scrypt" not in json.dumps(body)

    resp = admin.get(f"{STAFF}/{body['id']}")
    assert resp.status_code == 200
    assert resp.body == body

    listed = admin.get(STAFF).body["items"]
    ids = [s["id"] for s in listed]
    assert ids == sorted(ids), "the list is ordered by id"
    assert body in listed


def test_staff_create_answers_location(admin):
    resp = admin.post_json(STAFF, {"username": random_username("loc"), "display_name": "L",
                                   "password": random_password(), "roles": ["finance"]})
    assert resp.status_code == 201
    assert resp.headers["Location"] == f"{STAFF}/{resp.body['id']}"
    assert admin.get(resp.headers["Location"]).status_code == 200


def test_staff_password_is_stored_as_scrypt(admin):
    body, password = create_staff(admin, ["operator"])
    (stored,), = sql("SELECT password_hash FROM staff WHERE id = %s", (body["id"],))
    assert stored.startswith("$scrypt$ln=15,r=8,p=1$")
    assert password not in stored


def test_staff_duplicate_username_is_409(admin):
    body, _ = create_staff(admin, ["reviewer"])
    resp = admin.post_json(STAFF, {"username": body["username"], "display_name": "又一个",
                                   "password": random_password(), "roles": ["finance"]})
    assert_problem(resp, 409, "conflict", field="/username")


@pytest.mark.parametrize("username", ["Alice", "ab", "1abc", "a" * 33, "has space",
                                      "ünïcode", "-dash", ""])
def test_staff_bad_username_is_422(admin, username):
    resp = admin.post_json(STAFF, {"username": username, "display_name": "x",
                                   "password": random_password(), "roles": ["reviewer"]})
    assert_problem(resp, 422, "invalid-field", field="/username")


@pytest.mark.parametrize("member, value, field", [
    ("password", "11 chars...", "/password"),
    ("password", "x" * 129, "/password"),
    ("display_name", "", "/display_name"),
    ("display_name", "x" * 65, "/display_name"),
    ("display_name", "tab\there", "/display_name"),
    ("roles", [], "/roles"),
    ("roles", ["root"], "/roles"),
    ("roles", ["admin", "admin"], "/roles"),
    ("roles", "admin", "/roles"),
])
def test_staff_bad_member_is_422(admin, member, value, field):
    doc = {"username": random_username("bad"), "display_name": "x",
           "password": random_password(), "roles": ["reviewer"], member: value}
    assert_problem(admin.post_json(STAFF, doc), 422, "invalid-field", field=field)


@pytest.mark.parametrize("staff_id", ["999999999", "0", "-1", "abc", "007", "1.0"])
def test_staff_unknown_or_malformed_id_is_404(admin, staff_id):
    assert_problem(admin.get(f"{STAFF}/{staff_id}"), 404, "not-found")
    assert_problem(patch(admin, f"{STAFF}/{staff_id}", {"unlock": True}), 404, "not-found")


def test_staff_patch_needs_a_member(admin):
    body, _ = create_staff(admin, ["reviewer"])
    assert_problem(patch(admin, f"{STAFF}/{body['id']}", {}), 422, "missing-field", field="")
    assert_problem(patch(admin, f"{STAFF}/{body['id']}", {"username": "x.y.z"}), 422,
                   "unknown-field", field="/username")


def test_staff_patch_display_name(admin):
    body, _ = create_staff(admin, ["reviewer"])
    resp = patch(admin, f"{STAFF}/{body['id']}", {"display_name": "新名字"})
    assert resp.status_code == 200
    assert resp.body["display_name"] == "新名字"
    assert resp.body["updated_at"] >= body["updated_at"]
    assert admin.get(f"{STAFF}/{body['id']}").body == resp.body
    event = events_for(admin, "staff", body["id"])[0]
    assert event["action"] == "staff.updated"
    assert event["detail"] == {"display_name": {"before": "测试 员工", "after": "新名字"}}


def test_admin_cannot_disable_themselves_or_drop_admin(admin):
    me = admin.info["staff_id"]
    assert_problem(patch(admin, f"{STAFF}/{me}", {"disabled": True}), 409, "conflict",
                   field="/disabled")
    assert_problem(patch(admin, f"{STAFF}/{me}", {"roles": ["reviewer"]}), 409, "conflict",
                   field="/roles")
    # Nothing changed, and the admin can still work.
    now = admin.get(f"{STAFF}/{me}").body
    assert now["disabled"] is False and "admin" in now["roles"]
    # Keeping admin while adding a role is allowed.
    resp = patch(admin, f"{STAFF}/{me}", {"roles": ["admin", "finance"]})
    assert resp.status_code == 200 and resp.body["roles"] == ["finance", "admin"]
    assert patch(admin, f"{STAFF}/{me}", {"roles": ["admin"]}).status_code == 200


def test_disabled_staff_is_refused_at_once(admin, principals):  # noqa: F811
    body, password = create_staff(admin, ["reviewer"])
    person = principals.sign_in_staff(body["username"], password)
    assert person.get("/api/v1/me").status_code == 200

    resp = patch(admin, f"{STAFF}/{body['id']}", {"disabled": True})
    assert resp.status_code == 200 and resp.body["disabled"] is True
    # The very next request with the old token is refused.
    assert_problem(person.get("/api/v1/me"), 401, "unauthorized")
    # And a new sign-in too.
    again = principals.anonymous().post_json("/api/v1/auth/staff-sessions",
                                             {"username": body["username"], "password": password})
    assert_problem(again, 401, "unauthorized")
    (revoked,), = sql("SELECT count(*) FROM session WHERE staff_id = %s AND revoked_at IS NULL",
                      (body["id"],))
    assert revoked == 0, "disabling revokes every session"

    resp = patch(admin, f"{STAFF}/{body['id']}", {"disabled": False})
    assert resp.status_code == 200 and resp.body["disabled"] is False
    assert principals.sign_in_staff(body["username"], password).get("/api/v1/me").status_code == 200

    actions = [e["action"] for e in events_for(admin, "staff", body["id"])]
    assert actions.index("staff.enabled") < actions.index("staff.disabled")
    disabled = next(e for e in events_for(admin, "staff", body["id"])
                    if e["action"] == "staff.disabled")
    assert disabled["detail"] == {"sessions_revoked": 1}
    assert disabled["actor_kind"] == "staff" and disabled["actor_id"] == admin.info["staff_id"]


def test_role_change_takes_effect_at_once(admin, principals):  # noqa: F811
    body, password = create_staff(admin, ["reviewer"])
    person = principals.sign_in_staff(body["username"], password)
    assert_problem(person.get(STAFF), 403, "forbidden")

    resp = patch(admin, f"{STAFF}/{body['id']}", {"roles": ["reviewer", "admin"]})
    assert resp.status_code == 200 and resp.body["roles"] == ["reviewer", "admin"]
    assert person.get(STAFF).status_code == 200        # same token, new role

    resp = patch(admin, f"{STAFF}/{body['id']}", {"roles": ["reviewer"]})
    assert resp.status_code == 200
    assert_problem(person.get(STAFF), 403, "forbidden")

    changes = [e for e in events_for(admin, "staff", body["id"])
               if e["action"] == "staff.roles_changed"]
    assert [c["detail"] for c in changes] == [
        {"before": ["reviewer", "admin"], "after": ["reviewer"]},
        {"before": ["reviewer"], "after": ["reviewer", "admin"]},
    ]


def test_unchanged_roles_are_not_audited(admin):
    body, _ = create_staff(admin, ["finance"])
    resp = patch(admin, f"{STAFF}/{body['id']}", {"roles": ["finance"]})
    assert resp.status_code == 200 and resp.body["updated_at"] == body["updated_at"]
    assert [e["action"] for e in events_for(admin, "staff", body["id"])] == ["staff.created"]


def test_password_reset_revokes_sessions(admin, principals):  # noqa: F811
    body, password = create_staff(admin, ["counter"])
    person = principals.sign_in_staff(body["username"], password)
    new_password = random_password()
    resp = patch(admin, f"{STAFF}/{body['id']}", {"password": new_password})
    assert resp.status_code == 200
    assert_problem(person.get("/api/v1/me"), 401, "unauthorized")
    old = principals.anonymous().post_json("/api/v1/auth/staff-sessions",
                                           {"username": body["username"], "password": password})
    assert_problem(old, 401, "unauthorized")
    assert principals.sign_in_staff(body["username"], new_password).me()["kind"] == "staff"

    event = next(e for e in events_for(admin, "staff", body["id"])
                 if e["action"] == "staff.password_reset")
    assert event["detail"] == {"sessions_revoked": 1}
    assert password not in json.dumps(event) and new_password not in json.dumps(event)


def test_unlock_clears_a_lockout(admin, principals):  # noqa: F811
    body, password = create_staff(admin, ["operator"])
    anonymous = principals.anonymous()
    for _ in range(5):
        resp = anonymous.post_json("/api/v1/auth/staff-sessions",
                                   {"username": body["username"], "password": "wrong password!"})
        assert_problem(resp, 401, "unauthorized")
    locked = admin.get(f"{STAFF}/{body['id']}").body
    assert locked["locked_until"] is not None and TIME.match(locked["locked_until"])
    right = anonymous.post_json("/api/v1/auth/staff-sessions",
                                {"username": body["username"], "password": password})
    assert_problem(right, 401, "unauthorized")      # refused while locked

    resp = patch(admin, f"{STAFF}/{body['id']}", {"unlock": True})
    assert resp.status_code == 200 and resp.body["locked_until"] is None
    (failed,), = sql("SELECT failed_logins FROM staff WHERE id = %s", (body["id"],))
    assert failed == 0
    assert principals.sign_in_staff(body["username"], password).me()["kind"] == "staff"
    event = next(e for e in events_for(admin, "staff", body["id"])
                 if e["action"] == "staff.unlocked")
    assert event["detail"] == {"was_locked": True}


# ---------------------------------------------------------------------------------
# Integrators
# ---------------------------------------------------------------------------------

def create_integrator(admin, name="测试平台"):
    resp = admin.post_json(INTEGRATORS, {"name": name})
    assert resp.status_code == 201, resp.body
    return resp.body


def signed_me(principals, integrator, external_user=None):  # noqa: F811
    from principals import Integrator
    key = Integrator(principals, integrator["name"], integrator["id"], integrator["key_id"],
                     integrator["secret"])
    return key.principal(external_user).get("/api/v1/me")


def test_integrator_secret_is_shown_once_and_signs(admin, principals):  # noqa: F811
    created = create_integrator(admin, "成都农交所 " + random_username("i"))
    assert re.fullmatch(r"ak_[0-9a-f]{24}", created["key_id"])
    assert re.fullmatch(r"sk_[0-9a-f]{64}", created["secret"])
    assert created["disabled"] is False and TIME.match(created["created_at"])

    listed = admin.get(INTEGRATORS).body["items"]
    mine = [i for i in listed if i["id"] == created["id"]]
    assert mine == [{k: v for k, v in created.items() if k != "secret"}]
    assert created["secret"] not in json.dumps(listed)

    # Stored sealed: neither the secret nor its hex digits are in the row.
    (enc,), = sql("SELECT encode(secret_enc, 'escape') FROM integrator WHERE id = %s",
                  (created["id"],))
    assert created["secret"][3:] not in enc
    (enc_len,), = sql("SELECT length(secret_enc) FROM integrator WHERE id = %s",
                      (created["id"],))
    assert enc_len == len(created["secret"]) + 28

    resp = signed_me(principals, created)
    assert resp.status_code == 200, resp.body
    assert resp.body["kind"] == "integrator"
    assert resp.body["integrator"]["key_id"] == created["key_id"]
    assert resp.body["integrator"]["id"] == created["id"]

    event = next(e for e in events_for(admin, "integrator", created["key_id"])
                 if e["action"] == "integrator.created")
    assert event["detail"] == {"id": created["id"], "name": created["name"]}
    assert created["secret"] not in json.dumps(audit_events(admin, limit=200))


def test_integrator_bad_name_is_422(admin):
    assert_problem(admin.post_json(INTEGRATORS, {"name": ""}), 422, "invalid-field",
                   field="/name")
    assert_problem(admin.post_json(INTEGRATORS, {"name": "x" * 101}), 422, "invalid-field",
                   field="/name")
    assert_problem(admin.post_json(INTEGRATORS, {}), 422, "missing-field", field="/name")
    assert_problem(admin.post_json(INTEGRATORS, {"name": "x", "secret": "sk_"}), 422,
                   "unknown-field", field="/secret")


def test_disabled_integrator_is_refused(admin, principals):  # noqa: F811
    created = create_integrator(admin)
    assert signed_me(principals, created).status_code == 200

    resp = patch(admin, f"{INTEGRATORS}/{created['id']}", {"disabled": True})
    assert resp.status_code == 200 and resp.body["disabled"] is True
    assert "secret" not in resp.body
    assert_problem(signed_me(principals, created), 401, "unauthorized")

    resp = patch(admin, f"{INTEGRATORS}/{created['id']}", {"disabled": False, "name": "改名"})
    assert resp.status_code == 200 and resp.body["name"] == "改名"
    assert signed_me(principals, created).status_code == 200

    events = events_for(admin, "integrator", created["key_id"])
    updates = [e["detail"] for e in events if e["action"] == "integrator.updated"]
    assert updates == [
        {"disabled": {"before": True, "after": False},
         "name": {"before": "测试平台", "after": "改名"}},
        {"disabled": {"before": False, "after": True}},
    ]
    assert any(e["action"] == "integrator.request_refused" and
               e["detail"].get("reason") == "key disabled" for e in events)


def test_integrator_patch_errors(admin):
    assert_problem(patch(admin, f"{INTEGRATORS}/999999999", {"disabled": True}), 404,
                   "not-found")
    assert_problem(patch(admin, f"{INTEGRATORS}/abc", {"disabled": True}), 404, "not-found")
    created = create_integrator(admin)
    assert_problem(patch(admin, f"{INTEGRATORS}/{created['id']}", {}), 422, "missing-field")
    assert_problem(patch(admin, f"{INTEGRATORS}/{created['id']}", {"key_id": "ak_x"}), 422,
                   "unknown-field", field="/key_id")


# ---------------------------------------------------------------------------------
# Audit log
# ---------------------------------------------------------------------------------

def test_audit_newest_first_and_pages(admin):
    # Three events of one action, made now.
    bodies = [create_staff(admin, ["finance"])[0] for _ in range(3)]
    page = audit_events(admin, action="staff.created", limit=2)
    assert [e["object_id"] for e in page["items"]] == [str(bodies[2]["id"]), str(bodies[1]["id"])]
    assert page["next_before_id"] == page["items"][-1]["id"]
    nxt = audit_events(admin, action="staff.created", limit=2, before_id=page["next_before_id"])
    assert nxt["items"][0]["object_id"] == str(bodies[0]["id"])
    assert all(e["action"] == "staff.created" for e in page["items"] + nxt["items"])

    everything = audit_events(admin, limit=200)["items"]
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids, reverse=True), "newest first"
    for e in everything:
        assert TIME.match(e["at"])
        assert e["request_id"] and e["client_addr"]

    first = audit_events(admin)
    assert len(first["items"]) == min(50, len(everything))     # the default limit
    # The oldest page ends the chain.
    tail = audit_events(admin, limit=200, before_id=2)
    assert tail["next_before_id"] is None and len(tail["items"]) <= 1


def test_audit_shows_a_staff_members_history_in_order(admin, principals):  # noqa: F811
    body, password = create_staff(admin, ["reviewer"])
    path = f"{STAFF}/{body['id']}"
    patch(admin, path, {"roles": ["reviewer", "finance"]})
    patch(admin, path, {"display_name": "改了"})
    patch(admin, path, {"disabled": True})
    patch(admin, path, {"disabled": False, "unlock": True})
    patch(admin, path, {"password": random_password()})
    history = [e["action"] for e in reversed(events_for(admin, "staff", body["id"]))]
    assert history == ["staff.created", "staff.roles_changed", "staff.updated",
                       "staff.disabled", "staff.enabled", "staff.unlocked",
                       "staff.password_reset"]
    created = events_for(admin, "staff", body["id"])[-1]
    assert created["detail"] == {"username": body["username"], "display_name": "测试 员工",
                                 "roles": ["reviewer"]}
    assert created["actor_kind"] == "staff" and created["actor_id"] == admin.info["staff_id"]
    assert password not in json.dumps(audit_events(admin, limit=200))


def test_audit_masks_phone_numbers(admin, principals):  # noqa: F811
    # Signing in by SMS writes auth.sms_code_sent and auth.sign_in, both about the phone.
    phone = principals.new_applicant().info["phone"]
    details = json.dumps([e["detail"] for e in audit_events(admin, limit=200)["items"]],
                         ensure_ascii=False)
    assert f"{phone[:3]}****{phone[-4:]}" in details
    assert phone not in details
    assert not re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", details), "an unmasked phone number"


@pytest.mark.parametrize("query, parameter", [
    ("limit=0", "limit"), ("limit=201", "limit"), ("limit=ten", "limit"), ("limit=", "limit"),
    ("limit=5&limit=6", "limit"), ("before_id=0", "before_id"), ("before_id=x", "before_id"),
    ("action=Staff.created", "action"), ("action=staff", "action"),
    ("action=staff.created%00", "action"), ("colour=red", "colour"),
])
def test_audit_bad_query_is_422(admin, query, parameter):
    body = assert_problem(admin.get(f"{AUDIT}?{query}"), 422, "invalid-field")
    assert body["parameter"] == parameter


def test_admin_routes_need_admin(principals):  # noqa: F811
    reviewer = principals.staff("reviewer")
    for path in (STAFF, INTEGRATORS, AUDIT):
        assert_problem(reviewer.get(path), 403, "forbidden")
        assert_problem(principals.anonymous().get(path), 401, "unauthorized")


# ---------------------------------------------------------------------------------
# certhall-admin create-admin / create-integrator
# ---------------------------------------------------------------------------------

def test_cli_create_admin(admin, principals):  # noqa: F811
    username, password = random_username("cli"), random_password()
    proc = run_admin_cli("create-admin", "--username", username, "--display-name", "命令行管理员",
                         stdin=password + "\n", pepper=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["username"] == username and out["roles"] == ["admin"]
    assert password not in proc.stdout + proc.stderr

    me = principals.sign_in_staff(username, password).me()
    assert me["staff"]["roles"] == ["admin"] and me["staff"]["display_name"] == "命令行管理员"
    created = events_for(admin, "staff", out["id"])[-1]
    assert created["action"] == "staff.created"
    assert created["actor_kind"] == "system" and created["actor_id"] is None
    assert created["request_id"] == "cli" and created["client_addr"] == "local"

    again = run_admin_cli("create-admin", "--username", username, "--display-name", "x",
                          stdin=random_password() + "\n", pepper=False)
    assert again.returncode == 65
    assert "taken" in again.stderr


@pytest.mark.parametrize("stdin", ["", "\n", "short\n", "x" * 129 + "\n"])
def test_cli_create_admin_refuses_bad_passwords(stdin):
    username = random_username("clibad")
    proc = run_admin_cli("create-admin", "--username", username, "--display-name", "x",
                         stdin=stdin, pepper=False)
    assert proc.returncode == 65, proc.stderr
    assert "password" in proc.stderr
    assert sql("SELECT 1 FROM staff WHERE username = %s", (username,)) == []


def test_cli_create_admin_usage():
    assert run_admin_cli("create-admin", "--username", "abc").returncode == 64
    assert run_admin_cli("create-admin", "--username", "Bad Name", "--display-name", "x",
                         stdin=random_password() + "\n").returncode == 65


def test_cli_create_integrator(admin, principals):  # noqa: F811
    name = "命令行平台 " + random_username("c")
    proc = run_admin_cli("create-integrator", "--name", name)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert set(out) == {"id", "key_id", "secret"}
    assert out["secret"] not in proc.stderr
    assert signed_me(principals, {**out, "name": name}).status_code == 200
    created = events_for(admin, "integrator", out["key_id"])[-1]
    assert created["action"] == "integrator.created" and created["actor_kind"] == "system"

    no_pepper = run_admin_cli("create-integrator", "--name", name, pepper=False)
    assert no_pepper.returncode == 78
