"""The payment daemon across a PostgreSQL restart.

Named to sort after the suites that hold connections (a restart breaks them). It signs
people in through the API before it restarts PostgreSQL, and after the restart reads only
the database and the sandbox. (The API's workers find their closed connections before the
next request's first statement: tests/e2e/test_zz_pg_restart_burst.py.) PostgreSQL and the
daemon are started again whatever happens.
"""

import pytest

from conftest import wait_until
from principals import principals  # noqa: F401  (the fixture)
from test_payd import (WAIT, app_row, applicant, awaiting_payment,  # noqa: F401
                       open_order, payments_of, reviewer, sandbox)


@pytest.fixture
def pg_back(stackctl):
    yield
    stackctl.run("pg-start", check=False)
    if stackctl.run("payd-pid", check=False).returncode != 0:
        stackctl.run("payd-start", check=False)


def test_the_daemon_reconnects_after_a_database_restart(stackctl, pg_back, applicant,  # noqa: F811
                                                        reviewer, sandbox):  # noqa: F811
    app = awaiting_payment(applicant, reviewer)
    order = open_order(applicant, app["id"])
    pid = stackctl.run("payd-pid").stdout

    stackctl.run("pg-stop")
    # Paid while the database is down, the notification lost: only a query finds it.
    paid = sandbox.pay(order["out_trade_no"], notify=False)
    stackctl.run("pg-start")

    wait_until(lambda: app_row(app["id"])["status"] == "issuing", WAIT,
               what="the daemon, reconnected, to capture the payment")
    assert stackctl.run("payd-pid").stdout == pid, "the daemon was restarted, not reconnected"
    pays = payments_of(app["id"])
    assert [(p["transaction_id"], p["source"]) for p in pays] == [
        (paid["transaction_id"], "query")]
