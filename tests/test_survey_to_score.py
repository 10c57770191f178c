"""From HTTP submissions on the respondent pages to the indicator system's score.

An elder answers on the public pages (the `respondent` fixture walks them); the
satisfaction leaf of an indicator system reads elder-satisfaction/satisfaction_rate,
so every submission moves the leaf, the level-1 score and the total.
"""

import io
import json

import pytest
from conftest import ELDER_ANSWERS, PASSWORD, csrf_token

SYSTEM = """\
project: 居家养老服务项目
period: "2024"
indicators:
  - name: 决策
    weight: 90
    rule: judged
    score: 90
    reason: 立项规范，目标明确
  - name: 效益
    weight: 10
    children:
      - name: 满意度
        weight: 10
        rule: rate
        full_at: 0.9
        zero_below: 0.6
        source: {survey: elder-satisfaction, measure: satisfaction_rate}
"""


@pytest.fixture(autouse=True)
def one_test_device(app):
    """Every form here comes from the test client's one device, minutes apart: more than
    QUALITY_BURST_COUNT (5) in 10 minutes is a burst, flagged as it arrives (issue 15).
    These tests are about scoring, so the burst limit is raised out of their way."""
    app.config["QUALITY_BURST_COUNT"] = 1000


@pytest.fixture
def system_file(tmp_path):
    """The indicator system above, as a file."""
    path = tmp_path / "system.yaml"
    path.write_text(SYSTEM, encoding="utf-8")
    return path


def submit(respondent, overall, count):
    """Submit `count` elder-satisfaction forms over HTTP with this overall rating."""
    for _ in range(count):
        person = respondent("/q/elder-satisfaction")
        person.answer_all(dict(ELDER_ANSWERS, overall=str(overall)))
        response = person.submit()
        assert response.status_code == 302, response.status_code


def score(runner, path):
    """Score the system through the CLI; return (leaf, total, measured rate)."""
    result = runner.invoke(args=["score", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    leaf = data["indicators"][1]["children"][0]
    return leaf, data["total"], data["measured"]["效益 / 满意度"]


def test_submissions_move_the_satisfaction_leaf_and_the_total(runner, respondent, system_file):
    before = runner.invoke(args=["score", str(system_file)])
    assert before.exit_code != 0
    assert "效益 / 满意度: no valid responses" in before.stderr

    submit(respondent, 5, 5)
    submit(respondent, 4, 4)   # 4 and 5 are the satisfied set (top-2 box)
    submit(respondent, 3, 1)   # 一般 is not satisfied
    leaf, total, rate = score(runner, system_file)
    assert (rate["successes"], rate["n"], rate["value"]) == (9, 10, 0.9)
    assert rate["ci95"] == [0.5958, 0.9821]
    assert leaf["score"] == 10 and total == 100

    submit(respondent, 5, 5)
    submit(respondent, 2, 5)   # 14 satisfied of 20 = 70%
    leaf, total_after, rate = score(runner, system_file)
    assert (rate["successes"], rate["n"], rate["value"]) == (14, 20, 0.7)
    assert leaf["score"] == 7.0
    assert total_after == 97.0 == total - 3


def test_the_evaluator_page_shows_the_measured_rate_and_a_fresh_chart(app, respondent):
    evaluator = app.test_client()
    page = evaluator.get("/login")
    evaluator.post("/login", data={"csrf_token": csrf_token(page.text), "username": "evaluator",
                                   "password": PASSWORD})
    listing = evaluator.get("/e/default/scores/")
    uploaded = evaluator.post("/e/default/scores/upload", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(listing.text), "file": (io.BytesIO(SYSTEM.encode()), "system.yaml")})
    assert uploaded.status_code == 302
    table = uploaded.location

    submit(respondent, 5, 4)
    text = evaluator.get(table).text
    assert "调查值 100.00%（n=4，95% 置信区间 51.01%–100.00%）" in text
    assert "总分 100.00" in text
    assert evaluator.get(f"{table}/chart.png").headers["X-Chart-Cache"] == "miss"
    assert evaluator.get(f"{table}/chart.png").headers["X-Chart-Cache"] == "hit"

    submit(respondent, 1, 2)   # 4 of 6 = 66.67%: between zero_below and full_at, 0.6667 x 10
    text = evaluator.get(table).text
    assert "调查值 66.67%（n=6" in text
    assert "总分 96.67" in text
    assert evaluator.get(f"{table}/chart.png").headers["X-Chart-Cache"] == "miss"


@pytest.fixture(autouse=True)
def _users(users):
    """Every test here needs the evaluator account."""
    return users
