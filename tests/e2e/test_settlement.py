"""Renew owes two things (SPEC §6): the payment and proof of possession of the current
certificate's key.  Whichever comes last moves the application to issuing and queues
exactly one signing job; either alone leaves it waiting.  A paid renew still owing
possession can be refunded by finance, which cancels it.

The USB key is a SoftHSM2 token of the test's own (test_verification.UsbKey); the money
goes through the sandbox gateway (test_payments' helpers).
"""
import tempfile

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from conftest import assert_problem, wait_until
from principals import principals, sql  # noqa: F401  (the fixture)
from test_payments import WAIT, open_order, overview, pay, wait_status
from test_verification import EC_KEY, RSA_KEY, UsbKey, approved, challenge, issue, prove

APPS = "/api/v1/applications"


@pytest.fixture(scope="module")
def applicant(principals):  # noqa: F811
    return principals.new_applicant(name="applicant (settlement)")


@pytest.fixture(scope="module")
def reviewer(principals):  # noqa: F811
    return principals.staff("reviewer")


@pytest.fixture(scope="module")
def finance(principals):  # noqa: F811
    return principals.staff("finance")


@pytest.fixture(scope="module")
def usb_key():
    with tempfile.TemporaryDirectory(prefix="certhall-usbkey.") as root:
        key = UsbKey(root)
        key.generate(RSA_KEY, "rsa:2048")
        key.generate(EC_KEY, "EC:prime256v1")
        yield key


@pytest.fixture(scope="module")
def test_ca():
    return ec.generate_private_key(ec.SECP256R1())


def jobs(app_id):
    return sql("SELECT kind, status FROM signing_job WHERE application_id = %s", (app_id,))


def shown(principal, app_id):
    resp = principal.get(f"{APPS}/{app_id}")
    assert resp.status_code == 200, resp.content[:300]
    return resp.body


def paid(principal, app_id):
    order = open_order(principal, app_id)
    pay(order["pay_url"])
    wait_until(lambda: shown(principal, app_id)["paid_at"] is not None, WAIT,
               what=f"application {app_id} to be paid")


def prove_with(principal, app, usb_key, key_id=RSA_KEY):
    ch = challenge(principal, app, "rsa-pkcs1-sha256" if key_id == RSA_KEY
                   else "ecdsa-p256-sha256")
    sig = (usb_key.sign_rsa(key_id, ch["to_sign"]) if key_id == RSA_KEY
           else usb_key.sign_ecdsa(key_id, ch["to_sign"]))
    return prove(principal, app, ch, sig)


def test_renew_paid_first_waits_for_possession(applicant, reviewer, usb_key, test_ca):
    app = approved(applicant, reviewer, "renew", der=issue(test_ca, usb_key.public_key(RSA_KEY)))
    paid(applicant, app["id"])
    now = shown(applicant, app["id"])
    assert now["status"] == "awaiting_payment" and now["possession_proven_at"] is None, now
    assert now["settled_at"] is None and jobs(app["id"]) == []
    # Paid: the handler can no longer cancel, and no second order is opened.
    assert_problem(applicant.post_json(f"{APPS}/{app['id']}/cancel", {}), 409, "conflict")
    assert_problem(applicant.post_json(f"{APPS}/{app['id']}/payment", {}), 409, "conflict")

    resp = prove_with(applicant, app, usb_key)
    assert resp.status_code == 200, resp.content[:300]
    assert resp.body["status"] == "issuing" and resp.body["settled_at"], resp.body
    assert jobs(app["id"]) == [("renew", "queued")]


def test_renew_proven_first_is_issued_by_its_payment(applicant, reviewer, usb_key, test_ca):
    app = approved(applicant, reviewer, "renew", der=issue(test_ca, usb_key.public_key(EC_KEY)))
    resp = prove_with(applicant, app, usb_key, EC_KEY)
    assert resp.status_code == 200 and resp.body["status"] == "awaiting_payment", resp.body
    assert jobs(app["id"]) == []

    paid(applicant, app["id"])
    wait_status(applicant, app["id"], "issuing")
    assert jobs(app["id"]) == [("renew", "queued")]
    payload = sql("SELECT payload FROM signing_job WHERE application_id = %s",
                  (app["id"],))[0][0]
    assert payload["paid_at"] and payload["possession_proven_at"], payload


def test_paid_renew_without_possession_is_refunded_and_cancelled(applicant, reviewer, finance,
                                                                 usb_key, test_ca):
    app = approved(applicant, reviewer, "renew", der=issue(test_ca, usb_key.public_key(RSA_KEY)))
    paid(applicant, app["id"])
    resp = finance.post_json(f"{APPS}/{app['id']}/refund", {"reason": "持有人无法出示原证书介质"})
    assert resp.status_code == 202, resp.content[:300]
    assert shown(applicant, app["id"])["status"] == "cancelled"
    assert [r["status"] for r in overview(applicant, app["id"])["refunds"]] in (
        ["pending"], ["succeeded"])
    # Nothing more can be proven for it, and it was never queued for signing.
    assert_problem(applicant.post_json(f"{APPS}/{app['id']}/possession-challenges", {}),
                   409, "conflict")
    assert jobs(app["id"]) == []
