"""Scanned materials of an application (issue 4; docs/CONTRACT.md "Applications,
materials, review"; SPEC §3):

  PUT /api/v1/applications/{id}/materials/{kind}   the file as the body
  GET /api/v1/applications/{id}/materials          {"items": current, "history": superseded}
  GET /api/v1/applications/{id}/materials/{kind}   the current file's bytes

Files are built here, byte by byte, as small valid PDF, JPEG and PNG documents (nothing
binary lives in the repository). Through real nginx: the materials path lets 11 MiB
through so the API answers 10 MiB + 1 itself; beyond that, and on every other path past
1 MiB, nginx's own 413 problem answers.
"""

import hashlib
import os
import secrets
import struct
import threading
import zlib

import pytest

from conftest import assert_problem, media_type
from principals import principals, random_phone, sql  # noqa: F401  (the fixture)

MiB = 1024 * 1024
FILE_CAP = 10 * MiB                 # the route's cap (api/routes.c, catalog max_file_bytes)
APP_CAP = 50 * MiB                  # catalog max_application_bytes
NGINX_CAP = 11 * MiB                # nginx/certhall.conf.in, materials path only

PDF, JPEG, PNG = "application/pdf", "image/jpeg", "image/png"


# ---------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------

def pdf_bytes(size=None, text="certhall"):
    """A one-page PDF 1.4 with a correct xref table; with size, padded to exactly that many
    bytes by a comment line after the header (comments may stand between any tokens)."""
    content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]

    def build(filler):
        """The parts of the file with a comment line of filler bytes (0: none)."""
        parts = [b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"]
        if filler:
            parts.append(b"%" + b"0" * (filler - 2) + b"\n")
        offsets = []
        at = sum(map(len, parts))
        for number, body in enumerate(objects, 1):
            offsets.append(at)
            parts.append(b"%d 0 obj\n" % number + body + b"\nendobj\n")
            at += len(parts[-1])
        tail = b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
        tail += b"".join(b"%010d 00000 n \n" % off for off in offsets)
        tail += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
            len(objects) + 1, at)
        return parts + [tail], at

    if size is None:
        return b"".join(build(0)[0])
    parts, xref_at = build(0)
    base = sum(map(len, parts))

    def length(filler):
        # Only the startxref number changes width with the filler (xref entries are fixed).
        return base + filler + len(str(xref_at + filler)) - len(str(xref_at))

    filler = size - base
    for _ in range(4):
        if length(filler) == size:
            break
        filler -= length(filler) - size
    assert filler >= 2 and length(filler) == size, f"no PDF of exactly {size} bytes"
    data = b"".join(build(filler)[0])
    assert len(data) == size, (len(data), size)
    return data


def png_bytes(width=1, height=1, rgb=(200, 30, 30)):
    """A truecolour PNG (RFC 2083) of one colour."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(row * height)) +
            chunk(b"IEND", b""))


def jpeg_bytes(comment=b"certhall"):
    """A baseline JPEG (ITU T.81) of one 8x8 grey block: SOI, a comment (to vary the bytes),
    a quantisation table, SOF0, one-code DC and AC Huffman tables, the scan (DC difference
    0, then end of block) and EOI."""
    def segment(marker, payload):
        return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload
    dqt = b"\x00" + b"\x01" * 64                       # table 0, 8-bit, all ones
    sof = struct.pack(">BHHB", 8, 8, 8, 1) + b"\x01\x11\x00"   # 8x8, one component
    bits = b"\x01" + b"\x00" * 15                       # one code of length 1 ("0")
    dht_dc = b"\x00" + bits + b"\x00"                   # DC table 0: category 0
    dht_ac = b"\x10" + bits + b"\x00"                   # AC table 0: EOB
    sos = b"\x01" + b"\x01\x00" + b"\x00\x3f\x00"
    scan = bytes([0b00111111])                          # "0" DC, "0" EOB, 1-bit padding
    return (b"\xff\xd8" + segment(0xFE, comment) + segment(0xDB, dqt) +
            segment(0xC0, sof) + segment(0xC4, dht_dc) + segment(0xC4, dht_ac) +
            segment(0xDA, sos) + scan + b"\xff\xd9")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------
# Valid identity data (SPEC §10), for an application that can be submitted
# ---------------------------------------------------------------------------------

CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def credit_code():
    """A random unified social credit code with its GB 32100 check character."""
    body = "915101" + "".join(secrets.choice(CREDIT_ALPHABET) for _ in range(11))
    total = sum(CREDIT_ALPHABET.index(c) * w for c, w in zip(body, CREDIT_WEIGHTS))
    return body + CREDIT_ALPHABET[(31 - total % 31) % 31]


def id_number(birth="19850612"):
    """A resident ID number (GB 11643) born on birth, Chengdu Wuhou district."""
    body = "510107" + birth + f"{secrets.randbelow(1000):03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, ID_WEIGHTS)) % 11]


def complete_fields(certificate_type):
    """Every field a paid, shipped `new` application needs at submit."""
    fields = {
        "unit_name": "四川测试科技有限公司", "credit_code": credit_code(),
        "handler_name": "张经办", "handler_phone": random_phone(),
        "handler_id_number": id_number("19900101"), "years": 1,
        "delivery_recipient": "张经办", "delivery_phone": random_phone(),
        "delivery_province": "四川省", "delivery_city": "成都市",
        "delivery_district": "武侯区", "delivery_address": "锦云西二巷1号",
        "delivery_postcode": "610041", "invoice_title": "四川测试科技有限公司",
    }
    if certificate_type == "personal":
        fields.update(holder_name="李持有", holder_id_number=id_number())
    return fields


# ---------------------------------------------------------------------------------
# Applications and materials through the API
# ---------------------------------------------------------------------------------

def create_application(who, certificate_type="org", seals=0, **fields):
    """A new draft (`new` business) of who; returns its id."""
    body = {"business_type": "new", "certificate_type": certificate_type, "years": 1,
            "seals": seals, **fields}
    resp = who.post_json("/api/v1/applications", body)
    assert resp.status_code == 201, (
        f"{who}: POST /applications answered {resp.status_code}: {resp.content[:300]!r}")
    return resp.body["id"]


def submit_application(who, app_id):
    resp = who.post_json(f"/api/v1/applications/{app_id}/submit", {})
    assert resp.status_code == 200, (
        f"{who}: submit answered {resp.status_code}: {resp.content[:400]!r}")
    assert resp.body["status"] == "submitted", resp.body


def cancel_application(who, app_id):
    resp = who.post_json(f"/api/v1/applications/{app_id}/cancel", {})
    assert resp.status_code == 200, (
        f"{who}: cancel answered {resp.status_code}: {resp.content[:300]!r}")
    assert resp.body["status"] == "cancelled", resp.body


def material_path(app_id, kind=None):
    path = f"/api/v1/applications/{app_id}/materials"
    return path if kind is None else f"{path}/{kind}"


def put(who, app_id, kind, data, content_type, **kw):
    return who.request("PUT", material_path(app_id, kind), data=data,
                       headers={"Content-Type": content_type, **kw.pop("headers", {})}, **kw)


def upload(who, app_id, kind, data, content_type, status=201):
    """PUTs a file that must be accepted; checks the answer and returns its body."""
    resp = put(who, app_id, kind, data, content_type)
    assert resp.status_code == status, (
        f"{who}: PUT {kind} answered {resp.status_code}, not {status}: {resp.content[:300]!r}")
    assert media_type(resp.headers["Content-Type"])[0] == "application/json"
    body = resp.body
    assert set(body) == {"kind", "content_type", "size_bytes", "sha256", "uploaded_at"}, body
    assert body["kind"] == kind
    assert body["content_type"] == content_type
    assert body["size_bytes"] == len(data)
    assert body["sha256"] == sha256(data)
    assert body["uploaded_at"].endswith("+08:00"), body
    etag = resp.headers.get("ETag", "")
    assert etag.startswith('"v') and etag.endswith('"') and etag[2:-1].isdigit(), etag
    body["etag_version"] = int(etag[2:-1])
    return body


def materials(who, app_id):
    resp = who.get(material_path(app_id))
    assert resp.status_code == 200, (
        f"{who}: GET materials answered {resp.status_code}: {resp.content[:300]!r}")
    assert set(resp.body) == {"items", "history"}, resp.body
    return resp.body


def download(who, app_id, kind):
    resp = who.get(material_path(app_id, kind))
    assert resp.status_code == 200, (
        f"{who}: GET {kind} answered {resp.status_code}: {resp.content[:300]!r}")
    return resp


def version_of(app_id):
    return sql("SELECT version FROM application WHERE id = %s", (app_id,))[0][0]


def stored_rows(app_id, kind=None):
    """(kind, size_bytes, sha256, superseded, sha256 of the stored data) per row, oldest
    first, as the owner reads the table."""
    query = ("SELECT kind, size_bytes, sha256, superseded_at IS NOT NULL,"
             " encode(sha256(data), 'hex') FROM application_material"
             " WHERE application_id = %s" + (" AND kind = %s" if kind else "") +
             " ORDER BY id")
    return sql(query, (app_id, kind) if kind else (app_id,))


def audit_events(app_id):
    return [r[0] for r in sql(
        "SELECT detail FROM audit_event WHERE action = 'application.material_uploaded'"
        " AND object_type = 'application' AND object_id = %s ORDER BY id", (str(app_id),))]


# ---------------------------------------------------------------------------------
# Uploads that are accepted
# ---------------------------------------------------------------------------------

def test_org_new_takes_each_required_kind(principals):
    """Org `new` with an e-seal: form, licence, handler's ID and the seal impression, each
    201 with its SHA-256, the application's version bumped each time, an audit event each."""
    owner = principals.new_applicant()
    app_id = create_application(owner, "org", seals=1)
    files = {
        "application_form": (pdf_bytes(text="form"), PDF),
        "business_license": (jpeg_bytes(b"licence"), JPEG),
        "handler_id": (png_bytes(rgb=(1, 2, 3)), PNG),
        "seal_impression": (png_bytes(4, 4, (220, 0, 0)), PNG),
    }
    versions = [version_of(app_id)]
    for kind, (data, ctype) in files.items():
        body = upload(owner, app_id, kind, data, ctype)
        assert body["etag_version"] == versions[-1] + 1, (body, versions)
        assert version_of(app_id) == body["etag_version"]
        versions.append(body["etag_version"])

    listed = materials(owner, app_id)
    assert listed["history"] == []
    assert [m["kind"] for m in listed["items"]] == list(files), listed
    for item in listed["items"]:
        data, ctype = files[item["kind"]]
        assert item == {"kind": item["kind"], "content_type": ctype, "size_bytes": len(data),
                        "sha256": sha256(data), "uploaded_at": item["uploaded_at"]}

    # The application shows the same current materials (CONTRACT: Application.materials).
    app = owner.get(f"/api/v1/applications/{app_id}")
    assert app.status_code == 200, app.content[:300]
    assert app.headers["ETag"] == f'"v{versions[-1]}"'
    assert {m["kind"]: m["sha256"] for m in app.body["materials"]} == {
        k: sha256(d) for k, (d, _) in files.items()}

    events = audit_events(app_id)
    assert [e["kind"] for e in events] == list(files), events
    for event in events:
        data, ctype = files[event["kind"]]
        assert event["sha256"] == sha256(data)
        assert event["content_type"] == ctype
        assert event["size_bytes"] == len(data)
        assert event["replaced"] is False


def test_personal_new_takes_each_required_kind(principals):
    """Personal `new` without e-seals: form, licence, holder's and handler's IDs; no seal
    impression (seals = 0)."""
    owner = principals.new_applicant()
    app_id = create_application(owner, "personal", seals=0)
    files = {
        "application_form": (pdf_bytes(text="personal form"), PDF),
        "business_license": (pdf_bytes(text="licence"), PDF),
        "holder_id": (jpeg_bytes(b"holder"), JPEG),
        "handler_id": (jpeg_bytes(b"handler"), JPEG),
    }
    for kind, (data, ctype) in files.items():
        upload(owner, app_id, kind, data, ctype)
    assert [m["kind"] for m in materials(owner, app_id)["items"]] == list(files)
    resp = put(owner, app_id, "seal_impression", png_bytes(), PNG)
    body = assert_problem(resp, 422, "invalid-field")
    assert body.get("parameter") == "kind", body


def test_replacing_keeps_the_old_file_in_history(principals):
    owner = principals.new_applicant()
    app_id = create_application(owner, "org")
    first, second = pdf_bytes(text="first"), png_bytes(rgb=(9, 9, 9))
    one = upload(owner, app_id, "application_form", first, PDF, status=201)
    two = upload(owner, app_id, "application_form", second, PNG, status=200)
    assert two["etag_version"] == one["etag_version"] + 1

    listed = materials(owner, app_id)
    assert [(m["kind"], m["sha256"]) for m in listed["items"]] == [
        ("application_form", sha256(second))]
    assert len(listed["history"]) == 1, listed
    old = listed["history"][0]
    assert old["sha256"] == sha256(first) and old["content_type"] == PDF
    assert old["size_bytes"] == len(first)
    assert old["superseded_at"] >= old["uploaded_at"]
    assert old["superseded_at"].endswith("+08:00")

    rows = stored_rows(app_id, "application_form")
    assert [(r[2], r[3]) for r in rows] == [(sha256(first), True), (sha256(second), False)]
    assert [r[4] for r in rows] == [sha256(first), sha256(second)], "stored bytes differ"
    assert [e["replaced"] for e in audit_events(app_id)] == [False, True]

    # The download is the current one; a third upload supersedes the second.
    assert download(owner, app_id, "application_form").content == second
    third = jpeg_bytes(b"third")
    upload(owner, app_id, "application_form", third, JPEG, status=200)
    listed = materials(owner, app_id)
    assert [m["sha256"] for m in listed["history"]] == [sha256(second), sha256(first)]
    assert listed["items"][0]["sha256"] == sha256(third)


def test_a_file_of_exactly_the_cap_is_accepted(principals):
    owner = principals.new_applicant()
    app_id = create_application(owner, "org")
    data = pdf_bytes(size=FILE_CAP)
    upload(owner, app_id, "application_form", data, PDF)
    got = download(owner, app_id, "application_form")
    assert len(got.content) == FILE_CAP
    assert sha256(got.content) == sha256(data)


def test_concurrent_uploads_of_one_kind_take_turns(principals, make_client):
    """Uploads to one application lock it in turn: of four at once for the same kind, one is
    the first (201) and three replace (200); one current file remains, three in history,
    and the version moved by four."""
    owner = principals.new_applicant()
    app_id = create_application(owner, "org")
    version = version_of(app_id)
    files = [pdf_bytes(text=f"racer {i}") for i in range(4)]
    answers = [None] * len(files)
    start = threading.Barrier(len(files))

    def race(i):
        client = make_client()
        client.session.headers["Authorization"] = f"Bearer {owner.token}"
        start.wait()
        answers[i] = client.request("PUT", material_path(app_id, "application_form"),
                                    data=files[i], headers={"Content-Type": PDF})

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(files))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 200, 200, 201], [a.content[:200] for a in answers]
    assert sorted(int(a.headers["ETag"][2:-1]) for a in answers) == [
        version + i for i in range(1, 5)]
    rows = stored_rows(app_id)
    assert sum(1 for r in rows if not r[3]) == 1 and len(rows) == 4, rows
    last = max(answers, key=lambda a: int(a.headers["ETag"][2:-1]))
    assert download(owner, app_id, "application_form").content == files[
        [sha256(f) for f in files].index(last.body["sha256"])]


# ---------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------

@pytest.fixture
def draft(principals):
    """(owner, id) of a fresh org `new` draft with one e-seal."""
    owner = principals.new_applicant()
    return owner, create_application(owner, "org", seals=1)


def assert_nothing_stored(app_id, version):
    assert stored_rows(app_id) == []
    assert version_of(app_id) == version
    assert audit_events(app_id) == []


def test_wrong_magic_is_refused_with_415(draft):
    owner, app_id = draft
    version = version_of(app_id)
    # A PNG sent as a PDF: 415 naming what the bytes are.
    body = assert_problem(put(owner, app_id, "application_form", png_bytes(), PDF),
                          415, "unsupported-media-type")
    assert "PNG" in body["detail"], body
    # A PDF sent as a JPEG.
    body = assert_problem(put(owner, app_id, "handler_id", pdf_bytes(), JPEG),
                          415, "unsupported-media-type")
    assert "PDF" in body["detail"], body
    # Random bytes (not starting with any of the three signatures).
    noise = b"\x00" + os.urandom(4095)
    for ctype in (PDF, JPEG, PNG):
        assert_problem(put(owner, app_id, "application_form", noise, ctype),
                       415, "unsupported-media-type")
    # Signatures cut short are not files either.
    assert_problem(put(owner, app_id, "application_form", b"%PDF", PDF),
                   415, "unsupported-media-type")
    assert_problem(put(owner, app_id, "handler_id", b"\x89PNG\r\n\x1a", PNG),
                   415, "unsupported-media-type")
    # A type the route does not take at all.
    body = assert_problem(put(owner, app_id, "application_form", pdf_bytes(), "text/plain"),
                          415, "unsupported-media-type")
    assert body.get("header") == "Content-Type", body
    assert_nothing_stored(app_id, version)


def test_content_type_parameters_and_case_are_ignored(draft):
    owner, app_id = draft
    upload_resp = put(owner, app_id, "application_form", pdf_bytes(), "Application/PDF; x=1")
    assert upload_resp.status_code == 201, upload_resp.content[:300]
    assert upload_resp.body["content_type"] == PDF


def test_empty_body_is_400(draft):
    owner, app_id = draft
    version = version_of(app_id)
    assert_problem(put(owner, app_id, "application_form", b"", PDF), 400, "bad-request")
    assert_nothing_stored(app_id, version)


def test_seal_impression_must_be_png(draft):
    owner, app_id = draft
    version = version_of(app_id)
    body = assert_problem(put(owner, app_id, "seal_impression", jpeg_bytes(), JPEG),
                          415, "unsupported-media-type")
    assert "PNG" in body["detail"], body
    assert_problem(put(owner, app_id, "seal_impression", pdf_bytes(), PDF),
                   415, "unsupported-media-type")
    assert_nothing_stored(app_id, version)
    upload(owner, app_id, "seal_impression", png_bytes(), PNG)


def test_kind_not_required_is_422(principals, draft):
    owner, app_id = draft
    version = version_of(app_id)
    # holder_id belongs to personal certificates only; the rest are not kinds at all
    # (among them bytes that are not UTF-8, which no answer may echo).
    for kind in ("holder_id", "passport", "APPLICATION_FORM", "x" * 200, "%FF",
                 "%E4%BD", "%E4%BD%A0%22%5C%0A"):
        body = assert_problem(put(owner, app_id, kind, pdf_bytes(), PDF), 422, "invalid-field")
        assert body.get("parameter") == "kind", body
    assert_nothing_stored(app_id, version)
    # No e-seals, no seal impression.
    no_seal = create_application(owner, "org", seals=0)
    body = assert_problem(put(owner, no_seal, "seal_impression", png_bytes(), PNG),
                          422, "invalid-field")
    assert body.get("parameter") == "kind"


def test_over_the_cap_is_413_from_the_api_and_the_session_goes_on(draft):
    """10 MiB + 1 passes nginx (11 MiB on this path) and the API refuses it unread; the
    kept-alive connection through nginx to the FastCGI worker stays in step."""
    owner, app_id = draft
    version = version_of(app_id)
    big = pdf_bytes(size=FILE_CAP + 1)
    body = assert_problem(put(owner, app_id, "application_form", big, PDF),
                          413, "payload-too-large")
    assert str(FILE_CAP) in body.get("detail", ""), f"not the API's own 413: {body}"
    # The next requests on the same session (and over nginx's upstream connections) work.
    for _ in range(6):
        assert materials(owner, app_id) == {"items": [], "history": []}
    upload(owner, app_id, "application_form", pdf_bytes(), PDF)
    assert version_of(app_id) == version + 1


def test_far_over_the_cap_is_413_from_nginx(draft):
    owner, app_id = draft
    version = version_of(app_id)
    resp = put(owner, app_id, "application_form", pdf_bytes(size=12 * MiB), PDF, timeout=60)
    body = assert_problem(resp, 413, "payload-too-large")
    assert str(FILE_CAP) not in body.get("detail", ""), f"expected nginx's own 413: {body}"
    assert resp.headers.get("X-Request-Id") == body["request_id"]
    # nginx closes that connection; the session opens another and goes on.
    assert materials(owner, app_id) == {"items": [], "history": []}
    upload(owner, app_id, "application_form", pdf_bytes(), PDF)
    assert version_of(app_id) == version + 1


def chunks(data, size=64 * 1024):
    """data as a generator, so requests sends it chunked (no Content-Length)."""
    for i in range(0, len(data), size):
        yield data[i:i + size]


def test_chunked_bodies_are_capped_the_same(draft):
    """Without Content-Length nginx buffers the chunks and passes the length on; past its
    11 MiB it stops reading and answers with its problem page (not its built-in HTML)."""
    owner, app_id = draft
    data = pdf_bytes(size=3 * MiB)
    resp = put(owner, app_id, "application_form", chunks(data), PDF)
    assert resp.request.headers.get("Transfer-Encoding") == "chunked"
    assert resp.status_code == 201, resp.content[:300]
    assert download(owner, app_id, "application_form").content == data
    over = pdf_bytes(size=FILE_CAP + 1)
    body = assert_problem(put(owner, app_id, "application_form", chunks(over), PDF),
                          413, "payload-too-large")
    assert str(FILE_CAP) in body["detail"], f"not the API's own 413: {body}"
    far_over = pdf_bytes(size=12 * MiB)
    body = assert_problem(put(owner, app_id, "application_form", chunks(far_over), PDF,
                              timeout=60), 413, "payload-too-large")
    assert str(FILE_CAP) not in body["detail"], f"expected nginx's own 413: {body}"
    assert [r[4] for r in stored_rows(app_id)] == [sha256(data)]


def test_a_large_upload_meeting_a_stopped_api_gets_the_502_problem(draft, stackctl):
    """nginx's error pages are reached by an internal redirect that checks the body's length
    again: a body over the server's 1m must still get the problem page, not an HTML 413."""
    owner, app_id = draft
    stackctl.run("api-stop")
    try:
        resp = put(owner, app_id, "application_form", pdf_bytes(size=2 * MiB), PDF, timeout=30)
        assert_problem(resp, 502, "bad-gateway")
    finally:
        stackctl.run("api-start")
    upload(owner, app_id, "application_form", pdf_bytes(), PDF)


def test_other_paths_keep_nginx_1m_cap(principals):
    """Only the materials path is widened: a 2 MiB JSON body elsewhere meets nginx's 1m."""
    anonymous = principals.anonymous()
    resp = anonymous.request("POST", "/api/v1/quotes", data=b"{" + b" " * (2 * MiB) + b"}",
                             headers={"Content-Type": "application/json"})
    body = assert_problem(resp, 413, "payload-too-large")
    assert "16384" not in body.get("detail", ""), f"expected nginx's 413, not the API's: {body}"


def test_upload_after_submit_is_409(principals):
    owner = principals.new_applicant()
    app_id = create_application(owner, "org", **complete_fields("org"))
    for kind, data, ctype in (("application_form", pdf_bytes(), PDF),
                              ("business_license", jpeg_bytes(), JPEG),
                              ("handler_id", png_bytes(), PNG)):
        upload(owner, app_id, kind, data, ctype)
    submit_application(owner, app_id)
    version = version_of(app_id)
    rows = stored_rows(app_id)
    for kind in ("application_form", "handler_id"):
        assert_problem(put(owner, app_id, kind, pdf_bytes(text="late"), PDF), 409, "conflict")
    assert stored_rows(app_id) == rows
    assert version_of(app_id) == version
    # Still readable, by the owner and by a reviewer.
    assert len(materials(owner, app_id)["items"]) == 3
    assert len(materials(principals.staff("reviewer"), app_id)["items"]) == 3


def test_upload_after_cancel_is_409(draft):
    owner, app_id = draft
    cancel_application(owner, app_id)
    assert_problem(put(owner, app_id, "application_form", pdf_bytes(), PDF), 409, "conflict")
    assert stored_rows(app_id) == []


def test_application_total_is_capped(principals):
    """The current files of one application may total max_application_bytes (50 MiB; five
    kinds of 10 MiB reach it exactly, so it is lowered here for the test), counting the file
    a replacement supersedes as gone; material_policy's per-file cap applies too."""
    owner = principals.new_applicant()
    app_id = create_application(owner, "personal", seals=1)
    kinds = ["application_form", "business_license", "holder_id", "handler_id"]
    saved = sql("SELECT max_file_bytes, max_application_bytes FROM material_policy")[0]
    assert tuple(saved) == (FILE_CAP, APP_CAP), saved
    try:
        sql("UPDATE material_policy SET max_file_bytes = 3000, max_application_bytes = 7000")
        for kind in kinds[:3]:
            upload(owner, app_id, kind, pdf_bytes(size=2000), PDF)          # 6000
        resp = put(owner, app_id, kinds[3], pdf_bytes(size=1001), PDF)      # 7001
        assert_problem(resp, 413, "payload-too-large")
        upload(owner, app_id, kinds[3], pdf_bytes(size=1000), PDF)          # 7000: at the cap
        # Replacing a 2000-byte file with a 2000-byte one fits (the old one counts as gone);
        # with a 2001-byte one it does not.
        upload(owner, app_id, kinds[0], pdf_bytes(size=2000, text="again"), PDF, status=200)
        assert_problem(put(owner, app_id, kinds[0], pdf_bytes(size=2001), PDF),
                       413, "payload-too-large")
        # The per-file cap of the policy.
        assert_problem(put(owner, app_id, "seal_impression", b"\x89PNG\r\n\x1a\n" + bytes(2993),
                           PNG), 413, "payload-too-large")
    finally:
        sql("UPDATE material_policy SET max_file_bytes = %s, max_application_bytes = %s",
            tuple(saved))
    listed = materials(owner, app_id)
    assert sum(m["size_bytes"] for m in listed["items"]) == 7000
    assert len(listed["history"]) == 1


# ---------------------------------------------------------------------------------
# Who may upload, list and download
# ---------------------------------------------------------------------------------

def test_another_applicant_gets_404(principals):
    owner, other = principals.new_applicant(), principals.new_applicant()
    app_id = create_application(owner, "org")
    data = pdf_bytes(text="private")
    upload(owner, app_id, "application_form", data, PDF)
    version = version_of(app_id)

    assert_problem(put(other, app_id, "application_form", pdf_bytes(), PDF), 404, "not-found")
    assert_problem(put(other, app_id, "handler_id", png_bytes(), PNG), 404, "not-found")
    # Even a refusal that does not depend on the application says nothing more.
    assert_problem(put(other, app_id, "passport", b"junk", PDF), 404, "not-found")
    assert_problem(other.get(material_path(app_id)), 404, "not-found")
    assert_problem(other.get(material_path(app_id, "application_form")), 404, "not-found")
    # The same answers as for an application that does not exist.
    missing = sql("SELECT COALESCE(max(id), 0) + 1000000 FROM application")[0][0]
    assert_problem(put(other, missing, "application_form", pdf_bytes(), PDF), 404, "not-found")
    assert_problem(other.get(material_path(missing)), 404, "not-found")
    assert_problem(other.get(material_path("abc")), 404, "not-found")

    assert [r[2] for r in stored_rows(app_id)] == [sha256(data)]
    assert version_of(app_id) == version


def test_download_by_owner_and_reviewer(principals):
    owner = principals.new_applicant()
    app_id = create_application(owner, "org", seals=1)
    files = {"application_form": (pdf_bytes(text="download"), PDF, "pdf"),
             "business_license": (jpeg_bytes(b"dl"), JPEG, "jpg"),
             "seal_impression": (png_bytes(3, 2), PNG, "png")}
    for kind, (data, ctype, _) in files.items():
        upload(owner, app_id, kind, data, ctype)

    reviewer = principals.staff("reviewer")
    for who in (owner, reviewer, principals.staff("operator")):
        for kind, (data, ctype, ext) in files.items():
            resp = download(who, app_id, kind)
            assert resp.content == data, f"{who}: {kind} bytes differ"
            assert sha256(resp.content) == sha256(data)
            assert resp.headers["Content-Type"] == ctype
            assert resp.headers["Content-Length"] == str(len(data))
            assert resp.headers["Content-Disposition"] == f'attachment; filename="{kind}.{ext}"'
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
        listed = materials(who, app_id)
        assert {m["kind"]: m["sha256"] for m in listed["items"]} == {
            k: sha256(d) for k, (d, _, _) in files.items()}

    # HEAD: the headers without the bytes (openapi.yaml declares GET only, so the raw
    # session is used, unvalidated).
    head = owner.client.session.head(owner.url(material_path(app_id, "application_form")),
                                     timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(len(files["application_form"][0]))

    # A kind without a file, or no kind at all: 404.
    for kind in ("handler_id", "holder_id", "passport", "%FF", "%E4%BD"):
        assert_problem(owner.get(material_path(app_id, kind)), 404, "not-found")
    # Another applicant and the anonymous: 404 and 401.
    other = principals.applicant("B")
    for kind in files:
        assert_problem(other.get(material_path(app_id, kind)), 404, "not-found")
    assert_problem(principals.anonymous().get(material_path(app_id, "application_form")),
                   401, "unauthorized")


def test_staff_roles_on_uploads(principals):
    """Reviewers may read but not upload (403 by role); a counter clerk uploads for counter
    applications only (an online one is a 404 to them)."""
    owner = principals.new_applicant()
    app_id = create_application(owner, "org")
    reviewer, counter = principals.staff("reviewer"), principals.staff("counter")
    assert_problem(put(reviewer, app_id, "application_form", pdf_bytes(), PDF), 403, "forbidden")
    assert_problem(put(counter, app_id, "application_form", pdf_bytes(), PDF), 404, "not-found")
    assert stored_rows(app_id) == []

    walk_in = counter.post_json("/api/v1/applications", {
        "business_type": "new", "certificate_type": "org", "years": 1,
        "handler_phone": random_phone()})
    assert walk_in.status_code == 201, walk_in.content[:300]
    assert walk_in.body["channel"] == "counter"
    counter_app = walk_in.body["id"]
    data = jpeg_bytes(b"counter scan")
    upload(counter, counter_app, "business_license", data, JPEG)
    assert download(reviewer, counter_app, "business_license").content == data
    assert download(counter, counter_app, "business_license").content == data
    uploader = sql("SELECT uploaded_by_kind, uploaded_by_id FROM application_material"
                   " WHERE application_id = %s", (counter_app,))
    assert uploader == [("staff", counter.info["staff_id"])]


def test_integrator_uploads_for_its_user_only(principals):
    """An integrator's signature covers the file's SHA-256; it acts for its own user only."""
    integrator = principals.integrator("X")
    user = f"user-{secrets.token_hex(4)}"
    acting = integrator.principal(external_user=user)
    app_id = create_application(acting, "org")
    data = pdf_bytes(text="signed")
    upload(acting, app_id, "application_form", data, PDF)
    assert download(acting, app_id, "application_form").content == data

    for stranger in (integrator.principal(external_user=f"other-{secrets.token_hex(4)}"),
                     integrator.principal(),
                     principals.integrator("Y").principal(external_user=user)):
        assert_problem(put(stranger, app_id, "application_form", pdf_bytes(), PDF),
                       404, "not-found")
        assert_problem(stranger.get(material_path(app_id, "application_form")),
                       404, "not-found")
    assert len(stored_rows(app_id)) == 1


def test_materials_of_a_returned_application_can_be_replaced(principals):
    """Returned for correction (review): the owner replaces the named material (200) and
    the old one stays in history for the reviewer."""
    owner = principals.new_applicant()
    app_id = create_application(owner, "org", **complete_fields("org"))
    licence = jpeg_bytes(b"no seal on it")
    for kind, data, ctype in (("application_form", pdf_bytes(), PDF),
                              ("business_license", licence, JPEG),
                              ("handler_id", png_bytes(), PNG)):
        upload(owner, app_id, kind, data, ctype)
    submit_application(owner, app_id)
    reviewer = principals.staff("reviewer")
    resp = reviewer.post_json(f"/api/v1/applications/{app_id}/review", {
        "decision": "return", "reason": "营业执照复印件未加盖单位公章",
        "materials": ["business_license"]})
    assert resp.status_code == 200, resp.content[:300]
    assert resp.body["status"] == "returned", resp.body

    fixed = jpeg_bytes(b"with the official seal")
    upload(owner, app_id, "business_license", fixed, JPEG, status=200)
    listed = materials(reviewer, app_id)
    assert [m["sha256"] for m in listed["history"]] == [sha256(licence)]
    assert download(reviewer, app_id, "business_license").content == fixed
