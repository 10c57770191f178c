"""Group commit: one writer thread per process joins concurrent submissions into one
transaction and one fsync, and answers each only after that commit.

Why: SQLite has one write lock per database. With every request thread committing on
its own, the threads of a worker queue on that lock by polling (busy_timeout sleeps
of 1 to 100 ms, leaving the lock idle between holders) and each commit pays its own
fsync (synchronous=FULL). Here a request thread hands its write (a function of the
database) to the process's writer and waits; the writer takes everything waiting
(up to MAX_BATCH), runs each write in a SAVEPOINT inside one IMMEDIATE transaction,
commits once, and only then releases the waiting threads with their results.

Durability is unchanged: a submission is acknowledged after the COMMIT that holds it
returned (synchronous=FULL), so a SIGKILL before that loses nothing acknowledged,
and a retry finds the stored row by its submission id. One failing write (a
constraint, bad data) is rolled back to its savepoint and raises in its own request
only; a failing COMMIT raises in every request of the batch and none was acknowledged.

A connection never crosses a fork: the writer belongs to the process that started
it (gunicorn workers start their own on first use).
"""

import os
import queue
import threading
from concurrent.futures import Future

from survey.storage import db as database
from survey.storage.db import connect
from survey.storage.writer_gate import per_process

MAX_BATCH = 64
_writers = {}
_lock = threading.Lock()


class Writer:
    """The writer thread of one database in this process."""

    def __init__(self, path):
        """Open nothing yet; the thread opens its own connection."""
        self.path = str(path)
        self.pid = os.getpid()
        self.queue = queue.SimpleQueue()
        self.batches = 0  # transactions committed (tests and benchmarks read it)
        self.writes = 0
        self.thread = threading.Thread(target=self._loop, name=f"group-commit {self.path}", daemon=True)
        self.thread.start()

    def run(self, work):
        """Run `work(db)` in the next group transaction; return its result once committed."""
        future = Future()
        self.queue.put((work, future))
        return future.result()

    def _loop(self):
        """Take what is waiting, write it as one transaction, answer, repeat.

        The connection heals like the request threads' (survey.storage.db): it is reopened after
        a transient SQLite error (read-only files, I/O, a replaced file), when
        survey.storage.db.discard_connections() ran, and when it was opened while the files
        could not be written (SQLite would keep it read-only for good).
        """
        db, generation, writable = None, None, False
        while True:
            batch = [self.queue.get()]
            self._take_waiting(batch)
            try:
                if db is None or generation != database._generation[0]:
                    _close(db)
                    generation = database._generation[0]
                    db = connect(self.path)
                    writable = database.files_writable(self.path) is None
            except Exception as exc:  # cannot even open: every caller of this batch hears it
                db = None
                for _work, future in batch:
                    future.set_exception(exc)
                continue
            errors = self._commit_in_gate(db, batch)
            if not writable or any(database.is_transient(exc) for exc in errors):
                _close(db)
                db = None

    def _take_waiting(self, batch):
        """Add the writes waiting in the queue to `batch`, up to MAX_BATCH."""
        while len(batch) < MAX_BATCH:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                return

    def _commit_in_gate(self, db, batch):
        """_commit in this writer's turn (survey.storage.db.writer_turn), so the workers'
        writers take turns without SQLite's sleeping busy handler; then answer the callers.

        The callers are answered after the gate is left (a woken request thread competes
        for the worker's GIL, and every moment the gate's holder waits for it is a moment
        the other workers' writers wait too), and a due checkpoint is handed to the
        process's checkpointer thread.
        Returns the exceptions the callers heard."""
        try:
            with database.writer_turn(db, checkpoint=False):
                # What arrived while this writer waited for the gate joins the batch: under
                # load the gate is busy (the other workers' writers) and the batch grows
                # instead of waiting for a turn of its own.
                self._take_waiting(batch)
                outcomes = self._commit(db, batch)
        except Exception as exc:  # noqa: BLE001 - the gate refused (timeout): every caller of this batch hears it
            outcomes = [(future, None, exc) for _work, future in batch]
        for future, result, exc in outcomes:
            if exc is None:
                future.set_result(result)
            else:
                future.set_exception(exc)
        database.fold_if_due(db, background=True)
        database.checkpoint_if_due(db, background=True)
        return [exc for _future, _result, exc in outcomes if exc is not None]

    def _commit(self, db, batch):
        """One IMMEDIATE transaction for the batch: [(future, result, exception), ...],
        for the caller to release after COMMIT.

        The writes first run one after another with nothing between them. If one fails,
        the transaction is rolled back and the batch runs again with a SAVEPOINT around
        each write, so only the failing one is lost. (A savepoint for every write cost two
        more statements each, and each statement inside the write lock gives up Python's
        GIL and waits for it; failures are rare: bad input is refused before the batch.)
        If the transaction itself fails, nothing of the batch is stored and every write
        gets its exception.
        """
        try:
            db.execute("BEGIN IMMEDIATE")
            outcomes = _writes(db, batch)
            if outcomes is None:
                db.execute("ROLLBACK")
                db.execute("BEGIN IMMEDIATE")
                outcomes = _writes_isolated(db, batch)
            db.execute("COMMIT")
        except Exception as exc:  # nothing of this batch is stored: every caller hears it
            try:
                if db.conn.in_transaction:
                    db.conn.rollback()
            except Exception:  # noqa: BLE001 - a broken connection is reopened by the caller
                pass
            return [(future, None, exc) for _work, future in batch]
        self.batches += 1
        self.writes += len(batch)
        return outcomes


def _writes(db, batch):
    """Run every write of the batch; [(future, result, None), ...], or None if one raised."""
    outcomes = []
    for work, future in batch:
        try:
            outcomes.append((future, work(db), None))
        except Exception:  # noqa: BLE001 - the caller re-runs the batch write by write
            return None
    return outcomes


def _writes_isolated(db, batch):
    """Run every write in its own SAVEPOINT: a failing one is rolled back alone and its
    exception kept for its caller. Returns [(future, result or None, exception or None), ...]."""
    outcomes = []
    for work, future in batch:
        db.execute("SAVEPOINT one_write")
        try:
            result = work(db)
        except Exception as exc:  # this write alone fails; the others go on
            db.execute("ROLLBACK TO one_write")
            db.execute("RELEASE one_write")
            outcomes.append((future, None, exc))
        else:
            db.execute("RELEASE one_write")
            outcomes.append((future, result, None))
    return outcomes


def _close(db):
    """Close a connection that may be broken (or None)."""
    if db is not None:
        try:
            db.conn.close()
        except Exception:  # noqa: BLE001 - unusable already; nothing more to release
            pass


def writer(path):
    """This process's writer for the database at `path` (started on first use)."""
    return per_process(_writers, _lock, path, Writer)


def run(path, work):
    """Run `work(db)` in a group transaction on the database at `path`; return its result."""
    return writer(path).run(work)
