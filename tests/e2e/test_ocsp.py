"""OCSP (issue 13): certhall-signer pre-signs a response per certificate and CertID hash
(SHA-1 and SHA-256), signs again at once when a certificate's status changes, and the web
serves the stored DER at the AIA URL, GET and POST (RFC 5019), through nginx.

Every check of a response is made with stock tools: `openssl ocsp` (the client, -url through
nginx, or -respin for GET and for rows read from the database), with the root and the
issuing CA as the only trust; python3-cryptography for the fields. Revocations are written
with SQL into certificate (status, revoked_at, revocation_reason), as any revoking code
does: the responder must follow whatever writes them.
"""

import base64
import re
import subprocess
import tempfile
import time
import urllib.parse
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.x509 import ocsp
from cryptography.hazmat.primitives import hashes, serialization

import signer_jobs as sj
from conftest import require_env, wait_until

OCSP_TYPE = "application/ocsp-response"


@pytest.fixture(scope="module")
def chain():
    with tempfile.TemporaryDirectory(prefix="ocsp-chain-") as d:
        c = sj.Chain(d)
        c.both = Path(d) / "both.pem"
        c.both.write_bytes(c.root_pem.read_bytes() + c.issuing_pem.read_bytes())
        yield c


@pytest.fixture(scope="module")
def key():
    return sj.new_key("p256")


def issue(key, n=1):
    """n new certificates, issued by the signer; their certificate rows."""
    with sj.connect() as conn, conn.cursor() as cur:
        jobs = [sj.make_job(cur, "new", "org", sj.csr_for(key, sj.UNIT), years=1)
                for _ in range(n)]
        sj.notify(cur)
    sj.wait_jobs([j.id for j in jobs], timeout=120)
    rows = sj.sql("SELECT id, serial, der FROM certificate WHERE job_id = ANY(%s)"
                  " ORDER BY id", ([j.id for j in jobs],))
    assert len(rows) == n
    return [{"id": r[0], "serial": r[1], "der": bytes(r[2])} for r in rows]


def stored(serial):
    """{hash: row} of the stored responses of serial."""
    rows = sj.sql("SELECT hash, cert_status, der, this_update, next_update, generation,"
                  " due_at FROM ocsp_response WHERE serial = %s", (serial,))
    keys = ("hash", "status", "der", "this_update", "next_update", "generation", "due_at")
    return {r[0]: dict(zip(keys, r)) for r in rows}


def wait_stored(serial, status, timeout=30):
    def ready():
        rows = stored(serial)
        return (len(rows) == 2 and all(r["status"] == status for r in rows.values())
                and rows)
    return wait_until(ready, timeout, what=f"{serial}: both responses {status}")


def openssl_ocsp(chain, cert_der, args, digest="sha1"):
    """`openssl ocsp` for cert_der with the issuing CA, trusting the root and the issuing CA
    only; returns (returncode, stdout + stderr)."""
    with tempfile.TemporaryDirectory(prefix="ocsp-") as d:
        leaf = Path(d) / "leaf.pem"
        leaf.write_bytes(sj.pem(cert_der))
        cmd = (["openssl", "ocsp", "-issuer", str(chain.issuing_pem), f"-{digest}",
                "-cert", str(leaf), "-CAfile", str(chain.both), "-no_nonce"] + args)
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return out.returncode, out.stdout + out.stderr


def check_respin(chain, cert_der, der, digest):
    """The response der verified by openssl as a relying party would; its text."""
    with tempfile.NamedTemporaryFile(suffix=".der") as f:
        f.write(der)
        f.flush()
        rc, out = openssl_ocsp(chain, cert_der, ["-respin", f.name], digest)
    assert rc == 0 and "Response verify OK" in out, out
    return out


# ---------------------------------------------------------------------------------------
# The signer's pass
# ---------------------------------------------------------------------------------------

def test_every_issued_certificate_gets_good_responses_for_both_hashes(chain, key):
    before = datetime.now(timezone.utc)
    certs = issue(key, 3)
    for c in certs:
        rows = wait_stored(c["serial"], "good")
        for digest in ("sha1", "sha256"):
            row = rows[digest]
            out = check_respin(chain, c["der"], bytes(row["der"]), digest)
            assert re.search(r"leaf\.pem: good", out), out
            resp = ocsp.load_der_ocsp_response(bytes(row["der"]))
            assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
            assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
            assert resp.serial_number == x509.load_der_x509_certificate(c["der"]).serial_number
            assert isinstance(resp.hash_algorithm,
                              hashes.SHA1 if digest == "sha1" else hashes.SHA256)
            # Signed by the delegated responder, named by key, certificate included.
            responder = resp.certificates[0]
            assert responder.extensions.get_extension_for_class(
                x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
                    [x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING])
            responder.extensions.get_extension_for_class(x509.OCSPNoCheck)
            assert resp.responder_key_hash is not None
            # Backdated by an hour, valid four days (the defaults), no nonce.
            tu = resp.this_update.replace(tzinfo=timezone.utc)
            nu = resp.next_update.replace(tzinfo=timezone.utc)
            assert before - timedelta(hours=1, seconds=5) <= tu <= datetime.now(timezone.utc)
            assert nu - tu == timedelta(days=4)
            assert len(resp.extensions) == 0
            # Refreshed half way, the store says so.
            assert row["due_at"] == row["this_update"] + timedelta(days=2)


def revoke_sql(cert_id, reason, at):
    sj.sql("UPDATE certificate SET status = 'revoked', revoked_at = %s,"
           " revocation_reason = %s WHERE id = %s", (at, reason, cert_id))


def test_revocation_written_with_sql_is_signed_at_once(chain, key):
    c, = issue(key)
    before = stored_rows = wait_stored(c["serial"], "good")
    at = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)
    t0 = time.monotonic()
    revoke_sql(c["id"], "keyCompromise", at)
    rows = wait_stored(c["serial"], "revoked", timeout=15)
    took = time.monotonic() - t0
    assert took < 10, f"the revoked responses took {took:.1f}s"
    for digest in ("sha1", "sha256"):
        assert rows[digest]["generation"] > before[digest]["generation"]
        out = check_respin(chain, c["der"], bytes(rows[digest]["der"]), digest)
        assert "leaf.pem: revoked" in out, out
        assert "Reason: keyCompromise" in out, out
        resp = ocsp.load_der_ocsp_response(bytes(rows[digest]["der"]))
        assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED
        assert resp.revocation_time.replace(tzinfo=timezone.utc) == at
        assert resp.revocation_reason == x509.ReasonFlags.key_compromise
    del stored_rows


def test_cessation_of_operation_and_unspecified(chain, key):
    """Reasons as certificate.revocation_reason spells them (RFC 5280's names,
    sql/0015_revocation.sql); unspecified is left out of the response."""
    a, b = issue(key, 2)
    wait_stored(a["serial"], "good")
    wait_stored(b["serial"], "good")
    at = datetime.now(timezone.utc).replace(microsecond=0)
    revoke_sql(a["id"], "cessationOfOperation", at)
    revoke_sql(b["id"], "unspecified", at)
    ra = wait_stored(a["serial"], "revoked")
    rb = wait_stored(b["serial"], "revoked")
    resp = ocsp.load_der_ocsp_response(bytes(ra["sha256"]["der"]))
    assert resp.revocation_reason == x509.ReasonFlags.cessation_of_operation
    # RFC 5280 §5.3.1: unspecified is left out, as in the CRL.
    resp = ocsp.load_der_ocsp_response(bytes(rb["sha1"]["der"]))
    assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert resp.revocation_reason is None
    out = check_respin(chain, b["der"], bytes(rb["sha1"]["der"]), "sha1")
    assert "leaf.pem: revoked" in out and "Reason" not in out, out


# ---------------------------------------------------------------------------------------
# The web: POST and GET through nginx
# ---------------------------------------------------------------------------------------

def url():
    return require_env("CERTHALL_URL") + "/ocsp"


def via_url(chain, cert_der, digest="sha1"):
    """`openssl ocsp -url` (POST) through nginx; (rc, output)."""
    return openssl_ocsp(chain, cert_der, ["-url", url()], digest)


def request_der(chain, cert_der, digest="sha1"):
    with tempfile.NamedTemporaryFile(suffix=".der") as f:
        rc, out = openssl_ocsp(chain, cert_der, ["-reqout", f.name], digest)
        assert rc == 0, out
        return Path(f.name).read_bytes()


def get_path(der, style="plain"):
    b64 = base64.b64encode(der).decode()
    if style == "escaped":
        b64 = urllib.parse.quote(b64, safe="")
    elif style == "urlsafe":
        b64 = base64.urlsafe_b64encode(der).decode().rstrip("=")
    return "/ocsp/" + b64


def check_der_response(chain, cert_der, der, digest="sha1"):
    return check_respin(chain, cert_der, der, digest)


def ocsp_status(resp):
    assert resp.status_code == 200, (resp.status_code, resp.content[:200])
    assert resp.headers["Content-Type"] == OCSP_TYPE
    return ocsp.load_der_ocsp_response(resp.content).response_status


def test_post_good_revoked_unknown_through_nginx(chain, key):
    c, = issue(key)
    for digest in ("sha1", "sha256"):
        rc, out = via_url(chain, c["der"], digest)
        assert rc == 0 and "Response verify OK" in out and "leaf.pem: good" in out, out
    at = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=1)
    revoke_sql(c["id"], "affiliationChanged", at)

    def revoked():
        rc, out = via_url(chain, c["der"], "sha256")
        return "leaf.pem: revoked" in out and out
    out = wait_until(revoked, 15, interval=0.3, what="revoked through nginx")
    assert "Response verify OK" in out and "Reason: affiliationChanged" in out, out
    assert "Revocation Time: " + at.strftime("%b %e %H:%M:%S %Y GMT").replace("  ", " ") in \
        out.replace("  ", " "), out
    # A serial never issued: a signed "unknown", made on demand and stored.
    serial = "71" + "".join(f"{b:02x}" for b in __import__("os").urandom(15))
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run(
            ["openssl", "ocsp", "-issuer", str(chain.issuing_pem), "-serial", "0x" + serial,
             "-CAfile", str(chain.both), "-no_nonce", "-url", url()],
            capture_output=True, text=True, timeout=30, cwd=d)
    text = out.stdout + out.stderr
    assert out.returncode == 0 and "Response verify OK" in text, text
    assert f"0x{serial}: unknown" in text, text
    assert sj.sql("SELECT cert_status, due_at = 'infinity' FROM ocsp_response"
                  " WHERE serial = %s AND hash = 'sha1'", (serial,)) == [("unknown", True)]


def test_get_in_every_encoding_and_cache_headers(chain, key, client):
    c, = issue(key)
    wait_stored(c["serial"], "good")
    for digest in ("sha1", "sha256"):
        der = request_der(chain, c["der"], digest)
        for style in ("plain", "escaped", "urlsafe"):
            resp = client.get(get_path(der, style))
            assert ocsp_status(resp) == ocsp.OCSPResponseStatus.SUCCESSFUL
            out = check_der_response(chain, c["der"], resp.content, digest)
            assert "leaf.pem: good" in out, out
            r = ocsp.load_der_ocsp_response(resp.content)
            nu = r.next_update.replace(tzinfo=timezone.utc)
            age = int(re.fullmatch(r"max-age=(\d+), public, no-transform, must-revalidate",
                                   resp.headers["Cache-Control"]).group(1))
            left = (nu - datetime.now(timezone.utc)).total_seconds()
            assert abs(age - left) <= 3, (age, left)
            etag = resp.headers["ETag"]
            assert etag == '"' + __import__("hashlib").sha1(resp.content).hexdigest() + '"'
            assert resp.headers["Expires"] == nu.strftime("%a, %d %b %Y %H:%M:%S GMT")
            tu = r.this_update.replace(tzinfo=timezone.utc)
            assert resp.headers["Last-Modified"] == tu.strftime("%a, %d %b %Y %H:%M:%S GMT")
            again = client.get(get_path(der, style), headers={"If-None-Match": etag})
            assert again.status_code == 304 and again.content == b""
            assert again.headers["ETag"] == etag


def test_faults_get_a_well_formed_ocsp_error(chain, client):
    def post(body, ctype="application/ocsp-request"):
        resp = client.post("/ocsp", data=body, headers={"Content-Type": ctype})
        assert resp.headers["Cache-Control"] == "no-store"
        return ocsp_status(resp)

    malformed = ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert post(b"garbage, not DER") == malformed
    assert post(b"") == malformed
    assert post(b"\x30" + b"\x00" * 65535) == malformed            # 64 KiB
    assert post(__import__("os").urandom(65536)) == malformed
    assert post(b"\x30" * 70000) == malformed                      # over 64 KiB
    assert post(b"garbage", "text/plain") == malformed
    for path in ("/ocsp/@@@not-base64", "/ocsp/", "/ocsp/MEow?x=1", "/ocsp/" + "A" * 3,
                 "/ocsp//", "/ocsp/" + base64.b64encode(b"\x30\x00").decode()):
        resp = client.get(path)
        assert ocsp_status(resp) == malformed, path
    # Another issuer (the root names no certificate here): unauthorized.
    with tempfile.TemporaryDirectory() as d:
        req = Path(d) / "req.der"
        subprocess.run(["openssl", "ocsp", "-issuer", str(chain.root_pem), "-serial", "0x1234",
                        "-no_nonce", "-reqout", str(req)], check=True, capture_output=True)
        assert post(req.read_bytes()) == ocsp.OCSPResponseStatus.UNAUTHORIZED
        resp = client.get(get_path(req.read_bytes(), "escaped"))
        assert ocsp_status(resp) == ocsp.OCSPResponseStatus.UNAUTHORIZED


def test_certificate_issued_seconds_ago_is_answered(chain, key):
    """Asked for the moment its row exists, and again with its responses gone (as if the
    signer had not come to them yet): good both times, never unknown."""
    with sj.connect() as conn, conn.cursor() as cur:
        job = sj.make_job(cur, "new", "org", sj.csr_for(key, sj.UNIT), years=1)
        sj.notify(cur)

    def issued():
        rows = sj.sql("SELECT id, serial, der FROM certificate WHERE job_id = %s", (job.id,))
        return rows and rows[0]
    cid, serial, der = wait_until(issued, 60, interval=0.02, what="the certificate")
    rc, out = via_url(chain, bytes(der), "sha256")
    assert rc == 0 and "leaf.pem: good" in out, out
    sj.sql("DELETE FROM ocsp_response WHERE serial = %s", (serial,))
    for digest in ("sha1", "sha256"):
        rc, out = via_url(chain, bytes(der), digest)
        assert rc == 0 and "Response verify OK" in out and "leaf.pem: good" in out, out
    assert {r[0] for r in sj.sql("SELECT cert_status FROM ocsp_response WHERE serial = %s",
                                 (serial,))} == {"good"}
