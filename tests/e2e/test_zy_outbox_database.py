"""The SMS sender across a PostgreSQL restart.

Named to sort after the other suites (a restart breaks any connection a test holds) and
before test_zz_resilience.py. PostgreSQL is started again whatever happens.
"""

import random

import psycopg2
import pytest
import requests

from conftest import require_env, wait_until


@pytest.fixture
def pg_back(stackctl):
    yield
    stackctl.run("pg-start", check=False)


def test_sender_reconnects_after_a_database_restart(stackctl, pg_back):
    stackctl.run("pg-stop")
    stackctl.run("pg-start")
    phone = f"139{random.randrange(10**8):08d}"
    conn = psycopg2.connect(require_env("CERTHALL_DB"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("INSERT INTO outbox (channel, recipient, template, body)"
                        " VALUES ('sms', %s, 'test', '【四川CA】数据库重启后的测试短信。')"
                        " RETURNING id, message_id::text", (phone,))
            row_id, message_id = cur.fetchone()
            cur.execute("SELECT pg_notify('outbox', '')")
            cur.execute("COMMIT")

        def sent():
            with conn.cursor() as cur:
                cur.execute("SELECT status FROM outbox WHERE id = %s", (row_id,))
                return cur.fetchone()[0] == "sent"
        # The sender retries its connection with a back-off of at most 5 s.
        wait_until(sent, 15, what="the row to be sent after the restart")
    finally:
        conn.close()
    url = require_env("CERTHALL_SMS_GATEWAY_URL")
    got = requests.get(f"{url}/messages", params={"message_id": message_id}, timeout=5).json()
    assert len(got) == 1 and got[0]["phone"] == phone, got
    assert stackctl.run("sms-sender-pid", check=False).returncode == 0, "the sender kept running"
