"""Duplicate storms: every submission replayed three times at once, through gunicorn
(two worker processes, four threads each), must be stored exactly once."""

import sqlite3
import threading
import uuid

import pytest

from tests.hostile.conftest import AWARENESS_ANSWERS, Client, FormFlow, prepare_database

FORMS = 24
REPLAYS = 3


def _storm(requests):
    """Run each list of callables in `requests` together: one thread per call, released at once."""
    results = []
    lock = threading.Lock()
    for group in requests:
        barrier = threading.Barrier(len(group))

        def fire(call, barrier=barrier):
            barrier.wait(timeout=10)
            outcome = call()
            with lock:
                results.append(outcome)

        threads = [threading.Thread(target=fire, args=(call,)) for call in group]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    return results


def _stored(database):
    """{submission_id: (rows, answers)} read straight from the file."""
    conn = sqlite3.connect(database)
    try:
        return {sid: (rows, answers) for sid, rows, answers in conn.execute(
            "select r.submission_id, count(distinct r.id), count(a.response_id) from responses r"
            " left join answers a on a.response_id = r.id group by r.submission_id")}
    finally:
        conn.close()


@pytest.mark.slow
def test_form_submit_replayed_three_times_at_once_is_stored_once(tmp_path, gunicorn):
    """The respondent form's submit POST, sent 3x concurrently per form: one response each."""
    database = tmp_path / "storm.sqlite"
    prepare_database(database)
    server = gunicorn(database).start()
    flows, sids = [], []
    for _ in range(FORMS):
        flow = FormFlow(Client(server.port))
        sid = flow.open()
        flow.fill(sid)
        flows.append(flow)
        sids.append(sid)
    results = _storm([[lambda f=flow, s=sid: f.submit(s)] * REPLAYS for flow, sid in zip(flows, sids, strict=True)])
    server.stop()

    assert results.count(True) == FORMS * REPLAYS, "every replay should land on the thank-you page"
    stored = _stored(database)
    assert set(stored) == set(sids)
    assert all(stored[sid] == (1, len(AWARENESS_ANSWERS)) for sid in sids), stored


@pytest.mark.slow
def test_api_submission_replayed_three_times_at_once_is_stored_once(tmp_path, gunicorn):
    """POST /api/submissions with the same id 3x concurrently: one 201, the others 200, one row."""
    database = tmp_path / "storm-api.sqlite"
    app, token = prepare_database(database, staff=True)
    assert token is not None
    server = gunicorn(database).start()
    headers = {"Authorization": f"Bearer {token}"}
    payloads = [{"id": str(uuid.uuid4()), "questionnaire": "public-awareness",
                 "answers": dict(AWARENESS_ANSWERS), "meta": {"channel": "phone", "consent": 1}}
                for _ in range(FORMS)]

    def send(payload):
        status, _h, body = Client(server.port).request("POST", "/api/submissions", json_body=payload,
                                                       headers=headers)
        return payload["id"], status, body

    results = _storm([[lambda p=p: send(p)] * REPLAYS for p in payloads])
    server.stop()

    by_id = {}
    for sid, status, _body in results:
        by_id.setdefault(sid, []).append(status)
    for sid, statuses in by_id.items():
        assert sorted(statuses) == [200, 200, 201], (sid, statuses, [b for s, _st, b in results if s == sid])
    stored = _stored(database)
    assert set(stored) == {p["id"] for p in payloads}
    assert all(rows == 1 and answers == len(AWARENESS_ANSWERS) for rows, answers in stored.values()), stored
