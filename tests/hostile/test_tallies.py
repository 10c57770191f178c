"""The trigger-kept tallies (survey/tallies.py) give exactly the measures the raw tables give,
after inserts, quality exclusions, reinstatements, site changes, deletions and a rebuild."""

import random

import pytest

from scoring import measures
from survey import questionnaires, responses, tallies
from survey.db import transaction

FILTERS = [None, {"channel": "door"}, {"site": "S2"}, {"period_from": "2024-03", "period_to": "2024-05"},
           {"period_from": "2024"}, {"age_band": "80-89", "living_alone": 1}, {"include_excluded": True},
           {"respondent_type": "proxy", "site_id": 1}]


def _everything(db, questionnaire_id):
    """Every measure, without and with every breakdown, under every filter, as plain dicts."""
    names = list(measures.compute_all(db, questionnaire_id))
    result = {}
    for index, filters in enumerate(FILTERS):
        for by in [None, *measures.BREAKDOWNS]:
            for name in names:
                value = measures.compute(db, questionnaire_id, name, filters, by)
                result[(index, by, name)] = (value.to_dict() if by is None
                                             else {k: v.to_dict() for k, v in value.items()})
    return result


def _raw(monkeypatch, db, questionnaire_id):
    """The same, computed from the raw tables."""
    with monkeypatch.context() as patch:
        patch.setattr(measures, "_tallies_usable", lambda db, filters: False)
        return _everything(db, questionnaire_id)


def _populate(db, rng, count):
    """Store `count` random elder-satisfaction responses through responses.record."""
    questionnaire = questionnaires.get(db, "elder-satisfaction")
    with transaction(db):
        for code in ("S1", "S2", "S3"):
            db.execute("insert into sites (code, name, kind) values (?, ?, '社区')", [code, code + "社区"])
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
        meta = {"channel": rng.choice(["qr", "door", "phone"]), "site_id": rng.choice([None, 1, 2, 3]),
                "submitted_at": f"2024-{rng.randint(1, 8):02d}-{rng.randint(1, 28):02d}T10:00:00"}
        responses.record(db, questionnaire, f"tally-{index:05d}", answers, meta)


@pytest.mark.slow
def test_tallies_match_raw_counts_through_every_change(db, monkeypatch):
    """Compare tallies and raw SQL on every measure x breakdown x filter after each kind of change."""
    rng = random.Random(7)
    _populate(db, rng, 150)
    assert db.execute("select sum(n) from response_tallies").fetchone()[0] == 150
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
    assert db.execute("select sum(n) from response_tallies").fetchone()[0] == 145

    before = _everything(db, "elder-satisfaction")
    with transaction(db):
        tallies.rebuild(db)
    assert _everything(db, "elder-satisfaction") == before


def test_a_period_finer_than_a_month_uses_the_raw_tables(db):
    """Days and times cannot be answered from month tallies: the raw tables are used."""
    assert measures._tallies_usable(db, {"period_from": "2024-03"})
    assert not measures._tallies_usable(db, {"period_from": "2024-03-15"})
    assert not measures._tallies_usable(db, {"period_to": "2024-03-15T12:00"})
