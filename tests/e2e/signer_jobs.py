"""Helpers for the signer's tests (test_signer*.py, test_zz_signer*.py): ready signing jobs
made with SQL, and independent checks of what certhall-signer issued.

The signer itself is under test here, so its input is made the way the rest of certhall
makes it, without the API: an application in `issuing` (inserted as the owner role), the
signing job with the payload snapshot that settlement writes (the same jsonb_build_object
as src/domain/settle.c) and a PKCS#10 request made here with python3-cryptography (RSA-2048,
P-256) or with the openssl command (SM2 with SM3 and the distinguishing ID, which
python3-cryptography 38 cannot make). The API helper's tests go through
POST /applications/{id}/csr instead.

The checks never use certhall's code: `openssl verify` and `openssl x509 -text` on the
certificates, python3-cryptography for every extension, and pyasn1 (no certhall schema) to
read the raw subjectPublicKey bits for the key identifier.
"""

import hashlib
import os
import secrets
import subprocess
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtensionOID, NameOID
from pyasn1.codec.der import decoder as der_decoder

from conftest import require_env
from principals import random_phone

UNIT = "四川示例农业科技有限公司"
PERSON = "张三"
POLICY = "2.999.1"
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
OID_ORG_ID = x509.ObjectIdentifier("2.5.4.97")


def id_number(birth="19900307"):
    body = "510107" + birth + f"{secrets.randbelow(1000):03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, ID_WEIGHTS)) % 11]


def credit_code():
    body = "91510107" + "".join(secrets.choice(CC_ALPHABET) for _ in range(9))
    c = 31 - sum(CC_ALPHABET.index(ch) * w for ch, w in zip(body, CC_WEIGHTS)) % 31
    return body + CC_ALPHABET[0 if c == 31 else c]


def connect():
    conn = psycopg2.connect(require_env("CERTHALL_DB"))
    conn.autocommit = True
    return conn


def sql(query, params=()):
    with connect() as conn, conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall() if cur.description else []


# ---------------------------------------------------------------------------------
# Keys and requests
# ---------------------------------------------------------------------------------

def new_key(kind):
    """A subscriber key: 'rsa2048', 'rsa1024' (refused by certhall), 'p256', or 'sm2'
    (a PEM file path: the openssl command holds it)."""
    if kind == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "rsa1024":
        return rsa.generate_private_key(public_exponent=65537, key_size=1024)
    if kind == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "sm2":
        fd, path = tempfile.mkstemp(prefix="signer-sm2-", suffix=".pem")
        os.close(fd)
        subprocess.run(["openssl", "genpkey", "-algorithm", "SM2", "-out", path], check=True,
                       capture_output=True)
        return path
    raise ValueError(kind)


def csr_for(key, cn):
    """A PKCS#10 request (DER) with subject CN=cn, signed by key."""
    if isinstance(key, str):
        out = subprocess.run(
            ["openssl", "req", "-new", "-key", key, "-utf8", "-subj", f"/CN={cn}", "-sm3",
             "-sigopt", "distid:1234567812345678", "-outform", "DER"],
            check=True, capture_output=True)
        return out.stdout
    req = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
           .sign(key, hashes.SHA256()))
    return req.public_bytes(serialization.Encoding.DER)


# ---------------------------------------------------------------------------------
# Applications and jobs, as settlement leaves them
# ---------------------------------------------------------------------------------

PAYLOAD_SQL = """
INSERT INTO signing_job (application_id, kind, payload, csr, csr_submitted_at, usb_key_serial)
SELECT s.id, s.business_type, jsonb_build_object(
   'v', 1, 'application_id', s.id,
   'business_type', s.business_type,
   'certificate_type', s.certificate_type,
   'certificate_id', s.certificate_id,
   'years', CASE WHEN s.business_type IN ('new', 'renew') THEN s.years END,
   'seals', s.seals,
   'unit_name', s.unit_name, 'credit_code', s.credit_code,
   'holder_name', s.holder_name,
   'holder_id_number', s.holder_id_number,
   'handler_name', s.handler_name,
   'handler_phone', s.handler_phone,
   'delivery', s.delivery,
   'quote_total_fen', s.quote_total_fen,
   'paid_at', s.paid_at, 'verified_at', s.verified_at,
   'possession_proven_at', s.possession_proven_at),
  %s, CASE WHEN %s::bytea IS NULL THEN NULL ELSE now() END, %s
FROM application s WHERE s.id = %s
RETURNING id
"""


def old_certificate(cur, cert_type, unit, credit, holder, holder_id, not_after):
    """A certificate on file (as an earlier issuance left it) ending at not_after."""
    cur.execute(
        "INSERT INTO certificate (serial, certificate_type, unit_name, credit_code,"
        " holder_name, holder_id_number, not_before, not_after)"
        " VALUES (%s, %s, %s, %s, %s, %s, now() - interval '300 days', %s) RETURNING id",
        (secrets.token_hex(16), cert_type, unit, credit, holder, holder_id, not_after))
    return cur.fetchone()[0]


class Job:
    """A ready job and what it is about."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def make_job(cur, business="new", cert_type="org", csr=None, years=2,
             old_not_after=None, unit=UNIT, person=PERSON, usb_key_serial=None, phone=None):
    """An applicant, an application in `issuing`, and its ready job (with csr); for
    renew/reissue/change a certificate on file ending at old_not_after (a datetime,
    default 30 days from now). Returns a Job."""
    credit = credit_code()
    holder = person if cert_type == "personal" else None
    holder_id = id_number() if cert_type == "personal" else None
    phone = phone or random_phone()
    cur.execute("INSERT INTO applicant (phone) VALUES (%s) RETURNING id", (random_phone(),))
    applicant = cur.fetchone()[0]
    old_id = None
    if business != "new":
        old_not_after = old_not_after or datetime.now(timezone.utc) + timedelta(days=30)
        old_id = old_certificate(cur, cert_type, unit, credit, holder, holder_id,
                                 old_not_after)
    cur.execute(
        "INSERT INTO application (applicant_id, channel, business_type, certificate_type,"
        " certificate_id, status, unit_name, credit_code, holder_name, holder_id_number,"
        " handler_name, handler_phone, handler_id_number, years, seals, paid_at,"
        " settled_at, submitted_at)"
        " VALUES (%s, 'online', %s, %s, %s, 'issuing', %s, %s, %s, %s, '王五', %s, %s, %s,"
        " 1, now(), now(), now()) RETURNING id",
        (applicant, business, cert_type, old_id, unit, credit, holder, holder_id, phone,
         id_number("19800101"), years if business in ("new", "renew") else None))
    app = cur.fetchone()[0]
    cur.execute(PAYLOAD_SQL, (csr, csr, usb_key_serial, app))
    job = cur.fetchone()[0]
    return Job(id=job, application_id=app, applicant_id=applicant, business=business,
               cert_type=cert_type, unit=unit, credit=credit, holder=holder,
               holder_id=holder_id, phone=phone, years=years, old_id=old_id,
               old_not_after=old_not_after, usb_key_serial=usb_key_serial)


def notify(cur):
    cur.execute("SELECT pg_notify('signing_job', '')")


def job_states(ids):
    rows = sql("SELECT id, status FROM signing_job WHERE id = ANY(%s)", (list(ids),))
    return dict(rows)


def wait_jobs(ids, statuses=("done",), timeout=120, what="jobs done"):
    """Waits until every job of ids is in one of statuses; returns {id: status}."""
    ids = list(ids)
    deadline = time.monotonic() + timeout
    states = {}
    while time.monotonic() < deadline:
        states = job_states(ids)
        if all(states.get(i) in statuses for i in ids):
            return states
        time.sleep(0.3)
    left = {i: s for i, s in states.items() if s not in statuses}
    raise AssertionError(f"timed out after {timeout}s waiting for {what}: "
                         f"{len(left)} of {len(ids)} not there ({list(left.items())[:5]})")


def signer_log(stack):
    path = Path(stack) / "log" / "signer.log"
    return path.read_text(errors="replace") if path.exists() else ""


# ---------------------------------------------------------------------------------
# The CA and independent checks
# ---------------------------------------------------------------------------------

def ca_der(role, alg):
    rows = sql("SELECT der FROM ca_certificate WHERE role = %s AND algorithm = %s AND active",
               (role, alg))
    assert len(rows) == 1, f"no active {role} {alg} certificate"
    return bytes(rows[0][0])


def pem(der):
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


class Chain:
    """The root and the issuing CA as files, for openssl verify."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.root_der = ca_der("root", "rsa")
        self.issuing_der = ca_der("issuing", "rsa")
        self.root = x509.load_der_x509_certificate(self.root_der)
        self.issuing = x509.load_der_x509_certificate(self.issuing_der)
        self.root_pem = self.dir / "root.pem"
        self.issuing_pem = self.dir / "issuing.pem"
        self.root_pem.write_bytes(pem(self.root_der))
        self.issuing_pem.write_bytes(pem(self.issuing_der))

    def verify(self, der, name="leaf"):
        """`openssl verify -CAfile root -untrusted issuing` on der; returns its output."""
        leaf = self.dir / f"{name}.pem"
        leaf.write_bytes(pem(der))
        out = subprocess.run(["openssl", "verify", "-x509_strict", "-policy_check",
                              "-explicit_policy", "-policy", POLICY,
                              "-CAfile", str(self.root_pem),
                              "-untrusted", str(self.issuing_pem), str(leaf)],
                             capture_output=True, text=True)
        assert out.returncode == 0 and out.stdout.strip().endswith(": OK"), (
            f"openssl verify: {out.stdout} {out.stderr}")
        return out.stdout

    def text(self, der):
        out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-text",
                              "-nameopt", "utf8,sep_comma_plus_space"],
                             input=der, capture_output=True, check=True)
        return out.stdout.decode()


def spki_bits(der):
    """The subjectPublicKey BIT STRING's bytes of a DER certificate, read with pyasn1
    alone (python3-cryptography 38 cannot load an SM2 public key)."""
    cert, _ = der_decoder.decode(der)
    tbs = cert[0]
    spki = tbs[6]          # version [0], serial, signature, issuer, validity, subject, spki
    return spki[1].asOctets()


def name_attrs(name):
    """[(oid dotted, value, ASN.1 string tag)] of an x509.Name, in order."""
    return [(a.oid.dotted_string, a.value, a._type.value) for a in name]


UTF8, PRINTABLE = 12, 19


def check_subscriber(cert_der, chain, job, base_url, before, after):
    """Every field and extension of a subscriber certificate, independently of certhall.
    before/after: the wall clock around its issuance (seconds)."""
    cert = x509.load_der_x509_certificate(cert_der)
    assert cert.version == x509.Version.v3
    assert cert.serial_number > 0 and cert.serial_number.bit_length() >= 64
    assert len(cert.serial_number.to_bytes(20, "big").lstrip(b"\0")) <= 20
    assert cert.signature_hash_algorithm.name == "sha256"
    assert cert.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.11"
    chain.issuing.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                                      padding.PKCS1v15(), hashes.SHA256())
    assert cert.issuer == chain.issuing.subject
    # subject: C, O, organizationIdentifier, CN[, serialNumber]
    want = [("2.5.4.6", "CN", PRINTABLE), ("2.5.4.10", job.unit, UTF8),
            ("2.5.4.97", f"NTRCN-{job.credit}", UTF8)]
    if job.cert_type == "personal":
        want += [("2.5.4.3", job.holder, UTF8), ("2.5.4.5", f"IDCCN-{job.holder_id}", PRINTABLE)]
    else:
        want += [("2.5.4.3", job.unit, UTF8)]
    assert name_attrs(cert.subject) == want, name_attrs(cert.subject)
    # validity
    nb = cert.not_valid_before.replace(tzinfo=timezone.utc)
    na = cert.not_valid_after.replace(tzinfo=timezone.utc)
    assert before - 2 <= nb.timestamp() <= after + 2, (nb, before, after)
    if job.business == "new":
        expect = nb.replace(year=nb.year + job.years)
        assert na == expect, (na, expect)
    elif job.business == "renew":
        base = max(job.old_not_after.replace(microsecond=0), nb)
        assert na == base.replace(year=base.year + job.years), (na, base)
    else:
        assert na == job.old_not_after.replace(microsecond=0), (na, job.old_not_after)
    assert na <= chain.issuing.not_valid_after.replace(tzinfo=timezone.utc)
    # extensions: exactly these
    oids = [e.oid for e in cert.extensions]
    assert sorted(o.dotted_string for o in oids) == sorted(o.dotted_string for o in [
        ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.CRL_DISTRIBUTION_POINTS, ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
        ExtensionOID.CERTIFICATE_POLICIES]), oids
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is False and bc.value.path_length is None
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    assert ku.value.digital_signature and ku.value.content_commitment
    assert not (ku.value.key_encipherment or ku.value.data_encipherment
                or ku.value.key_agreement or ku.value.key_cert_sign or ku.value.crl_sign)
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert not ski.critical
    assert ski.value.digest == hashlib.sha1(spki_bits(cert_der)).digest()
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    issuing_ski = chain.issuing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert aki.value.key_identifier == issuing_ski.value.digest
    assert aki.value.authority_cert_issuer is None
    assert aki.value.authority_cert_serial_number is None
    base = base_url.rstrip("/")
    dp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert len(dp) == 1 and dp[0].reasons is None and dp[0].crl_issuer is None
    assert [n.value for n in dp[0].full_name] == [f"{base}/crl/issuing.crl"]
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    got = sorted((d.access_method.dotted_string, d.access_location.value) for d in aia)
    assert got == sorted([("1.3.6.1.5.5.7.48.1", f"{base}/ocsp"),
                          ("1.3.6.1.5.5.7.48.2", f"{base}/api/v1/ca/issuing.cer")]), got
    pol = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier.dotted_string for p in pol] == [POLICY]
    assert all(p.policy_qualifiers is None for p in pol)
    return cert


def check_text(text, job):
    """What `openssl x509 -text` shows."""
    assert "Version: 3 (0x2)" in text
    assert "Signature Algorithm: sha256WithRSAEncryption" in text
    subj = [line for line in text.splitlines() if line.strip().startswith("Subject:")][0]
    assert "C=CN" in subj and f"O={job.unit}" in subj
    assert f"organizationIdentifier=NTRCN-{job.credit}" in subj
    if job.cert_type == "personal":
        assert f"CN={job.holder}" in subj and f"serialNumber=IDCCN-{job.holder_id}" in subj
    else:
        assert f"CN={job.unit}" in subj
    assert "X509v3 Basic Constraints: critical" in text and "CA:FALSE" in text
    assert "X509v3 Key Usage: critical" in text
    assert "Digital Signature, Non Repudiation" in text
    for ext in ("X509v3 Subject Key Identifier", "X509v3 Authority Key Identifier",
                "X509v3 CRL Distribution Points", "Authority Information Access",
                "X509v3 Certificate Policies"):
        assert ext in text, ext
    assert f"Policy: {POLICY}" in text
    assert "Not Before:" in text and "Not After :" in text
