"""Reading certificates (issue 12): GET /api/v1/certificates, /certificates/{serial} with its
representations, and /applications/{id}/certificate, through nginx.

What is read does not depend on who signed it, so the certificates here come from a
throwaway test CA (issuance_tools.ThrowawayCA, stored in ca_certificate as inactive rows)
and are stored the way the signer stores them; every file the API hands out is checked
with the openssl command: DER and PEM parse and are the same certificate, the PKCS#7 holds
the chain (`openssl pkcs7 -print_certs`), and `openssl verify -CAfile root -untrusted
issuing` passes on what was downloaded.
"""

import datetime
import hashlib
import secrets

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import issuance_tools as I
import test_review as R
from conftest import assert_problem
from principals import STAFF_ROLES, principals, sql  # noqa: F401  (the fixture)

CERTS = "/api/v1/certificates"
DER, PEM, P7C = "application/pkix-cert", "application/x-pem-file", "application/pkcs7-mime"


@pytest.fixture(scope="module")
def ca():
    ca = I.ThrowawayCA("certhall read test")
    ca.store(active=False)
    return ca


@pytest.fixture(scope="module")
def owner(principals):  # noqa: F811
    return principals.new_applicant(name="applicant (certificates)")


@pytest.fixture(scope="module")
def integrator_user(principals):  # noqa: F811
    return principals.integrator("X").principal("cert-owner", name="integrator X for cert-owner")


class Issued:
    def __init__(self, ca, owner_id, cert_type="org", key=None, **kw):
        self.credit_code = R.credit_code()
        self.id_number = R.id_number() if cert_type == "personal" else None
        self.key = key or ec.generate_private_key(ec.SECP256R1())
        self.cert = ca.issue(self.key.public_key(), cert_type, self.credit_code, self.id_number)
        self.der = self.cert.public_bytes(serialization.Encoding.DER)
        self.serial = I.store_certificate(self.cert, ca, owner_id, cert_type, self.credit_code,
                                          self.id_number, **kw)


@pytest.fixture(scope="module")
def issued(ca, owner, integrator_user):
    """The owner's certificates: org (RSA), personal (P-256), one revoked, one expired;
    and one of the integrator's user."""
    owner_id = owner.info["applicant_id"]
    out = {
        "org": Issued(ca, owner_id, "org",
                      key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
                      usb_key_serial="UK" + secrets.token_hex(4).upper()),
        "personal": Issued(ca, owner_id, "personal"),
        "revoked": Issued(ca, owner_id, "org", revoked=True),
        "expired": Issued(ca, owner_id, "org"),
        "integrator": Issued(ca, integrator_user.me()["applicant"]["id"], "org"),
    }
    sql("UPDATE certificate SET not_before = now() - interval '400 days',"
        " not_after = now() - interval '1 day' WHERE serial = %s", (out["expired"].serial,))
    return out


def get(principal, serial, accept=None, suffix=""):
    headers = {"Accept": accept} if accept is not None else {}
    return principal.get(f"{CERTS}/{serial}{suffix}", headers=headers)


def strangers(principals):  # noqa: F811
    return [principals.applicant("B"),
            principals.integrator("Y").principal(name="integrator Y"),
            principals.integrator("X").principal("someone-else", name="integrator X for another")]


# ---------------------------------------------------------------------------------
# One certificate
# ---------------------------------------------------------------------------------

def test_owner_reads_the_certificate_as_json(owner, issued, ca):
    for name in ("org", "personal"):
        c = issued[name]
        resp = get(owner, c.serial)
        assert resp.status_code == 200, resp.content[:300]
        assert resp.headers["Vary"] == "Accept"
        got = resp.body
        assert got["serial"] == c.serial == I.serial_hex(c.cert.serial_number)
        assert got["status"] == "valid" and got["certificate_type"] == name
        assert got["credit_code"] == c.credit_code and got["unit_name"] == I.UNIT
        assert got["holder_id_number"] == c.id_number          # in clear, one at a time
        assert got["sha256_fingerprint"] == hashlib.sha256(c.der).hexdigest()
        assert got["downloadable"] is True and got["revocation"] is None
        assert got["key_algorithm"] == ("rsa" if name == "org" else "ec-p256")
        assert got["issuer"] == {"name": "issuing-rsa",
                                 "subject": ca.issuing.subject.rfc4514_string(),
                                 "serial": I.serial_hex(ca.issuing.serial_number)}
        not_after = c.cert.not_valid_after.replace(tzinfo=datetime.timezone.utc).astimezone(
            datetime.timezone(datetime.timedelta(hours=8)))
        assert got["not_after"] == not_after.isoformat(), got["not_after"]
    assert get(owner, issued["org"].serial.upper()).body["serial"] == issued["org"].serial
    assert get(owner, issued["org"].serial).body["usb_key_serial"].startswith("UK")
    revoked = get(owner, issued["revoked"].serial).body
    assert revoked["status"] == "revoked" and revoked["revocation"]["reason"] == "superseded"
    assert get(owner, issued["expired"].serial).body["status"] == "expired"


def test_downloads_in_each_format_check_out_with_openssl(owner, issued, ca, tmp_path):
    c = issued["personal"]
    root, issuing = ca.pem_files(tmp_path)

    resp = get(owner, c.serial, DER)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == DER
    assert resp.headers["Content-Disposition"] == f'attachment; filename="{c.serial}.cer"'
    assert resp.content == c.der and resp.headers["Vary"] == "Accept"
    text = I.openssl("x509", "-inform", "DER", "-noout", "-serial", "-subject", "-nameopt",
                     "utf8", data=resp.content).decode()
    assert f"serial={c.serial.upper()}" in text.replace(" ", ""), text
    assert f"IDCCN-{c.id_number}" in text and f"NTRCN-{c.credit_code}" in text, text

    resp = get(owner, c.serial, PEM)
    assert resp.headers["Content-Type"] == PEM
    assert resp.headers["Content-Disposition"].endswith(f'"{c.serial}.pem"')
    assert resp.content == I.openssl("x509", "-inform", "DER", "-outform", "PEM", data=c.der)
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(resp.content)
    assert I.verify_chain(str(leaf), root, issuing).strip() == f"{leaf}: OK"

    resp = get(owner, c.serial, P7C)
    assert resp.headers["Content-Type"] == "application/pkcs7-mime; smime-type=certs-only"
    assert resp.headers["Content-Disposition"].endswith(f'"{c.serial}.p7c"')
    got = I.p7c_certificates(resp.content)
    assert [g.serial_number for g in got] == [c.cert.serial_number, ca.issuing.serial_number,
                                             ca.root.serial_number]
    # The chain as a relying party uses it: leaf first, then the untrusted intermediate.
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(b"".join(g.public_bytes(serialization.Encoding.PEM) for g in got[1:2]))
    assert I.openssl("verify", "-CAfile", root, "-untrusted", str(bundle), str(leaf)).strip() \
        .endswith(b"OK")

    # The suffix routes give the same bytes, whatever Accept says.
    for suffix, want in (("/der", DER), ("/pem", PEM), ("/p7c", P7C)):
        plain = get(owner, c.serial, want).content
        resp = get(owner, c.serial, "application/json", suffix)
        assert resp.status_code == 200 and resp.content == plain, suffix
        assert resp.headers["Content-Type"].startswith(want) and "Vary" not in resp.headers


@pytest.mark.parametrize("accept,want", [
    (None, "application/json"),
    ("*/*", "application/json"),
    ("application/*", "application/json"),
    ("application/json;q=0.5, application/x-pem-file", PEM),
    ("text/html, application/pkix-cert;q=0.2", DER),
    ("application/*;q=0.1, application/pkcs7-mime; smime-type=certs-only", P7C),
    ("APPLICATION/PKIX-CERT", DER),
    ("application/json;q=0, */*", DER),
])
def test_content_negotiation(owner, issued, accept, want):
    resp = get(owner, issued["org"].serial, accept)
    assert resp.status_code == 200, resp.content[:300]
    assert resp.headers["Content-Type"].split(";")[0] == want, resp.headers["Content-Type"]


@pytest.mark.parametrize("accept", ["image/png", "text/html, text/plain;q=0.5",
                                    "application/json;q=0, application/pkix-cert;q=0,"
                                    " application/x-pem-file;q=0, application/pkcs7-mime;q=0"])
def test_an_accept_nothing_meets_is_406(owner, issued, accept):
    body = assert_problem(get(owner, issued["org"].serial, accept), 406, "not-acceptable")
    assert body["header"] == "Accept"


def test_others_get_404_and_staff_read(principals, issued):  # noqa: F811
    serial = issued["org"].serial
    for who in strangers(principals):
        for suffix in ("", "/der", "/pem", "/p7c"):
            assert_problem(get(who, serial, suffix=suffix), 404, "not-found")
        assert_problem(who.post_json(f"{CERTS}/{serial}/installed", {}), 404, "not-found")
    for role in STAFF_ROLES:
        staff = principals.staff(role)
        assert get(staff, serial).body["serial"] == serial
        assert get(staff, serial, suffix="/der").content == issued["org"].der
    # Not a serial at all, and one nobody has.
    owner_like = principals.staff("operator")
    for bad in ("xyz", "1234", "0" * 41, secrets.token_hex(16)):
        assert_problem(get(owner_like, bad), 404, "not-found")


def test_the_integrators_user_reads_its_own(integrator_user, issued, owner):
    c = issued["integrator"]
    assert get(integrator_user, c.serial, DER).content == c.der
    assert_problem(get(owner, c.serial), 404, "not-found")


def test_a_certificate_without_a_file(principals, owner):  # noqa: F811
    """A certificate from before issuance existed (no DER, no owner on record): staff
    see its metadata; its files are 404; applicants do not see it."""
    subject = {"credit_code": R.credit_code(), "holder_id_number": R.id_number()}
    cert_id = R.insert_certificate("org", subject)
    serial = sql("SELECT serial FROM certificate WHERE id = %s", (cert_id,))[0][0]
    staff = principals.staff("reviewer")
    got = get(staff, serial).body
    assert got["downloadable"] is False and got["sha256_fingerprint"] is None, got
    assert got["issuer"] is None and got["key_algorithm"] is None, got
    for accept, suffix in ((DER, ""), (None, "/der"), (None, "/p7c")):
        body = assert_problem(get(staff, serial, accept, suffix), 404, "not-found")
        assert "no file" in body["detail"], body
    assert_problem(get(owner, serial), 404, "not-found")


# ---------------------------------------------------------------------------------
# Lists
# ---------------------------------------------------------------------------------

def listed(principal, **query):
    resp = principal.get(CERTS, params=query)
    assert resp.status_code == 200, resp.content[:300]
    return resp.body


def walk(principal, **query):
    """Every item of a list, page by page."""
    items, cursor = [], None
    for _ in range(200):
        page = listed(principal, **query, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    pytest.fail("the list did not end")


def test_applicants_list_their_own_newest_first(principals, owner, issued):  # noqa: F811
    mine = [issued[k].serial for k in ("org", "personal", "revoked", "expired")]
    items = listed(owner)["items"]
    assert [i["serial"] for i in items] == list(reversed(mine))
    personal = next(i for i in items if i["certificate_type"] == "personal")
    n = issued["personal"].id_number
    assert personal["holder_id_number"] == n[:4] + "*" * 10 + n[-4:], personal
    assert [i["serial"] for i in walk(owner, limit=1)] == list(reversed(mine))
    others = {i["serial"] for i in walk(principals.applicant("B"), limit=100)}
    assert not others & set(mine)
    assert listed(principals.integrator("Y").principal(name="integrator Y")) == \
        {"items": [], "next_cursor": None}


def test_staff_list_all_with_filters(principals, issued):  # noqa: F811
    staff = principals.staff("counter")
    for status, key in (("revoked", "revoked"), ("expired", "expired"), ("valid", "org")):
        items = walk(staff, status=status, limit=100)
        assert issued[key].serial in {i["serial"] for i in items}, status
        assert {i["status"] for i in items} == {status}
    c = issued["personal"]
    items = listed(staff, credit_code=c.credit_code)["items"]
    assert [i["serial"] for i in items] == [c.serial]
    items = listed(staff, credit_code=c.credit_code, certificate_type="org")["items"]
    assert items == []
    assert issued["integrator"].serial in {i["serial"] for i in walk(staff, limit=100,
                                                                   certificate_type="org")}


@pytest.mark.parametrize("query,parameter", [
    ({"status": "bogus"}, "status"),
    ({"certificate_type": "seal"}, "certificate_type"),
    ({"credit_code": "91510100ABCDEFGHI"}, "credit_code"),
    ({"limit": "0"}, "limit"),
    ({"limit": "101"}, "limit"),
    ({"cursor": "not-ours"}, "cursor"),
    ({"colour": "red"}, "colour"),
])
def test_bad_list_query_is_422_naming_the_parameter(owner, query, parameter):
    body = assert_problem(owner.get(CERTS, params=query), 422, "invalid-field")
    assert body["parameter"] == parameter, body


# ---------------------------------------------------------------------------------
# An application's certificate
# ---------------------------------------------------------------------------------

def test_the_applications_certificate(principals, owner, ca):  # noqa: F811
    app = R.create(owner, business="new")
    body = assert_problem(owner.get(f"/api/v1/applications/{app['id']}/certificate"), 404,
                          "not-found")
    assert body["status_now"] == "draft", body
    c = Issued(ca, owner.info["applicant_id"], "org", application_id=app["id"])
    resp = owner.get(f"/api/v1/applications/{app['id']}/certificate")
    assert resp.status_code == 200 and resp.body["serial"] == c.serial, resp.content[:300]
    assert resp.body["application_id"] == app["id"]
    assert resp.headers["Content-Location"] == f"{CERTS}/{c.serial}"
    resp = owner.get(f"/api/v1/applications/{app['id']}/certificate", headers={"Accept": DER})
    assert resp.content == c.der
    assert_problem(owner.get(f"/api/v1/applications/{app['id']}/certificate",
                             headers={"Accept": "image/png"}), 406, "not-acceptable")
    for who in strangers(principals):
        assert_problem(who.get(f"/api/v1/applications/{app['id']}/certificate"), 404,
                       "not-found")
    assert principals.staff("finance").get(
        f"/api/v1/applications/{app['id']}/certificate").body["serial"] == c.serial
    # Confirming a certificate whose application is not issued is a conflict.
    body = assert_problem(owner.post_json(f"{CERTS}/{c.serial}/installed", {}), 409, "conflict")
    assert body["status_now"] == "draft", body
