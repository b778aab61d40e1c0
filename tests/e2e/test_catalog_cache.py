"""GET /api/v1/catalog from each worker's copy (issue 17): revalidated with a strong ETag,
never stale.

Every worker renders the catalogue once and answers from that copy until the fee schedule
(or anything else in the catalogue) changes: a committed change must show in every worker
at once, and a schedule starting later from the moment it starts. The fee schedules these
tests add are followed by one with the original prices, as test_review.py does (a schedule
in force cannot be deleted, sql/0003_fees.sql).
"""

import re

import pytest

from catalog_workers import (CATALOG, add_schedule, fee_of, from_every_worker,
                             schedule_in_force, wait_in_force)

STRONG_ETAG = re.compile(r'^"[0-9a-f]{32}"$')


@pytest.fixture
def every_worker(make_client, stackctl, stack_dir):
    """GETs the catalogue until every worker has answered: [(pid, response)]."""
    return lambda headers=None: from_every_worker(make_client, stackctl, stack_dir, headers)


@pytest.fixture
def restore_fees():
    """Puts the schedule in force now back in force after the test (as a new schedule)."""
    original = schedule_in_force()
    yield
    add_schedule(original)


def current(answers):
    """The one ETag and body that all answers carry (asserts they agree)."""
    tags = {r.headers["ETag"] for _, r in answers}
    bodies = {r.content for _, r in answers}
    assert len(tags) == 1, f"workers disagree on the ETag: {tags}"
    assert len(bodies) == 1, "workers answer with different bytes"
    return tags.pop(), answers[0][1].body


# -- headers and revalidation --------------------------------------------------------------

def test_etag_is_strong_and_the_same_in_every_worker(every_worker):
    answers = every_worker()
    for pid, resp in answers:
        assert resp.status_code == 200, f"worker {pid}: {resp.status_code}"
        assert STRONG_ETAG.match(resp.headers["ETag"]), (
            f"worker {pid}: ETag {resp.headers['ETag']!r} is not a strong tag")
        # Revalidate every time (RFC 9111 §5.2.2.4): a max-age would let a client show an
        # old fee after a change.
        assert resp.headers["Cache-Control"] == "public, no-cache", f"worker {pid}"
    current(answers)


@pytest.mark.parametrize("form", ["exact", "weak", "list", "star"])
def test_if_none_match_gives_304_in_every_worker(client, every_worker, form):
    etag = client.get(CATALOG).headers["ETag"]
    header = {"exact": etag,
              # RFC 9110 §13.1.2: If-None-Match uses the weak comparison ...
              "weak": "W/" + etag,
              # ... over a list ...
              "list": f'"0123", W/"other",{etag} , "4567"',
              # ... or "*", any current representation.
              "star": "*"}[form]
    for pid, resp in every_worker({"If-None-Match": header}):
        assert resp.status_code == 304, f"worker {pid}, If-None-Match {header}: {resp.status_code}"
        assert resp.content == b"", f"worker {pid}: a 304 has no body"
        assert resp.headers["ETag"] == etag, f"worker {pid}"
        assert resp.headers["Cache-Control"] == "public, no-cache", f"worker {pid}"
        assert "Content-Type" not in resp.headers, f"worker {pid}"


def test_other_etags_get_the_catalogue(client):
    full = client.get(CATALOG)
    for header in ('"not-the-current-tag"', '"a", "b"', full.headers["ETag"][:-2] + '"', ""):
        resp = client.get(CATALOG, headers={"If-None-Match": header})
        assert resp.status_code == 200, f"If-None-Match {header!r}: {resp.status_code}"
        assert resp.content == full.content
        assert resp.headers["ETag"] == full.headers["ETag"]


# -- never stale ------------------------------------------------------------------------------

def test_committed_change_shows_at_once_in_every_worker(every_worker, restore_fees):
    before_tag, before = current(every_worker())  # every worker has its copy now
    old_fee = fee_of(before)
    new_fee = old_fee + 17

    version, _ = add_schedule(schedule_in_force(), new_fee)
    # Right after the commit, from every worker, and revalidating with the old tag.
    answers = every_worker({"If-None-Match": before_tag})
    for pid, resp in answers:
        assert resp.status_code == 200, f"worker {pid} still answers {resp.status_code}"
        assert fee_of(resp.body) == new_fee, (
            f"worker {pid} shows {fee_of(resp.body)} fen after the change to {new_fee}")
        assert resp.body["fee_schedule"]["version"] == version, f"worker {pid}"
    after_tag, _ = current(answers)
    assert after_tag != before_tag, "the ETag did not change with the fee"


def test_schedule_starting_later_shows_from_its_start(every_worker, restore_fees):
    before_tag, before = current(every_worker())
    old_fee = fee_of(before)
    new_fee = old_fee + 23

    version, starts = add_schedule(schedule_in_force(), new_fee, starts_in=6)
    # Committed but not yet in force: every worker renders again (the insert notified it)
    # and still shows the old fee, with the same bytes, so the same tag. Each worker now
    # holds a copy that must expire at the new schedule's start: no commit announces it.
    answers = every_worker({"If-None-Match": before_tag})
    for pid, resp in answers:
        assert resp.status_code == 304, (
            f"worker {pid}: {resp.status_code} before the new schedule starts")

    wait_in_force(starts)
    for pid, resp in every_worker():
        assert resp.status_code == 200
        assert fee_of(resp.body) == new_fee, (
            f"worker {pid} shows {fee_of(resp.body)} fen after the schedule of {new_fee} "
            f"started")
        assert resp.body["fee_schedule"]["version"] == version, f"worker {pid}"
