"""The operators' view of the signing jobs (issue 12): GET /api/v1/issuance-queue, through nginx.

Jobs are made the real way (counter applications paid at the counter: issuing with a job
queued) and moved through the stages by the API where the web side moves them (the key
request), by SQL where only a signer would (claimed by a given name, failed), and by the
stack's certhall-signer (done), so the stages the list shows are checked against the job's
row. The signer is stopped while a job must stay `ready`.
"""

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

import issuance_tools as I
from issuance_tools import clerk, operator, reviewer  # noqa: F401  (fixtures)
import test_review as R
from conftest import assert_problem
from principals import principals, sql  # noqa: F401  (the fixture)
from test_payments import wait_status

QUEUE = "/api/v1/issuance-queue"


def walk(principal, **query):
    items, cursor = [], None
    for _ in range(500):
        resp = principal.get(QUEUE, params={**query, **({"cursor": cursor} if cursor else {})})
        assert resp.status_code == 200, resp.content[:300]
        items += resp.body["items"]
        cursor = resp.body["next_cursor"]
        if cursor is None:
            return items
    pytest.fail("the queue did not end")


def find(items, job_id):
    found = [i for i in items if i["job_id"] == job_id]
    return found[0] if found else None


def test_stages_follow_the_job(principals, operator, clerk, reviewer, stackctl):  # noqa: F811
    apps = [I.counter_issuing(clerk, reviewer) for _ in range(4)]
    jobs = [I.job_of(a["id"])["id"] for a in apps]

    items = walk(operator, limit=2)
    ids = [i["job_id"] for i in items]
    assert ids == sorted(ids), "oldest first"
    for app, job_id in zip(apps, jobs):
        item = find(items, job_id)
        assert item is not None, f"job {job_id} is not listed"
        assert item["stage"] == "waiting_for_key" and item["kind"] == "new", item
        assert item["application_id"] == app["id"] and item["unit_name"] == I.UNIT, item
        assert item["certificate_type"] == "org" and item["csr_submitted_at"] is None, item

    # ready: the station's key request.
    with_key = apps[0]
    usb = I.bind_usb_key(with_key["id"], operator.info["staff_id"])
    csr = I.software_csr(rsa.generate_private_key(public_exponent=65537, key_size=2048),
                         I.subject_name("org"))
    with I.signer_paused(stackctl):
        resp = operator.post_json(f"/api/v1/applications/{with_key['id']}/csr",
                                  {"csr": csr, "usb_key_serial": usb})
        assert resp.status_code == 202, resp.content[:300]
        assert find(walk(operator, stage="ready"), jobs[0]) == resp.body

    # claimed, failed: as the signer leaves them.
    sql("UPDATE signing_job SET status = 'claimed', claimed_by = 'signer-test:1',"
        " lease_until = now() + interval '60 seconds', attempts = 1 WHERE id = %s", (jobs[1],))
    sql("UPDATE signing_job SET status = 'failed', failed_at = now(), attempts = 1,"
        " last_error = 'lint validity.issuer: not_after is after the issuing CA''s'"
        " WHERE id = %s", (jobs[2],))
    items = walk(operator, limit=100)
    claimed, failed = find(items, jobs[1]), find(items, jobs[2])
    assert claimed["stage"] == "claimed" and claimed["claimed_by"] == "signer-test:1", claimed
    assert claimed["lease_until"] and claimed["attempts"] == 1, claimed
    assert failed["stage"] == "failed" and "validity.issuer" in failed["last_error"], failed
    assert failed["failed_at"], failed
    assert [i["job_id"] for i in walk(operator, stage="failed")].count(jobs[2]) == 1
    assert find(walk(operator, stage="waiting_for_key"), jobs[1]) is None

    # done (the signer, back, took it): with the certificate; not among the open ones.
    wait_status(operator, with_key["id"], "issued")
    serial = sql("SELECT serial FROM certificate WHERE job_id = %s", (jobs[0],))[0][0]
    assert find(walk(operator, limit=100), jobs[0]) is None
    done = find(walk(operator, stage="done", limit=100), jobs[0])
    assert done["stage"] == "done" and done["certificate_serial"] == serial, done

    # cancelled (a refund before a signer took it).
    sql("UPDATE signing_job SET status = 'cancelled' WHERE id = %s", (jobs[3],))
    assert find(walk(operator, stage="cancelled", limit=100), jobs[3])["stage"] == "cancelled"
    assert find(walk(operator), jobs[3]) is None


def test_only_issuance_jobs_are_listed(principals, operator):  # noqa: F811
    """Revoke and unlock jobs belong to revocation: not in this queue."""
    owner = principals.new_applicant(name="applicant (queue)")
    app = R.submitted(owner, business="revoke")
    job_id = sql("INSERT INTO signing_job (application_id, kind, payload) VALUES (%s, 'revoke',"
                 " %s) RETURNING id", (app["id"], json.dumps({"v": 1})))[0][0]
    for stage in (None, "waiting_for_key", "ready"):
        query = {"stage": stage} if stage else {}
        assert find(walk(operator, limit=100, **query), job_id) is None, stage


def test_kind_filter(operator, clerk, reviewer):
    reissue = I.counter_issuing(clerk, reviewer, business="reissue")
    job_id = I.job_of(reissue["id"])["id"]
    assert find(walk(operator, kind="reissue", limit=100), job_id)["kind"] == "reissue"
    assert find(walk(operator, kind="new", limit=100), job_id) is None
    assert {i["kind"] for i in walk(operator, kind="reissue", limit=100)} == {"reissue"}


def test_admins_read_others_do_not(principals):  # noqa: F811
    assert principals.staff("admin").get(QUEUE).status_code == 200
    for role in ("reviewer", "finance", "counter"):
        assert_problem(principals.staff(role).get(QUEUE), 403, "forbidden")
    assert_problem(principals.applicant("A").get(QUEUE), 403, "forbidden")
    assert_problem(principals.anonymous().get(QUEUE), 401, "unauthorized")


@pytest.mark.parametrize("query,parameter", [
    ({"stage": "queued"}, "stage"),
    ({"kind": "revoke"}, "kind"),
    ({"limit": "0"}, "limit"),
    ({"cursor": "not-ours"}, "cursor"),
    ({"status": "ready"}, "status"),
])
def test_bad_query_is_422_naming_the_parameter(operator, query, parameter):
    body = assert_problem(operator.get(QUEUE, params=query), 422, "invalid-field")
    assert body["parameter"] == parameter, body
