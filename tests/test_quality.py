"""Quality rules on constructed data: speeders, straight-liners, bursts, duplicate households;
flagged responses leave the rates; reinstatement needs a reason and is logged."""

import json
from datetime import timedelta

from conftest import csrf_token
from evaluate_helpers import Maker, drop_one_response_per_household_index, elder

from survey import quality
from survey.storage.measures_store import compute


def flags_of(db, response_id):
    """(flags list, excluded) of a stored response."""
    flags, excluded = db.execute("select flags, excluded from responses where id = ?", [response_id]).fetchone()
    return (json.loads(flags) if flags else []), excluded


def test_speeder_under_a_third_of_the_median_is_flagged(db):
    make = Maker(db)
    normal = [make.add(elder(), duration=300) for _ in range(6)]
    fast = make.add(elder(), duration=90)
    borderline = make.add(elder(), duration=110)
    quality.run(db, 1, "elder-satisfaction")
    assert flags_of(db, fast) == (["speeder"], 1)
    assert flags_of(db, borderline) == ([], 0)
    assert all(flags_of(db, rid) == ([], 0) for rid in normal)


def test_speeder_fraction_is_configurable(db):
    make = Maker(db)
    for _ in range(6):
        make.add(elder(), duration=300)
    slowish = make.add(elder(), duration=140)
    quality.run(db, 1, "elder-satisfaction", {"QUALITY_SPEEDER_FRACTION": 0.5})
    assert "speeder" in flags_of(db, slowish)[0]


def test_straight_lining_needs_four_equal_items(db):
    make = Maker(db)
    straight = make.add(elder(items=("5",) * 6))
    varied = make.add(elder(items=("5", "5", "5", "5", "4", "5")))
    too_few = make.add(elder(items=("3", "3", "3")))
    quality.run(db, 1, "elder-satisfaction")
    assert flags_of(db, straight) == (["straight_line"], 1)
    assert flags_of(db, varied) == ([], 0)
    assert flags_of(db, too_few) == ([], 0)


def test_burst_from_one_device_is_flagged_but_not_a_field_workers_tablet(db):
    make = Maker(db)
    burst = [make.add(elder(), device_hash="aaaa", gap=timedelta(minutes=1)) for _ in range(6)]
    spread = [make.add(elder(), device_hash="bbbb", gap=timedelta(minutes=3)) for _ in range(6)]
    door = [make.add(elder(), device_hash="cccc", channel="door", gap=timedelta(minutes=1)) for _ in range(8)]
    quality.run(db, 1, "elder-satisfaction")
    assert all(flags_of(db, rid) == (["burst"], 1) for rid in burst)
    assert all(flags_of(db, rid) == ([], 0) for rid in spread)  # 6 within 15 minutes: never more than 5 in 10
    assert all(flags_of(db, rid) == ([], 0) for rid in door)


def test_duplicate_household_keeps_the_first_response(db):
    drop_one_response_per_household_index(db)
    make = Maker(db)
    site = make.site("xh", "新华社区")
    household = make.household(site, "001")
    other = make.household(site, "002")
    first = make.add(elder(), household_id=household, site_id=site, channel="household")
    second = make.add(elder(), household_id=household, site_id=site, channel="household")
    single = make.add(elder(), household_id=other, site_id=site, channel="household")
    quality.run(db, 1, "elder-satisfaction")
    assert flags_of(db, first) == ([], 0)
    assert flags_of(db, second) == (["duplicate_household"], 1)
    assert flags_of(db, single) == ([], 0)


def test_flagged_responses_leave_the_rates_and_are_never_deleted(db):
    make = Maker(db)
    for overall in ("5", "4", "4", "2", "4", "5"):
        make.add(elder(overall=overall, items=("4", "3", "5")), duration=300)
    bad = make.add(elder(overall="1", items=("1",) * 6), duration=20)  # speeder and straight-liner
    # Straight-lining is a rule on the response alone: it is excluded as it arrives.
    arrived = compute(db, 1, "elder-satisfaction", "satisfaction_rate")
    assert (arrived.successes, arrived.n) == (5, 6)
    assert flags_of(db, bad) == (["straight_line"], 1)
    result = quality.run(db, 1, "elder-satisfaction")
    assert result["flagged"] == 1
    assert flags_of(db, bad) == (["speeder", "straight_line"], 1)
    after = compute(db, 1, "elder-satisfaction", "satisfaction_rate")
    assert (after.successes, after.n) == (5, 6)
    assert db.execute("select count(*) from responses").fetchone()[0] == 7
    assert compute(db, 1, "elder-satisfaction", "satisfaction_rate", {"include_excluded": True}).n == 7
    # A second run changes nothing and keeps the flags version.
    version = quality.flags_version(db, 1)
    assert quality.run(db, 1, "elder-satisfaction")["changed"] == 0
    assert quality.flags_version(db, 1) == version


def test_reinstatement_needs_a_reason_is_logged_and_survives_a_rerun(app, db, login):
    make = Maker(db)
    for _ in range(6):
        make.add(elder(), duration=300)
    fast = make.add(elder(overall="2"), duration=30)
    quality.run(db, 1, "elder-satisfaction")
    client = login("evaluator")
    page = client.get("/e/default/evaluate/elder-satisfaction/quality")
    assert page.status_code == 200 and "答题过快" in page.text
    token = csrf_token(page.text)
    url = f"/e/default/evaluate/elder-satisfaction/quality/{fast}"

    refused = client.post(url, data={"csrf_token": token, "action": "reinstate", "reason": "  "},
                          follow_redirects=True)
    assert "请填写理由" in refused.text
    assert flags_of(db, fast) == (["speeder"], 1)
    assert db.execute("select count(*) from quality_reviews").fetchone()[0] == 0

    client.post(url, data={"csrf_token": token, "action": "reinstate", "reason": "电话核实：老人熟悉手机"})
    assert flags_of(db, fast) == (["speeder"], 0)
    logged = db.execute("select user, detail from audit_log where action = 'quality_reinstate'").fetchall()
    assert logged == [("evaluator", f"response {fast}: 电话核实：老人熟悉手机")]
    quality.run(db, 1, "elder-satisfaction")
    assert flags_of(db, fast) == (["speeder"], 0)
    assert compute(db, 1, "elder-satisfaction", "satisfaction_rate").n == 7

    client.post(url, data={"csrf_token": token, "action": "exclude", "reason": "复核后仍存疑"})
    assert flags_of(db, fast)[1] == 1
    assert [r[0] for r in db.execute("select action from quality_reviews order by id")] == ["reinstate", "exclude"]


def test_staff_cannot_review(db, login):
    make = Maker(db)
    rid = make.add(elder())
    client = login("staff")
    assert client.get("/e/default/evaluate/elder-satisfaction/quality").status_code == 403
    assert client.post(f"/e/default/evaluate/elder-satisfaction/quality/{rid}",
                       data={"action": "exclude", "reason": "x"}).status_code in (400, 403)


def test_quality_run_command(app, db, runner):
    make = Maker(db)
    for _ in range(6):
        make.add(elder(), duration=300)
    make.add(elder(), duration=10)
    result = runner.invoke(args=["quality", "run"])
    assert result.exit_code == 0, result.output
    assert "1 flagged" in result.output
