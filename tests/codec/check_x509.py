#!/usr/bin/python3
"""Independent checks of a chain that codec-x509-tool wrote.

Usage: check_x509.py DIR rsa|ec|sm2

Nothing here shares code with the codec: python3-cryptography parses the
certificates and verifies the RSA and ECDSA signatures, a dozen lines of
DER walking read what cryptography does not show (string and time tags,
the key bits behind the key identifier, the curve parameters), and
`openssl pkeyutl` verifies the SM2 signatures over the raw TBS bytes with
the distinguishing ID (cryptography has no SM2).  Prints one line per
certificate; exits 1 at the first failure, naming it.
"""
import hashlib
import os
import subprocess
import sys
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import (AuthorityInformationAccessOID,
                                   ExtendedKeyUsageOID, ExtensionOID, NameOID)

# The test subject and URLs of tests/codec/x509_fixture.h.
UNIT = "四川示例农业科技有限公司"
CREDIT = "91510107MA62Q1234W"
PERSON = "张三"
IDNUM = "510107199003071236"
CA_ORG = "certhall 测试认证中心"
CRL_URL = "http://pki.certhall.test/issuing.crl"
OCSP_URL = "http://ocsp.certhall.test"
CAI_URL = "http://pki.certhall.test/issuing.cer"
ROOT_CRL_URL = "http://pki.certhall.test/root.crl"
ROOT_URL = "http://pki.certhall.test/root.cer"
POLICY = "2.999.1"
SM2_ID = "1234567812345678"

ORG_ID = x509.ObjectIdentifier("2.5.4.97")
OCSP_NOCHECK = x509.ObjectIdentifier("1.3.6.1.5.5.7.48.1.5")
SIG_OID = {"rsa": "1.2.840.113549.1.1.11", "ec": "1.2.840.10045.4.3.2",
           "sm2": "1.2.156.10197.1.501"}
UTF8, PRINTABLE, UTCTIME, GENTIME, OID = 0x0C, 0x13, 0x17, 0x18, 0x06

# file: (profile, issuer file)
CERTS = {
    "root.pem": ("root", "root.pem"),
    "issuing.pem": ("issuing", "root.pem"),
    "org.pem": ("org", "issuing.pem"),
    "personal.pem": ("personal", "issuing.pem"),
    "sm2.pem": ("personal", "issuing.pem"),
    "ocsp.pem": ("ocsp", "issuing.pem"),
    "seal.pem": ("seal", "issuing.pem"),
}
CA_NAMES = {"root": "certhall Test Root CA",
            "issuing": "certhall Test Issuing CA",
            "ocsp": "certhall Test OCSP", "seal": "certhall Test Seal Maker"}


class Failed(Exception):
    pass


def want(cond, what):
    if not cond:
        raise Failed(what)


# ---- DER, just enough -----------------------------------------------------

def tlv(b, i):
    """(tag, value start, value end) of the element at i."""
    tag, n = b[i], b[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(b[i:i + k], "big")
        i += k
    return tag, i, i + n


def kids(b, el):
    """The elements inside constructed element el: (tag, value start, value
    end, header start) each."""
    out, i = [], el[1]
    while i < el[2]:
        t = tlv(b, i)
        out.append(t + (i,))
        i = t[2]
    return out


def whole(b, el):
    """The bytes of element el, header included."""
    return b[el[3]:el[2]]


def tbs_fields(tbs):
    """version, serial, signature, issuer, validity, subject, spki."""
    f = kids(tbs, tlv(tbs, 0))
    want(f[0][0] == 0xA0, "tbs: version is not explicit [0]")
    return f


def subject_entries(tbs, subject):
    """[(oid, tag)] of a Name, one per RDN."""
    out = []
    for rdn in kids(tbs, subject):
        atvs = kids(tbs, rdn)
        want(rdn[0] == 0x31 and len(atvs) == 1, "subject: multi-valued RDN")
        oid, value = kids(tbs, atvs[0])
        out.append((x509.ObjectIdentifier(dotted(tbs[oid[1]:oid[2]])),
                    value[0]))
    return out


def dotted(body):
    arcs, n = [], 0
    for byte in body:
        n = (n << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(n)
            n = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first] + arcs[1:])


# ---- the profile ---------------------------------------------------------

def expected_subject(profile):
    if profile == "org":
        return [(NameOID.COUNTRY_NAME, "CN", PRINTABLE),
                (NameOID.ORGANIZATION_NAME, UNIT, UTF8),
                (ORG_ID, "NTRCN-" + CREDIT, UTF8),
                (NameOID.COMMON_NAME, UNIT, UTF8)]
    if profile == "personal":
        return [(NameOID.COUNTRY_NAME, "CN", PRINTABLE),
                (NameOID.ORGANIZATION_NAME, UNIT, UTF8),
                (ORG_ID, "NTRCN-" + CREDIT, UTF8),
                (NameOID.COMMON_NAME, PERSON, UTF8),
                (NameOID.SERIAL_NUMBER, "IDCCN-" + IDNUM, PRINTABLE)]
    return [(NameOID.COUNTRY_NAME, "CN", PRINTABLE),
            (NameOID.ORGANIZATION_NAME, CA_ORG, UTF8),
            (NameOID.COMMON_NAME, CA_NAMES[profile], UTF8)]


KU_FIELDS = ("digital_signature", "content_commitment", "key_encipherment",
             "data_encipherment", "key_agreement", "key_cert_sign",
             "crl_sign")
KU = {"org": {"digital_signature", "content_commitment"},
      "personal": {"digital_signature", "content_commitment"},
      "seal": {"digital_signature", "content_commitment"},
      "ocsp": {"digital_signature"},
      "root": {"key_cert_sign", "crl_sign"},
      "issuing": {"key_cert_sign", "crl_sign"}}
SUBSCRIBERS = ("org", "personal", "seal")


def expected_extensions(profile):
    exts = {ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE,
            ExtensionOID.SUBJECT_KEY_IDENTIFIER,
            ExtensionOID.AUTHORITY_KEY_IDENTIFIER}
    if profile in SUBSCRIBERS or profile == "issuing":
        exts |= {ExtensionOID.CRL_DISTRIBUTION_POINTS,
                 ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
                 ExtensionOID.CERTIFICATE_POLICIES}
    if profile == "ocsp":
        exts |= {ExtensionOID.EXTENDED_KEY_USAGE, OCSP_NOCHECK}
    return exts


def ext(cert, oid, critical=False):
    e = cert.extensions.get_extension_for_oid(oid)
    want(e.critical == critical, "%s: criticality" % oid.dotted_string)
    return e.value


def check_extensions(cert, profile, issuer, tbs, spki):
    got = {e.oid for e in cert.extensions}
    want(got == expected_extensions(profile),
         "extensions: %s" % sorted(o.dotted_string for o in got))

    bc = ext(cert, ExtensionOID.BASIC_CONSTRAINTS, critical=True)
    want(bc.ca == (profile in ("root", "issuing")), "basicConstraints: cA")
    want(bc.path_length == (0 if profile == "issuing" else None),
         "basicConstraints: pathLenConstraint")

    ku = ext(cert, ExtensionOID.KEY_USAGE, critical=True)
    want({f for f in KU_FIELDS if getattr(ku, f)} == KU[profile],
         "keyUsage: bits")

    # RFC 5280 §4.2.1.2 (1): SHA-1 of the BIT STRING's value, unused-bits
    # octet excluded.
    _, bits = kids(tbs, spki)
    want(tbs[bits[1]] == 0, "spki: unused bits")
    key_id = hashlib.sha1(tbs[bits[1] + 1:bits[2]]).digest()
    ski = ext(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    want(ski.digest == key_id, "subjectKeyIdentifier: not method 1")
    aki = ext(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    issuer_ski = issuer.extensions.get_extension_for_oid(
        ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest
    want(aki.key_identifier == issuer_ski, "authorityKeyIdentifier: keyid")
    want(aki.authority_cert_issuer is None and
         aki.authority_cert_serial_number is None,
         "authorityKeyIdentifier: issuer and serial must be absent")

    if profile in SUBSCRIBERS or profile == "issuing":
        crl = ROOT_CRL_URL if profile == "issuing" else CRL_URL
        dps = ext(cert, ExtensionOID.CRL_DISTRIBUTION_POINTS)
        want(len(dps) == 1 and dps[0].reasons is None and
             dps[0].crl_issuer is None and dps[0].relative_name is None and
             dps[0].full_name == [x509.UniformResourceIdentifier(crl)],
             "cRLDistributionPoints")
        aia = [(a.access_method, a.access_location.value)
               for a in ext(cert, ExtensionOID.AUTHORITY_INFORMATION_ACCESS)]
        want(aia == ([(AuthorityInformationAccessOID.CA_ISSUERS, ROOT_URL)]
                     if profile == "issuing" else
                     [(AuthorityInformationAccessOID.OCSP, OCSP_URL),
                      (AuthorityInformationAccessOID.CA_ISSUERS, CAI_URL)]),
             "authorityInfoAccess: %s" % aia)
        pols = ext(cert, ExtensionOID.CERTIFICATE_POLICIES)
        want([(p.policy_identifier.dotted_string, p.policy_qualifiers)
              for p in pols] == [(POLICY, None)], "certificatePolicies")
    if profile == "ocsp":
        eku = ext(cert, ExtensionOID.EXTENDED_KEY_USAGE)
        want(list(eku) == [ExtendedKeyUsageOID.OCSP_SIGNING],
             "extendedKeyUsage")
        # cryptography reads it as OCSPNoCheck only if its value is NULL.
        want(isinstance(ext(cert, OCSP_NOCHECK), x509.OCSPNoCheck),
             "ocsp-nocheck: not NULL")


def check_validity(tbs, validity, cert, profile):
    for el, when in zip(kids(tbs, validity),
                        (cert.not_valid_before, cert.not_valid_after)):
        tag, length = el[0], el[2] - el[1]
        if when.year < 2050:
            want(tag == UTCTIME and length == 13, "validity: UTCTime form")
        else:
            want(tag == GENTIME and length == 15,
                 "validity: GeneralizedTime form")
        want(tbs[el[2] - 1:el[2]] == b"Z", "validity: not in UTC")
    if profile == "root":
        want(cert.not_valid_after.year >= 2050,
             "root: expected to outlive 2049 (the GeneralizedTime case)")


def check_key(tbs, spki, cert, profile):
    alg = kids(tbs, kids(tbs, spki)[0])
    oids = [dotted(tbs[a[1]:a[2]]) for a in alg if a[0] == OID]
    want(oids[0] in ("1.2.840.113549.1.1.1", "1.2.840.10045.2.1"),
         "spki: algorithm %s" % oids[0])
    if oids[0] == "1.2.840.10045.2.1":
        want(len(oids) == 2 and oids[1] in ("1.2.840.10045.3.1.7",
                                            "1.2.156.10197.1.301"),
             "spki: not a named P-256 or SM2 curve")
    if oids[0] == "1.2.840.113549.1.1.1":
        want(cert.public_key().key_size >= 2048, "spki: RSA too small")


def verify_signature(cert, issuer, kind, workdir):
    want(cert.signature_algorithm_oid.dotted_string == SIG_OID[kind],
         "signature algorithm %s" % cert.signature_algorithm_oid)
    verify_raw(cert.tbs_certificate_bytes, cert.signature, issuer, kind,
               workdir)


def verify_raw(tbs, signature, issuer, kind, workdir):
    """signature over the bytes tbs by issuer's key (a certificate) by the
    algorithm for kind; raises (cryptography) or Failed if it is wrong."""
    if kind != "sm2":
        key = issuer.public_key()
        if kind == "rsa":
            key.verify(signature, tbs, padding.PKCS1v15(), hashes.SHA256())
        else:
            key.verify(signature, tbs, ec.ECDSA(hashes.SHA256()))
        return
    # SM2: the stock command over the raw signed bytes, with the ID.
    files = {n: os.path.join(workdir, n) for n in ("tbs", "sig", "issuer")}
    with open(files["tbs"], "wb") as f:
        f.write(tbs)
    with open(files["sig"], "wb") as f:
        f.write(signature)
    with open(files["issuer"], "wb") as f:
        f.write(issuer.public_bytes(serialization.Encoding.PEM))
    pub = subprocess.run(["openssl", "x509", "-pubkey", "-noout", "-in",
                          files["issuer"]], capture_output=True, check=True)
    with open(files["issuer"] + ".pub", "wb") as f:
        f.write(pub.stdout)
    r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey",
                        files["issuer"] + ".pub", "-rawin", "-digest", "sm3",
                        "-pkeyopt", "distid:" + SM2_ID, "-in", files["tbs"],
                        "-sigfile", files["sig"]], capture_output=True)
    want(r.returncode == 0, "SM2 signature: " + r.stdout.decode().strip())


def check_cert(d, name, kind, workdir):
    profile, issuer_name = CERTS[name]
    with open(os.path.join(d, name), "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(d, issuer_name), "rb") as f:
        issuer = x509.load_pem_x509_certificate(f.read())
    tbs = cert.tbs_certificate_bytes
    _, serial, sigalg, iss, validity, subject, spki = tbs_fields(tbs)[:7]

    want(cert.version == x509.Version.v3, "version")
    want(0 < cert.serial_number and
         64 <= cert.serial_number.bit_length() <= 127, "serial size")
    outer = cert.public_bytes(serialization.Encoding.DER)
    want(whole(outer, kids(outer, tlv(outer, 0))[1]) == whole(tbs, sigalg),
         "signature algorithm differs between TBS and certificate")
    want(cert.issuer.public_bytes() == issuer.subject.public_bytes(),
         "issuer name is not the issuer's subject, byte for byte")
    exp = expected_subject(profile)
    got = [(a.oid, a.value) for a in cert.subject]
    want(got == [(o, v) for o, v, _ in exp], "subject: %s" % got)
    want(subject_entries(tbs, subject) == [(o, t) for o, _, t in exp],
         "subject: string types")
    check_validity(tbs, validity, cert, profile)
    check_key(tbs, spki, cert, profile)
    check_extensions(cert, profile, issuer, tbs, spki)
    verify_signature(cert, issuer, kind, workdir)
    print("ok   %s (%s, %s)" % (name, profile, kind))
    return cert


def main():
    d, kind = sys.argv[1], sys.argv[2]
    certs = {}
    with tempfile.TemporaryDirectory() as workdir:
        for name in CERTS:
            try:
                certs[name] = check_cert(d, name, kind, workdir)
            except Failed as e:
                print("FAIL %s (%s): %s" % (name, kind, e))
                return 1
    der = lambda c: c.public_bytes(serialization.Encoding.DER)
    with open(os.path.join(d, "org.der"), "rb") as f:
        want(f.read() == der(certs["org.pem"]), "org.der")
    chain = [der(certs[n]) for n in ("org.pem", "issuing.pem", "root.pem")]
    with open(os.path.join(d, "chain.p7b"), "rb") as f:
        want([der(c) for c in pkcs7.load_der_pkcs7_certificates(f.read())]
             == chain, "chain.p7b")
    with open(os.path.join(d, "chain.p7.pem"), "rb") as f:
        want([der(c) for c in pkcs7.load_pem_pkcs7_certificates(f.read())]
             == chain, "chain.p7.pem")
    print("ok   org.der, chain.p7b, chain.p7.pem (%s)" % kind)
    return 0


def run(main):
    """Exits with main()'s status, or 1 after printing a failure."""
    try:
        sys.exit(main())
    except Failed as e:
        print("FAIL %s" % e)
        sys.exit(1)


if __name__ == "__main__":
    run(main)
