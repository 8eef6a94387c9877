"""The SQLite store's own ways: WAL, workers opening a new file at once (the rest
of what a store must do is in test_store_contract.py, run on every store)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from multiprocessing.queues import Queue
from pathlib import Path

import pytest

from ivr.engine.call import CallSession
from ivr.stores.sqlite_store import SqliteStore

from .narrowing import stored


def test_wal_mode(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    assert store.connection().execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _open_store(path: str, results: Queue[str]) -> None:  # a separate process, like a gunicorn worker
    try:
        SqliteStore(path).check()  # set up and seeded on first use
        results.put("ok")
    except Exception as exc:  # noqa: BLE001 - the test reports what went wrong
        results.put(repr(exc))


def test_workers_opening_a_new_file_at_once_all_start(tmp_path: Path) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for trial in range(8):
        path = str(tmp_path / f"fresh{trial}.db")
        results = ctx.Queue()
        workers = [ctx.Process(target=_open_store, args=(path, results)) for _ in range(5)]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=30) for _ in workers]
        for worker in workers:
            worker.join(10)
        assert outcomes == ["ok"] * 5


# -- SQLite errors are StoreErrors, and leave nothing half-written -----------------------------


def _writer(store: SqliteStore) -> sqlite3.Connection:
    """The connection the store writes on: the same one for every transaction of the process."""
    with store.transaction() as db:
        return db


def _refuse(store: SqliteStore, table: str, event: str = "INSERT") -> None:
    """Make every `event` on `table` fail, as a full disk or a broken file would."""
    store.connection().execute(
        f"CREATE TRIGGER refuse_{table}_{event} BEFORE {event} ON {table} "
        "BEGIN SELECT RAISE(ABORT, 'disk I/O error (simulated)'); END"
    )


def _call(sid: str, reference: str = "12345678") -> CallSession:
    return CallSession(sid, "main", "main_menu", reference=reference)


def test_a_failed_write_is_a_store_error_and_leaves_no_half_written_call(tmp_path: Path) -> None:
    from ivr.engine.errors import StoreError
    from ivr.engine.store import CallEvent

    store = SqliteStore(tmp_path / "s.db")
    _refuse(store, "call_events")
    with pytest.raises(StoreError) as raised, store.call("CA1", now=1.0) as slot:
        slot.create(_call("CA1"), caller="", now=1.0)  # written, then rolled back with the step
        slot.log(CallEvent(1.0, 0, "start", "", "incoming", "main_menu", "en"))
    assert str(raised.value).startswith(
        f"the SQLite store {store.path} cannot write call CA1: disk I/O error (simulated). Check that"
    )
    assert isinstance(raised.value.__cause__, sqlite3.Error)
    assert store.get_call("CA1") is None
    assert not _writer(store).in_transaction
    with store.call("CA2", now=2.0) as slot:  # the failed step did not keep the lock
        slot.create(_call("CA2"), caller="", now=2.0)
    assert store.get_call("CA2") is not None


def test_a_read_only_database_is_a_store_error(tmp_path: Path) -> None:
    from ivr.engine.errors import StoreError

    store = SqliteStore(tmp_path / "s.db")
    _writer(store).execute("PRAGMA query_only = ON")  # chmod does not stop root; this does
    with pytest.raises(StoreError, match=r"cannot lock call CA1: attempt to write a readonly database"):
        with store.call("CA1", now=1.0) as slot:
            slot.create(_call("CA1"), caller="", now=1.0)
    assert store.get_call("CA1") is None


@pytest.mark.parametrize(
    "use",
    [
        lambda store: store.get_call("CA1"),
        lambda store: store.recent_calls(),
        lambda store: list(store.iter_raw_text()),
        lambda store: store.members.verify("0" * 64, "03071956"),
        lambda store: store.end_call("CA1", "completed", 2.0, 5),
        lambda store: store.call("CA1", now=1.0).__enter__(),
    ],
    ids=["get_call", "recent_calls", "iter_raw_text", "verify", "end_call", "call"],
)
def test_a_closed_connection_is_a_store_error_everywhere(
    tmp_path: Path, use: Callable[[SqliteStore], object]
) -> None:
    from ivr.engine.errors import StoreError

    store = SqliteStore(tmp_path / "s.db")
    _writer(store).close()
    store.connection().close()
    with pytest.raises(StoreError, match=r"Cannot operate on a closed database\. Check that the file"):
        use(store)


def test_end_call_runs_in_a_transaction_and_rolls_back_when_it_fails(tmp_path: Path) -> None:
    from ivr.engine.errors import StoreError

    store = SqliteStore(tmp_path / "s.db")
    with store.call("CA1", now=1.0) as slot:
        slot.create(_call("CA1"), caller="", now=1.0)
    _refuse(store, "calls", "UPDATE")
    with pytest.raises(StoreError, match=r"cannot write the end of call CA1: disk I/O error \(simulated\)"):
        store.end_call("CA1", "completed", 2.0, 1)
    assert not _writer(store).in_transaction
    store.connection().execute("DROP TRIGGER refuse_calls_UPDATE")
    record = store.get_call("CA1")
    assert record is not None and (record.status, record.ended_at) == ("in-progress", None)
    assert store.end_call("CA1", "completed", 3.0, 2)
    assert stored(store, "CA1").status == "completed"


def test_a_failed_member_seeding_rolls_back_and_keeps_the_old_members(tmp_path: Path) -> None:
    from ivr.engine.errors import StoreError

    path = tmp_path / "s.db"
    first = SqliteStore(path)
    first.members.verify("0" * 64, "03071956")  # seeded on first use
    count = first.connection().execute("SELECT COUNT(*) FROM members").fetchone()[0]
    assert count > 0
    _refuse(first, "members")
    first.close()
    with pytest.raises(StoreError, match=r"cannot seed the fictional members: disk I/O error"):
        SqliteStore(path).members.verify("0" * 64, "03071956")  # another key: seeded again
    db = sqlite3.connect(path)
    assert db.execute("SELECT COUNT(*) FROM members").fetchone()[0] == count  # DELETE rolled back
    assert not db.in_transaction


def _statements(store: SqliteStore) -> list[str]:
    """The SQL the store writes with from now on (the first word of each statement)."""
    seen: list[str] = []
    _writer(store).set_trace_callback(lambda sql: seen.append(sql.split()[0].upper()))
    return seen


def test_a_new_call_is_one_insert_of_its_record_and_one_of_its_first_event(tmp_path: Path) -> None:
    from ivr.engine.store import CallEvent

    store = SqliteStore(tmp_path / "s.db")
    store.connection()
    seen = _statements(store)
    with store.call("CA1", now=1.0) as slot:
        assert slot.reference_free("12345678")
        session = _call("CA1")
        slot.create(session, caller="***0006", now=1.0)
        slot.log(CallEvent(1.0, 0, "start", "", "incoming", "main_menu", "en"))
        session.state = "billing_menu"
        slot.save(session, now=1.0, outcome="goodbye")
    assert seen == ["BEGIN", "SELECT", "SELECT", "INSERT", "INSERT", "COMMIT"]
    record = store.get_call("CA1")
    assert record is not None
    assert (record.state, record.outcome, record.caller, len(record.events)) == (
        "billing_menu",
        "goodbye",
        "***0006",
        1,
    )
    assert stored(store, "CA1").state == "billing_menu"


def test_a_step_is_one_read_one_update_and_one_insert_per_event(tmp_path: Path) -> None:
    from ivr.engine.store import CallEvent

    store = SqliteStore(tmp_path / "s.db")
    with store.call("CA1", now=1.0) as slot:
        slot.create(_call("CA1"), caller="", now=1.0)
        slot.save(_call("CA1"), now=1.0, outcome="transfer:billing")
    seen = _statements(store)
    with store.call("CA1", now=2.0) as slot:
        assert slot.session is not None
        slot.session.state = "billing_menu"
        slot.save(slot.session, now=2.0)  # no outcome: the stored one is kept
        slot.log(CallEvent(2.0, 1, "press_2", "2", "main_menu", "billing_menu", "en"))
        slot.log(CallEvent(2.0, 2, "press_1", "1", "billing_menu", "billing_cost", "en"))
    assert seen == ["BEGIN", "SELECT", "UPDATE", "INSERT", "INSERT", "COMMIT"]
    record = store.get_call("CA1")
    assert record is not None and record.outcome == "transfer:billing"
    assert [e.trigger for e in record.events] == ["press_2", "press_1"]


def test_threads_reading_and_writing_a_new_file_at_once_never_deadlock(tmp_path: Path) -> None:
    """A read sets the file up behind the writers' lock; a write that took that lock first and
    then waited for the set-up deadlocked both until the lock timeout (a trainer page's clicks)."""
    import threading

    store = SqliteStore(tmp_path / "s.db", lock_timeout=3.0)
    barrier = threading.Barrier(8)
    failures: list[BaseException] = []

    def work(i: int) -> None:
        barrier.wait()
        try:
            if i % 2:
                store.get_call(f"CA{i}")
            else:
                with store.call(f"CA{i}", now=1.0) as slot:
                    slot.create(_call(f"CA{i}", reference=f"1234567{i}"), caller="", now=1.0)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []
    assert {r.call_sid for r in store.recent_calls()} == {"CA0", "CA2", "CA4", "CA6"}


def _indexes(path: Path) -> dict[str, tuple[str, ...]]:
    with sqlite3.connect(path) as db:
        names = [
            r[0]
            for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'calls'")
        ]
        return {
            n: tuple(r[2] for r in db.execute(f"PRAGMA index_info({n})"))
            for n in names
            if not n.startswith("sqlite_")
        }


def test_no_index_of_calls_holds_expires_at_which_every_step_moves(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "ivr.sqlite3"))
    store.check()
    indexes = _indexes(tmp_path / "ivr.sqlite3")
    assert indexes["calls_open"] == ("line", "ended_at")
    assert not [
        name for name, columns in indexes.items() if "expires_at" in columns or "updated_at" in columns
    ]
    with sqlite3.connect(tmp_path / "ivr.sqlite3") as db:  # the live calls' query still uses it
        plan = " ".join(
            str(r[3])
            for r in db.execute(
                "EXPLAIN QUERY PLAN SELECT call_sid FROM calls WHERE line = ? AND ended_at IS NULL"
                " AND expires_at >= ? ORDER BY started_at",
                ("main", 0.0),
            )
        )
    assert "calls_open" in plan


def test_an_older_file_s_calls_live_index_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    SqliteStore(str(path)).check()
    with sqlite3.connect(path) as db:  # as an older version left it
        db.execute("DROP INDEX calls_open")
        db.execute("CREATE INDEX calls_live ON calls (line, ended_at, expires_at)")
    SqliteStore(str(path)).check()
    assert set(_indexes(path)) == {"calls_started", "calls_open"}


def test_an_older_file_s_calls_ended_index_is_dropped_and_its_query_uses_calls_open(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    store = SqliteStore(str(path))
    store.check()
    with sqlite3.connect(path) as db:  # as an older version left it
        db.execute("CREATE INDEX calls_ended ON calls (ended_at)")
    store.close()
    store = SqliteStore(str(path))
    store.check()
    assert set(_indexes(path)) == {"calls_started", "calls_open"}
    with sqlite3.connect(path) as db:  # the ended calls of a line: a search of calls_open
        plan = " ".join(
            str(r[3])
            for r in db.execute(
                "EXPLAIN QUERY PLAN SELECT call_sid FROM calls WHERE ended_at >= ? AND line = ?"
                " ORDER BY ended_at",
                (0.0, "main"),
            )
        )
    assert "USING INDEX calls_open (line=? AND ended_at>?)" in plan, plan
    assert store.ended_calls("main", 0.0) == []


# -- one writer connection and one lock file per process ------------------------------------


def _descriptors_on(path: Path) -> int:
    """How many of this process's descriptors are open on `path` itself (not its -wal, -shm)."""
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        try:
            if Path(fd.readlink()) == path:
                count += 1
        except OSError:
            continue
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
def test_threads_stepping_at_once_share_one_writer_connection_and_one_lock_file(tmp_path: Path) -> None:
    import threading

    from ivr.engine.store import CallEvent

    path = tmp_path / "s.db"
    store = SqliteStore(path)
    store.check()
    before = _descriptors_on(path), _descriptors_on(Path(f"{path}.lock"))
    writers: set[int] = set()
    alive = threading.Barrier(41)

    def step(n: int) -> None:
        sid = f"CA{n}"
        with store.call(sid, now=1.0) as slot:
            writers.add(id(store.connection()))  # inside a write: the write's own connection
            slot.create(_call(sid, reference=f"{n:08d}"), caller="", now=1.0)
            slot.log(CallEvent(1.0, 0, "start", "", "incoming", "main_menu", "en"))
        alive.wait(10)  # every thread still alive, its thread-locals with it, while we count

    threads = [threading.Thread(target=step, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    try:
        while alive.n_waiting < 40 and any(t.is_alive() for t in threads):
            threading.Event().wait(0.01)
        assert (_descriptors_on(path), _descriptors_on(Path(f"{path}.lock"))) == before
    finally:
        alive.wait(10)
        for thread in threads:
            thread.join(10)
    assert len(writers) == 1
    assert [stored(store, f"CA{n}").reference for n in range(40)] == [f"{n:08d}" for n in range(40)]


def test_reads_inside_a_write_see_it_and_reads_outside_see_it_once_committed(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    with store.transaction() as db:
        db.execute("INSERT INTO meta (key, value) VALUES ('k', 'written')")
        inside = store.connection().execute("SELECT value FROM meta WHERE key = 'k'").fetchone()
        assert store.connection() is db
    assert inside == ("written",)
    assert store.connection() is not db
    assert store.connection().execute("SELECT value FROM meta WHERE key = 'k'").fetchone() == ("written",)


def _write_in_child(store: SqliteStore, parents: int, results: Queue[str]) -> None:
    try:
        with store.call("CA-child", now=1.0) as slot:
            slot.create(_call("CA-child", reference="22222222"), caller="", now=1.0)
            inherited = id(store.connection()) == parents  # the address survives the fork
        results.put("wrote on the parent's connection" if inherited else "ok")
    except Exception as exc:  # noqa: BLE001 - the test reports what went wrong
        results.put(repr(exc))


def test_a_forked_process_writes_on_its_own_connection_and_the_parent_goes_on(tmp_path: Path) -> None:
    import multiprocessing

    store = SqliteStore(tmp_path / "s.db")
    with store.call("CA-parent", now=1.0) as slot:  # the parent's writer and lock file are open
        slot.create(_call("CA-parent", reference="11111111"), caller="", now=1.0)
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    child = ctx.Process(target=_write_in_child, args=(store, id(_writer(store)), results))
    child.start()
    assert results.get(timeout=30) == "ok"
    child.join(10)
    with store.call("CA-after", now=2.0) as slot:  # the child left the parent's alone
        slot.create(_call("CA-after", reference="33333333"), caller="", now=2.0)
    assert [stored(store, sid).reference for sid in ("CA-parent", "CA-child", "CA-after")] == [
        "11111111",
        "22222222",
        "33333333",
    ]
