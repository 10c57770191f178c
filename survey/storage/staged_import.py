"""Committing a large paper import without holding the write lock long enough to fail anyone.

Checking the file happens before any write (survey.importer). The checked rows are then
stored in short transactions of CHUNK responses under a staging questionnaire id, which
no page, export, score or tally of the real questionnaire reads. They are then published:
renamed to the real id FLIP_CHUNK rows per transaction, each adding the renamed rows'
counts to the tallies that every measure, dashboard and score reads (one transaction
renaming a million rows and moving their counts held the lock 22.4 s, longer than a live
submission waits). A live submission waits at most one chunk for the lock, never the file.

All or nothing still holds, as a roll-forward once publishing has begun:
- a failure while staging removes the staged rows; a crash while staging leaves a batch
  whose heartbeat stops, and the next import removes its rows;
- publishing marks the batch (`publishing_at`) first; a crash then leaves a batch the next
  import finishes instead of removing, so no published row is ever taken back;
- the rename cannot break a unique index: submission ids are already unique while staged,
  and paper rows carry no household (the one other unique key that names the questionnaire).
While publishing runs, pages may show part of the import (rows and measures agree at
every step); an import that fails before publishing shows nothing.
"""

import time
import uuid

from survey.storage import responses, tallies
from survey.storage.db import transaction
from survey.storage.field_storage import evaluation_id_or_only

CHUNK = 500  # responses per staging transaction: well under a second of lock each
# Pause after each step before taking the lock again. A live writer waiting for the lock
# polls through SQLite's busy handler, up to 100 ms apart; an import that began its next
# step at once could win every time and starve it past its 20 s timeout (2 of 20,914 live
# submissions got 503 beside a 1,000,000-row import whose longest step was 2.8 s).
STEP_PAUSE_S = 0.11
FLIP_CHUNK = 2_000  # responses published per transaction (a grouped UPSERT per tally row set each)
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


def commit(db, questionnaire_id, items, source_name="file", on_chunk=None, stats=None, evaluation_id=None,
           on_step=None):
    """Store checked (clean, row) pairs of one evaluation (default: the only one) all or
    nothing, in short steps; return their count. Every row lands in that evaluation.

    `on_chunk(stored)` is called after each staging transaction and `on_step(renamed)`
    after each publishing one (progress, tests).
    A dict `stats` receives the longest staging step and the longest publishing step, in
    seconds (how long live submissions may have waited for the lock), and the publishing
    time and steps.
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
            time.sleep(STEP_PAUSE_S)
    except BaseException as exc:
        exc.failed_at = position
        _discard(db, batch_id, staged_qid)
        db.execute("PRAGMA foreign_keys=ON")
        raise
    try:
        steps = publish(db, batch_id, staged_qid, questionnaire_id, on_step)
    finally:
        db.execute("PRAGMA foreign_keys=ON")
    if stats is not None:
        stats.update(longest_chunk_s=round(longest, 2), final_step_s=steps["longest_s"],
                     publish_s=steps["total_s"], publish_steps=steps["steps"])
    return len(items)


def publish(db, batch_id, staged_qid, questionnaire_id, on_step=None):
    """Make a staged batch visible, FLIP_CHUNK rows per transaction: each renames its rows
    to the real questionnaire id and adds their counts to the real tallies, so rows and
    measures agree after every step. Then mark the batch done and delete the staging
    id's counts. Return the figures {moved, steps, longest_s, total_s}. Also finishes a
    batch whose import crashed here.

    The tally trigger on updates is left out of each rename (it would re-count every
    answer one UPSERT at a time; tallies.without_update_trigger); tallies.add_responses
    counts the chunk in grouped statements instead.
    """
    with transaction(db):
        row = db.execute("select status, evaluation_id from import_batches where id = ?", [batch_id]).fetchone()
        if row is None or row[0] != "staging":
            raise StagingError(f"import batch {batch_id} was removed while it loaded")
        evaluation_id = row[1]
        db.execute("update import_batches set publishing_at = coalesce(publishing_at, ?), heartbeat_at = ?"
                   " where id = ?", [_now(), _now(), batch_id])
    db.execute("create temp table if not exists publish_chunk (id integer primary key)")
    moved, steps, longest, started = 0, 0, 0.0, time.perf_counter()
    while True:
        began = time.perf_counter()
        with transaction(db):
            # Staged rows above the tallies' watermark would be counted again by a later
            # fold, after add_responses below counted them: fold them in first (under the
            # staging id, whose counts are dropped at the end).
            tallies.fold(db)
            db.execute("delete from temp.publish_chunk")
            db.execute("insert into temp.publish_chunk select id from responses where questionnaire_id = ? limit ?",
                       [staged_qid, FLIP_CHUNK])
            with tallies.without_update_trigger(db):
                renamed = db.execute("update responses set questionnaire_id = ? where id in"
                                     " (select id from temp.publish_chunk)", [questionnaire_id]).rowcount
            tallies.add_responses(db, "select id from temp.publish_chunk")
            db.execute("update import_batches set heartbeat_at = ? where id = ?", [_now(), batch_id])
            if not renamed:
                db.execute("update import_batches set status = 'done', finished_at = ? where id = ?",
                           [_now(), batch_id])
        moved, steps = moved + renamed, steps + 1
        longest = max(longest, time.perf_counter() - began)
        if on_step:
            on_step(moved)
        if not renamed:
            break
        time.sleep(STEP_PAUSE_S)
    # The staging id's counts (made by the insert triggers while staging) are read by
    # nobody: removed in short steps too.
    while True:
        with transaction(db):
            if not tallies.drop_questionnaire(db, evaluation_id, staged_qid, limit=FLIP_CHUNK):
                break
    return {"moved": moved, "steps": steps, "longest_s": round(longest, 2),
            "total_s": round(time.perf_counter() - started, 2)}


def _delete_staged_rows(db, staged_qid):
    """Delete the rows still under a staging id, CHUNK per transaction (their delete
    triggers take their counts off the staging id's tallies)."""
    if db.conn.in_transaction:
        db.execute("ROLLBACK")
    while True:
        with transaction(db):
            ids = [r[0] for r in db.execute("select id from responses where questionnaire_id = ? limit ?",
                                            [staged_qid, CHUNK])]
            if not ids:
                return
            marks = ",".join("?" for _ in ids)
            db.execute(f"delete from answers where response_id in ({marks})", ids)
            db.execute(f"delete from responses where id in ({marks})", ids)


def _discard(db, batch_id, staged_qid):
    """Remove a batch's staged rows in short transactions and mark it failed."""
    _delete_staged_rows(db, staged_qid)
    with transaction(db):
        evaluation_id = db.execute("select evaluation_id from import_batches where id = ?", [batch_id]).fetchone()
        tallies.drop_questionnaire(db, evaluation_id[0] if evaluation_id else None, staged_qid)
        db.execute("update import_batches set status = 'failed', finished_at = ? where id = ?", [_now(), batch_id])


def remove_abandoned(db, older_than_s=ABANDONED_AFTER_S):
    """Clean up after imports that crashed (heartbeat older than `older_than_s`): remove the
    staged rows of one that crashed while staging, finish one that crashed while publishing."""
    cutoff = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - older_than_s))
    stale = db.execute("select id, questionnaire_id, publishing_at from import_batches"
                       " where status = 'staging' and heartbeat_at < ?", [cutoff]).fetchall()
    for batch_id, questionnaire_id, publishing_at in stale:
        staged_qid = staging_id(batch_id, questionnaire_id)
        if publishing_at is None:
            _discard(db, batch_id, staged_qid)
            continue
        db.execute("PRAGMA foreign_keys=OFF")
        try:
            publish(db, batch_id, staged_qid, questionnaire_id)
        finally:
            db.execute("PRAGMA foreign_keys=ON")
    return len(stale)

