"""The cross-cutting tables of issue 4, through the API (`/api/v1/applications`).

- Every business type × certificate type (SPEC §3): the application reports the required
  materials of SPEC §3's matrix (`required_materials`, plus `seal_impression` when e-seals
  are asked for); a kind it does not require is refused on upload; submit is refused while
  a material is missing, naming exactly the missing ones (`not-eligible`, rule `complete`),
  and accepted once all are there.
- Every fee of SPEC §4 and its examples: applications of every business × certificate type
  × years 1..5 × seals 0..2 (where years and seals apply) are submitted and their stored
  quote compared with spec_tables.py's own computation; the examples of SPEC §4 are checked
  with their literal numbers.

Applications about an existing certificate (renew, reissue, change, revoke, unlock) need
one: the signing worker that issues them comes in a later issue, so the certificates are
inserted here with SQL as the owner role, each eligible for its business (renew: inside the
60-day window; the others: valid) and of the same subject as its application. Each
application gets its own certificate (a submitted application keeps its certificate open).

Everything else goes through the API as one applicant, made once for this module.
Materials are uploaded with `PUT …/materials/{kind}` as tiny but real files (PDF; PNG for
the seal impression). The expectations come from spec_tables.py, written from the SPEC and
the guide, never from the API.
"""

import secrets
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest

import spec_tables as T
from conftest import assert_problem
from principals import Principal, db, principals, random_phone  # noqa: F401  (principals: the fixture)

APPLICATIONS = "/api/v1/applications"
SHIPPED = {"new", "reissue"}          # SPEC §2: a USB key is shipped
SEALS = [0, 1, 2]
THREADS = 4                           # the fee matrix's applications, a few at a time
YEARS = list(range(T.YEARS_MIN, T.YEARS_MAX + 1))

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def png_1x1():
    """A valid 1×1 greyscale PNG."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
            + chunk(b"IEND", b""))


PNG = png_1x1()


def material_file(kind):
    """(content type, bytes) to upload for a kind: the seal impression must be a PNG."""
    return ("image/png", PNG) if kind == T.SEAL_IMPRESSION else ("application/pdf", PDF)


# ---------------------------------------------------------------------------------
# Identity data (SPEC §10), made here from the rules, not from the API
# ---------------------------------------------------------------------------------

CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def credit_code():
    """A random unified social credit code with a right check character (GB 32100)."""
    body = "91510100" + "".join(secrets.choice(CREDIT_ALPHABET) for _ in range(9))
    total = sum(CREDIT_ALPHABET.index(c) * w for c, w in zip(body, CREDIT_WEIGHTS))
    check = 31 - total % 31
    return body + CREDIT_ALPHABET[0 if check == 31 else check]


def id_number(birth="19850312"):
    """A random resident ID number born on birth, with a right check character (GB 11643)."""
    body = "510104" + birth + f"{secrets.randbelow(1000):03d}"
    total = sum(int(c) * w for c, w in zip(body, ID_WEIGHTS))
    return body + "10X98765432"[total % 11]


class Subject:
    """The subject of one application (and of its certificate)."""

    def __init__(self, n):
        self.unit_name = f"流程矩阵测试单位{n:03d}"
        self.credit_code = credit_code()
        self.holder_name = "李娜"
        self.holder_id_number = id_number("19900815")


def insert_certificates(wanted):
    """Inserts one certificate per (business, certificate type, subject) in wanted, each
    eligible for that business; returns their ids in order."""
    ids = []
    with db() as conn, conn.cursor() as cur:
        for business, cert, subject in wanted:
            # renew: inside the 60-day window (30 days left); the rest: valid for long.
            left = "30 days" if business == "renew" else "200 days"
            personal = cert == "personal"
            cur.execute(
                "INSERT INTO certificate (serial, certificate_type, unit_name, credit_code,"
                "  holder_name, holder_id_number, not_before, not_after)"
                " VALUES (%s, %s, %s, %s, %s, %s, now() - interval '300 days',"
                "  now() + %s::interval) RETURNING id",
                (secrets.token_hex(16), cert, subject.unit_name, subject.credit_code,
                 subject.holder_name if personal else None,
                 subject.holder_id_number if personal else None, left))
            ids.append(cur.fetchone()[0])
    return ids


def application_body(business, cert, subject, certificate_id=None, years=None, seals=None):
    """A create body with every field submit needs for this business (CONTRACT.md,
    "Submit"), and nothing the business does not take."""
    body = {
        "business_type": business,
        "certificate_type": cert,
        "unit_name": subject.unit_name,
        "credit_code": subject.credit_code,
        "handler_name": "张伟",
        "handler_phone": random_phone(),
        "handler_id_number": id_number(),
    }
    if cert == "personal":
        body["holder_name"] = subject.holder_name
        body["holder_id_number"] = subject.holder_id_number
    if business != "new":
        body["certificate_id"] = certificate_id
    if business in T.WITH_YEARS:
        body["years"] = years
        body["seals"] = seals
    if business in SHIPPED:
        body.update(delivery_recipient="张伟", delivery_phone=random_phone(),
                    delivery_province="四川省", delivery_city="成都市",
                    delivery_district="武侯区", delivery_address="锦云西二巷南侧成都交易所大厦2楼",
                    delivery_postcode="610041")
    if business in T.PAID:
        body["invoice_title"] = subject.unit_name
        body["invoice_tax_id"] = subject.credit_code
    return body


def plan(cases):
    """[(business, cert, years, seals)] -> [(case, create body)], with the certificates
    the cases need inserted."""
    subjects = [Subject(i) for i in range(len(cases))]
    needing = [(i, (c[0], c[1], subjects[i])) for i, c in enumerate(cases) if c[0] != "new"]
    cert_ids = dict(zip([i for i, _ in needing], insert_certificates([w for _, w in needing])))
    return [(case, application_body(case[0], case[1], subjects[i], cert_ids.get(i),
                                    case[2], case[3]))
            for i, case in enumerate(cases)]


def describe(resp):
    return (f"{resp.request.method} {resp.request.path_url}: {resp.status_code} "
            f"{resp.content[:400]!r} [X-Request-Id {resp.headers.get('X-Request-Id')}]")


def create(applicant, body):
    resp = applicant.post_json(APPLICATIONS, body)
    assert resp.status_code == 201, describe(resp)
    return resp.body


def upload(applicant, app_id, kind):
    content_type, data = material_file(kind)
    return applicant.request("PUT", f"{APPLICATIONS}/{app_id}/materials/{kind}", data=data,
                             headers={"Content-Type": content_type})


def submit(applicant, app_id):
    return applicant.post_json(f"{APPLICATIONS}/{app_id}/submit", {})


@pytest.fixture(scope="module")
def applicant(principals):
    """The one applicant of this module (a new one, so its list is its own)."""
    return principals.new_applicant(name="flow matrix applicant")


# ---------------------------------------------------------------------------------
# Every business type × certificate type: the required materials
# ---------------------------------------------------------------------------------

MATERIAL_CASES = [(b, c, 1 if b in T.WITH_YEARS else None, 0 if b in T.WITH_YEARS else None)
                  for b in T.BUSINESS_CODES for c in T.CERT_CODES]
# With e-seals the seal impression joins the row (new and renew are the ones with seals).
MATERIAL_CASES += [(b, c, 2, 1) for b in sorted(T.WITH_YEARS) for c in T.CERT_CODES]


def case_id(case):
    b, c, y, s = case
    return f"{b}-{c}" + (f"-{y}y-{s}seal" if y is not None else "")


@pytest.fixture(scope="module")
def material_plan(applicant):
    return dict(plan(MATERIAL_CASES))


@pytest.mark.parametrize("case", MATERIAL_CASES, ids=case_id)
def test_required_materials_refused_until_complete_then_accepted(applicant, material_plan, case):
    business, cert, _, seals = case
    want = T.required_materials(business, cert, seals or 0)
    app = create(applicant, material_plan[case])
    app_id = app["id"]
    assert app["status"] == "draft" and app["quote"] is None and app["materials"] == [], app
    assert sorted(app["required_materials"]) == sorted(want), (
        f"{case_id(case)}: the application requires {app['required_materials']}, "
        f"SPEC §3 says {want}")

    # A kind the application does not require is refused, naming the kind.
    for kind in T.MATERIAL_KIND_CODES:
        if kind not in want:
            resp = upload(applicant, app_id, kind)
            assert resp.status_code == 422, f"{kind} is not required here: {describe(resp)}"
            body = assert_problem(resp, 422, "invalid-field")
            assert body.get("parameter") == "kind", body

    # Submit is refused while anything is missing, naming exactly what; then accepted.
    for i, kind in enumerate(want):
        resp = submit(applicant, app_id)
        assert resp.status_code == 422, f"{want[i:]} missing, yet: {describe(resp)}"
        body = assert_problem(resp, 422, "not-eligible")
        assert body["rule"] == "complete", body
        assert sorted(body["missing_materials"]) == sorted(want[i:]), body
        assert body["missing_fields"] == [], f"every field was given: {body}"
        resp = upload(applicant, app_id, kind)
        assert resp.status_code == 201, f"{kind}: {describe(resp)}"
        assert resp.body["kind"] == kind, resp.body

    resp = submit(applicant, app_id)
    assert resp.status_code == 200, f"{case_id(case)} complete, yet: {describe(resp)}"
    assert resp.body["status"] == "submitted", resp.body
    assert sorted(m["kind"] for m in resp.body["materials"]) == sorted(want), resp.body
    assert sorted(resp.body["required_materials"]) == sorted(want), resp.body


# ---------------------------------------------------------------------------------
# Every fee of SPEC §4, and its examples
# ---------------------------------------------------------------------------------

FEE_CASES = ([(b, c, y, s) for b in ("new", "renew") for c in T.CERT_CODES
              for y in YEARS for s in SEALS]
             + [(b, c, None, None) for b in T.BUSINESS_CODES if b not in T.WITH_YEARS
                for c in T.CERT_CODES])


def submitted_quote(applicant, case, body):
    """Creates, completes and submits one application; its stored quote, or a str saying
    what went wrong (so that each case reports its own failure)."""
    business, cert, _, seals = case
    resp = applicant.post_json(APPLICATIONS, body)
    if resp.status_code != 201:
        return f"create: {describe(resp)}"
    app_id = resp.body["id"]
    for kind in T.required_materials(business, cert, seals or 0):
        resp = upload(applicant, app_id, kind)
        if resp.status_code != 201:
            return f"upload {kind}: {describe(resp)}"
    resp = submit(applicant, app_id)
    if resp.status_code != 200:
        return f"submit: {describe(resp)}"
    if resp.body["status"] != "submitted" or resp.body["quote_locked"] is not False:
        return f"submit answered status {resp.body['status']}, quote_locked {resp.body['quote_locked']}"
    return resp.body["quote"]


@pytest.fixture(scope="module")
def quotes(applicant):
    """{case: the quote stored by submit}: one application per case, completed through the
    API and submitted, THREADS at a time (each thread with its own HTTP session of the
    same applicant: a requests.Session is not thread-safe)."""
    local = threading.local()

    def run(item):
        case, body = item
        if not hasattr(local, "applicant"):
            local.applicant = Principal(applicant.registry, applicant.name, "applicant",
                                        ["applicant"], token=applicant.token, **applicant.info)
        return case, submitted_quote(local.applicant, case, body)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return dict(pool.map(run, plan(FEE_CASES)))


def quote_of(quotes, case):
    quote = quotes[case]
    assert not isinstance(quote, str), f"{case_id(case)}: {quote}"
    assert quote is not None, f"{case_id(case)}: submit stored no quote"
    return quote


@pytest.mark.parametrize("case", FEE_CASES, ids=case_id)
def test_submitted_quote_is_the_fee_schedules(quotes, case):
    business, cert, years, seals = case
    quote = quote_of(quotes, case)
    assert (quote["business_type"], quote["certificate_type"]) == (business, cert), quote
    assert quote["years"] == years and quote["seals"] == seals, quote
    assert quote["currency"] == "CNY" and quote["schedule_version"] >= 1, quote
    got = [(line["fee_code"], line["unit_fen"], line["quantity"]) for line in quote["lines"]]
    assert got == T.quote_lines(business, cert, years, seals or 0), (
        f"{case_id(case)}: lines {got}, SPEC §4 gives {T.quote_lines(business, cert, years, seals or 0)}")
    for line in quote["lines"]:
        assert line["amount_fen"] == line["unit_fen"] * line["quantity"], line
    assert quote["total_fen"] == T.quote_total(business, cert, years, seals or 0), (
        f"{case_id(case)}: total {quote['total_fen']} fen, SPEC §4 gives "
        f"{T.quote_total(business, cert, years, seals or 0)}")
    assert all(isinstance(v, int) for line in quote["lines"]
               for v in (line["unit_fen"], line["quantity"], line["amount_fen"])), quote


def test_every_fee_item_is_charged_at_its_amount(quotes):
    """Each of SPEC §4's eight fee items (fee × certificate type) turns up in some quote,
    always at the table's amount."""
    seen = {}
    for case in FEE_CASES:
        cert = case[1]
        for line in quote_of(quotes, case)["lines"]:
            seen.setdefault((line["fee_code"], cert), set()).add(line["unit_fen"])
    assert set(seen) == set(T.FEES_FEN), f"fee items charged: {sorted(seen)}"
    for key, amounts in seen.items():
        assert amounts == {T.FEES_FEN[key]}, f"{key}: charged {amounts}, SPEC §4 says {T.FEES_FEN[key]}"


# SPEC §4's examples, with the numbers as the SPEC prints them (yuan × 100).
SPEC_EXAMPLES = [
    (("new", "org", 1, 1), 400 * 100),        # 100 + 200 + 100 yuan
    (("renew", "personal", 3, 1), 600 * 100),  # 300 + 300 yuan
    (("reissue", "org", None, None), 50 * 100),
    (("reissue", "personal", None, None), 50 * 100),
    (("change", "org", None, None), 0),
    (("change", "personal", None, None), 0),
    (("revoke", "org", None, None), 0),
    (("revoke", "personal", None, None), 0),
    (("unlock", "org", None, None), 0),
    (("unlock", "personal", None, None), 0),
]


@pytest.mark.parametrize("case,total_fen", SPEC_EXAMPLES, ids=[case_id(c) for c, _ in SPEC_EXAMPLES])
def test_spec_examples(quotes, case, total_fen):
    quote = quote_of(quotes, case)
    assert quote["total_fen"] == total_fen, f"{case_id(case)}: {quote}"
    if total_fen == 0:
        assert quote["lines"] == [], f"free business has no lines: {quote}"
