#!/usr/bin/python3
"""The sandbox payment gateway: a test double of the outside payment provider (WeChat Pay
v3 style) that certhall-api and certhall-payd talk to, on loopback only.

It speaks the protocol of docs/CONTRACT.md ("Payment gateway protocol"); src/paygw.c is
the client. Python 3 standard library, and python3-cryptography (Debian) for the RSA
signatures.

  /usr/bin/python3 tests/fakes/pay_gateway.py --listen 127.0.0.1:PORT \\
      --merchant-id ID --merchant-key-file FILE --key-file gateway.key \\
      --state FILE [--pid-file FILE] [--retry-delays 0.5,1,2,4,8,16,32,64,128]

Merchant API (Authorization: Bearer <merchant key>, X-Merchant-Id: <merchant id>; 401
{"code": "SIGN_ERROR"} otherwise). Errors are {"code", "message"}.
  POST /v3/orders {"out_trade_no", "description", "amount": {"total", "currency": "CNY"},
                   "notify_url", "time_expire"}
      201 {"prepay_id", "pay_url"}; 200 the same for the same out_trade_no and content;
      409 ORDER_MISMATCH for the same out_trade_no with other content; 400 INVALID_REQUEST
  GET  /v3/orders/{out_trade_no}
      200 {"out_trade_no", "trade_state": NOTPAY|SUCCESS|CLOSED|REFUND, "transaction_id"?,
           "amount": {"total", "currency"}, "success_time"?}; 404 ORDER_NOT_EXIST
  POST /v3/orders/{out_trade_no}/close   204 (again: 204); 409 ORDERPAID; 404
  POST /v3/refunds {"out_refund_no", "transaction_id",
                    "amount": {"refund", "total", "currency"}, "reason"}
      200 {"refund_id", "status": SUCCESS|PROCESSING}, idempotent on out_refund_no (the same
      number again answers the refund it made); full refunds only (400 INVALID_REQUEST), one
      refund per transaction (400 ALREADY_REFUNDED for another number), 404
      RESOURCE_NOT_EXISTS for an unknown transaction
  GET  /v3/refunds/{out_refund_no}   200 {"refund_id", "status": SUCCESS|PROCESSING|ABNORMAL}

The payer (a browser, the SPA, a test, or curl):
  GET  {pay_url}    the order as a small HTML page (JSON with Accept: application/json)
  POST {pay_url}    pays it; optional JSON body as for /sandbox/orders/{n}/pay below.
      The page's form posts (application/x-www-form-urlencoded, no options); when the
      merchant appended redirect_url=<http(s) URL> to the pay_url (as WeChat Pay H5 does)
      a paid form post answers 303 to it, sending the payer back to the merchant.
      200 {"out_trade_no", "transaction_id", "trade_state": "SUCCESS", "success_time",
           "notify"}; 409 ORDER_CLOSED / ORDER_EXPIRED / ORDERPAID; 404
  After a payment the gateway POSTs the notification to the order's notify_url, signed
  with --key-file (X-Pay-Timestamp, X-Pay-Nonce, X-Pay-Signature = base64 RSA-SHA256
  PKCS#1 v1.5 over "timestamp\\nnonce\\nbody\\n", X-Pay-Serial), in a thread of its own, and
  sends it again after each --retry-delays delay while the answer is not 2xx (a new
  timestamp, nonce and signature each time, the same body).

Test knobs (loopback only, like everything here; never a real provider's API):
  POST /sandbox/orders/{out_trade_no}/pay {"notify": true, "allow_expired": false,
       "transaction_id": null}: pay it; notify false = a lost notification; allow_expired
       pays an order past its time_expire or closed (the payer who was already paying);
       transaction_id names the payment, and on an order already paid makes a second,
       different payment of it (a duplicate payment)
  GET  /sandbox/orders/{out_trade_no}        the order as kept here, with its payments
  GET  /sandbox/notifications[?out_trade_no=]  every notification, oldest first, with
       each attempt (at, status or error) and whether it was acknowledged or given up
  POST /sandbox/notifications/{id}/resend    sends that notification once more (a replay)
  GET  /sandbox/refunds[?out_trade_no=&transaction_id=&out_refund_no=]  refunds made,
       oldest first, with "requests": how many POST /v3/refunds named the number
  POST /sandbox/fail {"status": 503, "count": N, "path": "/v3/refunds"}  the next N
       merchant API requests (those whose path starts with "path", if given) get that
       status without being looked at ({"count": 0} clears)
  POST /sandbox/refund-mode {"processing_s": 1.5, "outcome": "SUCCESS"|"ABNORMAL"}  new
       refunds stay PROCESSING that long, then take outcome (default 0 s, SUCCESS)

State: orders, payments, refunds and notifications are kept in memory and journalled to
--state (JSON lines, fsynced), so a restarted gateway (stackctl pay-gateway-stop/-start)
keeps them, still answers idempotently, and resumes the retries of notifications not yet
acknowledged. The knobs (fail, refund-mode) are not journalled: a restart clears them.
SIGTERM/SIGINT: stops and exits 0.
"""

import argparse
import base64
import hashlib
import hmac
import html
import http.client
import json
import re
import secrets
import socket
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from fakelib import Journal, serve

SHANGHAI = timezone(timedelta(hours=8))
ID = re.compile(r"[A-Za-z0-9_-]{6,32}")
MAX_BODY = 64 * 1024
DEFAULT_DELAYS = "0.5,1,2,4,8,16,32,64,128"   # 10 tries in all
NOTIFY_TIMEOUT = 5


def now_iso():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def shanghai(ts=None):
    """RFC 3339 in +08:00, whole seconds (as WeChat Pay writes its times)."""
    t = datetime.fromtimestamp(time.time() if ts is None else ts, SHANGHAI)
    return t.isoformat(timespec="seconds")


def parse_time(s):
    """Unix seconds of an RFC 3339 date-time, or None."""
    if not isinstance(s, str) or not re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)", s):
        return None
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def return_url(query):
    """The payer's way back: the pay URL's redirect_url (appended by the merchant, as
    WeChat Pay H5 does), an absolute http(s) URL, or None; Refusal when malformed."""
    v = query.get("redirect_url")
    if v is None:
        return None
    if not re.fullmatch(r"https?://[^\s\\]+", v):
        raise Refusal(400, "INVALID_REQUEST", "redirect_url must be an http(s) URL")
    return v


def log(msg, **kw):
    sys.stderr.write(json.dumps({"ts": now_iso(), "prog": "pay-gateway", "msg": msg, **kw},
                                ensure_ascii=False) + "\n")
    sys.stderr.flush()


class Refusal(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class State:
    """Everything the gateway knows; the journal replays it after a restart."""

    def __init__(self, path):
        self.lock = threading.RLock()
        self.orders = {}            # out_trade_no -> order dict
        self.by_prepay = {}         # prepay_id -> out_trade_no
        self.txns = {}              # transaction_id -> payment dict
        self.refunds = {}           # out_refund_no -> refund dict
        self.refund_order = []      # out_refund_no, oldest first
        self.notifications = {}     # id -> notification dict
        self.notification_order = []
        self.fail_status, self.fail_count, self.fail_path = 503, 0, "/"
        self.refund_processing_s, self.refund_outcome = 0.0, "SUCCESS"
        self.journal = Journal(path, self._apply)

    def _apply(self, rec):
        kind = rec["kind"]
        if kind == "order":
            order = {k: rec[k] for k in ("out_trade_no", "description", "total", "currency",
                                         "notify_url", "time_expire", "prepay_id",
                                         "created_at")}
            order.update(closed_at=None, payments=[])
            self.orders[order["out_trade_no"]] = order
            self.by_prepay[order["prepay_id"]] = order["out_trade_no"]
        elif kind == "close":
            self.orders[rec["out_trade_no"]]["closed_at"] = rec["at"]
        elif kind == "pay":
            pay = {k: rec[k] for k in ("transaction_id", "out_trade_no", "total",
                                       "success_time", "late")}
            self.txns[pay["transaction_id"]] = pay
            self.orders[pay["out_trade_no"]]["payments"].append(pay["transaction_id"])
        elif kind == "refund":
            ref = {k: rec[k] for k in ("out_refund_no", "refund_id", "transaction_id",
                                       "out_trade_no", "amount", "reason", "created_at",
                                       "ready_at", "outcome")}
            ref["requests"] = 1
            self.refunds[ref["out_refund_no"]] = ref
            self.refund_order.append(ref["out_refund_no"])
        elif kind == "refund_request":
            self.refunds[rec["out_refund_no"]]["requests"] += 1
        elif kind == "notification":
            n = {k: rec[k] for k in ("id", "out_trade_no", "transaction_id", "notify_url",
                                     "body", "created_at")}
            n.update(attempts=[], acknowledged=False, given_up=False, resends=0)
            self.notifications[n["id"]] = n
            self.notification_order.append(n["id"])
        elif kind == "attempt":
            n = self.notifications[rec["id"]]
            n["attempts"].append({k: rec.get(k) for k in ("at", "status", "error", "resend")})
            if rec.get("status") is not None and 200 <= rec["status"] <= 299:
                n["acknowledged"] = True
        elif kind == "given_up":
            self.notifications[rec["id"]]["given_up"] = True

    def record(self, rec):
        """Journals rec and applies it (caller holds the lock).  After the journal is
        closed (shutdown) nothing more is recorded: a notification thread that finishes
        then is resumed from the journal by the next start."""
        if self.journal.write(rec):
            self._apply(rec)

    # -- views -------------------------------------------------------------------
    def order(self, out_trade_no):
        """The order, or Refusal 404 (caller holds the lock)."""
        order = self.orders.get(out_trade_no)
        if order is None:
            raise Refusal(404, "ORDER_NOT_EXIST", "no such order")
        return order

    def refund(self, out_refund_no):
        """The refund, or Refusal 404 (caller holds the lock)."""
        ref = self.refunds.get(out_refund_no)
        if ref is None:
            raise Refusal(404, "RESOURCE_NOT_EXISTS", "no such refund")
        return ref

    def trade_state(self, order):
        if order["payments"]:
            first = order["payments"][0]
            refunded = any(r["transaction_id"] == first for r in self.refunds.values())
            return "REFUND" if refunded else "SUCCESS"
        return "CLOSED" if order["closed_at"] else "NOTPAY"

    def refund_status(self, ref):
        if time.time() < ref["ready_at"]:
            return "PROCESSING"
        return ref["outcome"]


class Gateway(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, args, state, private_key, serial):
        self.merchant_id = args.merchant_id
        self.merchant_key = args.merchant_key
        self.delays = args.retry_delays
        self.state = state
        self.private_key = private_key
        self.serial = serial
        self.base_url = f"http://{address[0]}:{address[1]}"
        super().__init__(address, Handler)

    # -- notifications -------------------------------------------------------------
    def sign(self, body):
        """(timestamp, nonce, base64 signature) for body (bytes)."""
        ts = str(int(time.time()))
        nonce = secrets.token_hex(16)
        msg = ts.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"
        sig = self.private_key.sign(msg, padding.PKCS1v15(), hashes.SHA256())
        return ts, nonce, base64.b64encode(sig).decode("ascii")

    def deliver(self, n, resend=False):
        """One attempt; journals it and returns whether it was acknowledged (2xx)."""
        body = n["body"].encode("utf-8")
        ts, nonce, sig = self.sign(body)
        url = urlsplit(n["notify_url"])
        status, error = None, None
        try:
            conn_cls = http.client.HTTPSConnection if url.scheme == "https" \
                else http.client.HTTPConnection
            conn = conn_cls(url.hostname, url.port, timeout=NOTIFY_TIMEOUT)
            path = url.path + ("?" + url.query if url.query else "")
            conn.request("POST", path or "/", body=body, headers={
                "Content-Type": "application/json", "X-Pay-Timestamp": ts,
                "X-Pay-Nonce": nonce, "X-Pay-Signature": sig, "X-Pay-Serial": self.serial,
                "User-Agent": "certhall-pay-sandbox/1"})
            resp = conn.getresponse()
            resp.read()
            status = resp.status
            conn.close()
        except (OSError, http.client.HTTPException) as e:
            error = f"{type(e).__name__}: {e}"[:200]
        with self.state.lock:
            self.state.record({"kind": "attempt", "id": n["id"], "at": now_iso(),
                               "status": status, "error": error, "resend": resend})
        log("notification sent", id=n["id"], out_trade_no=n["out_trade_no"],
            status=status, error=error, resend=resend)
        return status is not None and 200 <= status <= 299

    def notify_loop(self, n):
        """Sends n until acknowledged, waiting the retry delays between tries."""
        done = len(n["attempts"])
        delays = [0.0] + self.delays
        for i in range(done, len(delays)):
            if i > 0:
                time.sleep(delays[i])
            if self.deliver(n):
                return
        with self.state.lock:
            self.state.record({"kind": "given_up", "id": n["id"]})
        log("notification given up", id=n["id"], tries=len(delays))

    def start_notify(self, n):
        threading.Thread(target=self.notify_loop, args=(n,), daemon=True).start()

    def resume_notifications(self):
        with self.state.lock:
            pending = [n for n in self.state.notifications.values()
                       if not n["acknowledged"] and not n["given_up"]]
        for n in pending:
            log("resuming notification", id=n["id"], attempts=len(n["attempts"]))
            self.start_notify(n)

    # -- paying ---------------------------------------------------------------------
    def pay(self, out_trade_no, opts):
        """Pays the order (opts: notify, allow_expired, transaction_id); the answer doc."""
        notify = opts.get("notify", True)
        allow_expired = opts.get("allow_expired", False)
        txn_id = opts.get("transaction_id")
        if not isinstance(notify, bool) or not isinstance(allow_expired, bool) or (
                txn_id is not None and (not isinstance(txn_id, str)
                                        or not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", txn_id))):
            raise Refusal(400, "INVALID_REQUEST",
                          "want {notify: bool, allow_expired: bool, transaction_id: 1-32 of "
                          "[A-Za-z0-9_-]}")
        unknown = set(opts) - {"notify", "allow_expired", "transaction_id"}
        if unknown:
            raise Refusal(400, "INVALID_REQUEST", f"unknown option(s) {sorted(unknown)}")
        state = self.state
        with state.lock:
            order = state.order(out_trade_no)
            late = False
            if order["payments"] and txn_id is None:
                raise Refusal(409, "ORDERPAID", "the order is paid")
            if not order["payments"]:
                if order["closed_at"]:
                    if not allow_expired:
                        raise Refusal(409, "ORDER_CLOSED", "the order is closed")
                    late = True
                if time.time() > parse_time(order["time_expire"]):
                    if not allow_expired:
                        raise Refusal(409, "ORDER_EXPIRED", "the order has expired")
                    late = True
            txn_id = txn_id or ("42" + datetime.now(SHANGHAI).strftime("%Y%m%d")
                                + "".join(secrets.choice("0123456789") for _ in range(18)))
            if txn_id in state.txns:
                raise Refusal(409, "DUPLICATE_TRANSACTION", "that transaction_id is taken")
            success_time = shanghai()
            state.record({"kind": "pay", "transaction_id": txn_id,
                          "out_trade_no": out_trade_no, "total": order["total"],
                          "success_time": success_time, "late": late})
            n = None
            if notify:
                body = json.dumps({
                    "id": str(uuid.uuid4()), "create_time": shanghai(),
                    "event_type": "TRANSACTION.SUCCESS",
                    "resource": {"out_trade_no": out_trade_no, "transaction_id": txn_id,
                                 "trade_state": "SUCCESS", "success_time": success_time,
                                 "amount": {"total": order["total"],
                                            "currency": order["currency"]}}},
                    ensure_ascii=False, separators=(",", ":"))
                nid = json.loads(body)["id"]
                state.record({"kind": "notification", "id": nid, "out_trade_no": out_trade_no,
                              "transaction_id": txn_id, "notify_url": order["notify_url"],
                              "body": body, "created_at": now_iso()})
                n = state.notifications[nid]
        log("paid", out_trade_no=out_trade_no, transaction_id=txn_id, late=late, notify=notify)
        if n is not None:
            self.start_notify(n)
        return {"out_trade_no": out_trade_no, "transaction_id": txn_id,
                "trade_state": "SUCCESS", "success_time": success_time, "notify": notify}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "certhall-pay-sandbox/1"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        pass

    def log_request(self, code="-", size="-"):
        log("request", method=self.command, path=urlsplit(self.path).path,
            status=int(code) if str(code).isdigit() else code)

    # -- plumbing --------------------------------------------------------------------
    def answer(self, status, doc=None, ctype="application/json; charset=utf-8", raw=None):
        body = raw if raw is not None else (
            b"" if doc is None else json.dumps(doc, ensure_ascii=False).encode("utf-8"))
        self.send_response(status)
        if body or status != 204:
            self.send_header("Content-Type", ctype)
        if status != 204:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 204:
            self.wfile.write(body)

    def refuse(self, r):
        self.answer(r.status, {"code": r.code, "message": r.message})

    def read_body(self):
        """The raw request body (b"" when there is none), read once (a kept-alive
        connection needs it gone whatever the answer); Refusal when too large."""
        if self.body is not None:
            return self.body
        length = self.headers.get("Content-Length") or "0"
        if not length.isdigit():
            self.close_connection = True
            raise Refusal(411, "INVALID_REQUEST", "length required")
        if int(length) > MAX_BODY:
            self.close_connection = True
            raise Refusal(413, "INVALID_REQUEST", "body too large")
        self.body = self.rfile.read(int(length))
        return self.body

    def read_json(self, optional=False):
        raw = self.read_body()
        if not raw and optional:
            return {}
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise Refusal(415, "INVALID_REQUEST", "content type must be application/json")

        def no_dupes(pairs):
            keys = [k for k, _ in pairs]
            if len(keys) != len(set(keys)):
                raise ValueError("duplicate key")
            return dict(pairs)
        try:
            doc = json.loads(raw.decode("utf-8"), object_pairs_hook=no_dupes)
        except (ValueError, UnicodeDecodeError):
            raise Refusal(400, "INVALID_REQUEST", "malformed json")
        if not isinstance(doc, dict):
            raise Refusal(400, "INVALID_REQUEST", "body must be a JSON object")
        return doc

    def merchant(self):
        """Refusal unless the request carries our merchant's credentials; injected failures."""
        gw = self.server
        with gw.state.lock:
            if gw.state.fail_count > 0 and urlsplit(self.path).path.startswith(
                    gw.state.fail_path):
                gw.state.fail_count -= 1
                raise Refusal(gw.state.fail_status, "SYSTEM_ERROR", "injected failure")
        auth = (self.headers.get("Authorization") or "").encode("utf-8", "replace")
        mid = (self.headers.get("X-Merchant-Id") or "").encode("utf-8", "replace")
        ok_key = hmac.compare_digest(auth, ("Bearer " + gw.merchant_key).encode())
        ok_id = hmac.compare_digest(mid, gw.merchant_id.encode())
        if not (ok_key and ok_id):
            raise Refusal(401, "SIGN_ERROR", "merchant credentials refused")

    def route(self, method):
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.body = None
        try:
            handler, args = self.match(method, parts)
            if handler is None:
                self.read_body()
                raise Refusal(404, "NOT_FOUND", "no such resource")
            handler(*args, query=query)
        except Refusal as r:
            if not self.close_connection:
                try:
                    self.read_body()
                except Refusal:
                    pass
            self.refuse(r)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def match(self, method, p):
        table = {
            ("POST", ("v3", "orders")): self.create_order,
            ("GET", ("v3", "orders", "*")): self.query_order,
            ("POST", ("v3", "orders", "*", "close")): self.close_order,
            ("POST", ("v3", "refunds")): self.create_refund,
            ("GET", ("v3", "refunds", "*")): self.query_refund,
            ("GET", ("pay", "*")): self.pay_page,
            ("POST", ("pay", "*")): self.pay_by_url,
            ("POST", ("sandbox", "orders", "*", "pay")): self.sandbox_pay,
            ("GET", ("sandbox", "orders", "*")): self.sandbox_order,
            ("GET", ("sandbox", "notifications")): self.sandbox_notifications,
            ("POST", ("sandbox", "notifications", "*", "resend")): self.sandbox_resend,
            ("GET", ("sandbox", "refunds")): self.sandbox_refunds,
            ("POST", ("sandbox", "fail")): self.sandbox_fail,
            ("POST", ("sandbox", "refund-mode")): self.sandbox_refund_mode,
        }
        for (m, shape), fn in table.items():
            if m == method and len(shape) == len(p) and all(
                    s == "*" or s == x for s, x in zip(shape, p)):
                return fn, [x for s, x in zip(shape, p) if s == "*"]
        return None, []

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    # -- merchant API ---------------------------------------------------------------
    def create_order(self, query):
        self.merchant()
        doc = self.read_json()
        if set(doc) != {"out_trade_no", "description", "amount", "notify_url", "time_expire"}:
            raise Refusal(400, "INVALID_REQUEST", "fields must be exactly out_trade_no, "
                          "description, amount, notify_url, time_expire")
        amount = doc["amount"]
        if not isinstance(amount, dict) or set(amount) != {"total", "currency"}:
            raise Refusal(400, "INVALID_REQUEST", "amount must be {total, currency}")
        if not isinstance(doc["out_trade_no"], str) or not ID.fullmatch(doc["out_trade_no"]):
            raise Refusal(400, "INVALID_REQUEST", "out_trade_no must be 6-32 of [A-Za-z0-9_-]")
        if not is_int(amount["total"]) or amount["total"] <= 0:
            raise Refusal(400, "INVALID_REQUEST", "amount.total must be a positive integer")
        if amount["currency"] != "CNY":
            raise Refusal(400, "INVALID_REQUEST", "currency must be CNY")
        if not isinstance(doc["description"], str) or not 1 <= len(doc["description"]) <= 127:
            raise Refusal(400, "INVALID_REQUEST", "description must be 1-127 characters")
        if not isinstance(doc["notify_url"], str) or not re.fullmatch(
                r"https?://[^\s]+", doc["notify_url"]):
            raise Refusal(400, "INVALID_REQUEST", "notify_url must be an http(s) URL")
        if parse_time(doc["time_expire"]) is None:
            raise Refusal(400, "INVALID_REQUEST", "time_expire must be RFC 3339")
        content = {"out_trade_no": doc["out_trade_no"], "description": doc["description"],
                   "total": amount["total"], "currency": "CNY",
                   "notify_url": doc["notify_url"], "time_expire": doc["time_expire"]}
        state = self.server.state
        with state.lock:
            order = state.orders.get(doc["out_trade_no"])
            if order is not None:
                if any(order[k] != v for k, v in content.items()):
                    raise Refusal(409, "ORDER_MISMATCH",
                                  "out_trade_no exists with other content")
                status = 200
            else:
                prepay = "wx" + secrets.token_hex(14)
                state.record({"kind": "order", **content, "prepay_id": prepay,
                              "created_at": now_iso()})
                order = state.orders[doc["out_trade_no"]]
                status = 201
        self.answer(status, {"prepay_id": order["prepay_id"],
                             "pay_url": f"{self.server.base_url}/pay/{order['prepay_id']}"})

    def query_order(self, out_trade_no, query):
        self.merchant()
        state = self.server.state
        with state.lock:
            order = state.order(out_trade_no)
            doc = {"out_trade_no": out_trade_no, "trade_state": state.trade_state(order),
                   "amount": {"total": order["total"], "currency": order["currency"]}}
            if order["payments"]:
                first = state.txns[order["payments"][0]]
                doc.update(transaction_id=first["transaction_id"],
                           success_time=first["success_time"])
        self.answer(200, doc)

    def close_order(self, out_trade_no, query):
        self.merchant()
        self.read_body()
        state = self.server.state
        with state.lock:
            order = state.order(out_trade_no)
            if order["payments"]:
                raise Refusal(409, "ORDERPAID", "the order is paid")
            if not order["closed_at"]:
                state.record({"kind": "close", "out_trade_no": out_trade_no, "at": now_iso()})
        log("closed", out_trade_no=out_trade_no)
        self.answer(204)

    def create_refund(self, query):
        self.merchant()
        doc = self.read_json()
        if set(doc) != {"out_refund_no", "transaction_id", "amount", "reason"}:
            raise Refusal(400, "INVALID_REQUEST", "fields must be exactly out_refund_no, "
                          "transaction_id, amount, reason")
        amount = doc["amount"]
        if not isinstance(amount, dict) or set(amount) != {"refund", "total", "currency"}:
            raise Refusal(400, "INVALID_REQUEST", "amount must be {refund, total, currency}")
        if not isinstance(doc["out_refund_no"], str) or not ID.fullmatch(doc["out_refund_no"]):
            raise Refusal(400, "INVALID_REQUEST", "out_refund_no must be 6-32 of [A-Za-z0-9_-]")
        if not isinstance(doc["reason"], str) or len(doc["reason"]) > 80:
            raise Refusal(400, "INVALID_REQUEST", "reason must be at most 80 characters")
        state = self.server.state
        with state.lock:
            ref = state.refunds.get(doc["out_refund_no"])
            if ref is not None:
                if ref["transaction_id"] != doc["transaction_id"]:
                    raise Refusal(409, "REFUND_MISMATCH",
                                  "out_refund_no exists for another transaction")
                state.record({"kind": "refund_request", "out_refund_no": ref["out_refund_no"]})
                self.answer(200, {"refund_id": ref["refund_id"],
                                  "status": state.refund_status(ref)})
                return
            txn = state.txns.get(doc["transaction_id"])
            if txn is None:
                raise Refusal(404, "RESOURCE_NOT_EXISTS", "no such transaction")
            if not (is_int(amount["refund"]) and is_int(amount["total"])
                    and amount["refund"] == amount["total"] == txn["total"]
                    and amount["currency"] == "CNY"):
                raise Refusal(400, "INVALID_REQUEST",
                              "full refunds only: refund = total = the amount paid, CNY")
            if any(r["transaction_id"] == txn["transaction_id"] for r in state.refunds.values()):
                raise Refusal(400, "ALREADY_REFUNDED", "that transaction is refunded")
            now = time.time()
            state.record({"kind": "refund", "out_refund_no": doc["out_refund_no"],
                          "refund_id": "50" + secrets.token_hex(12),
                          "transaction_id": txn["transaction_id"],
                          "out_trade_no": txn["out_trade_no"], "amount": txn["total"],
                          "reason": doc["reason"], "created_at": now_iso(),
                          "ready_at": now + state.refund_processing_s,
                          "outcome": state.refund_outcome})
            ref = state.refunds[doc["out_refund_no"]]
            status = state.refund_status(ref)
        log("refund", out_refund_no=ref["out_refund_no"], transaction_id=ref["transaction_id"],
            status=status)
        self.answer(200, {"refund_id": ref["refund_id"], "status": status})

    def query_refund(self, out_refund_no, query):
        self.merchant()
        state = self.server.state
        with state.lock:
            ref = state.refund(out_refund_no)
            self.answer(200, {"refund_id": ref["refund_id"], "status": state.refund_status(ref)})

    # -- the payer ------------------------------------------------------------------
    def order_by_prepay(self, prepay_id):
        state = self.server.state
        with state.lock:
            otn = state.by_prepay.get(prepay_id)
            if otn is None:
                raise Refusal(404, "ORDER_NOT_EXIST", "no such order")
            order = state.orders[otn]
            return otn, {"out_trade_no": otn, "description": order["description"],
                         "amount": {"total": order["total"], "currency": order["currency"]},
                         "trade_state": state.trade_state(order),
                         "time_expire": order["time_expire"],
                         "expired": time.time() > parse_time(order["time_expire"])}

    def pay_page(self, prepay_id, query):
        _, doc = self.order_by_prepay(prepay_id)
        if "application/json" in (self.headers.get("Accept") or ""):
            self.answer(200, doc)
            return
        e = html.escape
        page = (
            "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\">"
            f"<title>沙箱支付 {e(doc['out_trade_no'])}</title>"
            # No icon: a browser would otherwise ask for /favicon.ico and get a 404.
            "<link rel=\"icon\" href=\"data:,\">"
            "<h1>沙箱支付（测试环境，不产生真实扣款）</h1><dl>"
            f"<dt>商户订单号</dt><dd>{e(doc['out_trade_no'])}</dd>"
            f"<dt>商品</dt><dd>{e(doc['description'])}</dd>"
            f"<dt>金额</dt><dd>{doc['amount']['total'] / 100:.2f} 元</dd>"
            f"<dt>状态</dt><dd>{e(doc['trade_state'])}"
            f"{'（已过期）' if doc['expired'] else ''}</dd>"
            f"<dt>有效期至</dt><dd>{e(doc['time_expire'])}</dd></dl>"
            "<form method=\"post\"><button>确认支付</button></form></html>")
        self.answer(200, raw=page.encode("utf-8"), ctype="text/html; charset=utf-8")

    def pay_by_url(self, prepay_id, query):
        otn, _ = self.order_by_prepay(prepay_id)
        back = return_url(query)
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype == "application/x-www-form-urlencoded":
            # The page's own form (a browser): no options, and back to the merchant's
            # redirect_url when it gave one, as an H5 payment returns its payer.
            self.read_body()
            result = self.server.pay(otn, {})
            if back is not None:
                self.send_response(303)
                self.send_header("Location", back)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.answer(200, result)
            return
        opts = self.read_json(optional=True)
        self.answer(200, self.server.pay(otn, opts))

    # -- test knobs -----------------------------------------------------------------
    def sandbox_pay(self, out_trade_no, query):
        opts = self.read_json(optional=True)
        self.answer(200, self.server.pay(out_trade_no, opts))

    def sandbox_order(self, out_trade_no, query):
        state = self.server.state
        with state.lock:
            order = state.order(out_trade_no)
            doc = dict(order, trade_state=state.trade_state(order),
                       payments=[dict(state.txns[t]) for t in order["payments"]])
        self.answer(200, doc)

    def sandbox_notifications(self, query):
        state = self.server.state
        with state.lock:
            out = []
            for nid in state.notification_order:
                n = state.notifications[nid]
                if query.get("out_trade_no") not in (None, n["out_trade_no"]):
                    continue
                out.append({"id": n["id"], "out_trade_no": n["out_trade_no"],
                            "transaction_id": n["transaction_id"],
                            "notify_url": n["notify_url"], "created_at": n["created_at"],
                            "attempts": [dict(a) for a in n["attempts"]],
                            "acknowledged": n["acknowledged"], "given_up": n["given_up"],
                            "body": json.loads(n["body"])})
        self.answer(200, out)

    def sandbox_resend(self, nid, query):
        self.read_body()
        state = self.server.state
        with state.lock:
            n = state.notifications.get(nid)
        if n is None:
            raise Refusal(404, "NOT_FOUND", "no such notification")
        ok = self.server.deliver(n, resend=True)
        with state.lock:
            last = dict(n["attempts"][-1])
        self.answer(200, {"id": nid, "acknowledged": ok, "attempt": last})

    def sandbox_refunds(self, query):
        state = self.server.state
        with state.lock:
            out = []
            for rno in state.refund_order:
                r = state.refunds[rno]
                if any(query.get(k) not in (None, r[k])
                       for k in ("out_trade_no", "transaction_id", "out_refund_no")):
                    continue
                out.append({k: r[k] for k in ("out_refund_no", "refund_id", "transaction_id",
                                              "out_trade_no", "amount", "reason",
                                              "created_at", "requests")}
                           | {"status": state.refund_status(r)})
        self.answer(200, out)

    def sandbox_fail(self, query):
        doc = self.read_json()
        status, count, path = doc.get("status", 503), doc.get("count"), doc.get("path", "/")
        if (not is_int(count) or count < 0 or not is_int(status) or not 400 <= status <= 599
                or not isinstance(path, str) or not path.startswith("/")):
            raise Refusal(400, "INVALID_REQUEST", "want {\"status\": 400..599, \"count\": "
                          "n >= 0, \"path\": \"/v3/...\"}")
        state = self.server.state
        with state.lock:
            state.fail_status, state.fail_count, state.fail_path = status, count, path
        self.answer(200, {"status": status, "count": count, "path": path})

    def sandbox_refund_mode(self, query):
        doc = self.read_json()
        secs, outcome = doc.get("processing_s", 0), doc.get("outcome", "SUCCESS")
        if (not isinstance(secs, (int, float)) or isinstance(secs, bool) or not 0 <= secs <= 600
                or outcome not in ("SUCCESS", "ABNORMAL")):
            raise Refusal(400, "INVALID_REQUEST", "want {\"processing_s\": 0..600, "
                          "\"outcome\": \"SUCCESS\"|\"ABNORMAL\"}")
        state = self.server.state
        with state.lock:
            state.refund_processing_s, state.refund_outcome = float(secs), outcome
        self.answer(200, {"processing_s": secs, "outcome": outcome})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", required=True, help="HOST:PORT (loopback)")
    ap.add_argument("--merchant-id", required=True)
    ap.add_argument("--merchant-key-file", required=True)
    ap.add_argument("--key-file", required=True, help="the gateway's RSA private key (PEM)")
    ap.add_argument("--state", required=True, help="JSON-lines journal")
    ap.add_argument("--pid-file")
    ap.add_argument("--retry-delays", default=DEFAULT_DELAYS,
                    help="seconds between notification tries, comma-separated "
                         f"(default {DEFAULT_DELAYS})")
    args = ap.parse_args()

    host, _, port = args.listen.rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not port.isdigit():
        ap.error("--listen must be a loopback HOST:PORT")
    try:
        args.retry_delays = [float(d) for d in args.retry_delays.split(",") if d.strip()]
    except ValueError:
        ap.error("--retry-delays must be numbers separated by commas")
    if any(d < 0 or d > 3600 for d in args.retry_delays):
        ap.error("--retry-delays must each be 0..3600 seconds")
    with open(args.merchant_key_file, encoding="utf-8") as f:
        args.merchant_key = f.read().strip()
    if not args.merchant_key:
        ap.error(f"{args.merchant_key_file} is empty")
    with open(args.key_file, "rb") as f:
        private_key = serialization.load_pem_private_key(f.read(), password=None)
    spki = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    serial = hashlib.sha256(spki).hexdigest()[:16].upper()

    state = State(args.state)
    server = Gateway((host, int(port)), args, state, private_key, serial)

    def ready():
        log(f"listening on {args.listen}, key serial {serial}, {len(state.orders)} order(s) "
            f"and {len(state.refunds)} refund(s) on record")
        server.resume_notifications()

    def close():
        with state.lock:
            state.journal.close()
    serve(server, args.pid_file, ready, close)
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
