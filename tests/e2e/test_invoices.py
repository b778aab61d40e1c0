"""The e-invoice (SPEC §9; issue 14), through nginx: a pending invoice with every payment,
issued by certhall-invoiced at the fake tax platform ($CERTHALL_TAX_URL,
tests/fakes/tax_platform.py), the handler's SMS with its link, the PDF judged by poppler,
red invoices for refunds, the finance views, and exactly-once across a platform outage and
a SIGKILL of the daemon.

Payments are made the way people make them: online at the sandbox gateway (its signed
notification), and at the counter (test_payments.py's helpers). What the platform issued is
read from its test-only /invoices.
"""

import concurrent.futures
import csv
import datetime
import io
import os
import re
import secrets
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import ROOT, assert_problem, require_env, wait_until
from principals import principals, sql  # noqa: F401  (the fixture)
from test_payments import (applicant, approved, clerk, counter_approved, finance,  # noqa: F401
                           open_order, pay, reviewer)
from test_review import application_body, attach, review, submit

APPS = "/api/v1/applications"
INVOICES = "/api/v1/invoices"
FINANCE = "/api/v1/finance"
WAIT = 60
SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))
NUMBER = re.compile(r"^[0-9]{2}51[0-9]{16}$")
STACKCTL = str(ROOT / "scripts" / "stackctl")


@pytest.fixture(scope="module")
def stranger(principals):  # noqa: F811
    return principals.new_applicant(name="invoice stranger")


@pytest.fixture(scope="module")
def tax():
    return require_env("CERTHALL_TAX_URL").rstrip("/")


@pytest.fixture(scope="module")
def artifacts():
    """Where the rendered pages are kept: the build's test-artifacts, next to the codec's."""
    build = Path(os.environ.get("CERTHALL_BUILD") or ROOT / "build")
    d = build / "test-artifacts" / "e2e.test_invoices"
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(autouse=True)
def platform_up(tax):
    """Every test starts and ends with the platform up and answering at once."""
    requests.post(f"{tax}/control/down", json={"down": False}, timeout=5)
    requests.post(f"{tax}/control/delay", json={"ms": 0, "count": 0}, timeout=5)
    yield
    requests.post(f"{tax}/control/down", json={"down": False}, timeout=5)
    requests.post(f"{tax}/control/delay", json={"ms": 0, "count": 0}, timeout=5)
    subprocess.run([STACKCTL, "invoiced-start"], capture_output=True, timeout=60)


# ---------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------

def invoices_of(principal, app_id):
    resp = principal.get(f"{APPS}/{app_id}/invoices")
    assert resp.status_code == 200, resp.content[:300]
    return resp.body["items"]


def issued(principal, invoice_id):
    """The invoice once issued (waits for certhall-invoiced)."""
    def done():
        resp = principal.get(f"{INVOICES}/{invoice_id}")
        assert resp.status_code == 200, resp.content[:300]
        return resp.body if resp.body["status"] == "issued" else None
    return wait_until(done, WAIT, interval=0.3, what=f"invoice {invoice_id} issued")


def counter_app(clerk, reviewer, **fields):
    """A walk-in's application (body from test_review, plus fields), approved."""
    body = application_body(business=fields.pop("business", "new"),
                             cert=fields.pop("cert", "org"), **fields.pop("kw", {}))
    body.update(fields)
    resp = clerk.post_json(APPS, body)
    assert resp.status_code == 201, resp.content[:300]
    app = resp.body
    attach(clerk, app)
    submit(clerk, app["id"])
    resp = review(reviewer, app["id"], {"decision": "approve"})
    assert resp.status_code == 200 and resp.body["status"] == "awaiting_payment", resp.body
    return resp.body


def counter_pay(clerk, app):
    resp = clerk.post_json(f"{APPS}/{app['id']}/counter-payment",
                           {"method": "cash", "receipt_no": "R" + secrets.token_hex(8),
                            "amount_fen": app["quote"]["total_fen"]})
    assert resp.status_code == 201, resp.content[:300]
    return resp.body


def tax_split(gross, rate_bp):
    """round-half-up(gross x r / (1 + r)), independently of the C code."""
    num, den = abs(gross) * rate_bp, 10000 + rate_bp
    t = (2 * num + den) // (2 * den)
    return -t if gross < 0 else t


def platform_invoices(tax, request_id=None):
    params = {"request_id": request_id} if request_id else {}
    resp = requests.get(f"{tax}/invoices", params=params, timeout=10)
    assert resp.status_code == 200
    return resp.json()


def sms_to(phone):
    base = require_env("CERTHALL_SMS_URL").rstrip("/")
    resp = requests.get(f"{base}/messages", params={"phone": phone}, timeout=10)
    assert resp.status_code == 200
    return resp.json()


def poppler(*args):
    out = subprocess.run(list(args), capture_output=True, timeout=60, check=True)
    return out.stdout.decode("utf-8")


def today():
    return datetime.datetime.now(SHANGHAI).date().isoformat()


# ---------------------------------------------------------------------------------
# The blue invoice of an online payment, its SMS and its PDF
# ---------------------------------------------------------------------------------

def test_online_payment_gets_an_invoice_sms_and_pdf(applicant, stranger, reviewer, finance,
                                                    tax, tmp_path, artifacts):
    app = approved(applicant, reviewer)
    order = open_order(applicant, app["id"])
    pay(order["pay_url"])
    items = wait_until(lambda: invoices_of(applicant, app["id"]), WAIT,
                       what="the payment's invoice row")
    assert len(items) == 1 and items[0]["kind"] == "blue", items
    inv = issued(applicant, items[0]["id"])

    # One line per fee item of the locked quote, split at the schedule's rate (6%).
    quote = app["quote"]
    assert [(l["fee_code"], l["gross_fen"], l["quantity"]) for l in inv["lines"]] == [
        (q["fee_code"], q["amount_fen"], q["quantity"]) for q in quote["lines"]
        if q["amount_fen"] > 0]
    version = quote["schedule_version"]
    for line in inv["lines"]:
        # The rate is the fee item's in the quote's schedule (6% for services, SPEC §9).
        [(rate,)] = sql("SELECT i.tax_rate_bp FROM fee_item i JOIN fee_schedule s"
                        " ON s.id = i.schedule_id WHERE s.version = %s AND i.fee_code = %s"
                        " AND i.certificate_type = 'org'", (version, line["fee_code"]))
        assert line["rate_bp"] == rate == 600, line
        assert line["rate_source"] == f"fee_schedule v{version} {line['fee_code']}/org", line
        assert line["tax_fen"] == tax_split(line["gross_fen"], rate), line
        assert line["net_fen"] + line["tax_fen"] == line["gross_fen"]
    for k in ("net_fen", "tax_fen", "gross_fen"):
        assert inv["total"][k] == sum(l[k] for l in inv["lines"]), k
    assert inv["total"]["gross_fen"] == quote["total_fen"]
    if quote["total_fen"] == 40000:     # SPEC §4's example, at the seed schedule's prices
        assert inv["total"] == {"net_fen": 37736, "tax_fen": 2264, "gross_fen": 40000}
        assert inv["total_capitals"] == "肆佰元整" and inv["total_yuan"] == "400.00"
    # The title is the unit's own name and no tax id was given: the unit's credit code.
    assert inv["buyer"] == {"kind": "unit", "name": "四川蜀审测试科技有限公司",
                            "code": app["credit_code"]}
    assert NUMBER.match(inv["number"]), inv["number"]
    assert inv["number"][:2] == datetime.datetime.now(SHANGHAI).strftime("%y")
    assert inv["seller"]["name"] and inv["issuer"] == "certhall"
    assert inv["links"]["pdf"] == f"{INVOICES}/{inv['id']}/pdf"

    # What the platform holds is what we stored: its number, our request.
    [held] = [r for r in platform_invoices(tax) if r["number"] == inv["number"]]
    assert held["invoice"]["total"] == inv["total"]
    assert held["invoice"]["buyer"]["name"] == inv["buyer"]["name"]

    # The handler's SMS (经办人收到电子发票短信) with the link.
    msgs = wait_until(lambda: [m for m in sms_to(app["handler_phone"])
                               if m["template"] == "invoice_issued"], WAIT,
                      what="the invoice SMS")
    assert len(msgs) == 1
    assert inv["number"] in msgs[0]["text"] and inv["total_yuan"] in msgs[0]["text"]
    # The link is the web hall's invoice page (it signs the handler in, then shows the PDF).
    assert msgs[0]["text"].endswith(f"{require_env('CERTHALL_URL')}/invoices/{inv['id']}")

    # Finance sees it too; a stranger is told it does not exist.
    assert finance.get(f"{INVOICES}/{inv['id']}").status_code == 200
    assert_problem(stranger.get(f"{INVOICES}/{inv['id']}"), 404, "not-found")
    assert_problem(stranger.get(f"{INVOICES}/{inv['id']}/pdf"), 404, "not-found")
    assert_problem(stranger.get(f"{APPS}/{app['id']}/invoices"), 404, "not-found")
    assert_problem(applicant.get(f"{INVOICES}/x1"), 404, "not-found")

    # The PDF, judged by poppler.
    resp = applicant.get(f"{INVOICES}/{inv['id']}/pdf")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/pdf"
    assert resp.content.startswith(b"%PDF-")
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(resp.content)
    text = poppler("pdftotext", "-layout", "-enc", "UTF-8", str(pdf), "-")
    flat = re.sub(r"\s+", "", text)
    def yuan(fen):
        return f"{fen // 100}.{fen % 100:02d}"
    needles = ["四川蜀审测试科技有限公司", app["credit_code"], inv["number"],
               inv["total_capitals"], yuan(inv["total"]["gross_fen"]),
               yuan(inv["total"]["net_fen"]), yuan(inv["total"]["tax_fen"]), "6%"]
    for line in inv["lines"]:
        needles += [line["name"], yuan(line["net_fen"]), yuan(line["tax_fen"]),
                    yuan(line["gross_fen"])]
    for needle in needles:
        assert needle in flat, f"{needle!r} not in the PDF's text:\n{text}"
    fonts = poppler("pdffonts", str(pdf))
    cjk = [l for l in fonts.splitlines() if "NotoSansCJK" in l.replace(" ", "")]
    assert cjk, fonts
    # name type encoding emb sub uni object ID: emb is "yes"
    assert all(" yes " in f" {l} " for l in cjk), fonts
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile",
                    str(pdf), str(artifacts / "invoice-blue-page1")], check=True, timeout=60)
    page = artifacts / "invoice-blue-page1.png"
    assert page.stat().st_size > 5000


def test_buyer_is_a_unit_with_its_code_or_a_person(clerk, reviewer):
    code = application_body()["credit_code"]
    unit = counter_app(clerk, reviewer, invoice_title="成都发票测试有限公司",
                       invoice_tax_id=code)
    person = counter_app(clerk, reviewer, cert="personal", invoice_title="王持有")
    counter_pay(clerk, unit)
    counter_pay(clerk, person)
    u = sql("SELECT buyer_name, buyer_code FROM invoice WHERE application_id = %s",
            (unit["id"],))
    p = sql("SELECT buyer_name, buyer_code, gross_fen FROM invoice WHERE application_id = %s",
            (person["id"],))
    assert u == [("成都发票测试有限公司", code)]
    assert p == [("王持有", None, person["quote"]["total_fen"])]


# ---------------------------------------------------------------------------------
# Refund: the red invoice
# ---------------------------------------------------------------------------------

def test_a_refund_gives_a_red_invoice_that_cancels_the_original(clerk, reviewer, finance,
                                                                 tax, tmp_path, artifacts):
    app = counter_approved(clerk, reviewer)
    counter_pay(clerk, app)
    [blue] = invoices_of(finance, app["id"])
    blue = issued(finance, blue["id"])
    resp = finance.post_json(f"{APPS}/{app['id']}/refund", {"reason": "申请单位放弃办理"})
    assert resp.status_code == 202 and resp.body["status"] == "succeeded", resp.content[:300]
    refund = resp.body

    items = invoices_of(finance, app["id"])
    assert [i["kind"] for i in items] == ["blue", "red"]
    red = issued(finance, items[1]["id"])
    assert red["refund_id"] == refund["id"] and red["original_id"] == blue["id"]
    assert red["original_number"] == blue["number"] and red["number"] != blue["number"]
    # Exactly the negative, line by line, and the two cancel.
    assert len(red["lines"]) == len(blue["lines"])
    for b, r in zip(blue["lines"], red["lines"]):
        for k in ("net_fen", "tax_fen", "gross_fen", "quantity"):
            assert r[k] == -b[k], (k, b, r)
        assert r["fee_code"] == b["fee_code"] and r["rate_bp"] == b["rate_bp"]
    for k in ("net_fen", "tax_fen", "gross_fen"):
        assert red["total"][k] + blue["total"][k] == 0
    assert red["total_capitals"] == "负" + blue["total_capitals"]
    assert red["buyer"] == blue["buyer"]
    [held] = [r for r in platform_invoices(tax) if r["number"] == red["number"]]
    assert held["invoice"]["kind"] == "red"
    assert held["invoice"]["original_number"] == blue["number"]

    # Its PDF says red and names the original.
    resp = finance.get(f"{INVOICES}/{red['id']}/pdf")
    assert resp.status_code == 200
    pdf = tmp_path / "red.pdf"
    pdf.write_bytes(resp.content)
    flat = re.sub(r"\s+", "", poppler("pdftotext", "-enc", "UTF-8", str(pdf), "-"))
    assert "红字" in flat and blue["number"] in flat, flat
    assert red["total_capitals"] in flat, flat
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-singlefile", str(pdf),
                    str(artifacts / "invoice-red-page1")], check=True, timeout=60)

    # Once only: the database refuses a second red invoice for the refund or the original.
    with pytest.raises(Exception):
        sql("INSERT INTO invoice (kind, application_id, refund_id, original_id, buyer_name,"
            " lines, net_fen, tax_fen, gross_fen) SELECT 'red', application_id, refund_id,"
            " original_id, buyer_name, lines, net_fen, tax_fen, gross_fen FROM invoice"
            " WHERE id = %s", (red["id"],))


# ---------------------------------------------------------------------------------
# Many at once, across an outage and a SIGKILL
# ---------------------------------------------------------------------------------

def second_invoiced():
    """Another certhall-invoiced on the same database and platform, as a second host would
    run it (its log in the stack's log/invoiced-second.log)."""
    env = {k: v for k, v in os.environ.items()
           if k.startswith(("CERTHALL_TAX_", "CERTHALL_INVOICE", "ASAN_", "UBSAN_"))}
    env.update(PATH=os.environ.get("PATH", "/usr/bin:/bin"),
               CERTHALL_INVOICE_LINK_BASE=require_env("CERTHALL_URL"))
    if env.get("ASAN_OPTIONS"):
        # the PDF libraries' own leaks, as for the stack's daemon (scripts/lib/stack.sh)
        env["LSAN_OPTIONS"] = (f"suppressions={ROOT}/tests/codec/lsan-pdf.supp"
                               ":print_suppressions=0")
    log = open(Path(require_env("CERTHALL_STACK")) / "log" / "invoiced-second.log", "ab")
    proc = subprocess.Popen(
        [str(Path(require_env("CERTHALL_BUILD")) / "certhall-invoiced"),
         "--db", require_env("CERTHALL_APP_DB")], env=env, stdin=subprocess.DEVNULL,
        stdout=log, stderr=log, cwd="/")
    log.close()
    return proc


def test_concurrent_payments_invoiced_once_across_outage_and_sigkill(clerk, reviewer, tax):
    n = 12
    apps = [counter_approved(clerk, reviewer) for _ in range(n)]
    start = requests.get(f"{tax}/stats", timeout=5).json()
    assert requests.post(f"{tax}/control/down", json={"down": True},
                         timeout=5).status_code == 200
    base = require_env("CERTHALL_URL")
    auth = clerk.client.session.headers["Authorization"]

    def pay_one(app):
        s = requests.Session()
        s.trust_env = False
        s.headers["Authorization"] = auth
        return s.post(f"{base}{APPS}/{app['id']}/counter-payment",
                      json={"method": "pos", "receipt_no": "R" + secrets.token_hex(8),
                            "amount_fen": app["quote"]["total_fen"]}, timeout=30).status_code

    # Several API workers take them at once (the stack runs several FastCGI workers).
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(pay_one, apps)) == [201] * n
    ids = [a["id"] for a in apps]
    rows = sql("SELECT application_id, count(*) FROM invoice WHERE application_id = ANY(%s)"
               " GROUP BY application_id", (ids,))
    assert sorted(rows) == sorted((i, 1) for i in ids)

    # The platform is down: they wait, tried and not lost.
    wait_until(lambda: sql("SELECT count(*) FROM invoice WHERE application_id = ANY(%s)"
                           " AND attempts > 0 AND last_error IS NOT NULL", (ids,))[0][0] >= 1,
               WAIT, what="an attempt during the outage")
    assert sql("SELECT count(*) FROM invoice WHERE application_id = ANY(%s)"
               " AND status = 'pending'", (ids,))[0][0] == n

    # Back up, but slow: the first answer takes 4 s, and the daemon is killed while it
    # waits for it; the platform has issued that invoice all the same.
    before = requests.get(f"{tax}/stats", timeout=5).json()
    requests.post(f"{tax}/control/delay", json={"ms": 4000, "count": 1}, timeout=5)
    requests.post(f"{tax}/control/down", json={"down": False}, timeout=5)
    wait_until(lambda: requests.get(f"{tax}/stats", timeout=5).json()["issued"]
               > before["issued"], WAIT, what="the platform to issue one")
    pid = subprocess.run([STACKCTL, "invoiced-pid"], capture_output=True, text=True,
                         check=True, timeout=30).stdout.strip()
    os.kill(int(pid), 9)
    time.sleep(0.5)
    assert subprocess.run([STACKCTL, "invoiced-start"], capture_output=True,
                          timeout=60).returncode == 0
    # The backlog is worked off by two daemons at once, as two hosts would run them.
    second = second_invoiced()

    def all_issued():
        return sql("SELECT count(*) FROM invoice WHERE application_id = ANY(%s)"
                   " AND status = 'issued'", (ids,))[0][0] == n
    try:
        wait_until(all_issued, 90, interval=0.5, what="every invoice issued")
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            status = second.wait(timeout=30)
        except subprocess.TimeoutExpired:
            second.kill()
            status = second.wait(timeout=10)
    assert status == 0, "the second certhall-invoiced did not stop cleanly"

    got = sql("SELECT payment_id, number, request_id FROM invoice"
              " WHERE application_id = ANY(%s)", (ids,))
    assert len({g[0] for g in got}) == n            # each payment once
    assert len({g[1] for g in got}) == n            # numbers unique
    repeats = 0
    for _, number, request_id in got:
        held = platform_invoices(tax, request_id)
        assert [h["number"] for h in held] == [number], (request_id, held)
        repeats += held[0]["repeats"]
    # The call the kill interrupted was sent again, and answered with the same invoice.
    assert repeats >= 1, "the killed call was not sent again"
    after = requests.get(f"{tax}/stats", timeout=5).json()
    assert after["down_answers"] > start["down_answers"]
    # The numbers: this year, Sichuan, one channel, a sequence.
    for _, number, _ in got:
        assert NUMBER.match(number)


# ---------------------------------------------------------------------------------
# Finance views
# ---------------------------------------------------------------------------------

def test_finance_totals_reconcile_and_export_csv(clerk, reviewer, finance, applicant):
    # Some money in, some back: a counter payment refunded.
    app = counter_approved(clerk, reviewer)
    counter_pay(clerk, app)
    assert finance.post_json(f"{APPS}/{app['id']}/refund",
                             {"reason": "对账测试退款"}).status_code == 202
    day = today()
    views = {}
    for v in ("invoices", "payments", "refunds"):
        resp = finance.get(f"{FINANCE}/{v}?from={day}&to={day}")
        assert resp.status_code == 200, resp.content[:300]
        views[v] = resp.body
        assert not resp.body["truncated"]
    rec = views["invoices"]["reconciliation"]
    for v in ("payments", "refunds"):
        for k in ("paid_fen", "refunded_fen", "invoiced_fen", "red_invoiced_fen"):
            assert views[v]["reconciliation"][k] == rec[k], (v, k)
    assert rec["balanced"] is True, rec
    assert rec["paid_fen"] - rec["refunded_fen"] == rec["invoiced_fen"] - rec["red_invoiced_fen"]
    # The reconciliation is made of the rows the views list.
    pays = views["payments"]["items"]
    assert rec["paid_fen"] == sum(p["amount_fen"] for p in pays
                                  if p["disposition"] == "captured")
    invs = views["invoices"]["items"]
    assert rec["invoiced_fen"] == sum(i["gross_fen"] for i in invs if i["kind"] == "blue")
    assert rec["red_invoiced_fen"] == -sum(i["gross_fen"] for i in invs if i["kind"] == "red")
    assert views["invoices"]["totals"]["gross_fen"] == sum(i["gross_fen"] for i in invs)
    assert views["invoices"]["totals"]["count"] == len(invs)
    refunds = views["refunds"]["items"]
    assert views["refunds"]["totals"]["amount_fen"] == sum(r["amount_fen"] for r in refunds)
    # Each captured payment of the day has its invoice, each succeeded refund its red one.
    assert all(p["invoice_id"] for p in pays if p["disposition"] == "captured")
    assert all(r["invoice_id"] for r in refunds if r["status"] == "succeeded")

    # A status filter narrows the rows, not the reconciliation.
    resp = finance.get(f"{FINANCE}/refunds?from={day}&to={day}&status=succeeded")
    assert all(r["status"] == "succeeded" for r in resp.body["items"])
    money = ("paid_fen", "refunded_fen", "invoiced_fen", "red_invoiced_fen", "refund_due_fen")
    assert {k: resp.body["reconciliation"][k] for k in money} == {k: rec[k] for k in money}

    # CSV: by Accept and by .csv, the same rows.
    resp = finance.get(f"{FINANCE}/invoices?from={day}&to={day}",
                       headers={"Accept": "text/csv"})
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8"))))
    assert [int(r["id"]) for r in rows] == [i["id"] for i in invs]
    assert sum(int(r["gross_fen"]) for r in rows) == views["invoices"]["totals"]["gross_fen"]
    resp2 = finance.get(f"{FINANCE}/invoices.csv?from={day}&to={day}")
    assert resp2.status_code == 200
    # The same rows (their status may move on between the two requests).
    rows2 = list(csv.DictReader(io.StringIO(resp2.content.decode("utf-8"))))
    assert [(r["id"], r["gross_fen"]) for r in rows2] == [(r["id"], r["gross_fen"])
                                                          for r in rows]
    assert "attachment" in resp2.headers["Content-Disposition"]
    resp = finance.get(f"{FINANCE}/payments.csv?from={day}&to={day}")
    rows = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8"))))
    assert len(rows) == len(pays)

    # Bad ranges and values are named.
    assert_problem(finance.get(f"{FINANCE}/invoices?from=2026-02-30"), 422, "invalid-field")
    assert_problem(finance.get(f"{FINANCE}/invoices?from=2026-03-02&to=2026-03-01"), 422,
                   "invalid-field")
    assert_problem(finance.get(f"{FINANCE}/invoices?status=paid"), 422, "invalid-field")
    assert_problem(finance.get(f"{FINANCE}/invoices?colour=red"), 422, "invalid-field")
    assert_problem(finance.get(f"{FINANCE}/invoices", headers={"Accept": "image/png"}), 406,
                   "not-acceptable")
    # Not for applicants.
    assert_problem(applicant.get(f"{FINANCE}/invoices"), 403, "forbidden")


def test_pdf_before_issue_is_a_conflict(clerk, reviewer, finance, tax):
    requests.post(f"{tax}/control/down", json={"down": True}, timeout=5)
    app = counter_approved(clerk, reviewer)
    counter_pay(clerk, app)
    [inv] = invoices_of(finance, app["id"])
    assert inv["status"] == "pending" and inv["number"] is None
    body = assert_problem(finance.get(f"{INVOICES}/{inv['id']}/pdf"), 409, "conflict")
    assert body["invoice_status"] == "pending"
    requests.post(f"{tax}/control/down", json={"down": False}, timeout=5)
    issued(finance, inv["id"])
