"""OCSP with short periods (issue 13): certhall-signer restarted with a 30-second validity,
signing again after 10 seconds, backdated 2 seconds and sweeping every 5 seconds. A response
served through nginx is always within its validity, and is replaced before its nextUpdate;
a stored status that disagrees with its certificate (as if a revocation had been missed)
is found by the sweep and signed again.

Disruptive (it restarts the signer with other settings, and back), hence test_zz_.
"""

import os
import subprocess
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from cryptography.x509 import ocsp

import signer_jobs as sj
from conftest import ROOT, require_env, wait_until

SHORT = {"CERTHALL_OCSP_VALIDITY": "30", "CERTHALL_OCSP_REFRESH": "10",
         "CERTHALL_OCSP_BACKDATE": "2", "CERTHALL_OCSP_SWEEP": "5"}


def stackctl(cmd, extra=None):
    env = dict(os.environ, CERTHALL_STACK=require_env("CERTHALL_STACK"), **(extra or {}))
    subprocess.run([str(ROOT / "scripts" / "stackctl"), cmd], env=env, check=True,
                   capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def short_signer():
    stackctl("signer-stop")
    stackctl("signer-start", SHORT)
    yield
    stackctl("signer-stop")
    stackctl("signer-start")


@pytest.fixture(scope="module")
def chain():
    with tempfile.TemporaryDirectory(prefix="ocsp-zz-") as d:
        yield sj.Chain(d)


def issue_one():
    key = sj.new_key("p256")
    with sj.connect() as conn, conn.cursor() as cur:
        job = sj.make_job(cur, "new", "org", sj.csr_for(key, sj.UNIT), years=1)
        sj.notify(cur)
    sj.wait_jobs([job.id], timeout=120)
    cid, serial, der = sj.sql("SELECT id, serial, der FROM certificate WHERE job_id = %s",
                              (job.id,))[0]
    return cid, serial, bytes(der)


def request_der(chain, cert_der):
    with tempfile.TemporaryDirectory() as d:
        leaf, req = Path(d) / "leaf.pem", Path(d) / "req.der"
        leaf.write_bytes(sj.pem(cert_der))
        subprocess.run(["openssl", "ocsp", "-issuer", str(chain.issuing_pem), "-cert",
                        str(leaf), "-no_nonce", "-reqout", str(req)], check=True,
                       capture_output=True)
        return req.read_bytes()


def test_refreshed_before_next_update(short_signer, chain):
    cid, serial, cert = issue_one()
    req = request_der(chain, cert)
    url = require_env("CERTHALL_URL") + "/ocsp"
    seen = {}          # this_update -> next_update
    deadline = time.monotonic() + 28
    while time.monotonic() < deadline:
        resp = requests.post(url, data=req, timeout=10,
                             headers={"Content-Type": "application/ocsp-request"})
        assert resp.status_code == 200
        r = ocsp.load_der_ocsp_response(resp.content)
        assert r.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
        assert r.certificate_status == ocsp.OCSPCertStatus.GOOD
        tu = r.this_update.replace(tzinfo=timezone.utc)
        nu = r.next_update.replace(tzinfo=timezone.utc)
        now = datetime.now(timezone.utc)
        assert nu - tu == timedelta(seconds=30)
        assert tu <= now < nu, (tu, now, nu)     # never served past its nextUpdate
        seen[tu] = nu
        time.sleep(0.5)
    updates = sorted(seen)
    assert len(updates) >= 2, f"never refreshed in 28 s: {updates}"
    for earlier, later in zip(updates, updates[1:]):
        # Signed again about 10 s after thisUpdate, long before the 30 s nextUpdate.
        assert later < seen[earlier] - timedelta(seconds=10), (earlier, later)
        assert later >= earlier + timedelta(seconds=7), (earlier, later)


def test_sweep_finds_a_status_that_disagrees(short_signer):
    cid, serial, cert = issue_one()
    wait_until(lambda: sj.sql("SELECT count(*) FROM ocsp_response WHERE serial = %s"
                              " AND cert_status = 'good'", (serial,))[0][0] == 2, 30,
               what="good responses")
    at = datetime.now(timezone.utc).replace(microsecond=0)
    sj.sql("UPDATE certificate SET status = 'revoked', revoked_at = %s,"
           " revocation_reason = 'superseded' WHERE id = %s", (at, cid))
    wait_until(lambda: sj.sql("SELECT count(*) FROM ocsp_response WHERE serial = %s"
                              " AND cert_status = 'revoked'", (serial,))[0][0] == 2, 30,
               what="revoked responses")
    # As if the revocation had never reached the responder: the rows say good again and
    # are not due for a long time (old DER kept). Only the sweep can find it.
    good = sj.sql("SELECT hash FROM ocsp_response WHERE serial = %s", (serial,))
    sj.sql("UPDATE ocsp_response SET cert_status = 'good', revoked_at = NULL,"
           " revocation_reason = NULL, due_at = 'infinity' WHERE serial = %s", (serial,))
    assert len(good) == 2
    wait_until(lambda: sj.sql("SELECT count(*) FROM ocsp_response WHERE serial = %s"
                              " AND cert_status = 'revoked' AND due_at < 'infinity'",
                              (serial,))[0][0] == 2, 20, what="the sweep to sign again")
