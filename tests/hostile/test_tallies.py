"""The trigger-kept tallies (survey/storage/tallies.py) give exactly the measures the raw tables give,
after inserts, quality exclusions, reinstatements, site changes, deletions and a rebuild,
through every query path: each marginal row set (site alone, the other fields, none) and
the fine tally (the site with another field), with and without every breakdown."""

import random

import pytest

from scoring.measures import Rate
from survey import questionnaires
from survey.storage import measures_store as measures
from survey.storage import responses, tallies
from survey.storage.db import transaction

FILTERS = [None, {"channel": "door"}, {"site": "S2"}, {"period_from": "2024-03", "period_to": "2024-05"},
           {"period_from": "2024"}, {"age_band": "80-89", "living_alone": 1}, {"include_excluded": True},
           {"respondent_type": "proxy", "site_id": 1}, {"site_id": 4, "period_to": "2024-06"},
           {"site": "S1", "include_excluded": True}, {"site": "S9"}, {"living_alone": 0, "channel": "qr"},
           {"channel": "phone", "respondent_type": "self", "age_band": "60-69", "period_from": "2024-02"},
           {"site": "S3", "channel": "door", "period_to": "2024-07"}]


def _plain(value):
    """A Rate or {group: Rate} as plain dicts."""
    return value.to_dict() if isinstance(value, Rate) else {k: v.to_dict() for k, v in value.items()}


def _everything(db, questionnaire_id):
    """Every measure, without and with every breakdown, under every filter, as plain dicts:
    one by one (compute), all at once (compute_all) and with every breakdown at once
    (compute_each, whose breakdowns share statements), which must agree."""
    names = list(measures.compute_all(db, 1, questionnaire_id))
    bys = [None, *measures.BREAKDOWNS]
    result = {}
    for index, filters in enumerate(FILTERS):
        each = measures.compute_each(db, 1, questionnaire_id, filters, bys)
        for by in bys:
            for name in names:
                result[(index, by, name)] = _plain(measures.compute(db, 1, questionnaire_id, name, filters, by))
            expected = {name: result[(index, by, name)] for name in names}
            together = measures.compute_all(db, 1, questionnaire_id, filters, by)
            assert {name: _plain(value) for name, value in together.items()} == expected
            assert {name: _plain(value) for name, value in each[by].items()} == expected, (filters, by)
    return result


def _tally_rows(db):
    """Every tally's rows with a count, {table: {key: n}}."""
    return {table: dict(db.execute(f"select key, n from {table} where n != 0").fetchall())
            for table in ("answer_tallies", "response_tallies", "answer_marginals", "response_marginals")}


def _raw(monkeypatch, db, questionnaire_id):
    """The same, computed from the raw tables."""
    with monkeypatch.context() as patch:
        patch.setattr(measures, "tallies_usable", lambda db, filters: False)
        return _everything(db, questionnaire_id)


def _populate(db, rng, count, fold_after=None):
    """Store `count` random elder-satisfaction responses through responses.record; with
    `fold_after`, fold the tallies after that many."""
    questionnaire = questionnaires.get(db, "elder-satisfaction")
    with transaction(db):
        for code in ("S1", "S2", "S3"):
            db.execute("insert into sites (code, name, kind, evaluation_id) values (?, ?, '社区', 1)",
                       [code, code + "社区"])
        # Two sites of one name: a breakdown by site merges them (the raw SQL groups by name).
        db.execute("insert into sites (code, name, kind, evaluation_id) values ('S4', 'S1社区', '街道', 1)")
    for index in range(count):
        services = rng.sample(["meals", "emergency_call", "hotline", "cleaning"], rng.randint(1, 3))
        answers = {"respondent": rng.choice(["self", "proxy", "assisted"]), "services": services,
                   "overall": rng.choice("12345")}
        for item in ("item_attitude", "item_timeliness"):
            if rng.random() < 0.8:
                answers[item] = rng.choice("12345")
        if "emergency_call" in services:
            answers["item_fault_response"] = rng.choice("12345")
        if "hotline" in services:
            answers["hotline_unanswered"] = rng.choice("01")
        if rng.random() < 0.7:
            answers["age_band"] = rng.choice(["60-69", "70-79", "80-89", "90+"])
        if rng.random() < 0.7:
            answers["living_alone"] = rng.choice("01")
        meta = {"evaluation_id": 1, "channel": rng.choice(["qr", "door", "phone"]),
                "site_id": rng.choice([None, 1, 2, 3, 4]),
                "submitted_at": f"2024-{rng.randint(1, 8):02d}-{rng.randint(1, 28):02d}T10:00:00"}
        responses.record(db, questionnaire, f"tally-{index:05d}", answers, meta)
        if index + 1 == fold_after:
            _fold(db)


def _fold(db):
    """Fold every waiting response into the tallies (what a writer does once FOLD_AT wait)."""
    with transaction(db):
        tallies.fold(db)


# When the responses are folded into the tallies: never (every read adds them raw), all
# before the changes (the triggers follow the changes), or the first half only (both kinds).
FOLDS = {"never": None, "before the changes": 150, "half": 75}


@pytest.mark.slow
@pytest.mark.parametrize("folded", list(FOLDS))
def test_tallies_match_raw_counts_through_every_change(db, monkeypatch, folded):
    """Compare tallies and raw SQL on every measure x breakdown x filter after each kind of change."""
    rng = random.Random(7)
    _populate(db, rng, 150, fold_after=FOLDS[folded])
    assert tallies.waiting(db) == 150 - (FOLDS[folded] or 0)
    assert _everything(db, "elder-satisfaction") == _raw(monkeypatch, db, "elder-satisfaction")

    ids = [row[0] for row in db.execute("select id from responses order by id")]
    with transaction(db):
        for response_id in rng.sample(ids, 30):  # a quality rule excludes some
            db.execute("update responses set excluded = 1, flags = '[\"too_fast\"]' where id = ?", [response_id])
        for response_id in rng.sample(ids, 10):  # an evaluator reinstates some
            db.execute("update responses set excluded = 0 where id = ?", [response_id])
        for response_id in rng.sample(ids, 10):  # corrections of site, channel, period
            db.execute("update responses set site_id = ?, channel = 'phone', submitted_at = '2024-09-01T08:00:00'"
                       " where id = ?", [rng.choice([1, 2, None]), response_id])
        gone = rng.sample(ids, 5)
        for response_id in gone:
            db.execute("delete from answers where response_id = ?", [response_id])
            db.execute("delete from responses where id = ?", [response_id])
        db.execute("delete from answers where question_id = 'item_attitude' and response_id = ?", [ids[0]])
    assert _everything(db, "elder-satisfaction") == _raw(monkeypatch, db, "elder-satisfaction")

    before = _everything(db, "elder-satisfaction")
    _fold(db)
    assert tallies.waiting(db) == 0
    assert _everything(db, "elder-satisfaction") == before  # folding changes no figure
    assert db.execute("select sum(n) from response_tallies").fetchone()[0] == 145
    assert db.execute("select sum(n) from response_marginals").fetchone()[0] == 145 * len(tallies.MARGINALS)
    rows = _tally_rows(db)
    with transaction(db):
        tallies.rebuild(db)
    assert _tally_rows(db) == rows  # triggers and fold kept every tally row what a rebuild computes
    assert _everything(db, "elder-satisfaction") == before


def test_a_response_below_the_watermark_is_counted_by_the_triggers(db, monkeypatch):
    """SQLite may give a new response the id of a deleted highest one, at or below the
    watermark: the triggers count it, the fold does not count it again."""
    _populate(db, random.Random(11), 10)
    _fold(db)
    highest = db.execute("select max(id) from responses").fetchone()[0]
    with transaction(db):
        db.execute("delete from answers where response_id = ?", [highest])
        db.execute("delete from responses where id = ?", [highest])
    questionnaire = questionnaires.get(db, "elder-satisfaction")
    responses.record(db, questionnaire, "reused-id-0001", {"respondent": "self", "services": ["meals"],
                                                             "overall": "4"}, {"evaluation_id": 1})
    assert db.execute("select max(id) from responses").fetchone()[0] == highest  # the id came back
    assert tallies.waiting(db) == 0
    _fold(db)
    assert db.execute("select sum(n) from response_tallies").fetchone()[0] == 10
    assert _everything(db, "elder-satisfaction") == _raw(monkeypatch, db, "elder-satisfaction")


def test_a_period_finer_than_a_month_uses_the_raw_tables(db):
    """Days and times cannot be answered from month tallies: the raw tables are used."""
    assert measures.tallies_usable(db, {"period_from": "2024-03"})
    assert not measures.tallies_usable(db, {"period_from": "2024-03-15"})
    assert not measures.tallies_usable(db, {"period_to": "2024-03-15T12:00"})


@pytest.mark.parametrize(("filters", "by", "tally"), [
    (None, None, ("marginals", "site_id")),
    ({"period_from": "2024-03", "include_excluded": True}, "month", ("marginals", "site_id")),
    ({"site": "S1"}, None, ("marginals", "site_id")),
    ({"site_id": 2}, "site", ("marginals", "site_id")),
    (None, "site", ("marginals", "site_id")),
    ({"channel": "door"}, "age_band", ("marginals", "other")),
    ({"age_band": "80-89", "living_alone": 1}, "respondent_type", ("marginals", "other")),
    (None, "living_alone", ("marginals", "other")),
    ({"site": "S1", "channel": ""}, "channel", ("tallies", None)),
    ({"respondent_type": "proxy", "site_id": 1}, None, ("tallies", None)),
    ({"channel": "qr"}, "site", ("tallies", None)),
])
def test_each_query_reads_the_smallest_tally_that_answers_it(filters, by, tally):
    """The site alone or none of it: a marginal row set; the site with another field: the fine tally."""
    assert measures.tally_for(filters, by) == tally


FIVE = ["site", "channel", "respondent_type", "age_band", "living_alone"]


@pytest.mark.parametrize(("filters", "bys", "tally_statements"), [
    (None, FIVE, 2 + 2),  # the site's marginal rows alone; the other four breakdowns together
    ({"site": "S2", "period_from": "2024-03"}, FIVE, 2 + 2),  # site; the four from the site's fine rows
    ({"channel": "door"}, ["site", "month"], 2 + 2),  # the fine tally and a marginal: no rows shared
    ({"period_from": "2024-03-15"}, FIVE, 0),  # finer than a month: the raw tables, by breakdown
])
def test_breakdowns_reading_the_same_tally_rows_share_one_statement(db, filters, bys, tally_statements):
    """compute_each reads the tally rows several breakdowns need once (answers and responses),
    instead of once per breakdown; a breakdown reading other rows runs alone."""
    _populate(db, random.Random(5), 40)
    statements = []
    db.conn.set_trace_callback(statements.append)
    try:
        measures.compute_each(db, 1, "elder-satisfaction", filters, bys)
    finally:
        db.conn.set_trace_callback(None)
    assert sum(1 for sql in statements if "_tallies union all" in sql or "_marginals where dim" in sql) \
        == tally_statements
    assert sum(1 for sql in statements if " from answers a join responses r on r.id" in sql) == \
        (0 if tally_statements else len(bys))


def test_the_measures_store_reads_the_row_sets_of_the_tallies():
    """The store takes the row sets from survey.storage.tallies (no copy of them to drift apart)."""
    assert measures.MARGINALS is tallies.MARGINALS


def test_an_older_database_gets_the_marginal_tallies(db, monkeypatch):
    """A database with the fine tallies only (and their old triggers) is given the marginal
    ones, filled from the fine ones, and new answers reach both."""
    rng = random.Random(3)
    _populate(db, rng, 20)
    with transaction(db):
        db.execute("drop table answer_marginals")
        db.execute("drop table response_marginals")
        tallies.create_schema(db)
    assert _everything(db, "elder-satisfaction") == _raw(monkeypatch, db, "elder-satisfaction")
    questionnaire = questionnaires.get(db, "elder-satisfaction")
    responses.record(db, questionnaire, "tally-late-0001", {"respondent": "self", "services": ["meals"],
                                                             "overall": "5"},
                     {"channel": "door", "site_id": 2, "evaluation_id": 1})
    _fold(db)
    assert db.execute("select sum(n) from response_marginals").fetchone()[0] == 21 * len(tallies.MARGINALS)
    assert _everything(db, "elder-satisfaction") == _raw(monkeypatch, db, "elder-satisfaction")
