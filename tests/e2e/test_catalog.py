"""GET /api/v1/catalog equals SPEC §2–4 and §12 and the service guide (spec_tables.py)."""

import datetime
import time

import pytest

import spec_tables as T


@pytest.fixture(scope="module")
def catalog_resp(shared_client):
    resp = shared_client.get("/api/v1/catalog")
    assert resp.status_code == 200, f"catalog: {resp.status_code} {resp.content[:300]!r}"
    return resp


@pytest.fixture(scope="module")
def catalog(catalog_resp):
    return catalog_resp.body


def by_code(rows):
    return {row["code"]: row for row in rows}


# -- speed (headers and revalidation: test_catalog_cache.py) -------------------------

def test_catalog_is_fast(client):
    # The first page of the hall: 10 answers in well under a second each. A generous bound
    # that still catches a pathological plan (e.g. PostgreSQL JIT-compiling the catalogue
    # query on every request, ~0.7 s each).
    started = time.monotonic()
    for _ in range(10):
        assert client.get("/api/v1/catalog").status_code == 200
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"10 catalogue requests took {elapsed:.2f}s"


# -- business types (SPEC §2) -------------------------------------------------------

def test_business_types_in_guide_order(catalog):
    assert [b["code"] for b in catalog["business_types"]] == T.BUSINESS_CODES


@pytest.mark.parametrize("code", T.BUSINESS_CODES)
def test_business_type_rules(catalog, code):
    got = by_code(catalog["business_types"])[code]
    want = T.BUSINESS_TYPES[code]
    for key in ("name", "settlement", "fulfilment", "requires_certificate", "requires_usb_key",
                "eligibility", "renew_window_days", "validity", "fee_items"):
        assert got[key] == want[key], f"{code}.{key}: got {got[key]!r}, SPEC says {want[key]!r}"


@pytest.mark.parametrize("code", T.BUSINESS_CODES)
def test_business_type_description_is_the_guides(catalog, code):
    got = by_code(catalog["business_types"])[code]["description"]
    assert got.rstrip("。") == T.BUSINESS_TYPES[code]["guide"], f"{code}: {got!r}"


def test_paid_business_has_fees_and_free_business_none(catalog):
    for b in catalog["business_types"]:
        if b["code"] in T.PAID:
            assert b["settlement"] == "pay" and b["fee_items"], b["code"]
        else:
            assert b["settlement"] == "verify" and b["fee_items"] == [], b["code"]


# -- certificate types and materials (SPEC §3) ------------------------------------------

def test_certificate_types(catalog):
    got = [(c["code"], c["name"], c["subject_fields"]) for c in catalog["certificate_types"]]
    want = [(c, T.CERTIFICATE_TYPES[c]["name"], T.CERTIFICATE_TYPES[c]["subject_fields"])
            for c in T.CERT_CODES]
    assert got == want


def test_material_kinds(catalog):
    kinds = catalog["material_kinds"]
    assert [k["code"] for k in kinds] == T.MATERIAL_KIND_CODES
    assert by_code(kinds)["application_form"]["name"] == "业务申请表"
    for k in kinds:
        if k["code"] in T.MATERIAL_TITLE:
            assert k["name"] == T.MATERIAL_TITLE[k["code"]], f"{k['code']}: {k['name']!r}"


def test_seal_impression_kind_says_what_it_is(catalog):
    # Not in the guide (issue 4 adds it): a PNG of the seal impression, for e-seals.
    name = by_code(catalog["material_kinds"])[T.SEAL_IMPRESSION]["name"]
    assert "印章" in name and "PNG" in name, f"seal_impression: {name!r}"


def test_seal_impression_is_in_no_row_of_the_matrix(catalog):
    # SPEC §3's matrix stays as the guide has it: the seal impression depends on the
    # number of e-seals an application asks for, not on its business and certificate type.
    for row in catalog["required_materials"]:
        kinds = [m["kind"] for m in row["materials"]]
        assert T.SEAL_IMPRESSION not in kinds, row
        assert set(kinds) <= set(T.MATRIX_KIND_CODES), row


def test_required_materials_has_one_row_per_business_and_certificate_type(catalog):
    keys = [(r["business_type"], r["certificate_type"]) for r in catalog["required_materials"]]
    assert len(keys) == 12, f"{len(keys)} rows"
    assert sorted(keys) == sorted(T.REQUIRED_MATERIALS), f"rows: {keys}"


@pytest.mark.parametrize("business,cert", sorted(T.REQUIRED_MATERIALS))
def test_required_materials_row(catalog, business, cert):
    row = next(r for r in catalog["required_materials"]
               if (r["business_type"], r["certificate_type"]) == (business, cert))
    kinds = [m["kind"] for m in row["materials"]]
    assert kinds == T.REQUIRED_MATERIALS[(business, cert)], f"{business}/{cert}: {kinds}"
    for m in row["materials"]:
        assert m["title"] == T.material_title(m["kind"], cert), (
            f"{business}/{cert}/{m['kind']}: title {m['title']!r} is not the guide's")


def test_material_rules(catalog):
    rules = catalog["material_rules"]
    for key, value in T.MATERIAL_RULES.items():
        assert rules[key] == value, f"material_rules.{key}: {rules[key]!r}"
    assert rules["max_file_bytes"] == 10 * 1024 * 1024
    assert rules["max_application_bytes"] == 50 * 1024 * 1024
    assert rules["max_file_bytes"] <= rules["max_application_bytes"]


def test_years_range(catalog):
    assert catalog["years"] == {"min": T.YEARS_MIN, "max": T.YEARS_MAX}


# -- fees (SPEC §4) ---------------------------------------------------------------------

def test_fee_schedule_header(catalog):
    fs = catalog["fee_schedule"]
    assert fs["currency"] == "CNY"
    assert fs["version"] >= 1
    effective = datetime.datetime.fromisoformat(fs["effective_from"])
    assert effective <= datetime.datetime.now(datetime.timezone.utc), "schedule not yet in force"


def test_fee_schedule_has_every_item_once(catalog):
    keys = [(i["code"], i["certificate_type"]) for i in catalog["fee_schedule"]["items"]]
    assert len(keys) == len(set(keys)), f"duplicate fee items: {keys}"
    assert set(keys) == set(T.FEES_FEN), f"fee items: {sorted(keys)}"


@pytest.mark.parametrize("code,cert", sorted(T.FEES_FEN))
def test_fee_item(catalog, code, cert):
    item = next(i for i in catalog["fee_schedule"]["items"]
                if (i["code"], i["certificate_type"]) == (code, cert))
    assert item["amount_fen"] == T.FEES_FEN[(code, cert)], (
        f"{code}/{cert}: {item['amount_fen']} fen, SPEC §4 says {T.FEES_FEN[(code, cert)]}")
    assert isinstance(item["amount_fen"], int)
    assert item["per_year"] is T.FEE_PER_YEAR[code]
    assert item["per_seal"] is T.FEE_PER_SEAL[code]
    assert item["tax_rate_bp"] == 600, "services are taxed at 6 % (SPEC §9)"
    assert T.FEE_NAME_HAS[code] in item["name"], f"{code}: name {item['name']!r}"
    assert T.FEE_NOTE_HAS[(code, cert)] in item["note"], f"{code}/{cert}: note {item['note']!r}"


def test_fee_names_do_not_depend_on_certificate_type(catalog):
    names = {}
    for i in catalog["fee_schedule"]["items"]:
        names.setdefault(i["code"], set()).add(i["name"])
    assert all(len(v) == 1 for v in names.values()), names


def test_business_fee_items_exist_in_schedule(catalog):
    codes = {i["code"] for i in catalog["fee_schedule"]["items"]}
    for b in catalog["business_types"]:
        assert set(b["fee_items"]) <= codes, b


# -- online flow, counter, support (guide, SPEC §1 and §12) -------------------------

def test_online_flow_is_the_guides_five_steps(catalog):
    steps = catalog["online_flow"]
    assert [s["step"] for s in steps] == [1, 2, 3, 4, 5]
    assert [s["title"] for s in steps] == T.ONLINE_STEPS
    assert all(s["description"] for s in steps)


def test_counter(catalog):
    counter = catalog["counter"]
    assert counter["address"] == T.COUNTER_ADDRESS
    assert counter["open_days"] == T.COUNTER_OPEN_DAYS
    assert counter["weekdays"] == T.COUNTER_WEEKDAYS, "the counter is open on Tuesdays only"


def test_support_contacts(catalog):
    assert catalog["support"] == T.SUPPORT


# -- the document ------------------------------------------------------------------

def test_openapi_example_is_the_live_catalogue(openapi, catalog):
    example = openapi.doc["components"]["examples"]["Catalog"]["value"]
    assert example == catalog, (
        "openapi.yaml's catalogue example differs from what the API serves; update the example")
