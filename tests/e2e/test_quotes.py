"""POST /api/v1/quotes against SPEC §4, computed from spec_tables.FEES_FEN."""

import pytest

import spec_tables as T
from conftest import assert_problem

QUOTES = "/api/v1/quotes"


@pytest.fixture(scope="module")
def fee_names(shared_client):
    resp = shared_client.get("/api/v1/catalog")
    assert resp.status_code == 200
    return {i["code"]: i["name"] for i in resp.body["fee_schedule"]["items"]}


def quote(client, **body):
    return client.post_json(QUOTES, body)


def check_quote(resp, fee_names, business, cert, years=None, seals=None):
    """The answer is 200 and its lines and total are what the fee table gives."""
    assert resp.status_code == 200, f"{business}/{cert}/{years}/{seals}: {resp.status_code} {resp.body}"
    q = resp.body
    with_years = business in T.WITH_YEARS
    want_lines = T.quote_lines(business, cert, years, seals or 0)
    got_lines = [(ln["fee_code"], ln["unit_fen"], ln["quantity"]) for ln in q["lines"]]
    label = f"{business}/{cert} years={years} seals={seals}"
    assert got_lines == want_lines, f"{label}: lines {got_lines}, expected {want_lines}"
    for ln in q["lines"]:
        assert ln["amount_fen"] == ln["unit_fen"] * ln["quantity"], f"{label}: line {ln}"
        assert ln["name"] == fee_names[ln["fee_code"]], f"{label}: line name {ln['name']!r}"
    assert q["total_fen"] == T.quote_total(business, cert, years, seals or 0), f"{label}: total {q['total_fen']}"
    assert q["total_fen"] == sum(ln["amount_fen"] for ln in q["lines"])
    assert (q["business_type"], q["certificate_type"]) == (business, cert)
    assert q["years"] == (years if with_years else None), f"{label}: years {q['years']!r}"
    assert q["seals"] == ((seals or 0) if with_years else None), f"{label}: seals {q['seals']!r}"
    assert q["currency"] == "CNY"
    assert q["schedule_version"] >= 1
    return q


# -- SPEC §4's worked examples ------------------------------------------------------

def test_org_new_1_year_1_seal_is_400_yuan(client, fee_names):
    q = check_quote(quote(client, business_type="new", certificate_type="org", years=1, seals=1),
                    fee_names, "new", "org", 1, 1)
    assert q["total_fen"] == 40000


def test_personal_renew_3_years_1_seal_is_600_yuan(client, fee_names):
    q = check_quote(quote(client, business_type="renew", certificate_type="personal", years=3, seals=1),
                    fee_names, "renew", "personal", 3, 1)
    assert q["total_fen"] == 60000


@pytest.mark.parametrize("cert", T.CERT_CODES)
def test_reissue_is_50_yuan(client, fee_names, cert):
    q = check_quote(quote(client, business_type="reissue", certificate_type=cert),
                    fee_names, "reissue", cert)
    assert q["total_fen"] == 5000


@pytest.mark.parametrize("business", ["change", "revoke", "unlock"])
@pytest.mark.parametrize("cert", T.CERT_CODES)
def test_free_business_is_0(client, fee_names, business, cert):
    q = check_quote(quote(client, business_type=business, certificate_type=cert),
                    fee_names, business, cert)
    assert q["total_fen"] == 0 and q["lines"] == []


def test_seals_default_to_0(client, fee_names):
    q = check_quote(quote(client, business_type="new", certificate_type="personal", years=2),
                    fee_names, "new", "personal", 2, 0)
    assert q["total_fen"] == 10000 + 2 * 10000


def test_null_years_and_seals_mean_absent(client, fee_names):
    # A client may send back what a quote answered: null stands for "not given".
    check_quote(quote(client, business_type="revoke", certificate_type="org", years=None, seals=None),
                fee_names, "revoke", "org")
    check_quote(quote(client, business_type="new", certificate_type="org", years=2, seals=None),
                fee_names, "new", "org", 2, 0)


def test_content_type_with_charset_is_accepted(client, fee_names):
    resp = client.post(QUOTES, data=b'{"business_type":"reissue","certificate_type":"org"}',
                       headers={"Content-Type": "application/json; charset=utf-8"})
    check_quote(resp, fee_names, "reissue", "org")


def test_quote_is_not_cached_by_etag(client):
    resp = quote(client, business_type="reissue", certificate_type="org")
    assert "public" not in resp.headers.get("Cache-Control", ""), "a POST answer must not be public"


# -- the whole grid ------------------------------------------------------------------

GRID = [(b, c, y, s) for b in sorted(T.WITH_YEARS) for c in T.CERT_CODES
        for y in range(T.YEARS_MIN, T.YEARS_MAX + 1) for s in range(0, 3)]
GRID += [(b, c, None, None) for b in T.BUSINESS_CODES if b not in T.WITH_YEARS for c in T.CERT_CODES]


@pytest.mark.parametrize("business,cert,years,seals", GRID,
                         ids=[f"{b}-{c}-{y}y-{s}s" for b, c, y, s in GRID])
def test_grid(client, fee_names, business, cert, years, seals):
    body = {"business_type": business, "certificate_type": cert}
    if years is not None:
        body["years"] = years
        body["seals"] = seals
    check_quote(quote(client, **body), fee_names, business, cert, years, seals)


def test_seals_upper_bound_is_accepted(client, fee_names):
    check_quote(quote(client, business_type="new", certificate_type="org", years=5, seals=10),
                fee_names, "new", "org", 5, 10)


# -- invalid input: 422 naming the field ------------------------------------------------

NEW = {"business_type": "new", "certificate_type": "org", "years": 1}
INVALID = [
    ("years 0", dict(NEW, years=0), "invalid-field", "/years"),
    ("years 6", dict(NEW, years=6), "invalid-field", "/years"),
    ("years -1", dict(NEW, years=-1), "invalid-field", "/years"),
    ("years string", dict(NEW, years="1"), "invalid-field", "/years"),
    ("years 1.5", dict(NEW, years=1.5), "invalid-field", "/years"),
    ("years 1.0", dict(NEW, years=1.0), "invalid-field", "/years"),
    ("years true", dict(NEW, years=True), "invalid-field", "/years"),
    ("years null for new", dict(NEW, years=None), "missing-field", "/years"),   # null = absent
    ("years missing for new", {"business_type": "new", "certificate_type": "org"}, "missing-field", "/years"),
    ("years missing for renew", {"business_type": "renew", "certificate_type": "personal", "seals": 1},
     "missing-field", "/years"),
    ("years for revoke", {"business_type": "revoke", "certificate_type": "org", "years": 1},
     "invalid-field", "/years"),
    ("years for reissue", {"business_type": "reissue", "certificate_type": "org", "years": 1},
     "invalid-field", "/years"),
    ("seals for unlock", {"business_type": "unlock", "certificate_type": "org", "seals": 1},
     "invalid-field", "/seals"),
    ("seals 11", dict(NEW, seals=11), "invalid-field", "/seals"),
    ("seals -1", dict(NEW, seals=-1), "invalid-field", "/seals"),
    ("seals string", dict(NEW, seals="1"), "invalid-field", "/seals"),
    ("unknown business type", dict(NEW, business_type="buy"), "invalid-field", "/business_type"),
    ("business type not a string", dict(NEW, business_type=1), "invalid-field", "/business_type"),
    ("business type in capitals", dict(NEW, business_type="NEW"), "invalid-field", "/business_type"),
    ("unknown certificate type", dict(NEW, certificate_type="server"), "invalid-field", "/certificate_type"),
    ("missing business type", {"certificate_type": "org", "years": 1}, "missing-field", "/business_type"),
    ("missing certificate type", {"business_type": "new", "years": 1}, "missing-field", "/certificate_type"),
    ("unknown field", dict(NEW, colour="red"), "unknown-field", "/colour"),
]


@pytest.mark.parametrize("label,body,slug,field", INVALID, ids=[i[0] for i in INVALID])
def test_invalid_quote_request(client, label, body, slug, field):
    resp = quote(client, **body)
    assert_problem(resp, 422, slug, field)


# -- openapi.yaml's QuoteRequest schema agrees with the API --------------------------------

def test_request_schema_accepts_what_the_api_accepts(openapi):
    schema = {"$ref": "#/components/schemas/QuoteRequest"}
    for business, cert, years, seals in GRID:
        body = {"business_type": business, "certificate_type": cert}
        if years is not None:
            body.update(years=years, seals=seals)
        errors = list(openapi.schema_validator(schema).iter_errors(body))
        assert not errors, f"QuoteRequest refuses {body}: {errors[0].message}"


# JSON Schema counts 1.0 as an integer, so no schema can say "JSON integers only"; the
# spec says it in words, and test_invalid_quote_request checks the API refuses it.
SCHEMA_EXPRESSIBLE = [i for i in INVALID if i[0] != "years 1.0"]


@pytest.mark.parametrize("label,body,slug,field", SCHEMA_EXPRESSIBLE,
                         ids=[i[0] for i in SCHEMA_EXPRESSIBLE])
def test_request_schema_refuses_what_the_api_refuses(openapi, label, body, slug, field):
    schema = {"$ref": "#/components/schemas/QuoteRequest"}
    assert list(openapi.schema_validator(schema).iter_errors(body)), f"QuoteRequest accepts {body}"
