"""Results of two evaluations side by side: measures, scores, tallies, quality rules, charts
and pages of one never show or count the other's answers; a viewer sees statistics only."""

import json
import re
from datetime import timedelta

import pytest
import yaml
from conftest import PASSWORD, csrf_token
from evaluate_helpers import Maker, elder
from test_score_cli import HOTLINE

from survey import quality
from survey.storage import evaluations, measures_store, tallies
from survey.storage.db import get_db, transaction
from survey.web import auth, evaluate, scores

SECRET_TEXT = "电话总是占线甲方独有"  # open text only evaluation a holds


@pytest.fixture
def two(app, db):
    """Evaluations a (27 of 30 satisfied) and b (10 of 10), both using elder-satisfaction and
    both with a site coded S1; an evaluator, a viewer of a and an evaluator of b."""
    a = evaluations.create(db, "a", "甲项目")
    b = evaluations.create(db, "b", "乙项目")
    make_a, make_b = Maker(db, a.id), Maker(db, b.id)
    site_a, site_b = make_a.site("S1", "同名社区"), make_b.site("S1", "同名社区")
    for index in range(30):
        extra = {"suggestion": SECRET_TEXT} if index == 0 else {}
        make_a.add(elder("5" if index < 20 else "4" if index < 27 else "3", **extra), site_id=site_a)
    for _ in range(10):
        make_b.add(elder("5"), site_id=site_b)
    auth.create_user(db, "eva_a", PASSWORD, "evaluator", evaluation_id=a.id)
    auth.create_user(db, "viewer_a", PASSWORD, "viewer", evaluation_id=a.id)
    auth.create_user(db, "eva_b", PASSWORD, "evaluator", evaluation_id=b.id)
    return a, b


def sign_in(client, username):
    """Log the test client in as `username`."""
    page = client.get("/login")
    response = client.post("/login", data={"csrf_token": csrf_token(page.text), "username": username,
                                           "password": PASSWORD})
    assert response.status_code == 302, username
    return client


def test_measures_command_reads_the_chosen_evaluation_only(two, runner):
    def satisfaction(slug):
        """The satisfaction rate `measures --evaluation slug --json` prints."""
        result = runner.invoke(args=["measures", "elder-satisfaction", "--evaluation", slug, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["satisfaction_rate"]

    assert (satisfaction("a")["value"], satisfaction("a")["n"]) == (0.9, 30)
    assert (satisfaction("b")["value"], satisfaction("b")["n"]) == (1.0, 10)
    refused = runner.invoke(args=["measures", "elder-satisfaction"])
    assert refused.exit_code != 0
    assert "--evaluation" in refused.output and "a (甲项目)" in refused.output and "b (乙项目)" in refused.output
    unknown = runner.invoke(args=["measures", "elder-satisfaction", "--evaluation", "nope"])
    assert unknown.exit_code != 0 and "nope" in unknown.output


@pytest.mark.skipif(not HOTLINE.is_file(), reason="shared example missing")
def test_score_command_scores_the_seed_003_system_from_each_evaluation(two, runner, tmp_path):
    """Seed 003's system with its satisfaction leaf read from the surveys (full only at 100%,
    so the two evaluations' rates show in the total): 27/30 -> 9.00, 10/10 -> 10.00."""
    system = yaml.safe_load(HOTLINE.read_text(encoding="utf-8"))
    text = json.dumps(system, ensure_ascii=False)
    leaf = '"numerator": 27, "denominator": 30'
    assert leaf in text
    text = text.replace(leaf, '"source": {"survey": "elder-satisfaction", "measure": "satisfaction_rate"}')
    text = text.replace('"full_at": 0.9', '"full_at": 1.0')
    path = tmp_path / "hotline-from-surveys.yaml"
    path.write_text(text, encoding="utf-8")

    def total(slug):
        """The total of the system scored from one evaluation's answers."""
        result = runner.invoke(args=["score", str(path), "--evaluation", slug, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["total"]

    assert (total("a"), total("b")) == (93.80, 94.80)
    assert runner.invoke(args=["score", str(path)]).exit_code != 0


def test_tallies_and_raw_tables_keep_the_evaluations_apart(two, db, monkeypatch):
    a, b = two
    site_of = {row[0]: row[1] for row in db.execute("select evaluation_id, id from sites where code = 'S1'")}
    for evaluation, n, successes in ((a, 30, 27), (b, 10, 10)):
        tallied = measures_store.compute_all(db, evaluation.id, "elder-satisfaction", by="site")
        filtered = measures_store.compute(db, evaluation.id, "elder-satisfaction", "satisfaction_rate",
                                          {"site": "S1"})
        assert (filtered.n, filtered.successes) == (n, successes)
        assert (tallied["satisfaction_rate"]["同名社区"].n, tallied["responses"]["同名社区"].n) == (n, n)
        assert measures_store.compute(db, evaluation.id, "elder-satisfaction", "responses",
                                      {"site_id": site_of[evaluation.id]}).n == n
        with monkeypatch.context() as patch:
            patch.setattr(measures_store, "tallies_usable", lambda db, filters: False)
            raw = measures_store.compute_all(db, evaluation.id, "elder-satisfaction", by="site")
        assert {k: {g: r.to_dict() for g, r in v.items()} for k, v in raw.items()} == \
            {k: {g: r.to_dict() for g, r in v.items()} for k, v in tallied.items()}
    with transaction(db):  # the tally rows themselves, once the waiting responses are folded in
        tallies.fold(db)
    keys = db.execute("select count(distinct evaluation_id) from response_marginals").fetchone()[0]
    assert keys == 2


def test_quality_rules_never_mix_two_evaluations(two, db):
    """Five answers from one phone in each evaluation within minutes: not a burst in either
    (a burst is more than five in one evaluation); a sixth in `a` makes one there only."""
    a, b = two
    make_a, make_b = Maker(db, a.id), Maker(db, b.id)
    for _ in range(5):
        make_b.add(elder(), gap=timedelta(minutes=1), device_hash="same-phone")
    ids_a = [make_a.add(elder(), gap=timedelta(minutes=1), device_hash="same-phone") for _ in range(5)]
    flagged = "select count(*) from responses where flags like '%burst%' and evaluation_id = ?"
    assert db.execute(flagged, [a.id]).fetchone()[0] == 0 and db.execute(flagged, [b.id]).fetchone()[0] == 0
    ids_a.append(make_a.add(elder(), gap=timedelta(minutes=1), device_hash="same-phone"))
    assert db.execute(flagged, [a.id]).fetchone()[0] == 6 and db.execute(flagged, [b.id]).fetchone()[0] == 0
    # `quality run` of b finds no burst there and leaves a's flags alone; its median is b's own.
    quality.run(db, b.id)
    assert db.execute(flagged, [a.id]).fetchone()[0] == 6 and db.execute(flagged, [b.id]).fetchone()[0] == 0
    medians = dict(db.execute("select evaluation_id, n from quality_medians"
                              " where questionnaire_id = 'elder-satisfaction'").fetchall())
    assert medians == {b.id: 15}
    # A review names its evaluation: b's evaluator cannot touch a's response through b.
    with pytest.raises(quality.ReviewError):
        quality.review(db, b.id, ids_a[0], "reinstate", "checked")
    assert quality.count_flagged(db, a.id, "elder-satisfaction") == 6
    assert quality.count_flagged(db, b.id, "elder-satisfaction") == 0


def test_chart_cache_keys_include_the_evaluation(two, db):
    a, b = two
    key_a = evaluate.chart_key(db, a.id, "elder-satisfaction", "sites", "svg", {}, "satisfaction_rate")
    key_b = evaluate.chart_key(db, b.id, "elder-satisfaction", "sites", "svg", {}, "satisfaction_rate")
    assert key_a != key_b


def test_a_viewer_sees_rates_charts_and_scores_but_no_rows_text_or_uploads(two, client):
    sign_in(client, "viewer_a")
    base = "/e/a/evaluate/elder-satisfaction"
    page = client.get(base)
    assert page.status_code == 200 and "90.0" in page.text
    assert SECRET_TEXT not in page.text
    for hidden in ("/problems", "/quality", "/export/responses.csv", "/export/responses.xlsx"):
        assert client.get(base + hidden).status_code == 403, hidden
        assert f'href="{base}{hidden}' not in page.text, hidden
    report = client.get(base + "/report")
    assert report.status_code == 200 and SECRET_TEXT not in report.text and "90.0" in report.text
    assert client.get(base + "/export/measures.csv").status_code == 200
    assert client.get(base + "/chart/sites.svg").status_code == 200
    scores = client.get("/e/a/scores/")
    assert scores.status_code == 200 and "/e/a/scores/upload" not in scores.text
    upload = client.post("/e/a/scores/examples/seed-004-home-care-beds.yaml",
                         data={"csrf_token": csrf_token(scores.text)})
    assert upload.status_code == 403
    assert client.get("/e/b/evaluate/elder-satisfaction").status_code == 404


def test_an_evaluator_of_one_evaluation_sees_nothing_of_the_other(two, client):
    a, b = two
    sign_in(client, "eva_b")
    listing = client.get("/e/b/scores/")
    loaded = client.post("/e/b/scores/examples/seed-004-home-care-beds.yaml",
                         data={"csrf_token": csrf_token(listing.text)})
    system_b = int(re.search(r"/scores/(\d+)$", loaded.location).group(1))
    problems = client.get("/e/b/evaluate/elder-satisfaction/problems")
    assert problems.status_code == 200 and SECRET_TEXT not in problems.text
    rows = client.get("/e/b/evaluate/elder-satisfaction/export/responses.csv").get_data(as_text=True)
    assert len(rows.strip().splitlines()) == 1 + 10 and SECRET_TEXT not in rows
    for path in ("/e/a/evaluate/", "/e/a/evaluate/elder-satisfaction", "/e/a/scores/",
                 f"/e/a/scores/{system_b}", "/e/a/evaluate/elder-satisfaction/chart/sites.svg"):
        assert client.get(path).status_code == 404, path
    client.delete_cookie("session")
    sign_in(client, "eva_a")
    assert client.get(f"/e/a/scores/{system_b}").status_code == 404
    assert client.get(f"/e/b/scores/{system_b}").status_code == 404
    with client.application.app_context():
        assert scores.stored_systems(get_db(), a.id) == []
        assert [row["id"] for row in scores.stored_systems(get_db(), b.id)] == [system_b]
