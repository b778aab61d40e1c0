"""Exactly once under fire (issue 12): a burst of 500 jobs with the signer SIGKILLed at
random moments and restarted; two signers on one queue; PostgreSQL restarted while the
signer works; SIGTERM while it works (it finishes what it holds). Afterwards every job has exactly one certificate, every serial is distinct,
no job is left behind, and no serial of an abandoned attempt became a certificate.

Disruptive (it kills the stack's signer and restarts PostgreSQL), hence test_zz_: it runs
after every other test, alone. The stack's signer runs with a 10 s lease (scripts/test),
so the jobs of a batch that a kill interrupted are claimed again 10 s later with new
serials.
"""

import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

import signer_jobs as sj
from conftest import require_env, wait_until


@pytest.fixture(scope="module")
def csr():
    """Requests are about the subject, not the key: one key serves every job here."""
    key = sj.new_key("p256")
    return {"org": sj.csr_for(key, sj.UNIT), "personal": sj.csr_for(key, sj.PERSON)}


def burst(csr, n, businesses=("new", "renew", "reissue", "change")):
    jobs = []
    with sj.connect() as conn, conn.cursor() as cur:
        cur.execute("BEGIN")
        for i in range(n):
            cert_type = "personal" if i % 3 == 0 else "org"
            jobs.append(sj.make_job(cur, businesses[i % len(businesses)], cert_type,
                                    csr[cert_type], years=1 + i % 5))
        cur.execute("COMMIT")
        sj.notify(cur)
    return jobs


def signer_pid(stackctl):
    out = stackctl.run("signer-pid", check=False)
    return int(out.stdout) if out.returncode == 0 and out.stdout.isdigit() else None


def wait_gone(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        try:
            if ") Z" in Path(f"/proc/{pid}/stat").read_text():
                return      # a zombie: dead, not yet reaped
        except (FileNotFoundError, ProcessLookupError):
            return          # reaped between the two looks (open: ENOENT; read: ESRCH)
        time.sleep(0.05)
    raise AssertionError(f"process {pid} did not go")


def check_exactly_once(jobs, chain):
    """The invariants, over these jobs."""
    ids = [j.id for j in jobs]
    states = sj.job_states(ids)
    assert set(states.values()) == {"done"}, {s: list(states.values()).count(s)
                                             for s in set(states.values())}
    per_job = dict(sj.sql("SELECT job_id, count(*) FROM certificate WHERE job_id = ANY(%s)"
                          " GROUP BY job_id", (ids,)))
    assert len(per_job) == len(ids) and set(per_job.values()) == {1}
    rows = sj.sql(
        "SELECT c.serial, c.der, c.job_id, j.attempts, s.attempt, s.outcome, s.tbs"
        " FROM certificate c JOIN signing_job j ON j.id = c.job_id"
        " JOIN certificate_serial s ON s.serial = c.serial"
        " WHERE c.job_id = ANY(%s)", (ids,))
    assert len(rows) == len(ids)
    serials = [r[0] for r in rows]
    assert len(set(serials)) == len(serials), "a serial was used twice"
    issuing = chain.issuing.public_key()
    for serial, der, job_id, attempts, attempt, outcome, tbs in rows:
        # the certificate is this attempt's: the last one, its serial 'issued'
        assert outcome == "issued" and attempt == attempts, (job_id, attempt, attempts)
        cert = x509.load_der_x509_certificate(bytes(der))
        issuing.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                       hashes.SHA256())
        assert bytes(tbs) == cert.tbs_certificate_bytes
        assert cert.serial_number.to_bytes(20, "big").lstrip(b"\0").hex() == serial
    # every other serial of these jobs was abandoned (or never linted): none reused
    outcomes = dict(sj.sql("SELECT outcome, count(*) FROM certificate_serial"
                           " WHERE job_id = ANY(%s) GROUP BY outcome", (ids,)))
    assert set(outcomes) <= {"issued", "abandoned"}, outcomes
    assert outcomes["issued"] == len(ids)
    reused = sj.sql("SELECT count(*) FROM certificate c JOIN certificate_serial s"
                    " ON s.serial = c.serial WHERE s.outcome <> 'issued'")[0][0]
    assert reused == 0
    # each application issued once: one history row, one audit event, one SMS
    apps = [j.application_id for j in jobs]
    assert dict(sj.sql("SELECT status, count(*) FROM application WHERE id = ANY(%s)"
                       " GROUP BY status", (apps,))) == {"issued": len(apps)}
    hist = sj.sql("SELECT application_id, count(*) FROM application_history"
                  " WHERE application_id = ANY(%s) AND to_status = 'issued'"
                  " GROUP BY application_id", (apps,))
    assert len(hist) == len(apps) and {c for _, c in hist} == {1}
    audit = sj.sql("SELECT count(*), count(DISTINCT object_id) FROM audit_event"
                   " WHERE action = 'application.issued' AND object_id = ANY(%s)",
                   ([str(a) for a in apps],))[0]
    assert audit == (len(apps), len(apps))
    phones = [j.phone for j in jobs]
    sms = sj.sql("SELECT count(*), count(DISTINCT recipient) FROM outbox"
                 " WHERE template = 'issued' AND recipient = ANY(%s)", (phones,))[0]
    assert sms == (len(phones), len(phones))
    # nothing left behind anywhere (the queue was empty before these tests)
    assert queue_left() == 0
    return outcomes


@pytest.fixture(scope="module")
def chain():
    import tempfile
    with tempfile.TemporaryDirectory(prefix="signer-kill-") as d:
        yield sj.Chain(d)


def queue_left():
    """Signing jobs with a request that no signer has finished: queued, or claimed."""
    return sj.sql("SELECT count(*) FROM signing_job WHERE status IN ('queued', 'claimed')"
                  " AND csr IS NOT NULL")[0][0]


@pytest.fixture(autouse=True)
def drained_queue_and_a_signer_after(stackctl):
    """Before each test: the stack's signer runs, and the queue that earlier tests left is
    worked off (claims of a signer that was killed or stopped run out with the lease), so
    "nothing left behind" speaks of this test's jobs alone. After, whatever failed: the
    stack's signer runs again, so one failure does not become a failure of every signer
    test after it."""
    if signer_pid(stackctl) is None:
        stackctl.run("signer-start")
    lease = int(os.environ.get("CERTHALL_SIGNER_LEASE", "60"))
    wait_until(lambda: queue_left() == 0, lease + 30, interval=0.5,
               what="the queue left by earlier tests worked off")
    yield
    if signer_pid(stackctl) is None:
        stackctl.run("signer-start")


def signer_name(pid):
    return f"{socket.gethostname()}:{pid}"


def held_by(name, ids):
    """How many of ids the signer called name holds (claimed, not finished)."""
    return sj.sql("SELECT count(*) FROM signing_job WHERE id = ANY(%s) AND status = 'claimed'"
                  " AND claimed_by = %s", (ids, name))[0][0]


def test_500_jobs_with_the_signer_killed_at_random(stackctl, csr, chain):
    rng = random.Random()
    jobs = burst(csr, 500)
    ids = [j.id for j in jobs]
    kills = landed = 0
    # At least 8 kills while work remains, at moments of two kinds: at random (whatever the
    # signer is doing: claiming, preparing, signing, committing, starting), and aimed, the
    # moment it is seen holding a batch of ours. The aimed kind makes sure that at least one
    # kill lands on a batch in hand, however fast this machine signs 500 jobs; were the burst
    # worked off before that, another burst follows.
    while kills < 30:
        if all(s == "done" for s in sj.job_states(ids).values()):
            if kills >= 8 and landed > 0:
                break
            more = burst(csr, 100)
            jobs += more
            ids += [j.id for j in more]
        pid = signer_pid(stackctl)
        if pid is None:
            stackctl.run("signer-start")
            continue
        name = signer_name(pid)
        if landed == 0 or rng.random() < 0.3:
            deadline = time.monotonic() + 10
            while held_by(name, ids) == 0 and time.monotonic() < deadline:
                time.sleep(0.005)
        else:
            time.sleep(rng.uniform(0.05, 1.2))
        os.kill(pid, signal.SIGKILL)
        kills += 1
        wait_gone(pid)
        if held_by(name, ids) > 0:
            landed += 1
        stackctl.run("signer-start")
    assert signer_pid(stackctl) is not None
    sj.wait_jobs(ids, timeout=300, what="every job of the burst done")
    outcomes = check_exactly_once(jobs, chain)
    # the kills did interrupt work: batches in hand were claimed again after their lease
    attempts = sj.sql("SELECT max(attempts), count(*) FILTER (WHERE attempts > 1)"
                      " FROM signing_job WHERE id = ANY(%s)", (ids,))[0]
    print(f"{kills} kills, {landed} on a batch in hand; {len(ids)} jobs; serial outcomes "
          f"{outcomes}; jobs retried {attempts[1]}, most attempts {attempts[0]}")
    assert kills >= 8 and landed > 0
    assert attempts[1] > 0, "no batch that a kill interrupted was claimed again"


def second_signer(name):
    """Another certhall-signer on the same queue, as the stack starts its own."""
    stack = Path(require_env("CERTHALL_STACK"))
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CERTHALL_DB": require_env("CERTHALL_APP_DB")}
    for var in ("SOFTHSM2_CONF", "CERTHALL_HSM_MODULE", "CERTHALL_HSM_TOKEN",
                "CERTHALL_HSM_PIN_FILE", "CERTHALL_CA_BASE_URL", "CERTHALL_CA_POLICY_OID",
                "CERTHALL_SIGNER_BATCH", "CERTHALL_SIGNER_LEASE", "CERTHALL_SIGNER_SESSIONS",
                "ASAN_OPTIONS", "UBSAN_OPTIONS"):
        if os.environ.get(var):
            env[var] = os.environ[var]
    cmd = [str(Path(require_env("CERTHALL_BUILD")) / "certhall-signer"), "run",
           "--name", name]
    if os.geteuid() == 0:
        cmd += ["--user", "certhall-signer"]
    log = open(stack / "log" / f"signer-{name}.log", "ab")
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            cwd="/")
    log.close()
    return proc


def test_two_signers_sign_no_job_twice(stackctl, csr, chain):
    name = "second-signer"
    proc = second_signer(name)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if sj.sql("SELECT count(*) FROM signer_status WHERE name = %s AND state = 'ok'",
                      (name,))[0][0]:
                break
            assert proc.poll() is None, "the second signer exited"
            time.sleep(0.2)
        else:
            pytest.fail("the second signer never reached state ok")
        jobs = burst(csr, 320, businesses=("new", "renew"))
        sj.wait_jobs([j.id for j in jobs], timeout=300)
        check_exactly_once(jobs, chain)
        signers = dict(sj.sql("SELECT signer, count(*) FROM certificate_serial"
                              " WHERE job_id = ANY(%s) AND outcome = 'issued' GROUP BY signer",
                              ([j.id for j in jobs],)))
        print("issued by", signers)
        assert name in signers and len(signers) == 2, signers
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    state = sj.sql("SELECT state FROM signer_status WHERE name = %s", (name,))[0][0]
    assert state == "stopping"


def test_postgresql_restart_while_signing(stackctl, csr, chain):
    jobs = burst(csr, 200)
    ids = [j.id for j in jobs]
    pid = signer_pid(stackctl)
    sj.wait_jobs(ids[:10], timeout=60, what="the first jobs")
    stackctl.run("pg-stop")
    time.sleep(2)
    stackctl.run("pg-start")
    sj.wait_jobs(ids, timeout=300, what="every job after the restart")
    check_exactly_once(jobs, chain)
    assert signer_pid(stackctl) == pid, "the signer did not survive the restart"
    log = sj.signer_log(require_env("CERTHALL_STACK"))
    assert "database connected" in log


def test_sigterm_finishes_the_batches_in_hand(stackctl, csr, chain):
    jobs = burst(csr, 120, businesses=("new",))
    ids = [j.id for j in jobs]
    name = signer_name(signer_pid(stackctl))
    wait_until(lambda: sj.sql("SELECT count(*) FROM signing_job WHERE id = ANY(%s)"
                              " AND status IN ('claimed', 'done')", (ids,))[0][0] > 0,
               30, interval=0.05, what="the signer at work")
    assert stackctl.run("signer-stop").stdout == "0"
    # nothing it had claimed is left claimed: it finished what it held
    left = sj.sql("SELECT count(*) FROM signing_job WHERE claimed_by = %s"
                  " AND status = 'claimed'", (name,))[0][0]
    assert left == 0
    assert sj.sql("SELECT state FROM signer_status WHERE name = %s", (name,))[0][0] == "stopping"
    stackctl.run("signer-start")
    sj.wait_jobs(ids, timeout=120)
    check_exactly_once(jobs, chain)
