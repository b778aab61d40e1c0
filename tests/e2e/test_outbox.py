"""The SMS outbox: certhall-sms-sender delivering through the fake gateway.

Rows go straight into `outbox` as the owner role, with pg_notify in the same
transaction, the way a handler writes them; what the provider received is read back
from the fake gateway (tests/fakes/sms_gateway.py, $CERTHALL_SMS_GATEWAY_URL). The
sender's contract is in include/certhall/sms.h: retry with backoff (1 s, 2 s, 4 s, …),
`failed` on a permanent refusal, and the outbox message_id as the provider's
idempotency key, so nothing is lost and nothing is sent twice.

Named to sort before test_zz_resilience.py (and it does not stop PostgreSQL: that is
test_zy_outbox_database.py, which sorts after every test that may hold a connection).
Each test that stops, fails or slows a part restores it in a fixture's finally, also
when it fails.
"""

import os
import random
import signal
import time
import uuid
from pathlib import Path

import psycopg2
import psycopg2.extras
import pytest
import requests

from conftest import require_env, wait_until

SIGNATURE = "【四川CA】"
TEMPLATE = "sign_in_code"

# Every phone and text this module sends, for the log check at the end.
SENT_PHONES = []
SENT_TEXTS = []


class Gateway:
    """The fake gateway's test-only API (and its provider API, to act as a sender)."""

    def __init__(self, url):
        self.url = url.rstrip("/")
        self.http = requests.Session()

    def _get(self, path, **params):
        resp = self.http.get(self.url + path, params=params, timeout=5)
        assert resp.status_code == 200, f"GET {path}: {resp.status_code} {resp.text[:200]}"
        return resp.json()

    def messages(self, phone=None, message_id=None):
        params = {k: v for k, v in (("phone", phone), ("message_id", message_id)) if v}
        return self._get("/messages", **params)

    def stats(self):
        return self._get("/stats")

    def control(self, what, doc):
        resp = self.http.post(f"{self.url}/control/{what}", json=doc, timeout=5)
        assert resp.status_code == 200, f"/control/{what}: {resp.status_code} {resp.text[:200]}"

    def send(self, key, doc):
        """POST /v1/messages as the sender would."""
        return self.http.post(self.url + "/v1/messages", json=doc, timeout=5,
                              headers={"Authorization": f"Bearer {key}"})


@pytest.fixture(scope="module")
def gateway():
    g = Gateway(require_env("CERTHALL_SMS_GATEWAY_URL"))
    yield g
    g.http.close()


@pytest.fixture(scope="module")
def db():
    conn = psycopg2.connect(require_env("CERTHALL_DB"))
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture
def gateway_back(stackctl, gateway):
    """Whatever the test did to the gateway, it is up and healthy afterwards."""
    yield
    stackctl.run("sms-gateway-start", check=False)
    gateway.control("fail", {"count": 0})
    gateway.control("delay", {"ms": 0, "count": 0})


@pytest.fixture
def sender_back(stackctl):
    yield
    if stackctl.run("sms-sender-pid", check=False).returncode != 0:
        stackctl.run("sms-sender-start", check=False)


def new_phone():
    return f"139{random.randrange(10**8):08d}"


def new_text():
    code = f"{random.randrange(10**6):06d}"
    return f"{SIGNATURE}您的验证码是{code}，5分钟内有效。请勿向他人泄露。"


def enqueue(db, messages):
    """Inserts outbox rows and notifies in one transaction, as a handler does.

    messages: dicts with recipient and body, optionally template, params, message_id,
    status, attempts, lease_expired. Returns [(id, message_id)].
    """
    out = []
    with db.cursor() as cur:
        cur.execute("BEGIN")
        for m in messages:
            cur.execute(
                "INSERT INTO outbox (channel, recipient, template, params, body, message_id,"
                "                    status, attempts, lease_until)"
                " VALUES ('sms', %s, %s, %s::jsonb, %s, coalesce(%s::uuid, gen_random_uuid()),"
                "         %s, %s, CASE WHEN %s THEN now() - interval '1 second' END)"
                " RETURNING id, message_id::text",
                (m["recipient"], m.get("template", TEMPLATE),
                 psycopg2.extras.Json(m.get("params", {})), m["body"], m.get("message_id"),
                 m.get("status", "pending"), m.get("attempts", 0),
                 bool(m.get("lease_expired"))))
            out.append(cur.fetchone())
            SENT_PHONES.append(m["recipient"])
            SENT_TEXTS.append(m["body"])
        cur.execute("SELECT pg_notify('outbox', '')")
        cur.execute("COMMIT")
    return out


def outbox_row(db, row_id):
    with db.cursor() as cur:
        cur.execute("SELECT status, attempts, last_error, provider_ref, sent_at, message_id::text"
                    "  FROM outbox WHERE id = %s", (row_id,))
        status, attempts, last_error, provider_ref, sent_at, message_id = cur.fetchone()
    return {"status": status, "attempts": attempts, "last_error": last_error,
            "provider_ref": provider_ref, "sent_at": sent_at, "message_id": message_id}


def wait_status(db, row_ids, status, timeout):
    """Waits until every row has status; returns the rows."""
    def check():
        rows = [outbox_row(db, i) for i in row_ids]
        return rows if all(r["status"] == status for r in rows) else None
    return wait_until(check, timeout, interval=0.05, what=f"outbox rows {row_ids} to be {status}")


def sms(phone=None, body=None, **kw):
    return {"recipient": phone or new_phone(), "body": body or new_text(), **kw}


# ---------------------------------------------------------------------------------------

def test_each_message_is_delivered_once_promptly(db, gateway):
    msgs = [sms(params={"code": "123456", "minutes": 5}), sms(), sms(template="review_result")]
    started = time.monotonic()
    rows = enqueue(db, msgs)

    def all_arrived():
        got = [gateway.messages(message_id=mid) for _, mid in rows]
        return got if all(got) else None
    got = wait_until(all_arrived, 3, interval=0.05, what="the gateway to receive 3 messages")
    elapsed = time.monotonic() - started
    assert elapsed <= 3, f"delivery took {elapsed:.2f} s"

    done = wait_status(db, [i for i, _ in rows], "sent", 3)
    for m, (row_id, message_id), received, row in zip(msgs, rows, got, done):
        assert len(received) == 1, f"message {message_id} arrived {len(received)} times"
        r = received[0]
        assert r["phone"] == m["recipient"]
        assert r["text"] == m["body"]
        assert r["template"] == m.get("template", TEMPLATE)
        assert r["params"] == m.get("params", {})
        assert r["sign_name"] == "四川CA"
        assert r["duplicates"] == 0
        assert row["provider_ref"] == r["id"]
        assert row["attempts"] == 1
        assert row["sent_at"] is not None
        assert row["last_error"] is None


def test_gateway_down_messages_wait_and_go_once_it_is_back(db, gateway, stackctl, gateway_back):
    stackctl.run("sms-gateway-stop")
    rows = enqueue(db, [sms() for _ in range(5)])
    ids = [i for i, _ in rows]
    time.sleep(2)
    for row_id in ids:
        row = outbox_row(db, row_id)
        assert row["status"] == "pending", row
        assert row["attempts"] >= 1, row
        assert row["last_error"] and "unreachable" in row["last_error"], row

    stackctl.run("sms-gateway-start")
    # Backoff 1 s, 2 s, 4 s, 8 s…: the gateway was down ~2.5 s, so the 3rd or 4th
    # attempt gets through.
    done = wait_status(db, ids, "sent", 20)
    for (_, message_id), row in zip(rows, done):
        received = gateway.messages(message_id=message_id)
        assert len(received) == 1, f"message {message_id} arrived {len(received)} times"
        assert received[0]["duplicates"] == 0
        assert row["provider_ref"] == received[0]["id"]
        assert row["attempts"] >= 2


@pytest.mark.parametrize("status", [503, 429])
def test_provider_errors_are_retried_until_sent(db, gateway, gateway_back, status):
    before = gateway.stats()
    gateway.control("fail", {"status": status, "count": 2})
    [(row_id, message_id)] = enqueue(db, [sms()])
    [row] = wait_status(db, [row_id], "sent", 15)
    received = gateway.messages(message_id=message_id)
    assert len(received) == 1
    # 3 unless a message of another test took one of the injected failures.
    assert row["attempts"] >= 2, row
    assert f"HTTP {status}" in row["last_error"], row
    assert gateway.stats()["injected_failures"] - before["injected_failures"] == 2


def test_permanent_refusal_fails_the_row_without_retrying(db, gateway):
    before = gateway.stats()
    # The gateway refuses anything but a mainland mobile number with 400.
    [(row_id, message_id)] = enqueue(db, [sms(phone="12345678901")])
    [row] = wait_status(db, [row_id], "failed", 5)
    assert row["attempts"] == 1, row
    assert "HTTP 400" in row["last_error"], row
    time.sleep(2.5)     # past the first two retry slots: nothing more happens
    row = outbox_row(db, row_id)
    assert (row["status"], row["attempts"]) == ("failed", 1), row
    assert gateway.messages(message_id=message_id) == []
    assert gateway.stats()["rejected"] - before["rejected"] == 1


def test_unsigned_body_fails_before_reaching_the_provider(db, gateway):
    [(row_id, message_id)] = enqueue(db, [sms(body="您的验证码是123456")])
    [row] = wait_status(db, [row_id], "failed", 5)
    assert row["attempts"] == 1
    assert SIGNATURE in row["last_error"], row
    assert gateway.messages(message_id=message_id) == []


def test_row_left_sending_by_a_dead_sender_is_resent_and_deduplicated(db, gateway):
    """The provider took the message, then the sender died before marking it sent."""
    key = Path(require_env("CERTHALL_SMS_KEY_FILE")).read_text().strip()
    m = sms()
    message_id = str(uuid.uuid4())
    resp = gateway.send(key, {"message_id": message_id, "phone": m["recipient"],
                              "sign_name": "四川CA", "template": TEMPLATE, "params": {},
                              "text": m["body"]})
    assert resp.status_code == 202, resp.text
    provider_id = resp.json()["id"]
    before = gateway.stats()

    # As the dead sender left it: claimed once, lease run out.
    [(row_id, _)] = enqueue(db, [dict(m, message_id=message_id, status="sending",
                                      attempts=1, lease_expired=True)])
    [row] = wait_status(db, [row_id], "sent", 5)
    assert row["provider_ref"] == provider_id, "the 409's id is recorded as the reference"
    assert row["attempts"] == 2
    received = gateway.messages(message_id=message_id)
    assert len(received) == 1 and received[0]["duplicates"] == 1, received
    after = gateway.stats()
    assert after["accepted"] == before["accepted"], "accepted once, not twice"
    assert after["duplicates"] - before["duplicates"] == 1


def test_sender_killed_mid_send_does_not_send_twice(db, gateway, stackctl, gateway_back,
                                                    sender_back):
    # The gateway records the message at once and answers 3 s later: the sender is
    # killed while it waits, so the message is the provider's but the row says sending.
    gateway.control("delay", {"ms": 3000, "count": 1})
    [(row_id, message_id)] = enqueue(db, [sms()])
    [received] = wait_until(lambda: gateway.messages(message_id=message_id), 3, interval=0.05,
                            what="the gateway to receive the message")
    pid = int(stackctl.run("sms-sender-pid").stdout)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not Path(f"/proc/{pid}").exists(), 5, what="the sender to die")
    row = outbox_row(db, row_id)
    assert (row["status"], row["attempts"]) == ("sending", 1), row

    # Its 60 s lease runs out (made to here rather than waited for), a sender starts.
    with db.cursor() as cur:
        cur.execute("UPDATE outbox SET lease_until = now() - interval '1 second'"
                    " WHERE id = %s", (row_id,))
    stackctl.run("sms-sender-start")
    [row] = wait_status(db, [row_id], "sent", 5)
    assert row["attempts"] == 2
    assert row["provider_ref"] == received["id"]
    [again] = gateway.messages(message_id=message_id)
    assert again["duplicates"] == 1, again


def test_sigterm_finishes_the_message_in_hand_and_exits_0(db, gateway, stackctl, gateway_back,
                                                         sender_back):
    gateway.control("delay", {"ms": 1500, "count": 1})
    [(row_id, message_id)] = enqueue(db, [sms()])
    wait_until(lambda: gateway.messages(message_id=message_id), 3, interval=0.05,
               what="the gateway to receive the message")
    stop = stackctl.run("sms-sender-stop", timeout=30)
    assert stop.stdout.splitlines()[-1] == "0", f"exit status: {stop.stdout!r}"
    row = outbox_row(db, row_id)
    assert row["status"] == "sent", f"the message in hand was finished and recorded: {row}"

    # Stopped: rows wait, untouched, and go out once it is back.
    rows = enqueue(db, [sms(), sms()])
    time.sleep(1)
    for row_id, message_id in rows:
        row = outbox_row(db, row_id)
        assert (row["status"], row["attempts"]) == ("pending", 0), row
        assert gateway.messages(message_id=message_id) == []
    stackctl.run("sms-sender-start")
    wait_status(db, [i for i, _ in rows], "sent", 3)
    for _, message_id in rows:
        assert len(gateway.messages(message_id=message_id)) == 1


def test_sender_log_masks_phones_and_never_shows_bodies(stack_dir):
    log = (Path(stack_dir) / "log" / "sms-sender.log").read_text(encoding="utf-8")
    assert SENT_PHONES, "no messages were sent by this module"
    for phone in SENT_PHONES:
        assert phone not in log, f"phone {phone} appears unmasked in the sender log"
    for text in SENT_TEXTS:
        assert text not in log, "a message body appears in the sender log"
    masked = [p[:3] + "****" + p[-4:] for p in SENT_PHONES]
    assert any(m in log for m in masked), "the sender log names no (masked) recipient"
