"""Questionnaire drafts of an evaluation: uploaded workbooks waiting to be previewed and
published, and closing a questionnaire in one evaluation (migration 13).

A draft is the definition read from an uploaded workbook (JSON, as the library stores
it) and the workbook itself, kept per evaluation until a manager publishes it. Nothing of
it reaches the library (`questionnaires`, `questionnaire_versions`) before that, so an
unpublished draft can never be answered, measured or exported, and a corrected upload
does not use up a version number. (The `questionnaires import` command's drafts, which
are library versions with status 'draft', are another path to the same library.)

Closing here is per evaluation (`evaluation_questionnaires.closed_at`): a manager stops
their own evaluation's links and no other's. `questionnaires close` on the command line
closes a questionnaire in the library, for every evaluation.
"""

import hashlib
import json
from datetime import datetime, timezone

from survey import questionnaires
from survey.storage.db import transaction


class DraftError(ValueError):
    """A draft cannot be published (e.g. its version was published before with other content)."""


def _now():
    """The current UTC time as ISO text (seconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def definition_text(definition):
    """The definition as the library stores it (sorted JSON), so equal drafts have equal sha256."""
    return json.dumps(definition, ensure_ascii=False, sort_keys=True)


def save(db, evaluation_id, filename, definition, workbook, uploaded_by=None):
    """Keep an uploaded, valid definition as a draft of the evaluation; return its id."""
    text = definition_text(definition)
    with transaction(db):
        cursor = db.execute(
            "insert into questionnaire_drafts (evaluation_id, questionnaire_id, version, filename, definition,"
            " sha256, workbook, uploaded_by, uploaded_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [evaluation_id, definition["id"], definition["version"], filename, text,
             hashlib.sha256(text.encode()).hexdigest(), workbook, uploaded_by, _now()])
    return cursor.lastrowid


def get(db, evaluation_id, draft_id):
    """One draft of the evaluation as a dict (with `definition` parsed), or None."""
    row = db.execute(
        "select id, questionnaire_id, version, filename, definition, sha256, uploaded_by, uploaded_at,"
        " published_at from questionnaire_drafts where id = ? and evaluation_id = ?",
        [draft_id, evaluation_id]).fetchone()
    if row is None:
        return None
    keys = ("id", "questionnaire_id", "version", "filename", "definition", "sha256", "uploaded_by",
            "uploaded_at", "published_at")
    draft = dict(zip(keys, row, strict=True))
    draft["definition"] = json.loads(draft["definition"])
    return draft


def pending(db, evaluation_id):
    """The evaluation's unpublished drafts, newest first (dicts without the definition)."""
    return [dict(zip(("id", "questionnaire_id", "version", "filename", "uploaded_by", "uploaded_at"), row,
                     strict=True))
            for row in db.execute(
                "select id, questionnaire_id, version, filename, uploaded_by, uploaded_at from questionnaire_drafts"
                " where evaluation_id = ? and published_at is null order by id desc", [evaluation_id])]


def publish(db, evaluation_id, draft_id):
    """Store a draft's definition in the library and make the evaluation use it (open).

    Returns (questionnaire id, version, 'loaded'|'unchanged'). Two steps, each safe to
    repeat: the library's store_definition (its own transaction; the same definition
    again is a no-op), then the evaluation's use of it and the draft's mark in one
    transaction. A crash between them leaves a draft that publishes again cleanly.
    """
    draft = get(db, evaluation_id, draft_id)
    if draft is None:
        raise DraftError(f"no draft {draft_id}")
    qid, version = draft["questionnaire_id"], draft["version"]
    try:
        result = questionnaires.store_definition(db, draft["definition"])
        # The same content imported as a library draft (`questionnaires import`) is stored
        # already, unpublished: publish that version.
        if {row[0]: row[1] for row in questionnaires.versions(db, qid)}.get(version) == "draft":
            questionnaires.publish(db, qid, version)
    except questionnaires.QuestionnaireError as exc:
        raise DraftError(str(exc)) from None
    now = _now()
    with transaction(db):
        db.execute(
            "insert into evaluation_questionnaires (evaluation_id, questionnaire_id, added_at) values (?, ?, ?)"
            " on conflict (evaluation_id, questionnaire_id) do update set closed_at = null",
            [evaluation_id, qid, now])
        db.execute("update questionnaire_drafts set published_at = coalesce(published_at, ?) where id = ?",
                   [now, draft_id])
    return result


def set_closed(db, evaluation_id, questionnaire_id, closed):
    """Close (no more answers at its links) or reopen a questionnaire of the evaluation; True if it is used."""
    with transaction(db):
        cursor = db.execute(
            "update evaluation_questionnaires set closed_at = ? where evaluation_id = ? and questionnaire_id = ?",
            [_now() if closed else None, evaluation_id, questionnaire_id])
    return cursor.rowcount > 0


def is_closed(db, evaluation_id, questionnaire_id):
    """Whether the evaluation closed this questionnaire (its links show the ended page)."""
    row = db.execute("select closed_at from evaluation_questionnaires where evaluation_id = ? and questionnaire_id = ?",
                     [evaluation_id, questionnaire_id]).fetchone()
    return bool(row and row[0])


def closed_ids(db, evaluation_id):
    """The ids of the questionnaires the evaluation closed."""
    return {row[0] for row in db.execute(
        "select questionnaire_id from evaluation_questionnaires where evaluation_id = ? and closed_at is not null",
        [evaluation_id])}
