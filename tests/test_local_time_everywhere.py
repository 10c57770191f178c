"""Issue 13: a time stored at 10:10 UTC reads 18:10 (Beijing time, the default) on every page
and export that shows it, and 10:10 with FLASK_TIMEZONE=UTC; an unknown zone stops the start."""

import csv
import io
import json
from datetime import datetime

import openpyxl
import pytest
from conftest import csrf_token
from evaluate_helpers import Maker, elder
from field_helpers import elder_payload, make_roster

from app import create_app
from survey.localtime import UnknownTimeZone
from survey.web import api_submissions

STORED = "2024-09-02T10:10:00+00:00"
ZONES = {"Asia/Shanghai": ("18:10", "北京时间"), "UTC": ("10:10", "UTC")}
Q = "/e/default/evaluate/elder-satisfaction"


@pytest.fixture(params=list(ZONES))
def app(request, tmp_path):
    """The app with TIMEZONE set to each zone in turn (what FLASK_TIMEZONE gives)."""
    yield create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE": str(tmp_path / "test.sqlite"),
                      "BASE_URL": "https://survey.example.cn", "TIMEZONE": request.param})


@pytest.fixture
def shown(app):
    """('2024-09-02 18:10' or '2024-09-02 10:10', the zone's header word) for the app's zone."""
    clock, label = ZONES[app.config["TIMEZONE"]]
    return f"2024-09-02 {clock}", label


def _user(db, username):
    """A stand-in for the authenticated user the API passes to `store` (its id and global role)."""
    user_id = db.execute("select id from users where username = ?", [username]).fetchone()[0]
    return type("U", (), {"id": user_id, "role": "staff"})()


@pytest.fixture
def stored(db, users):
    """At 10:10Z: one response (flagged, then reviewed), an audit entry and a kept conflict."""
    make = Maker(db)
    site = make.site("xh", "新华社区")
    response_id = make.add(elder(suggestion="希望送餐能准时一点"), at=datetime.fromisoformat(STORED), site_id=site)
    db.execute("update responses set flags = ? where id = ?", [json.dumps(["speeder"]), response_id])
    db.execute("insert into quality_reviews (response_id, action, reason, user, at) values (?, ?, ?, ?, ?)",
               [response_id, "reinstate", "核实无误", "evaluator", STORED])
    db.execute("insert into audit_log (at, user, action, detail, evaluation_id) values (?, ?, ?, ?, 1)",
               [STORED, "admin", "test_entry", "at 10:10Z"])
    db.conn.commit()
    conflict = api_submissions.keep_conflict(db, {"id": "conflict-1", "questionnaire": "elder-satisfaction"},
                                             _user(db, "staff"), "response", 1)
    db.execute("update submission_conflicts set received_at = ? where id = ?", [STORED, conflict])
    db.conn.commit()
    return response_id


def _not_utc_unless_utc(page, shown):
    """The page shows the local time, and the UTC clock only when the zone is UTC."""
    assert shown[0] in page
    if shown[1] != "UTC":
        assert "2024-09-02 10:10" not in page and "10:10:00+00:00" not in page


def test_quality_page_shows_submission_and_review_in_local_time(stored, login, shown):
    """质量审核: the submission time and the reviewer's time."""
    page = login("evaluator").get(f"{Q}/quality").text
    assert page.count(shown[0]) == 2
    _not_utc_unless_utc(page, shown)


def test_audit_page_in_local_time(stored, login, shown):
    """操作记录 (templates/admin/audit.html)."""
    page = login("admin").get("/e/default/manage/audit").text
    assert "test_entry" in page
    _not_utc_unless_utc(page, shown)


def test_conflicts_page_in_local_time(stored, login, shown):
    """重复提交待核: when the second copy arrived."""
    page = login("admin").get("/e/default/conflicts/").text
    assert "conflict-1" in page
    _not_utc_unless_utc(page, shown)


def test_field_mine_in_local_time(app, db, users, login, shown):
    """我的走访记录: the visit a staff member recorded at 10:10Z."""
    households = make_roster(db)
    api_submissions.store(db, elder_payload(households["A001"], submitted_at=STORED), _user(db, "staff"))
    page = login("staff").get("/e/default/field/mine").text
    _not_utc_unless_utc(page, shown)


def test_field_pages_carry_the_zone_for_the_offline_queue(app, users, login):
    """The staff app's pages tell field.js which zone to show saved times in (data-tz)."""
    page = login("staff").get("/e/default/field/").text
    assert f'data-tz="{app.config["TIMEZONE"]}"' in page


def test_score_system_list_in_local_time(stored, login, shown, db):
    """指标体系: when each file was uploaded."""
    client = login("evaluator")
    page = client.get("/e/default/scores/")
    client.post("/e/default/scores/examples/seed-000-hotline-12349.yaml", data={"csrf_token": csrf_token(page.text)})
    db.execute("update indicator_systems set uploaded_at = ?", [STORED])
    db.conn.commit()
    _not_utc_unless_utc(client.get("/e/default/scores/").text, shown)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_responses_export_adds_the_local_time_column(stored, login, shown, fmt):
    """The responses export keeps submitted_at in UTC (re-importable) and adds
    提交时间（北京时间） beside it (提交时间（UTC） under FLASK_TIMEZONE=UTC)."""
    body = login("evaluator").get(f"{Q}/export/responses.{fmt}").data
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    else:
        rows = [[c.value for c in r] for r in openpyxl.load_workbook(io.BytesIO(body)).active.iter_rows()]
    header, first = rows[0], rows[1]
    column = header.index(f"提交时间（{shown[1]}）")
    assert column == header.index("submitted_at") + 1
    assert first[column] == shown[0] + ":00"
    assert first[header.index("submitted_at")] == STORED


def test_cli_export_adds_the_local_time_column(stored, runner, shown, tmp_path):
    """`flask responses export` writes the same local column."""
    out = tmp_path / "out.csv"
    result = runner.invoke(args=["responses", "export", "elder-satisfaction", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert rows[1][rows[0].index(f"提交时间（{shown[1]}）")] == shown[0] + ":00"


def test_report_period_uses_local_dates(app, db, users, login):
    """No period set: the report's period runs from the first to the last local submission
    date; 20:30Z on 2 September is already 3 September in Beijing."""
    make = Maker(db)
    make.add(elder(), at=datetime.fromisoformat("2024-09-01T02:00:00+00:00"))
    make.add(elder(), at=datetime.fromisoformat("2024-09-02T20:30:00+00:00"))
    page = login("evaluator").get(f"{Q}/report").text
    end = "2024-09-03" if app.config["TIMEZONE"] == "Asia/Shanghai" else "2024-09-02"
    assert f"统计期间：2024-09-01 至 {end}" in page
    assert "最早" not in page and "最近" not in page


def test_export_reimports_with_the_local_column(stored, login, db):
    """The added column does not stop the export from going back in: the importer reads the
    time from submitted_at (UTC) and passes over 提交时间（…）."""
    from survey import importer, questionnaires

    body = login("evaluator").get(f"{Q}/export/responses.csv").data.decode("utf-8-sig")
    items = importer.parse_rows(db, questionnaires.get(db, "elder-satisfaction"), body, "back.csv", evaluation_id=1)
    assert items[0][1]["submitted_at"] == STORED


@pytest.mark.parametrize("name", ["Mars/Olympus", "Beijing"])
def test_an_unknown_zone_stops_the_start_naming_it(tmp_path, name):
    """FLASK_TIMEZONE=Beijing is refused at startup, with the value and the setting named."""
    with pytest.raises(UnknownTimeZone, match=f"'{name}'.*FLASK_TIMEZONE"):
        create_app({"TESTING": True, "DATABASE": str(tmp_path / "x.sqlite"), "TIMEZONE": name})


def test_flask_timezone_from_the_environment(tmp_path, monkeypatch):
    """FLASK_TIMEZONE reaches the config as TIMEZONE (Flask's prefixed environment); default Shanghai."""
    monkeypatch.setenv("FLASK_DATABASE", str(tmp_path / "env.sqlite"))
    monkeypatch.setenv("FLASK_TIMEZONE", "UTC")
    assert create_app().config["TIMEZONE"] == "UTC"
    monkeypatch.setenv("FLASK_TIMEZONE", "Nowhere/Land")
    with pytest.raises(UnknownTimeZone, match="Nowhere/Land"):
        create_app()
    monkeypatch.delenv("FLASK_TIMEZONE")
    assert create_app().config["TIMEZONE"] == "Asia/Shanghai"
