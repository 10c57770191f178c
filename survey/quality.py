"""Response quality: rules that flag doubtful responses, and the evaluator's review.

Flagged responses are never deleted. Each rule adds its name to the response's
`flags` (a JSON list) and a flagged response is excluded from the rates
(`excluded = 1`) until an evaluator reinstates it with a reason; every review is
kept in `quality_reviews` and written to the audit log, and the latest review of
a response decides. Rules (all over stored responses, per questionnaire):

- `speeder`: completion time under QUALITY_SPEEDER_FRACTION (default 1/3) of the
  median completion time of that questionnaire (needs QUALITY_SPEEDER_MIN_RESPONSES
  timed responses for a meaningful median);
- `straight_line`: every answered item scale (scale5 with `item: true`) has the same
  answer, with at least QUALITY_STRAIGHT_MIN_ITEMS (4) items answered;
- `burst`: more than QUALITY_BURST_COUNT (5) responses from one device hash within
  QUALITY_BURST_MINUTES (10) minutes (self-completed web responses only: a field
  worker's tablet legitimately sends many);
- `duplicate_household`: a roster household answered more than once; the earliest
  response is kept, the later ones are flagged.

`flags_version(db)` changes whenever flags or reviews change; caches of charts key on it.
"""

import json
import statistics
from datetime import datetime, timedelta

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from survey import audit
from survey.db import get_db, transaction

RULES = ("speeder", "straight_line", "burst", "duplicate_household")
RULE_LABELS = {
    "speeder": "答题过快", "straight_line": "分项答案完全一致", "burst": "同一设备短时间内多次提交",
    "duplicate_household": "同一户重复作答",
}
DEFAULTS = {
    "QUALITY_SPEEDER_FRACTION": 1 / 3,
    "QUALITY_SPEEDER_MIN_RESPONSES": 5,
    "QUALITY_STRAIGHT_MIN_ITEMS": 4,
    "QUALITY_BURST_COUNT": 5,
    "QUALITY_BURST_MINUTES": 10,
}
# Channels where a staff member enters the answers: one device sends many by design.
STAFF_CHANNELS = ("door", "phone", "paper", "import", "household")


class ReviewError(ValueError):
    """A review cannot be recorded (no reason given, unknown response or action)."""


def create_schema(db):
    """The quality_reviews table (every reinstatement/exclusion) and the flags-version counter."""
    db["quality_reviews"].create(
        {"id": int, "response_id": int, "action": str, "reason": str, "user": str, "at": str},
        pk="id", not_null={"response_id", "action", "reason", "at"},
        foreign_keys=[("response_id", "responses", "id")], if_not_exists=True,
    )
    db["quality_reviews"].create_index(["response_id", "id"], if_not_exists=True)
    db["quality_runs"].create({"id": int, "at": str, "changed": int}, pk="id", if_not_exists=True)


def settings(config=None):
    """The rule thresholds: DEFAULTS overridden by any QUALITY_* keys in `config`."""
    merged = dict(DEFAULTS)
    for key in DEFAULTS:
        if config is not None and key in config:
            merged[key] = config[key]
    return merged


def _parse(moment):
    """An ISO timestamp as a datetime (None stays None)."""
    return datetime.fromisoformat(moment) if moment else None


def _item_questions(definition):
    """Ids of the item scales (scale5 questions with `item: true`)."""
    return [q["id"] for q in definition["questions"] if q["type"] == "scale5" and q.get("item")]


def find_flags(db, questionnaire_id, config=None):
    """{response_id: set(rule names)} for one questionnaire's responses. Reads only."""
    from scoring.measures import current_definition

    cfg = settings(config)
    rows = db.execute(
        "select id, duration_s, device_hash, household_id, submitted_at, channel, staff_user_id, source"
        " from responses where questionnaire_id = ? order by submitted_at, id", [questionnaire_id]).fetchall()
    flags = {row[0]: set() for row in rows}
    # Speeders.
    durations = [row[1] for row in rows if row[1] is not None and row[1] > 0]
    if len(durations) >= cfg["QUALITY_SPEEDER_MIN_RESPONSES"]:
        threshold = statistics.median(durations) * cfg["QUALITY_SPEEDER_FRACTION"]
        for row in rows:
            if row[1] is not None and row[1] < threshold:
                flags[row[0]].add("speeder")
    # Straight-lining on item scales.
    items = _item_questions(current_definition(db, questionnaire_id))
    if items:
        placeholders = ",".join("?" for _ in items)
        for response_id, answered, distinct in db.execute(
                "select a.response_id, count(*), count(distinct a.value) from answers a"
                " join responses r on r.id = a.response_id"
                f" where r.questionnaire_id = ? and a.question_id in ({placeholders})"
                " group by a.response_id", [questionnaire_id, *items]).fetchall():
            if answered >= cfg["QUALITY_STRAIGHT_MIN_ITEMS"] and distinct == 1:
                flags[response_id].add("straight_line")
    # Bursts from one device: a sliding window over each device's submission times.
    window = timedelta(minutes=cfg["QUALITY_BURST_MINUTES"])
    by_device = {}
    for row in rows:
        if row[2] and row[6] is None and row[5] not in STAFF_CHANNELS and row[7] != "import":
            by_device.setdefault(row[2], []).append((_parse(row[4]), row[0]))
    for moments in by_device.values():
        start = 0
        for end in range(len(moments)):
            while moments[end][0] - moments[start][0] > window:
                start += 1
            if end - start + 1 > cfg["QUALITY_BURST_COUNT"]:
                for _moment, response_id in moments[start:end + 1]:
                    flags[response_id].add("burst")
    # Duplicates of a roster household: the earliest stays, later ones are flagged.
    seen = set()
    for row in rows:
        if row[3] is not None:
            if row[3] in seen:
                flags[row[0]].add("duplicate_household")
            seen.add(row[3])
    return flags


def _latest_reviews(db, questionnaire_id):
    """{response_id: latest review action} for one questionnaire."""
    rows = db.execute(
        "select q.response_id, q.action from quality_reviews q join responses r on r.id = q.response_id"
        " where r.questionnaire_id = ? order by q.id", [questionnaire_id]).fetchall()
    return {response_id: action for response_id, action in rows}


def _decide(rule_flags, other_flags, review, current_excluded, had_rule_flags):
    """The `excluded` value a response should have."""
    if review == "reinstate":
        return 0
    if review == "exclude" or rule_flags:
        return 1
    # No rule fires now: undo an exclusion these rules made; leave others' exclusions alone.
    return 0 if had_rule_flags and not other_flags else current_excluded


def run(db, questionnaire_id=None, config=None):
    """Apply every rule; store flags and exclusions that changed. Returns {'checked', 'flagged', 'changed'}."""
    if questionnaire_id is None:
        ids = [row[0] for row in db.execute("select id from questionnaires order by id").fetchall()]
    else:
        ids = [questionnaire_id]
    checked = flagged = 0
    updates = []
    for qid in ids:
        found = find_flags(db, qid, config)
        reviews = _latest_reviews(db, qid)
        for response_id, stored_flags, excluded in db.execute(
                "select id, flags, excluded from responses where questionnaire_id = ?", [qid]).fetchall():
            checked += 1
            stored = json.loads(stored_flags) if stored_flags else []
            others = [f for f in stored if f not in RULES]
            rule_flags = sorted(found.get(response_id, ()))
            flagged += bool(rule_flags)
            new_flags = others + rule_flags
            new_excluded = _decide(rule_flags, others, reviews.get(response_id), excluded or 0,
                                   any(f in RULES for f in stored))
            new_text = json.dumps(new_flags) if new_flags else None
            if new_text != stored_flags or new_excluded != excluded:
                updates.append((new_text, new_excluded, response_id))
    if updates:
        with transaction(db):
            for params in updates:
                db.execute("update responses set flags = ?, excluded = ? where id = ?", list(params))
            db.execute("insert into quality_runs (at, changed) values (?, ?)", [_now(), len(updates)])
    return {"checked": checked, "flagged": flagged, "changed": len(updates)}


def _now():
    """The current UTC time, ISO seconds."""
    from survey.responses import now_iso

    return now_iso()


def review(db, response_id, action, reason, user=None):
    """Reinstate (count it again) or exclude a response; the reason is mandatory and logged."""
    if action not in ("reinstate", "exclude"):
        raise ReviewError(f"action must be 'reinstate' or 'exclude', got '{action}'")
    reason = (reason or "").strip()
    if not reason:
        raise ReviewError(f"response {response_id}: a reason is required")
    row = db.execute("select id from responses where id = ?", [response_id]).fetchone()
    if row is None:
        raise ReviewError(f"no response {response_id}")
    with transaction(db):
        db.execute("insert into quality_reviews (response_id, action, reason, user, at) values (?, ?, ?, ?, ?)",
                   [response_id, action, reason, user, _now()])
        db.execute("update responses set excluded = ? where id = ?", [1 if action == "exclude" else 0, response_id])
    audit.log(db, f"quality_{action}", f"response {response_id}: {reason}")


def flags_version(db):
    """A token that changes whenever a quality run or a review changed flags or exclusions."""
    runs = db.execute("select coalesce(max(id), 0) from quality_runs").fetchone()[0]
    reviews = db.execute("select coalesce(max(id), 0) from quality_reviews").fetchone()[0]
    return f"r{runs}-v{reviews}"


def flagged_responses(db, questionnaire_id):
    """Responses with flags or excluded, newest first, with their latest review."""
    rows = db.execute(
        "select r.id, r.submitted_at, r.duration_s, r.channel, r.respondent_type, r.device_hash,"
        " r.household_id, r.flags, r.excluded, s.name,"
        " (select q.action || '：' || q.reason || '（' || coalesce(q.user, '') || '，' || q.at || '）'"
        "  from quality_reviews q where q.response_id = r.id order by q.id desc limit 1)"
        " from responses r left join sites s on s.id = r.site_id"
        " where r.questionnaire_id = ? and (r.flags is not null or r.excluded = 1)"
        " order by r.submitted_at desc, r.id desc", [questionnaire_id]).fetchall()
    keys = ("id", "submitted_at", "duration_s", "channel", "respondent_type", "device_hash",
            "household_id", "flags", "excluded", "site", "last_review")
    result = []
    for row in rows:
        item = dict(zip(keys, row, strict=True))
        item["flags"] = json.loads(item["flags"]) if item["flags"] else []
        result.append(item)
    return result


quality_cli = AppGroup("quality", help="Response quality rules.")


@quality_cli.command("run")
@click.option("--questionnaire", "questionnaire_id", help="Only this questionnaire.")
@with_appcontext
def run_command(questionnaire_id):
    """Flag speeders, straight-liners, bursts and duplicate households (never deletes)."""
    result = run(get_db(), questionnaire_id, current_app.config)
    click.echo(f"Checked {result['checked']} responses: {result['flagged']} flagged, "
               f"{result['changed']} changed.")


def init_app(app):
    """Register the `quality` command group."""
    app.cli.add_command(quality_cli)
