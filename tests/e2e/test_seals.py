"""E-seals (issue 13): GB/T 38540-2020 SES_Seal v4 made by certhall-signer for an issued
application that asked for them, read through GET /api/v1/seals, /seals/{id} and
/seals/{id}/der through nginx.

Applications go the whole way through the API (counter, review, payment, the station's key
request) and the stack's own certhall-signer issues the certificate and makes the seals.
Each seal is then judged with tools certhall did not write: python3-pyasn1 with the
standard's schema written out below (SPEC §8), `openssl asn1parse`, and the signature
checked with the openssl command against the seal maker's certificate as GET /api/v1/ca
publishes it: `pkeyutl -rawin -digest sm3 -pkeyopt distid:1234567812345678` for SM2,
`dgst -sha256 -verify` for ECDSA P-256. The ECDSA seal maker is configured by restarting
the signer with CERTHALL_SIGNER_SEAL_ALG=ec-p256 (the default, SM2, is restored after).
A revoked certificate's seals must show as not valid: the revocation is set with SQL here
(revocation itself is built elsewhere), which is all the derived status reads.
"""

import hashlib
import os
import secrets
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from pyasn1.codec.der import decoder, encoder

import issuance_tools as I
from issuance_tools import clerk, operator, reviewer  # noqa: F401  (fixtures)
import test_review as R
from conftest import assert_problem, wait_until
from principals import principals, sql  # noqa: F401  (the fixture)
from test_payments import wait_status

APPS = "/api/v1/applications"
SEALS = "/api/v1/seals"
SEAL_WAIT = 60
SM2_WITH_SM3 = "1.2.156.10197.1.501"
ECDSA_SHA256 = "1.2.840.10045.4.3.2"

# The standard's structure (GB/T 38540-2020, SPEC §8) as python3-pyasn1 classes, and the
# SM2 check with the openssl command: tests/codec/check_seal.py's, the codec's independent
# checker (it shares no code with certhall's codec).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "codec"))
from check_seal import CertInfoList, SESeal, der_decode, sm2_verify  # noqa: E402

def first_element(der):
    """The bytes of the first element inside the outer SEQUENCE, as sent (the TBS the
    seal maker signed, DER(SES_SealInfo)), read from the TLV headers alone."""
    def header(at):
        assert der[at] == 0x30, hex(der[at])
        n = der[at + 1]
        if n < 0x80:
            return 2, n
        k = n & 0x7F
        return 2 + k, int.from_bytes(der[at + 2:at + 2 + k], "big")
    hl, _ = header(0)
    ihl, icl = header(hl)
    return der[hl:hl + ihl + icl]


# ---------------------------------------------------------------------------------
# openssl
# ---------------------------------------------------------------------------------

def openssl_verifies(algorithm, maker_der, tbs, signature):
    """Whether openssl finds signature (DER) over tbs good with the key of maker_der."""
    with tempfile.TemporaryDirectory(prefix="certhall-seal.") as d:
        d = Path(d)
        (d / "maker.der").write_bytes(maker_der)
        (d / "tbs").write_bytes(tbs)
        (d / "sig").write_bytes(signature)
        pub = subprocess.run(["openssl", "x509", "-inform", "DER", "-in", d / "maker.der",
                              "-noout", "-pubkey"], capture_output=True, check=True).stdout
        if algorithm == "sm2":
            return sm2_verify(pub, tbs, signature)
        (d / "pub.pem").write_bytes(pub)
        proc = subprocess.run(["openssl", "dgst", "-sha256", "-verify", d / "pub.pem",
                               "-signature", d / "sig", d / "tbs"],
                              capture_output=True, text=True, timeout=60)
        return proc.returncode == 0 and "Verified" in proc.stdout + proc.stderr


def asn1parse(der):
    return subprocess.run(["openssl", "asn1parse", "-inform", "DER"], input=der,
                          capture_output=True, check=True, timeout=60).stdout.decode()


# ---------------------------------------------------------------------------------
# Applications issued with seals
# ---------------------------------------------------------------------------------

def png_with_phys(width_px, height_px, px_per_metre):
    """A real PNG of width x height pixels with a pHYs chunk (pixels per metre)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width_px, height_px, 8, 0, 0, 0, 0)
    phys = struct.pack(">IIB", px_per_metre, px_per_metre, 1)
    raw = b"".join(b"\x00" + bytes(width_px) for _ in range(height_px))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"pHYs", phys) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def issued_with_seals(clerk, reviewer, operator, cert="org", seals=1, png=None):
    """A counter application for seals e-seals, with the seal impression png (else the
    test PNG), issued by the stack's signer; returns (application, certificate, seals)."""
    resp = clerk.post_json(APPS, R.application_body(cert=cert, seals=seals))
    assert resp.status_code == 201, resp.content[:300]
    app = resp.body
    R.attach(clerk, app)
    if png is not None:
        resp = clerk.request("PUT", f"{APPS}/{app['id']}/materials/seal_impression",
                             data=png, headers={"Content-Type": "image/png"})
        assert resp.status_code in (200, 201), resp.content[:300]
    R.submit(clerk, app["id"])
    resp = R.review(reviewer, app["id"], {"decision": "approve"})
    assert resp.status_code == 200, resp.content[:300]
    resp = clerk.post_json(f"{APPS}/{app['id']}/counter-payment",
                           {"method": "cash", "receipt_no": "R" + secrets.token_hex(8),
                            "amount_fen": resp.body["quote"]["total_fen"]})
    assert resp.status_code == 201, resp.content[:300]
    usb = I.bind_usb_key(app["id"], operator.info["staff_id"])
    key = ec.generate_private_key(ec.SECP256R1())
    resp = operator.post_json(f"{APPS}/{app['id']}/csr", {
        "csr": I.software_csr(key, I.subject_name(cert)), "usb_key_serial": usb})
    assert resp.status_code == 202, resp.content[:300]
    wait_status(clerk, app["id"], "issued")
    certificate = clerk.get(f"{APPS}/{app['id']}/certificate").body
    def listed():
        items = clerk.get(f"{SEALS}?certificate_serial={certificate['serial']}").body["items"]
        return items if len(items) == seals else None
    found = wait_until(listed, SEAL_WAIT, what=f"{seals} seal(s) of application {app['id']}")
    return app, certificate, sorted(found, key=lambda s: s["seal_number"])


@pytest.fixture
def ecdsa_signer(stackctl):
    """The signer restarted with the ECDSA seal maker; SM2 again afterwards."""
    stackctl.run("signer-stop")
    os.environ["CERTHALL_SIGNER_SEAL_ALG"] = "ec-p256"
    try:
        stackctl.run("signer-start")
        yield
    finally:
        os.environ.pop("CERTHALL_SIGNER_SEAL_ALG", None)
        stackctl.run("signer-stop")
        stackctl.run("signer-start")


def judge(principal, seal, certificate, algorithm, app, cert_type, picture):
    """Everything a relying party checks on one seal, with tools certhall did not write."""
    resp = principal.get(f"{SEALS}/{seal['id']}/der")
    assert resp.status_code == 200, resp.content[:300]
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert resp.headers["Content-Disposition"] == f'attachment; filename="{seal["es_id"]}.esl"'
    der = resp.content
    assert hashlib.sha256(der).hexdigest() == seal["der_sha256"] and len(der) == seal["size_bytes"]

    # openssl reads it as well-formed DER, and finds the UTF-8 name and the OIDs.
    text = asn1parse(der)
    assert "IA5STRING         :ES" in text and ":PNG" in text, text[:2000]
    assert ("SM2-with-SM3" in text or SM2_WITH_SM3 in text) if algorithm == "sm2" \
        else "ecdsa-with-SHA256" in text, text[-800:]

    # python3-pyasn1 with the standard's schema: nothing left over, and DER as it is.
    decoded = der_decode(der, SESeal(), "seal")
    info = decoded["eSealInfo"]
    assert str(info["header"]["ID"]) == "ES" and int(info["header"]["version"]) == 4
    assert str(info["header"]["Vid"]) == "certhall"
    assert str(info["esID"]) == seal["es_id"] == f"CH{certificate['serial']}-{seal['seal_number']}"
    prop = info["property"]
    assert int(prop["type"]) == (1 if cert_type == "org" else 2)
    assert str(prop["name"]) == (R.application_body()["unit_name"] if cert_type == "org"
                                 else "王持有") == seal["name"]
    assert int(prop["certListType"]) == 1
    certs = der_decode(bytes(prop["certList"]), CertInfoList(), "certList")
    owner_der = principal.get(f"/api/v1/certificates/{certificate['serial']}/der").content
    assert [bytes(c) for c in certs] == [owner_der]
    start, end = str(prop["validStart"]), str(prop["validEnd"])
    assert start.endswith("Z") and len(start) == 15 and end.endswith("Z")
    nb = certificate["not_before"]
    assert start >= to_gt(nb) and end == to_gt(certificate["not_after"]), (start, end)
    pic = info["picture"]
    assert str(pic["type"]) == "PNG" and bytes(pic["data"]) == picture
    assert (int(pic["width"]), int(pic["height"])) == (seal["picture"]["width_mm"],
                                                       seal["picture"]["height_mm"])
    assert hashlib.sha256(picture).hexdigest() == seal["picture"]["sha256"]

    # cert is the seal maker's certificate, as the CA publishes it.
    maker = principal.get(f"/api/v1/ca/seal_maker-{algorithm}/der").content
    assert bytes(decoded["cert"]) == maker
    assert seal["maker"]["name"] == f"seal_maker-{algorithm}" and seal["algorithm"] == algorithm
    assert str(decoded["signAlgID"]) == (SM2_WITH_SM3 if algorithm == "sm2" else ECDSA_SHA256)

    # The signature over DER(SES_SealInfo) as sent verifies; one byte changed does not.
    tbs = first_element(der)
    assert tbs == encoder.encode(info)
    signature = decoded["signedValue"].asOctets()
    assert openssl_verifies(algorithm, maker, tbs, signature)
    at = tbs.index(seal["es_id"].encode()) + 2
    changed = tbs[:at] + bytes([tbs[at] ^ 0x01]) + tbs[at + 1:]
    assert not openssl_verifies(algorithm, maker, changed, signature)
    broken = der.replace(tbs, changed, 1)
    decoded2, _ = decoder.decode(broken, asn1Spec=SESeal())
    assert not openssl_verifies(algorithm, maker, first_element(broken),
                                decoded2["signedValue"].asOctets())
    return decoded


def to_gt(shanghai):
    """'2026-11-25T09:41:09+08:00' as GeneralizedTime in UTC ('20261125014109Z')."""
    import datetime
    t = datetime.datetime.fromisoformat(shanghai).astimezone(datetime.timezone.utc)
    return t.strftime("%Y%m%d%H%M%SZ")


# ---------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------

def test_an_sm2_seal_reads_and_verifies_with_tools_certhall_did_not_write(
        principals, clerk, reviewer, operator):  # noqa: F811
    picture = png_with_phys(40, 40, 1000)       # 40 px at 1 px/mm: 40 mm x 40 mm
    app, certificate, seals = issued_with_seals(clerk, reviewer, operator, seals=2,
                                                png=picture)
    assert [s["seal_number"] for s in seals] == [1, 2]
    assert len({s["es_id"] for s in seals}) == 2
    for seal in seals:
        assert seal["status"] == "valid" and seal["seal_type"] == "org"
        assert seal["picture"]["width_mm"] == 40 and seal["picture"]["height_mm"] == 40
        assert seal["certificate_id"] == certificate["id"]
        assert seal["application_id"] == app["id"]
        judge(clerk, seal, certificate, "sm2", app, "org", picture)

    # The owner (the handler, whose counter application it is) reads them; strangers
    # get nothing: an empty list, and 404 for the seal and its DER.
    owner = principals.sign_in_applicant(app["handler_phone"], principals.request_sms_code(
        app["handler_phone"]), name="seal owner")
    mine = owner.get(SEALS).body["items"]
    assert {s["id"] for s in mine} == {s["id"] for s in seals}
    assert owner.get(f"{SEALS}/{seals[0]['id']}").body == clerk.get(
        f"{SEALS}/{seals[0]['id']}").body
    stranger = principals.new_applicant(name="seal stranger")
    assert stranger.get(SEALS).body["items"] == []
    for suffix in ("", "/der"):
        assert_problem(stranger.get(f"{SEALS}/{seals[0]['id']}{suffix}"), 404, "not-found")
    assert_problem(clerk.get(f"{SEALS}/nope"), 404, "not-found")
    assert_problem(clerk.get(f"{SEALS}/999999999"), 404, "not-found")

    # Made once: the signer's pass does not make more for the same certificate.
    assert sql("SELECT count(*) FROM seal WHERE certificate_id = %s",
               (certificate["id"],)) == [(2,)]
    assert sql("SELECT done_at IS NOT NULL, last_error FROM seal_job"
               " WHERE certificate_id = %s", (certificate["id"],)) == [(True, None)]

    # A revoked certificate's seals are no longer valid (derived; nothing rewritten).
    sql("UPDATE certificate SET status = 'revoked', revoked_at = now(),"
        " revocation_reason = 'keyCompromise' WHERE id = %s", (certificate["id"],))
    for seal in seals:
        assert clerk.get(f"{SEALS}/{seal['id']}").body["status"] == "revoked"
    revoked = clerk.get(f"{SEALS}?certificate_serial={certificate['serial']}&status=revoked")
    assert len(revoked.body["items"]) == 2
    assert clerk.get(f"{SEALS}?certificate_serial={certificate['serial']}&status=valid"
                     ).body["items"] == []


def test_a_personal_seal_in_ecdsa_when_so_configured(clerk, reviewer, operator,  # noqa: F811
                                                     ecdsa_signer):
    picture = R.png_bytes()                     # 1 x 1 px, no pHYs: the default size
    app, certificate, seals = issued_with_seals(clerk, reviewer, operator, cert="personal",
                                                png=picture)
    (seal,) = seals
    assert seal["algorithm"] == "ec-p256" and seal["seal_type"] == "personal"
    assert seal["picture"]["width_mm"] == 20 and seal["picture"]["height_mm"] == 20
    judge(clerk, seal, certificate, "ec-p256", app, "personal", picture)


def test_bad_list_queries_are_422_naming_the_parameter(clerk):  # noqa: F811
    for query, parameter in (("status=odd", "status"), ("certificate_serial=xyz",
                             "certificate_serial"), ("limit=0", "limit"), ("foo=1", "foo")):
        body = assert_problem(clerk.get(f"{SEALS}?{query}"), 422, "invalid-field")
        assert body.get("parameter") == parameter, body
