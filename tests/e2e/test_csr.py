"""The subscriber's key request (issue 12): POST /api/v1/applications/{id}/csr, through nginx.

Keys are made ON a SoftHSM2 token standing in for the USB key and the PKCS#10 is signed
there (issuance_tools.TokenKeys, checked with `openssl req -verify` before it is sent);
the weak and wrong keys (RSA-1024, P-384) are token keys too, so a refusal is about the
key, not about how the request was made. SM2, which SoftHSM2 lacks, is made with the
openssl command.

- new (and reissue): the operator at the personalisation station sends the request with
  the serial of the USB key initialised for the application (its usb_key row, as the
  station's POST /usb-keys leaves it) and the key moves to `requested`;
- renew and change: the handler sends it, made with the key the current certificate is
  for (possession was proven with the same key in settlement); issued by the signer,
  downloaded, and confirmed installed: the application goes on through `activated` to
  `completed`.

Certificates are issued by the stack's own certhall-signer and verified with openssl against
its CA as GET /api/v1/ca serves it. A test that looks at a job between the key request and
the signer stops the signer for that while (issuance_tools.signer_paused).

Every refusal is checked to change nothing on the job.
"""

import select
import tempfile

import psycopg2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

import issuance_tools as I
from issuance_tools import clerk, operator, reviewer  # noqa: F401  (fixtures)
import test_review as R
from conftest import assert_problem, require_env
from principals import principals, sql  # noqa: F401  (the fixture)
from test_payments import open_order, pay, wait_status
from test_verification import approved, challenge, prove, send_code

APPS = "/api/v1/applications"
RSA_KEY, EC_KEY, WEAK_KEY, P384_KEY = "01", "02", "03", "04"


@pytest.fixture(scope="module")
def applicant(principals):  # noqa: F811
    return principals.new_applicant(name="applicant (key requests)")


@pytest.fixture(scope="module")
def token():
    with tempfile.TemporaryDirectory(prefix="certhall-usbkey.") as root:
        key = I.TokenKeys(root)
        key.generate(RSA_KEY, "rsa:2048")
        key.generate(EC_KEY, "EC:prime256v1")
        key.generate(WEAK_KEY, "rsa:1024")
        key.generate(P384_KEY, "EC:secp384r1")
        yield key


@pytest.fixture(scope="module")
def service_ca(principals):  # noqa: F811
    """The stack's CA, which certhall-signer issues with."""
    return I.ServiceCA(principals.anonymous())


@pytest.fixture(scope="module")
def ca():
    """A throwaway CA for the certificates renew and change start from."""
    ca = I.ThrowawayCA("certhall csr test")
    ca.store(active=False)
    return ca


def send(principal, app_id, csr, usb_key_serial=None):
    doc = {"csr": csr}
    if usb_key_serial is not None:
        doc["usb_key_serial"] = usb_key_serial
    return principal.post_json(f"{APPS}/{app_id}/csr", doc)


def station_app(clerk, reviewer, operator, business="new"):
    """A counter application in issuing with a USB key initialised for it."""
    app = I.counter_issuing(clerk, reviewer, business)
    return app, I.bind_usb_key(app["id"], operator.info["staff_id"])


def usb_key_status(serial):
    return sql("SELECT status FROM usb_key WHERE serial = %s", (serial,))[0][0]


def listener():
    conn = psycopg2.connect(require_env("CERTHALL_DB"))
    conn.autocommit = True
    conn.cursor().execute("LISTEN signing_job")
    return conn


def notified(conn, timeout=5):
    select.select([conn], [], [], timeout)
    conn.poll()
    return [n.payload for n in conn.notifies]


# ---------------------------------------------------------------------------------
# new and reissue: the personalisation station
# ---------------------------------------------------------------------------------

def test_station_sends_the_key_request_of_a_new_certificate(clerk, reviewer, operator, token,
                                                           stackctl, service_ca, tmp_path):
    app, usb = station_app(clerk, reviewer, operator)
    job = I.job_of(app["id"])
    assert job["status"] == "queued" and job["csr"] is None
    csr = token.csr(RSA_KEY, I.subject_name("org"))

    # With no signer running, the job stays as the key request leaves it.
    with I.signer_paused(stackctl):
        conn = listener()
        try:
            resp = send(operator, app["id"], csr, usb)
            assert resp.status_code == 202, resp.content[:400]
            assert str(job["id"]) in notified(conn), "the signer was not woken (NOTIFY signing_job)"
        finally:
            conn.close()
        got = resp.body
        assert got["job_id"] == job["id"] and got["application_id"] == app["id"], got
        assert got["stage"] == "ready" and got["kind"] == "new" and got["attempts"] == 0, got
        assert got["usb_key_serial"] == usb and got["csr_submitted_at"], got
        assert got["unit_name"] == I.UNIT and got["certificate_serial"] is None, got

        job = I.job_of(app["id"])
        assert job["csr"] == I.csr_der(csr), "the request is stored as its DER"
        assert job["csr_actor_kind"] == "staff" and job["csr_actor_id"] == operator.info["staff_id"]
        assert job["usb_key_serial"] == usb and job["status"] == "queued"
        assert usb_key_status(usb) == "requested"
        assert R.get(clerk, app["id"])["status"] == "issuing"
        detail = sql("SELECT detail FROM audit_event WHERE action = 'application.csr_submitted'"
                     " AND object_id = %s", (str(app["id"]),))[0][0]
        assert detail["key_algorithm"] == "rsa" and detail["key_bits"] == 2048, detail
        assert detail["usb_key_serial"] == usb and len(detail["csr_sha256"]) == 64, detail

        # Taken once.
        resp = send(operator, app["id"], token.csr(EC_KEY, I.subject_name("org")), usb)
        body = assert_problem(resp, 409, "conflict")
        assert body["status_now"] == "issuing" and "received already" in body["detail"], body
        assert I.job_of(app["id"])["csr"] == I.csr_der(csr)

    # The signer, back, issues it for the key on the USB key, and the key knows it.
    wait_status(clerk, app["id"], "issued")
    serial = downloaded_and_verified(clerk, app["id"], service_ca, token, RSA_KEY, tmp_path)
    assert sql("SELECT c.serial FROM usb_key u JOIN certificate c ON c.id = u.certificate_id"
               " WHERE u.serial = %s", (usb,)) == [(serial,)]


def test_reissue_is_the_stations_too(clerk, reviewer, operator, token):
    app, usb = station_app(clerk, reviewer, operator, business="reissue")
    resp = send(operator, app["id"], token.csr(EC_KEY, I.subject_name("org")), usb)
    assert resp.status_code == 202 and resp.body["kind"] == "reissue", resp.content[:400]
    assert usb_key_status(usb) == "requested"


def test_station_needs_the_usb_key_bound_to_the_application(clerk, reviewer, operator, token):
    app, usb = station_app(clerk, reviewer, operator)
    other, other_usb = station_app(clerk, reviewer, operator)
    csr = token.csr(RSA_KEY, I.subject_name("org"))

    resp = send(operator, app["id"], csr)
    assert_problem(resp, 422, "missing-field", field="/usb_key_serial")
    for serial in ("UKNOSUCHKEY01", other_usb):
        resp = send(operator, app["id"], csr, serial)
        body = assert_problem(resp, 422, "invalid-field", field="/usb_key_serial")
        assert "initialised for this application" in body["detail"], body
    for bad in ("abc", "x" * 33, "UK 1", 42):
        resp = operator.post_json(f"{APPS}/{app['id']}/csr", {"csr": csr, "usb_key_serial": bad})
        assert_problem(resp, 422, "invalid-field", field="/usb_key_serial")
    # A key already past initialisation is not taken either.
    sql("UPDATE usb_key SET status = 'requested' WHERE serial = %s", (usb,))
    assert_problem(send(operator, app["id"], csr, usb), 422, "invalid-field",
                   field="/usb_key_serial")
    sql("UPDATE usb_key SET status = 'initialised' WHERE serial = %s", (usb,))
    assert I.job_of(app["id"])["csr"] is None and usb_key_status(other_usb) == "initialised"

    assert send(operator, app["id"], csr, usb).status_code == 202
    assert usb_key_status(usb) == "requested" and usb_key_status(other_usb) == "initialised"


def test_refused_requests_name_the_field_and_change_nothing(clerk, reviewer, operator, token):
    app, usb = station_app(clerk, reviewer, operator)
    credit = sql("SELECT credit_code FROM application WHERE id = %s", (app["id"],))[0][0]
    good = token.csr(RSA_KEY, I.subject_name("org"))
    cases = [
        ("not a request", "unreadable", None),
        ("", None, None),                                    # the schema: 1 character at least
        (I.tampered(good), "bad_signature", None),
        (token.csr(RSA_KEY, I.subject_name("org"), sha1=True), "bad_signature", None),
        (token.csr(WEAK_KEY, I.subject_name("org")), "bad_key", None),
        (token.csr(P384_KEY, I.subject_name("org")), "bad_key", None),
        (token.csr(RSA_KEY, I.subject_name("org", cn="另一家测试科技有限公司")), "bad_subject",
         "CN"),
        (token.csr(RSA_KEY, I.subject_name("org", full=True, credit_code=R.credit_code())),
         "bad_subject", "organizationIdentifier"),
        (token.csr(RSA_KEY, I.subject_name("org", extra=[(NameOID.ORGANIZATIONAL_UNIT_NAME,
                                                          "信息部")])), "bad_subject", None),
        (token.csr(RSA_KEY, I.subject_name("personal", cn="王持有")), "bad_subject", "CN"),
        (good + good, "unreadable", None),
        (good.replace("CERTIFICATE REQUEST", "CERTIFICATE"), "unreadable", None),
    ]
    for csr, verdict, attribute in cases:
        resp = send(operator, app["id"], csr, usb)
        body = assert_problem(resp, 422, "invalid-field", field="/csr")
        if verdict is None:
            continue
        assert body["csr_verdict"] == verdict, (verdict, body)
        assert body.get("csr_attribute") == attribute, (attribute, body)
        if attribute:
            assert f"subject attribute {attribute} " in body["detail"], body
        elif verdict == "bad_subject":
            assert "the subject has an attribute" in body["detail"], body
    body = assert_problem(send(operator, app["id"], cases[4][0], usb), 422, "invalid-field")
    assert "fewer than 2048 bits" in body["detail"], body
    assert I.job_of(app["id"])["csr"] is None and usb_key_status(usb) == "initialised"
    refused = sql("SELECT detail->>'verdict', detail->>'field' FROM audit_event"
                  " WHERE action = 'application.csr_refused' AND object_id = %s ORDER BY id",
                  (str(app["id"]),))
    assert len(refused) == len([c for c in cases if c[1]]) + 1, refused
    assert ("bad_subject", "subject.CN") in refused, refused

    # The full subject is taken as well as CN alone, and an EC P-256 key.
    resp = send(operator, app["id"], token.csr(EC_KEY, I.subject_name(
        "org", full=True, credit_code=credit)), usb)
    assert resp.status_code == 202, resp.content[:400]


def test_sm2_request_made_in_software(clerk, reviewer, operator, tmp_path):
    """SoftHSM2 has no SM2: the key and the request are made with the openssl command
    (SM3, distinguishing ID 1234567812345678)."""
    app, usb = station_app(clerk, reviewer, operator)
    key = tmp_path / "sm2.key"
    I.openssl("genpkey", "-algorithm", "SM2", "-out", str(key))

    def request(*opts):
        return I.openssl("req", "-new", "-key", str(key), "-sm3", *opts, "-utf8",
                         "-subj", f"/CN={I.UNIT}").decode()
    # Without the ID (OpenSSL 3 has no default) the signature is over another Z value.
    body = assert_problem(send(operator, app["id"], request(), usb), 422, "invalid-field",
                          field="/csr")
    assert body["csr_verdict"] == "bad_signature", body
    resp = send(operator, app["id"], request("-sigopt", "distid:1234567812345678"), usb)
    assert resp.status_code == 202, resp.content[:400]
    detail = sql("SELECT detail FROM audit_event WHERE action = 'application.csr_submitted'"
                 " AND object_id = %s", (str(app["id"]),))[0][0]
    assert detail["key_algorithm"] == "sm2", detail


# ---------------------------------------------------------------------------------
# Who may send it, and when
# ---------------------------------------------------------------------------------

def test_who_sends_which_request(principals, applicant, clerk, reviewer, operator, token):  # noqa: F811
    station, usb = station_app(clerk, reviewer, operator)
    csr = token.csr(RSA_KEY, I.subject_name("org"))
    # new: the station's; the handler (here a stranger too), the clerk and others: 404.
    for who in (clerk, applicant, principals.applicant("B"),
                principals.integrator("X").principal("u1", name="integrator X for u1")):
        assert_problem(send(who, station["id"], csr, usb), 404, "not-found")
    for role in ("reviewer", "finance", "admin"):
        assert_problem(send(principals.staff(role), station["id"], csr, usb), 403, "forbidden")
    assert I.job_of(station["id"])["csr"] is None

    # renew: the handler's; the operator and strangers get 404 (here before issuing).
    renew = R.submitted(applicant, business="renew")
    for who in (operator, clerk, principals.applicant("B"),
                principals.integrator("Y").principal("u1", name="integrator Y for u1")):
        assert_problem(send(who, renew["id"], csr), 404, "not-found")
    body = assert_problem(send(applicant, renew["id"], csr), 409, "conflict")
    assert body["status_now"] == "submitted", body
    assert_problem(send(applicant, 999999999, csr), 404, "not-found")


def test_wrong_states_are_409(applicant, clerk, reviewer, operator, token):
    csr = token.csr(RSA_KEY, I.subject_name("org"))
    revoke = R.submitted(applicant, business="revoke")
    body = assert_problem(send(applicant, revoke["id"], csr), 409, "conflict")
    assert "revoke and unlock" in body["detail"] and body["status_now"] == "submitted", body

    approved_new = R.submitted(clerk, business="new")
    R.review(reviewer, approved_new["id"], {"decision": "approve"})
    bind = I.bind_usb_key(approved_new["id"], operator.info["staff_id"])
    body = assert_problem(send(operator, approved_new["id"], csr, bind), 409, "conflict")
    assert body["status_now"] == "awaiting_payment", body

    for status, words in (("claimed", "being signed"), ("cancelled", "cancelled"),
                          ("failed", "failed")):
        app, usb = station_app(clerk, reviewer, operator)
        sql("UPDATE signing_job SET status = %s WHERE application_id = %s", (status, app["id"]))
        body = assert_problem(send(operator, app["id"], csr, usb), 409, "conflict")
        assert words in body["detail"] and body["status_now"] == "issuing", body
        assert usb_key_status(usb) == "initialised"


# ---------------------------------------------------------------------------------
# renew and change: the handler, with the key the current certificate is for
# ---------------------------------------------------------------------------------

def current_certificate(app, ca, token, key_id, cert="org"):
    """Puts a certificate from ca for the token key on record as the one app is about
    (its der and the USB key it is on)."""
    row = sql("SELECT credit_code, holder_id_number FROM certificate WHERE id = %s",
              (app["certificate_id"],))[0]
    cert_obj = ca.issue(token.public_key(key_id), cert, row[0], row[1])
    sql("UPDATE certificate SET der = %s, usb_key_serial = %s WHERE id = %s",
        (cert_obj.public_bytes(serialization.Encoding.DER), token.label,
         app["certificate_id"]))


def downloaded_and_verified(principal, app_id, ca, token, key_id, tmp_path):
    """The issued certificate through the API in every format, checked with openssl
    against the CA; returns its serial."""
    resp = principal.get(f"{APPS}/{app_id}/certificate")
    assert resp.status_code == 200, resp.content[:300]
    meta = resp.body
    serial = meta["serial"]
    assert resp.headers["Content-Location"] == f"/api/v1/certificates/{serial}"
    assert meta["application_id"] == app_id and meta["downloadable"], meta
    # Its id is what a later renew, change or revoke names as certificate_id.
    assert sql("SELECT id FROM certificate WHERE serial = %s", (serial,)) == [(meta["id"],)]
    der = principal.get(f"/api/v1/certificates/{serial}/der").content
    pem = principal.get(f"{APPS}/{app_id}/certificate",
                        headers={"Accept": "application/x-pem-file"}).content
    p7c = principal.get(f"/api/v1/certificates/{serial}",
                        headers={"Accept": "application/pkcs7-mime"}).content
    assert I.openssl("x509", "-inform", "DER", "-outform", "PEM", data=der) == pem
    leaf = tmp_path / f"{serial}.pem"
    leaf.write_bytes(pem)
    root, issuing = ca.pem_files(tmp_path)
    assert I.verify_chain(str(leaf), root, issuing).strip().endswith("OK")
    chain = I.p7c_certificates(p7c)
    assert [c.serial_number for c in chain] == [
        x509.load_der_x509_certificate(der).serial_number, ca.issuing.serial_number,
        ca.root.serial_number]
    got = x509.load_der_x509_certificate(der).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert got == token.spki(key_id), "the certificate is not for the token's key"
    return serial


def confirm_installed(principal, app_id, serial):
    resp = principal.post_json(f"/api/v1/certificates/{serial}/installed", {})
    assert resp.status_code == 200, resp.content[:300]
    assert resp.body["installed_at"] and resp.body["serial"] == serial, resp.body
    # Enabled online is the end of renew and change (issue 14): activated, then completed,
    # a history row for each.
    assert R.get(principal, app_id)["status"] == "completed"
    assert [h[:2] for h in R.history(app_id)[-2:]] == [("issued", "activated"),
                                                       ("activated", "completed")]
    assert "certificate.installed" in [r[0] for r in sql(
        "SELECT action FROM audit_event WHERE object_type = 'certificate' AND object_id = %s",
        (serial,))]
    body = assert_problem(principal.post_json(f"/api/v1/certificates/{serial}/installed", {}),
                          409, "conflict")
    assert body["status_now"] == "completed", body


def test_renew_through_the_api_with_the_existing_token_key(applicant, reviewer, token, ca,
                                                           service_ca, tmp_path):
    app = approved(applicant, reviewer, "renew")
    current_certificate(app, ca, token, RSA_KEY)
    ch = challenge(applicant, app, "rsa-pkcs1-sha256")
    assert prove(applicant, app, ch, token.sign_rsa(RSA_KEY, ch["to_sign"])).status_code == 200
    pay(open_order(applicant, app["id"])["pay_url"])
    wait_status(applicant, app["id"], "issuing")
    # Nothing to download before the key request.
    body = assert_problem(applicant.get(f"{APPS}/{app['id']}/certificate"), 404, "not-found")
    assert body["status_now"] == "issuing", body

    csr = token.csr(RSA_KEY, I.subject_name("org"))
    resp = send(applicant, app["id"], csr)
    assert resp.status_code == 202 and resp.body["stage"] == "ready", resp.content[:400]
    # The renewed certificate goes on the USB key the current one is on.
    assert resp.body["usb_key_serial"] == token.label, resp.body
    job = I.job_of(app["id"])
    assert job["csr_actor_kind"] == "applicant"
    assert job["csr_actor_id"] == applicant.info["applicant_id"]

    wait_status(applicant, app["id"], "issued")
    serial = downloaded_and_verified(applicant, app["id"], service_ca, token, RSA_KEY, tmp_path)
    confirm_installed(applicant, app["id"], serial)


def test_change_through_the_api_with_the_existing_token_key(applicant, reviewer, token, ca,
                                                            service_ca, tmp_path):
    app = approved(applicant, reviewer, "change")
    current_certificate(app, ca, token, EC_KEY)
    resp = applicant.post_json(f"{APPS}/{app['id']}/verification",
                               {"code": send_code(applicant, app)})
    assert resp.status_code == 200, resp.content[:300]
    ch = challenge(applicant, app, "ecdsa-p256-sha256")
    assert prove(applicant, app, ch, token.sign_ecdsa(EC_KEY, ch["to_sign"])).status_code == 200
    assert R.get(applicant, app["id"])["status"] == "issuing"

    # A request for another key of the same token is as good a proof of a new key; the
    # subject must fit the changed application.
    credit = sql("SELECT credit_code FROM application WHERE id = %s", (app["id"],))[0][0]
    body = assert_problem(send(applicant, app["id"], token.csr(EC_KEY, I.subject_name(
        "org", full=True, credit_code=R.credit_code()))), 422, "invalid-field", field="/csr")
    assert body["csr_attribute"] == "organizationIdentifier", body
    resp = send(applicant, app["id"], token.csr(EC_KEY, I.subject_name(
        "org", full=True, credit_code=credit)))
    assert resp.status_code == 202 and resp.body["kind"] == "change", resp.content[:400]

    wait_status(applicant, app["id"], "issued")
    serial = downloaded_and_verified(applicant, app["id"], service_ca, token, EC_KEY, tmp_path)
    # The changed certificate supersedes the old one, which is revoked.
    assert sql("SELECT status, revocation_reason FROM certificate WHERE id = %s",
               (app["certificate_id"],)) == [("revoked", "superseded")]
    confirm_installed(applicant, app["id"], serial)


def test_a_new_certificate_is_not_confirmed_online(clerk, reviewer, operator, token):
    app, usb = station_app(clerk, reviewer, operator)
    assert send(operator, app["id"], token.csr(RSA_KEY, I.subject_name("org")),
                usb).status_code == 202
    wait_status(clerk, app["id"], "issued")
    serial = clerk.get(f"{APPS}/{app['id']}/certificate").body["serial"]
    body = assert_problem(clerk.post_json(f"/api/v1/certificates/{serial}/installed", {}), 409,
                          "conflict")
    assert body["status_now"] == "issued" and "personalised" in body["detail"], body
    assert R.get(clerk, app["id"])["status"] == "issued"

