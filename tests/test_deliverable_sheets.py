"""Issue 13: the measures workbook in Chinese with percentages and a sheet per breakdown, the
responses export with Chinese question titles, the merged problem list (page and export),
and the printable report (real period, the score table itself)."""

import csv
import io
from pathlib import Path

import openpyxl
import pytest
from conftest import csrf_token
from evaluate_helpers import Maker, elder

from survey.web import evaluate

Q = "/e/default/evaluate/elder-satisfaction"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def answered(db):
    """Ten responses over two sites and two channels; four say 希望送餐能准时一点 in four ways."""
    make = Maker(db)
    east = make.site("east", "东湖社区")
    west = make.site("west", "西山社区")
    texts = ["希望送餐能准时一点", "希望送餐能准时一点。", "希望送餐能 准时一点啊", "希望送餐能准时点",
             "热线经常打不通", "无", None, None, None, None]
    for number, text in enumerate(texts):
        extra = {"suggestion": text} if text else {}
        make.add(elder(overall="5" if number < 8 else "3", age_band="80-89" if number % 2 else "70-79", **extra),
                 site_id=east if number < 3 or number == 4 else west, channel="qr" if number < 5 else "door")
    return make


def _sheet_rows(sheet):
    """Cell values of a worksheet, row by row."""
    return [[c.value for c in row] for row in sheet.iter_rows()]


def test_measures_workbook_is_chinese_with_percentages_breakdowns_widths_and_frozen_headers(answered, login):
    """Sheet 指标 in Chinese with 0.0% rates, then 站点/渠道/受访者类型/年龄段, widths set, header rows frozen."""
    response = login("evaluator").get(f"{Q}/export/measures.xlsx")
    assert response.status_code == 200
    workbook = openpyxl.load_workbook(io.BytesIO(response.data))
    assert workbook.sheetnames == ["指标", "站点", "渠道", "受访者类型", "年龄段"]
    main = workbook["指标"]
    header = [c.value for c in main[1]]
    assert header[:8] == ["指标代码", "指标", "比率", "样本量 n", "符合人数", "95%置信区间下限", "95%置信区间上限",
                          "误差范围（±）"]
    assert main.freeze_panes == "A2"
    rows = {row[0].value: row for row in main.iter_rows(min_row=2)}
    satisfaction = rows["satisfaction_rate"]
    assert satisfaction[2].value == pytest.approx(0.8) and satisfaction[2].number_format == "0.0%"
    assert satisfaction[3].value == 10 and satisfaction[5].number_format == "0.0%"
    assert satisfaction[1].value.startswith("满意度")
    assert main.column_dimensions["B"].width >= 30  # the label column is not Excel's default 8.43
    sites = workbook["站点"]
    assert sites.freeze_panes == "A2" and [c.value for c in sites[1]][:3] == ["站点", "有效样本数", "指标"]
    by_site = {(r[0], r[2]): r for r in _sheet_rows(sites)[1:]}
    east = by_site[("东湖社区", "满意度（非常满意＋满意）")]
    assert east[1] == 4 and east[3] == pytest.approx(1.0) and east[4] == 4
    assert sites.cell(row=2, column=4).number_format == "0.0%"
    channels = {r[0] for r in _sheet_rows(workbook["渠道"])[1:]}
    assert len(channels) == 2 and all(channels)
    ages = {r[0] for r in _sheet_rows(workbook["年龄段"])[1:]}
    assert {"70-79", "80-89"} <= ages


def test_responses_export_with_chinese_question_titles(answered, login):
    """?titles=zh heads each column with the question's title; ids remain the default."""
    client = login("evaluator")
    body = client.get(f"{Q}/export/responses.csv?titles=zh").data.decode("utf-8-sig")
    header = next(csv.reader(io.StringIO(body)))
    assert header[:3] == ["答卷编号", "提交时间（UTC）", "提交时间（北京时间）"]
    assert "overall" not in header and any("满意" in h for h in header)
    assert any(h.endswith("（文字）") for h in header)
    workbook = openpyxl.load_workbook(io.BytesIO(client.get(f"{Q}/export/responses.xlsx?titles=zh").data))
    assert [c.value for c in workbook.active[1]] == header
    plain = client.get(f"{Q}/export/responses.csv").data.decode("utf-8-sig")
    assert "overall" in next(csv.reader(io.StringIO(plain)))


def test_unknown_titles_value_is_refused_by_name(answered, login):
    """?titles=fr is a 400 naming the parameter and the value."""
    response = login("evaluator").get(f"{Q}/export/responses.csv?titles=fr")
    assert response.status_code == 400 and "titles" in response.text and "fr" in response.text


def test_cli_export_with_titles(answered, runner, tmp_path):
    """`responses export --titles zh` heads the file in Chinese; another value is refused."""
    out = tmp_path / "t.csv"
    result = runner.invoke(args=["responses", "export", "elder-satisfaction", "-o", str(out), "--titles", "zh"])
    assert result.exit_code == 0, result.output
    assert next(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))[0] == "答卷编号"
    refused = runner.invoke(args=["responses", "export", "elder-satisfaction", "-o", str(out), "--titles", "xx"])
    assert refused.exit_code != 0 and "xx" in refused.output


def test_problem_page_counts_the_four_ways_of_one_complaint(answered, login):
    """希望送餐能准时一点 ×4 with its sites, once; 热线经常打不通 ×1; 无 left out."""
    page = login("evaluator").get(f"{Q}/problems").text
    assert page.count("希望送餐能准时一点") == 2  # the group's text, and once among 其他说法 (with 。)
    assert "×4" in page and "东湖社区 ×3" in page and "西山社区 ×1" in page
    assert "热线经常打不通" in page and "归并为 2 类" in page
    assert "<td class=\"col-text\">无" not in page


def test_problem_page_filters_by_site(answered, login):
    """?site=west counts the comments of 西山社区 only."""
    page = login("evaluator").get(f"{Q}/problems?site=west").text
    assert "×1" in page and "西山社区 ×1" in page and "东湖社区" not in page.split("problem-groups")[1]
    assert "热线经常打不通" not in page


def test_problem_page_is_paged(answered, login, monkeypatch):
    """Groups are paged PAGE_SIZE at a time, the biggest first."""
    monkeypatch.setattr(evaluate, "PAGE_SIZE", 1)
    client = login("evaluator")
    first = client.get(f"{Q}/problems").text
    second = client.get(f"{Q}/problems?page=2").text
    assert "×4" in first and "热线经常打不通" not in first.split("problem-groups")[1]
    assert "热线经常打不通" in second


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_problem_list_export(answered, login, fmt):
    """The whole merged list as CSV and XLSX: wording, count, sites, other wordings."""
    response = login("evaluator").get(f"{Q}/problems/export.{fmt}")
    assert response.status_code == 200
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
        rows = [[int(c) if c.isdigit() else c for c in row] for row in rows]
    else:
        rows = _sheet_rows(openpyxl.load_workbook(io.BytesIO(response.data)).active)
    assert rows[0] == ["意见", "次数", "社区（次数）", "其他说法（次数）"]
    assert rows[1][:3] == ["希望送餐能准时一点", 4, "东湖社区 ×3、西山社区 ×1"]
    assert "希望送餐能准时点" in rows[1][3]
    assert rows[2][:3] == ["热线经常打不通", 1, "东湖社区 ×1"]


def test_problem_export_is_for_evaluators_only(answered, client, users):
    """Open text: an anonymous visitor gets no export."""
    assert client.get(f"{Q}/problems/export.csv").status_code in (302, 401, 403)


def test_problem_groups_are_cached_until_a_response_arrives(answered, login, monkeypatch):
    """The second page view does not group again; a new response does."""
    calls = []
    real = evaluate.group_comments

    def counting(rows):
        """Count the full groupings (the yes-count texts are grouped too: those pass few rows)."""
        rows = list(rows)
        calls.append(len(rows))
        return real(rows)

    monkeypatch.setattr(evaluate, "group_comments", counting)
    evaluate._GROUP_CACHE.clear()
    client = login("evaluator")
    client.get(f"{Q}/problems")
    groupings = calls.count(6)
    client.get(f"{Q}/problems?page=1")
    assert calls.count(6) == groupings == 1
    answered.add(elder(suggestion="设备坏了没人修"))
    client.get(f"{Q}/problems")
    assert calls.count(7) == 1


def test_report_period_is_the_evaluations_when_set(answered, login, db):
    """An evaluation with a period prints that period."""
    db.execute("update evaluations set period_from = '2024-01-01', period_to = '2024-12-31' where id = 1")
    db.conn.commit()
    page = login("evaluator").get(f"{Q}/report").text
    assert "统计期间：2024-01-01 至 2024-12-31" in page


def test_report_shows_the_score_table_itself(answered, login):
    """The stored indicator system scored in the report: total, grade and the appendix rows,
    not a link to the local server."""
    client = login("evaluator")
    page = client.get("/e/default/scores/")
    client.post("/e/default/scores/examples/seed-000-hotline-12349.yaml", data={"csrf_token": csrf_token(page.text)})
    report = client.get(f"{Q}/report").text
    assert 'class="score-table"' in report and "总分 91.99" in report
    assert "一级指标" in report and "评分依据" in report
    assert "https://survey.example.cn/e/default/scores/" not in report


def test_report_without_a_system_says_so(answered, login):
    """No stored indicator system: the section says so, no empty table."""
    report = login("evaluator").get(f"{Q}/report").text
    assert "尚未上传指标体系" in report and 'class="score-table"' not in report


def test_report_groups_the_problems(answered, login):
    """The printable report lists the problems merged and counted too."""
    report = login("evaluator").get(f"{Q}/report").text
    assert "×4" in report and "归并为 2 类" in report


def test_an_excluded_response_leaves_the_cached_problem_list(answered, login, db):
    """Excluding a response (by review, or by a direct update that only the tallies see)
    gives a new grouping: the excluded comment is no longer counted."""
    from survey import quality

    client = login("evaluator")
    assert "热线经常打不通" in client.get(f"{Q}/problems").text
    target = db.execute("select response_id from answers where value = '热线经常打不通'").fetchone()[0]
    quality.review(db, 1, target, "exclude", "重复答卷")
    assert "热线经常打不通" not in client.get(f"{Q}/problems").text
    first = db.execute("select response_id from answers where value = '希望送餐能准时一点'").fetchone()[0]
    db.execute("update responses set excluded = 1 where id = ?", [first])
    db.conn.commit()
    assert "×3" in client.get(f"{Q}/problems").text
