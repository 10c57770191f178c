"""The SQLite database: one connection per request on `g`, schema creation, CLI."""

import os
import sqlite3
import struct
import threading
import time
from contextlib import contextmanager

import click
import sqlite_utils
from flask import current_app, g
from flask.cli import with_appcontext

from survey.storage import migrations, tallies
from survey.storage.writer_gate import gate_for, per_process


def connect(path):
    """Open the database at `path` with the durability settings every writer needs.

    WAL lets the respondent pages read while a submission writes; synchronous=FULL
    makes an acknowledged commit survive a power cut or a SIGKILL of the server.
    """
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                           check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    database = sqlite_utils.Database(conn)
    # transaction() queues writers in the kernel instead of SQLite's sleeping busy handler.
    database.writer_gate = None if str(path) == ":memory:" else gate_for(os.path.abspath(path))
    if database.writer_gate is not None:
        # Checkpoints run after the writer left the gate (checkpoint_if_due), not inside
        # the COMMIT that happens to cross 1,000 WAL pages while every other writer waits.
        conn.execute("PRAGMA wal_autocheckpoint=0")
    return database


WAL_CHECKPOINT_FRAMES = 1000  # SQLite's default wal_autocheckpoint
WAL_CHECKPOINT_BYTES = 4 * 1024 * 1024  # the same in bytes, for when the WAL index cannot be read
WAL_INDEX_VERSION = 3007000


def wal_frames_to_copy(shm_path):
    """Frames in the WAL not yet copied back into the database, or None if unknown.

    Read from the WAL-index header in the -shm file (sqlite.org/walformat.html, 2.2:
    mxFrame at byte 16, the checkpoint's nBackfill at byte 96, native byte order). The
    WAL file's size cannot tell: SQLite writes a new WAL over the old one from its start
    and never shrinks the file, so once it had reached 4 MiB every commit looked due and
    paid a checkpoint and its fsync (1 ms of a 3.6 ms submission). Read without a lock: a
    torn read costs at most one early or late checkpoint."""
    try:
        descriptor = os.open(shm_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            header = os.pread(descriptor, 100, 0)
        finally:
            os.close(descriptor)
    except OSError:
        return None
    if len(header) < 100 or struct.unpack_from("=I", header, 0)[0] != WAL_INDEX_VERSION:
        return None
    (frames,), (copied,) = struct.unpack_from("=I", header, 16), struct.unpack_from("=I", header, 96)
    return frames - copied


def checkpoint_if_due(db, background=False):
    """Copy the WAL back into the database once WAL_CHECKPOINT_FRAMES of it are not yet
    copied (PASSIVE: it never waits for or blocks a writer; when another connection is
    checkpointing already, SQLite returns at once). Called by writers after leaving the gate.

    background=True hands the copy to this process's checkpointer thread (the group-commit
    writer: a checkpoint copies about 4 MiB and fsyncs the database, and the writer's next
    batch, with every caller in it, would wait for that)."""
    gate = getattr(db, "writer_gate", None)
    if gate is None:
        return
    try:
        frames = wal_frames_to_copy(gate.shm_path)
        if frames is None:
            if os.stat(gate.wal_path).st_size < WAL_CHECKPOINT_BYTES:
                return
        elif frames < WAL_CHECKPOINT_FRAMES:
            return
        if background:
            checkpointer_for(gate.path).ask(checkpoint=True)
        else:
            db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except (OSError, sqlite3.Error):
        pass  # a missing WAL or a busy checkpointer: the next writer tries again


def fold_if_due(db, background=False):
    """Fold the responses waiting above the tallies' watermark into the tallies once
    tallies.FOLD_AT of them wait (survey.storage.tallies: deferred counting), in a write
    transaction of its own. Called by writers after leaving the gate; never by readers,
    which add the waiting rows themselves. background=True hands it to this process's
    checkpointer thread (the group-commit writer: its callers should not wait for it)."""
    if db.conn.in_transaction:
        return  # inside a caller's transaction: its writer will fold after it
    # Look (a statement) only once this connection has changed FOLD_AT rows since it last
    # looked: a response is at least one row, so no fold comes later than FOLD_AT
    # responses per writer, and most commits pay nothing.
    changes = db.conn.total_changes
    if changes - getattr(db, "fold_looked_at", -tallies.FOLD_AT) < tallies.FOLD_AT:
        return
    db.fold_looked_at = changes
    try:
        if tallies.waiting(db) < tallies.FOLD_AT:
            return
        if background and getattr(db, "writer_gate", None) is not None:
            checkpointer_for(db.writer_gate.path).ask(fold=True)
            return
        with transaction(db, maintain=False):
            tallies.fold(db)
    except sqlite3.OperationalError:
        pass  # no tallies (an old schema before its migrations) or a busy lock: the next writer folds


class Checkpointer:
    """A thread of this process that folds waiting responses into the tallies and copies
    the WAL back when asked, on a connection of its own (kept open: a last connection
    closing would delete the WAL)."""

    def __init__(self, path):
        """Start the thread; it waits for a request."""
        self.path = path
        self.pid = os.getpid()
        self.wanted = threading.Event()
        self.fold_wanted = self.checkpoint_wanted = False
        self.done = 0  # checkpoints run (tests read it)
        self.folds = 0  # folds run (tests read it)
        threading.Thread(target=self._loop, name=f"checkpoint {path}", daemon=True).start()

    def ask(self, fold=False, checkpoint=False):
        """Ask for a fold into the tallies and/or a checkpoint (the fold runs first)."""
        self.fold_wanted = self.fold_wanted or fold
        self.checkpoint_wanted = self.checkpoint_wanted or checkpoint
        self.wanted.set()

    def _loop(self):
        """Wait for a request, fold if asked, checkpoint (PASSIVE), repeat. The connection is
        reopened after an error and when the file was replaced (a restore), so the live
        file is the one written."""
        db = inode = None
        while True:
            self.wanted.wait()
            self.wanted.clear()
            fold, self.fold_wanted = self.fold_wanted, False
            checkpoint, self.checkpoint_wanted = self.checkpoint_wanted, False
            try:
                current = os.stat(self.path).st_ino
                if db is not None and current != inode:
                    db.conn.close()
                    db = None
                if db is None:
                    db, inode = connect(self.path), current
                # A writer asks after each batch while FOLD_AT wait: the ones that came
                # during a fold find nothing due. (A request that lands between the clear and
                # the read of the flags is lost; the next batch's writer asks again.)
                if fold and tallies.waiting(db) >= tallies.FOLD_AT:
                    with transaction(db, maintain=False):
                        tallies.fold(db)
                    self.folds += 1
                if checkpoint:
                    db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.done += 1
            except (OSError, sqlite3.Error):
                if db is not None:
                    db.conn.close()
                db = None


_checkpointers = {}
_checkpointers_lock = threading.Lock()


def checkpointer_for(path):
    """This process's checkpointer of the database file at `path` (started on first use)."""
    return per_process(_checkpointers, _checkpointers_lock, path, Checkpointer)


# Below gunicorn's 30 s worker timeout, so a writer stuck behind a wedged lock gets
# "database is locked" (a calm 503 and a fresh connection) instead of a killed worker.
BUSY_TIMEOUT_S = 20
READY_WAIT_MS = 5000
READY_FOR_S = 1.0
_ready_until = {}  # database path -> monotonic time until which its last good probe stands

# SQLite result codes after which a connection may be stuck in a bad state for good:
# a connection opened while the files were unwritable stays read-only after they are
# writable again, and one whose file was replaced keeps writing to the old inode.
TRANSIENT_ERRORS = ("SQLITE_READONLY", "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR",
                    "SQLITE_CANTOPEN", "SQLITE_FULL", "SQLITE_PROTOCOL")


def is_transient(exc):
    """True if `exc` is an SQLite error that a fresh connection, a moment later, may not hit."""
    name = getattr(exc, "sqlite_errorname", None) or ""
    return isinstance(exc, sqlite3.Error) and name.startswith(TRANSIENT_ERRORS)


def files_writable(path):
    """None if the database files at `path` can be written, else why not.

    SQLite silently opens a file read-only when opening it read-write fails, so this
    asks first. It asks with access(2) and never opens the files: closing any
    descriptor of a file drops every POSIX lock this process holds on it, so an
    open()/close() here released the locks of other threads' connections mid-
    transaction and let another worker write at the same time (a lost commit was
    seen under a duplicate storm). access(2) refuses root too for an immutable file
    (EPERM) or a read-only mount (EROFS).
    """
    for name in (str(path), f"{path}-wal", f"{path}-shm"):
        if not os.path.exists(name):
            if name == str(path):
                return f"database file {name} is missing"
            continue
        if not os.access(name, os.W_OK):
            return f"database file {name} cannot be opened for writing (permission denied or read-only)"
    return None


# One connection per server thread, reused across its requests. Opening and closing a
# connection per request costs more than the request itself: when the last connection
# to a WAL database closes, SQLite checkpoints the WAL and fsyncs on the request's time.
_thread = threading.local()

# Bumped by discard_connections(): every thread of this process then reopens its
# connection at its next request. All of them must go, not only the one that failed:
# SQLite shares a file's locks and WAL index among the connections of one process.
_generation = [0]


def get_db():
    """Return this request's database: the current thread's connection to it."""
    if "db" not in g:
        g.db, g.db_shared = _thread_connection(current_app.config["DATABASE"])
    return g.db


def _thread_connection(path):
    """The thread's connection to `path` and whether it is kept for later requests.

    A connection is reopened when the path changed or discard_connections() ran. One
    opened while the files cannot be written is used for this request only, so the
    first request after the files are writable again gets a writable connection.
    """
    cached = getattr(_thread, "connection", None)
    if cached is not None and cached[0] == str(path) and cached[1] == _generation[0]:
        return cached[2], True
    _drop_thread_connection()
    db = connect(path)
    if files_writable(path) is not None:
        return db, False
    _thread.connection = (str(path), _generation[0], db)
    return db, True


def _drop_thread_connection():
    """Close this thread's kept connection, if any."""
    cached = getattr(_thread, "connection", None)
    _thread.connection = None
    if cached is not None:
        try:
            cached[2].conn.close()
        except sqlite3.Error:
            pass  # closing a broken connection may fail; it is gone either way


def discard_connections():
    """Drop this thread's connection and make every other thread reopen its own.

    Called after a transient SQLite error (read-only, locked too long, I/O, file
    gone): without it a connection SQLite opened read-only stays read-only until a
    restart, even after the files are writable again.
    """
    _generation[0] += 1
    db = g.pop("db", None) if g else None
    shared = g.pop("db_shared", True) if g else True
    if db is not None and not shared:
        _close_quietly(db)
    _drop_thread_connection()


def _close_quietly(db):
    """Close a connection that may be broken."""
    try:
        db.conn.close()
    except sqlite3.Error:
        pass  # already unusable; nothing more to release


def release_thread_connection():
    """Close this thread's connection and make other threads reopen theirs (before a
    restore swaps the file under them)."""
    discard_connections()


def close_db(e=None):
    """End this request's use of the connection; roll back anything left open by an error."""
    db = g.pop("db", None)
    shared = g.pop("db_shared", True)
    if db is None:
        return
    if not shared:
        _close_quietly(db)
        return
    if db.conn.in_transaction:
        try:
            db.conn.rollback()
        except sqlite3.Error:
            discard_connections()


def readiness():
    """None if this server can write to its database now, else the reason it cannot.

    BEGIN IMMEDIATE alone succeeds on a read-only connection, so the probe writes: it
    sets the header's user_version to the value it has, then rolls back. (It used to
    create a table and roll back; a schema change, even rolled back, makes the
    connection re-read the whole schema, 1.5 ms a probe.) It waits at most
    READY_WAIT_MS for the write lock: longer than any one step of a paper import,
    shorter than a monitor's patience. A probe that succeeded stands for READY_FOR_S,
    so a monitor polling many times a second does not queue for the write lock each
    time; the files' permissions are checked on every call.
    """
    path = current_app.config["DATABASE"]
    key = str(path)
    reason = files_writable(path)
    if reason:
        _ready_until.pop(key, None)
        return reason
    if time.monotonic() < _ready_until.get(key, 0.0):
        return None
    db = get_db()
    conn = db.conn
    try:
        conn.execute(f"PRAGMA busy_timeout={READY_WAIT_MS}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            conn.execute(f"PRAGMA user_version = {int(version)}")
        finally:
            conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        _ready_until.pop(key, None)
        if is_transient(exc):
            discard_connections()
        return f"database cannot be written: {exc} ({getattr(exc, 'sqlite_errorname', '')})"
    finally:
        try:
            conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        except sqlite3.Error:
            pass  # the connection was discarded above
    _ready_until[key] = time.monotonic() + READY_FOR_S
    return None


def init_db(db=None):
    """Apply pending schema migrations, then load the questionnaire definitions.

    An existing database with data is backed up into instance/backups/ before the
    first pending migration runs.
    """
    from survey import questionnaires

    db = db or get_db()
    migrations.upgrade(db, backup_dir=os.path.join(current_app.instance_path, "backups"))
    return questionnaires.load_all(db, current_app.config["QUESTIONNAIRE_DIR"])


@click.command("init-db")
@with_appcontext
def init_db_command():
    """Create the tables and load the questionnaires (safe to run again)."""
    from survey.questionnaires import QuestionnaireError

    try:
        loaded = init_db()
    except QuestionnaireError as exc:
        raise click.ClickException(str(exc)) from None
    for qid, version, status in loaded:
        click.echo(f"{qid} v{version}: {status}")
    click.echo("Database ready.")


def init_app(app):
    """Register teardown and the init-db command; create the schema on first run."""
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)


@contextmanager
def writer_turn(db, checkpoint=True):
    """Hold `db`'s writer gate (survey/storage/writer_gate.py) around the block, then fold
    waiting responses into the tallies and checkpoint the WAL if either is due, outside
    the gate (checkpoint=False: the caller will). A connection without a gate (in memory)
    just runs the block. Every writer of the app takes its turn here: transaction() and
    the group-commit writer."""
    gate = getattr(db, "writer_gate", None)
    if gate is None:
        yield
    else:
        gate.acquire(timeout=BUSY_TIMEOUT_S)
        try:
            yield
        finally:
            gate.release()
    if checkpoint:
        fold_if_due(db)
        checkpoint_if_due(db)


@contextmanager
def transaction(db, maintain=True):
    """`with transaction(db):` runs the block as one IMMEDIATE transaction, in the
    writer's turn (writer_turn).

    IMMEDIATE takes the write lock up front, so two concurrent submitters queue on
    busy_timeout instead of failing half way with SQLITE_BUSY on lock upgrade.
    Inside, write with `db.execute` only: sqlite-utils' table helpers commit on
    their own and would end the transaction early. Commits on success, rolls back on
    any exception (which then propagates). maintain=False: no fold or checkpoint after
    it (a fold's own transaction).
    """
    with writer_turn(db, checkpoint=maintain):
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
