"""A read-only spell under gunicorn: refused calmly while it lasts, healed without a restart.

How the spell is made, honestly and as root: gunicorn runs as the unprivileged user
`nobody` (setpriv), the database files belong to `nobody`, and the test (root) takes
their write permission away for a while. Every worker is SIGKILLed at the start of the
spell, as the workers died in the incident, so their replacements open their
connections while the files are unwritable: SQLite then silently gives them read-only
connections, which is what never healed before.
"""

import os
import shutil
import signal
import sqlite3
import stat
import tempfile
import time
from pathlib import Path

import pytest

from tests.hostile.conftest import Client, FormFlow, prepare_database

NOBODY = 65534
SETPRIV = shutil.which("setpriv")
AS_NOBODY = (SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")
HEAL_WITHIN_S = 15


def _database_files(database):
    """The database file and its WAL and shared-memory files that exist."""
    return [Path(f"{database}{suffix}") for suffix in ("", "-wal", "-shm") if Path(f"{database}{suffix}").exists()]


def _set_writable(database, writable):
    """Give or take the owner's write permission on the database files."""
    mode = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH | (stat.S_IWUSR if writable else 0)
    for path in _database_files(database):
        os.chmod(path, mode)


def _workers(master_pid):
    """Pids of the gunicorn workers (the children of the master)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master_pid:
                pids.append(int(entry.name))
    return pids


def _wait_for(predicate, seconds):
    """Poll `predicate` every 0.1 s for at most `seconds`; return the seconds it took, or None."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            if predicate():
                return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.1)
    return None


@pytest.fixture
def shared_dir():
    """A folder `nobody` can write (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="readonly-spell-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0 or not SETPRIV, reason="needs root and setpriv to run gunicorn as nobody")
def test_read_only_spell_heals_without_restart(shared_dir, gunicorn):
    """During the spell: /health 503, nothing acknowledged, calm page; within 15 s after: all succeed."""
    database = shared_dir / "spell.sqlite"
    prepare_database(database)
    for path in _database_files(database):
        os.chown(path, NOBODY, NOBODY)
    server = gunicorn(database, workers=2, threads=2, prefix=AS_NOBODY)
    server.start()
    client = Client(server.port)
    flow = FormFlow(client)
    drafts = [flow.open() for _ in range(30)]
    for submission_id in drafts:
        flow.fill(submission_id)
    acknowledged = {sid for sid in drafts[:3] if flow.submit(sid)}
    assert len(acknowledged) == 3, "the server works before the spell"

    _set_writable(database, False)
    try:
        for pid in _workers(server.process.pid):
            os.kill(pid, signal.SIGKILL)
        took = _wait_for(lambda: client.request("GET", "/health", timeout=5)[0] == 503, 30)
        assert took is not None, "replacement workers answer /health with 503 during the spell"
        status, _h, body = client.request("GET", "/health")
        assert status == 503 and "cannot" in body, body
        refused = drafts[3:9]
        for submission_id in refused:
            status, _h, body = client.request("POST", f"/r/{submission_id}/submit",
                                              form={"csrf_token": flow.csrf()})
            assert status == 503, (status, body[:300])
            assert "请稍后再试，您的回答不会丢失" in body and "Internal Server Error" not in body
    finally:
        _set_writable(database, True)

    healed = _wait_for(lambda: flow.submit(refused[0]), HEAL_WITHIN_S)
    assert healed is not None, f"no submission succeeded within {HEAL_WITHIN_S} s of the files being writable"
    acknowledged.add(refused[0])
    failures = [sid for sid in drafts[4:] if not flow.submit(sid)]
    acknowledged.update(sid for sid in drafts[4:] if sid not in failures)
    assert not failures, f"{len(failures)} of {len(drafts) - 4} submissions failed after healing"
    assert client.request("GET", "/health")[0] == 200
    print(f"SPELL healed after {healed:.1f} s; {len(drafts) - 4} submissions after it, 0 failed")

    conn = sqlite3.connect(database)
    try:
        counts = dict(conn.execute("select submission_id, count(*) from responses group by submission_id"))
    finally:
        conn.close()
    assert set(counts) == acknowledged and set(counts.values()) == {1}, "all acknowledged, once each"
