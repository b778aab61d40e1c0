#!/usr/bin/python3
"""Independent checks of GB/T 38540-2020 seals (version 4).

Usage:
  check_seal.py png FILE          write a small PNG (zlib, by hand)
  check_seal.py check DIR         judge DIR/seal.esl, written by
                                  codec-seal-tool make, against DIR/expect.txt
  check_seal.py make DIR KIND     write DIR/KIND.esl, a seal made here without
                                  the codec: KIND is sm2, p256 or digests
                                  (certListType 2), or v1 (the GM/T 0031-2014
                                  layout); DIR/KIND.txt says what it holds

Nothing here shares code with the codec.  The schema below is written from
the standard with pyasn1; the DER decoder reads the seal and its encoder must
give back the same bytes (so the seal is DER).  SES_CertList is a CHOICE of
two SEQUENCE OFs with the same tag, so certList is read as ANY and decoded by
certListType.  Signatures: SM2 with `openssl pkeyutl -rawin -digest sm3
-pkeyopt distid:1234567812345678` (python3-cryptography has no SM2), ECDSA
with python3-cryptography.  Certificates for the seals made here come from
`openssl req -x509`.  Exits 1 at the first failure, naming it.
"""
import datetime
import os
import struct
import subprocess
import sys
import tempfile
import zlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyasn1.codec.der import decoder, encoder
from pyasn1.type import char, namedtype, univ, useful

SM2_ID = "1234567812345678"
SM2_SM3 = "1.2.156.10197.1.501"
ECDSA_SHA256 = "1.2.840.10045.4.3.2"


# ---- the schema, GB/T 38540-2020's ASN.1 -------------------------------------

class SESHeader(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("ID", char.IA5String()),
        namedtype.NamedType("version", univ.Integer()),
        namedtype.NamedType("Vid", char.IA5String()))


class CertInfoList(univ.SequenceOf):
    componentType = univ.OctetString()


class CertDigestObj(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("type", char.PrintableString()),
        namedtype.NamedType("value", univ.OctetString()))


class CertDigestList(univ.SequenceOf):
    componentType = CertDigestObj()


class SESESPropertyInfo(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("type", univ.Integer()),
        namedtype.NamedType("name", char.UTF8String()),
        namedtype.NamedType("certListType", univ.Integer()),
        namedtype.NamedType("certList", univ.Any()),
        namedtype.NamedType("createDate", useful.GeneralizedTime()),
        namedtype.NamedType("validStart", useful.GeneralizedTime()),
        namedtype.NamedType("validEnd", useful.GeneralizedTime()))


class SESESPictrueInfo(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("type", char.IA5String()),
        namedtype.NamedType("data", univ.OctetString()),
        namedtype.NamedType("width", univ.Integer()),
        namedtype.NamedType("height", univ.Integer()))


class ExtData(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("extnID", univ.ObjectIdentifier()),
        namedtype.DefaultedNamedType("critical", univ.Boolean(False)),
        namedtype.NamedType("extnValue", univ.OctetString()))


class ExtensionDatas(univ.SequenceOf):
    componentType = ExtData()


class SESSealInfo(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("header", SESHeader()),
        namedtype.NamedType("esID", char.IA5String()),
        namedtype.NamedType("property", SESESPropertyInfo()),
        namedtype.NamedType("picture", SESESPictrueInfo()),
        namedtype.OptionalNamedType("extDatas", ExtensionDatas()))


class SESeal(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("eSealInfo", SESSealInfo()),
        namedtype.NamedType("cert", univ.OctetString()),
        namedtype.NamedType("signAlgID", univ.ObjectIdentifier()),
        namedtype.NamedType("signedValue", univ.BitString()))


class Failed(Exception):
    pass


def want(cond, what):
    if not cond:
        raise Failed(what)


def run(*args, data=None):
    return subprocess.run(args, input=data, capture_output=True)


def der_decode(data, spec, what):
    """data decoded with spec; it must be exactly one DER value."""
    value, rest = decoder.decode(data, asn1Spec=spec)
    want(rest == b"", f"{what}: bytes after it")
    want(encoder.encode(value) == data, f"{what}: not DER (re-encodes differently)")
    return value


# ---- signatures -----------------------------------------------------------

def sm2_verify(pub_pem, tbs, sig):
    with tempfile.TemporaryDirectory() as d:
        paths = {n: os.path.join(d, n) for n in ("pub.pem", "tbs", "sig")}
        for name, data in (("pub.pem", pub_pem), ("tbs", tbs), ("sig", sig)):
            with open(paths[name], "wb") as f:
                f.write(data)
        r = run("openssl", "pkeyutl", "-verify", "-rawin", "-digest", "sm3",
                "-pubin", "-inkey", paths["pub.pem"], "-pkeyopt", f"distid:{SM2_ID}",
                "-in", paths["tbs"], "-sigfile", paths["sig"])
        return r.returncode == 0 and b"Verified Successfully" in r.stdout


def sm2_sign(key_path, tbs):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "tbs")
        with open(path, "wb") as f:
            f.write(tbs)
        r = run("openssl", "pkeyutl", "-sign", "-rawin", "-digest", "sm3",
                "-inkey", key_path, "-pkeyopt", f"distid:{SM2_ID}", "-in", path)
        want(r.returncode == 0, f"openssl pkeyutl -sign: {r.stderr.decode()}")
        return r.stdout


def signature_ok(cert_der, alg, tbs, sig):
    cert = x509.load_der_x509_certificate(cert_der)
    if alg == SM2_SM3:
        pem = run("openssl", "x509", "-inform", "DER", "-pubkey", "-noout",
                  data=cert_der).stdout
        return sm2_verify(pem, tbs, sig)
    want(alg == ECDSA_SHA256, f"signAlgID {alg}: neither SM2-with-SM3 nor ecdsa-with-SHA256")
    key = cert.public_key()
    want(isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1",
         "cert: not an EC P-256 key for ecdsa-with-SHA256")
    try:
        key.verify(sig, tbs, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


# ---- png ------------------------------------------------------------------

def png(size=48):
    """A red ring on transparency, RGBA, drawn here."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = bytearray()
    c = (size - 1) / 2
    for y in range(size):
        rows.append(0)
        for x in range(size):
            r2 = (x - c) ** 2 + (y - c) ** 2
            inside = (0.36 * size * size / 4) <= r2 <= size * size / 4
            rows += b"\xd0\x10\x10\xff" if inside else b"\x00\x00\x00\x00"
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b""))


# ---- check: a seal the codec made -----------------------------------------

def check(d):
    data = open(os.path.join(d, "seal.esl"), "rb").read()
    expect = dict(line.split("=", 1) for line in
                  open(os.path.join(d, "expect.txt"), encoding="utf-8").read().splitlines())
    seal = der_decode(data, SESeal(), "seal")
    info = seal["eSealInfo"]
    h, p, pic = info["header"], info["property"], info["picture"]
    want(str(h["ID"]) == "ES", "header.ID is not ES")
    want(int(h["version"]) == 4, "header.version is not 4")
    want(str(h["Vid"]) == expect["vid"], "header.Vid")
    want(str(info["esID"]) == expect["es_id"], "esID")
    want(int(p["type"]) == int(expect["type"]) == 1, "property.type is not 1 (unit seal)")
    want(str(p["name"]) == expect["name"], "property.name")
    for field, key in (("createDate", "create"), ("validStart", "start"), ("validEnd", "end")):
        want(str(p[field]) == expect[key], f"property.{field}: {p[field]} != {expect[key]}")
    want(int(p["certListType"]) == 1, "property.certListType is not 1")
    certs = der_decode(bytes(p["certList"]), CertInfoList(), "certList")
    owner = open(os.path.join(d, "owner.der"), "rb").read()
    want(len(certs) == 1 and bytes(certs[0]) == owner,
         "certList: not exactly the owner certificate")
    want(str(pic["type"]) == "PNG", "picture.type is not PNG")
    want(bytes(pic["data"]) == open(os.path.join(d, "picture.png"), "rb").read(),
         "picture.data is not picture.png")
    want(int(pic["width"]) == int(expect["width"]) and
         int(pic["height"]) == int(expect["height"]), "picture.width/height")
    want(not info["extDatas"].isValue, "extDatas present")
    maker = x509.load_pem_x509_certificate(open(os.path.join(d, "maker.pem"), "rb").read())
    want(bytes(seal["cert"]) == maker.public_bytes(serialization.Encoding.DER),
         "cert is not maker.pem")
    alg = str(seal["signAlgID"])
    want(alg == expect["sign_alg"], f"signAlgID {alg}")
    bits = seal["signedValue"]
    want(len(bits) % 8 == 0, "signedValue has unused bits")
    sig = bits.asOctets()
    tbs = encoder.encode(info)
    hl = 2 + (data[1] & 0x7F if data[1] & 0x80 else 0)
    want(data[hl:hl + len(tbs)] == tbs, "eSealInfo's bytes are not the seal's first element")
    want(signature_ok(bytes(seal["cert"]), alg, tbs, sig),
         "signedValue does not verify over DER(eSealInfo)")
    # The checker itself: a changed byte must not verify.
    bad = bytearray(tbs)
    bad[len(bad) // 2] ^= 1
    want(not signature_ok(bytes(seal["cert"]), alg, bytes(bad), sig),
         "the signature check accepts a changed eSealInfo")
    with open(os.path.join(d, "maker-from-seal.der"), "wb") as f:
        f.write(bytes(seal["cert"]))
    print(f"ok   {d}: pyasn1 DER, every field, {alg} signature")


# ---- make: a seal the codec did not make ----------------------------------

def openssl_cert(d, name, kind, days):
    """A key (KIND sm2 or p256) and a self-signed certificate for it, from
    now for days, that may sign: (key path, DER)."""
    key = os.path.join(d, f"{name}.key")
    pem = os.path.join(d, f"{name}.pem")
    if kind == "sm2":
        r = run("openssl", "genpkey", "-algorithm", "SM2", "-out", key)
        sig = ["-sm3", "-sigopt", f"distid:{SM2_ID}"]
    else:
        r = run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-out", key)
        sig = ["-sha256"]
    want(r.returncode == 0, f"openssl genpkey {kind}")
    r = run("openssl", "req", "-x509", "-new", "-key", key, "-subj", f"/CN=check_seal {name}",
            "-days", str(days), "-addext", "keyUsage=critical,digitalSignature", *sig,
            "-out", pem)
    want(r.returncode == 0, f"openssl req -x509 {name}: {r.stderr.decode()}")
    der = run("openssl", "x509", "-in", pem, "-outform", "DER").stdout
    return key, der


def make(d, kind):
    maker_kind = "p256" if kind == "p256" else "sm2"
    maker_key, maker_der = openssl_cert(d, f"{kind}-maker", maker_kind, 30)
    _, owner_der = openssl_cert(d, f"{kind}-owner", "p256", 30)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    stamp = lambda t: useful.GeneralizedTime(t.strftime("%Y%m%d%H%M%SZ"))

    info = SESSealInfo()
    h = info["header"]
    h["ID"], h["version"], h["Vid"] = "ES", 4, "check_seal.py"
    info["esID"] = f"PY-{kind}-{int(now.timestamp())}"
    p = info["property"]
    p["type"] = 2
    p["name"] = "张三个人名章"
    if kind == "digests":
        digests = CertDigestList()
        obj = CertDigestObj()
        obj["type"] = "SHA256"
        obj["value"] = x509.load_der_x509_certificate(owner_der).fingerprint(hashes.SHA256())
        digests.append(obj)
        p["certListType"], p["certList"] = 2, univ.Any(encoder.encode(digests))
    else:
        certs = CertInfoList()
        certs.append(univ.OctetString(owner_der))
        p["certListType"], p["certList"] = 1, univ.Any(encoder.encode(certs))
    p["createDate"] = stamp(now)
    p["validStart"] = stamp(now)
    p["validEnd"] = stamp(now + datetime.timedelta(days=20))
    pic = info["picture"]
    pic["type"], pic["data"], pic["width"], pic["height"] = "PNG", png(32), 20, 20
    tbs = encoder.encode(info)
    if maker_kind == "sm2":
        sig, alg = sm2_sign(maker_key, tbs), SM2_SM3
    else:
        key = serialization.load_pem_private_key(open(maker_key, "rb").read(), None)
        sig, alg = key.sign(tbs, ec.ECDSA(hashes.SHA256())), ECDSA_SHA256
    want(signature_ok(maker_der, alg, tbs, sig), f"{kind}: own signature does not verify")
    if kind == "v1":
        # GM/T 0031-2014: SEQUENCE { sealInfo, SEQUENCE { cert, alg, sig } }
        rest = univ.Sequence()
        rest.setComponentByPosition(0, univ.OctetString(maker_der))
        rest.setComponentByPosition(1, univ.ObjectIdentifier(alg))
        rest.setComponentByPosition(2, univ.BitString.fromOctetString(sig))
        out = univ.Sequence()
        out.setComponentByPosition(0, info)
        out.setComponentByPosition(1, rest)
    else:
        out = SESeal()
        out["eSealInfo"], out["cert"] = info, maker_der
        out["signAlgID"], out["signedValue"] = alg, univ.BitString.fromOctetString(sig)
    with open(os.path.join(d, f"{kind}.esl"), "wb") as f:
        f.write(encoder.encode(out))
    with open(os.path.join(d, f"{kind}.txt"), "w", encoding="utf-8") as f:
        f.write(f"now={int(now.timestamp())}\nes_id={info['esID']}\nname={p['name']}\n"
                f"sign_alg={alg}\ncert_list_type={int(p['certListType'])}\n")
    print(f"ok   {d}/{kind}.esl: made with pyasn1 and {'openssl pkeyutl' if maker_kind == 'sm2' else 'cryptography'}")


def main():
    try:
        if len(sys.argv) == 3 and sys.argv[1] == "png":
            with open(sys.argv[2], "wb") as f:
                f.write(png())
        elif len(sys.argv) == 3 and sys.argv[1] == "check":
            check(sys.argv[2])
        elif len(sys.argv) == 4 and sys.argv[1] == "make" and \
                sys.argv[3] in ("sm2", "p256", "digests", "v1"):
            make(sys.argv[2], sys.argv[3])
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except Failed as e:
        print(f"FAIL {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
