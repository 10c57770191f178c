"""Pre-aggregated counts for the survey measures, kept exact by SQLite triggers.

scoring.measures counts answers of valid responses by value, optionally per site,
channel, respondent type, age band, living alone or month, and filtered by the same
fields and a period. Over a million responses, joining answers to responses for each
of a questionnaire's measures takes seconds. These two tables hold the same counts
already grouped by every field a measure can filter or break down by (the period at
month precision):

    answer_tallies(questionnaire_id, question_id, value, excluded, site_id, channel,
                   respondent_type, age_band, living_alone, submitted_at = 'YYYY-MM', n)
    response_tallies(... the same without question_id and value ..., n)

Triggers on `answers` (insert, delete) and on `responses` (insert, delete, and update
of any of those fields, e.g. a quality rule setting `excluded`) add and subtract, in
the same transaction as the change, so the tallies can never disagree with the rows.
Rows are keyed by `key`, the quoted values of every field (quote() keeps NULL apart
from the text 'NULL'), so one UPSERT per answer keeps one row per combination.

The column names are those of `responses`, so scoring.measures runs its own WHERE
and GROUP BY expressions on a tally aliased as `r`, and sums `n` instead of counting
rows. It falls back to the raw tables when a period bound is finer than a month.
"""

DIMENSIONS = ("excluded", "site_id", "channel", "respondent_type", "age_band", "living_alone")


def _key(prefix, extra=()):
    """SQL for the key of a tally row from the response fields under `prefix` (new/old/r)."""
    parts = [f"quote({p})" for p in extra]
    parts += [f"quote({prefix}.questionnaire_id)"] + [f"quote({prefix}.{d})" for d in DIMENSIONS]
    parts.append(f"quote(substr({prefix}.submitted_at, 1, 7))")
    return " || '|' || ".join(parts)


def _fields(prefix):
    """The tally columns' values from the response fields under `prefix`."""
    return ", ".join([f"{prefix}.questionnaire_id"] + [f"{prefix}.{d}" for d in DIMENSIONS]
                     + [f"substr({prefix}.submitted_at, 1, 7)"])


TRIGGERS = []  # names of the triggers, filled by create_schema (bulk loaders may drop and recreate them)
COLUMNS = "questionnaire_id, " + ", ".join(DIMENSIONS) + ", submitted_at"
WATCHED = "questionnaire_id, submitted_at, " + ", ".join(DIMENSIONS)


def _add_answers(prefix, sign, answer_source):
    """INSERT ... SELECT adding `sign` per answer row of `answer_source` (alias a) for response `prefix`."""
    return (f"insert into answer_tallies (key, question_id, value, {COLUMNS}, n)"
            f" select {_key(prefix, ('a.question_id', 'a.value'))}, a.question_id, a.value, {_fields(prefix)}, {sign}"
            f" {answer_source} on conflict(key) do update set n = n + excluded.n;")


def _add_response(prefix, sign):
    """INSERT adding `sign` to the response tally of response `prefix`."""
    return (f"insert into response_tallies (key, {COLUMNS}, n)"
            f" select {_key(prefix)}, {_fields(prefix)}, {sign} where true"
            f" on conflict(key) do update set n = n + excluded.n;")


def create_schema(db):
    """Create the tally tables and their triggers; fill them from existing rows when new."""
    existed = "answer_tallies" in db.table_names()
    dims = ", ".join(f"{d} {'integer' if d in ('excluded', 'site_id', 'living_alone') else 'text'}"
                     for d in DIMENSIONS)
    for table, extra in (("answer_tallies", "question_id text not null, value text not null, "),
                         ("response_tallies", "")):
        db.execute(f"create table if not exists {table} (key text primary key, {extra}"
                   f"questionnaire_id text not null, {dims}, submitted_at text, n integer not null)")
    # Covering (n included) for the common case: a measure of valid responses, no filter.
    db.execute("create index if not exists idx_answer_tallies_measure"
               " on answer_tallies (questionnaire_id, question_id, excluded, value, n)")
    db.execute("create index if not exists idx_response_tallies_q on response_tallies (questionnaire_id, excluded, n)")
    triggers = {
        "tally_answer_insert": "after insert on answers begin "
        + _add_answers("r", 1, "from responses r join (select new.question_id as question_id, new.value as value) a"
                               " where r.id = new.response_id") + " end",
        "tally_answer_delete": "after delete on answers begin "
        + _add_answers("r", -1, "from responses r join (select old.question_id as question_id, old.value as value) a"
                                " where r.id = old.response_id") + " end",
        "tally_response_insert": "after insert on responses begin " + _add_response("new", 1) + " end",
        "tally_response_delete": "after delete on responses begin " + _add_response("old", -1) + " end",
        "tally_response_update": f"after update of {WATCHED} on responses begin "
        + _add_response("old", -1) + _add_response("new", 1)
        + _add_answers("old", -1, "from answers a where a.response_id = old.id")
        + _add_answers("new", 1, "from answers a where a.response_id = new.id") + " end",
    }
    for name, body in triggers.items():
        db.execute(f"create trigger if not exists {name} {body}")
    TRIGGERS[:] = list(triggers)
    if not existed:
        rebuild(db)


def rebuild(db):
    """Recompute both tallies from the raw rows (for a database that had rows before them)."""
    db.execute("delete from answer_tallies")
    db.execute("delete from response_tallies")
    db.execute(f"insert into answer_tallies (key, question_id, value, {COLUMNS}, n)"
               f" select {_key('r', ('a.question_id', 'a.value'))}, a.question_id, a.value, {_fields('r')}, count(*)"
               f" from answers a join responses r on r.id = a.response_id group by 1")
    db.execute(f"insert into response_tallies (key, {COLUMNS}, n)"
               f" select {_key('r')}, {_fields('r')}, count(*) from responses r group by 1")
