"""The writability check must never drop SQLite's locks (POSIX locks are per process:
closing any descriptor of the file releases all of them)."""

import subprocess
import sys

import pytest

from survey.storage import db as survey_db

PROBE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0.2)
try:
    conn.execute("BEGIN IMMEDIATE")
    print("acquired")
except sqlite3.OperationalError as exc:
    print("refused", exc)
"""


def _other_process_can_write(path):
    """True if a second process gets SQLite's write lock on `path` right now."""
    out = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, timeout=30)
    return out.stdout.startswith("acquired")


@pytest.mark.parametrize("check", [
    pytest.param(lambda path: survey_db.files_writable(path), id="files_writable"),
    pytest.param(lambda path: survey_db.files_writable(path) or survey_db.files_writable(path), id="twice"),
])
def test_checking_the_files_keeps_another_threads_write_lock(tmp_path, check):
    """A connection mid-transaction keeps its write lock while the files are checked."""
    path = tmp_path / "locks.sqlite"
    writer = survey_db.connect(path)
    writer.execute("create table t (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("insert into t values (1)")
    assert not _other_process_can_write(path), "the held write lock should refuse another process"
    assert check(path) is None
    assert not _other_process_can_write(path), "checking the files released this process's write lock"
    writer.execute("ROLLBACK")
    assert _other_process_can_write(path)


def test_missing_database_file_is_named(tmp_path):
    """A missing file is reported with its path."""
    assert "missing" in survey_db.files_writable(tmp_path / "absent.sqlite")
