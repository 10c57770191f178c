"""Storing responses: one transaction each, exactly once per submission id.

Every entry path (the respondent pages, paper import, the staff app's offline
queue, the JSON API) ends here, so the rules live in one place.
"""

import json
import re
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from flask import current_app, has_app_context

from survey import quality
from survey.questionnaires import AnswerError
from survey.storage import evaluations, group_commit
from survey.storage.db import transaction

# \Z, not $: "$" also matches before a trailing newline, which let "id\n" through.
SUBMISSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{7,63}\Z")
RESPONDENT_TYPES = {"self", "proxy", "assisted", "public"}
CHANNELS = {"qr", "poster", "flyer", "door", "phone", "wechat", "paper", "import", "api", "household"}
# evaluation_id is required: the evaluation of the link, generic URL, staff member or API
# call the response came through (its answers never mix with another evaluation's).
META_FIELDS = (
    "evaluation_id", "link_code", "site_id", "channel", "respondent_type", "household_id", "staff_user_id",
    "consent", "source", "age_band", "living_alone", "started_at", "submitted_at", "device_hash",
    "evaluation_id",
)


class SubmissionError(ValueError):
    """A submission cannot be stored; `field` names the offending field."""

    def __init__(self, field, message):
        """Keep the field next to the message."""
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class HouseholdAnswered(SubmissionError):
    """The household of a one-time link or a staff visit already answered this questionnaire."""


def new_submission_id():
    """A fresh, unguessable submission id, generated when a form starts."""
    return str(uuid.uuid4())


def now_iso():
    """The current UTC time as an ISO string (seconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _parse_time(value, field):
    """Parse an ISO time (naive means UTC); refuse anything else naming the field."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise SubmissionError(field, f"'{value}' is not a date-time (use ISO 8601)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def build_row(questionnaire, submission_id, answers, meta, cleaned=False):
    """Check a submission and return (clean answers, responses row). Raises on bad input.

    cleaned=True: `answers` came from questionnaire.clean_answers already (not cleaned twice).
    """
    if not SUBMISSION_ID.match(str(submission_id or "")):
        raise SubmissionError("id", "a submission id of 8-64 letters, digits or dashes is required")
    unknown = set(meta) - set(META_FIELDS)
    if unknown:
        raise SubmissionError(sorted(unknown)[0], "unknown meta field")
    evaluation_id = meta.get("evaluation_id")
    # bool is an int in Python; True must not pass for evaluation 1.
    if not isinstance(evaluation_id, int) or isinstance(evaluation_id, bool):
        raise SubmissionError("evaluation", "the evaluation the response belongs to is required")
    try:
        clean = answers if cleaned else questionnaire.clean_answers(answers)
    except AnswerError as error:
        raise SubmissionError(error.question_id, error.message) from None
    row = {key: meta.get(key) for key in META_FIELDS}
    row.update({k: v for k, v in questionnaire.meta_from_answers(clean).items() if k in META_FIELDS})
    if row["living_alone"] is not None:
        row["living_alone"] = int(row["living_alone"])
    row["channel"] = row["channel"] or "qr"
    row["source"] = row["source"] or "web"
    if row["channel"] not in CHANNELS:
        raise SubmissionError("channel", f"must be one of {sorted(CHANNELS)}")
    if questionnaire.definition.get("audience") == "public" and not row["respondent_type"]:
        row["respondent_type"] = "public"
    if row["respondent_type"] and row["respondent_type"] not in RESPONDENT_TYPES:
        raise SubmissionError("respondent_type", f"must be one of {sorted(RESPONDENT_TYPES)}")
    received = datetime.now(timezone.utc)
    submitted = _parse_time(row["submitted_at"], "submitted_at") if row["submitted_at"] else received
    started = _parse_time(row["started_at"], "started_at") if row["started_at"] else None
    row["submitted_at"] = submitted.isoformat(timespec="seconds")
    row["started_at"] = started.isoformat(timespec="seconds") if started else None
    row["duration_s"] = (submitted - started).total_seconds() if started else None
    row["received_at"] = received.isoformat(timespec="seconds")
    row.update(submission_id=submission_id, questionnaire_id=questionnaire.id,
               questionnaire_version=questionnaire.version)
    return clean, row


def record(db, questionnaire, submission_id, answers, meta=None, checked=False, unseen=False):
    """Store one response with its answers; return (response_id, created).

    A submission id seen before returns the stored response's id and created=False
    and writes nothing, so a double tap, a refresh or a retry days later is harmless.
    checked=True: the caller cleaned the answers with this questionnaire and checked that
    the evaluation exists and uses it (survey.web.api_submissions.check_payload).
    unseen=True: the caller has just looked the submission id up and found no response.
    """
    clean, row = build_row(questionnaire, submission_id, answers, meta or {}, cleaned=checked)
    if not checked:
        check_evaluation(db, row)
    config = current_app.config if has_app_context() else None
    existing = None if unseen else find(db, submission_id)  # a read: a retry never waits for the write lock
    if existing is not None:
        return existing, False

    def store(target):
        """Insert the response on `target` (inside the caller's transaction). Nothing else
        runs inside the write lock: the unique index on submission_id refuses a twin that
        arrived meanwhile, and a trigger deletes the response's draft (migration 14)."""
        return insert_response(target, row, clean, config), True

    try:
        if config is not None and config.get("GROUP_COMMIT", False):
            # Joined with the worker's concurrent submissions: one transaction, one fsync,
            # answered after the commit (survey/storage/group_commit.py).
            return group_commit.run(config["DATABASE"], store)
        with transaction(db):
            return store(db)
    except sqlite3.IntegrityError as exc:
        # The same submission id stored by a concurrent request (a double tap, a retry racing
        # the original) trips a unique index (its id's, or its household's): that one is the response.
        existing = find(db, submission_id)
        if existing is not None:
            return existing, False
        # The unique (questionnaire, household) index: one household, one response.
        if "household_id" in str(exc):
            raise HouseholdAnswered("household_id", "this household already answered this questionnaire") from None
        raise


def check_evaluation(db, row):
    """Refuse a row whose evaluation does not exist or does not use its questionnaire."""
    evaluation = evaluations.by_id(db, row["evaluation_id"])
    if evaluation is None:
        raise SubmissionError("evaluation", f"there is no evaluation {row['evaluation_id']}")
    if not evaluations.uses(db, evaluation.id, row["questionnaire_id"]):
        raise SubmissionError("evaluation", f"evaluation '{evaluation.slug}' does not use questionnaire"
                                            f" '{row['questionnaire_id']}'")
    return evaluation


def insert_response(db, row, clean, config=None):
    """Insert the response row and one answers row per value (inside a transaction).

    The quality rules for a single response run first, in the same transaction, so the
    row goes in already flagged and no page load ever has to write flags.
    """
    quality.on_arrival(db, row, clean, config)
    columns = list(row)
    cursor = db.execute(
        f"insert into responses ({', '.join(columns)}) values ({', '.join('?' for _ in columns)})",
        [row[c] for c in columns],
    )
    response_id = cursor.lastrowid
    insert_answers(db, response_id, clean)
    return response_id


def insert_answers(db, response_id, clean):
    """Insert one answers row per value of `clean` for a response (inside a transaction).

    One statement for all the answers: each statement a writer runs inside the write lock
    gives up Python's GIL and waits to get it back from the request threads, which doubled
    the lock's hold time under load. json_each keeps the order (rowid order is the answers'
    order) and the JSON types (text stays text, numbers stay numbers).
    """
    pairs = [[question_id, single] for question_id, value in clean.items()
             for single in (value if isinstance(value, list) else [value])]
    db.execute("insert into answers (response_id, question_id, value)"
               " select ?, value ->> 0, value ->> 1 from json_each(?)",
               [response_id, json.dumps(pairs, ensure_ascii=False)])


def record_many(db, items):
    """Store many already-checked (clean, row) pairs in ONE transaction (imports)."""
    checked = set()
    for _clean, row in items:
        pair = (row["evaluation_id"], row["questionnaire_id"])
        if pair not in checked:
            check_evaluation(db, row)
            checked.add(pair)
    with transaction(db):
        return [insert_response(db, row, clean) for clean, row in items]


def find(db, submission_id):
    """The response id stored under a submission id, or None."""
    row = db.execute("select id from responses where submission_id = ?", [submission_id]).fetchone()
    return row[0] if row else None


def answers_of(db, response_id):
    """The stored answers of one response as {question_id: value or [values]}."""
    result = {}
    for row in db.query(
        "select question_id, value from answers where response_id = ? order by rowid", [response_id]
    ):
        result.setdefault(row["question_id"], []).append(row["value"])
    return result


@dataclass(frozen=True)
class Draft:
    """A form being filled in on the respondent pages (not yet a response)."""

    submission_id: str
    evaluation_id: int
    questionnaire_id: str
    questionnaire_version: int
    answers: dict
    meta: dict


@dataclass(frozen=True)
class Stored:
    """Which evaluation and questionnaire version a stored response belongs to."""

    response_id: int
    evaluation_id: int
    questionnaire_id: str
    questionnaire_version: int


def open_draft(db, evaluation_id, questionnaire, submission_id, meta):
    """Start a draft of `questionnaire` in an evaluation (meta carries the link, channel ...)."""
    now = now_iso()
    with transaction(db):
        db.execute(
            "insert into drafts (submission_id, evaluation_id, questionnaire_id, questionnaire_version,"
            " answers, meta, started_at, updated_at) values (?, ?, ?, ?, '{}', ?, ?, ?)",
            [submission_id, evaluation_id, questionnaire.id, questionnaire.version,
             json.dumps(meta, ensure_ascii=False), now, now])


def get_draft(db, submission_id):
    """The Draft under a submission id, or None (never started, or sent already)."""
    row = db.execute(
        "select submission_id, evaluation_id, questionnaire_id, questionnaire_version, answers, meta"
        " from drafts where submission_id = ?", [submission_id]).fetchone()
    if row is None:
        return None
    return Draft(row[0], row[1], row[2], row[3], json.loads(row[4]), json.loads(row[5]))


def save_draft_answers(db, submission_id, answers):
    """Write a draft's answers back (one small transaction)."""
    with transaction(db):
        db.execute("update drafts set answers = ?, updated_at = ? where submission_id = ?",
                   [json.dumps(answers, ensure_ascii=False), now_iso(), submission_id])


def stored(db, submission_id):
    """The Stored facts of the response sent under a submission id, or None."""
    row = db.execute(
        "select id, evaluation_id, questionnaire_id, questionnaire_version from responses"
        " where submission_id = ?", [submission_id]).fetchone()
    return Stored(*row) if row is not None else None
