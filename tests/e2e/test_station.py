"""certhall-station personalises a USB key end to end (issue 12): the real station binary,
the real API through nginx, the real certhall-signer answering the SO PIN request and
issuing the certificate, the SMS sender delivering the user PIN to the fake gateway.

Each USB key is a fresh SoftHSM2 token in a SOFTHSM2_CONF of its own, apart from the CA
token, initialised the way a maker ships a blank key (a factory label and SO PIN). What
the station made is then judged with tools it does not use: pkcs11-tool (OpenSC) for the
token, openssl for the certificates, the fake gateway for the SMS.
"""

import os
import re
import secrets
import subprocess
import tempfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from conftest import require_env, wait_until
from principals import principals, sql  # noqa: F401  (the fixture)
from test_station_api import (KEYS, SCRUBBED, audit, bind, clerk, issuing, logs,  # noqa: F401
                              open_box, operator, outbox_rows, pin_messages, reviewer, spki)
from test_verification import UsbKey

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
FACTORY_PIN = UsbKey.PIN
SMS_WAIT = 30
STATION_TIMEOUT = 180


class BlankKey(UsbKey):
    """A blank USB key as a maker ships it: test_verification.UsbKey's SoftHSM2 token in
    a SOFTHSM2_CONF of its own, with its factory label, SO PIN and user PIN. The methods
    here find the token by its label now (the station relabels it with its serial)."""

    FACTORY_SO_PIN = "13579135"     # what UsbKey initialises the token with

    def __init__(self, root):
        super().__init__(root)
        self.factory_label = self.label
        self.factory_so_pin = self.FACTORY_SO_PIN
        self.serial = self.info()["serial"]

    def info(self):
        out = self.run("pkcs11-tool", "--module", MODULE, "--list-token-slots").decode()
        tokens = [dict(label=m.group(1).strip(), serial=m.group(2).strip())
                  for m in re.finditer(r"token label\s*:\s*(.*)\n(?:.*\n)*?\s*serial num\s*:\s*(\S+)",
                                       out)]
        assert len(tokens) == 1, out
        return tokens[0]

    def data_object(self, label):
        """The value of the public data object labelled label (what pkcs11-tool reads)."""
        proc = subprocess.run(["pkcs11-tool", "--module", MODULE, "--token-label",
                               self.info()["label"], "--read-object", "--type", "data",
                               "--label", label], env=self.env, capture_output=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        return proc.stdout

    def now(self, *args):
        """pkcs11-tool ARGS on the token as it is labelled now; the CompletedProcess."""
        return subprocess.run(["pkcs11-tool", "--module", MODULE, "--token-label",
                               self.info()["label"], *args], env=self.env,
                              capture_output=True, text=True, timeout=60)

    def user_login_works(self, pin):
        return self.now("--login", "--pin", pin, "--list-objects").returncode == 0

    def so_login_works(self, so_pin):
        # An SO session must be read-write (CKR_SESSION_READ_ONLY_EXISTS otherwise).
        return self.now("--login", "--login-type", "so", "--so-pin", so_pin,
                        "--session-rw", "--list-objects").returncode == 0

    def objects(self, pin, kind):
        proc = self.now("--login", "--pin", pin, "--list-objects", "--type", kind)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def read_cert(self, label):
        with tempfile.NamedTemporaryFile(dir=self.root) as out:
            proc = self.now("--read-object", "--type", "cert", "--label", label, "-o",
                            out.name)
            assert proc.returncode == 0, proc.stderr
            return Path(out.name).read_bytes()


@pytest.fixture
def blank_key():
    with tempfile.TemporaryDirectory(prefix="certhall-usbkey.") as root:
        yield BlankKey(root)


def station(key, token, *args, factory_so_pin=None):
    """Runs certhall-station ARGS for key with a staff token; the CompletedProcess."""
    env = dict(key.env, CERTHALL_URL=require_env("CERTHALL_URL"),
               CERTHALL_USBKEY_FACTORY_SO_PIN=factory_so_pin or key.factory_so_pin)
    env.pop("CERTHALL_TOKEN_FILE", None)
    if token is None:
        env.pop("CERTHALL_TOKEN", None)
    else:
        env["CERTHALL_TOKEN"] = token
    binary = Path(require_env("CERTHALL_BUILD")) / "certhall-station"
    return subprocess.run([str(binary), *args], env=env, capture_output=True, text=True,
                          timeout=STATION_TIMEOUT)


def personalise(key, token, app_id, *extra, **kw):
    return station(key, token, "personalise", str(app_id), "--slot-label",
                   key.info()["label"], "--wait", "60", *extra, **kw)


def the_pin(phone):
    """The user PIN the handler's phone received."""
    messages = wait_until(lambda: pin_messages(phone), SMS_WAIT, what="the user PIN's SMS")
    assert len(messages) == 1, messages
    m = re.search(r"初始PIN码为(\d{6,8})。", messages[0]["text"])
    assert m, messages[0]["text"]
    return m.group(1)


def openssl_verify(root_dir, leaf_der, chain_ders):
    """openssl verify of the leaf against the root, with the issuing CA untrusted."""
    d = Path(root_dir)
    pems = []
    for name, der in [("leaf", leaf_der), *[(f"ca{i}", c) for i, c in enumerate(chain_ders)]]:
        pem = d / f"{name}.pem"
        pem.write_bytes(x509.load_der_x509_certificate(der).public_bytes(
            serialization.Encoding.PEM))
        pems.append(pem)
    return subprocess.run(["openssl", "verify", "-CAfile", str(pems[-1]),
                           "-untrusted", str(pems[1]), str(pems[0])],
                          capture_output=True, text=True, timeout=30)


# ---------------------------------------------------------------------------------
# The whole personalisation
# ---------------------------------------------------------------------------------

def so_pin_derived_independently(serial):
    """The SO PIN of USB key serial as certhall/token/station.h defines it, computed
    without certhall's code: OpenSC's pkcs11-tool asks the CA token for HMAC-SHA256 with
    its master secret (usbkey-master, CKA_ID 05, which never leaves the token) over
    "certhall/usbkey-so-pin/v1" 0x00 serial; the SO PIN is the hex of the first 8 bytes.
    As root it runs as the signer's user, whose files the token's are."""
    pin = Path(require_env("CERTHALL_HSM_PIN_FILE")).read_text().strip()
    cmd = ["pkcs11-tool", "--module", require_env("CERTHALL_HSM_MODULE"), "--token-label",
           require_env("CERTHALL_HSM_TOKEN"), "--login", "--pin", pin, "--sign",
           "--mechanism", "SHA256-HMAC", "--id", "05"]
    signer_user = os.environ.get("CERTHALL_SIGNER_USER")
    if os.geteuid() == 0 and signer_user:
        cmd = ["runuser", "-u", signer_user, "--", *cmd]
    proc = subprocess.run(cmd, input=b"certhall/usbkey-so-pin/v1\0" + serial.encode(),
                          capture_output=True, timeout=60, cwd="/",
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                               "SOFTHSM2_CONF": require_env("SOFTHSM2_CONF")})
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert len(proc.stdout) == 32, proc.stdout
    return proc.stdout[:8].hex()


@pytest.mark.parametrize("cert_type,key_type", [("org", "rsa2048"), ("personal", "p256")])
def test_station_personalises_a_usb_key(operator, clerk, reviewer, blank_key, cert_type,
                                        key_type):
    app = issuing(clerk, reviewer, cert=cert_type)
    serial = blank_key.serial
    # The SO PIN the signer derives for this key, asked for independently of the station
    # (bound first, so the station finds the binding and goes on: 200).
    bind(operator, app["id"], serial)
    one_time = rsa.generate_private_key(65537, 2048)
    resp = operator.post_json(f"{KEYS}/{serial}/so-pin", {"requester_key": spki(one_time)})
    assert resp.status_code == 200, resp.content[:300]
    derived_so_pin = open_box(one_time, resp.body["sealed"])
    assert derived_so_pin == so_pin_derived_independently(serial)

    proc = personalise(blank_key, operator.token, app["id"], "--key-type", key_type)
    assert proc.returncode == 0, f"station: {proc.stdout}\n{proc.stderr[-3000:]}"

    # The API's view: key personalised with the certificate issued for it.
    key = operator.get(f"{KEYS}/{serial}").body
    assert key["status"] == "personalised" and key["pin_sent_at"] is not None, key
    cert = operator.get(f"/api/v1/applications/{app['id']}/certificate").body
    assert cert["usb_key_serial"] == serial and cert["status"] == "valid", cert
    assert operator.get(f"/api/v1/applications/{app['id']}").body["status"] == "issued"
    leaf_der = operator.get(f"/api/v1/certificates/{cert['serial']}/der").content

    # The e-seals the application asked for (issue 13), on the key with the certificate:
    # one data object per seal, labelled with its esID, holding its DER as the API serves it.
    seals = operator.get(f"/api/v1/seals?certificate_serial={cert['serial']}").body["items"]
    assert len(seals) == app["seals"] >= 1, seals
    for seal in seals:
        der = operator.get(f"/api/v1/seals/{seal['id']}/der").content
        assert blank_key.data_object(seal["es_id"]) == der, seal["es_id"]
    assert "e-seal(s) written to the key" in proc.stdout

    # The user PIN: from the SMS, never on the operator's screen or in a log, and it logs in.
    pin = the_pin(app["handler_phone"])
    assert pin not in proc.stdout and pin not in proc.stderr
    assert blank_key.user_login_works(pin)
    assert not blank_key.user_login_works(FACTORY_PIN)
    rows = wait_until(lambda: [r for r in outbox_rows(app["handler_phone"]) if r[0] == "sent"],
                      SMS_WAIT, what="the PIN's outbox row marked sent")
    assert rows == [("sent", SCRUBBED, {}, True)]
    assert pin not in logs()

    # The token: labelled with its serial, the derived SO PIN in force, the maker's gone.
    assert blank_key.info() == {"label": serial, "serial": serial}
    assert blank_key.so_login_works(derived_so_pin)
    assert not blank_key.so_login_works(blank_key.factory_so_pin)
    assert derived_so_pin not in proc.stdout + proc.stderr and derived_so_pin not in logs()

    # The key pair: made on the token, never extractable, and the certificate's.
    private = blank_key.objects(pin, "privkey")
    assert private.count("Private Key Object") == 1, private
    assert ("EC" if key_type == "p256" else "RSA") in private
    access = re.search(r"Access:\s*(.*)", private).group(1)
    assert "sensitive" in access and "never extractable" in access and "local" in access
    assert not re.search(r"(^|, )extractable", access), access
    on_key = blank_key.read_cert("certhall-sign")
    assert on_key == leaf_der
    leaf = x509.load_der_x509_certificate(leaf_der)
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey if key_type == "p256"
                      else rsa.RSAPublicKey)
    # The chain on the key, up to the root, and it verifies with stock openssl.
    chain = [blank_key.read_cert("certhall-sign-ca1"), blank_key.read_cert("certhall-sign-ca2")]
    with tempfile.TemporaryDirectory() as d:
        verdict = openssl_verify(d, leaf_der, chain)
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    cn = leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert cn == (app["holder_name"] if cert_type == "personal" else app["unit_name"])

    actions = [a for a, _ in audit(serial)]
    assert actions[0] == "usb_key.bound" and actions[-1] == "usb_key.personalised"
    assert "usb_key.user_pin_sent" in actions


def test_station_starts_over_after_a_failure(operator, clerk, reviewer, blank_key):
    """A wrong maker's SO PIN stops the station before it changes the key; run again with
    the right one, it finds its binding and finishes."""
    app = issuing(clerk, reviewer)
    proc = personalise(blank_key, operator.token, app["id"], factory_so_pin="11111111")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "cannot be initialised" in proc.stderr
    assert blank_key.info()["label"] == blank_key.factory_label
    assert operator.get(f"{KEYS}/{blank_key.serial}").body["status"] == "initialised"

    proc = personalise(blank_key, operator.token, app["id"])
    assert proc.returncode == 0, f"station: {proc.stdout}\n{proc.stderr[-3000:]}"
    assert operator.get(f"{KEYS}/{blank_key.serial}").body["status"] == "personalised"
    assert blank_key.user_login_works(the_pin(app["handler_phone"]))


# ---------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------

def test_a_key_bound_to_another_application_is_refused(operator, clerk, reviewer, blank_key):
    first, second = issuing(clerk, reviewer), issuing(clerk, reviewer)
    bind(operator, first["id"], blank_key.serial)
    proc = personalise(blank_key, operator.token, second["id"])
    assert proc.returncode == 1
    assert "409" in proc.stderr and "bound already" in proc.stderr, proc.stderr
    # Nothing happened to the key or to either application.
    assert blank_key.info()["label"] == blank_key.factory_label
    assert operator.get(f"{KEYS}/{blank_key.serial}").body["application_id"] == first["id"]
    assert sql("SELECT count(*) FROM usb_key WHERE application_id = %s",
               (second["id"],)) == [(0,)]
    # Nor may a key request for one application name a key bound to another.
    resp = operator.post_json(f"/api/v1/applications/{second['id']}/csr",
                              {"csr": "-----BEGIN CERTIFICATE REQUEST-----\nMA==\n"
                                      "-----END CERTIFICATE REQUEST-----\n",
                               "usb_key_serial": blank_key.serial})
    assert resp.status_code in (409, 422), resp.content[:300]


@pytest.mark.parametrize("who", ["anonymous", "applicant", "reviewer", "counter", "admin"])
def test_strangers_and_non_operators_are_refused(principals, clerk, reviewer, blank_key,  # noqa: F811
                                                 who):
    app = issuing(clerk, reviewer)
    if who == "anonymous":
        token = None
    elif who == "applicant":
        token = principals.applicant("A").token
    else:
        token = principals.staff(who).token
    proc = personalise(blank_key, token, app["id"])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    if who == "anonymous":
        assert "no staff token" in proc.stderr
    elif who in ("reviewer", "counter", "admin"):
        # Staff may read the application; binding the key is the operator's alone.
        assert "HTTP 403" in proc.stderr, proc.stderr
    else:
        assert "HTTP 403" in proc.stderr or "HTTP 404" in proc.stderr, proc.stderr
    assert blank_key.info()["label"] == blank_key.factory_label
    assert sql("SELECT count(*) FROM usb_key WHERE serial = %s", (blank_key.serial,)) == [(0,)]
    # A token that is not a session at all.
    proc = personalise(blank_key, "ch_" + secrets.token_urlsafe(32), app["id"])
    assert proc.returncode == 1 and "HTTP 401" in proc.stderr, proc.stderr


def test_the_ca_token_is_never_a_usb_key(operator, clerk, reviewer, blank_key):
    """Pointed at a token labelled as the CA's, the station stops before touching it."""
    app = issuing(clerk, reviewer)
    blank_key.run("softhsm2-util", "--init-token", "--free", "--label", "certhall-ca",
                  "--so-pin", blank_key.factory_so_pin, "--pin", FACTORY_PIN)
    proc = station(blank_key, operator.token, "personalise", str(app["id"]), "--slot-label",
                   "certhall-ca")
    assert proc.returncode == 1 and "CA's token" in proc.stderr, proc.stderr
    assert sql("SELECT count(*) FROM usb_key WHERE application_id = %s", (app["id"],)) == [(0,)]


def test_keys_and_queue(operator, clerk, reviewer, blank_key):
    app = issuing(clerk, reviewer)
    proc = station(blank_key, operator.token, "keys")
    assert proc.returncode == 0, proc.stderr
    assert re.search(rf"^{blank_key.serial}\s+{blank_key.factory_label}\s.*blank$", proc.stdout,
                     re.M), proc.stdout
    proc = station(blank_key, operator.token, "queue")
    assert proc.returncode == 0, proc.stderr
    assert re.search(rf"^{app['id']}\s+new\s+org\s+-\s", proc.stdout, re.M), proc.stdout
    bind(operator, app["id"], blank_key.serial)
    proc = station(blank_key, operator.token, "queue")
    assert re.search(rf"^{app['id']}\s+new\s+org\s+{blank_key.serial}\s", proc.stdout,
                     re.M), proc.stdout
    assert station(blank_key, operator.token, "personalise").returncode == 64
    assert station(blank_key, operator.token, "personalise", str(app["id"])).returncode == 64
