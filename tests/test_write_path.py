"""The write path under load (issue 15): the writer gate, the readiness probe, staff
submissions outside the per-address limits, and the draft a stored response deletes."""

import itertools
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import csrf_token
from field_helpers import elder_payload, make_roster

from app import create_app
from survey.storage import db as database
from survey.storage import migrations, responses
from survey.storage.writer_gate import GateTimeout, WriterGate, gate_for
from survey.web import api_submissions

ANSWERS = {"knows_hotline": "1", "knows_services": "1", "heard_from": ["community"], "satisfaction": "5"}

HOLD_GATE = """
import sys, time
sys.path.insert(0, {root!r})
from survey.storage.writer_gate import gate_for
gate = gate_for({path!r})
gate.acquire(timeout=5)
print("held", flush=True)
time.sleep(60)
"""


def _flock_free(lock_path):
    """Whether another process could take the gate's flock now (asked from a child process)."""
    code = ("import fcntl, os, sys\nfd = os.open(sys.argv[1], os.O_RDWR)\n"
            "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n    sys.exit(1)\n")
    return subprocess.run([sys.executable, "-c", code, lock_path]).returncode == 0


def test_the_gate_holds_other_processes_until_the_outermost_release(tmp_path):
    gate = WriterGate(str(tmp_path / "x.sqlite"))
    gate.acquire(timeout=1)
    gate.acquire(timeout=1)  # re-entrant: a nested transaction() in the same thread
    assert not _flock_free(gate.lock_path)
    gate.release()
    assert not _flock_free(gate.lock_path)
    gate.release()
    assert _flock_free(gate.lock_path)


def test_a_writer_that_waits_too_long_gets_a_transient_busy_error(tmp_path):
    gate = WriterGate(str(tmp_path / "x.sqlite"))
    held = threading.Event()
    done = threading.Event()

    def holder():
        gate.acquire(timeout=1)
        held.set()
        done.wait(5)
        gate.release()

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    with pytest.raises(GateTimeout) as caught:
        gate.acquire(timeout=0.1)
    done.set()
    thread.join()
    # Answered like SQLite's own "database is locked": a calm 503, connections renewed.
    assert isinstance(caught.value, sqlite3.OperationalError) and database.is_transient(caught.value)
    gate.acquire(timeout=1)
    gate.release()


def test_a_killed_holder_never_wedges_the_gate(tmp_path):
    path = str(tmp_path / "x.sqlite")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    child = subprocess.Popen([sys.executable, "-c", HOLD_GATE.format(root=root, path=path)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        assert not _flock_free(f"{path}-writer.lock")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    gate = WriterGate(path)
    started = time.monotonic()
    gate.acquire(timeout=1)
    gate.release()
    assert time.monotonic() - started < 1


def test_transactions_of_the_app_pass_the_gate(app):
    with app.app_context():
        db = database.get_db()
        gate = gate_for(os.path.abspath(app.config["DATABASE"]))
        assert db.writer_gate is gate
        with database.transaction(db):
            assert not _flock_free(gate.lock_path)
        assert _flock_free(gate.lock_path)
        with pytest.raises(RuntimeError), database.transaction(db):
            raise RuntimeError("rolled back")
        assert _flock_free(gate.lock_path) and not db.conn.in_transaction


def test_health_probes_the_write_lock_at_most_once_a_second(app, client, monkeypatch):
    assert client.get("/health").status_code == 200
    other = sqlite3.connect(app.config["DATABASE"], isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # someone else holds the write lock
    try:
        assert client.get("/health").status_code == 200  # the probe of a moment ago stands
        monkeypatch.setattr(database, "READY_FOR_S", 0.0)
        monkeypatch.setattr(database, "READY_WAIT_MS", 50)
        database._ready_until.clear()
        response = client.get("/health")
        assert response.status_code == 503 and "locked" in response.json["reason"]
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert client.get("/health").status_code == 200


def test_the_probe_changes_nothing(app, client):
    before = sqlite3.connect(app.config["DATABASE"]).execute("PRAGMA user_version").fetchone()[0]
    database._ready_until.clear()
    assert client.get("/health").status_code == 200
    conn = sqlite3.connect(app.config["DATABASE"])
    assert conn.execute("PRAGMA user_version").fetchone()[0] == before
    assert conn.execute("select count(*) from sqlite_master where name like '%probe%'").fetchone()[0] == 0


@pytest.fixture
def limited(tmp_path):
    """An app with the per-address limits on and the submission limit at 2 a minute."""
    app = create_app({"TESTING": True, "SECRET_KEY": "limits", "DATABASE": str(tmp_path / "l.sqlite"),
                      "RATELIMIT_ENABLED": True, "RATELIMIT_SUBMIT": "2/minute"})
    with app.app_context():
        from survey.web.auth import create_user

        db = database.get_db()
        staff_id = create_user(db, "staff", "correct-horse-battery", "staff", "调查员")
        token = api_submissions.issue_token(db, staff_id)
        households = make_roster(db)
    return app, token, households


def test_staff_submissions_are_not_counted_against_the_address(limited):
    app, token, households = limited
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    statuses = [client.post("/api/submissions", json=elder_payload(households[number]), headers=headers).status_code
                for number in ("A001", "A002", "B001")]
    assert statuses == [201] * 3
    # Signed in by a session instead of the token, the same address is limited: 2 a minute.
    page = client.get("/login")
    assert client.post("/login", data={"csrf_token": csrf_token(page.text), "username": "staff",
                                       "password": "correct-horse-battery"}).status_code == 302
    field = client.get("/e/default/field/").text.replace('name="csrf-token" content=', 'name="csrf_token" value=')
    session = {"X-CSRFToken": csrf_token(field)}
    statuses = [client.post("/api/submissions", json=elder_payload(households["A001"]), headers=session).status_code
                for _ in range(3)]
    assert statuses == [409, 409, 429]  # the household answered already (above), then the limit


def test_a_stored_response_deletes_its_draft(app):
    with app.app_context():
        db = database.get_db()
        from survey import questionnaires

        questionnaire = questionnaires.get(db, "public-awareness")
        responses.open_draft(db, 1, questionnaire, "draft-0001", {"channel": "qr"})
        assert db.execute("select count(*) from drafts").fetchone()[0] == 1
        responses.record(db, questionnaire, "draft-0001", ANSWERS,
                         {"evaluation_id": 1, "channel": "qr"})
        assert db.execute("select count(*) from drafts").fetchone()[0] == 0


def test_migration_14_adds_the_draft_trigger_to_a_database_of_migration_13(tmp_path, monkeypatch):
    conn = database.connect(tmp_path / "old.sqlite")
    every = list(migrations.MIGRATIONS)
    monkeypatch.setattr(migrations, "MIGRATIONS", [m for m in every if m[0] <= 13])
    migrations.upgrade(conn)  # the database as the code before migration 14 left it
    monkeypatch.setattr(migrations, "MIGRATIONS", every)
    triggers = {row[0] for row in conn.execute("select name from sqlite_master where type = 'trigger'")}
    assert "response_clears_draft" not in triggers
    applied = migrations.upgrade(conn)
    assert (14, "a stored response deletes its draft") in applied
    triggers = {row[0] for row in conn.execute("select name from sqlite_master where type = 'trigger'")}
    assert "response_clears_draft" in triggers


def test_migration_15_defers_the_tallies_on_a_database_of_migration_14(tmp_path, monkeypatch):
    """A database as the code before migration 15 left it (no watermark, triggers counting
    every response at once) keeps its counts, gets a watermark at its highest response,
    and from then on counts new responses when they are folded in."""
    from survey import questionnaires
    from survey.storage import measures_store, tallies

    conn = database.connect(tmp_path / "old.sqlite")
    every = list(migrations.MIGRATIONS)
    monkeypatch.setattr(migrations, "MIGRATIONS", [m for m in every if m[0] <= 14])
    migrations.upgrade(conn)
    questionnaires.load_all(conn, Path(database.__file__).parents[1] / "definitions")
    questionnaire = questionnaires.get(conn, "public-awareness")
    for index in range(3):
        responses.record(conn, questionnaire, f"before-15-{index}", ANSWERS, {"evaluation_id": 1, "channel": "qr"})
    with database.transaction(conn):
        tallies.fold(conn)
    before = measures_store.compute_all(conn, 1, "public-awareness")
    with database.transaction(conn):
        # What the code before migration 15 had: no watermark, its triggers without a condition.
        conn.execute("drop table tally_watermark")
        for name, body in tallies._triggers().items():
            conn.execute(f"drop trigger {name}")
            conn.execute(f"create trigger {name} " + re.sub(r" when \w+\.\w+ <= \(select response_id from"
                                                           r" tally_watermark\)", "", body))
    old = conn.execute("select count(*) from sqlite_master where type = 'trigger' and sql like '%watermark%'")
    assert old.fetchone()[0] == 0
    monkeypatch.setattr(migrations, "MIGRATIONS", every)
    applied = migrations.upgrade(conn)
    assert (15, "tallies count new responses in batches") in applied
    assert conn.execute("select response_id from tally_watermark").fetchone()[0] == 3
    trigger = conn.execute("select sql from sqlite_master where name = 'tally_response_insert'").fetchone()[0]
    assert "tally_watermark" in trigger
    new = conn.execute("select count(*) from sqlite_master where type = 'trigger' and sql like '%watermark%'")
    assert new.fetchone()[0] == len(tallies.TRIGGERS)
    after = measures_store.compute_all(conn, 1, "public-awareness")
    assert {k: v.to_dict() for k, v in after.items()} == {k: v.to_dict() for k, v in before.items()}
    assert after["responses"].n == 3
    responses.record(conn, questionnaire, "after-15-0", ANSWERS, {"evaluation_id": 1, "channel": "qr"})
    assert tallies.waiting(conn) == 1  # not counted by a trigger, yet counted by the readers
    assert measures_store.compute_all(conn, 1, "public-awareness")["responses"].n == 4
    assert conn.execute("select sum(n) from response_tallies").fetchone()[0] == 3
    with database.transaction(conn):
        tallies.fold(conn)
    assert conn.execute("select sum(n) from response_tallies").fetchone()[0] == 4


def test_a_writer_folds_once_fold_at_responses_wait(app, monkeypatch):
    """transaction() folds after its commit once FOLD_AT responses wait, not before."""
    from survey import questionnaires
    from survey.storage import tallies

    monkeypatch.setattr(tallies, "FOLD_AT", 5)
    with app.app_context():
        db = database.get_db()
        questionnaire = questionnaires.get(db, "public-awareness")
        for index in range(4):
            responses.record(db, questionnaire, f"fold-{index:04d}", ANSWERS, {"evaluation_id": 1, "channel": "qr"})
        assert tallies.waiting(db) == 4
        responses.record(db, questionnaire, "fold-0004", ANSWERS, {"evaluation_id": 1, "channel": "qr"})
        assert tallies.waiting(db) == 0
        assert db.execute("select sum(n) from response_tallies").fetchone()[0] == 5


def test_a_retry_needs_no_write_lock(app):
    with app.app_context():
        db = database.get_db()
        from survey import questionnaires

        questionnaire = questionnaires.get(db, "public-awareness")
        meta = {"evaluation_id": 1, "channel": "qr"}
        first = responses.record(db, questionnaire, "retry-0001", ANSWERS, meta)
        other = sqlite3.connect(app.config["DATABASE"], isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            started = time.monotonic()
            again = responses.record(db, questionnaire, "retry-0001", ANSWERS, meta)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert again == (first[0], False) and time.monotonic() - started < 1


def test_the_gate_lock_file_does_not_disturb_the_database_locks(tmp_path):
    """Closing the gate's descriptor drops no SQLite lock (they are on other files)."""
    path = tmp_path / "x.sqlite"
    conn = database.connect(path)
    conn.execute("create table t (x)")
    gate = conn.writer_gate
    with database.transaction(conn):
        conn.execute("insert into t values (1)")
        fd = os.open(gate.lock_path, os.O_RDWR)
        os.close(fd)
        probe = sqlite3.connect(str(path), timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError):
            probe.execute("BEGIN IMMEDIATE")
        probe.close()


def _checkpointed_wal_of_4_mib(tmp_path):
    """A connection whose WAL file grew past 4 MiB and was then copied back: SQLite writes the
    next transactions over the old WAL from its start, and the file keeps its size."""
    db = database.connect(str(tmp_path / "wal.sqlite"))
    db.execute("create table blobs (b blob)")
    while os.stat(db.writer_gate.wal_path).st_size < database.WAL_CHECKPOINT_BYTES:
        with database.transaction(db):
            db.execute("insert into blobs values (randomblob(200000))")
    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    return db


def test_the_frames_to_copy_are_read_from_the_wal_index(tmp_path):
    db = database.connect(str(tmp_path / "index.sqlite"))
    assert database.wal_frames_to_copy(str(tmp_path / "missing.sqlite-shm")) is None
    db.execute("create table t (x)")
    with database.transaction(db):
        db.execute("insert into t values (randomblob(50000))")
    frames = database.wal_frames_to_copy(db.writer_gate.shm_path)
    _busy, in_wal, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert frames == in_wal > 10 and copied == in_wal
    assert database.wal_frames_to_copy(db.writer_gate.shm_path) == 0


def test_small_commits_after_a_big_wal_do_not_each_pay_a_checkpoint(tmp_path):
    db = _checkpointed_wal_of_4_mib(tmp_path)
    assert os.stat(db.writer_gate.wal_path).st_size >= database.WAL_CHECKPOINT_BYTES
    waiting = []
    for number in range(5):
        with database.transaction(db):
            db.execute("insert into blobs values (?)", [number])
        waiting.append(database.wal_frames_to_copy(db.writer_gate.shm_path))
    # Judged by the file's size, every one of them was due and copied at once (0 left).
    assert 0 < waiting[0] < waiting[-1] < database.WAL_CHECKPOINT_FRAMES


def test_a_checkpoint_runs_once_enough_frames_wait(tmp_path):
    db = _checkpointed_wal_of_4_mib(tmp_path)
    waiting = []
    for _ in range(60):  # about 25 frames each: 1,500 frames in all
        with database.transaction(db):
            db.execute("insert into blobs values (randomblob(100000))")
        waiting.append(database.wal_frames_to_copy(db.writer_gate.shm_path))
    dropped = [later for earlier, later in itertools.pairwise(waiting) if later < earlier]
    assert dropped == [0]  # one checkpoint, by the commit that crossed the threshold
    assert max(waiting) < database.WAL_CHECKPOINT_FRAMES + 30


def test_the_group_commit_writer_hands_due_checkpoints_to_a_thread(tmp_path):
    from concurrent.futures import Future

    from survey.storage import group_commit

    db = _checkpointed_wal_of_4_mib(tmp_path)
    path = os.path.abspath(str(tmp_path / "wal.sqlite"))
    writer = group_commit.Writer(path)
    checkpointer = database.checkpointer_for(path)

    def big(target):
        target.execute("insert into blobs values (randomblob(100000))")
        return True

    for _ in range(60):  # about 1,500 frames: at least one checkpoint is due
        batch = [(big, Future())]
        writer._commit_in_gate(db, batch)
        assert batch[0][1].result() is True
    deadline = time.monotonic() + 10
    while (checkpointer.done == 0 or database.wal_frames_to_copy(db.writer_gate.shm_path)
           >= database.WAL_CHECKPOINT_FRAMES) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert checkpointer.done >= 1
    assert database.wal_frames_to_copy(db.writer_gate.shm_path) < database.WAL_CHECKPOINT_FRAMES
