"""Crash safety: submit continuously while the server is SIGKILLed at random moments.

Every submission the server acknowledged (a redirect to the thank-you page) must be
stored exactly once with all its answers, a form whose submit was cut off may be
re-sent after the restart without doubling, and the database must pass
PRAGMA integrity_check at the end.
"""

import http.client
import os
import random
import sqlite3
import threading
import time

import pytest

from tests.hostile.conftest import AWARENESS_ANSWERS, Client, FormFlow, prepare_database

# 20 in CI; benchmarks/bench_crash.py runs more through CRASH_KILLS.
KILLS = int(os.environ.get("CRASH_KILLS", "20"))
CLIENTS = 2
RUN_BETWEEN_KILLS = (0.3, 1.2)  # seconds of traffic before each SIGKILL


class Submitter(threading.Thread):
    """A client that keeps opening, filling and sending forms; survives server deaths."""

    def __init__(self, port_box, stop, deadline):
        """`port_box[0]` is the current server's port (changes on restart)."""
        super().__init__(daemon=True)
        self.port_box, self.stop, self.deadline = port_box, stop, deadline
        self.acknowledged = set()
        self.pending = None  # a filled form whose submit got no answer yet
        self.errors = 0

    def run(self):
        """Loop until told to stop or the deadline passes (bounded)."""
        rng = random.Random()
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            flow = FormFlow(Client(self.port_box[0]))
            try:
                if self.pending is None:
                    submission_id = flow.open()
                    flow.fill(submission_id)
                    self.pending = submission_id
                if flow.submit(self.pending):
                    self.acknowledged.add(self.pending)
                    self.pending = None
            except (OSError, http.client.HTTPException, AssertionError, AttributeError):
                # The server died mid-request (connection refused or reset, a page
                # cut short): try again, re-sending the same form if it was filled.
                self.errors += 1
                time.sleep(0.02 + rng.random() * 0.05)


@pytest.mark.slow
def test_acknowledged_submissions_survive_sigkill(tmp_path, gunicorn):
    """KILLS random SIGKILLs of gunicorn under load: no acknowledged response lost or doubled."""
    database = tmp_path / "crash.sqlite"
    prepare_database(database)
    server = gunicorn(database, workers=1, threads=4)  # one worker: faster restarts
    port_box = [server.port]
    stop = threading.Event()
    clients = [Submitter(port_box, stop, time.monotonic() + 30 + 6 * KILLS) for _ in range(CLIENTS)]
    rng = random.Random(20240601)
    kills = 0
    try:
        server.start()
        for client in clients:
            client.start()
        for _ in range(KILLS):
            time.sleep(rng.uniform(*RUN_BETWEEN_KILLS))
            server.kill()
            kills += 1
            server.start()
        # A last stretch of traffic so forms cut off by the last kill get re-sent.
        time.sleep(1.0)
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=15)
        server.kill()

    acknowledged = set().union(*(c.acknowledged for c in clients))
    assert kills >= KILLS
    assert len(acknowledged) >= KILLS, f"too little traffic to prove anything: {len(acknowledged)} acknowledged"
    conn = sqlite3.connect(database)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        counts = dict(conn.execute(
            "select submission_id, count(*) from responses group by submission_id").fetchall())
        lost = [sid for sid in acknowledged if sid not in counts]
        assert not lost, f"{len(lost)} acknowledged submissions lost, e.g. {lost[:3]}"
        doubled = {sid: n for sid, n in counts.items() if n != 1}
        assert not doubled, f"stored more than once: {doubled}"
        partial = conn.execute(
            "select r.submission_id, count(a.response_id) from responses r"
            " left join answers a on a.response_id = r.id group by r.id having count(a.response_id) != ?",
            [len(AWARENESS_ANSWERS)]).fetchall()
        assert not partial, f"responses stored without all their answers: {partial[:3]}"
        print(f"CRASH kills={kills} acknowledged={len(acknowledged)} stored={len(counts)}"
              f" client_errors={sum(c.errors for c in clients)} lost=0 doubled=0 integrity=ok")
    finally:
        conn.close()
