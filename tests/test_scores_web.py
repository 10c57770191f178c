"""The evaluators' indicator-system pages: upload, examples, table, chart, XLSX, access."""

import io
import re
from pathlib import Path

import openpyxl
import pytest
from conftest import csrf_token

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SEED_001 = EXAMPLES / "seed-001-community-care.yaml"
AS_PRINTED = EXAMPLES / "seed-001-as-printed.yaml"


def upload(client, path, name=""):
    """Upload a file through the form; return the response."""
    page = client.get("/e/default/scores/")
    data = {"csrf_token": csrf_token(page.text), "name": name,
            "file": (io.BytesIO(Path(path).read_bytes()), Path(path).name)}
    return client.post("/e/default/scores/upload", data=data, content_type="multipart/form-data")


def stored_count(app):
    """How many indicator systems are stored."""
    from survey.storage.db import get_db

    with app.app_context():
        return get_db().execute("select count(*) from indicator_systems").fetchone()[0]


@pytest.fixture
def evaluator(login):
    """A client logged in as an evaluator."""
    return login("evaluator")


@pytest.fixture
def seed_001(evaluator):
    """seed-001 uploaded; returns its table page path."""
    response = upload(evaluator, SEED_001)
    assert response.status_code == 302
    return response.location


def test_upload_valid_file_stores_it_and_shows_the_table(app, evaluator):
    response = upload(evaluator, SEED_001, name="武昌区 2019")
    assert response.status_code == 302
    assert re.fullmatch(r"/e/default/scores/\d+", response.location)
    assert stored_count(app) == 1
    listing = evaluator.get("/e/default/scores/")
    assert "武昌区 2019" in listing.text and "seed-001-community-care.yaml" in listing.text
    from survey.storage.db import get_db

    with app.app_context():
        actions = [r[0] for r in get_db().execute("select action from audit_log")]
    assert "indicator_system_uploaded" in actions


def test_invalid_file_is_refused_naming_the_node_and_nothing_is_stored(app, evaluator):
    response = upload(evaluator, AS_PRINTED)
    assert response.status_code == 422
    assert "产出: children weights add up to 41" in response.text
    assert "未保存任何内容" in response.text
    assert stored_count(app) == 0


def test_unknown_survey_measure_is_refused_on_upload(app, evaluator, tmp_path):
    path = tmp_path / "bad-measure.yaml"
    path.write_text(
        "indicators:\n  - name: 满意度\n    weight: 100\n    rule: rate\n"
        "    source: {survey: elder-satisfaction, measure: happiness}\n", encoding="utf-8")
    response = upload(evaluator, path)
    assert response.status_code == 422
    assert "满意度: unknown survey measure elder-satisfaction/happiness" in response.text
    assert stored_count(app) == 0


def test_non_yaml_upload_is_refused(app, evaluator, tmp_path):
    path = tmp_path / "notes.yaml"
    path.write_text("just a line of text", encoding="utf-8")
    response = upload(evaluator, path)
    assert response.status_code == 422
    assert stored_count(app) == 0


def test_table_page_is_laid_out_like_an_appendix_table(evaluator, seed_001):
    page = evaluator.get(seed_001)
    assert page.status_code == 200
    text = page.text
    for header in ("一级指标", "二级指标", "三级指标", "分值", "得分", "评分依据"):
        assert f">{header}</th>" in text
    assert re.search(r'<th scope=row rowspan="\d+" colspan="1">决策', text)
    assert "决策小计" in text and "得分率 58.33%，等级 差" in text
    assert "总分 86.50" in text and "评价等级：良" in text
    assert "立项依据规范性" in text and "逐项扣分：2 项均符合，得满分" in text


def test_mismatch_rows_are_highlighted_in_words_too(evaluator, seed_001):
    text = evaluator.get(seed_001).text
    mismatch_rows = re.findall(r'<tr class="(?:subtotal|total|leaf) mismatch">(.*?)</tr>', text, re.S)
    assert len(mismatch_rows) == 2
    assert "效果小计" in mismatch_rows[0] and "报告所列得分 30，复核得分 28.00" in mismatch_rows[0]
    assert "总分" in mismatch_rows[1] and "报告所列得分 88.5，复核得分 86.50" in mismatch_rows[1]


def test_builtin_example_loads_with_one_click(app, evaluator):
    listing = evaluator.get("/e/default/scores/")
    assert "seed-000-hotline-12349.yaml" in listing.text
    response = evaluator.post("/e/default/scores/examples/seed-000-hotline-12349.yaml",
                              data={"csrf_token": csrf_token(listing.text)})
    assert response.status_code == 302
    page = evaluator.get(response.location)
    assert "总分 91.99" in page.text
    assert evaluator.post("/e/default/scores/examples/..%2Fapp.py",
                          data={"csrf_token": csrf_token(listing.text)}).status_code == 404


def test_chart_png_and_svg_are_rendered_and_cached(app, evaluator, seed_001):
    png = evaluator.get(f"{seed_001}/chart.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert png.headers["X-Chart-Cache"] == "miss"
    again = evaluator.get(f"{seed_001}/chart.png")
    assert again.headers["X-Chart-Cache"] == "hit" and again.data == png.data
    svg = evaluator.get(f"{seed_001}/chart.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert b"<svg" in svg.data


def test_xlsx_is_an_appendix_table(evaluator, seed_001):
    response = evaluator.get(f"{seed_001}/table.xlsx")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    assert sheet["A1"].value == "社区养老服务经费（2019） 绩效评价指标评分表"
    assert [c.value for c in sheet[2]] == ["一级指标", "二级指标", "三级指标", "分值", "得分", "评分依据", "复核"]
    assert all(c.font.bold for c in sheet[2])
    merged = {str(r) for r in sheet.merged_cells.ranges}
    assert "A1:G1" in merged
    assert any(r.startswith("A3:A") for r in merged)  # 决策 spans its leaves
    total_row = [row for row in sheet.iter_rows(values_only=True) if row[0] == "总分"][0]
    assert total_row[4] == 86.5 and total_row[5] == "评价等级：良"
    assert total_row[6] == "报告所列得分 88.5，复核得分 86.50"
    assert sheet.cell(row=3, column=5).number_format == "0.00"
    assert sheet.cell(row=3, column=1).border.left.style == "thin"


def test_xlsx_neutralises_formula_text(evaluator, tmp_path):
    path = tmp_path / "formula.yaml"
    path.write_text('project: "=HYPERLINK(\\"x\\")"\nindicators:\n  - name: "@决策"\n    weight: 100\n'
                    "    rule: judged\n    score: 100\n    reason: '-1+1'\n", encoding="utf-8")
    location = upload(evaluator, path).location
    sheet = openpyxl.load_workbook(io.BytesIO(evaluator.get(f"{location}/table.xlsx").data)).active
    values = [c.value for row in sheet.iter_rows() for c in row if isinstance(c.value, str)]
    assert not any(v.startswith(("=", "+", "-", "@")) for v in values)
    assert "'@决策" in values


def test_evaluator_and_admin_may_open_staff_may_not(client, login, seed_001):
    assert client.get("/e/default/scores/").status_code == 200  # the evaluator of the fixture
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/e/default/scores/").text)})
    login("admin")
    assert client.get("/e/default/scores/").status_code == 200
    assert client.get(f"{seed_001}/table.xlsx").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/e/default/scores/").text)})
    login("staff")
    for path in ("/e/default/scores/", seed_001, f"{seed_001}/chart.png", f"{seed_001}/table.xlsx"):
        assert client.get(path).status_code == 403, path


def test_anonymous_visitors_are_sent_to_login(client, users):
    for path in ("/e/default/scores/", "/e/default/scores/1", "/e/default/scores/1/chart.svg",
                 "/e/default/scores/1/table.xlsx"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.location, path


def test_menu_entry_for_evaluators(evaluator):
    assert "指标体系评分" in evaluator.get("/admin/").text
