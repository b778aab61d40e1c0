"""The CA's certificates for relying parties (issue 12): GET /api/v1/ca and /ca/{name}, public,
through nginx.

The CA certificates are those `certhall-signer setup` made when the stack has them; a
stack without any active root and issuing CA (a tree where the signer does not run yet)
gets a throwaway pair from the test (issuance_tools.ThrowawayCA), marked inactive again
afterwards. Either way what is checked is what a relying party checks: the PEM parses, the
fingerprints are those of the DER and the key, the files are the same certificate in each
format, and the issuing CA verifies under the root with `openssl verify`.
"""

import datetime
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import issuance_tools as I
from conftest import assert_problem
from principals import principals, sql  # noqa: F401  (the fixture)

CA = "/api/v1/ca"
SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))


@pytest.fixture(scope="module")
def anonymous(principals):  # noqa: F811
    return principals.anonymous()


@pytest.fixture(scope="module")
def active():
    """{role: CaCertificate row facts} of the active root and issuing CA (RSA), made here
    when the stack has none."""
    have = sql("SELECT role FROM ca_certificate WHERE active AND algorithm = 'rsa'"
               " AND role IN ('root', 'issuing')")
    made = None
    if len(have) < 2:
        made = I.ThrowawayCA("certhall ca test")
        made.store(active=True)
    yield made
    if made is not None:
        made.unstore()


def listing(anonymous):
    resp = anonymous.get(CA)
    assert resp.status_code == 200, resp.content[:300]
    assert resp.headers["Cache-Control"] == "public, max-age=300"
    return {item["name"]: item for item in resp.body["items"]}


def certificate_facts(pem):
    """DER, SubjectPublicKeyInfo DER, serial and notAfter of a PEM certificate, read by
    openssl: python3-cryptography (Debian 12) cannot load the SM2 seal maker's key."""
    der = I.openssl("x509", "-outform", "DER", data=pem)
    spki = I.openssl("pkey", "-pubin", "-outform", "DER",
                     data=I.openssl("x509", "-noout", "-pubkey", data=pem))
    text = I.openssl("x509", "-noout", "-serial", "-enddate", "-dateopt", "iso_8601",
                     data=pem).decode()
    fields = dict(line.split("=", 1) for line in text.splitlines())
    not_after = datetime.datetime.strptime(fields["notAfter"], "%Y-%m-%d %H:%M:%SZ")
    return {"der": der, "spki": spki, "serial": int(fields["serial"], 16),
            "not_after": not_after.replace(tzinfo=datetime.timezone.utc)}


def test_the_list_is_what_a_relying_party_pins(anonymous, active):
    items = listing(anonymous)
    assert {"root-rsa", "issuing-rsa"} <= set(items), sorted(items)
    assert list(items)[0].startswith("root-"), "the root comes first"
    for name, item in items.items():
        facts = certificate_facts(item["pem"].encode())
        assert item["name"] == f"{item['role']}-{item['algorithm']}" == name
        assert item["sha256_fingerprint"] == hashlib.sha256(facts["der"]).hexdigest(), name
        assert item["spki_sha256"] == hashlib.sha256(facts["spki"]).hexdigest(), name
        assert item["serial"] == I.serial_hex(facts["serial"]), name
        assert item["not_after"] == facts["not_after"].astimezone(SHANGHAI).isoformat(), name
    assert items["root-rsa"]["issuer"] is None
    assert items["issuing-rsa"]["issuer"] == "root-rsa"


def test_inactive_ca_certificates_are_not_served(anonymous, active):
    old = I.ThrowawayCA("certhall retired CA")
    old.store(active=False)
    serials = {item["serial"] for item in listing(anonymous).values()}
    assert I.serial_hex(old.root.serial_number) not in serials
    assert I.serial_hex(old.issuing.serial_number) not in serials


def test_the_issuing_cas_der_is_the_ca_issuers_url(anonymous, active, tmp_path):
    items = listing(anonymous)
    issuing = x509.load_pem_x509_certificate(items["issuing-rsa"]["pem"].encode())
    want = issuing.public_bytes(serialization.Encoding.DER)
    for path in (f"{CA}/issuing.cer", f"{CA}/issuing-rsa.cer", f"{CA}/issuing/der"):
        resp = anonymous.get(path, headers={"Accept": "text/html"})
        assert resp.status_code == 200, (path, resp.content[:300])
        assert resp.headers["Content-Type"] == "application/pkix-cert", path
        assert resp.headers["Content-Disposition"] == 'attachment; filename="issuing-rsa.cer"'
        assert resp.headers["Cache-Control"] == "public, max-age=300"
        assert resp.content == want, path
    text = I.openssl("x509", "-inform", "DER", "-noout", "-subject", data=want).decode()
    assert "subject=" in text

    # The issuing CA verifies under the root, from the files the API serves.
    root = tmp_path / "root.pem"
    root.write_bytes(anonymous.get(f"{CA}/root/pem").content)
    leaf = tmp_path / "issuing.pem"
    leaf.write_bytes(anonymous.get(f"{CA}/issuing", headers={"Accept": "application/x-pem-file"})
                     .content)
    assert I.openssl("verify", "-CAfile", str(root), str(leaf)).strip().endswith(b"OK")
    p7c = anonymous.get(f"{CA}/issuing", headers={"Accept": "application/pkcs7-mime"})
    assert p7c.headers["Content-Type"] == "application/pkcs7-mime; smime-type=certs-only"
    assert p7c.content == anonymous.get(f"{CA}/issuing/p7c").content
    chain = I.p7c_certificates(p7c.content)
    assert [I.serial_hex(c.serial_number) for c in chain] == \
        [items["issuing-rsa"]["serial"], items["root-rsa"]["serial"]]


def test_one_ca_certificate_as_json(anonymous, active):
    items = listing(anonymous)
    for path in (f"{CA}/root", f"{CA}/root-rsa"):
        resp = anonymous.get(path)
        assert resp.status_code == 200 and resp.body == items["root-rsa"], path
        assert resp.headers["Vary"] == "Accept"


@pytest.mark.parametrize("name", ["nope", "root-dsa", "root-", "-rsa", "issuing.pem",
                                  "issuing.cer.cer", "ISSUING", "seal_maker-rsa"])
def test_unknown_names_are_404(anonymous, active, name):
    body = assert_problem(anonymous.get(f"{CA}/{name}"), 404, "not-found")
    assert body["parameter"] == "name"


def test_406_and_credentials(principals, anonymous, active):  # noqa: F811
    body = assert_problem(anonymous.get(f"{CA}/root", headers={"Accept": "image/png"}), 406,
                          "not-acceptable")
    assert body["header"] == "Accept"
    # Public: any signed-in caller too; credentials that are not valid are still refused.
    assert principals.applicant("A").get(CA).status_code == 200
    resp = anonymous.get(CA, headers={"Authorization": "Bearer ch_" + "A" * 43})
    assert_problem(resp, 401, "unauthorized")
