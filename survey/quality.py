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

Reads never write. The per-response rules (straight-lining, bursts, duplicate households,
and the speeder rule against the median the last `quality run` stored) run when a
response arrives, inside the transaction that stores it (`on_arrival`); the whole-set
rule (the median duration itself) runs with `flask quality run`, which also re-checks
every rule over the stored responses. No evaluator page load runs a rule.

`flags_version(db)` changes whenever flags or reviews change; caches of charts key on it.
"""

import json
import statistics
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from flask import current_app, has_app_context

from survey.storage import audit
from survey.storage.db import transaction
from survey.storage.measures_store import current_definition

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


def create_arrival_schema(db):
    """What the rules on arrival read: the stored medians, the index of a device's
    submissions, and the partial index of flagged responses the review list pages through.

    Plain SQL (not sqlite-utils helpers, which commit): it runs inside a migration.
    """
    db.execute("create table if not exists quality_medians (questionnaire_id text primary key,"
               " median_s real not null, n integer not null, at text not null)")
    db.execute("create index if not exists idx_responses_device"
               " on responses (device_hash, submitted_at) where device_hash is not null")
    db.execute("create index if not exists idx_responses_household"
               " on responses (household_id, questionnaire_id) where household_id is not null")
    db.execute("create index if not exists idx_responses_flagged on responses (questionnaire_id, id)"
               " where flags is not null or excluded = 1")


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


class Checked(NamedTuple):
    """The fields of a stored response the rules read."""

    id: int
    duration_s: float | None
    device_hash: str | None
    household_id: int | None
    submitted_at: str
    channel: str | None
    staff_user_id: int | None
    source: str | None


def find_flags(db, evaluation_id, questionnaire_id, config=None):
    """{response_id: set(rule names)} for one questionnaire's responses in one evaluation. Reads only."""
    cfg = settings(config)
    rows = [Checked(*row) for row in db.execute(
        "select id, duration_s, device_hash, household_id, submitted_at, channel, staff_user_id, source"
        " from responses where evaluation_id = ? and questionnaire_id = ? order by submitted_at, id",
        [evaluation_id, questionnaire_id]).fetchall()]
    flags = {row.id: set() for row in rows}
    # Speeders.
    median = _median_of([row.duration_s for row in rows], cfg)
    if median is not None:
        threshold = median[0] * cfg["QUALITY_SPEEDER_FRACTION"]
        for row in rows:
            if row.duration_s is not None and row.duration_s < threshold:
                flags[row.id].add("speeder")
    # Straight-lining on item scales.
    items = _item_questions(current_definition(db, questionnaire_id))
    if items:
        placeholders = ",".join("?" for _ in items)
        for response_id, answered, distinct in db.execute(
                "select a.response_id, count(*), count(distinct a.value) from answers a"
                " join responses r on r.id = a.response_id"
                f" where r.evaluation_id = ? and r.questionnaire_id = ? and a.question_id in ({placeholders})"
                " group by a.response_id", [evaluation_id, questionnaire_id, *items]).fetchall():
            if answered >= cfg["QUALITY_STRAIGHT_MIN_ITEMS"] and distinct == 1:
                flags[response_id].add("straight_line")
    # Bursts from one device: a sliding window over each device's submission times.
    window = timedelta(minutes=cfg["QUALITY_BURST_MINUTES"])
    by_device = {}
    for row in rows:
        if _is_web_device(row._asdict()):
            by_device.setdefault(row.device_hash, []).append((_parse(row.submitted_at), row.id))
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
        if row.household_id is not None:
            if row.household_id in seen:
                flags[row.id].add("duplicate_household")
            seen.add(row.household_id)
    return flags


def _median_of(durations, cfg):
    """(median, n) of the positive durations, or None below QUALITY_SPEEDER_MIN_RESPONSES."""
    durations = [d for d in durations if d is not None and d > 0]
    if len(durations) < cfg["QUALITY_SPEEDER_MIN_RESPONSES"]:
        return None
    return statistics.median(durations), len(durations)


def _median(db, evaluation_id, questionnaire_id, config=None):
    """(median completion time, n) of one questionnaire's timed responses in one evaluation, or None."""
    durations = [row[0] for row in db.execute(
        "select duration_s from responses where evaluation_id = ? and questionnaire_id = ? and duration_s > 0",
        [evaluation_id, questionnaire_id])]
    return _median_of(durations, settings(config))


# The item scales of a questionnaire version never change once loaded: cached by (id, version).
_ITEMS = {}


def _items_of(db, questionnaire_id, version):
    """Item-scale question ids of one stored questionnaire version (cached)."""
    key = (questionnaire_id, version)
    if key not in _ITEMS:
        row = db.execute("select definition from questionnaire_versions where questionnaire_id = ? and version = ?",
                         [questionnaire_id, version]).fetchone()
        _ITEMS[key] = frozenset(_item_questions(json.loads(row[0]))) if row else frozenset()
    return _ITEMS[key]


def _is_web_device(row):
    """Whether a response counts for the burst rule: a self-completed web response with a device."""
    return bool(row["device_hash"]) and row["staff_user_id"] is None \
        and row["channel"] not in STAFF_CHANNELS and row["source"] != "import"


def arrival_flags(db, row, clean, config=None):
    """The rule flags a new response gets before it is stored, and the ids of earlier
    responses the burst rule now catches too. `row` is its responses row, `clean` its answers.

    Exactly what `run` would find for the rules that concern this response alone or its
    device's neighbours in time; the speeder rule compares with the median stored by the
    last `quality run` (none stored: no speeder flag until one has run).
    """
    cfg = settings(config)
    flags, caught = set(), []
    qid, evaluation_id = row["questionnaire_id"], row["evaluation_id"]
    duration = row.get("duration_s")
    if duration is not None:
        stored = db.execute("select median_s from quality_medians where evaluation_id = ? and questionnaire_id = ?",
                            [evaluation_id, qid]).fetchone()
        if stored is not None and duration < stored[0] * cfg["QUALITY_SPEEDER_FRACTION"]:
            flags.add("speeder")
    items = _items_of(db, qid, row["questionnaire_version"])
    values = [clean[q] for q in items if clean.get(q) not in (None, "", [])]
    if len(values) >= cfg["QUALITY_STRAIGHT_MIN_ITEMS"] and len(set(map(str, values))) == 1:
        flags.add("straight_line")
    if row.get("household_id") is not None and db.execute(
            "select 1 from responses where household_id = ? and evaluation_id = ? and questionnaire_id = ?"
            " and submitted_at <= ? limit 1",
            [row["household_id"], evaluation_id, qid, row["submitted_at"]]).fetchone():
        flags.add("duplicate_household")
    if _is_web_device(row):
        burst, caught = _burst(db, row, cfg)
        if burst:
            flags.add("burst")
    return flags, caught


def _burst(db, row, cfg):
    """(whether the new response is in a burst, ids of stored ones the burst catches).

    The sliding window of `find_flags`, over the device's QUALITY_BURST_COUNT nearest
    web responses on each side of the new one: a window holding more than COUNT
    responses with the new one either held more than COUNT before (its members are
    flagged already) or holds exactly COUNT + 1, all within COUNT places of the new
    one. So a flood from one device costs the same per response, not more each time.
    """
    window = timedelta(minutes=cfg["QUALITY_BURST_MINUTES"])
    count = cfg["QUALITY_BURST_COUNT"]
    moment = _parse(row["submitted_at"])
    web = (f" and evaluation_id = ? and staff_user_id is null and source != 'import'"
           f" and channel not in ({','.join('?' for _ in STAFF_CHANNELS)})")
    base = [row["device_hash"], row["questionnaire_id"]]
    scoped = [row["evaluation_id"], *STAFF_CHANNELS]
    before = db.execute(
        "select id, submitted_at from responses where device_hash = ? and questionnaire_id = ?"
        f" and submitted_at <= ?{web} order by submitted_at desc, id desc limit ?",
        [*base, row["submitted_at"], *scoped, count]).fetchall()
    after = db.execute(
        "select id, submitted_at from responses where device_hash = ? and questionnaire_id = ?"
        f" and submitted_at > ?{web} order by submitted_at, id limit ?",
        [*base, row["submitted_at"], *scoped, count]).fetchall()
    moments = [(_parse(at), rid) for rid, at in reversed(before)] + [(moment, None)] \
        + [(_parse(at), rid) for rid, at in after]
    hit, start = set(), 0
    for end in range(len(moments)):
        while moments[end][0] - moments[start][0] > window:
            start += 1
        if end - start + 1 > count:
            hit.update(response_id for _moment, response_id in moments[start:end + 1])
    return None in hit, sorted(i for i in hit if i is not None)


def on_arrival(db, row, clean, config=None):
    """Set the new response's flags and exclusion in `row` (before its insert), and flag the
    stored responses a burst now catches. Call inside the transaction that stores it."""
    if config is None and has_app_context():
        config = current_app.config
    flags, caught = arrival_flags(db, row, clean, config)
    if flags:
        row["flags"] = json.dumps(sorted(flags))
        row["excluded"] = 1
    for response_id in caught:
        stored, excluded = db.execute("select flags, excluded from responses where id = ?", [response_id]).fetchone()
        current = json.loads(stored) if stored else []
        if "burst" in current:
            continue
        reviewed = db.execute("select action from quality_reviews where response_id = ? order by id desc limit 1",
                              [response_id]).fetchone()
        new_excluded = 0 if reviewed and reviewed[0] == "reinstate" else 1
        others = [f for f in current if f not in RULES]
        rule_flags = sorted({f for f in current if f in RULES} | {"burst"})
        db.execute("update responses set flags = ?, excluded = ? where id = ?",
                   [json.dumps(others + rule_flags), new_excluded, response_id])


def _latest_reviews(db, evaluation_id, questionnaire_id):
    """{response_id: latest review action} for one questionnaire in one evaluation."""
    rows = db.execute(
        "select q.response_id, q.action from quality_reviews q join responses r on r.id = q.response_id"
        " where r.evaluation_id = ? and r.questionnaire_id = ? order by q.id",
        [evaluation_id, questionnaire_id]).fetchall()
    return {response_id: action for response_id, action in rows}


def _decide(rule_flags, other_flags, review, current_excluded, had_rule_flags):
    """The `excluded` value a response should have."""
    if review == "reinstate":
        return 0
    if review == "exclude" or rule_flags:
        return 1
    # No rule fires now: undo an exclusion these rules made; leave others' exclusions alone.
    return 0 if had_rule_flags and not other_flags else current_excluded


def run(db, evaluation_id, questionnaire_id=None, config=None):
    """Apply every rule to one evaluation's responses (of one questionnaire, or of all it
    uses); store flags and exclusions that changed. Returns {'checked', 'flagged', 'changed'}."""
    if questionnaire_id is None:
        ids = [row[0] for row in db.execute(
            "select questionnaire_id from evaluation_questionnaires where evaluation_id = ?"
            " union select distinct questionnaire_id from responses where evaluation_id = ? order by 1",
            [evaluation_id, evaluation_id]).fetchall()]
    else:
        ids = [questionnaire_id]
    checked = flagged = 0
    updates = []
    for qid in ids:
        found = find_flags(db, evaluation_id, qid, config)
        reviews = _latest_reviews(db, evaluation_id, qid)
        for response_id, stored_flags, excluded in db.execute(
                "select id, flags, excluded from responses where evaluation_id = ? and questionnaire_id = ?",
                [evaluation_id, qid]).fetchall():
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
    medians = {qid: _median(db, evaluation_id, qid, config) for qid in ids}
    with transaction(db):
        for qid, median in medians.items():
            if median is None:
                db.execute("delete from quality_medians where evaluation_id = ? and questionnaire_id = ?",
                           [evaluation_id, qid])
            else:
                db.execute("insert into quality_medians (evaluation_id, questionnaire_id, median_s, n, at)"
                           " values (?, ?, ?, ?, ?) on conflict(evaluation_id, questionnaire_id) do update"
                           " set median_s = excluded.median_s, n = excluded.n, at = excluded.at",
                           [evaluation_id, qid, median[0], median[1], _now()])
        if updates:
            for params in updates:
                db.execute("update responses set flags = ?, excluded = ? where id = ?", list(params))
            db.execute("insert into quality_runs (at, changed, evaluation_id) values (?, ?, ?)",
                       [_now(), len(updates), evaluation_id])
    return {"checked": checked, "flagged": flagged, "changed": len(updates)}


def _now():
    """The current UTC time, ISO seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def review(db, evaluation_id, response_id, action, reason, user=None):
    """Reinstate (count it again) or exclude a response of the evaluation; the reason is
    mandatory and logged."""
    if action not in ("reinstate", "exclude"):
        raise ReviewError(f"action must be 'reinstate' or 'exclude', got '{action}'")
    reason = (reason or "").strip()
    if not reason:
        raise ReviewError(f"response {response_id}: a reason is required")
    row = db.execute("select id from responses where id = ? and evaluation_id = ?",
                     [response_id, evaluation_id]).fetchone()
    if row is None:
        raise ReviewError(f"no response {response_id}")
    with transaction(db):
        db.execute("insert into quality_reviews (response_id, action, reason, user, at) values (?, ?, ?, ?, ?)",
                   [response_id, action, reason, user, _now()])
        db.execute("update responses set excluded = ? where id = ?", [1 if action == "exclude" else 0, response_id])
    audit.log(db, f"quality_{action}", f"response {response_id}: {reason}", evaluation_id=evaluation_id)


def flags_version(db, evaluation_id):
    """A token that changes whenever a quality run or a review changed flags or exclusions
    in the evaluation."""
    runs = db.execute("select coalesce(max(id), 0) from quality_runs where evaluation_id = ?",
                      [evaluation_id]).fetchone()[0]
    reviews = db.execute("select coalesce(max(q.id), 0) from quality_reviews q join responses r"
                         " on r.id = q.response_id where r.evaluation_id = ?", [evaluation_id]).fetchone()[0]
    return f"r{runs}-v{reviews}"


STATUSES = ("excluded", "counted")  # the review list's status filter: left out of the rates, or counted


def _flagged_where(evaluation_id, questionnaire_id, rule=None, status=None):
    """WHERE and parameters of a questionnaire's flagged or excluded responses.

    The condition repeats the partial index idx_responses_flagged's own, so SQLite reads
    that index (flagged responses only) instead of every response. The unary + keeps the
    evaluation term off the index choice: with it usable, SQLite's planner chose to scan
    every response (70 ms at 200,000 against 11 ms through the partial index).
    """
    clauses = ["r.questionnaire_id = ?", "(r.flags is not null or r.excluded = 1)", "+r.evaluation_id = ?"]
    params = [questionnaire_id, evaluation_id]
    if rule:
        if rule not in RULES:
            raise ReviewError(f"rule: must be one of {', '.join(RULES)}, got '{rule}'")
        clauses.append("r.flags like ?")
        params.append(f'%"{rule}"%')
    if status:
        if status not in STATUSES:
            raise ReviewError(f"status: must be one of {', '.join(STATUSES)}, got '{status}'")
        clauses.append("r.excluded = ?" if status == "excluded" else "r.excluded != ?")
        params.append(1)
    return " and ".join(clauses), params


def count_flagged(db, evaluation_id, questionnaire_id, rule=None, status=None):
    """How many responses the review list holds under these filters (from the partial index)."""
    where, params = _flagged_where(evaluation_id, questionnaire_id, rule, status)
    return db.execute(f"select count(*) from responses r where {where}", params).fetchone()[0]


def flagged_responses(db, evaluation_id, questionnaire_id, rule=None, status=None, limit=50, offset=0):
    """One page of the responses with flags or excluded, newest first, with their latest review.

    `rule` keeps those a rule flagged, `status` those excluded or counted; ReviewError
    names a bad filter.
    """
    where, params = _flagged_where(evaluation_id, questionnaire_id, rule, status)
    rows = db.execute(
        "select r.id, r.submitted_at, r.duration_s, r.channel, r.respondent_type, r.device_hash,"
        " r.household_id, r.flags, r.excluded, s.name,"
        " (select q.action || '：' || q.reason || '（' || coalesce(q.user, '')"
        "  from quality_reviews q where q.response_id = r.id order by q.id desc limit 1),"
        # The review's time apart (stored UTC): pages show it in local time.
        " (select q.at from quality_reviews q where q.response_id = r.id order by q.id desc limit 1)"
        f" from responses r left join sites s on s.id = r.site_id where {where}"
        " order by r.id desc limit ? offset ?", [*params, limit, offset]).fetchall()
    keys = ("id", "submitted_at", "duration_s", "channel", "respondent_type", "device_hash",
            "household_id", "flags", "excluded", "site", "last_review", "last_review_at")
    result = []
    for row in rows:
        item = dict(zip(keys, row, strict=True))
        item["flags"] = json.loads(item["flags"]) if item["flags"] else []
        result.append(item)
    return result
