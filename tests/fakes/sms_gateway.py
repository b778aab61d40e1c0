#!/usr/bin/python3
"""A fake SMS provider: a test double of the outside gateway certhall-sms-sender talks to.

It speaks the "http-json" provider protocol (include/certhall/sms.h) on loopback, records
what it accepts, and lets tests read it back. Python 3 standard library only.

  /usr/bin/python3 tests/fakes/sms_gateway.py --listen 127.0.0.1:PORT --key-file F \\
      --state FILE [--pid-file FILE]

The provider API:
  POST /v1/messages   Authorization: Bearer <key from --key-file>, JSON body
                      {"message_id": uuid, "phone": "1[3-9]xxxxxxxxx", "sign_name": "四川CA",
                       "template": str, "params": {...}, "text": "【四川CA】..."}
      202 {"id": "sms-…"}                               accepted (recorded)
      409 {"error": "duplicate message_id", "id": …}    that message_id was accepted before
      400 {"error": …}                                  invalid body, phone or signature
      401 {"error": "unauthorized"}                     wrong or missing key
      413 / 415                                         too large / not JSON

Test-only (no key needed; loopback only, never a real provider's API):
  GET  /messages[?phone=…][&message_id=…]   accepted messages, oldest first, each with
       id, message_id, phone, sign_name, template, params, text, received_at, duplicates
  GET  /stats          {"accepted": n, "duplicates": n, "rejected": n, "injected_failures": n}
  POST /control/fail   {"status": 503, "count": N}: the next N sends get that status without
                       being looked at ({"count": 0} clears)
  POST /control/delay  {"ms": 2000, "count": N}: the next N accepted messages are recorded at
                       once and answered only after ms (a provider slow to answer)

Every accepted message and every duplicate attempt is appended to the state file as one
JSON line, so a restarted gateway keeps its history and still refuses duplicates.
SIGTERM/SIGINT: stops and exits 0.
"""

import argparse
import hmac
import json
import re
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

from fakelib import JsonHandler, Journal, KeyedServer, serve

PHONE = re.compile(r"1[3-9][0-9]{9}")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MAX_BODY = 64 * 1024
MAX_TEXT = 500
FIELDS = {"message_id", "phone", "sign_name", "template", "params", "text"}


def now_iso():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def mask(phone):
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


class State:
    """What the gateway has accepted; the state file is its journal."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.messages = []          # accepted, oldest first
        self.by_message_id = {}
        self.duplicates = 0
        self.rejected = 0
        self.injected = 0
        self.fail_status = 503
        self.fail_count = 0
        self.delay_ms = 0
        self.delay_count = 0
        self.journal = Journal(path, self._apply)

    def _apply(self, rec):
        if rec["kind"] == "accepted":
            msg = {k: rec[k] for k in ("id", "message_id", "phone", "sign_name", "template",
                                       "params", "text", "received_at")}
            msg["duplicates"] = 0
            self.messages.append(msg)
            self.by_message_id[msg["message_id"]] = msg
        elif rec["kind"] == "duplicate":
            self.duplicates += 1
            msg = self.by_message_id.get(rec["message_id"])
            if msg is not None:
                msg["duplicates"] += 1

    def record(self, rec):
        """Journals rec and applies it (caller holds the lock)."""
        self.journal.write(rec)
        self._apply(rec)


class Handler(JsonHandler):
    server_version = "fake-sms-gateway/1"
    prog = "sms-gateway"

    # -- plumbing ------------------------------------------------------------------
    def note(self, msg):
        sys.stderr.write(json.dumps({"ts": now_iso(), "prog": "sms-gateway", "msg": msg}) + "\n")

    def drain(self):
        """Reads and discards the request body (a kept-alive connection needs it gone)."""
        length = self.headers.get("Content-Length") or "0"
        if not length.isdigit() or int(length) > MAX_BODY:
            self.close_connection = True
            return
        self.rfile.read(int(length))

    def read_json(self):
        """The request body parsed, or None after answering the error."""
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            self.answer(411, {"error": "length required"})
            return None
        if int(length) > MAX_BODY:
            self.close_connection = True
            self.answer(413, {"error": "body too large"})
            return None
        raw = self.rfile.read(int(length))
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            self.answer(415, {"error": "content type must be application/json"})
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            self.answer(400, {"error": "malformed json"})
            return None

    # -- routes --------------------------------------------------------------------
    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        state = self.server.state
        if url.path == "/messages":
            phone = query.get("phone", [None])[0]
            message_id = query.get("message_id", [None])[0]
            with state.lock:
                out = [dict(m) for m in state.messages
                       if (phone is None or m["phone"] == phone)
                       and (message_id is None or m["message_id"] == message_id)]
            self.answer(200, out)
        elif url.path == "/stats":
            with state.lock:
                self.answer(200, {"accepted": len(state.messages),
                                  "duplicates": state.duplicates,
                                  "rejected": state.rejected,
                                  "injected_failures": state.injected})
        else:
            self.answer(404, {"error": "not found"})

    def do_POST(self):
        path = urlsplit(self.path).path
        if path == "/v1/messages":
            self.send_message()
        elif path == "/control/fail":
            self.control_fail()
        elif path == "/control/delay":
            self.control_delay()
        else:
            self.drain()
            self.answer(404, {"error": "not found"})

    def control_fail(self):
        doc = self.read_json()
        if doc is None:
            return
        status, count = doc.get("status", 503), doc.get("count")
        if (not isinstance(count, int) or count < 0 or not isinstance(status, int)
                or not 400 <= status <= 599):
            self.answer(400, {"error": "want {\"status\": 400..599, \"count\": n >= 0}"})
            return
        state = self.server.state
        with state.lock:
            state.fail_status, state.fail_count = status, count
        self.answer(200, {"status": status, "count": count})

    def control_delay(self):
        doc = self.read_json()
        if doc is None:
            return
        ms, count = doc.get("ms"), doc.get("count")
        if (not isinstance(ms, int) or not 0 <= ms <= 60000
                or not isinstance(count, int) or count < 0):
            self.answer(400, {"error": "want {\"ms\": 0..60000, \"count\": n >= 0}"})
            return
        state = self.server.state
        with state.lock:
            state.delay_ms, state.delay_count = ms, count
        self.answer(200, {"ms": ms, "count": count})

    def reject(self, why):
        with self.server.state.lock:
            self.server.state.rejected += 1
        self.answer(400, {"error": why})

    def send_message(self):
        state = self.server.state
        with state.lock:
            inject = state.fail_count > 0
            if inject:
                state.fail_count -= 1
                state.injected += 1
                status = state.fail_status
        if inject:
            self.drain()
            self.answer(status, {"error": "injected failure"})
            return

        auth = self.headers.get("Authorization") or ""
        if not hmac.compare_digest(auth.encode("utf-8", "replace"),
                                   ("Bearer " + self.server.key).encode("utf-8")):
            self.drain()
            with state.lock:
                state.rejected += 1
            self.answer(401, {"error": "unauthorized"})
            return

        doc = self.read_json()
        if doc is None:
            return
        if not isinstance(doc, dict):
            return self.reject("body must be a JSON object")
        if set(doc) != FIELDS:
            return self.reject("fields must be exactly " + ", ".join(sorted(FIELDS)))
        if not isinstance(doc["message_id"], str) or not UUID.fullmatch(doc["message_id"]):
            return self.reject("message_id must be a lowercase uuid")
        if not isinstance(doc["phone"], str) or not PHONE.fullmatch(doc["phone"]):
            return self.reject("phone is not a mainland mobile number")
        for name in ("sign_name", "template", "text"):
            if not isinstance(doc[name], str) or not doc[name]:
                return self.reject(f"{name} must be a non-empty string")
        if not isinstance(doc["params"], dict):
            return self.reject("params must be an object")
        if not doc["text"].startswith("【" + doc["sign_name"] + "】"):
            return self.reject("text must start with the signature 【sign_name】")
        if len(doc["text"]) > MAX_TEXT:
            return self.reject(f"text is longer than {MAX_TEXT} characters")

        with state.lock:
            earlier = state.by_message_id.get(doc["message_id"])
            if earlier is not None:
                state.record({"kind": "duplicate", "message_id": doc["message_id"],
                              "received_at": now_iso()})
                self.note(f"duplicate {doc['message_id']} to {mask(doc['phone'])}")
                self.answer(409, {"error": "duplicate message_id", "id": earlier["id"]})
                return
            rec = {"kind": "accepted", "id": "sms-" + uuid.uuid4().hex[:20],
                   "received_at": now_iso(), **{k: doc[k] for k in sorted(FIELDS)}}
            state.record(rec)
            delay = state.delay_ms if state.delay_count > 0 else 0
            if delay:
                state.delay_count -= 1
        self.note(f"accepted {doc['message_id']} to {mask(doc['phone'])}")
        if delay:
            time.sleep(delay / 1000)
        try:
            self.answer(202, {"id": rec["id"]})
        except OSError:
            pass                    # the client went away: accepted all the same


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", required=True, help="HOST:PORT (loopback)")
    ap.add_argument("--key-file", required=True)
    ap.add_argument("--state", required=True, help="JSON-lines journal")
    ap.add_argument("--pid-file")
    args = ap.parse_args()

    host, _, port = args.listen.rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not port.isdigit():
        ap.error("--listen must be a loopback HOST:PORT")
    with open(args.key_file, encoding="utf-8") as f:
        key = f.read().strip()
    if not key:
        ap.error(f"{args.key_file} is empty")

    server = KeyedServer((host, int(port)), Handler, key, State(args.state))

    def ready():
        sys.stderr.write(json.dumps({"ts": now_iso(), "prog": "sms-gateway",
                                     "msg": f"listening on {args.listen}, "
                                            f"{len(server.state.messages)} message(s) on record"})
                         + "\n")
        sys.stderr.flush()
    serve(server, args.pid_file, ready, server.state.journal.close)
    sys.stderr.write(json.dumps({"ts": now_iso(), "prog": "sms-gateway", "msg": "stopped"}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
