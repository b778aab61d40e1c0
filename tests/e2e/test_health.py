"""GET /api/v1/health while the stack is up (the database-down case is in test_zz_resilience)."""

import datetime
import re

from principals import principals, sql  # noqa: F401  (the fixture)


def test_health_is_200_ok(client):
    resp = client.get("/api/v1/health")
    assert resp.status_code == 200, f"health: {resp.status_code} {resp.content[:300]!r}"
    assert resp.body["status"] == "ok"
    # The stack runs certhall-signer; its outage is test_zz_signer_token's.
    assert set(resp.body["checks"]) == {"database", "signer", "calendar"}
    assert (resp.body["checks"]["database"], resp.body["checks"]["signer"]) == ("ok", "ok")


def covered_30_days():
    """Whether every day from today to 30 days ahead (Asia/Shanghai) lies in a loaded
    calendar year, asked of the database directly (not through certhall's code)."""
    rows = sql("SELECT bool_and(EXISTS (SELECT 1 FROM calendar_year y"
               "  WHERE y.year = extract(year FROM d)))"
               " FROM generate_series((now() AT TIME ZONE 'Asia/Shanghai')::date,"
               "  (now() AT TIME ZONE 'Asia/Shanghai')::date + 30, interval '1 day') d")
    return rows[0][0]


def test_health_flags_a_calendar_that_does_not_cover_the_next_30_days(client, principals):  # noqa: F811
    """checks.calendar (issue 14): "ok" only while the next 30 days lie in loaded years;
    "incomplete" names a missing year's consequence (estimated deadlines) on /health, and
    the admin status route says which years are missing."""
    want = "ok" if covered_30_days() else "incomplete"
    # Each worker reads it at most every 10 s; several workers answer in turn.
    for _ in range(8):
        assert client.get("/api/v1/health").body["checks"]["calendar"] == want
    status = principals.admin().get("/api/v1/admin/calendar/status")
    assert status.status_code == 200, status.content[:300]
    assert status.body["covered"] is (want == "ok")
    assert (status.body["missing_years"] == []) is (want == "ok")


def test_health_time_is_now_in_shanghai(client):
    resp = client.get("/api/v1/health")
    stamp = resp.body["time"]
    assert stamp.endswith("+08:00"), f"time {stamp!r} is not in +08:00"
    then = datetime.datetime.fromisoformat(stamp)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - then).total_seconds()) < 300, f"health time {stamp} is far from now ({now})"


def test_health_version_is_the_documented_one(client, openapi):
    resp = client.get("/api/v1/health")
    assert resp.body["version"] == openapi.doc["info"]["version"], (
        "health's version and openapi.yaml's info.version differ")


def test_every_response_has_a_request_id(client):
    ids = set()
    for _ in range(5):
        resp = client.get("/api/v1/health")
        assert re.fullmatch(r"[0-9a-f]{32}", resp.headers["X-Request-Id"])
        ids.add(resp.headers["X-Request-Id"])
    assert len(ids) == 5, "X-Request-Id repeats across requests"


def test_openapi_document_is_served_by_nginx(client, openapi):
    resp = client.get("/api/v1/openapi.yaml")
    assert resp.status_code == 200
    assert resp.content == openapi.raw, "the served openapi.yaml differs from the repo's"
