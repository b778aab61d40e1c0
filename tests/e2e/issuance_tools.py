"""Helpers for the issuance tests (issue 12): key requests made on a SoftHSM2 "USB key",
a throwaway test CA, certificates as the signer stores them, and applications brought to
`issuing` through the API.

Key requests (PKCS#10) on a token. python3-cryptography cannot sign with a PKCS#11 key and
Debian 12 has no pkcs11 provider for `openssl req`, so the request is put together here
the way a USB key's middleware does it: the CertificationRequestInfo is DER-encoded in
Python (the subject Name from python3-cryptography, the SubjectPublicKeyInfo read off the
token with pkcs11-tool), signed ON the token with `pkcs11-tool --sign` (SHA256-RSA-PKCS for
RSA; CKM_ECDSA over the SHA-256 digest for EC, whose raw r‖s is converted to DER) and
wrapped in the CertificationRequest. Every request made here is checked with `openssl req
-verify` before it is sent, so a refusal by the API is the API's, not a malformed test
request.

The test CA (python3-cryptography): an RSA root and an RSA issuing CA with the extensions
`openssl verify` wants, stored in ca_certificate (inactive unless asked, so they never
stand in the way of the signer's own, which are active per role and algorithm), and
certificates it issues stored in `certificate` as the signer stores them (der, job,
application, applicant, issuer, key algorithm, subject, USB key): the certificates that
existed before, which renew, change and proofs of possession are about. What an
application of this system gets is issued by the stack's certhall-signer (ServiceCA reads
its CA certificates as a relying party does).
"""

import base64
import contextlib
import datetime
import hashlib
import re
import secrets
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID, ObjectIdentifier

import test_review as R
from principals import sql
from test_verification import UsbKey

APPS = "/api/v1/applications"
UNIT = "四川蜀审测试科技有限公司"       # test_review.application_body's unit
HOLDER = "王持有"                       # and its holder
ORG_ID = ObjectIdentifier("2.5.4.97")  # organizationIdentifier
UTC = datetime.timezone.utc

# ---------------------------------------------------------------------------------
# DER, as much as a PKCS#10 request needs
# ---------------------------------------------------------------------------------


def der_tlv(tag, content):
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def der_seq(*items):
    return der_tlv(0x30, b"".join(items))


def der_oid(dotted):
    arcs = [int(a) for a in dotted.split(".")]
    out = bytes([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return der_tlv(0x06, out)


DER_NULL = b"\x05\x00"
SHA256_RSA = der_seq(der_oid("1.2.840.113549.1.1.11"), DER_NULL)
SHA1_RSA = der_seq(der_oid("1.2.840.113549.1.1.5"), DER_NULL)
ECDSA_SHA256 = der_seq(der_oid("1.2.840.10045.4.3.2"))


def request_info(subject, spki_der, attributes=b""):
    """CertificationRequestInfo ::= SEQUENCE { version 0, subject Name, SPKI,
    attributes [0] IMPLICIT SET OF Attribute }."""
    return der_seq(der_tlv(0x02, b"\x00"), subject.public_bytes(), spki_der,
                   der_tlv(0xA0, attributes))


def request(info, algorithm, signature):
    """CertificationRequest ::= SEQUENCE { info, signatureAlgorithm, signature BIT STRING }."""
    return der_seq(info, algorithm, der_tlv(0x03, b"\x00" + signature))


def to_pem(der, label="CERTIFICATE REQUEST"):
    b64 = base64.b64encode(der).decode()
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def openssl_verifies(pem_text):
    """Whether `openssl req -verify` accepts the request's self-signature."""
    proc = subprocess.run(["openssl", "req", "-noout", "-verify"], input=pem_text.encode(),
                          capture_output=True, timeout=30)
    return proc.returncode == 0 and b"verify OK" in proc.stdout + proc.stderr


def subject_name(cert="org", cn=None, full=False, credit_code=None, id_number=None,
                 extra=()):
    """A request's subject: CN alone (what most USB key tools send), or every attribute
    the certificate will carry (full), plus extra (oid, value) pairs."""
    cn = cn or (HOLDER if cert == "personal" else UNIT)
    attrs = []
    if full:
        attrs += [x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                  x509.NameAttribute(NameOID.ORGANIZATION_NAME, UNIT),
                  x509.NameAttribute(ORG_ID, f"NTRCN-{credit_code}")]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    if full and cert == "personal":
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, f"IDCCN-{id_number}"))
    attrs += [x509.NameAttribute(oid, value) for oid, value in extra]
    return x509.Name(attrs)


class TokenKeys(UsbKey):
    """A SoftHSM2 token standing in for a USB key (test_verification.UsbKey: its own
    SOFTHSM2_CONF, driven with pkcs11-tool as a USB key's middleware would be), which also
    makes key requests for its keys: the private keys never leave it."""

    # EC_PARAMS (a named curve's OID, DER) of the curves the tests make.
    CURVES = {"06082a8648ce3d030107": ec.SECP256R1(), "06052b81040022": ec.SECP384R1()}

    def public_key(self, key_id):
        """The public key as the token holds it. An EC key is read from CKA_EC_POINT:
        pkcs11-tool 0.23 cannot export a P-384 key ("cannot create EVP_PKEY")."""
        listing = self.tool("--list-objects", "--type", "pubkey").decode()
        # --list-objects ignores --id: find this key's block.
        blocks = [b for b in listing.split("Public Key Object")
                  if re.search(rf"^\s*ID:\s+{key_id}\s*$", b, re.M)]
        assert len(blocks) == 1, listing
        point = re.search(r"EC_POINT:\s+([0-9a-f]+)", blocks[0])
        if point is None:
            return super().public_key(key_id)
        params = re.search(r"EC_PARAMS:\s+([0-9a-f]+)", blocks[0]).group(1)
        octets = bytes.fromhex(point.group(1))     # DER OCTET STRING of the point
        assert octets[0] == 0x04 and octets[1] < 0x80, blocks[0]
        return ec.EllipticCurvePublicKey.from_encoded_point(self.CURVES[params], octets[2:])

    def spki(self, key_id):
        return self.public_key(key_id).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    def csr(self, key_id, subject, sha1=False, attributes=b""):
        """A PKCS#10 request (PEM) for the token key key_id, signed on the token."""
        info = request_info(subject, self.spki(key_id), attributes)
        if isinstance(self.public_key(key_id), rsa.RSAPublicKey):
            mech, alg = ("SHA1-RSA-PKCS", SHA1_RSA) if sha1 else ("SHA256-RSA-PKCS", SHA256_RSA)
            sig = self.sign(key_id, mech, info)
        else:
            raw = self.sign(key_id, "ECDSA", hashlib.sha256(info).digest())
            half = len(raw) // 2
            alg, sig = ECDSA_SHA256, encode_dss_signature(
                int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
        text = to_pem(request(info, alg, sig))
        assert openssl_verifies(text), "openssl does not verify the test's own request"
        return text


def software_csr(key, subject, hash_algorithm=None):
    """A request signed by a python3-cryptography key (the cases a token would not make)."""
    return x509.CertificateSigningRequestBuilder().subject_name(subject).sign(
        key, hash_algorithm or hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def tampered(pem_text):
    """The request with one bit of its signature flipped: still well-formed DER."""
    der = x509.load_pem_x509_csr(pem_text.encode()).public_bytes(serialization.Encoding.DER)
    return to_pem(der[:-1] + bytes([der[-1] ^ 0x01]))


def csr_der(pem_text):
    return x509.load_pem_x509_csr(pem_text.encode()).public_bytes(serialization.Encoding.DER)


# ---------------------------------------------------------------------------------
# A throwaway test CA, and certificates as the signer stores them
# ---------------------------------------------------------------------------------

def serial_hex(n):
    """The store's form of a serial (lowercase hex, no leading zero bytes)."""
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return raw.hex()


def new_serial():
    return int.from_bytes(secrets.token_bytes(16), "big") >> 1 | 1 << 100


def _ski(public_key):
    return x509.SubjectKeyIdentifier.from_public_key(public_key)


class ThrowawayCA:
    """A root and an issuing CA (RSA-2048, python3-cryptography) that issue subscriber
    certificates for any public key, with the profile's extensions."""

    def __init__(self, name="certhall test"):
        now = datetime.datetime.now(UTC) - datetime.timedelta(minutes=5)
        self.root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.issuing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        root_name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                               x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                               x509.NameAttribute(NameOID.COMMON_NAME, f"{name} Root CA")])
        issuing_name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                                  x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                                  x509.NameAttribute(NameOID.COMMON_NAME,
                                                     f"{name} Issuing CA")])
        ca_usage = x509.KeyUsage(digital_signature=False, content_commitment=False,
                                 key_encipherment=False, data_encipherment=False,
                                 key_agreement=False, key_cert_sign=True, crl_sign=True,
                                 encipher_only=False, decipher_only=False)
        root_ski = _ski(self.root_key.public_key())
        self.root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
                     .public_key(self.root_key.public_key()).serial_number(new_serial())
                     .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .add_extension(ca_usage, True)
                     .add_extension(root_ski, False)
                     .sign(self.root_key, hashes.SHA256()))
        self.issuing = (x509.CertificateBuilder().subject_name(issuing_name)
                        .issuer_name(root_name).public_key(self.issuing_key.public_key())
                        .serial_number(new_serial()).not_valid_before(now)
                        .not_valid_after(now + datetime.timedelta(days=1825))
                        .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
                        .add_extension(ca_usage, True)
                        .add_extension(_ski(self.issuing_key.public_key()), False)
                        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                            root_ski), False)
                        .sign(self.root_key, hashes.SHA256()))
        self.root_id = self.issuing_id = None

    def store(self, active=False):
        """Inserts root and issuing CA into ca_certificate; returns (root id, issuing id)."""
        self.root_id = insert_ca(self.root, "root", None, active)
        self.issuing_id = insert_ca(self.issuing, "issuing", self.root_id, active)
        return self.root_id, self.issuing_id

    def unstore(self):
        sql("UPDATE ca_certificate SET active = false WHERE id IN (%s, %s)",
            (self.root_id, self.issuing_id))

    def pem_files(self, directory):
        """Writes root.pem and issuing.pem into directory; returns their paths."""
        out = []
        for name, cert in (("root", self.root), ("issuing", self.issuing)):
            path = Path(directory) / f"{name}.pem"
            path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            out.append(str(path))
        return out

    def issue(self, public_key, cert="org", credit_code=None, id_number=None, days=365,
              unit=UNIT, holder=HOLDER):
        """A subscriber certificate of the org or personal profile for public_key."""
        now = datetime.datetime.now(UTC).replace(microsecond=0)
        attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                 x509.NameAttribute(NameOID.ORGANIZATION_NAME, unit),
                 x509.NameAttribute(ORG_ID, f"NTRCN-{credit_code}"),
                 x509.NameAttribute(NameOID.COMMON_NAME, holder if cert == "personal" else unit)]
        if cert == "personal":
            attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, f"IDCCN-{id_number}"))
        return (x509.CertificateBuilder().subject_name(x509.Name(attrs))
                .issuer_name(self.issuing.subject).public_key(public_key)
                .serial_number(new_serial()).not_valid_before(now)
                .not_valid_after(now + datetime.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, key_cert_sign=False,
                                             crl_sign=False, encipher_only=False,
                                             decipher_only=False), True)
                .add_extension(_ski(public_key), False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                    _ski(self.issuing_key.public_key())), False)
                .sign(self.issuing_key, hashes.SHA256()))


def insert_ca(cert, role, issuer_id, active):
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return sql("INSERT INTO ca_certificate (role, algorithm, key_ref, subject, serial,"
               " not_before, not_after, der, spki_sha256, issuer_id, active)"
               " VALUES (%s, 'rsa', 'file:/nonexistent/test-ca.p8', %s, %s, %s, %s, %s, %s,"
               "  %s, %s) RETURNING id",
               (role, cert.subject.rfc4514_string(), serial_hex(cert.serial_number),
                cert.not_valid_before.replace(tzinfo=UTC),
                cert.not_valid_after.replace(tzinfo=UTC),
                cert.public_bytes(serialization.Encoding.DER),
                hashlib.sha256(spki).digest(), issuer_id, active))[0][0]


def key_algorithm(public_key):
    if isinstance(public_key, rsa.RSAPublicKey):
        return "rsa"
    return "ec-p256"


def store_certificate(cert, ca, applicant_id, cert_type="org", credit_code=None,
                      id_number=None, application_id=None, job_id=None, usb_key_serial=None,
                      holder=HOLDER, unit=UNIT, revoked=False):
    """Inserts cert (issued by ca) as the signer stores a certificate; returns its serial."""
    serial = serial_hex(cert.serial_number)
    sql("INSERT INTO certificate (serial, certificate_type, unit_name, credit_code,"
        " holder_name, holder_id_number, not_before, not_after, status, revoked_at,"
        " revocation_reason, usb_key_serial, der, job_id, application_id, applicant_id,"
        " issuer_id, key_algorithm, subject)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (serial, cert_type, unit, credit_code,
         holder if cert_type == "personal" else None,
         id_number if cert_type == "personal" else None,
         cert.not_valid_before.replace(tzinfo=UTC), cert.not_valid_after.replace(tzinfo=UTC),
         "revoked" if revoked else "valid",
         datetime.datetime.now(UTC) if revoked else None,
         "superseded" if revoked else None, usb_key_serial,
         cert.public_bytes(serialization.Encoding.DER), job_id, application_id, applicant_id,
         ca.issuing_id, key_algorithm(cert.public_key()), cert.subject.rfc4514_string()))
    return serial


class ServiceCA:
    """The stack's own root and issuing CA (RSA), as a relying party gets them: GET
    /api/v1/ca/{name}/pem, no credentials. Same interface as ThrowawayCA's reads."""

    def __init__(self, anonymous):
        def load(name):
            resp = anonymous.get(f"/api/v1/ca/{name}/pem")
            assert resp.status_code == 200, (name, resp.content[:300])
            return x509.load_pem_x509_certificate(resp.content)
        self.root, self.issuing = load("root-rsa"), load("issuing-rsa")

    pem_files = ThrowawayCA.pem_files


@contextlib.contextmanager
def signer_paused(stackctl):
    """No certhall-signer runs inside the block, so a job with its key request stays
    `ready` for as long as the test looks at it; the signer is started again on the way
    out (and then takes the job, as after any outage)."""
    stackctl.run("signer-stop")
    try:
        yield
    finally:
        stackctl.run("signer-start")


# ---------------------------------------------------------------------------------
# Applications brought to `issuing` through the API
# ---------------------------------------------------------------------------------

# The staff who take an application there and on (fixtures: import them into the test
# module, next to the principals fixture they use).

@pytest.fixture(scope="module")
def reviewer(principals):
    return principals.staff("reviewer")


@pytest.fixture(scope="module")
def clerk(principals):
    return principals.staff("counter")


@pytest.fixture(scope="module")
def operator(principals):
    return principals.staff("operator")


def counter_issuing(clerk, reviewer, business="new", cert="org"):
    """A walk-in's new (or reissue) application, entered and paid at the counter: issuing,
    its signing job queued without a key request. Returns the application."""
    kw = {}
    if business != "new":
        subject = {"credit_code": R.credit_code(), "holder_id_number": R.id_number()}
        kw = {"subject": subject, "certificate_id": R.insert_certificate(cert, subject)}
    resp = clerk.post_json(APPS, R.application_body(business=business, cert=cert, **kw))
    assert resp.status_code == 201, f"counter create: {resp.status_code} {resp.content[:300]!r}"
    app = resp.body
    R.attach(clerk, app)
    R.submit(clerk, app["id"])
    resp = R.review(reviewer, app["id"], {"decision": "approve"})
    assert resp.status_code == 200 and resp.body["status"] == "awaiting_payment", resp.body
    resp = clerk.post_json(f"{APPS}/{app['id']}/counter-payment",
                           {"method": "cash", "receipt_no": "R" + secrets.token_hex(8),
                            "amount_fen": resp.body["quote"]["total_fen"]})
    assert resp.status_code == 201, f"counter payment: {resp.status_code} {resp.content[:300]!r}"
    app = R.get(clerk, app["id"])
    assert app["status"] == "issuing", app
    return app


def bind_usb_key(app_id, operator_id, serial=None):
    """A blank USB key initialised for application app_id (the station's POST
    /usb-keys does this; here as its row). Returns the serial."""
    serial = serial or f"UK{secrets.token_hex(5).upper()}"
    sql("INSERT INTO usb_key (serial, application_id, operator_id) VALUES (%s, %s, %s)",
        (serial, app_id, operator_id))
    return serial


def job_of(app_id):
    rows = sql("SELECT id, status, csr, csr_submitted_at, csr_actor_kind, csr_actor_id,"
               " usb_key_serial FROM signing_job WHERE application_id = %s", (app_id,))
    if not rows:
        return None
    keys = ("id", "status", "csr", "csr_submitted_at", "csr_actor_kind", "csr_actor_id",
            "usb_key_serial")
    job = dict(zip(keys, rows[0]))
    job["csr"] = bytes(job["csr"]) if job["csr"] is not None else None
    return job


def audit_actions(app_id):
    return [r[0] for r in sql("SELECT action FROM audit_event WHERE object_type = 'application'"
                              " AND object_id = %s ORDER BY id", (str(app_id),))]


def openssl(*args, data=None):
    proc = subprocess.run(["openssl", *args], input=data, capture_output=True, timeout=60)
    assert proc.returncode == 0, (f"openssl {' '.join(args[:2])} exited {proc.returncode}: "
                                  f"{proc.stderr.decode(errors='replace')[:500]}")
    return proc.stdout


def p7c_certificates(der):
    """The certificates of a certs-only PKCS#7 (DER), in order, as `openssl pkcs7
    -print_certs` reads them."""
    text = openssl("pkcs7", "-inform", "DER", "-print_certs", data=der).decode()
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    out, at = [], text.find(begin)
    while at >= 0:
        stop = text.index(end, at) + len(end)
        out.append(x509.load_pem_x509_certificate(text[at:stop].encode()))
        at = text.find(begin, stop)
    return out


def verify_chain(leaf_pem_path, root_pem, issuing_pem):
    """`openssl verify -CAfile root -untrusted issuing leaf`; returns its output."""
    return openssl("verify", "-CAfile", root_pem, "-untrusted", issuing_pem,
                   leaf_pem_path).decode()

