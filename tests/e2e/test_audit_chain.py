"""The audit log's hash chain (issue 4; docs/CONTRACT.md "Audit chain",
sql/0006_audit_chain.sql, sql/0007_audit_seal.sql) and `certhall-admin verify-audit`.

An audit_event row is inserted unsealed (seq, prev_hash and hash NULL); the sealer,
audit_event_seal(), gives committed rows seq (1, 2, 3, ... without a gap, in sealing order),
prev_hash (the hash of the row before; 64 zeros for seq 1) and hash = hex(SHA-256(prev_hash
|| '|' || audit_event_canonical(row))). certhall-sms-sender seals about once a second; the
verifier seals what is committed, then walks the chain and names the first broken link. The
tests here seal before they look (seal_all()) rather than wait for the sender, but for the
one that checks the sender does it.

Tampering is done as the owner role (the app role cannot change or remove audit rows), on a
row near the end of the chain but not the last, and undone before the test ends: the
original row is kept in a temporary table of the same connection and put back exactly, so
the chain verifies again and the other tests see the log they expect.
"""

import hashlib
import json
import re
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest

from conftest import Client, require_env, wait_until
from principals import db, principals, sql  # noqa: F401  (principals is a fixture)

OK = re.compile(r"^audit chain ok: (\d+) events$", re.M)
BROKEN = re.compile(r"^audit chain broken at seq (\d+) \(id (\d+)\): "
                    r"(hash mismatch|prev_hash mismatch|missing seq)\b", re.M)
ZEROS = "0" * 64
COLUMNS = ("id", "at", "actor_kind", "actor_id", "action", "object_type", "object_id",
           "client_addr", "request_id", "detail", "seq", "prev_hash", "hash")


def verify_audit(*args):
    """certhall-admin verify-audit ARGS as the owner role: the CompletedProcess."""
    binary = Path(require_env("CERTHALL_BUILD")) / "certhall-admin"
    env = {"PATH": "/usr/bin:/bin", "CERTHALL_DB": require_env("CERTHALL_DB")}
    return subprocess.run([str(binary), "verify-audit", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def assert_chain_ok(*args):
    """The verifier exits 0 and says so; returns the number of events it checked."""
    proc = verify_audit(*args)
    assert proc.returncode == 0, (
        f"verify-audit exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    m = OK.search(proc.stdout)
    assert m, f"verify-audit printed {proc.stdout!r}"
    return int(m.group(1))


def assert_chain_broken(seq, id_, what, *args):
    proc = verify_audit(*args)
    assert proc.returncode == 1, (
        f"verify-audit exited {proc.returncode}, expected 1:\n{proc.stdout}{proc.stderr}")
    m = BROKEN.search(proc.stdout)
    assert m, f"verify-audit printed {proc.stdout!r}"
    assert (int(m.group(1)), int(m.group(2)), m.group(3)) == (seq, id_, what), proc.stdout
    assert "audit chain ok" not in proc.stdout
    return proc.stdout


def seal_all():
    """Seals every committed row, as the owner; returns how many it sealed."""
    total = 0
    while True:
        (n,) = sql("SELECT audit_event_seal(10000)")[0]
        total += n
        if n < 10000:
            return total


def chain_extent():
    """(count, min seq, max seq) of the sealed rows of audit_event, after sealing."""
    seal_all()
    return sql("SELECT count(seq), min(seq), max(seq) FROM audit_event")[0]


def assert_gap_free():
    count, low, high = chain_extent()
    assert (low, high) == (1, count), f"seq runs {low}..{high} over {count} sealed rows"
    return count


def app_connection():
    """A connection as the app role (what the workers and the SMS sender use), in a
    transaction until committed or rolled back."""
    return psycopg2.connect(require_env("CERTHALL_APP_DB"))


def insert_probe(cur, request_id, n=1):
    """Inserts n audit.chain_probe rows (through cursor cur); returns their ids."""
    cur.execute("""
        INSERT INTO audit_event (actor_kind, action, client_addr, request_id, detail)
        SELECT 'system', 'audit.chain_probe', 'test', %s, jsonb_build_object('n', g)
          FROM generate_series(1, %s) g
        RETURNING id""", (request_id, n))
    return sorted(r[0] for r in cur.fetchall())


def sealed(ids):
    """{id: (seq, prev_hash, hash, audit_event_hash(prev_hash, row))} of these rows."""
    rows = sql("SELECT id, seq, prev_hash, hash, audit_event_hash(prev_hash, e) "
               "FROM audit_event e WHERE id = ANY(%s)", (list(ids),))
    return {r[0]: r[1:] for r in rows}


def row_at(seq):
    """(id, seq) of the row at seq."""
    rows = sql("SELECT id, seq FROM audit_event WHERE seq = %s", (seq,))
    assert rows, f"no audit row at seq {seq}"
    return rows[0]


@pytest.fixture(scope="module")
def activity(principals):  # noqa: F811
    """Audit events of several kinds, from real requests: an admin made with the CLI and
    signed in, applicants signed in by SMS, an integrator created and used."""
    principals.admin()
    principals.new_applicant(name="chain applicant 1")
    principals.new_applicant(name="chain applicant 2")
    integrator = principals.new_integrator("chain")
    assert integrator.principal(external_user="chain-user").get("/api/v1/me").status_code == 200
    principals.new_staff(["reviewer"], name="chain reviewer")
    count, _, high = chain_extent()
    assert count >= 10 and high >= 10, "the activity above should have written audit events"
    return integrator


@pytest.fixture
def victim(activity):
    """(id, seq) of a row near the end of the chain with rows after it."""
    assert_chain_ok()
    _, _, high = chain_extent()
    return row_at(high - 3)


@contextmanager
def owner_connection():
    conn = psycopg2.connect(require_env("CERTHALL_DB"))
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def kept(conn, id_):
    """Keeps the row with this id in a temporary table and puts it back, exactly, when
    the block ends (it may change or delete the row meanwhile)."""
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE kept AS SELECT * FROM audit_event WHERE id = %s",
                    (id_,))
        assert cur.rowcount == 1
    try:
        yield
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM audit_event WHERE id = %s", (id_,))
            if cur.fetchone()[0] == 1:
                sets = ", ".join(f"{c} = k.{c}" for c in COLUMNS if c != "id")
                cur.execute(f"UPDATE audit_event a SET {sets} FROM kept k WHERE a.id = k.id")
            else:
                # Put back as it was: the trigger would insert it unsealed.
                conn.autocommit = False
                try:
                    cur.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_unsealed")
                    cols = ", ".join(COLUMNS)
                    cur.execute(f"INSERT INTO audit_event ({cols}) OVERRIDING SYSTEM VALUE "
                                f"SELECT {cols} FROM kept")
                    cur.execute("ALTER TABLE audit_event ENABLE TRIGGER audit_event_unsealed")
                    conn.commit()
                finally:
                    conn.autocommit = True
            cur.execute("DROP TABLE kept")


# ---------------------------------------------------------------------------------
# A whole chain verifies
# ---------------------------------------------------------------------------------

def test_chain_verifies_after_activity(activity):
    n = assert_chain_ok()
    count = assert_gap_free()
    assert n <= count and n >= count - 5, (n, count)   # a few may be written meanwhile


@pytest.mark.parametrize("batch", ["1", "2", "3", "7", "100000"])
def test_chain_verifies_in_any_page_size(activity, batch):
    """The walk is paged by seq: a link that crosses a page boundary is still checked."""
    assert assert_chain_ok("--batch", batch) >= 10


def test_the_hashes_are_what_the_contract_says(activity):
    """Recomputed here, in Python, from each row's canonical text: seq 1 follows 64 zeros,
    each prev_hash is the hash before, each hash is SHA-256 over prev_hash, '|' and the
    canonical text."""
    seal_all()
    rows = sql("SELECT seq, prev_hash, hash, audit_event_canonical(e) FROM audit_event e "
               "WHERE seq IS NOT NULL ORDER BY seq")
    prev = ZEROS
    for i, (seq, prev_hash, hash_, canonical) in enumerate(rows, start=1):
        assert seq == i
        assert prev_hash == prev, f"seq {seq}: prev_hash is not the hash of seq {seq - 1}"
        want = hashlib.sha256(f"{prev_hash}|{canonical}".encode("utf-8")).hexdigest()
        assert hash_ == want, f"seq {seq}: hash does not match its canonical text"
        prev = hash_


def test_canonical_text_quotes_every_value_and_marks_null():
    """The canonical text of a row written by the app role, read inside its transaction
    (rolled back: nothing stays in the log): unsealed, then sealed by that transaction.
    Values are quoted (a '|' or a quote inside one cannot move a field), NULL is the bare
    word, detail is jsonb's normalised text."""
    conn = app_connection()
    try:
        with conn.cursor() as cur:
            cur.execute("""
                INSERT INTO audit_event (actor_kind, actor_id, action, object_type,
                    object_id, client_addr, request_id, detail)
                VALUES ('system', NULL, 'audit.chain_probe', NULL, 'a|b', 'test',
                        'req''x', '{"z": 1,   "a": [true, null]}')
                RETURNING id, seq, (extract(epoch FROM at) * 1000000)::bigint,
                          audit_event_canonical(audit_event.*)""")
            id_, seq, micros, canonical = cur.fetchone()
            tail = ("'system'|NULL|'audit.chain_probe'|NULL|'a|b'|'test'|'req''x'|"
                    "'{\"a\": [true, null], \"z\": 1}'")
            assert seq is None
            assert canonical == f"audit-v1|NULL|'{id_}'|'{micros}'|{tail}"
            # The transaction's own row is visible to its own sealer call.
            cur.execute("SELECT audit_event_seal(10000)")
            cur.execute("SELECT seq, audit_event_canonical(e) FROM audit_event e "
                        "WHERE id = %s", (id_,))
            seq, canonical = cur.fetchone()
        assert seq is not None
        assert canonical == f"audit-v1|'{seq}'|'{id_}'|'{micros}'|{tail}"
    finally:
        conn.rollback()
        conn.close()


# ---------------------------------------------------------------------------------
# The writer cannot choose its place, and cannot change the past
# ---------------------------------------------------------------------------------

def test_the_writer_cannot_choose_its_place(activity):
    """Rows are inserted unsealed whatever the writer sends for seq and the hashes; the
    sealer then chains them after the head, each link computed by audit_event_hash()."""
    conn = app_connection()
    try:
        with conn.cursor() as cur:
            # Three rows in one statement, each claiming seq 1 and a made-up hash.
            cur.execute("""
                INSERT INTO audit_event (actor_kind, action, client_addr, request_id,
                                         seq, prev_hash, hash)
                SELECT 'system', 'audit.chain_probe', 'test', 'probe-' || g, 1, %s, %s
                  FROM generate_series(1, 3) g
                RETURNING id, seq, prev_hash, hash""", (ZEROS, "f" * 64))
            inserted = sorted(cur.fetchall())
            assert [r[1:] for r in inserted] == [(None, None, None)] * 3
            # Sealed in this transaction (so the rollback below takes it all back).
            cur.execute("SELECT audit_event_seal(10000)")
            cur.execute("SELECT seq, hash FROM audit_event WHERE seq IS NOT NULL "
                        "AND id <> ALL(%s) ORDER BY seq DESC LIMIT 1",
                        ([r[0] for r in inserted],))
            high, head = cur.fetchone()
            cur.execute("""
                SELECT seq, prev_hash, hash, audit_event_hash(prev_hash, e)
                  FROM audit_event e WHERE id = ANY(%s) ORDER BY id""",
                        ([r[0] for r in inserted],))
            rows = cur.fetchall()
        assert [r[0] for r in rows] == [high + 1, high + 2, high + 3]
        assert rows[0][1] == head
        assert rows[1][1] == rows[0][2] and rows[2][1] == rows[1][2]
        assert all(r[2] == r[3] for r in rows)
    finally:
        conn.rollback()
        conn.close()


def test_a_temporary_table_cannot_stand_in_for_the_chain(activity):
    """The sealer runs as the owner but in the caller's session: a temporary audit_event
    there (which PostgreSQL would search first) must not feed it a made-up head."""
    conn = app_connection()
    try:
        with conn.cursor() as cur:
            try:
                cur.execute("CREATE TEMP TABLE audit_event (seq bigint, hash text)")
            except psycopg2.errors.InsufficientPrivilege:
                pytest.skip("the app role may not create temporary tables")
            cur.execute("INSERT INTO pg_temp.audit_event VALUES (%s, %s)",
                        (10 ** 9, "f" * 64))
            cur.execute("""
                INSERT INTO public.audit_event (actor_kind, action, client_addr, request_id)
                VALUES ('system', 'audit.chain_probe', 'test', 'probe-temp')
                RETURNING id""")
            (id_,) = cur.fetchone()
            cur.execute("SELECT audit_event_seal(10000)")
            cur.execute("SELECT e.seq, e.prev_hash, p.seq, p.hash FROM public.audit_event e "
                        "JOIN public.audit_event p ON p.seq = e.seq - 1 WHERE e.id = %s",
                        (id_,))
            seq, prev_hash, before, head = cur.fetchone()
        assert seq < 10 ** 9 and prev_hash == head and before == seq - 1
    finally:
        conn.rollback()
        conn.close()


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET detail = '{}' WHERE seq = 1",
    "UPDATE audit_event SET seq = NULL, prev_hash = NULL, hash = NULL WHERE seq = 1",
    "DELETE FROM audit_event WHERE seq = 1",
    "TRUNCATE audit_event",
    "ALTER TABLE audit_event DISABLE TRIGGER audit_event_unsealed",
    # The sealer is the owner's: the app role may call it, not change it.
    "ALTER FUNCTION audit_event_seal(integer) SECURITY INVOKER",
    "CREATE OR REPLACE FUNCTION audit_event_seal(max_rows integer DEFAULT 1000) "
    "RETURNS integer LANGUAGE sql RETURN 0",
    "ALTER FUNCTION audit_event_hash(text, audit_event) RENAME TO audit_event_hash_old",
])
def test_the_app_role_cannot_change_or_remove_audit_rows(statement):
    conn = app_connection()
    try:
        with conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute(statement)
    finally:
        conn.rollback()
        conn.close()


@pytest.mark.parametrize("call, error", [
    # Nothing but a batch size goes in: no seq, hash or row can be handed to it.
    ("SELECT audit_event_seal(5, %s)", psycopg2.errors.UndefinedFunction),
    ("SELECT audit_event_seal(%s::text)", psycopg2.errors.UndefinedFunction),
    ("SELECT audit_event_seal(0 * length(%s))", psycopg2.errors.InvalidParameterValue),
    ("SELECT audit_event_seal(100000 + length(%s))", psycopg2.errors.InvalidParameterValue),
])
def test_the_sealer_takes_only_a_batch_size(call, error):
    conn = app_connection()
    try:
        with conn.cursor() as cur, pytest.raises(error):
            cur.execute(call, ("f" * 64,))
    finally:
        conn.rollback()
        conn.close()


def test_the_sealer_refuses_an_old_snapshot():
    """At REPEATABLE READ its snapshot could predate the head another sealer wrote."""
    conn = app_connection()
    try:
        conn.set_session(isolation_level="REPEATABLE READ")
        with conn.cursor() as cur, pytest.raises(psycopg2.errors.InvalidTransactionState):
            cur.execute("SELECT audit_event_seal(10)")
    finally:
        conn.rollback()
        conn.close()


def test_the_app_role_can_seal_but_only_with_the_formula(activity):
    """What the app role can do with the sealer: chain rows it inserted, with the links
    the formula gives, recomputed here in Python; the chain still verifies."""
    conn = app_connection()
    try:
        with conn.cursor() as cur:
            ids = insert_probe(cur, "probe-forge", 2)
            cur.execute("SELECT audit_event_seal(1)")   # a batch of one: the older first
            cur.execute("SELECT audit_event_seal(10000)")
        conn.commit()
    finally:
        conn.close()
    rows = sql("SELECT seq, prev_hash, hash, audit_event_canonical(e) FROM audit_event e "
               "WHERE id = ANY(%s) ORDER BY seq", (ids,))
    assert len(rows) == 2 and rows[1][0] == rows[0][0] + 1 and rows[1][1] == rows[0][2]
    for seq, prev_hash, hash_, canonical in rows:
        assert hash_ == hashlib.sha256(f"{prev_hash}|{canonical}".encode()).hexdigest()
    assert_chain_ok()


def test_the_sms_sender_seals_without_being_asked(activity):
    """certhall-sms-sender is the process that keeps the chain sealed (about every
    second): a committed row gets its place with nobody else calling the sealer."""
    conn = app_connection()
    try:
        with conn.cursor() as cur:
            (id_,) = insert_probe(cur, "probe-sender")
        conn.commit()
    finally:
        conn.close()
    wait_until(lambda: sql("SELECT seq FROM audit_event WHERE id = %s", (id_,))[0][0]
               is not None, 15, what="the SMS sender to seal the row")
    seq, prev_hash, hash_, want = sealed([id_])[id_]
    assert hash_ == want


# ---------------------------------------------------------------------------------
# Tampering, as the owner: the verifier names the row
# ---------------------------------------------------------------------------------

# Each changes one column of the row and nothing else.
EDITS = {
    "detail": "detail = detail || '{\"tampered\": true}'",
    "at": "at = at + interval '1 microsecond'",
    "actor_kind": "actor_kind = CASE actor_kind WHEN 'system' THEN 'anonymous' ELSE 'system' END",
    "actor_id": "actor_id = CASE WHEN actor_id IS NULL THEN 1 ELSE NULL END",
    "action": "action = CASE action WHEN 'auth.sign_out' THEN 'auth.sign_in' "
              "ELSE 'auth.sign_out' END",
    "object_type": "object_type = CASE WHEN object_type IS NULL THEN 'staff' ELSE NULL END",
    "object_id": "object_id = coalesce(object_id, '') || '0'",
    "client_addr": "client_addr = '10.0.0.66'",
    "request_id": "request_id = request_id || 'x'",
    "hash": "hash = repeat('e', 64)",
}


@pytest.mark.parametrize("column", sorted(EDITS))
def test_an_edited_row_is_named(victim, column):
    id_, seq = victim
    with owner_connection() as conn, kept(conn, id_):
        with conn.cursor() as cur:
            cur.execute(f"UPDATE audit_event SET {EDITS[column]} WHERE id = %s", (id_,))
            assert cur.rowcount == 1
        assert_chain_broken(seq, id_, "hash mismatch")
        # The same, read a row a round trip.
        assert_chain_broken(seq, id_, "hash mismatch", "--batch", "1")
    assert_chain_ok()


def test_restoring_the_detail_restores_the_chain(victim):
    """detail is hashed as jsonb text: the same value written with other spacing and key
    order is the same text, so putting the original back mends the chain."""
    id_, seq = victim
    (original,) = sql("SELECT detail::text FROM audit_event WHERE id = %s", (id_,))[0]
    with owner_connection() as conn, kept(conn, id_):
        with conn.cursor() as cur:
            cur.execute("UPDATE audit_event SET detail = '{\"forged\": 1}' WHERE id = %s",
                        (id_,))
            assert_chain_broken(seq, id_, "hash mismatch")
            # Back, spelt differently: keys in reverse order, no spaces.
            value = json.loads(original)
            respelt = json.dumps(dict(reversed(list(value.items()))), separators=(",", ":"),
                                 ensure_ascii=False)
            cur.execute("UPDATE audit_event SET detail = %s::jsonb WHERE id = %s",
                        (respelt, id_))
        assert_chain_ok()


def test_a_forged_hash_is_caught_at_the_next_link(victim):
    """Someone who knows the formula edits a row and rehashes it, but does not rewrite the
    rest of the chain: the next row's prev_hash no longer matches."""
    id_, seq = victim
    next_id, _ = row_at(seq + 1)
    with owner_connection() as conn, kept(conn, id_):
        with conn.cursor() as cur:
            cur.execute("UPDATE audit_event SET detail = '{\"forged\": true}' WHERE id = %s",
                        (id_,))
            cur.execute("UPDATE audit_event SET hash = audit_event_hash(prev_hash, "
                        "audit_event.*) WHERE id = %s", (id_,))
        assert_chain_broken(seq + 1, next_id, "prev_hash mismatch")
    assert_chain_ok()


def test_a_wrong_prev_hash_is_named(victim):
    id_, seq = victim
    with owner_connection() as conn, kept(conn, id_):
        with conn.cursor() as cur:
            cur.execute("UPDATE audit_event SET prev_hash = repeat('f', 64) WHERE id = %s",
                        (id_,))
        assert_chain_broken(seq, id_, "prev_hash mismatch")
    assert_chain_ok()


def test_a_deleted_row_is_named_as_missing(victim):
    """The walk finds seq S + 1 where S was due: it names that row and the missing seq."""
    id_, seq = victim
    next_id, _ = row_at(seq + 1)
    with owner_connection() as conn, kept(conn, id_):
        with conn.cursor() as cur:
            cur.execute("DELETE FROM audit_event WHERE id = %s", (id_,))
            assert cur.rowcount == 1
        out = assert_chain_broken(seq + 1, next_id, "missing seq")
        assert f"(seq {seq} absent)" in out
        assert_chain_broken(seq + 1, next_id, "missing seq", "--batch", "2")
    assert_chain_ok()
    assert_gap_free()


def test_a_moved_row_is_named_as_missing(victim):
    """A row given another seq leaves a hole where it was."""
    id_, seq = victim
    next_id, _ = row_at(seq + 1)
    with owner_connection() as conn, kept(conn, id_):
        with conn.cursor() as cur:
            cur.execute("UPDATE audit_event SET seq = seq + 1000000000 WHERE id = %s", (id_,))
        assert_chain_broken(seq + 1, next_id, "missing seq")
    assert_chain_ok()


def test_a_row_unsealed_by_hand_leaves_a_hole(victim):
    """Clearing a row's links does not take it out of the chain quietly: the next seal
    gives it a new place at the end, and the hole it leaves is named."""
    id_, seq = victim
    next_id, _ = row_at(seq + 1)
    _, _, high = chain_extent()
    with owner_connection() as conn, kept(conn, id_):
        with conn.cursor() as cur:
            cur.execute("UPDATE audit_event SET seq = NULL, prev_hash = NULL, hash = NULL "
                        "WHERE id = %s", (id_,))
        out = assert_chain_broken(seq + 1, next_id, "missing seq")
        assert f"(seq {seq} absent)" in out
        assert sql("SELECT seq FROM audit_event WHERE id = %s", (id_,))[0][0] == high + 1
    assert_chain_ok()


def test_verify_audit_refuses_bad_arguments():
    for args in (["--batch", "0"], ["--batch", "x"], ["--bogus"], ["extra"]):
        proc = verify_audit(*args)
        assert proc.returncode == 64, (args, proc.returncode, proc.stdout, proc.stderr)


# ---------------------------------------------------------------------------------
# Concurrent writers: one chain, no gaps
# ---------------------------------------------------------------------------------

def run_at_once(calls):
    """Runs the callables in threads released together; returns their results in order."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)
    errors = []

    def run(i):
        try:
            barrier.wait(timeout=30)
            results[i] = calls[i]()
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(e)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return results


def test_parallel_requests_chain_without_gaps(activity, principals):  # noqa: F811
    """20 signed integrator requests (each audits integrator.key_used) and 4 staff
    sign-ins (each audits auth.staff_sign_in; a few, as each costs a scrypt), all at
    once."""
    staff = principals.new_staff(["operator"], name="chain operator")
    username, password = staff.info["username"], staff.info["password"]
    _, _, before = chain_extent()
    callers = [activity.principal(external_user=f"chain-{i}") for i in range(20)]
    anonymous = [Client(principals.base_url, principals.openapi) for _ in range(4)]

    def me(p):
        return lambda: p.get("/api/v1/me", timeout=60)

    def sign_in(c):
        return lambda: c.post_json("/api/v1/auth/staff-sessions",
                                   {"username": username, "password": password}, timeout=60)

    try:
        answers = run_at_once([me(p) for p in callers] + [sign_in(c) for c in anonymous])
    finally:
        for c in anonymous:
            c.close()
    assert [a.status_code for a in answers] == [200] * 20 + [201] * 4
    request_ids = [a.headers["X-Request-Id"] for a in answers]

    seal_all()
    rows = sql("SELECT seq, action FROM audit_event WHERE request_id = ANY(%s) ORDER BY seq",
               (request_ids,))
    actions = sorted(a for _, a in rows)
    assert actions.count("integrator.key_used") == 20
    assert actions.count("auth.staff_sign_in") == 4
    seqs = [s for s, _ in rows]
    assert len(set(seqs)) == len(seqs) and min(seqs) > before
    assert_gap_free()
    assert assert_chain_ok() >= before + 24


def test_rows_are_sealed_in_commit_order_not_id_order(activity):
    """Six transactions insert rows (ids in the order they began) and commit in reverse,
    the sealer running after each commit. A row is sealed only once its transaction has
    committed, so the rows of a transaction that commits later get later seqs, though
    their ids are smaller; within a transaction the order is by id."""
    conns = [app_connection() for _ in range(6)]
    ids = []
    try:
        for i, conn in enumerate(conns):
            with conn.cursor() as cur:
                ids.append(insert_probe(cur, f"probe-order-{i}", 3))
        for conn in reversed(conns):
            conn.commit()
            seal_all()
    finally:
        for conn in conns:
            conn.close()
    got = sealed(x for batch in ids for x in batch)
    assert all(seq is not None for seq, _, _, _ in got.values())
    by_seq = sorted(got, key=lambda x: got[x][0])
    assert by_seq == [x for batch in reversed(ids) for x in batch]
    assert all(hash_ == want for _, _, hash_, want in got.values())
    assert_gap_free()
    assert_chain_ok()


def test_concurrent_writers_and_sealers_make_one_gap_free_chain(activity):
    """Eight writers at once, each committing 25 transactions of two rows and calling the
    sealer (7 rows a call) after each, while the SMS sender seals too: every row is sealed
    exactly once, seq has neither gap nor repeat, and the chain verifies."""
    def writer(k):
        def run():
            conn = app_connection()
            mine = []
            try:
                for t in range(25):
                    with conn.cursor() as cur:
                        mine += insert_probe(cur, f"probe-par-{k}-{t}", 2)
                    conn.commit()
                    with conn.cursor() as cur:
                        cur.execute("SELECT audit_event_seal(7)")
                    conn.commit()
            finally:
                conn.close()
            return mine
        return run

    _, _, before = chain_extent()
    ids = [x for mine in run_at_once([writer(k) for k in range(8)]) for x in mine]
    assert len(ids) == len(set(ids)) == 400
    seal_all()
    got = sealed(ids)
    seqs = [seq for seq, _, _, _ in got.values()]
    assert len(seqs) == 400 and None not in seqs
    seqs.sort()
    assert len(set(seqs)) == 400 and seqs[0] > before
    assert all(hash_ == want for _, _, hash_, want in got.values())
    assert_gap_free()
    assert_chain_ok()
