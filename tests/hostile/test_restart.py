"""Issue 12: after a SIGKILL of the gunicorn master (not of its workers), the service
starts again at once on the same port. Before, orphaned workers kept the listening
socket (one was busy with a slow request) and the new master could not bind.

The mechanism tested is gunicorn.conf.py's post_fork hook (workers ask the kernel for
SIGKILL when their parent dies); the systemd unit in docs/OPERATIONS.md adds
KillMode=control-group and Restart=always on top.
"""

import os
import signal
import socket
import time

import pytest

from tests.hostile.conftest import Client, Server, prepare_database

pytestmark = pytest.mark.slow


def _workers_of(master_pid):
    """The pids whose parent is `master_pid` (from /proc)."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master_pid:
                children.append(int(entry))
    return children


def _alive(pids):
    """The pids still running (not gone, not zombies)."""
    alive = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.append(pid)
        except OSError:
            pass
    return alive


def test_a_killed_master_is_replaced_in_seconds_on_the_same_port(tmp_path):
    database = tmp_path / "restart.sqlite"
    prepare_database(database)
    first = Server(database, log=tmp_path / "gunicorn.log").start()
    workers = _workers_of(first.process.pid)
    assert workers
    # A slow client keeps a worker thread busy, as an export in progress did.
    busy = socket.create_connection(("127.0.0.1", first.port))
    busy.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    time.sleep(0.5)
    second = Server(database, log=tmp_path / "gunicorn.log")
    second.port = first.port
    try:
        os.kill(first.process.pid, signal.SIGKILL)  # the master only: the workers are orphaned
        first.process.wait(timeout=10)
        deadline = time.monotonic() + 3
        while _alive(workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _alive(workers) == [], "orphaned workers still hold the port 3 s after the master died"
        started = time.monotonic()
        second.start(timeout=15)
        took = time.monotonic() - started
        status, _h, _b = Client(second.port).request("GET", "/health", timeout=5)
        print(f"\nrestart after SIGKILL of the master: healthy again in {took:.1f} s")
        assert status == 200 and took < 10
        assert second.process.poll() is None and _workers_of(second.process.pid)
    finally:
        busy.close()
        second.kill()
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
