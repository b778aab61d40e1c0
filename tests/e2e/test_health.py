"""GET /api/v1/health while the stack is up (the database-down case is in test_zz_resilience)."""

import datetime
import re


def test_health_is_200_ok(client):
    resp = client.get("/api/v1/health")
    assert resp.status_code == 200, f"health: {resp.status_code} {resp.content[:300]!r}"
    assert resp.body["status"] == "ok"
    # The stack runs certhall-signer; its outage is test_zz_signer_token's.
    assert resp.body["checks"] == {"database": "ok", "signer": "ok"}


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
