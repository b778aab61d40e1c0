"""certhall-signer itself (issue 12): what it issues for every profile and business, what
it refuses to issue, the CA it set up, the SO PINs it answers, and who may read its keys.

Jobs are made ready with SQL (signer_jobs.py) and the stack's own signer issues them; the
certificates are judged by stock `openssl verify` / `openssl x509 -text` and by
python3-cryptography, never by certhall's code. The signer is killed, restarted, doubled
and deprived of its token in test_zz_signer_*.py.
"""

import hashlib
import json
import os
import pwd
import re
import subprocess
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

import signer_jobs as sj
from conftest import require_env


@pytest.fixture(scope="module")
def chain():
    with tempfile.TemporaryDirectory(prefix="signer-chain-") as d:
        yield sj.Chain(d)


@pytest.fixture(scope="module")
def keys():
    """One subscriber key of each kind the CA accepts (made once: RSA takes a while)."""
    made = {kind: sj.new_key(kind) for kind in ("rsa2048", "p256", "sm2")}
    yield made
    os.unlink(made["sm2"])


def stack_path():
    return Path(require_env("CERTHALL_STACK"))


def base_url():
    return require_env("CERTHALL_CA_BASE_URL")


# ---------------------------------------------------------------------------------
# Every profile and business
# ---------------------------------------------------------------------------------

CASES = [(b, t, k) for b in ("new", "renew", "reissue", "change")
         for t in ("org", "personal") for k in ("rsa2048", "p256", "sm2")]


@pytest.fixture(scope="module")
def issued(keys):
    """Every case as one burst of ready jobs; waits until the signer has done them all."""
    jobs = []
    now = datetime.now(timezone.utc)
    with sj.connect() as conn, conn.cursor() as cur:
        for business, cert_type, kind in CASES:
            cn = sj.PERSON if cert_type == "personal" else sj.UNIT
            # renew within its window (old not_after in 20 days), reissue/change keep a
            # not_after 3 years and a bit away.
            old = None
            if business == "renew":
                old = now + timedelta(days=20)
            elif business in ("reissue", "change"):
                old = now + timedelta(days=3 * 365 + 17, seconds=123)
            job = sj.make_job(cur, business, cert_type, sj.csr_for(keys[kind], cn),
                              years=2 if business == "new" else 1, old_not_after=old)
            job.kind = kind
            jobs.append(job)
        before = time.time()
        sj.notify(cur)
    sj.wait_jobs([j.id for j in jobs], timeout=180)
    after = time.time()
    return jobs, before, after


def cert_row(job_id):
    rows = sj.sql(
        "SELECT id, serial, der, certificate_type, unit_name, credit_code, holder_name,"
        " holder_id_number, status, usb_key_serial, registered_phone, application_id,"
        " applicant_id, issuer_id, key_algorithm, subject, supersedes, not_before, not_after"
        " FROM certificate WHERE job_id = %s", (job_id,))
    assert len(rows) == 1, f"job {job_id}: {len(rows)} certificates"
    keys = ("id", "serial", "der", "certificate_type", "unit_name", "credit_code",
            "holder_name", "holder_id_number", "status", "usb_key_serial",
            "registered_phone", "application_id", "applicant_id", "issuer_id",
            "key_algorithm", "subject", "supersedes", "not_before", "not_after")
    row = dict(zip(keys, rows[0]))
    row["der"] = bytes(row["der"])
    return row


@pytest.mark.parametrize("business,cert_type,kind", CASES)
def test_issued_certificate_verifies_and_fits(issued, chain, business, cert_type, kind):
    jobs, before, after = issued
    job = next(j for j in jobs if (j.business, j.cert_type, j.kind) == (business, cert_type, kind))
    row = cert_row(job.id)
    # openssl: the chain, strict, with the policy; and what -text shows
    chain.verify(row["der"], name=f"{business}-{cert_type}-{kind}")
    sj.check_text(chain.text(row["der"]), job)
    # python3-cryptography: every field and extension
    cert = sj.check_subscriber(row["der"], chain, job, base_url(), before, after)
    # the row matches the certificate
    assert row["serial"] == cert.serial_number.to_bytes(20, "big").lstrip(b"\0").hex()
    assert row["certificate_type"] == cert_type and row["status"] == "valid"
    assert row["unit_name"] == job.unit and row["credit_code"] == job.credit
    assert (row["holder_name"], row["holder_id_number"]) == (job.holder, job.holder_id)
    assert row["registered_phone"] == job.phone
    assert row["application_id"] == job.application_id
    assert row["applicant_id"] == job.applicant_id
    assert row["key_algorithm"] == {"rsa2048": "rsa", "p256": "ec-p256", "sm2": "sm2"}[kind]
    assert row["not_before"] == cert.not_valid_before.replace(tzinfo=timezone.utc)
    assert row["not_after"] == cert.not_valid_after.replace(tzinfo=timezone.utc)
    issuer = sj.sql("SELECT id FROM ca_certificate WHERE role = 'issuing' AND active")[0][0]
    assert row["issuer_id"] == issuer
    # RFC 4514 text: the last RDN first, UTF-8 kept
    want = [f"organizationIdentifier=NTRCN-{job.credit}", f"O={job.unit}", "C=CN"]
    if cert_type == "personal":
        want = [f"serialNumber=IDCCN-{job.holder_id}", f"CN={job.holder}"] + want
    else:
        want = [f"CN={job.unit}"] + want
    assert row["subject"] == ",".join(want), row["subject"]
    # the application, its history, audit, SMS; the job and its serial
    status, = sj.sql("SELECT status FROM application WHERE id = %s", (job.application_id,))[0]
    assert status == "issued"
    hist = sj.sql("SELECT from_status, to_status, actor_kind FROM application_history"
                  " WHERE application_id = %s ORDER BY id", (job.application_id,))
    assert hist[-1] == ("issuing", "issued", "system")
    audit = sj.sql("SELECT detail FROM audit_event WHERE action = 'application.issued'"
                   " AND object_id = %s", (str(job.application_id),))
    assert len(audit) == 1
    assert audit[0][0]["serial"] == row["serial"] and audit[0][0]["job_id"] == job.id
    sms = sj.sql("SELECT recipient, template, body FROM outbox WHERE recipient = %s"
                 " AND template = 'issued'", (job.phone,))
    assert len(sms) == 1 and sms[0][2].startswith("【四川CA】") and \
        str(job.application_id) in sms[0][2]
    jstatus, done_at, last_error = sj.sql(
        "SELECT status, done_at, last_error FROM signing_job WHERE id = %s", (job.id,))[0]
    assert jstatus == "done" and done_at is not None and last_error is None
    serials = sj.sql("SELECT serial, outcome, tbs IS NOT NULL FROM certificate_serial"
                     " WHERE job_id = %s", (job.id,))
    assert [(s, o) for s, o, _ in serials if o == "issued"] == [(row["serial"], "issued")]
    assert all(has_tbs for _, o, has_tbs in serials if o == "issued")
    # the stored TBS is byte for byte the certificate's
    tbs, = sj.sql("SELECT tbs FROM certificate_serial WHERE serial = %s", (row["serial"],))[0]
    assert bytes(tbs) == cert.tbs_certificate_bytes
    # reissue and change supersede the old certificate, revoked as superseded
    old = sj.sql("SELECT status, revocation_reason, revoked_at FROM certificate WHERE id = %s",
                 (job.old_id,))[0] if job.old_id else None
    if business in ("reissue", "change"):
        assert row["supersedes"] == job.old_id
        assert old[0] == "revoked" and old[1] == "superseded" and old[2] is not None
        revoked = sj.sql("SELECT detail FROM audit_event WHERE action = 'certificate.revoked'"
                         " AND object_id = %s", (str(job.old_id),))
        assert len(revoked) == 1 and revoked[0][0]["reason"] == "superseded"
    else:
        assert row["supersedes"] is None
        if old:
            assert old[0] == "valid"


def test_serials_distinct_and_unguessable(issued):
    jobs, _, _ = issued
    serials = [cert_row(j.id)["serial"] for j in jobs]
    assert len(set(serials)) == len(serials)
    assert all(len(s) >= 16 for s in serials)


# ---------------------------------------------------------------------------------
# Jobs that cannot succeed
# ---------------------------------------------------------------------------------

def test_jobs_that_cannot_succeed_fail_with_the_reason(keys):
    now = datetime.now(timezone.utc)
    weak = sj.new_key("rsa1024")
    with sj.connect() as conn, conn.cursor() as cur:
        cases = {
            # renew of a certificate with a year left: longer than the years paid plus
            # the renewal window, which the lint refuses
            "lint": sj.make_job(cur, "renew", "org", sj.csr_for(keys["p256"], sj.UNIT),
                                years=1, old_not_after=now + timedelta(days=365)),
            # a request whose key certhall refuses (the API refuses it too; the signer's
            # lint is the second line)
            "key": sj.make_job(cur, "new", "org", sj.csr_for(weak, sj.UNIT)),
            # a request that is not one
            "csr": sj.make_job(cur, "new", "org", b"\x30\x03\x02\x01\x00"),
            # a row the database refuses (the API would have refused this phone): that
            # job's writes are rolled back to its savepoint, the others' stand
            "database": sj.make_job(cur, "new", "org", sj.csr_for(keys["p256"], sj.UNIT),
                                    phone="0000"),
            # a reissue of a certificate that runs more than five years
            "validity": sj.make_job(cur, "reissue", "org", sj.csr_for(keys["p256"], sj.UNIT),
                                    old_not_after=now + timedelta(days=6 * 366)),
        }
        good = sj.make_job(cur, "new", "org", sj.csr_for(keys["p256"], sj.UNIT))
        sj.notify(cur)
    sj.wait_jobs([j.id for j in cases.values()], statuses=("failed",), timeout=60,
                 what="jobs failed")
    sj.wait_jobs([good.id], timeout=60)
    expect = {"lint": r"^lint validity\.span: ", "key": r"^lint key\.policy: .*2048",
              "csr": r"^csr: /csr ", "validity": r"^validity: .*more than 5 years",
              "database": r"^database: .*SQLSTATE 23514"}
    for name, job in cases.items():
        status, last_error, failed_at, attempts = sj.sql(
            "SELECT status, last_error, failed_at, attempts FROM signing_job WHERE id = %s",
            (job.id,))[0]
        assert status == "failed" and failed_at is not None and attempts == 1
        assert re.search(expect[name], last_error), (name, last_error)
        app, = sj.sql("SELECT status FROM application WHERE id = %s", (job.application_id,))[0]
        assert app == "issuing", (name, app)
        assert sj.sql("SELECT count(*) FROM certificate WHERE job_id = %s", (job.id,))[0][0] == 0
        outcome = sj.sql("SELECT outcome, detail FROM certificate_serial WHERE job_id = %s",
                         (job.id,))
        assert outcome == [("lint_failed", last_error)], outcome
        audit = sj.sql("SELECT actor_kind, detail FROM audit_event WHERE action ="
                       " 'issuance.failed' AND object_id = %s", (str(job.application_id),))
        assert len(audit) == 1 and audit[0][0] == "system"
        assert audit[0][1]["reason"] == last_error and audit[0][1]["job_id"] == job.id
    # the linted TBS of the lint failure is kept for the operators
    tbs, = sj.sql("SELECT tbs FROM certificate_serial WHERE job_id = %s",
                  (cases["lint"].id,))[0]
    assert tbs is not None and len(bytes(tbs)) > 200


def test_one_refusal_among_signed_jobs_spares_the_others(keys):
    """A batch whose jobs were all signed is recorded together (three round trips for
    all); a job the database refuses, or whose application is no longer issuing, rolls
    that back and the batch is recorded job by job, a savepoint each: that job fails,
    the others are issued, each exactly once."""
    log_from = len(sj.signer_log(stack_path()))
    csr = sj.csr_for(keys["p256"], sj.UNIT)
    with sj.connect() as conn, conn.cursor() as cur:
        jobs = [sj.make_job(cur, "new", "org", csr) for _ in range(2)]
        refused = sj.make_job(cur, "new", "org", csr, phone="0000")
        gone = sj.make_job(cur, "new", "org", csr)
        cur.execute("UPDATE application SET status = 'cancelled' WHERE id = %s",
                    (gone.application_id,))
        jobs += [sj.make_job(cur, "new", "org", csr) for _ in range(2)]
        sj.notify(cur)
    sj.wait_jobs([refused.id, gone.id], statuses=("failed",), timeout=60, what="jobs failed")
    sj.wait_jobs([j.id for j in jobs], timeout=60)
    expect = {refused.id: r"^database: .*SQLSTATE 23514",
              gone.id: r"^application: is cancelled, not issuing"}
    for job_id, pattern in expect.items():
        last_error, = sj.sql("SELECT last_error FROM signing_job WHERE id = %s", (job_id,))[0]
        assert re.search(pattern, last_error), last_error
        assert sj.sql("SELECT count(*) FROM certificate WHERE job_id = %s", (job_id,))[0][0] == 0
    for job in jobs:
        assert sj.sql("SELECT count(*) FROM certificate WHERE job_id = %s", (job.id,))[0][0] == 1
        app, = sj.sql("SELECT status FROM application WHERE id = %s", (job.application_id,))[0]
        assert app == "issued"
        moves = sj.sql("SELECT count(*) FROM application_history WHERE application_id = %s"
                       " AND to_status = 'issued'", (job.application_id,))[0][0]
        assert moves == 1
    assert "the batch is recorded job by job" in sj.signer_log(stack_path())[log_from:]


# ---------------------------------------------------------------------------------
# The CA as set up
# ---------------------------------------------------------------------------------

def test_ca_certificates(chain):
    rows = sj.sql("SELECT role, algorithm, key_ref, der, issuer_id, spki_sha256, serial"
                  " FROM ca_certificate WHERE active ORDER BY id")
    got = {(r[0], r[1]): r for r in rows}
    assert set(got) == {("root", "rsa"), ("issuing", "rsa"), ("ocsp", "ec-p256"),
                        ("seal_maker", "ec-p256"), ("seal_maker", "sm2")}
    # key references name keys, never a secret
    assert got[("root", "rsa")][2] == "pkcs11:token=certhall-ca;object=root-ca;id=%01"
    assert got[("issuing", "rsa")][2] == "pkcs11:token=certhall-ca;object=issuing-ca;id=%02"
    assert got[("ocsp", "ec-p256")][2] == "pkcs11:token=certhall-ca;object=ocsp-signer;id=%03"
    assert got[("seal_maker", "ec-p256")][2] == \
        "pkcs11:token=certhall-ca;object=seal-maker;id=%04"
    assert got[("seal_maker", "sm2")][2] == "file:" + require_env("CERTHALL_SIGNER_SM2_KEY_FILE")
    for row in rows:
        assert "pin" not in row[2].lower()
    root = x509.load_der_x509_certificate(bytes(got[("root", "rsa")][3]))
    assert root.issuer == root.subject
    assert root.public_key().key_size == 3072
    root.public_key().verify(root.signature, root.tbs_certificate_bytes, padding.PKCS1v15(),
                             hashes.SHA256())
    assert chain.issuing.public_key().key_size == 2048
    bc = chain.issuing.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    assert got[("issuing", "rsa")][4] == sj.sql(
        "SELECT id FROM ca_certificate WHERE role = 'root' AND active")[0][0]
    for role, alg in (("issuing", "rsa"), ("ocsp", "ec-p256"), ("seal_maker", "ec-p256"),
                      ("seal_maker", "sm2")):
        der = bytes(got[(role, alg)][3])
        out = chain.verify(der, name=f"ca-{role}-{alg}") if role != "ocsp" else None
        text = chain.text(der)
        if role == "ocsp":
            # no policy in the OCSP signer: verify it without the policy check
            path = Path(chain.dir) / "ocsp.pem"
            path.write_bytes(sj.pem(der))
            res = subprocess.run(["openssl", "verify", "-CAfile", str(chain.root_pem),
                                  "-untrusted", str(chain.issuing_pem), str(path)],
                                 capture_output=True, text=True)
            assert res.returncode == 0, res.stdout + res.stderr
            assert "OCSP Signing" in text and "OCSP No Check" in text
        else:
            assert out
        if alg == "sm2":
            assert "ASN1 OID: SM2" in text
        elif alg == "ec-p256":
            assert "NIST CURVE: P-256" in text
        # spki_sha256 on record is the certificate's key's
        cert = x509.load_der_x509_certificate(der)
        if alg != "sm2":
            spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
            assert bytes(got[(role, alg)][5]) == hashlib.sha256(spki).digest()


def test_setup_again_makes_nothing(stackctl):
    before = sj.sql("SELECT id, role, algorithm, serial, active FROM ca_certificate ORDER BY id")
    out = stackctl.run("signer-setup").stdout
    assert json.loads(out.splitlines()[-1]) == {"keys_made": [], "certificates_made": []}
    after = sj.sql("SELECT id, role, algorithm, serial, active FROM ca_certificate ORDER BY id")
    assert before == after


# ---------------------------------------------------------------------------------
# SO PINs for the personalisation station
# ---------------------------------------------------------------------------------

def request_so_pin(cur, serial, key, expires="now() + interval '1 minute'"):
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    cur.execute("INSERT INTO token_request (kind, subject, requester_key, expires_at)"
                f" VALUES ('so_pin', %s, %s, {expires}) RETURNING id", (serial, spki))
    rid = cur.fetchone()[0]
    cur.execute("SELECT pg_notify('token_request', '')")
    return rid


def wait_answer(rid, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = sj.sql("SELECT sealed, error, answered_at FROM token_request WHERE id = %s",
                     (rid,))[0]
        if row[2] is not None:
            return row
        time.sleep(0.2)
    raise AssertionError(f"token request {rid} not answered in {timeout}s")


def test_so_pin_requests_are_answered_sealed():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with sj.connect() as conn, conn.cursor() as cur:
        a = request_so_pin(cur, "USBK0001", key)
        b = request_so_pin(cur, "USBK0001", other)
        c = request_so_pin(cur, "USBK0002", key)
        late = request_so_pin(cur, "USBK0003", key, expires="now() - interval '1 second'")
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    pins = {}
    for rid, k in ((a, key), (b, other), (c, key)):
        sealed, error, _ = wait_answer(rid)
        assert error is None and sealed is not None
        pins[rid] = k.decrypt(bytes(sealed), oaep).decode()
        assert re.fullmatch(r"[0-9a-f]{16}", pins[rid])
    # the same serial gives the same PIN (derived, not stored), another serial another
    assert pins[a] == pins[b] and pins[a] != pins[c]
    sealed, error, _ = wait_answer(late)
    assert sealed is None and "expired" in error
    # the clear PIN is nowhere: not in the table, not in the signer's log
    for pin in pins.values():
        assert pin not in sj.signer_log(stack_path())
        assert sj.sql("SELECT count(*) FROM token_request WHERE error LIKE %s",
                      (f"%{pin}%",))[0][0] == 0


# ---------------------------------------------------------------------------------
# Health and who reads what
# ---------------------------------------------------------------------------------

def test_health_shows_the_signer(client):
    resp = client.get("/api/v1/health")
    assert resp.status_code == 200
    assert {k: v for k, v in resp.body["checks"].items() if k != "calendar"} == {
        "database": "ok", "signer": "ok"}
    rows = sj.sql("SELECT state, heartbeat_at > now() - interval '15 seconds'"
                  " FROM signer_status WHERE state = 'ok'")
    assert any(fresh for _, fresh in rows)  # (killed signers leave stale rows)


def proc_uid(pid):
    """The real uid of pid (/proc/PID/status; the signer is not dumpable, so its /proc
    directory itself belongs to root)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(pid)


def proc_user(pid):
    return pwd.getpwuid(proc_uid(pid)).pw_name


def proc_environ(pid):
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(e.split("=", 1) for e in raw.decode(errors="replace").split("\0") if "=" in e)


def signer_secrets():
    s = stack_path()
    return [Path(require_env("CERTHALL_HSM_PIN_FILE")), s / "softhsm" / "tokens",
            Path(require_env("SOFTHSM2_CONF")), Path(require_env("CERTHALL_SIGNER_SM2_KEY_FILE")),
            Path(require_env("CERTHALL_SIGNER_SM2_PASS_FILE"))]


def test_web_workers_cannot_read_the_ca_keys(stackctl):
    """As root the web workers run as nobody and the signer as its own user: nobody
    cannot read the token directory, the PIN, the SoftHSM config or the SM2 key and its
    passphrase, and the workers' environment names none of them. As a normal user the
    whole stack is one uid (only root can start processes as others), so what is checked
    is that the files are the user's alone (0600/0700: any other user, nobody included,
    is refused by the kernel) and, again, the workers' environment."""
    signer_pid = int(stackctl.run("signer-pid").stdout)
    workers = stackctl.worker_pids()
    assert workers
    for path in signer_secrets():
        st = path.stat()
        assert st.st_mode & 0o077 == 0, f"{path} is mode {oct(st.st_mode)}"
        assert st.st_uid == proc_uid(signer_pid), path
    if os.geteuid() == 0:
        assert proc_user(signer_pid) == "certhall-signer"
        for pid in workers:
            assert proc_user(pid) == "nobody"
        for path in signer_secrets():
            cmd = ["ls", str(path)] if path.is_dir() else ["cat", str(path)]
            res = subprocess.run(["runuser", "-u", "nobody", "--", *cmd],
                                 capture_output=True, text=True)
            assert res.returncode != 0 and "Permission denied" in res.stderr, (path, res)
            # the signer's own user can (it opens them)
            res = subprocess.run(["runuser", "-u", "certhall-signer", "--", "test", "-r",
                                  str(path)])
            assert res.returncode == 0, path
        # one token file, read as nobody
        some = next(p for p in (stack_path() / "softhsm" / "tokens").rglob("*") if p.is_file())
        res = subprocess.run(["runuser", "-u", "nobody", "--", "cat", str(some)],
                             capture_output=True)
        assert res.returncode != 0
    else:
        assert proc_user(signer_pid) == pwd.getpwuid(os.geteuid()).pw_name
    forbidden = ("SOFTHSM2_CONF", "CERTHALL_HSM_PIN_FILE", "CERTHALL_HSM_MODULE",
                 "CERTHALL_HSM_TOKEN", "CERTHALL_SIGNER_SM2_KEY_FILE",
                 "CERTHALL_SIGNER_SM2_PASS_FILE", "CERTHALL_SIGNER_DIR")
    master = stackctl.master_pid()
    for pid in [master, *workers]:
        env = proc_environ(pid)
        assert not [k for k in forbidden if k in env], (pid, sorted(env))
        maps = Path(f"/proc/{pid}/maps").read_text()
        # (libp11-kit comes with libcurl's TLS: a module loader, with no module loaded)
        assert "libsofthsm2" not in maps and "/libp11.so" not in maps, pid
    # and the signer has none of the web's or the daemons' secrets (it is not dumpable:
    # only root may look into it)
    if os.geteuid() == 0:
        env = proc_environ(signer_pid)
        for k in ("CERTHALL_PEPPER_FILE", "CERTHALL_SMS_KEY_FILE",
                  "CERTHALL_PAY_MERCHANT_KEY_FILE", "CERTHALL_PAY_GATEWAY_KEY_FILE"):
            assert k not in env
        assert "SOFTHSM2_CONF" in env
        assert "libsofthsm2" in Path(f"/proc/{signer_pid}/maps").read_text()
