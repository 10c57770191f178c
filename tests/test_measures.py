"""Survey measures computed by SQL from responses stored through survey.storage.responses.record."""

import itertools

import pytest
from conftest import ELDER_ANSWERS

from scoring import UnknownMeasureError
from survey import questionnaires
from survey.storage import measures_store as measures
from survey.storage import responses
from survey.storage.db import transaction

_ids = itertools.count(1)


def add_site(db, code, name):
    """Create a site and return its id."""
    with transaction(db):
        return db.execute("insert into sites (code, name, kind, evaluation_id) values (?, ?, '社区', 1)",
                          [code, name]).lastrowid


def record_elder(db, overall, **meta):
    """Store one elder-satisfaction response with the given overall rating; return its id."""
    questionnaire = questionnaires.get(db, "elder-satisfaction")
    answers = dict(ELDER_ANSWERS, overall=str(overall))
    meta.setdefault("evaluation_id", 1)
    response_id, created = responses.record(db, questionnaire, f"test-sub-{next(_ids):06d}", answers, meta)
    assert created
    return response_id


def record_public(db, knows_hotline, knows_services, **meta):
    """Store one public-awareness response with the two yes/no awareness answers."""
    questionnaire = questionnaires.get(db, "public-awareness")
    answers = {"knows_hotline": str(knows_hotline), "knows_services": str(knows_services),
               "satisfaction": "4"}
    meta.setdefault("evaluation_id", 1)
    responses.record(db, questionnaire, f"test-pub-{next(_ids):06d}", answers, meta)


def test_27_satisfied_of_30_gives_90_percent_with_wilson_interval(db):
    for index in range(30):
        record_elder(db, 5 if index < 20 else 4 if index < 27 else 3)
    rate = measures.compute(db, 1, "elder-satisfaction", "satisfaction_rate")
    assert rate.n == 30
    assert rate.successes == 27
    assert rate.value == pytest.approx(0.9)
    assert rate.to_dict()["ci95"] == [0.7438, 0.9654]
    assert measures.compute(db, 1, "elder-satisfaction", "responses").n == 30


def test_filters_by_site_channel_and_period(db):
    north, south = add_site(db, "N01", "北苑社区"), add_site(db, "S01", "南湖社区")
    record_elder(db, 5, site_id=north, channel="door", submitted_at="2024-03-10T09:00:00")
    record_elder(db, 5, site_id=north, channel="qr", submitted_at="2024-04-02T09:00:00")
    record_elder(db, 2, site_id=south, channel="phone", submitted_at="2024-04-20T09:00:00")
    record_elder(db, 1, site_id=south, channel="door", submitted_at="2024-05-01T09:00:00")

    def rate(**filters):
        """The satisfaction rate under these filters."""
        return measures.compute(db, 1, "elder-satisfaction", "satisfaction_rate", filters)

    assert (rate(site="N01").successes, rate(site="N01").n) == (2, 2)
    assert (rate(site_id=south).successes, rate(site_id=south).n) == (0, 2)
    assert (rate(channel="door").successes, rate(channel="door").n) == (1, 2)
    april = rate(period_from="2024-04", period_to="2024-04")
    assert (april.successes, april.n) == (1, 2)
    assert rate(period_to="2024-03-10").n == 1  # a day given as the end includes all of it
    assert rate(period_from="2024-06").n == 0


def test_breakdowns_by_site_channel_and_month(db):
    north, south = add_site(db, "N01", "北苑社区"), add_site(db, "S01", "南湖社区")
    record_elder(db, 5, site_id=north, channel="door", submitted_at="2024-03-10T09:00:00")
    record_elder(db, 3, site_id=north, channel="door", submitted_at="2024-04-02T09:00:00")
    record_elder(db, 4, site_id=south, channel="phone", submitted_at="2024-04-20T09:00:00")
    record_elder(db, 4)  # no site

    by_site = measures.compute(db, 1, "elder-satisfaction", "satisfaction_rate", by="site")
    assert {site: (r.successes, r.n) for site, r in by_site.items()} == {
        "北苑社区": (1, 2), "南湖社区": (1, 1), "（未注明）": (1, 1)}
    by_channel = measures.compute(db, 1, "elder-satisfaction", "satisfaction_rate", by="channel")
    assert {ch: (r.successes, r.n) for ch, r in by_channel.items()} == {
        "door": (1, 2), "phone": (1, 1), "qr": (1, 1)}
    by_month = measures.compute(db, 1, "elder-satisfaction", "satisfaction_rate",
                                {"period_to": "2024-12"}, by="month")
    assert {m: r.n for m, r in by_month.items()} == {"2024-03": 1, "2024-04": 2}
    by_age = measures.compute(db, 1, "elder-satisfaction", "satisfaction_rate", by="age_band")
    assert {age: r.n for age, r in by_age.items()} == {"80-89": 4}


def test_excluded_responses_are_not_counted(db):
    kept = [record_elder(db, 5) for _ in range(3)]
    dropped = record_elder(db, 1)
    with transaction(db):
        db.execute("update responses set excluded = 1 where id = ?", [dropped])
    rate = measures.compute(db, 1, "elder-satisfaction", "satisfaction_rate")
    assert (rate.successes, rate.n, rate.value) == (3, 3, 1.0)
    assert measures.compute(db, 1, "elder-satisfaction", "responses").n == len(kept)
    with_excluded = measures.compute(db, 1, "elder-satisfaction", "satisfaction_rate",
                                     {"include_excluded": True})
    assert with_excluded.n == 4


def test_awareness_is_the_mean_of_its_items(db):
    # knows_hotline 3 of 4 (75%), knows_services 2 of 4 (50%) -> awareness 62.5%.
    for hotline, services in ((1, 1), (1, 1), (1, 0), (0, 0)):
        record_public(db, hotline, services)
    rate = measures.compute(db, 1, "public-awareness", "awareness_rate")
    assert rate.items["knows_hotline"].value == pytest.approx(0.75)
    assert rate.items["knows_services"].value == pytest.approx(0.5)
    assert rate.value == pytest.approx(0.625)
    assert (rate.successes, rate.n) == (5, 8)
    assert set(rate.to_dict()["items"]) == {"knows_hotline", "knows_services"}


def test_item_satisfaction_per_question(db):
    for _ in range(3):
        record_elder(db, 5)  # ELDER_ANSWERS: fault response 2 (unsatisfied), attitude 4
    assert measures.compute(db, 1, "elder-satisfaction", "item_satisfaction:item_attitude").value == 1.0
    assert measures.compute(db, 1, "elder-satisfaction", "item_satisfaction:item_fault_response").value == 0.0


def test_unknown_measure_or_questionnaire_raises(db):
    with pytest.raises(UnknownMeasureError, match="no_such_measure"):
        measures.compute(db, 1, "elder-satisfaction", "no_such_measure")
    with pytest.raises(UnknownMeasureError, match="no-such-survey"):
        measures.compute(db, 1, "no-such-survey", "satisfaction_rate")


def test_source_for_feeds_score_system_with_filters(db):
    north = add_site(db, "N01", "北苑社区")
    record_elder(db, 5, site_id=north)
    record_elder(db, 1)
    lookup = measures.source_for(db, 1, {"site": "N01"})
    assert lookup("elder-satisfaction", "satisfaction_rate", {}).n == 1
    assert lookup("elder-satisfaction", "satisfaction_rate", {"site": None}).n == 2
