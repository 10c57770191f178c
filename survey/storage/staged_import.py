"""Committing a large paper import without holding the write lock long enough to fail anyone.

Checking the file happens before any write (survey.importer). The checked rows are then
stored in short transactions of CHUNK responses under a staging questionnaire id, which
no page, export, score or tally of the real questionnaire reads, and finally made
visible in one short transaction that renames the id and moves the tally counts. A live
submission waits at most one chunk or the final step for the lock, never the whole file.

All or nothing still holds: a failure while staging removes the staged rows; a crash
leaves a batch in 'staging' whose heartbeat stops, and the next import removes its rows.
"""

import time
import uuid

from survey.storage import responses, tallies
from survey.storage.db import transaction
from survey.storage.field_storage import evaluation_id_or_only

CHUNK = 500  # responses per staging transaction: well under a second of lock each
STAGING_PREFIX = "staging:"
# A batch whose heartbeat is older than this is taken as abandoned by a crashed import.
ABANDONED_AFTER_S = 600


class StagingError(RuntimeError):
    """A staged import could not be made visible (its rows were removed again)."""


def _now():
    """The current UTC time as an ISO string."""
    return responses.now_iso()


def staging_id(batch_id, questionnaire_id):
    """The questionnaire id the rows of a batch carry while they load."""
    return f"{STAGING_PREFIX}{batch_id}:{questionnaire_id}"


def commit(db, questionnaire_id, items, source_name="file", on_chunk=None, stats=None, evaluation_id=None):
    """Store checked (clean, row) pairs of one evaluation (default: the only one) all or
    nothing, in short steps; return their count. Every row lands in that evaluation.

    `on_chunk(stored)` is called after each staging transaction (progress, tests).
    A dict `stats` receives the longest staging step and the final step, in seconds
    (how long live submissions may have waited for the lock).
    Raises the storage error (e.g. sqlite3.IntegrityError) after removing staged rows;
    `failed_at` on it is the index of the item being stored when it failed.
    """
    remove_abandoned(db)
    evaluation_id = evaluation_id_or_only(db, evaluation_id)
    batch_id = uuid.uuid4().hex[:16]
    staged_qid = staging_id(batch_id, questionnaire_id)
    with transaction(db):
        db.execute("insert into import_batches (id, evaluation_id, questionnaire_id, source, status, started_at,"
                   " heartbeat_at) values (?, ?, ?, ?, 'staging', ?, ?)",
                   [batch_id, evaluation_id, questionnaire_id, source_name, _now(), _now()])
    # The staged rows name a questionnaire id that does not exist until the final step.
    db.execute("PRAGMA foreign_keys=OFF")
    position, longest = 0, 0.0
    try:
        for start in range(0, len(items), CHUNK):
            began = time.perf_counter()
            with transaction(db):
                for position in range(start, min(start + CHUNK, len(items))):
                    clean, row = items[position]
                    responses.insert_response(db, dict(row, questionnaire_id=staged_qid, evaluation_id=evaluation_id),
                                              clean)
                db.execute("update import_batches set heartbeat_at = ?, rows = ? where id = ?",
                           [_now(), position + 1, batch_id])
            longest = max(longest, time.perf_counter() - began)
            if on_chunk:
                on_chunk(position + 1)
        began = time.perf_counter()
        _make_visible(db, batch_id, staged_qid, questionnaire_id, len(items))
        if stats is not None:
            stats.update(longest_chunk_s=round(longest, 2), final_step_s=round(time.perf_counter() - began, 2))
    except BaseException as exc:
        exc.failed_at = position
        _discard(db, batch_id, staged_qid)
        raise
    finally:
        db.execute("PRAGMA foreign_keys=ON")
    return len(items)


def _make_visible(db, batch_id, staged_qid, questionnaire_id, count):
    """The one short step: rename the staged rows' questionnaire id and move their tallies.

    The tally trigger on updates is dropped for the rename (it would re-count every
    answer) and recreated in the same transaction, so other writers never miss it.
    """
    with transaction(db):
        status = db.execute("select status from import_batches where id = ?", [batch_id]).fetchone()
        if status is None or status[0] != "staging":
            raise StagingError(f"import batch {batch_id} was removed while it loaded")
        db.execute("drop trigger if exists tally_response_update")
        moved = db.execute("update responses set questionnaire_id = ? where questionnaire_id = ?",
                           [questionnaire_id, staged_qid]).rowcount
        tallies.create_schema(db)  # recreates the trigger (idempotent otherwise)
        if moved != count:
            raise StagingError(f"import batch {batch_id}: {moved} staged rows of {count}")
        tallies.move_questionnaire(db, staged_qid, questionnaire_id)
        db.execute("update import_batches set status = 'done', rows = ?, finished_at = ? where id = ?",
                   [count, _now(), batch_id])


def _discard(db, batch_id, staged_qid):
    """Remove a batch's staged rows in short transactions and mark it failed."""
    if db.conn.in_transaction:
        db.execute("ROLLBACK")
    while True:
        with transaction(db):
            ids = [r[0] for r in db.execute("select id from responses where questionnaire_id = ? limit ?",
                                            [staged_qid, CHUNK])]
            if not ids:
                break
            marks = ",".join("?" for _ in ids)
            db.execute(f"delete from answers where response_id in ({marks})", ids)
            db.execute(f"delete from responses where id in ({marks})", ids)
    with transaction(db):
        for table in ("answer_tallies", "response_tallies", "answer_marginals", "response_marginals"):
            db.execute(f"delete from {table} where questionnaire_id = ?", [staged_qid])
        db.execute("update import_batches set status = 'failed', finished_at = ? where id = ?", [_now(), batch_id])


def remove_abandoned(db, older_than_s=ABANDONED_AFTER_S):
    """Remove the staged rows of imports that crashed (heartbeat older than `older_than_s`)."""
    cutoff = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - older_than_s))
    stale = db.execute("select id, questionnaire_id from import_batches"
                       " where status = 'staging' and heartbeat_at < ?", [cutoff]).fetchall()
    for batch_id, questionnaire_id in stale:
        _discard(db, batch_id, staging_id(batch_id, questionnaire_id))
    return len(stale)
