#!/usr/bin/python3
"""Independent checks of the CRLs and OCSP responses codec-revoke-tool wrote.

Usage: check_revocation.py DIR rsa|ec|sm2

python3-cryptography parses the CRLs and responses and verifies the RSA and
ECDSA signatures; `openssl pkeyutl` verifies SM2 ones over the raw signed
bytes with the distinguishing ID (check_x509.verify_raw).  Prints one line
per file; exits 1 at the first failure, naming it.
"""
import datetime
import hashlib
import os
import sys
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import (CRLEntryExtensionOID, ExtendedKeyUsageOID,
                                   ExtensionOID)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_x509 import (CRL_URL, SIG_OID, kids, run,  # noqa: E402
                        tbs_fields, verify_raw, want)

OTHER_SHARD_URL = "http://pki.certhall.test/issuing-2031q2.crl"
R = x509.ReasonFlags


def load(d, name):
    with open(os.path.join(d, name), "rb") as f:
        data = f.read()
    return x509.load_pem_x509_certificate(data) if name.endswith(".pem") \
        else data


def key_bits(cert):
    """The subjectPublicKey BIT STRING's bits (RFC 6960 issuerKeyHash)."""
    tbs = cert.tbs_certificate_bytes
    spki = tbs_fields(tbs)[6]
    bits = kids(tbs, spki)[1]
    want(bits[0] == 0x03 and tbs[bits[1]] == 0, "spki: no BIT STRING")
    return tbs[bits[1] + 1:bits[2]]


def ski(cert):
    return cert.extensions.get_extension_for_oid(
        ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest


def check_crl(d, name, kind, issuing, workdir, entries, number, shard):
    crl = x509.load_der_x509_crl(load(d, name))
    want(crl.issuer == issuing.subject, "%s: issuer" % name)
    want(crl.signature_algorithm_oid.dotted_string == SIG_OID[kind],
         "%s: signature algorithm" % name)
    verify_raw(crl.tbs_certlist_bytes, crl.signature, issuing, kind, workdir)
    want(crl.next_update - crl.last_update == datetime.timedelta(days=7),
         "%s: not valid for 7 days" % name)
    exts = {e.oid: e for e in crl.extensions}
    want(exts[ExtensionOID.CRL_NUMBER].value.crl_number == number,
         "%s: CRL number" % name)
    aki = exts[ExtensionOID.AUTHORITY_KEY_IDENTIFIER].value
    want(aki.key_identifier == ski(issuing) and
         aki.authority_cert_issuer is None, "%s: AKI" % name)
    idp = exts.get(ExtensionOID.ISSUING_DISTRIBUTION_POINT)
    if shard is None:
        want(idp is None and len(exts) == 2, "%s: extensions" % name)
    else:
        want(idp is not None and idp.critical and len(exts) == 3,
             "%s: no critical IDP" % name)
        v = idp.value
        want([n.value for n in v.full_name] == [shard] and
             v.only_contains_user_certs and not v.only_contains_ca_certs and
             v.only_some_reasons is None and not v.indirect_crl,
             "%s: IDP %s" % (name, v))
    got = []
    for rc in crl:
        e = {x.oid: x for x in rc.extensions}
        want(not any(x.critical for x in e.values()), "%s: critical" % name)
        reason = e.get(CRLEntryExtensionOID.CRL_REASON)
        inv = e.get(CRLEntryExtensionOID.INVALIDITY_DATE)
        got.append((rc.serial_number, reason.value.reason if reason else None,
                    inv is not None))
    # Listed in ascending serial order.
    entries = sorted(entries, key=lambda e: e[0])
    want(got == entries, "%s: entries %s, wanted %s" % (name, got, entries))
    print("ok   %s (%s)" % (name, kind))


def check_response(d, name, kind, issuing, responder, serial, status, workdir):
    der = load(d, name)
    r = ocsp.load_der_ocsp_response(der)
    want(r.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL,
         "%s: status" % name)
    h = hashlib.sha1 if name.endswith("sha1.der") else hashlib.sha256
    want(r.hash_algorithm.name == h().name, "%s: CertID hash" % name)
    want(r.serial_number == serial, "%s: serial" % name)
    want(r.issuer_name_hash == h(issuing.subject.public_bytes()).digest(),
         "%s: issuerNameHash" % name)
    want(r.issuer_key_hash == h(key_bits(issuing)).digest(),
         "%s: issuerKeyHash" % name)
    want(r.responder_name is None and
         r.responder_key_hash == hashlib.sha1(key_bits(responder)).digest(),
         "%s: responderID is not byKey of the responder" % name)
    want([c.public_bytes(serialization.Encoding.DER) for c in r.certificates]
         == [responder.public_bytes(serialization.Encoding.DER)],
         "%s: certs is not the responder alone" % name)
    want(len(r.extensions) == 0 and len(r.single_extensions) == 0,
         "%s: has extensions (a nonce?)" % name)
    want(r.certificate_status == status, "%s: cert status" % name)
    if status == ocsp.OCSPCertStatus.REVOKED:
        want(r.revocation_reason == R.key_compromise and
             r.revocation_time <= r.this_update, "%s: revocation" % name)
    want(r.next_update - r.this_update ==
         datetime.timedelta(days=4, hours=1), "%s: validity" % name)
    want(r.this_update < r.produced_at, "%s: producedAt" % name)
    want(r.signature_algorithm_oid.dotted_string == SIG_OID[kind],
         "%s: signature algorithm" % name)
    verify_raw(r.tbs_response_bytes, r.signature, responder, kind, workdir)
    print("ok   %s (%s)" % (name, kind))


def main():
    d, kind = sys.argv[1], sys.argv[2]
    issuing, responder = load(d, "issuing.pem"), load(d, "ocsp.pem")
    good, revoked = load(d, "good.pem"), load(d, "revoked.pem")
    with open(os.path.join(d, "unknown.serial")) as f:
        unknown = int(f.read(), 16)
    eku = responder.extensions.get_extension_for_oid(
        ExtensionOID.EXTENDED_KEY_USAGE).value
    want(list(eku) == [ExtendedKeyUsageOID.OCSP_SIGNING] and
         responder.extensions.get_extension_for_oid(ExtensionOID.OCSP_NO_CHECK),
         "ocsp.pem: not an OCSP responder certificate")
    with tempfile.TemporaryDirectory() as workdir:
        check_crl(d, "crl.der", kind, issuing, workdir, [
            (0x42, None, False),
            (0x112233445566778899AABBCCDDEEFF01, R.superseded, False),
            (revoked.serial_number, R.key_compromise, True)], 4242, None)
        one = [(revoked.serial_number, R.key_compromise, True)]
        check_crl(d, "crl-shard.der", kind, issuing, workdir, one, 17,
                  CRL_URL)
        check_crl(d, "crl-other.der", kind, issuing, workdir, one, 17,
                  OTHER_SHARD_URL)
        S = ocsp.OCSPCertStatus
        for h in ("sha1", "sha256"):
            for st, serial, status in (("good", good.serial_number, S.GOOD),
                                       ("revoked", revoked.serial_number,
                                        S.REVOKED),
                                       ("unknown", unknown, S.UNKNOWN)):
                check_response(d, "resp-%s-%s.der" % (st, h), kind, issuing,
                               responder, serial, status, workdir)
    return 0


if __name__ == "__main__":
    run(main)
