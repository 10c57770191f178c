"""The Word report (issue 13): opened with python-docx, its tables, figures, fonts and page
set-up checked; rendered with LibreOffice into test-artifacts/ to be looked at.

Checked from the outside as the issue asks: 27 of 30 satisfied answers imported through the
CLI and seed 003's system with its satisfaction leaf fed by the survey. The issue says the
table shows that leaf at 9; seed 003's rule says otherwise: `full_at: 0.9` (the seed's own
standard, 享受服务的老年人≥90%不扣分) gives the full 10 points at 90%, and the seed's appendix
prints 10. A leaf at 9 would need full_at 1.0 and would make the total 93.80, not 94.80.
So the test asserts what the rules give: the leaf at 10.00 and the total 94.80, 优 (the same
finding as tests/test_evaluations_outside.py).
"""

import io
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from docx import Document
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
from test_evaluations_outside import HOTLINE, cli, seed_003_from_the_survey

from survey import quality
from survey.problems import group_comments
from survey.storage import evaluations
from survey.storage.db import get_db
from survey.web import scores
from survey.word_report_data import gather, report_docx

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
INTERVAL_27_OF_30 = "90.0%（95%置信区间 74.4%–96.5%）"
SATISFACTION_LEAF = "享受服务的老年人满意度"
MEAL_COMPLAINTS = ["希望送餐能准时一点", "希望送餐能准时一点。", " 希望送餐能准时一点！", "希望送餐能准时点啊"]


def paper_with_sites(tmp_path, satisfied=27, unsatisfied=3):
    """27 satisfied and 3 unsatisfied paper answers at two sites, four of them the same complaint."""
    rows = ["respondent,services,overall,site,age_band,suggestion"]
    for index in range(satisfied + unsatisfied):
        overall = "5" if index < satisfied else "2"
        site = "xinhua" if index % 2 else "dongfeng"
        comment = MEAL_COMPLAINTS[index] if index < len(MEAL_COMPLAINTS) else ""
        rows.append(f"self,meals,{overall},{site},{'70-79' if index % 3 else '80-89'},{comment}")
    path = tmp_path / "paper.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def hotline(runner, tmp_path):
    """An evaluation with 27 of 30 satisfied answers at two sites (through the CLI)."""
    cli(runner, "evaluations", "create", "hotline-a", "--name", "甲区应急呼叫服务绩效评价", "--year", "2024",
        "--project", "居家养老应急呼叫服务项目", "--unit", "甲区民政局", "--period-from", "2024-01-01",
        "--period-to", "2024-12-31", "--questionnaire", "elder-satisfaction")
    cli(runner, "sites", "add", "xinhua", "新华社区", "--population", "200", "--evaluation", "hotline-a")
    cli(runner, "sites", "add", "dongfeng", "东风社区", "--population", "250", "--evaluation", "hotline-a")
    cli(runner, "responses", "import", "elder-satisfaction", str(paper_with_sites(tmp_path)),
        "--evaluation", "hotline-a")
    return "hotline-a"


@pytest.fixture
def seed_003_report(runner, hotline, tmp_path):
    """The report of the 27-of-30 evaluation scored with seed 003's system, written by the CLI."""
    out = tmp_path / "report.docx"
    output = cli(runner, "report", "--evaluation", hotline, "--system", str(seed_003_from_the_survey(tmp_path)),
                 "-o", str(out))
    assert "report.docx" in output
    return out


def text_of(document):
    """Every paragraph's text, tables included (in document order is not needed here)."""
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts += [cell.text for cell in row.cells]
    return "\n".join(parts)


def score_table(document):
    """The table whose header starts 一级指标 二级指标 三级指标."""
    for table in document.tables:
        if [c.text for c in table.rows[0].cells[:3]] == ["一级指标", "二级指标", "三级指标"]:
            return table
    raise AssertionError("no score table in the report")


def row_texts(table):
    """Each row's cell texts (a merged cell repeats its text in every grid column it covers)."""
    return [[cell.text for cell in row.cells] for row in table.rows]


# ---------------------------------------------------------------- the outside check


def test_27_of_30_and_seed_003_give_the_leaf_at_10_and_94_80_excellent(seed_003_report):
    """The issue's outside check: 90% with its interval in the text, the table's leaf, total, grade,
    a chart and East Asian fonts (leaf at 10, not 9: see the module docstring)."""
    document = Document(str(seed_003_report))
    text = text_of(document)
    assert INTERVAL_27_OF_30 in text
    rows = row_texts(score_table(document))
    leaf = next(r for r in rows if r[2] == SATISFACTION_LEAF)
    assert leaf[3:5] == ["10", "10.00"]
    assert "90.0%（95%置信区间 74.4%–96.5%），n=30" in leaf[5]
    total = rows[-1]
    assert total[0] == "总分" and total[3:5] == ["100", "94.80"] and "评价等级：优" in total[5]
    subtotals = {r[0]: r[4] for r in rows if r[0].endswith("小计")}
    assert subtotals == {"决策小计": "17.00", "过程小计": "19.00", "产出小计": "36.80", "效益小计": "22.00"}
    assert "总分 94.80 分，评价等级：优" in text
    assert len(document.inline_shapes) >= 1
    assert all_runs_have_east_asian_fonts(document)


def test_the_score_table_is_laid_out_like_the_seed_appendix(seed_003_report):
    """Levels with their weights, one row per leaf, a subtotal per level-1 and the total."""
    table = score_table(Document(str(seed_003_report)))
    rows = row_texts(table)
    assert rows[0] == ["一级指标", "二级指标", "三级指标", "分值", "得分", "评分依据", "复核（报告所列与复核得分）"]
    leaves = [r for r in rows[1:] if not r[0].endswith("小计") and r[0] != "总分"]
    assert len(leaves) == 21  # seed 003: 21 三级指标
    assert len(rows) == 1 + 21 + 4 + 1
    first = leaves[0]
    assert first[:5] == ["决策\n（17分）", "项目立项\n（4分）", "立项依据充分性", "2", "2.00"]
    # 预算执行率 is inline (34.70 of 34.70): its evidence is the rule's words.
    budget = next(r for r in leaves if r[2] == "预算执行率")
    assert budget[3:5] == ["4", "4.00"] and "100.00%" in budget[5]
    weights = sum(float(r[3]) for r in leaves)
    assert weights == 100


def test_printed_scores_that_differ_from_the_recomputed_ones_are_listed(runner, hotline, tmp_path):
    """A `reported:` score that differs shows both numbers in the 复核 column and the text."""
    text = HOTLINE.read_text(encoding="utf-8").replace(
        "          - name: 预算执行率\n            weight: 4\n",
        "          - name: 预算执行率\n            weight: 4\n            reported: 2\n")
    system = tmp_path / "printed.yaml"
    system.write_text(text, encoding="utf-8")
    out = tmp_path / "printed.docx"
    cli(runner, "report", "--evaluation", hotline, "--system", str(system), "-o", str(out))
    document = Document(str(out))
    budget = next(r for r in row_texts(score_table(document)) if r[2] == "预算执行率")
    assert budget[6] == "报告所列得分 2，复核得分 4.00"
    assert "复核：1 处报告所列得分与复核得分不一致" in text_of(document)


# ---------------------------------------------------------------- typesetting


def all_runs_have_east_asian_fonts(document):
    """Whether every w:r of the body, headers and footers names a w:eastAsia font."""
    parts = [document.element.body]
    for section in document.sections:
        parts += [section.footer._element, section.header._element, section.first_page_footer._element]
    missing = []
    for part in parts:
        for run in part.iter(qn("w:r")):
            fonts = run.find(f"{qn('w:rPr')}/{qn('w:rFonts')}")
            if fonts is None or not fonts.get(qn("w:eastAsia")):
                missing.append("".join(t.text or "" for t in run.iter(qn("w:t"))))
    assert not missing, f"runs without an East Asian font: {missing[:5]}"
    return True


def test_fonts_page_size_numbers_header_rows_and_widths(seed_003_report):
    """宋体 body and 黑体 headings on every run, A4, a PAGE field, repeated header rows, fixed widths."""
    document = Document(str(seed_003_report))
    assert all_runs_have_east_asian_fonts(document)
    heading_fonts = {r._element.rPr.rFonts.get(qn("w:eastAsia")) for p in document.paragraphs
                     if p.style.name.startswith("Heading") for r in p.runs}
    assert heading_fonts == {"黑体"}
    paragraphs = document.paragraphs
    first_heading = next(i for i, p in enumerate(paragraphs) if p.style.name.startswith("Heading"))
    body_fonts = {r._element.rPr.rFonts.get(qn("w:eastAsia")) for p in paragraphs[first_heading:]
                  if p.style.name == "Normal" for r in p.runs if r.text.strip()}  # the cover's labels are 黑体
    assert body_fonts == {"宋体"}
    assert document.styles["Normal"].element.rPr.rFonts.get(qn("w:eastAsia")) == "宋体"
    for section in document.sections:
        size = sorted([section.page_width, section.page_height])
        assert [round(s.cm, 1) for s in size] == [21.0, 29.7]
        assert round(section.left_margin.cm, 1) == 2.8 and round(section.top_margin.cm, 2) == 2.54
    assert document.sections[-1].page_width > document.sections[-1].page_height  # the score table: landscape
    footer = document.sections[0].footer._element
    instructions = [t.text.strip() for t in footer.iter(qn("w:instrText"))]
    assert instructions == ["PAGE", "NUMPAGES"]
    assert "第" in "".join(t.text or "" for t in footer.iter(qn("w:t")))
    assert len(document.tables) >= 4
    for table in document.tables:
        header = table.rows[0]._tr.trPr
        assert header is not None and header.find(qn("w:tblHeader")) is not None
        layout = table._tbl.tblPr.find(qn("w:tblLayout"))
        assert layout is not None and layout.get(qn("w:type")) == "fixed"
        for tc in table._tbl.iter(qn("w:tc")):
            assert tc.tcPr.tcW is not None and tc.tcPr.tcW.width > 0


def test_no_name_column_is_narrow_enough_to_wrap_one_character_a_line(seed_003_report):
    """Every cell of every table is at least three 五号 characters wide, and the score table's
    level columns at least five, so 立项依据充分性 takes two lines, not seven."""
    document = Document(str(seed_003_report))
    character = Pt(10.5)
    for table in document.tables:
        for tc in table._tbl.iter(qn("w:tc")):
            assert tc.tcPr.tcW.width >= 3 * character, "a cell narrower than three characters"
    table = score_table(document)
    grid = [col.w for col in table._tbl.tblGrid.gridCol_lst]
    assert all(width >= 5 * character for width in grid[:3])
    assert sum(grid) <= Cm(29.7 - 2.8 - 2.6) + Cm(0.01)  # fits the landscape page's text width


# ---------------------------------------------------------------- the survey section


def test_survey_section_sample_exclusions_breakdowns_and_problems(app, runner, hotline, tmp_path):
    """Received, excluded and why, the Cochran need, breakdown tables, charts, problems counted."""
    with app.app_context():
        db = get_db()
        evaluation = evaluations.get(db, hotline)
        first = db.execute("select min(id) from responses where evaluation_id = ?", [evaluation.id]).fetchone()[0]
        quality.review(db, evaluation.id, first, "exclude", "答卷字迹无法辨认", user="test")
        document = Document(io.BytesIO(report_docx(db, evaluation)))
    text = text_of(document)
    assert "共收到答卷 30 份，计入统计的有效答卷 29 份，按质量规则或评价组复核排除 1 份，调查总体 450 人" in text
    assert "要达到±5个百分点需要 208 份，还差 179 份" in text
    exclusions = next(t for t in document.tables if t.rows[0].cells[0].text == "排除原因")
    assert row_texts(exclusions)[1:] == [["评价组复核后排除", "1"]]
    channels = next(t for t in document.tables if t.rows[0].cells[0].text == "渠道" and len(t.columns) == 3)
    assert row_texts(channels)[1:] == [["纸质问卷", "30", "29"]]
    dimensions = {t.rows[0].cells[0].text for t in document.tables}
    assert {"社区", "渠道", "答题人", "年龄段"} <= dimensions
    sites = next(t for t in document.tables if t.rows[0].cells[0].text == "社区")
    assert sorted(r[0] for r in row_texts(sites)[1:]) == ["东风社区", "新华社区"]
    assert len(document.inline_shapes) >= 2  # the answers' distribution and the rates by site
    problems = next(t for t in document.tables if t.rows[0].cells[1].text == "意见")
    # The excluded response (the first imported) said the first complaint: three remain.
    wording, count = row_texts(problems)[1][1:3]
    assert (wording in [c.strip() for c in MEAL_COMPLAINTS[1:]], count) == (True, "3")
    assert len(problems.rows) == 2
    assert "本评价项目尚未上传指标体系，报告不含评分表" in text


def test_near_identical_comments_are_merged_with_their_count_and_sites():
    """The same complaint with other punctuation, spaces or a word less is one problem, counted per site
    (survey.problems does the merging; this checks the report's rows are in the shape it needs)."""
    rows = [(text, "新华社区" if i % 2 else "东风社区") for i, text in enumerate(MEAL_COMPLAINTS)]
    rows.append(("电话没人接", "新华社区"))
    grouped = group_comments(rows)
    assert [(p.count, p.sites) for p in grouped] == [(4, {"东风社区": 2, "新华社区": 2}), (1, {"新华社区": 1})]


def test_cover_has_the_evaluation_project_unit_period_and_local_report_date(app, hotline):
    """17:00 UTC on 31 December is 1 January in Beijing: the report's date is local."""
    with app.app_context():
        db = get_db()
        data = gather(db, evaluations.get(db, hotline), now=datetime(2024, 12, 31, 17, 0, tzinfo=timezone.utc),
                      charts=False)
    cover = data.cover
    assert (cover.evaluation, cover.project, cover.unit) == ("甲区应急呼叫服务绩效评价", "居家养老应急呼叫服务项目",
                                                             "甲区民政局")
    assert cover.period == "2024-01-01 至 2024-12-31"
    assert cover.report_date == "2025年1月1日"


def test_period_without_dates_is_the_first_and_last_answer_in_local_time(app, runner, tmp_path):
    """No period set: the real dates of the first and last answer, in Beijing time (not 最早 至 最近)."""
    cli(runner, "evaluations", "create", "bare", "--name", "无期间评价", "--questionnaire", "elder-satisfaction")
    csv = tmp_path / "timed.csv"
    csv.write_text("respondent,services,overall,submitted_at\nself,meals,5,2024-09-01T16:30:00+00:00\n"
                   "self,meals,4,2024-09-30T02:00:00+00:00\n", encoding="utf-8")
    cli(runner, "responses", "import", "elder-satisfaction", str(csv), "--evaluation", "bare")
    with app.app_context():
        db = get_db()
        data = gather(db, evaluations.get(db, "bare"), charts=False)
    assert data.cover.period == "2024-09-02 至 2024-09-30（按答卷提交时间）"


# ---------------------------------------------------------------- the command and the page


def test_without_system_the_stored_one_is_scored(app, runner, hotline, tmp_path):
    """No --system: the evaluation's newest stored system is the score table."""
    with app.app_context():
        db = get_db()
        evaluation = evaluations.get(db, hotline)
        text = seed_003_from_the_survey(tmp_path).read_text(encoding="utf-8")
        scores.store_system(db, evaluation.id, "种子003体系", "seed-003.yaml", text)
    out = tmp_path / "stored.docx"
    cli(runner, "report", "--evaluation", hotline, "-o", str(out))
    document = Document(str(out))
    assert row_texts(score_table(document))[-1][3:5] == ["100", "94.80"]
    assert "已上传的“种子003体系”（seed-003.yaml" in text_of(document)


def test_a_bad_system_file_is_refused_naming_the_node_and_nothing_is_written(runner, hotline, tmp_path):
    """Weights that do not add up: the error names the node; no file appears."""
    broken = HOTLINE.read_text(encoding="utf-8").replace(
        "      - name: 项目立项\n        weight: 4\n", "      - name: 项目立项\n        weight: 5\n")
    system = tmp_path / "broken.yaml"
    system.write_text(broken, encoding="utf-8")
    out = tmp_path / "never.docx"
    result = runner.invoke(args=["report", "--evaluation", hotline, "--system", str(system), "-o", str(out)])
    assert result.exit_code != 0
    assert "决策" in result.output and "项目立项" in result.output
    assert not out.exists()
    assert not list(tmp_path.glob(".never.docx*"))


def login_as(client, runner, username, role, slug):
    """Create a user with a role in the evaluation and log in."""
    from conftest import csrf_token

    cli(runner, "users", "create", username, "--role", role, "--evaluation", slug, stdin="correct-horse-battery\n")
    page = client.get("/login")
    response = client.post("/login", data={"username": username, "password": "correct-horse-battery",
                                           "csrf_token": csrf_token(page.text)})
    assert response.status_code in (302, 303)


def test_the_report_page_links_to_the_docx_and_evaluators_download_it(client, runner, hotline):
    """An evaluator gets the .docx from the evaluation's pages; the link is on the results page."""
    login_as(client, runner, "eva", "evaluator", hotline)
    page = client.get(f"/e/{hotline}/evaluate/")
    assert f'href="/e/{hotline}/evaluate/report.docx"' in page.text
    response = client.get(f"/e/{hotline}/evaluate/report.docx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert "attachment" in response.headers["Content-Disposition"]
    assert INTERVAL_27_OF_30 in text_of(Document(io.BytesIO(response.data)))


def test_the_docx_is_for_evaluators_only(client, runner, hotline):
    """A viewer (statistics only) is refused; another evaluation's evaluator does not see it."""
    login_as(client, runner, "look", "viewer", hotline)
    assert client.get(f"/e/{hotline}/evaluate/report.docx").status_code == 403
    assert "report.docx" not in client.get(f"/e/{hotline}/evaluate/").text
    client.get("/logout")
    cli(runner, "evaluations", "create", "other", "--name", "乙区评价", "--questionnaire", "elder-satisfaction")
    other = client.application.test_client()
    login_as(other, runner, "eva-b", "evaluator", "other")
    assert other.get(f"/e/{hotline}/evaluate/report.docx").status_code == 404


# ---------------------------------------------------------------- rendered


def test_libreoffice_renders_the_report_into_pages_with_cjk_fonts(seed_003_report, tmp_path):
    """soffice --headless makes a PDF of several pages with CJK fonts embedded; pdftoppm draws
    its pages into test-artifacts/word-report/ to be looked at."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed: `make system-deps` installs libreoffice-writer-nogui")
    profile = tmp_path / "lo-profile"  # a profile of its own: two test workers never share one
    subprocess.run([soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
                    "--outdir", str(tmp_path), str(seed_003_report)], check=True, timeout=180,
                   capture_output=True)
    pdf = tmp_path / "report.pdf"
    assert pdf.exists()
    if shutil.which("pdfinfo") is None or shutil.which("pdftoppm") is None:
        pytest.skip("poppler-utils (pdfinfo, pdftoppm) is not installed: `make system-deps` installs it")
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert pages > 1
    fonts = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True).stdout
    assert re.search(r"CJK|SimSun|SimHei|Song|Hei|Han", fonts), fonts
    target = ARTIFACTS / "word-report"
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("page-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", "70", "-png", str(pdf), str(target / "page")], check=True, timeout=120)
    assert len(list(target.glob("page-*.png"))) == pages
    shutil.copy(pdf, target / "report.pdf")
