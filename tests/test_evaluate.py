"""The evaluators' dashboard: numbers, sample-size flag, breakdowns, trends, charts, roles."""

import re
from datetime import timedelta

import pytest
from evaluate_helpers import Maker, elder

from survey import quality
from survey.web.evaluate import population_for


def text_of(html):
    """The visible text of a page, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def survey_data(db):
    """30 elder responses over two sites (population 120 + 80 = 200), 27 satisfied.

    新华社区: 20 responses, 18 satisfied: 15 by the elder (14 satisfied), 5 assisted (4).
    河西村: 10 responses by a proxy, 9 satisfied. Two days apart, so three months.
    """
    make = Maker(db)
    xinhua = make.site("xinhua", "新华社区", population=120)
    hexi = make.site("hexi", "河西村", population=80)
    gap = timedelta(days=2)
    for index in range(20):
        respondent = "self" if index < 15 else "assisted"
        satisfied = index not in (3, 16)
        make.add(elder(overall="5" if satisfied else "2", respondent=respondent, age_band="80-89"),
                 site_id=xinhua, gap=gap)
    for index in range(10):
        make.add(elder(overall="4" if index else "3", respondent="proxy", living_alone="1"), site_id=hexi, gap=gap)
    return db


def test_population_is_the_sum_of_the_sites(survey_data):
    assert population_for(survey_data, 1, "elder-satisfaction") == 200
    assert population_for(survey_data, 1, "elder-satisfaction", {"site": "hexi"}) == 80
    assert population_for(survey_data, 1, "public-awareness") is None


def test_dashboard_shows_rate_n_interval_margin_and_the_sample_flag(survey_data, login):
    page = login("evaluator").get("/e/default/evaluate/elder-satisfaction")
    assert page.status_code == 200
    text = text_of(page.text)
    row = re.search(r"满意度（非常满意＋满意） (.*?) 样本量 30", text).group(1)
    assert row.split()[:5] == ["90.0%", "30", "74.4%", "–", "96.5%"]
    assert "±11.1个百分点" in row
    assert "样本量 30，要达到±5个百分点需要 132 份，还差 102 份（总体 200，已作有限总体校正）" in text
    assert "总体：200" in text


def test_breakdowns_report_self_proxy_and_assisted_separately(survey_data, login):
    text = text_of(login("evaluator").get("/e/default/evaluate/elder-satisfaction").text)
    by_type = text[text.index("按答题人"):text.index("按年龄段")]
    assert re.search(r"老人本人 15 93\.3% .*? n=15", by_type)
    assert re.search(r"工作人员协助填写 5 80\.0% .*? n=5", by_type)
    assert re.search(r"家属或照护人代答 10 90\.0% .*? n=10", by_type)
    by_site = text[text.index("按社区"):text.index("按渠道")]
    assert re.search(r"新华社区 20 90\.0% ", by_site) and re.search(r"河西村 10 90\.0% ", by_site)
    by_alone = text[text.index("按是否独居"):]
    assert re.search(r"独居 10 90\.0%", by_alone) and re.search(r"未注明 20 90\.0%", by_alone)


def test_trend_by_month(survey_data, login):
    text = text_of(login("evaluator").get("/e/default/evaluate/elder-satisfaction").text)
    trend = text[text.index("月度趋势："):]
    months = re.findall(r"(2024-\d\d) (\d+\.\d%) .*? (\d+) ", trend)
    assert [m[0] for m in months] == ["2024-09", "2024-10", "2024-11"]
    assert sum(int(m[2]) for m in months) == 30


def test_filters_narrow_the_numbers_and_a_bad_filter_is_named(survey_data, login):
    client = login("evaluator")
    text = text_of(client.get("/e/default/evaluate/elder-satisfaction?site=hexi").text)
    assert "样本量 10，要达到±5个百分点需要 67 份，还差 57 份（总体 80" in text
    bad = client.get("/e/default/evaluate/elder-satisfaction?period_from=2024-13")
    assert bad.status_code == 400 and "period_from" in bad.text


def test_flagged_responses_leave_the_dashboard_numbers(survey_data, login):
    maker = Maker(survey_data)
    maker.moment = maker.moment + timedelta(days=1)
    for _ in range(6):  # a burst of unsatisfied answers from one phone
        maker.add(elder(overall="1", items=("2", "1", "2")), device_hash="feedbeef", gap=timedelta(minutes=1))
    text = text_of(login("evaluator").get("/e/default/evaluate/elder-satisfaction").text)
    assert "样本量 30，" in text and "6 份答卷被质量规则排除" in text


def test_charts_are_images_cached_and_redrawn_when_data_change(survey_data, login):
    client = login("evaluator")
    png = client.get("/e/default/evaluate/elder-satisfaction/chart/sites.png")
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG") and png.headers["X-Chart-Cache"] == "miss"
    assert client.get("/e/default/evaluate/elder-satisfaction/chart/sites.png").headers["X-Chart-Cache"] == "hit"
    svg = client.get("/e/default/evaluate/elder-satisfaction/chart/distribution.svg?download=1")
    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    assert b"<text" not in svg.data  # glyphs as paths: readable without a CJK font
    assert "attachment" in svg.headers["Content-Disposition"]
    Maker(survey_data).add(elder(), at=None)
    assert client.get("/e/default/evaluate/elder-satisfaction/chart/sites.png").headers["X-Chart-Cache"] == "miss"
    before = quality.flags_version(survey_data, 1)
    rid = survey_data.execute("select max(id) from responses").fetchone()[0]
    quality.review(survey_data, 1, rid, "exclude", "test")
    assert quality.flags_version(survey_data, 1) != before
    assert client.get("/e/default/evaluate/elder-satisfaction/chart/sites.png").headers["X-Chart-Cache"] == "miss"
    assert client.get("/e/default/evaluate/elder-satisfaction/chart/trend.svg").status_code == 200
    assert client.get("/e/default/evaluate/elder-satisfaction/chart/nope.png").status_code == 404


ELDER = "/e/default/evaluate/elder-satisfaction"


@pytest.mark.parametrize("path", ["/e/default/evaluate/", ELDER, f"{ELDER}/report", f"{ELDER}/problems",
                                  f"{ELDER}/quality", f"{ELDER}/export/responses.csv", f"{ELDER}/chart/sites.png"])
def test_only_evaluators_and_admins_see_the_pages(survey_data, client, login, path):
    anonymous = client.get(path)
    assert anonymous.status_code == 302 and "/login" in anonymous.location
    assert login("staff").get(path).status_code == 403
    client.post("/logout", data={})  # CSRF refuses it; log in again as another user instead
    client.delete_cookie("session")
    assert login("evaluator").get(path).status_code == 200
    client.delete_cookie("session")
    assert login("admin").get(path).status_code == 200


def test_the_menu_offers_the_results_to_evaluators_only(survey_data, client, login):
    assert "调查结果" in login("evaluator").get("/admin/").text
    client.delete_cookie("session")
    assert "调查结果" not in login("staff").get("/admin/").text


def test_unknown_questionnaire_is_404(survey_data, login):
    assert login("evaluator").get("/e/default/evaluate/no-such-survey").status_code == 404
