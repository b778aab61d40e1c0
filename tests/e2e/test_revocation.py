"""Revocation and CRLs (issue 13): a settled revoke application, staff with the admin role,
and the CRLs certhall-signer publishes, read through nginx at the URL the certificates carry
in their CRL distribution point.

The certificates are issued by the stack's own signer from jobs made with SQL
(signer_jobs.py); the revoke application is made the way settlement leaves it (issuing, its
job queued without a key request). Every check of a CRL is stock OpenSSL's: `openssl verify
-crl_check -CRLfile`, `openssl crl -text`, `openssl crl -CAfile` (the signature), never
certhall's code.
"""

import re
import secrets
import subprocess
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509

import signer_jobs as sj
from conftest import assert_problem, require_env
from principals import principals, sql  # noqa: F401

CRL_PATH = "/crl/issuing.crl"
ROOT_CRL_PATH = "/crl/root.crl"


@pytest.fixture(scope="module")
def chain():
    with tempfile.TemporaryDirectory(prefix="revocation-chain-") as d:
        yield sj.Chain(d)


@pytest.fixture(scope="module")
def key():
    return sj.new_key("p256")


@pytest.fixture(scope="module")
def admin(principals):
    return principals.admin()


@pytest.fixture(scope="module")
def anonymous(principals):
    return principals.anonymous()


def issue(key, n=1):
    """n certificates issued by the stack's signer (new, org); their rows."""
    with sj.connect() as conn, conn.cursor() as cur:
        jobs = [sj.make_job(cur, "new", "org", sj.csr_for(key, sj.UNIT), years=1)
                for _ in range(n)]
        sj.notify(cur)
    sj.wait_jobs([j.id for j in jobs], timeout=180)
    rows = []
    for job in jobs:
        r = sj.sql("SELECT id, serial, der, application_id FROM certificate WHERE job_id = %s",
                   (job.id,))
        assert len(r) == 1, f"job {job.id}: no certificate"
        rows.append({"id": r[0][0], "serial": r[0][1], "der": bytes(r[0][2]),
                     "application_id": r[0][3], "phone": job.phone})
    return rows


def revoke_application(cert, reason="keyCompromise"):
    """A revoke application for cert as settlement leaves it (issuing, its job queued);
    returns its id."""
    with sj.connect() as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO application (applicant_id, channel, business_type, certificate_type,"
            " certificate_id, status, unit_name, credit_code, handler_name, handler_phone,"
            " handler_id_number, verified_at, settled_at, submitted_at, revocation_reason)"
            " SELECT c.applicant_id, 'online', 'revoke', 'org', c.id, 'issuing', c.unit_name,"
            "  c.credit_code, '王五', %s, %s, now(), now(), now(), %s"
            " FROM certificate c WHERE c.id = %s RETURNING id",
            (cert["phone"], sj.id_number("19800101"), reason, cert["id"]))
        app = cur.fetchone()[0]
        cur.execute(sj.PAYLOAD_SQL, (None, None, None, app))
        sj.notify(cur)
    return app


def app_status(app):
    return sj.sql("SELECT status FROM application WHERE id = %s", (app,))[0][0]


def wait_for(predicate, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def published(cert_ids):
    """{certificate id: crl_number} once every one of them is published, else None."""
    rows = dict(sj.sql("SELECT id, crl_number FROM certificate WHERE id = ANY(%s)",
                       (list(cert_ids),)))
    return rows if all(rows.get(i) is not None for i in cert_ids) else None


def fetch_crl(client, path=CRL_PATH):
    resp = client.get(path)
    assert resp.status_code == 200, (resp.status_code, resp.content[:300])
    assert resp.headers["Content-Type"] == "application/pkix-crl", resp.headers
    return resp.content


def crl_text(der):
    return subprocess.run(["openssl", "crl", "-inform", "DER", "-noout", "-text"],
                             input=der, capture_output=True, check=True).stdout.decode()


def crl_number(der):
    m = re.search(r"X509v3 CRL Number:\s*\n\s*(\d+)", crl_text(der))
    assert m, crl_text(der)
    return int(m.group(1))


def listed(der):
    """{serial (lowercase hex): (revocation date text, reason text or None)}."""
    text = crl_text(der)
    out = {}
    for block in re.split(r"\n\s*Serial Number: ", text)[1:]:
        serial = block.split("\n", 1)[0].strip().lower().lstrip("0")
        date = re.search(r"Revocation Date: (.+)", block).group(1).strip()
        reason = re.search(r"X509v3 CRL Reason Code:\s*\n\s*(.+)", block)
        out[serial] = (date, reason.group(1).strip() if reason else None)
    return out


def verify(chain, cert_der, crl_der, workdir):
    """`openssl verify -crl_check -CRLfile` of the certificate; (ok, output)."""
    d = Path(workdir)
    leaf = d / "leaf.pem"
    leaf.write_bytes(sj.pem(cert_der))
    crl = d / "crl.pem"
    crl.write_bytes(subprocess.run(["openssl", "crl", "-inform", "DER", "-outform", "PEM"],
                                   input=crl_der, capture_output=True, check=True).stdout)
    out = subprocess.run(["openssl", "verify", "-crl_check", "-CAfile", str(chain.root_pem),
                          "-untrusted", str(chain.issuing_pem), "-CRLfile", str(crl),
                          str(leaf)], capture_output=True, text=True)
    return out.returncode == 0, out.stdout + out.stderr


def crl_signature_ok(chain, der, issuer_pem):
    out = subprocess.run(["openssl", "crl", "-inform", "DER", "-noout", "-CAfile",
                          str(issuer_pem)], input=der, capture_output=True)
    return out.returncode == 0 and b"verify OK" in out.stdout + out.stderr


def serial_of(cert):
    return cert["serial"].lstrip("0")


# ---------------------------------------------------------------------------------
# A settled revoke application
# ---------------------------------------------------------------------------------

def test_revoke_application_is_published_in_the_crl(chain, key, anonymous, tmp_path):
    cert = issue(key)[0]
    # The URL the certificate names is the one served.
    dp = x509.load_der_x509_certificate(cert["der"]).extensions.get_extension_for_class(
        x509.CRLDistributionPoints).value[0].full_name[0].value
    assert dp == require_env("CERTHALL_CA_BASE_URL") + CRL_PATH, dp

    before = wait_for(lambda: sj.sql("SELECT count(*) FROM crl WHERE scope = 'issuing'")[0][0],
                      what="a first CRL")
    assert before
    der_before = fetch_crl(anonymous)
    assert crl_signature_ok(chain, der_before, chain.issuing_pem)
    ok, out = verify(chain, cert["der"], der_before, tmp_path)
    assert ok and out.strip().endswith(": OK"), out
    number_before = crl_number(der_before)

    app = revoke_application(cert, "keyCompromise")
    wait_for(lambda: app_status(app) == "completed", what="the revoke application completed")

    row = sj.sql("SELECT status, revocation_reason, revoked_at, crl_number FROM certificate"
                 " WHERE id = %s", (cert["id"],))[0]
    assert row[0] == "revoked" and row[1] == "keyCompromise", row
    assert row[3] is not None and row[3] > number_before, row
    # Completed only once the CRL listing it was stored: that CRL is on record.
    stored = sj.sql("SELECT der FROM crl WHERE number = %s", (row[3],))
    assert len(stored) == 1
    assert serial_of(cert) in listed(bytes(stored[0][0]))

    der_after = fetch_crl(anonymous)
    assert crl_signature_ok(chain, der_after, chain.issuing_pem)
    assert crl_number(der_after) >= row[3] > number_before
    entries = listed(der_after)
    assert serial_of(cert) in entries, entries
    date, reason = entries[serial_of(cert)]
    assert reason == "Key Compromise", entries[serial_of(cert)]
    revoked_at = row[2].astimezone(timezone.utc)
    assert date == revoked_at.strftime("%b %e %H:%M:%S %Y GMT"), (date, revoked_at)
    ok, out = verify(chain, cert["der"], der_after, tmp_path)
    assert not ok and "certificate revoked" in out, out

    # The application: issuing -> issued (revocation recorded) -> completed (published),
    # with its audit events and the SMS.
    hist = [r[0] for r in sj.sql("SELECT to_status FROM application_history"
                                 " WHERE application_id = %s ORDER BY id", (app,))]
    assert hist[-2:] == ["issued", "completed"], hist
    assert sj.sql("SELECT status FROM signing_job WHERE application_id = %s", (app,)) == [("done",)]
    actions = [r[0] for r in sj.sql(
        "SELECT action FROM audit_event WHERE (object_type = 'certificate' AND object_id = %s)"
        " OR (object_type = 'application' AND object_id = %s) ORDER BY id",
        (str(cert["id"]), str(app)))]
    assert "certificate.revoked" in actions and "application.completed" in actions, actions
    sms = sj.sql("SELECT template FROM outbox WHERE recipient = %s AND template = 'revoked'",
                 (cert["phone"],))
    assert sms, "no SMS about the revocation"


def test_crl_cache_headers_and_304(anonymous):
    resp = anonymous.get(CRL_PATH)
    assert resp.status_code == 200
    der = resp.content
    text = crl_text(der)
    this_update = datetime.strptime(re.search(r"Last Update: (.+)", text).group(1).strip(),
                                    "%b %d %H:%M:%S %Y GMT").replace(tzinfo=timezone.utc)
    next_update = datetime.strptime(re.search(r"Next Update: (.+)", text).group(1).strip(),
                                    "%b %d %H:%M:%S %Y GMT").replace(tzinfo=timezone.utc)
    assert next_update - this_update == timedelta(days=7), (this_update, next_update)
    assert resp.headers["Last-Modified"] == this_update.strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert resp.headers["Cache-Control"] == "public, max-age=300, no-transform"
    etag = resp.headers["ETag"]
    again = anonymous.get(CRL_PATH, headers={"If-None-Match": etag})
    if again.headers["ETag"] == etag:      # no new CRL in between
        assert again.status_code == 304 and again.content == b"", again.status_code
    other = anonymous.get(CRL_PATH, headers={"If-None-Match": '"0000"'})
    assert other.status_code == 200 and other.content


def test_root_crl_is_served_and_signed_by_the_root(chain, anonymous):
    der = fetch_crl(anonymous, ROOT_CRL_PATH)
    assert crl_signature_ok(chain, der, chain.root_pem)
    assert listed(der) == {}
    dp = chain.issuing.extensions.get_extension_for_class(
        x509.CRLDistributionPoints).value[0].full_name[0].value
    assert dp == require_env("CERTHALL_CA_BASE_URL") + ROOT_CRL_PATH


def test_unknown_crl_is_404(anonymous):
    for path in ("/crl/other.crl", "/crl/issuing", "/crl/issuing.crl.pem"):
        resp = anonymous.get(path)
        assert_problem(resp, 404, "not-found")


# ---------------------------------------------------------------------------------
# Staff with the admin role
# ---------------------------------------------------------------------------------

def test_admin_revokes_with_reason_and_audit(chain, key, admin, anonymous, tmp_path):
    cert = issue(key)[0]
    path = f"/api/v1/certificates/{cert['serial']}/revocation"

    resp = admin.post_json(path, {"reason": "certificateHold"})
    assert_problem(resp, 422, "invalid-field", field="/reason")
    resp = admin.post_json(path, {"reason": "keyCompromise", "extra": 1})
    assert_problem(resp, 422, "unknown-field", field="/extra")
    resp = admin.post_json("/api/v1/certificates/00000000000000000000000000000001/revocation",
                           {"reason": "keyCompromise"})
    assert_problem(resp, 404, "not-found")
    assert sj.sql("SELECT status FROM certificate WHERE id = %s", (cert["id"],)) == [("valid",)]

    resp = admin.post_json(path, {"reason": "keyCompromise", "note": "USB key stolen"})
    assert resp.status_code == 200, resp.body
    assert resp.body["status"] == "revoked"
    assert resp.body["revocation"]["reason"] == "keyCompromise"
    audit = sj.sql("SELECT actor_kind, detail->>'reason', detail->>'note' FROM audit_event"
                   " WHERE action = 'certificate.revoked' AND object_id = %s",
                   (str(cert["id"]),))
    assert audit == [("staff", "keyCompromise", "USB key stolen")], audit
    assert sj.sql("SELECT count(*) FROM outbox WHERE recipient = %s"
                  " AND template = 'certificate_revoked'", (cert["phone"],)) == [(1,)]

    resp = admin.post_json(path, {"reason": "superseded"})
    assert_problem(resp, 409, "conflict")
    assert resp.body["certificate_status"] == "revoked"

    number = wait_for(lambda: published([cert["id"]]), what="the revocation published")
    der = fetch_crl(anonymous)
    assert crl_number(der) >= number[cert["id"]]
    assert listed(der)[serial_of(cert)][1] == "Key Compromise"
    ok, out = verify(chain, cert["der"], der, tmp_path)
    assert not ok and "certificate revoked" in out, out


def test_burst_of_revocations_coalesces(key, anonymous):
    """Eight revocations committed one after the other within a moment (each its own
    transaction and NOTIFY, as eight admins or applications would) go into one CRL, or two
    when the burst straddles the signer's moment of waiting."""
    certs = issue(key, 8)
    first = sj.sql("SELECT coalesce(max(number), 0) FROM crl")[0][0]
    with sj.connect() as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            for cert in certs:
                cur.execute("UPDATE certificate SET status = 'revoked', revoked_at = now(),"
                            " revocation_reason = 'cessationOfOperation' WHERE id = %s"
                            " RETURNING pg_notify('revocation', id::text)", (cert["id"],))
    numbers = wait_for(lambda: published([c["id"] for c in certs]), what="the burst published")
    made = sj.sql("SELECT count(*) FROM crl WHERE scope = 'issuing' AND number > %s",
                  (first,))[0][0]
    assert len(set(numbers.values())) <= 2 and made <= 2, (numbers, made)
    entries = listed(fetch_crl(anonymous))
    for cert in certs:
        assert entries[serial_of(cert)][1] == "Cessation Of Operation"


def test_revoked_just_before_expiry_is_listed_once_after(key, admin, chain):
    """A certificate revoked moments before its notAfter is in the first CRL made after
    notAfter, and the next one leaves it out."""
    issuer_id = sj.sql("SELECT id FROM ca_certificate WHERE role = 'issuing' AND active")[0][0]
    serial = secrets.token_hex(16)
    soon = sj.sql(
        "INSERT INTO certificate (serial, certificate_type, unit_name, credit_code,"
        " not_before, not_after, status, revoked_at, revocation_reason, issuer_id)"
        " VALUES (%s, 'org', %s, %s, now() - interval '1 year', now() + interval '6 seconds',"
        " 'revoked', now(), 'keyCompromise', %s) RETURNING id, not_after",
        (serial, sj.UNIT, sj.credit_code(), issuer_id))
    cert_id, not_after = soon[0]
    sj.sql("SELECT pg_notify('revocation', %s)", (str(cert_id),))
    wait_for(lambda: published([cert_id]), what="the revocation published")
    time.sleep(max(0.0, (not_after - datetime.now(timezone.utc)).total_seconds()) + 1.5)

    def next_crl_after(number):
        other = issue(key)[0]
        resp = admin.post_json(f"/api/v1/certificates/{other['serial']}/revocation",
                               {"reason": "unspecified"})
        assert resp.status_code == 200
        got = wait_for(lambda: published([other["id"]]), what="a new CRL")[other["id"]]
        assert got > number
        row = sj.sql("SELECT der, this_update FROM crl WHERE number = %s", (got,))[0]
        return got, bytes(row[0]), row[1]

    last = sj.sql("SELECT max(number) FROM crl WHERE scope = 'issuing'")[0][0]
    number, der, this_update = next_crl_after(last)
    assert this_update > not_after, (this_update, not_after)
    assert serial.lstrip("0") in listed(der), "not in the first CRL after its notAfter"
    number, der, this_update = next_crl_after(number)
    assert serial.lstrip("0") not in listed(der), "still listed by the CRL after that"


# ---------------------------------------------------------------------------------
# Reissue and change: the superseded certificate is published the same way
# ---------------------------------------------------------------------------------

def superseding_application(cert, key, business):
    """A reissue or change of cert as settlement and the key request leave it (issuing,
    its job ready with a CSR); returns the job id."""
    with sj.connect() as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO application (applicant_id, channel, business_type, certificate_type,"
            " certificate_id, status, unit_name, credit_code, handler_name, handler_phone,"
            " handler_id_number, paid_at, verified_at, settled_at, submitted_at)"
            " SELECT c.applicant_id, 'online', %s, 'org', c.id, 'issuing', c.unit_name,"
            "  c.credit_code, '王五', %s, %s, now(), now(), now(), now()"
            " FROM certificate c WHERE c.id = %s RETURNING id",
            (business, cert["phone"], sj.id_number("19800101"), cert["id"]))
        app = cur.fetchone()[0]
        csr = sj.csr_for(key, sj.UNIT)
        cur.execute(sj.PAYLOAD_SQL, (csr, csr, None, app))
        job = cur.fetchone()[0]
        sj.notify(cur)
    return job


@pytest.mark.parametrize("business", ["reissue", "change"])
def test_superseded_certificate_is_published(chain, key, anonymous, tmp_path, business):
    old = issue(key)[0]
    ok, out = verify(chain, old["der"], fetch_crl(anonymous), tmp_path)
    assert ok, out
    job = superseding_application(old, key, business)
    sj.wait_jobs([job], timeout=120)
    new = sj.sql("SELECT id, der FROM certificate WHERE job_id = %s", (job,))[0]
    row = sj.sql("SELECT status, revocation_reason FROM certificate WHERE id = %s",
                 (old["id"],))[0]
    assert row == ("revoked", "superseded"), row
    number = wait_for(lambda: published([old["id"]]), what="the superseded one published")
    der = fetch_crl(anonymous)
    assert crl_number(der) >= number[old["id"]]
    assert listed(der)[serial_of(old)][1] == "Superseded"
    ok, out = verify(chain, old["der"], der, tmp_path)
    assert not ok and "certificate revoked" in out, out
    # The new certificate is good under the same CRL.
    ok, out = verify(chain, bytes(new[1]), der, tmp_path)
    assert ok, out


# Last: by now the numbers have passed 9.
def revoked_row():
    """A revoked certificate of the issuing CA as a row only (a CRL needs no DER), its
    NOTIFY sent; returns its id."""
    issuer_id = sj.sql("SELECT id FROM ca_certificate WHERE role = 'issuing' AND active")[0][0]
    return sj.sql(
        "WITH c AS (INSERT INTO certificate (serial, certificate_type, unit_name, credit_code,"
        " not_before, not_after, status, revoked_at, revocation_reason, issuer_id)"
        " VALUES (%s, 'org', %s, %s, now() - interval '1 year', now() + interval '1 year',"
        " 'revoked', now(), 'keyCompromise', %s) RETURNING id)"
        " SELECT id, pg_notify('revocation', id::text) FROM c",
        (secrets.token_hex(16), sj.UNIT, sj.credit_code(), issuer_id))[0][0]


def test_crl_refreshed_well_before_next_update(stackctl, monkeypatch, anonymous):
    """With short periods (a refresh every 2 s, valid 10 s) the signer makes new CRLs without
    any revocation, each before the previous one's nextUpdate; the cache headers follow the
    validity."""
    monkeypatch.setenv("CERTHALL_CRL_REFRESH_S", "2")
    monkeypatch.setenv("CERTHALL_CRL_VALIDITY_S", "10")
    stackctl.run("signer-stop")
    try:
        stackctl.run("signer-start")
        start = sj.sql("SELECT max(number) FROM crl WHERE scope = 'issuing'")[0][0]

        def made():
            rows = sj.sql("SELECT number, this_update, next_update FROM crl"
                          " WHERE scope = 'issuing' AND number > %s ORDER BY number", (start,))
            return rows if len(rows) >= 3 else None
        rows = wait_for(made, timeout=30, what="three CRLs on the short schedule")
        for number, this_update, next_update in rows:
            assert next_update - this_update == timedelta(seconds=10), (number, this_update)
        for (_, t0, n0), (_, t1, _) in zip(rows, rows[1:]):
            assert t1 < n0 - timedelta(seconds=5), (t0, n0, t1)
        resp = anonymous.get(CRL_PATH)
        age = int(re.search(r"max-age=(\d+)", resp.headers["Cache-Control"]).group(1))
        assert 0 <= age <= 10, resp.headers["Cache-Control"]
    finally:
        monkeypatch.undo()
        stackctl.run("signer-stop")
        stackctl.run("signer-start")
    # Back to the defaults: the next CRL is valid 7 days again.
    cert_id = revoked_row()
    number = wait_for(lambda: published([cert_id]), what="a CRL after the restart")[cert_id]
    row = sj.sql("SELECT next_update - this_update FROM crl WHERE number = %s", (number,))[0]
    assert row[0] == timedelta(days=7), row


def test_crl_number_grows(anonymous):
    # More than ten CRLs, whatever ran before.
    while sj.sql("SELECT count(*) FROM crl WHERE scope = 'issuing'")[0][0] < 12:
        cert_id = revoked_row()
        wait_for(lambda: published([cert_id]), what="one more CRL")
    numbers = [r[0] for r in sj.sql("SELECT number FROM crl WHERE scope = 'issuing'"
                                    " ORDER BY created_at, id")]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers), numbers
    # Past 9 as well (the newest is the highest number, not the last in text order).
    assert numbers[-1] >= 10, numbers
    assert crl_number(fetch_crl(anonymous)) == numbers[-1]
    # Every CRL stays on record; the DER of the newest ten of a scope only.
    kept = sj.sql("SELECT count(*) FILTER (WHERE der IS NOT NULL), count(*),"
                  " bool_and(der IS NOT NULL) FILTER (WHERE number >= %s)"
                  " FROM crl WHERE scope = 'issuing'", (numbers[-10],))[0]
    assert kept == (10, len(numbers), True), kept


def test_revoke_application_takes_its_reason(principals):  # noqa: F811
    """The reason a revoke gives is a field of the application (what the signer revokes
    with, test_revoke_application_is_published_in_the_crl); other business refuse it."""
    import test_review as R
    alice = principals.applicant("revoker")
    subject = {"credit_code": R.credit_code(), "holder_id_number": R.id_number()}
    cert_id = R.insert_certificate("org", subject)
    body = R.application_body(business="revoke", cert="org", subject=subject,
                              certificate_id=cert_id)
    resp = alice.post_json("/api/v1/applications", {**body, "revocation_reason": "certificateHold"})
    assert_problem(resp, 422, "invalid-field", field="/revocation_reason")
    resp = alice.post_json("/api/v1/applications", {**body, "revocation_reason": "keyCompromise"})
    assert resp.status_code == 201, resp.body
    assert resp.body["revocation_reason"] == "keyCompromise"
    app = resp.body
    resp = alice.send_json("PATCH", f"/api/v1/applications/{app['id']}",
                           {"revocation_reason": "cessationOfOperation"},
                           headers={"If-Match": f'"v{app["version"]}"'})
    assert resp.status_code == 200, resp.body
    assert resp.body["revocation_reason"] == "cessationOfOperation"
    assert sj.sql("SELECT revocation_reason FROM application WHERE id = %s",
                  (app["id"],)) == [("cessationOfOperation",)]
    other = R.application_body(business="new", cert="org")
    resp = alice.post_json("/api/v1/applications", {**other, "revocation_reason": "keyCompromise"})
    assert_problem(resp, 422, "invalid-field", field="/revocation_reason")
