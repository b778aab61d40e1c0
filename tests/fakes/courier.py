#!/usr/bin/python3
"""The sandbox courier: a test double of the express company that carries USB keys (an
open platform like SF Express's), on loopback only.

It speaks the protocol of docs/CONTRACT.md ("Courier protocol"); src/clients/courier.c is
the client. Python 3 standard library only.

  /usr/bin/python3 tests/fakes/courier.py --listen 127.0.0.1:PORT --key-file FILE \\
      --state FILE [--pid-file FILE] [--retry-delays 0.5,1,2,4,8]

Partner API (Authorization: Bearer <shared key>; 401 {"code": "AUTH"} otherwise):
  POST /waybills {"reference", "recipient"?, "phone"?, "address"?, "notify_url"}
      201 {"reference", "tracking_no"}; 200 the same for the same reference (idempotent)

The courier's side (what its driver's handset reports; tests and curl):
  POST /sandbox/waybills/{tracking_no}/deliver {"signed_by_name", "check_kind":
       "signature"|"id_check", "authorisation"?, "notify": true}
      200 {"event_id", ...}: the delivery event, POSTed to the waybill's notify_url signed
      with the shared key: X-Courier-Timestamp (unix s), X-Courier-Nonce (32 hex),
      X-Courier-Signature = base64 HMAC-SHA256(key, "timestamp\\nnonce\\nbody\\n"); sent
      again after each --retry-delays delay (new timestamp and nonce, same body) until
      certhall answers 2xx, or stops at a 4xx (refused: recorded, not retried)
  POST /sandbox/events/{event_id}/replay   sends the last attempt again byte for byte,
      same timestamp, nonce and signature (a captured callback replayed); 200 {"status"}
  GET  /sandbox/waybills[/{tracking_no}]   what is kept here, with each event's attempts

State is journalled to --state (JSON lines, fsynced; tests/fakes/fakelib.py) so a
restarted courier keeps its waybills and resumes unacknowledged callbacks.
SIGTERM/SIGINT: stops and exits 0.
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from fakelib import Journal, serve

MAX_BODY = 64 * 1024
NOTIFY_TIMEOUT = 5


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def log(msg, **kw):
    print(json.dumps({"at": now_iso(), "msg": msg, **kw}, ensure_ascii=False), flush=True)


def sign(key, ts, nonce, body):
    mac = hmac.new(key.encode(), ts.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n",
                   hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


class Refusal(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class State:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.waybills = {}          # tracking_no -> waybill
        self.by_reference = {}      # reference -> tracking_no
        self.events = {}            # event_id -> event
        self.journal = Journal(path, self._apply)

    def _apply(self, rec):
        kind = rec["kind"]
        if kind == "waybill":
            w = dict(rec["waybill"], events=[])
            self.waybills[w["tracking_no"]] = w
            self.by_reference[w["reference"]] = w["tracking_no"]
        elif kind == "event":
            e = dict(rec["event"], attempts=[], done=False)
            self.events[e["event_id"]] = e
            self.waybills[e["tracking_no"]]["events"].append(e["event_id"])
        elif kind == "attempt":
            e = self.events[rec["event_id"]]
            e["attempts"].append(rec["attempt"])
            status = rec["attempt"].get("status")
            if status is not None and 200 <= status < 500:
                e["done"] = True

    def record(self, rec):
        self._apply(rec)
        self.journal.write(rec)


class Courier(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, args, state):
        self.key = args.key
        self.delays = args.retry_delays
        self.state = state
        super().__init__(address, Handler)

    def post(self, url, body, ts, nonce, sig):
        u = urlsplit(url)
        try:
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=NOTIFY_TIMEOUT)
            conn.request("POST", u.path or "/", body=body, headers={
                "Content-Type": "application/json", "X-Courier-Timestamp": ts,
                "X-Courier-Nonce": nonce, "X-Courier-Signature": sig,
                "User-Agent": "certhall-courier-sandbox/1"})
            resp = conn.getresponse()
            resp.read()
            conn.close()
            return resp.status, None
        except (OSError, http.client.HTTPException) as e:
            return None, f"{type(e).__name__}: {e}"[:200]

    def attempt(self, e):
        body = e["body"].encode()
        ts, nonce = str(int(time.time())), secrets.token_hex(16)
        sig = sign(self.key, ts, nonce, body)
        status, error = self.post(e["notify_url"], body, ts, nonce, sig)
        with self.state.lock:
            self.state.record({"kind": "attempt", "event_id": e["event_id"], "attempt": {
                "at": now_iso(), "ts": ts, "nonce": nonce, "signature": sig,
                "status": status, "error": error}})
        log("callback sent", event_id=e["event_id"], status=status, error=error)
        return status is not None and 200 <= status < 500

    def notify_loop(self, e):
        for i, delay in enumerate([0.0] + self.delays):
            if i < len(e["attempts"]):
                continue
            time.sleep(delay)
            if self.attempt(e):
                return

    def start_notify(self, e):
        threading.Thread(target=self.notify_loop, args=(e,), daemon=True).start()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "certhall-courier-sandbox/1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, doc):
        body = json.dumps(doc, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_json(self):
        length = self.headers.get("Content-Length") or "0"
        if not length.isdigit() or int(length) > MAX_BODY:
            self.close_connection = True
            raise Refusal(413, "INVALID_REQUEST", "length missing or too large")
        raw = self.rfile.read(int(length))
        try:
            doc = json.loads(raw or b"{}")
        except ValueError:
            raise Refusal(400, "INVALID_REQUEST", "malformed json")
        if not isinstance(doc, dict):
            raise Refusal(400, "INVALID_REQUEST", "body must be a JSON object")
        return doc

    def route(self, method):
        parts = [p for p in urlsplit(self.path).path.split("/") if p]
        table = {
            ("POST", ("waybills",)): self.create_waybill,
            ("GET", ("sandbox", "waybills")): self.list_waybills,
            ("GET", ("sandbox", "waybills", "*")): self.get_waybill,
            ("POST", ("sandbox", "waybills", "*", "deliver")): self.deliver,
            ("POST", ("sandbox", "events", "*", "replay")): self.replay,
        }
        try:
            for (m, shape), fn in table.items():
                if m == method and len(shape) == len(parts) and all(
                        s == "*" or s == x for s, x in zip(shape, parts)):
                    return fn(*[x for s, x in zip(shape, parts) if s == "*"])
            self.read_json()
            raise Refusal(404, "NOT_FOUND", "no such resource")
        except Refusal as r:
            self.answer(r.status, {"code": r.code, "message": r.message})
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def create_waybill(self):
        doc = self.read_json()
        auth = (self.headers.get("Authorization") or "").encode("utf-8", "replace")
        if not hmac.compare_digest(auth, ("Bearer " + self.server.key).encode()):
            raise Refusal(401, "AUTH", "partner key refused")
        ref, url = doc.get("reference"), doc.get("notify_url")
        if not isinstance(ref, str) or not ref or not isinstance(url, str) or \
                not url.startswith("http://"):
            raise Refusal(400, "INVALID_REQUEST", "reference and notify_url are required")
        st = self.server.state
        with st.lock:
            if ref in st.by_reference:
                return self.answer(200, {"reference": ref,
                                         "tracking_no": st.by_reference[ref]})
            no = "SB" + "".join(secrets.choice("0123456789") for _ in range(12))
            st.record({"kind": "waybill", "waybill": {
                "tracking_no": no, "reference": ref, "notify_url": url,
                "recipient": doc.get("recipient"), "phone": doc.get("phone"),
                "address": doc.get("address"), "created_at": now_iso()}})
        log("waybill", reference=ref, tracking_no=no)
        self.answer(201, {"reference": ref, "tracking_no": no})

    def view(self, w):
        st = self.server.state
        return dict(w, events=[st.events[e] for e in w["events"]])

    def list_waybills(self):
        with self.server.state.lock:
            self.answer(200, {"items": [self.view(w)
                                        for w in self.server.state.waybills.values()]})

    def get_waybill(self, no):
        with self.server.state.lock:
            w = self.server.state.waybills.get(no)
            if w is None:
                raise Refusal(404, "NOT_FOUND", "no such waybill")
            self.answer(200, self.view(w))

    def deliver(self, no):
        doc = self.read_json()
        st = self.server.state
        event = {"event_id": "EV" + secrets.token_hex(10), "event_type": "DELIVERED",
                 "tracking_no": no, "delivered_at": now_iso(),
                 "signed_by_name": doc.get("signed_by_name"),
                 "check_kind": doc.get("check_kind", "signature")}
        if doc.get("authorisation") is not None:
            event["authorisation"] = doc["authorisation"]
        with st.lock:
            w = st.waybills.get(no)
            if w is None:
                raise Refusal(404, "NOT_FOUND", "no such waybill")
            e = {"event_id": event["event_id"], "tracking_no": no,
                 "notify_url": w["notify_url"],
                 "body": json.dumps(event, ensure_ascii=False, separators=(",", ":"))}
            st.record({"kind": "event", "event": e})
            e = st.events[e["event_id"]]
        if doc.get("notify", True):
            self.server.start_notify(e)
        self.answer(200, event)

    def replay(self, event_id):
        self.read_json()
        st = self.server.state
        with st.lock:
            e = st.events.get(event_id)
            if e is None or not e["attempts"]:
                raise Refusal(404, "NOT_FOUND", "no such event sent")
            a = e["attempts"][-1]
        status, error = self.server.post(e["notify_url"], e["body"].encode(), a["ts"],
                                         a["nonce"], a["signature"])
        log("callback replayed", event_id=event_id, status=status, error=error)
        self.answer(200, {"status": status, "error": error})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", required=True, help="HOST:PORT (loopback)")
    ap.add_argument("--key-file", required=True, help="the shared partner key")
    ap.add_argument("--state", required=True, help="JSON-lines journal")
    ap.add_argument("--pid-file")
    ap.add_argument("--retry-delays", default="0.5,1,2,4,8")
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not port.isdigit():
        ap.error("--listen must be a loopback HOST:PORT")
    args.retry_delays = [float(d) for d in args.retry_delays.split(",") if d.strip()]
    with open(args.key_file, encoding="utf-8") as f:
        args.key = f.read().strip()
    if len(args.key) < 16:
        ap.error(f"{args.key_file} holds no key of 16 characters or more")
    state = State(args.state)
    server = Courier((host, int(port)), args, state)

    def ready():
        log(f"listening on {args.listen}, {len(state.waybills)} waybill(s) on record")
        with state.lock:
            pending = [e for e in state.events.values() if not e["done"]]
        for e in pending:
            server.start_notify(e)

    def close():
        with state.lock:
            state.journal.close()
    serve(server, args.pid_file, ready, close)
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
