"""Verify and prove possession (SPEC §6; docs/CONTRACT.md "Pay or verify"), through nginx.

- Verification by SMS code (change, revoke, unlock): the code goes to the phone registered
  for the certificate (certificate.registered_phone), read back here from what the fake SMS
  gateway received ($CERTHALL_SMS_GATEWAY_URL); wrong, expired (its expiry moved into the
  past by SQL), used and spent (5 tries) codes are refused; sending is rate-limited. Success
  moves revoke and unlock to `issuing` with one signing job.
- Proof of possession (renew, change) with a SoftHSM2 token standing in for the USB key:
  the module makes its own token in a temporary directory (its own SOFTHSM2_CONF), generates
  RSA-2048 and EC P-256 keys ON the token with pkcs11-tool (OpenSC), has a throwaway test CA
  (python3-cryptography) issue certificates for the token's public keys, stores them in
  certificate.der, and signs `to_sign` on the token: CKM_SHA256_RSA_PKCS for RSA; for ECDSA
  SoftHSM2 has only raw CKM_ECDSA, so the SHA-256 digest is signed and the raw r‖s the token
  returns is converted to DER here, as a real client must. SoftHSM2 (and PKCS#11 generally)
  has no SM2, so SM2 is done in software with the `openssl` command (OpenSSL 3, SM3, the
  distinguishing ID 1234567812345678).
- renew owes payment too; the payments engineer's work is not in this tree, so renew's
  possession step is tested alone (it stays `awaiting_payment` with possession_proven_at
  set); the combined case is left to the merge.

Applications are made the way test_review.py makes them (its helpers are imported), the
certificates they are about inserted by SQL (the signing worker comes later), then approved
by a reviewer through the API.
"""

import base64
import datetime
import os
import re
import secrets
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

import test_review as R
from conftest import assert_problem, require_env, wait_until
from principals import principals, random_phone, sql  # noqa: F401  (the fixture)

APPS = "/api/v1/applications"
SIGNATURE = "【四川CA】"
SMS_WAIT = 20
SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TO_SIGN_RE = re.compile(r"^certhall-possession:v1:(\d+):([A-Za-z0-9_-]{43})$")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")


def masked(phone):
    return phone[:3] + "****" + phone[-4:]


def b64(data):
    return base64.b64encode(data).decode()


# ---------------------------------------------------------------------------------
# Applications awaiting verification or payment
# ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def applicant(principals):  # noqa: F811
    return principals.new_applicant(name="applicant (verification)")


@pytest.fixture(scope="module")
def reviewer(principals):  # noqa: F811
    return principals.staff("reviewer")


def approved(owner, reviewer, business, cert="org", phone="random", der=None):
    """An application of owner's about a certificate of its own (registered phone
    `phone`, None for none; certificate.der `der`), submitted and approved."""
    app = R.submitted(owner, business=business, cert=cert)
    if phone == "random":
        phone = random_phone()
    sql("UPDATE certificate SET registered_phone = %s, der = %s WHERE id = %s",
        (phone, der, app["certificate_id"]))
    resp = R.review(reviewer, app["id"], {"decision": "approve"})
    assert resp.status_code == 200, f"approve: {resp.status_code} {resp.content[:300]!r}"
    want = "awaiting_payment" if business in ("new", "renew", "reissue") else \
        "awaiting_verification"
    assert resp.body["status"] == want, resp.body
    app = resp.body
    app["registered_phone"] = phone
    return app


def post(principal, app_id, suffix, doc):
    return principal.post_json(f"{APPS}/{app_id}/{suffix}", doc)


def signing_jobs(app_id):
    return sql("SELECT kind, status, payload->>'business_type' FROM signing_job"
               " WHERE application_id = %s", (app_id,))


def audit_actions(app_id):
    return [r[0] for r in sql("SELECT action FROM audit_event WHERE object_type = 'application'"
                              " AND object_id = %s ORDER BY id", (str(app_id),))]


# ---------------------------------------------------------------------------------
# SMS codes, as the registered phone receives them
# ---------------------------------------------------------------------------------

def gateway_messages(phone):
    gateway = require_env("CERTHALL_SMS_GATEWAY_URL").rstrip("/")
    resp = requests.get(f"{gateway}/messages", params={"phone": phone}, timeout=5)
    assert resp.status_code == 200, resp.text[:200]
    return resp.json()


def verify_codes(phone):
    return [m for m in gateway_messages(phone) if m.get("template") == "verify_code"]


def send_code(principal, app):
    """POST …/verification/sms-code; checks the 202 and returns the code the registered
    phone received."""
    phone = app["registered_phone"]
    before = len(verify_codes(phone))
    resp = post(principal, app["id"], "verification/sms-code", {})
    assert resp.status_code == 202, f"sms-code: {resp.status_code} {resp.content[:300]!r}"
    assert resp.body["sent_to"] == masked(phone)
    assert TIME_RE.match(resp.body["expires_at"]), resp.body
    got = wait_until(lambda: verify_codes(phone)[before:], SMS_WAIT,
                     what=f"the verification SMS to {masked(phone)}")
    msg = got[-1]
    assert msg["text"].startswith(SIGNATURE), msg["text"]
    code = msg["params"]["code"]
    assert re.fullmatch(r"[0-9]{6}", code) and code in msg["text"], msg
    assert f"申请编号{app['id']}" in msg["text"], msg["text"]
    return code


def allow_resend(app_id):
    """Ends the application's one-a-minute window early (the hourly one keeps counting)."""
    sql("DELETE FROM rate_limit WHERE bucket = %s", (f"verify:app:{app_id}/60s",))


def other_code(code):
    return f"{(int(code) + 1) % 1000000:06d}"


# ---------------------------------------------------------------------------------
# Verification by SMS code
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("business,cert", [("revoke", "org"), ("unlock", "personal")])
def test_code_to_the_registered_phone_verifies_and_queues_the_signing_job(
        applicant, reviewer, stack_dir, business, cert):
    app = approved(applicant, reviewer, business, cert)
    phone = app["registered_phone"]
    code = send_code(applicant, app)
    # Only the registered phone got it: not the caller, not the application's handler.
    for other in (applicant.info["phone"], app["handler_phone"]):
        assert not verify_codes(other), f"a verification code went to {masked(other)}"

    resp = post(applicant, app["id"], "verification", {"code": other_code(code)})
    assert_problem(resp, 422, "invalid-field", field="/code")
    assert "4 tries left" in resp.body["detail"], resp.body
    assert (resp.body["code_verdict"], resp.body["tries_left"]) == ("wrong", 4), resp.body

    resp = post(applicant, app["id"], "verification", {"code": code})
    assert resp.status_code == 200, resp.content[:300]
    got = resp.body
    assert got["status"] == "issuing" and got["verified_at"] and got["settled_at"], got
    assert got["possession_proven_at"] is None and got["paid_at"] is None
    assert resp.headers["ETag"] == f'"v{got["version"]}"'
    # certhall-signer takes a revoke job at once (issue 13): done once it has recorded the
    # revocation, and the application moved on to issued.
    states = ("queued", "done") if business == "revoke" else ("queued",)
    assert signing_jobs(app["id"]) in [[(business, s, business)] for s in states]
    history = R.history(app["id"])
    assert ("awaiting_verification", "issuing") in [h[:2] for h in history], history
    actions = audit_actions(app["id"])
    for action in ("verification.code_sent", "application.verification_failed",
                   "application.verified", "application.issuing"):
        assert action in actions, (action, actions)
    # The settled SMS goes to the handler; the code never reaches the log.
    R.sms_to(app["handler_phone"], lambda m: m.get("template") == "settled")
    log = (Path(stack_dir) / "log" / "api.log").read_text(errors="replace")
    assert not re.search(rf"(?<![0-9A-Za-z]){code}(?![0-9A-Za-z])", log), \
        "the code is in the API log"
    assert phone not in log, "the registered phone is in the API log unmasked"
    # Once issuing, verification is over.
    assert_problem(post(applicant, app["id"], "verification", {"code": code}), 409, "conflict")
    assert_problem(post(applicant, app["id"], "verification/sms-code", {}), 409, "conflict")


def test_five_wrong_tries_spend_a_code(applicant, reviewer):
    app = approved(applicant, reviewer, "revoke")
    code = send_code(applicant, app)
    for left in (4, 3, 2, 1):
        resp = post(applicant, app["id"], "verification", {"code": other_code(code)})
        assert_problem(resp, 422, "invalid-field", field="/code")
        assert f"{left} tries left" in resp.body["detail"], resp.body
        assert (resp.body["code_verdict"], resp.body["tries_left"]) == ("wrong", left)
    resp = post(applicant, app["id"], "verification", {"code": other_code(code)})
    assert_problem(resp, 422, "invalid-field", field="/code")
    assert "last try" in resp.body["detail"]
    assert (resp.body["code_verdict"], resp.body["tries_left"]) == ("wrong", 0)
    # The sixth try is refused even with the right code.
    resp = post(applicant, app["id"], "verification", {"code": code})
    assert_problem(resp, 422, "invalid-field", field="/code")
    assert "5 wrong tries" in resp.body["detail"]
    assert resp.body["code_verdict"] == "spent" and "tries_left" not in resp.body
    assert R.get(applicant, app["id"])["status"] == "awaiting_verification"
    assert sql("SELECT attempts FROM verification_code WHERE application_id = %s",
               (app["id"],)) == [(5,)]
    # A new code works, and supersedes the old one.
    allow_resend(app["id"])
    new = send_code(applicant, app)
    if new != code:
        assert_problem(post(applicant, app["id"], "verification", {"code": code}), 422,
                       "invalid-field", field="/code")
    resp = post(applicant, app["id"], "verification", {"code": new})
    assert resp.status_code == 200 and resp.body["status"] == "issuing", resp.content[:300]


def test_expired_code_is_refused(applicant, reviewer):
    app = approved(applicant, reviewer, "unlock")
    code = send_code(applicant, app)
    sql("UPDATE verification_code SET expires_at = now() - interval '1 second'"
        " WHERE application_id = %s", (app["id"],))
    resp = post(applicant, app["id"], "verification", {"code": code})
    assert_problem(resp, 422, "invalid-field", field="/code")
    assert "expired" in resp.body["detail"]
    assert resp.body["code_verdict"] == "expired"
    assert R.get(applicant, app["id"])["verified_at"] is None


def test_used_code_is_refused(applicant, reviewer):
    # change owes possession too, so it stays awaiting verification once verified.
    app = approved(applicant, reviewer, "change")
    code = send_code(applicant, app)
    resp = post(applicant, app["id"], "verification", {"code": code})
    assert resp.status_code == 200, resp.content[:300]
    assert resp.body["status"] == "awaiting_verification" and resp.body["verified_at"]
    assert signing_jobs(app["id"]) == []
    # The same code again: the application is verified already (409) ...
    resp = post(applicant, app["id"], "verification", {"code": code})
    assert_problem(resp, 409, "conflict")
    assert resp.body["status_now"] == "awaiting_verification"
    assert_problem(post(applicant, app["id"], "verification/sms-code", {}), 409, "conflict")
    # ... and a used code of an unverified application is refused as used.
    other = approved(applicant, reviewer, "revoke")
    code = send_code(applicant, other)
    sql("UPDATE verification_code SET consumed_at = now() WHERE application_id = %s",
        (other["id"],))
    resp = post(applicant, other["id"], "verification", {"code": code})
    assert_problem(resp, 422, "invalid-field", field="/code")
    assert "used" in resp.body["detail"]
    assert resp.body["code_verdict"] == "used"


def test_no_code_sent_and_malformed_codes(applicant, reviewer):
    app = approved(applicant, reviewer, "revoke")
    resp = post(applicant, app["id"], "verification", {"code": "123456"})
    assert_problem(resp, 422, "invalid-field", field="/code")
    assert "no code" in resp.body["detail"]
    assert resp.body["code_verdict"] == "none"
    for bad in ("12345", "1234567", "12345a", "", 123456):
        resp = post(applicant, app["id"], "verification", {"code": bad})
        assert_problem(resp, 422, "invalid-field", field="/code")
        # Refused by the body's schema, not judged: no verdict.
        assert "code_verdict" not in resp.body, resp.body
    assert_problem(post(applicant, app["id"], "verification", {}), 422, "missing-field",
                   field="/code")
    assert_problem(post(applicant, app["id"], "verification", {"code": "123456", "x": 1}),
                   422, "unknown-field", field="/x")
    assert_problem(post(applicant, app["id"], "verification/sms-code", {"phone": "13800138000"}),
                   422, "unknown-field", field="/phone")


def test_sending_is_rate_limited(applicant, reviewer):
    app = approved(applicant, reviewer, "revoke")
    send_code(applicant, app)
    resp = post(applicant, app["id"], "verification/sms-code", {})
    assert_problem(resp, 429, "too-many-requests")
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    for _ in range(4):           # 5 an hour
        allow_resend(app["id"])
        send_code(applicant, app)
    allow_resend(app["id"])
    resp = post(applicant, app["id"], "verification/sms-code", {})
    assert_problem(resp, 429, "too-many-requests")
    assert "5 codes" in resp.body["detail"]
    assert len(verify_codes(app["registered_phone"])) == 5
    assert sql("SELECT count(*) FROM verification_code WHERE application_id = %s",
               (app["id"],)) == [(5,)]


def test_verification_refused_where_it_does_not_apply(applicant, reviewer):
    no_phone = approved(applicant, reviewer, "revoke", phone=None)
    resp = post(applicant, no_phone["id"], "verification/sms-code", {})
    assert_problem(resp, 409, "conflict")
    assert "no phone is registered" in resp.body["detail"]
    # Paid business is not verified by code; nor is an application before approval.
    paid = approved(applicant, reviewer, "reissue")
    resp = post(applicant, paid["id"], "verification/sms-code", {})
    assert_problem(resp, 409, "conflict")
    assert resp.body["status_now"] == "awaiting_payment"
    draft = R.create(applicant, business="new")
    assert_problem(post(applicant, draft["id"], "verification/sms-code", {}), 409, "conflict")
    assert_problem(post(applicant, draft["id"], "verification", {"code": "123456"}), 409,
                   "conflict")


def test_counter_clerk_verifies_a_counter_application(principals, reviewer):  # noqa: F811
    counter = principals.staff("counter")
    app = approved(counter, reviewer, "revoke")
    assert app["channel"] == "counter"
    code = send_code(counter, app)
    resp = post(counter, app["id"], "verification", {"code": code})
    assert resp.status_code == 200 and resp.body["status"] == "issuing", resp.content[:300]


def test_others_get_404(principals, applicant, reviewer):  # noqa: F811
    app = approved(applicant, reviewer, "revoke")
    strangers = [principals.applicant("B"), principals.staff("counter"),
                 principals.integrator("Y").principal("u1", name="integrator Y for u1")]
    bodies = [("verification/sms-code", {}), ("verification", {"code": "123456"}),
              ("possession-challenges", {}),
              ("possession", {"challenge_id": 1, "signature": "AAAA"})]
    for who in strangers:
        for suffix, body in bodies:
            assert_problem(post(who, app["id"], suffix, body), 404, "not-found")
    for role in ("reviewer", "finance"):
        assert_problem(post(principals.staff(role), app["id"], "verification", {"code": "1"}),
                       403, "forbidden")
    assert not verify_codes(app["registered_phone"])
    assert R.get(applicant, app["id"])["version"] == app["version"]


# ---------------------------------------------------------------------------------
# A SoftHSM2 token standing in for the USB key
# ---------------------------------------------------------------------------------

class UsbKey:
    """A SoftHSM2 token of its own (own SOFTHSM2_CONF in a temporary directory), driven
    with pkcs11-tool like a USB key's middleware would be."""

    PIN = "246810"

    def __init__(self, root):
        self.root = Path(root)
        (self.root / "tokens").mkdir()
        self.conf = self.root / "softhsm2.conf"
        self.conf.write_text(f"directories.tokendir = {self.root / 'tokens'}\n"
                             "objectstore.backend = file\nlog.level = ERROR\n")
        self.env = dict(os.environ, SOFTHSM2_CONF=str(self.conf))
        self.label = f"usbkey-{secrets.token_hex(3)}"
        self.run("softhsm2-util", "--init-token", "--free", "--label", self.label,
                 "--so-pin", "13579135", "--pin", self.PIN)

    def run(self, *args, data=None):
        proc = subprocess.run(args, env=self.env, input=data, capture_output=True, timeout=60)
        assert proc.returncode == 0, (f"{' '.join(args[:3])} exited {proc.returncode}: "
                                      f"{proc.stderr.decode(errors='replace')[:500]}")
        return proc.stdout

    def tool(self, *args):
        return self.run("pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", self.label,
                        *args)

    def generate(self, key_id, key_type):
        """A key pair generated on the token (the private key never leaves it)."""
        self.tool("--login", "--pin", self.PIN, "--keypairgen", "--key-type", key_type,
                  "--id", key_id, "--label", f"key{key_id}")

    def public_key(self, key_id):
        with tempfile.NamedTemporaryFile(dir=self.root) as out:
            self.tool("--read-object", "--type", "pubkey", "--id", key_id, "-o", out.name)
            return serialization.load_der_public_key(Path(out.name).read_bytes())

    def sign(self, key_id, mechanism, data):
        with tempfile.NamedTemporaryFile(dir=self.root) as src, \
                tempfile.NamedTemporaryFile(dir=self.root) as out:
            Path(src.name).write_bytes(data)
            self.tool("--login", "--pin", self.PIN, "--sign", "-m", mechanism, "--id", key_id,
                      "-i", src.name, "-o", out.name)
            return Path(out.name).read_bytes()

    def sign_rsa(self, key_id, text):
        return self.sign(key_id, "SHA256-RSA-PKCS", text.encode("utf-8"))

    def sign_ecdsa_raw(self, key_id, text):
        """SoftHSM2 has CKM_ECDSA only: the digest goes in, raw r‖s comes out."""
        digest = hashes.Hash(hashes.SHA256())
        digest.update(text.encode("utf-8"))
        return self.sign(key_id, "ECDSA", digest.finalize())

    def sign_ecdsa(self, key_id, text):
        raw = self.sign_ecdsa_raw(key_id, text)
        half = len(raw) // 2
        return encode_dss_signature(int.from_bytes(raw[:half], "big"),
                                    int.from_bytes(raw[half:], "big"))


RSA_KEY, EC_KEY, OTHER_RSA_KEY, OTHER_EC_KEY = "01", "02", "03", "04"


@pytest.fixture(scope="module")
def usb_key():
    with tempfile.TemporaryDirectory(prefix="certhall-usbkey.") as root:
        key = UsbKey(root)
        key.generate(RSA_KEY, "rsa:2048")
        key.generate(EC_KEY, "EC:prime256v1")
        key.generate(OTHER_RSA_KEY, "rsa:2048")
        key.generate(OTHER_EC_KEY, "EC:prime256v1")
        yield key


@pytest.fixture(scope="module")
def test_ca():
    """A throwaway CA (software P-256 key) that issues certificates for any public key."""
    return ec.generate_private_key(ec.SECP256R1())


def issue(ca_key, public_key):
    """A DER certificate for public_key (possession looks only at the key in it)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "四川蜀审测试科技有限公司"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "certhall test")])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certhall throwaway test CA")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=300))
            .not_valid_after(now + datetime.timedelta(days=65))
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def challenge(principal, app, algorithm):
    resp = post(principal, app["id"], "possession-challenges", {})
    assert resp.status_code == 201, f"challenge: {resp.status_code} {resp.content[:300]!r}"
    got = resp.body
    m = TO_SIGN_RE.match(got["to_sign"])
    assert m and int(m.group(1)) == app["id"], got
    assert got["algorithm"] == algorithm, got
    assert TIME_RE.match(got["expires_at"]), got
    return got


def prove(principal, app, ch, signature):
    return post(principal, app["id"], "possession",
                {"challenge_id": ch["challenge_id"], "signature": b64(signature)})


def test_change_needs_the_code_and_the_rsa_usb_key(applicant, reviewer, usb_key, test_ca):
    der = issue(test_ca, usb_key.public_key(RSA_KEY))
    app = approved(applicant, reviewer, "change", der=der)

    ch = challenge(applicant, app, "rsa-pkcs1-sha256")
    # Another key of the same token: refused, and the challenge is spent by it.
    resp = prove(applicant, app, ch, usb_key.sign_rsa(OTHER_RSA_KEY, ch["to_sign"]))
    assert_problem(resp, 422, "invalid-field", field="/signature")
    resp = prove(applicant, app, ch, usb_key.sign_rsa(RSA_KEY, ch["to_sign"]))
    assert_problem(resp, 422, "invalid-field", field="/challenge_id")
    assert "used" in resp.body["detail"]

    # A signature over another challenge's text does not prove this one.
    ch1, ch2 = challenge(applicant, app, "rsa-pkcs1-sha256"), \
        challenge(applicant, app, "rsa-pkcs1-sha256")
    resp = prove(applicant, app, ch2, usb_key.sign_rsa(RSA_KEY, ch1["to_sign"]))
    assert_problem(resp, 422, "invalid-field", field="/signature")

    ch = challenge(applicant, app, "rsa-pkcs1-sha256")
    resp = prove(applicant, app, ch, usb_key.sign_rsa(RSA_KEY, ch["to_sign"]))
    assert resp.status_code == 200, resp.content[:300]
    assert resp.body["possession_proven_at"] and resp.body["status"] == "awaiting_verification"
    assert resp.body["verified_at"] is None and signing_jobs(app["id"]) == []
    # Once proven, no more challenges; the code still owed finishes it.
    assert_problem(post(applicant, app["id"], "possession-challenges", {}), 409, "conflict")
    resp = post(applicant, app["id"], "verification", {"code": send_code(applicant, app)})
    assert resp.status_code == 200 and resp.body["status"] == "issuing", resp.content[:300]
    assert signing_jobs(app["id"]) == [("change", "queued", "change")]
    actions = audit_actions(app["id"])
    assert actions.count("application.possession_failed") == 3, actions
    assert "application.possession_proven" in actions and "application.issuing" in actions
    assert sql("SELECT outcome, count(*) FROM possession_challenge WHERE application_id = %s"
               " GROUP BY outcome ORDER BY outcome", (app["id"],)) == \
        [("failed", 2), ("proven", 1), (None, 1)]


def test_renew_proves_possession_with_the_ec_usb_key(applicant, reviewer, usb_key, test_ca):
    der = issue(test_ca, usb_key.public_key(EC_KEY))
    app = approved(applicant, reviewer, "renew", der=der)
    assert app["status"] == "awaiting_payment"

    # The token's raw r‖s is not the DER signature the API takes.
    ch = challenge(applicant, app, "ecdsa-p256-sha256")
    resp = prove(applicant, app, ch, usb_key.sign_ecdsa_raw(EC_KEY, ch["to_sign"]))
    assert_problem(resp, 422, "invalid-field", field="/signature")
    assert "DER" in resp.body["detail"]
    ch = challenge(applicant, app, "ecdsa-p256-sha256")
    resp = prove(applicant, app, ch, usb_key.sign_ecdsa(OTHER_EC_KEY, ch["to_sign"]))
    assert_problem(resp, 422, "invalid-field", field="/signature")

    ch = challenge(applicant, app, "ecdsa-p256-sha256")
    sig = usb_key.sign_ecdsa(EC_KEY, ch["to_sign"])
    # A signature that is not base64 is refused by the schema: the challenge survives.
    resp = post(applicant, app["id"], "possession",
                {"challenge_id": ch["challenge_id"], "signature": "not base64!"})
    assert_problem(resp, 422, "invalid-field", field="/signature")
    resp = prove(applicant, app, ch, sig)
    assert resp.status_code == 200, resp.content[:300]
    # Still owes the payment (the payments side records it): awaiting, no job.
    assert resp.body["status"] == "awaiting_payment" and resp.body["possession_proven_at"]
    assert resp.body["paid_at"] is None and signing_jobs(app["id"]) == []
    assert_problem(post(applicant, app["id"], "possession-challenges", {}), 409, "conflict")
    assert_problem(prove(applicant, app, ch, sig), 409, "conflict")
    # Renew is paid business: no SMS verification.
    assert_problem(post(applicant, app["id"], "verification/sms-code", {}), 409, "conflict")


def test_sm2_in_software(applicant, reviewer, tmp_path):
    """SoftHSM2 has no SM2 (nor has PKCS#11 a standard mechanism for it; Chinese USB keys
    speak SKF): the key and the signatures are made with the openssl command."""
    key, cert = tmp_path / "sm2.key", tmp_path / "sm2.der"
    subprocess.run(["openssl", "genpkey", "-algorithm", "SM2", "-out", str(key)], check=True,
                   capture_output=True)
    subprocess.run(["openssl", "req", "-new", "-x509", "-key", str(key), "-sm3", "-sigopt",
                    "distid:1234567812345678", "-subj", "/CN=certhall SM2 test", "-days", "30",
                    "-outform", "DER", "-out", str(cert)], check=True, capture_output=True)
    app = approved(applicant, reviewer, "change", der=cert.read_bytes())

    def sign(text, *opts):
        msg, sig = tmp_path / "msg", tmp_path / "sig"
        msg.write_bytes(text.encode("utf-8"))
        subprocess.run(["openssl", "dgst", "-sm3", "-sign", str(key), *opts, "-out", str(sig),
                        str(msg)], check=True, capture_output=True)
        return sig.read_bytes()

    # Without the distinguishing ID (OpenSSL 3 has no default), or with another: refused.
    for opts in ((), ("-sigopt", "distid:1234567812345679")):
        ch = challenge(applicant, app, "sm2-sm3")
        assert_problem(prove(applicant, app, ch, sign(ch["to_sign"], *opts)), 422,
                       "invalid-field", field="/signature")
    ch = challenge(applicant, app, "sm2-sm3")
    resp = prove(applicant, app, ch, sign(ch["to_sign"], "-sigopt", "distid:1234567812345678"))
    assert resp.status_code == 200 and resp.body["possession_proven_at"], resp.content[:300]


def test_challenges_expire_and_belong_to_their_application(applicant, reviewer, usb_key,
                                                           test_ca):
    der = issue(test_ca, usb_key.public_key(RSA_KEY))
    app = approved(applicant, reviewer, "change", der=der)
    other = approved(applicant, reviewer, "change", der=der)
    ch = challenge(applicant, app, "rsa-pkcs1-sha256")
    sql("UPDATE possession_challenge SET expires_at = now() - interval '1 second'"
        " WHERE id = %s", (ch["challenge_id"],))
    resp = prove(applicant, app, ch, usb_key.sign_rsa(RSA_KEY, ch["to_sign"]))
    assert_problem(resp, 422, "invalid-field", field="/challenge_id")
    assert "expired" in resp.body["detail"]

    ch = challenge(applicant, other, "rsa-pkcs1-sha256")
    resp = prove(applicant, app, ch, usb_key.sign_rsa(RSA_KEY, ch["to_sign"]))
    assert_problem(resp, 422, "invalid-field", field="/challenge_id")
    resp = post(applicant, app["id"], "possession",
                {"challenge_id": 999999999999, "signature": "AAAA"})
    assert_problem(resp, 422, "invalid-field", field="/challenge_id")
    # The other application's challenge was not touched by the attempt on this one.
    resp = prove(applicant, other, ch, usb_key.sign_rsa(RSA_KEY, ch["to_sign"]))
    assert resp.status_code == 200, resp.content[:300]
    assert R.get(applicant, app["id"])["possession_proven_at"] is None


def test_challenges_need_a_usable_certificate(applicant, reviewer, test_ca):
    none = approved(applicant, reviewer, "change", der=None)
    resp = post(applicant, none["id"], "possession-challenges", {})
    assert_problem(resp, 409, "conflict")
    assert "no certificate is on file" in resp.body["detail"]
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    app = approved(applicant, reviewer, "renew", der=issue(test_ca, weak.public_key()))
    resp = post(applicant, app["id"], "possession-challenges", {})
    assert_problem(resp, 409, "conflict")
    assert "2048" in resp.body["detail"]
    p384 = ec.generate_private_key(ec.SECP384R1())
    app = approved(applicant, reviewer, "change", der=issue(test_ca, p384.public_key()))
    resp = post(applicant, app["id"], "possession-challenges", {})
    assert_problem(resp, 409, "conflict")
    assert "P-256" in resp.body["detail"]
    # Business that needs no possession.
    for business in ("revoke", "reissue"):
        app = approved(applicant, reviewer, business,
                       der=issue(test_ca, ec.generate_private_key(ec.SECP256R1()).public_key()))
        assert_problem(post(applicant, app["id"], "possession-challenges", {}), 409, "conflict")
        assert_problem(post(applicant, app["id"], "possession",
                            {"challenge_id": 1, "signature": "AAAA"}), 409, "conflict")
