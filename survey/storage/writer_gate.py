"""The writer gate: the app's writers queue for SQLite's one write lock in the kernel,
not in SQLite's busy handler.

Why: when a writer finds the database locked, SQLite's default busy handler sleeps
1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, then 100 ms between attempts. Under load a
writer that lost a few times sleeps tens of milliseconds while others take the lock
between its attempts, and the lock stands idle while sleepers sleep: at 64 clients the
submissions' p99 was 0.7-2.6 s for about 2 ms of work each (benchmarks/RESULTS.md).

So every writer of the app (survey.storage.db.writer_turn: transaction() and the
group-commit writer) first passes this gate: a re-entrant lock for the threads of one
process, then an exclusive flock(2) on `<database>-writer.lock` for the processes
(gunicorn workers, the CLI). A blocked flock is woken by the kernel the moment the
holder lets go, so the write lock passes from one writer to the next without idle
sleeps; SQLite's busy handler is left only for writers that do not pass the gate (a
sqlite3 shell, an older build).

flock, not fcntl: closing any descriptor of a file drops every fcntl lock the process
holds on it (survey/storage/db.py, files_writable); flock belongs to the open file
description and is released only by LOCK_UN, its last close, or the process's death,
so a SIGKILLed holder never wedges the gate.

When the lock file cannot be opened (a read-only directory), only the in-process lock
is used and SQLite's own locking still keeps the data safe.
"""

import fcntl
import os
import sqlite3
import threading

_gates = {}
_registry_lock = threading.Lock()


class GateTimeout(sqlite3.OperationalError):
    """A writer waited longer than its limit for the other threads of its process.

    It is SQLite's "database is locked" in all but origin, so it is answered the same
    way (a calm 503 that says to try again, survey/web/errors.py).
    """

    sqlite_errorcode = sqlite3.SQLITE_BUSY
    sqlite_errorname = "SQLITE_BUSY"


class WriterGate:
    """The gate of one database file in this process."""

    def __init__(self, path):
        """Open nothing yet: the lock file is opened on first use, after any fork."""
        self.path = path
        self.lock_path = f"{path}-writer.lock"
        self.wal_path = f"{path}-wal"
        self.shm_path = f"{path}-shm"
        self.threads = threading.RLock()
        self.pid = os.getpid()
        self.depth = 0  # nested passes by the holding thread
        self.fd = None
        self.flocked = False

    def acquire(self, timeout):
        """Pass the gate (wait up to `timeout` s for this process's other writers)."""
        if not self.threads.acquire(timeout=timeout):
            raise GateTimeout(f"waited {timeout} s for the other writers of this process")
        self.depth += 1
        if self.depth > 1:
            return
        try:
            fd = self._descriptor()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)  # woken by the kernel at the holder's LOCK_UN
                self.flocked = True
        except OSError:
            self.flocked = False  # the in-process lock alone; SQLite still serialises writers
        except BaseException:
            self.depth -= 1
            self.threads.release()
            raise

    def release(self):
        """Leave the gate (the flock goes when the outermost pass ends)."""
        self.depth -= 1
        try:
            if self.depth == 0 and self.flocked:
                self.flocked = False
                fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            self.threads.release()

    def _descriptor(self):
        """This process's descriptor of the lock file, opened once (None if it cannot be)."""
        if self.fd is None:
            try:
                self.fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                return None
        return self.fd


def per_process(registry, lock, path, make):
    """The object `registry` holds for `path` in this process, made by make(path) on first
    use and again after a fork (a lock or a connection must never cross one)."""
    key = str(path)
    current = registry.get(key)
    if current is not None and current.pid == os.getpid():
        return current
    with lock:
        current = registry.get(key)
        if current is None or current.pid != os.getpid():
            current = registry[key] = make(key)
        return current


def gate_for(path):
    """This process's gate for the database file at `path`."""
    return per_process(_gates, _registry_lock, path, WriterGate)
