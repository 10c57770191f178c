"""Issue 15, the read side: quality flags set on arrival (the same as a full `quality run`),
evaluator pages that never write, and paged, filterable lists."""

import hashlib
import json
import random
from datetime import timedelta

import pytest
from evaluate_helpers import Maker, drop_one_response_per_household_index, elder

from survey import quality

ELDER = "/e/default/evaluate/elder-satisfaction"
PAGES = ["/e/default/evaluate/", ELDER, f"{ELDER}/problems", f"{ELDER}/quality", f"{ELDER}/report"]


def stored_flags(db):
    """{response id: (flags, excluded)} of every stored response."""
    return {rid: (json.loads(flags) if flags else [], excluded)
            for rid, flags, excluded in db.execute("select id, flags, excluded from responses")}


def test_rules_on_arrival_agree_with_a_full_run(db):
    """Random devices, gaps, households and answers: the flags set as each response arrived
    are exactly those a full run then finds (after a first run stored the median; the
    durations keep the median where it was, since a moving median is the run's business)."""
    drop_one_response_per_household_index(db)
    rng = random.Random(15)
    make = Maker(db)
    site = make.site("xh", "新华社区")
    households = [make.household(site, f"{n:03d}") for n in range(6)]
    for _ in range(8):  # a median for the speeder rule
        make.add(elder(), duration=300)
    quality.run(db, 1, "elder-satisfaction")
    for _ in range(150):
        items = ("5",) * 6 if rng.random() < 0.1 else tuple(rng.choice("12345") for _ in range(6))
        meta = {"device_hash": rng.choice(["d1", "d2", "d3", None])}
        if rng.random() < 0.15:
            meta.update(household_id=rng.choice(households), site_id=site)
        if rng.random() < 0.2:
            meta["channel"] = "door"
        make.add(elder(items=items), duration=rng.choice([20, 300, 300, 310, 400]),
                 gap=timedelta(seconds=rng.choice([5, 10, 20, 30, 60, 60, 60, 1200])), **meta)
    on_arrival = stored_flags(db)
    assert any("burst" in f for f, _ in on_arrival.values())
    assert any("duplicate_household" in f for f, _ in on_arrival.values())
    assert any("speeder" in f for f, _ in on_arrival.values())
    assert any("straight_line" in f for f, _ in on_arrival.values())
    result = quality.run(db, 1, "elder-satisfaction")
    after = stored_flags(db)
    diff = {rid: (on_arrival[rid], after[rid]) for rid in after if after[rid] != on_arrival[rid]}
    assert result["changed"] == 0, f"a full run found flags the arrival rules had missed or set wrongly: {diff}"
    assert stored_flags(db) == on_arrival


def test_a_burst_flags_the_earlier_responses_of_the_device_too(db):
    make = Maker(db)
    first = [make.add(elder(), device_hash="dev", gap=timedelta(minutes=1)) for _ in range(5)]
    assert all(stored_flags(db)[rid] == ([], 0) for rid in first)
    sixth = make.add(elder(), device_hash="dev", gap=timedelta(minutes=1))
    flags = stored_flags(db)
    assert all(flags[rid] == (["burst"], 1) for rid in [*first, sixth])


def test_a_reinstated_response_stays_counted_when_a_later_burst_catches_it(db):
    make = Maker(db)
    first = make.add(elder(), device_hash="dev", gap=timedelta(minutes=1))
    quality.review(db, 1, first, "exclude", "checked by phone")
    quality.review(db, 1, first, "reinstate", "checked by phone again")
    for _ in range(5):
        make.add(elder(), device_hash="dev", gap=timedelta(minutes=1))
    assert stored_flags(db)[first] == (["burst"], 0)


def test_speeder_on_arrival_uses_the_median_of_the_last_run(db):
    make = Maker(db)
    for _ in range(6):
        make.add(elder(), duration=300)
    before_any_run = make.add(elder(), duration=20)
    assert stored_flags(db)[before_any_run] == ([], 0)  # no median stored yet
    quality.run(db, 1, "elder-satisfaction")
    assert stored_flags(db)[before_any_run] == (["speeder"], 1)
    fast = make.add(elder(), duration=20)
    slow = make.add(elder(), duration=250)
    assert stored_flags(db)[fast] == (["speeder"], 1)
    assert stored_flags(db)[slow] == ([], 0)


@pytest.fixture
def busy(db):
    """120 responses: a straight-liner every tenth, an open-text answer on every one."""
    make = Maker(db)
    for index in range(120):
        items = ("5",) * 6 if index % 10 == 0 else ("4", "5", "4")
        make.add(elder(items=items, suggestion=f"意见{index:03d}{_unlike(index)}"), gap=timedelta(minutes=30))
    return db


def _unlike(index):
    """Six CJK characters that differ from one index to the next, so the problem list (which
    merges near-identical comments) keeps every comment of `busy` apart."""
    digest = hashlib.sha256(str(index).encode()).digest()
    return "".join(chr(0x4E00 + int.from_bytes(digest[2 * k:2 * k + 2], "big") % 2000) for k in range(6))


def test_evaluator_pages_never_write(busy, app, login):
    """No page load changes the database: SQLite's total_changes on the pages' own
    connection, and the data_version another connection sees, both stay put."""
    client = login("evaluator")
    busy.execute("delete from responses where 0")  # settle the connection's view
    watcher_before = busy.execute("pragma data_version").fetchone()[0]
    flags_before = stored_flags(busy)
    with app.app_context():
        from survey.storage.db import get_db

        own = get_db().conn
        changes_before = own.total_changes
        for path in PAGES + [p + "?page=2" for p in PAGES[2:4]] + [f"{ELDER}/quality?rule=burst"]:
            assert client.get(path).status_code == 200, path
        assert own.total_changes == changes_before
    audit_rows = busy.execute("select count(*) from audit_log").fetchone()[0]
    assert busy.execute("pragma data_version").fetchone()[0] == watcher_before, \
        "a page load wrote to the database"
    assert stored_flags(busy) == flags_before
    assert busy.execute("select count(*) from quality_runs").fetchone()[0] == 0
    assert busy.execute("select count(*) from audit_log").fetchone()[0] == audit_rows


def test_problem_list_is_paged_newest_first_with_the_total_from_the_tallies(busy, login):
    client = login("evaluator")
    first = client.get("/e/default/evaluate/elder-satisfaction/problems").text
    # 108 valid responses: every tenth (0, 10, ...) is a straight-liner, excluded on arrival.
    assert "开放题意见（108 条，归并为 108 类）" in first  # equal counts: newest first
    assert "意见119" in first and "意见065" in first and "意见064" not in first and "意见110" not in first
    assert "第 1–50 条，共 108 条（第 1 / 3 页）" in first
    third = client.get("/e/default/evaluate/elder-satisfaction/problems?page=3").text
    assert "意见008" in third and "意见001" in third and "意见009" not in third
    assert client.get("/e/default/evaluate/elder-satisfaction/problems?page=0").status_code == 400
    bad = client.get("/e/default/evaluate/elder-satisfaction/problems?page=abc")
    assert bad.status_code == 400 and "page" in bad.text


def test_problem_list_total_follows_the_filters(busy, login):
    busy.execute("update responses set excluded = 1 where id <= 30")
    text = login("evaluator").get("/e/default/evaluate/elder-satisfaction/problems").text
    # 30 excluded, of which 3 were straight-liners already: 120 - 30 - 9 remaining straight-liners.
    assert "开放题意见（81 条，归并为 81 类）" in text


def test_report_lists_the_newest_texts_and_points_to_the_list(busy, login, monkeypatch):
    from survey.web import evaluate

    monkeypatch.setattr(evaluate, "REPORT_TEXTS", 10)
    text = login("evaluator").get("/e/default/evaluate/elder-satisfaction/report").text
    assert "意见119" in text and "意见100" not in text
    assert "以下是最常见的 10 类" in text  # all said once: the newest first


def test_quality_list_is_paged_and_filtered(busy, login):
    client = login("evaluator")
    make = Maker(busy)
    for _ in range(60):
        make.add(elder(), device_hash="dev", gap=timedelta(seconds=30))
    page = client.get("/e/default/evaluate/elder-satisfaction/quality").text
    assert "共 72 条" in page  # 12 straight-liners and 60 in a burst
    assert page.count('name="reason"') == 50
    assert client.get("/e/default/evaluate/elder-satisfaction/quality?page=2").text.count('name="reason"') == 22
    only = client.get("/e/default/evaluate/elder-satisfaction/quality?rule=straight_line").text
    assert "共 12 条" in only and only.count('name="reason"') == 12
    rid = busy.execute("select max(id) from responses").fetchone()[0]
    quality.review(busy, 1, rid, "reinstate", "a family of six on one phone")
    counted = client.get("/e/default/evaluate/elder-satisfaction/quality?status=counted").text
    assert "共 1 条" in counted and f"reason-{rid}" in counted
    assert "共 71 条" in client.get("/e/default/evaluate/elder-satisfaction/quality?status=excluded").text
    wrong = client.get("/e/default/evaluate/elder-satisfaction/quality?rule=nope")
    assert wrong.status_code == 400 and "rule" in wrong.text


def test_the_review_list_reads_the_partial_index_of_flagged_responses(busy):
    plan = " ".join(row[3] for row in busy.execute(
        "explain query plan select count(*) from responses r where r.questionnaire_id = ?"
        " and (r.flags is not null or r.excluded = 1)", ["elder-satisfaction"]))
    assert "idx_responses_flagged" in plan


def test_the_index_counts_come_from_the_tallies(busy, login):
    busy.execute("update responses set excluded = 1 where id <= 5")
    text = login("evaluator").get("/e/default/evaluate/").text
    # 120 responses; 12 straight-liners plus ids 2-5 newly excluded (id 1 was a straight-liner).
    assert "<td class=\"num\">120</td><td class=\"num\">16</td>" in text
