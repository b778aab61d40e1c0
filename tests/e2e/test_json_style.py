"""One JSON style (issue 17): every JSON body is compact, whoever built it.

Jansson writes `{"a":1}`; PostgreSQL's json_build_object() and json_agg() write
`{"a" : 1}` and `[{...}, \n {...}]`. Bodies built by PostgreSQL go through one compaction
(ch_resp_json_text(), src/http.c). The check is on the bytes: no white space outside
strings. That is what compact means, whatever the key order or the escaping, and it does
not care how strings are written (the values below carry " : ", commas, quotes and a
backslash, which must survive as they are).
"""

import pytest

from principals import principals  # noqa: F401  (the fixture)
from test_payments import approved, open_order
from test_review import application_body, submitted

APPS = "/api/v1/applications"
# Free text that looks like PostgreSQL's spacing, with characters that need escaping.
TRICKY = '锦云西二巷1号 "A" : 座 , [3\\4] { }'


def spacing_outside_strings(raw: bytes):
    """Offsets of the white space outside JSON strings in raw (none when compact)."""
    found, in_string, escaped = [], False, False
    for i, b in enumerate(raw):
        if in_string:
            if escaped:
                escaped = False
            elif b == 0x5C:          # backslash: the next byte is escaped
                escaped = True
            elif b == 0x22:
                in_string = False
        elif b == 0x22:
            in_string = True
        elif b in b" \t\r\n":
            found.append(i)
    return found


def assert_compact(resp, what):
    assert resp.headers["Content-Type"].startswith("application/json"), what
    spaces = spacing_outside_strings(resp.content)
    assert not spaces, (f"{what}: white space outside strings at {spaces[:5]}: "
                        f"{resp.content[max(0, spaces[0] - 40):spaces[0] + 40]!r}")


def test_the_check_finds_postgresqls_spacing():
    assert spacing_outside_strings(b'{"id" : 1, "a" : [1, \n 2]}') == [5, 7, 10, 14, 16, 20, 21, 22]
    assert spacing_outside_strings(b'{"a":"x : y , z","b":"\\" : \\\\"}') == []
    assert spacing_outside_strings(b'{"a":"\\\\" , "b":1}') == [9, 11]


@pytest.fixture(scope="module")
def people(principals):  # noqa: F811
    admin = principals.admin()
    staff = principals.new_staff(["reviewer"], display_name='审核 : 员 "一"')
    principals.new_integrator("json style")  # the integrator list has an item
    return {"admin": admin, "reviewer": staff, "applicant": principals.new_applicant(
        name="json style applicant")}


@pytest.fixture(scope="module")
def paid_order(people):
    """An approved application of the applicant's with an open payment order, and one
    submitted, so that the review queue is not empty."""
    app = approved(people["applicant"], people["reviewer"])
    submitted(people["applicant"])
    return app, open_order(people["applicant"], app["id"])


def test_created_application_is_compact(people):
    body = dict(application_body(), delivery_address=TRICKY)
    resp = people["applicant"].post_json(APPS, body)
    assert resp.status_code == 201, resp.content[:300]
    assert_compact(resp, "POST /applications")
    assert resp.body["delivery_address"] == TRICKY


@pytest.mark.parametrize("who, path", [
    ("anonymous", "/api/v1/catalog"),
    ("applicant", APPS + "/{id}"),
    ("applicant", APPS),
    ("applicant", APPS + "/{id}/history"),
    ("applicant", APPS + "/{id}/materials"),
    ("applicant", APPS + "/{id}/payment"),
    ("reviewer", "/api/v1/review-queue"),
    ("admin", "/api/v1/staff"),
    ("admin", "/api/v1/staff/{staff}"),
    ("admin", "/api/v1/integrators"),
    ("admin", "/api/v1/audit-events"),
])
def test_get_is_compact(people, paid_order, principals, who, path):  # noqa: F811
    app, _ = paid_order
    caller = principals.anonymous() if who == "anonymous" else people[who]
    url = path.format(id=app["id"], staff=people["reviewer"].info["staff_id"])
    resp = caller.get(url)
    assert resp.status_code == 200, f"GET {url}: {resp.status_code} {resp.content[:300]!r}"
    if isinstance(resp.body, dict) and "items" in resp.body:
        assert resp.body["items"], f"GET {url}: no items to check"
    assert_compact(resp, f"GET {path}")


def test_payment_order_is_compact(people, paid_order):
    app, order = paid_order
    assert order["out_trade_no"]
    # The same order again (200), and a fresh one (201) via a new application.
    again = people["applicant"].post_json(f"{APPS}/{app['id']}/payment", {})
    assert again.status_code == 200, again.content[:300]
    assert_compact(again, "POST payment (the open order again)")
    other = approved(people["applicant"], people["reviewer"])
    fresh = people["applicant"].post_json(f"{APPS}/{other['id']}/payment", {})
    assert fresh.status_code == 201, fresh.content[:300]
    assert_compact(fresh, "POST payment")
