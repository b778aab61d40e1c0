"""The CA token made unavailable and restored, and swapped for one with another key
(issue 12): jobs wait (never failed, never signed by another key), signer_status and
GET /health say why, and the jobs complete once the right token is back.

Disruptive (it moves the stack's token directory and restarts the signer), hence
test_zz_: it runs after every other test, alone.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

import signer_jobs as sj
from conftest import require_env, wait_until


def stack():
    return Path(require_env("CERTHALL_STACK"))


def tokens():
    return stack() / "softhsm" / "tokens"


@pytest.fixture(scope="module")
def csr():
    key = sj.new_key("p256")
    return sj.csr_for(key, sj.UNIT)


def ready_jobs(csr, n):
    with sj.connect() as conn, conn.cursor() as cur:
        jobs = [sj.make_job(cur, "new", "org", csr, years=1) for _ in range(n)]
        sj.notify(cur)
    return jobs


def signer_name(stackctl):
    pid = stackctl.run("signer-pid").stdout
    return f"{socket.gethostname()}:{pid}"


def signer_state(name):
    rows = sj.sql("SELECT state, last_error, heartbeat_at > now() - interval '15 seconds'"
                  " FROM signer_status WHERE name = %s", (name,))
    return rows[0] if rows else (None, None, False)


def wait_state(stackctl, state, timeout=30):
    name = signer_name(stackctl)
    return wait_until(lambda: signer_state(name)[0] == state and signer_state(name),
                      timeout, what=f"signer {name} in state {state}")


def health_signer(client):
    resp = client.get("/api/v1/health")
    assert resp.status_code == 200, (resp.status_code, resp.content[:200])
    return resp.body["checks"]["signer"]


def assert_waiting(jobs, seconds):
    """For a while, none of jobs is done or failed, and none has a certificate."""
    ids = [j.id for j in jobs]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        states = set(sj.job_states(ids).values())
        assert states <= {"queued", "claimed"}, states
        time.sleep(0.5)
    assert sj.sql("SELECT count(*) FROM certificate WHERE job_id = ANY(%s)", (ids,))[0][0] == 0


def assert_all_signed_by_the_issuing_ca():
    """Every certificate the signer ever issued (a job's: other tests file certificates of
    their own making, for proofs of possession) verifies with the issuing CA's key."""
    issuing = x509.load_der_x509_certificate(sj.ca_der("issuing", "rsa")).public_key()
    rows = sj.sql("SELECT serial, der FROM certificate WHERE job_id IS NOT NULL")
    assert rows
    for serial, der in rows:
        cert = x509.load_der_x509_certificate(bytes(der))
        issuing.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                       hashes.SHA256())


def chown_to_signer(path):
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "certhall-signer:", str(path)], check=True)
    subprocess.run(["chmod", "-R", "go-rwx", str(path)], check=True)


def test_token_away_and_back(client, stackctl, csr):
    wait_state(stackctl, "ok")
    away = tokens().with_name("tokens.away")
    os.rename(tokens(), away)
    try:
        # the idle signer notices by its probe within a heartbeat or two
        _, error, fresh = wait_state(stackctl, "token_unavailable", timeout=20)
        assert fresh and error
        assert require_env("CERTHALL_HSM_PIN_FILE") not in error
        # /health counts a signer as at work while its last heartbeat in state ok is
        # younger than 15 s (api/health.c): the row of a signer that an earlier test
        # killed, or this one's last "ok", may hold "ok" that long
        wait_until(lambda: health_signer(client) == "unavailable", 15 + 5,
                   what="health showing the signer unavailable")
        jobs = ready_jobs(csr, 20)
        assert_waiting(jobs, 4)
        # a signer started while the token is away waits for it too
        assert stackctl.run("signer-stop").stdout == "0"
        stackctl.run("signer-start")
        wait_state(stackctl, "token_unavailable", timeout=20)
        assert_waiting(jobs, 3)
    finally:
        os.rename(away, tokens())
    done = sj.wait_jobs([j.id for j in jobs], timeout=90, what="jobs done after the token came back")
    assert set(done.values()) == {"done"}
    wait_state(stackctl, "ok")
    wait_until(lambda: health_signer(client) == "ok", 5, what="health showing the signer ok")
    per_job = sj.sql("SELECT count(*), count(DISTINCT job_id) FROM certificate"
                     " WHERE job_id = ANY(%s)", ([j.id for j in jobs],))[0]
    assert per_job == (20, 20)
    failed = sj.sql("SELECT count(*) FROM signing_job WHERE id = ANY(%s) AND status = 'failed'",
                    ([j.id for j in jobs],))[0][0]
    assert failed == 0
    assert_all_signed_by_the_issuing_ca()


def impostor_tokens(where):
    """A token directory with a CA token of the same label, the same user PIN, and an
    RSA-2048 key of the same label and CKA_ID as the real issuing key, made non-extractable
    in it as the real one is: everything alike but the key."""
    where.mkdir()
    (where / "tokens").mkdir()
    conf = where / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {where / 'tokens'}\nobjectstore.backend = file\n"
                    "log.level = ERROR\nslots.removable = false\n")
    pin = Path(require_env("CERTHALL_HSM_PIN_FILE")).read_text().strip()
    env = dict(os.environ, SOFTHSM2_CONF=str(conf))
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label",
                    require_env("CERTHALL_HSM_TOKEN"), "--so-pin", "12345678", "--pin", pin],
                   env=env, check=True, capture_output=True)
    subprocess.run(["pkcs11-tool", "--module", require_env("CERTHALL_HSM_MODULE"),
                    "--token-label", require_env("CERTHALL_HSM_TOKEN"), "--login", "--pin", pin,
                    "--keypairgen", "--key-type", "rsa:2048", "--label", "issuing-ca",
                    "--id", "02", "--sensitive"], env=env, check=True, capture_output=True)
    chown_to_signer(where / "tokens")
    return where / "tokens"


def test_token_with_another_key_is_refused(client, stackctl, csr):
    wait_state(stackctl, "ok")
    work = Path(tempfile.mkdtemp(prefix="impostor-", dir=stack() / "softhsm"))
    real = tokens().with_name("tokens.real")
    try:
        fake = impostor_tokens(work / "hsm")
        os.rename(tokens(), real)
        os.rename(fake, tokens())
        try:
            _, error, _ = wait_state(stackctl, "refused", timeout=30)
            assert error
            wait_until(lambda: health_signer(client) == "unavailable", 5,
                       what="health showing the signer unavailable")
            jobs = ready_jobs(csr, 10)
            assert_waiting(jobs, 4)
            # a new signer refuses the impostor at once: its key is not the one the
            # issuing CA certificate certifies
            stackctl.run("signer-stop")
            stackctl.run("signer-start")
            _, error, _ = wait_state(stackctl, "refused", timeout=20)
            assert "issuing CA certificate" in error, error
            assert_waiting(jobs, 3)
        finally:
            os.rename(tokens(), fake)
            os.rename(real, tokens())
        # refused stays refused until an operator restarts the signer
        time.sleep(3)
        assert signer_state(signer_name(stackctl))[0] == "refused"
        stackctl.run("signer-stop")
        stackctl.run("signer-start")
        wait_state(stackctl, "ok")
        sj.wait_jobs([j.id for j in jobs], timeout=60, what="jobs done with the right token")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert_all_signed_by_the_issuing_ca()
    wait_until(lambda: health_signer(client) == "ok", 5, what="health showing the signer ok")
