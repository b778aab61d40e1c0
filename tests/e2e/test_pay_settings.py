"""The payment gateway's settings are read once, at start, by certhall-api's master
(src/bin/api/main.c; certhall/clients/paygw.h ch_paygw_config_from_env): a bad one stops the
start with exit 78 and a log line that names it, before anything listens; good ones serve
every worker, one the master starts later included, after the key files they came from are
gone. Each worker makes its gateway client once after fork (api/worker.c, the server's
worker_init hook).

Each test runs a certhall-api of its own on a socket in a temporary directory, with the
stack's database and gateway settings, and talks FastCGI to it (tests/leak/fcgi_get.py):
no nginx, and the stack's own API is left alone.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import require_env, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "leak"))
from fcgi_get import request  # noqa: E402

NOTIFY = "/api/v1/payments/notify/sandbox"
START_S = 20


def api_env(**changes):
    """The environment certhall-api gets in the stack (scripts/lib/stack.sh), with changes
    (None removes a variable)."""
    env = {k: v for k, v in os.environ.items() if k != "CERTHALL_PAY_GATEWAY_KEY_FILE"}
    env.update(CERTHALL_DB=require_env("CERTHALL_APP_DB"),
               CERTHALL_PEPPER_FILE=require_env("CERTHALL_PEPPER_FILE"))
    for k in ("CERTHALL_PAY_PROVIDER", "CERTHALL_PAY_GATEWAY_URL", "CERTHALL_PAY_MERCHANT_ID",
              "CERTHALL_PAY_MERCHANT_KEY_FILE", "CERTHALL_PAY_GATEWAY_PUBKEY_FILE",
              "CERTHALL_PAY_NOTIFY_URL"):
        require_env(k)
    for k, v in changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def api_args(sock):
    return [str(Path(require_env("CERTHALL_BUILD")) / "certhall-api"), "--listen", str(sock),
            "--workers", "1", "--socket-mode", "0600", "--stop-timeout", "10"]


def log_lines(path):
    lines = []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            pass
    return lines


@pytest.fixture
def workdir():
    # Short: a unix socket path has room for 107 bytes.
    d = Path(tempfile.mkdtemp(prefix="ch-pay-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("changes, named", [
    ({"CERTHALL_PAY_ORDER_TTL": "0"}, "CERTHALL_PAY_ORDER_TTL"),
    ({"CERTHALL_PAY_ORDER_TTL": "7d"}, "CERTHALL_PAY_ORDER_TTL"),
    ({"CERTHALL_PAY_PROVIDER": "wechat"}, "CERTHALL_PAY_PROVIDER"),
    ({"CERTHALL_PAY_NOTIFY_URL": None}, "CERTHALL_PAY_NOTIFY_URL is not set"),
    ({"CERTHALL_PAY_GATEWAY_URL": "ftp://127.0.0.1:1"}, "CERTHALL_PAY_GATEWAY_URL"),
    ({"CERTHALL_PAY_MERCHANT_ID": "m 1"}, "CERTHALL_PAY_MERCHANT_ID"),
    ({"CERTHALL_PAY_GATEWAY_PUBKEY_FILE": "/nonexistent/gateway.pub"},
     "/nonexistent/gateway.pub"),
    ({"CERTHALL_PAY_MERCHANT_KEY_FILE": "/nonexistent/merchant.key"},
     "/nonexistent/merchant.key"),
])
def test_a_bad_gateway_setting_stops_the_start(workdir, changes, named):
    sock = workdir / "api.sock"
    proc = subprocess.run(api_args(sock), env=api_env(**changes), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=START_S)
    assert proc.returncode == 78, proc.stderr
    assert not sock.exists()
    errors = [json.loads(line)["msg"] for line in proc.stderr.splitlines()
              if line.startswith("{") and json.loads(line)["level"] == "error"]
    assert any(named in m for m in errors), errors
    assert errors[-1] == ("not started: the payment gateway settings (CERTHALL_PAY_*) are "
                          "not usable"), errors
    # Whatever was wrong, the merchant key is never in the log.
    key = Path(require_env("CERTHALL_PAY_MERCHANT_KEY_FILE")).read_text().strip()
    assert key not in proc.stderr


def test_no_gateway_settings_start_with_online_payment_off(workdir):
    sock, log = workdir / "api.sock", workdir / "api.log"
    off = {k: None for k in os.environ if k.startswith("CERTHALL_PAY_")}
    with open(log, "wb") as out:
        master = subprocess.Popen(api_args(sock), env=api_env(**off), stdin=subprocess.DEVNULL,
                                  stdout=out, stderr=out)
    try:
        wait_until(lambda: sock.exists() and any(
            e["msg"] == "worker ready" for e in log_lines(log)), START_S,
            what="the API without a gateway to start")
        status, _ = request(str(sock), "POST", NOTIFY, b"{}",
                            (("CONTENT_TYPE", "application/json"),), "pay-settings-off")
        assert status == "Status: 503 Service Unavailable", status
        assert any(e["msg"] == "online payment is off: no CERTHALL_PAY_* gateway settings"
                   for e in log_lines(log))
    finally:
        master.send_signal(signal.SIGTERM)
        assert master.wait(timeout=20) == 0


def test_the_settings_are_read_once_for_every_worker(workdir):
    """The key files are copied, the API started on the copies, the copies removed: its
    worker, and the one the master starts after that worker is killed, still have the gateway
    (a notification with no signature is refused 401, not 503 "not configured") and nothing
    tries to read the files again."""
    sock, log = workdir / "api.sock", workdir / "api.log"
    key = workdir / "merchant.key"
    pub = workdir / "gateway.pub"
    shutil.copy(require_env("CERTHALL_PAY_MERCHANT_KEY_FILE"), key)
    shutil.copy(require_env("CERTHALL_PAY_GATEWAY_PUBKEY_FILE"), pub)
    env = api_env(CERTHALL_PAY_MERCHANT_KEY_FILE=str(key),
                  CERTHALL_PAY_GATEWAY_PUBKEY_FILE=str(pub))

    def ready():
        return [e["pid"] for e in log_lines(log) if e["msg"] == "worker ready"]

    def notify(n):
        status, _ = request(str(sock), "POST", NOTIFY, b"{}",
                            (("CONTENT_TYPE", "application/json"),), f"pay-settings-{n}")
        return status

    with open(log, "wb") as out:
        master = subprocess.Popen(api_args(sock), env=env, stdin=subprocess.DEVNULL,
                                  stdout=out, stderr=out)
    try:
        first = wait_until(lambda: sock.exists() and ready(), START_S,
                           what="the API to start")[0]
        key.unlink()
        pub.unlink()
        assert notify(1) == "Status: 401 Unauthorized"

        os.kill(first, signal.SIGKILL)
        later = wait_until(lambda: [p for p in ready() if p != first], START_S,
                           what="the master to start another worker")[0]
        time.sleep(0.2)
        assert notify(2) == "Status: 401 Unauthorized"
        served = [e for e in log_lines(log) if e.get("request_id") == "pay-settings-2"]
        assert served and all(e["pid"] == later for e in served), served
    finally:
        master.send_signal(signal.SIGTERM)
        assert master.wait(timeout=20) == 0
    text = log.read_text(encoding="utf-8")
    assert str(key) not in text and str(pub) not in text
    assert not [e for e in log_lines(log) if "payment gateway" in e["msg"]]
