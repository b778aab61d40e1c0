#!/usr/bin/python3
"""A fake tax platform (数电发票): a test double of what certhall-invoiced talks to.

It speaks the "Tax platform protocol" of docs/CONTRACT.md (include/certhall/clients/
taxplat.h) on loopback: it checks an invoice, assigns its 20-digit number (year 2,
province 2 = 51, channel 1, sequence 15) and confirms the issue; a red invoice must name a
blue one it issued, cancel it exactly, and only once. Python 3 standard library only.

  /usr/bin/python3 tests/fakes/tax_platform.py --listen 127.0.0.1:PORT --key-file F \\
      --state FILE [--pid-file FILE] [--channel D]

The platform API:
  POST /v1/invoices   Authorization: Bearer <key>, JSON body
      {"request_id", "kind": "blue"|"red", "original_number": null|number,
       "buyer": {"name", "code"}, "seller": {"name", "code"}, "issuer",
       "lines": [{"name", "quantity", "rate_bp", "net_fen", "tax_fen", "gross_fen"}],
       "total": {"net_fen", "tax_fen", "gross_fen"}}
      201 {"request_id", "number", "issued_at", "gross_fen"}  issued
      200 the same                         that request_id was issued before (idempotent)
      409 {"code": "REQUEST_ID_REUSED"|"ALREADY_RED", "message"}
      400 {"code": "INVALID", "message"}   the invoice does not add up, bad tax, ...
      401                                  wrong or missing key
      503 {"code": "DOWN"}                 while switched down (below)

Test-only (no key; loopback only):
  GET  /invoices[?request_id=…]  issued invoices, oldest first, each with its request and
                        "repeats": how often its request_id came again since the start
  GET  /stats           {"issued", "repeats", "refused", "down_answers", "down"}
  POST /control/down    {"down": true|false}: while down every /v1 call answers 503
  POST /control/delay   {"ms": n, "count": k}: the next k issues are recorded at once and
                        answered only after ms (a platform slow to answer; a client killed
                        meanwhile has an invoice issued that it never heard of)

Every issue is appended to the state file (fakelib.Journal), so a restarted platform keeps
its numbers and still answers a repeated request_id with the first invoice.
"""

import argparse
import hmac
import json
import re
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

from fakelib import JsonHandler, Journal, KeyedServer, serve

MAX_BODY = 64 * 1024
SHANGHAI = timezone(timedelta(hours=8))
FIELDS = {"request_id", "kind", "original_number", "buyer", "seller", "issuer", "lines",
          "total"}
LINE_FIELDS = {"name", "quantity", "rate_bp", "net_fen", "tax_fen", "gross_fen"}
REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
CODE = re.compile(r"[0-9A-Z]{15,20}")


def now_iso():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def tax_of(gross, rate_bp):
    """round-half-away-from-zero(gross * r / (1 + r)) in fen, as the platform computes."""
    num, den = abs(gross) * rate_bp, 10000 + rate_bp
    tax = (2 * num + den) // (2 * den)
    return -tax if gross < 0 else tax


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class State:
    def __init__(self, path, channel):
        self.lock = threading.Lock()
        self.channel = channel
        self.by_request = {}      # request_id -> record
        self.by_number = {}
        self.red_of = {}          # blue number -> red number
        self.order = []
        self.seq = 0
        self.repeats = 0
        self.repeats_of = {}      # request_id -> times it came again (since this start)
        self.refused = 0
        self.down_answers = 0
        self.down = False
        self.delay_ms = 0
        self.delay_count = 0
        self.journal = Journal(path, self._apply)

    def _apply(self, rec):
        if rec["kind"] != "issued":
            return
        self.by_request[rec["request_id"]] = rec
        self.by_number[rec["number"]] = rec
        self.order.append(rec)
        self.seq = max(self.seq, int(rec["number"][-15:]))
        if rec["invoice"]["kind"] == "red":
            self.red_of[rec["invoice"]["original_number"]] = rec["number"]

    def next_number(self):
        self.seq += 1
        yy = datetime.now(SHANGHAI).strftime("%y")
        return f"{yy}51{self.channel}{self.seq:015d}"


def check(doc, state):
    """Why doc is not a valid invoice, or None."""
    if not isinstance(doc, dict) or set(doc) != FIELDS:
        return "fields must be exactly " + ", ".join(sorted(FIELDS))
    if not isinstance(doc["request_id"], str) or not REQUEST_ID.fullmatch(doc["request_id"]):
        return "request_id must be 8 to 64 of [A-Za-z0-9_-]"
    if doc["kind"] not in ("blue", "red"):
        return "kind must be blue or red"
    buyer, seller = doc["buyer"], doc["seller"]
    if not isinstance(buyer, dict) or set(buyer) != {"name", "code"} or \
            not isinstance(buyer["name"], str) or not buyer["name"]:
        return "buyer must be {name, code}"
    if buyer["code"] is not None and (not isinstance(buyer["code"], str)
                                      or not CODE.fullmatch(buyer["code"])):
        return "buyer.code must be a taxpayer number or null"
    if not isinstance(seller, dict) or set(seller) != {"name", "code"} or \
            not isinstance(seller["code"], str) or not CODE.fullmatch(seller["code"]):
        return "seller must be {name, code}"
    lines = doc["lines"]
    if not isinstance(lines, list) or not 1 <= len(lines) <= 50:
        return "lines must be 1 to 50"
    sign = 1 if doc["kind"] == "blue" else -1
    sums = {"net_fen": 0, "tax_fen": 0, "gross_fen": 0}
    for i, line in enumerate(lines):
        if not isinstance(line, dict) or set(line) != LINE_FIELDS:
            return f"lines[{i}] must have exactly " + ", ".join(sorted(LINE_FIELDS))
        if not all(is_int(line[k]) for k in LINE_FIELDS - {"name"}):
            return f"lines[{i}]: amounts must be integers"
        if line["gross_fen"] * sign <= 0:
            return f"lines[{i}].gross_fen has the wrong sign for a {doc['kind']} invoice"
        if line["net_fen"] + line["tax_fen"] != line["gross_fen"]:
            return f"lines[{i}]: net + tax != gross"
        if line["tax_fen"] != tax_of(line["gross_fen"], line["rate_bp"]):
            return f"lines[{i}].tax_fen: expected {tax_of(line['gross_fen'], line['rate_bp'])}"
        for k in sums:
            sums[k] += line[k]
    total = doc["total"]
    if not isinstance(total, dict) or total != sums:
        return f"total must be the sums of the lines {sums}"
    if doc["kind"] == "red":
        blue = state.by_number.get(doc["original_number"] or "")
        if blue is None or blue["invoice"]["kind"] != "blue":
            return "original_number is not a blue invoice issued here"
        b = blue["invoice"]
        if b["total"]["gross_fen"] != -total["gross_fen"] or len(b["lines"]) != len(lines) or \
                any(bl["gross_fen"] != -rl["gross_fen"] or bl["tax_fen"] != -rl["tax_fen"]
                    for bl, rl in zip(b["lines"], lines)):
            return "a red invoice must cancel its original exactly"
    elif doc["original_number"] is not None:
        return "original_number is for red invoices"
    return None


class Handler(JsonHandler):
    server_version = "fake-tax-platform/1"
    prog = "tax-platform"

    def body(self):
        length = self.headers.get("Content-Length") or "0"
        if not length.isdigit() or int(length) > MAX_BODY:
            self.close_connection = True
            return None
        raw = self.rfile.read(int(length))
        try:
            return json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None

    def do_GET(self):
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        st = self.server.state
        if url.path == "/invoices":
            rid = q.get("request_id", [None])[0]
            with st.lock:
                out = [dict(r, repeats=st.repeats_of.get(r["request_id"], 0))
                       for r in st.order if rid is None or r["request_id"] == rid]
            self.answer(200, out)
        elif url.path == "/stats":
            with st.lock:
                self.answer(200, {"issued": len(st.order), "repeats": st.repeats,
                                  "refused": st.refused, "down_answers": st.down_answers,
                                  "down": st.down})
        else:
            self.answer(404, {"code": "NOT_FOUND", "message": "not found"})

    def do_POST(self):
        path = urlsplit(self.path).path
        st = self.server.state
        doc = self.body()
        if path == "/control/down":
            if not isinstance(doc, dict) or not isinstance(doc.get("down"), bool):
                return self.answer(400, {"code": "INVALID", "message": "want {\"down\": bool}"})
            with st.lock:
                st.down = doc["down"]
            return self.answer(200, {"down": st.down})
        if path == "/control/delay":
            if not isinstance(doc, dict) or not is_int(doc.get("ms")) or \
                    not is_int(doc.get("count")):
                return self.answer(400, {"code": "INVALID",
                                         "message": "want {\"ms\": n, \"count\": k}"})
            with st.lock:
                st.delay_ms, st.delay_count = doc["ms"], doc["count"]
            return self.answer(200, {"ms": st.delay_ms, "count": st.delay_count})
        if path != "/v1/invoices":
            return self.answer(404, {"code": "NOT_FOUND", "message": "not found"})
        with st.lock:
            if st.down:
                st.down_answers += 1
                return self.answer(503, {"code": "DOWN", "message": "platform down"})
        auth = self.headers.get("Authorization") or ""
        if not hmac.compare_digest(auth.encode("utf-8", "replace"),
                                   ("Bearer " + self.server.key).encode("utf-8")):
            return self.answer(401, {"code": "UNAUTHORIZED", "message": "unauthorized"})
        if doc is None:
            return self.answer(400, {"code": "INVALID", "message": "malformed json"})
        delay = 0
        with st.lock:
            earlier = st.by_request.get(doc.get("request_id")) if isinstance(doc, dict) else None
            if earlier is not None:
                if earlier["invoice"] != doc:
                    st.refused += 1
                    return self.answer(409, {"code": "REQUEST_ID_REUSED",
                                             "message": "request_id used for another invoice"})
                st.repeats += 1
                st.repeats_of[earlier["request_id"]] = st.repeats_of.get(
                    earlier["request_id"], 0) + 1
                return self.answer(200, earlier["confirmation"])
            why = check(doc, st)
            if why is None and doc["kind"] == "red" and doc["original_number"] in st.red_of:
                st.refused += 1
                return self.answer(409, {"code": "ALREADY_RED",
                                         "message": "the original has a red invoice already"})
            if why is not None:
                st.refused += 1
                return self.answer(400, {"code": "INVALID", "message": why})
            number = st.next_number()
            conf = {"request_id": doc["request_id"], "number": number,
                    "issued_at": datetime.now(SHANGHAI).isoformat(timespec="seconds"),
                    "gross_fen": doc["total"]["gross_fen"]}
            rec = {"kind": "issued", "request_id": doc["request_id"], "number": number,
                   "invoice": doc, "confirmation": conf, "received_at": now_iso()}
            st.journal.write(rec)
            st._apply(rec)
            if st.delay_count > 0:
                st.delay_count -= 1
                delay = st.delay_ms
        if delay:
            time.sleep(delay / 1000)
        try:
            self.answer(201, conf)
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", required=True)
    ap.add_argument("--key-file", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--pid-file")
    ap.add_argument("--channel", default="1", choices=list("0123456789"))
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not port.isdigit():
        ap.error("--listen must be a loopback HOST:PORT")
    with open(args.key_file, encoding="utf-8") as f:
        key = f.read().strip()
    if not key:
        ap.error(f"{args.key_file} is empty")
    server = KeyedServer((host, int(port)), Handler, key, State(args.state, args.channel))

    def ready():
        sys.stderr.write(json.dumps({"ts": now_iso(), "prog": "tax-platform",
                                     "msg": f"listening on {args.listen}, "
                                            f"{len(server.state.order)} invoice(s) on record"})
                         + "\n")
        sys.stderr.flush()
    serve(server, args.pid_file, ready, server.state.journal.close)
    return 0


if __name__ == "__main__":
    sys.exit(main())
