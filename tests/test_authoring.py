"""Questionnaire authoring in the back office: upload a workbook, see its problems per cell,
preview it with the real respondent pages (nothing stored), publish, close, download."""

import csv
import io
import re

import openpyxl
import pytest
from conftest import PASSWORD, csrf_token
from xlsform_helpers import build, with_survey_cell

from survey import xlsform
from survey.storage import evaluations
from survey.storage.db import get_db
from survey.web.auth import create_user

BASE_URL = "/e/default/authoring"


@pytest.fixture
def people(app):
    """A manager, staff member, evaluator and viewer of `default`, and a manager of `other`."""
    with app.app_context():
        db = get_db()
        default = evaluations.get(db, "default")
        other = evaluations.create(db, "other", "另一个评价项目", questionnaires=["elder-satisfaction"])
        for name, role in (("mgr", "manager"), ("staff1", "staff"), ("eva", "evaluator"), ("view", "viewer")):
            create_user(db, name, PASSWORD, role, evaluation_id=default.id)
        create_user(db, "othermgr", PASSWORD, "manager", evaluation_id=other.id)
        create_user(db, "root", PASSWORD, "admin")
    return default, other


def log_in(client, username):
    """Log the test client in as `username`."""
    page = client.get("/login")
    response = client.post("/login", data={"csrf_token": csrf_token(page.text), "username": username,
                                           "password": PASSWORD})
    assert response.status_code == 302, username
    return client


def upload(client, data, name="form.xlsx"):
    """Upload workbook bytes on the authoring page."""
    page = client.get(f"{BASE_URL}/")
    assert page.status_code == 200
    return client.post(f"{BASE_URL}/upload", content_type="multipart/form-data",
                       data={"csrf_token": csrf_token(page.text), "workbook": (io.BytesIO(data), name)})


def count(app, sql, params=()):
    """One number from the database."""
    with app.app_context():
        return get_db().execute(sql, params).fetchone()[0]


def stored_nothing(app):
    """True when no draft, no library row of xl-test and no response exist."""
    return (count(app, "select count(*) from questionnaire_drafts") == 0
            and count(app, "select count(*) from questionnaire_versions where questionnaire_id = 'xl-test'") == 0
            and count(app, "select count(*) from responses") == 0)


def post(client, url, page_url, **data):
    """POST a form of `page_url` with its CSRF token."""
    page = client.get(page_url)
    return client.post(url, data={"csrf_token": csrf_token(page.text), **data})


@pytest.fixture
def manager(client, people):
    """The client logged in as the manager of `default`."""
    return log_in(client, "mgr")


@pytest.fixture
def draft_url(manager):
    """The valid test workbook uploaded: the URL of its draft page."""
    response = upload(manager, build())
    assert response.status_code == 302, response.text
    assert re.fullmatch(rf"{BASE_URL}/drafts/\d+", response.location)
    return response.location


def test_a_broken_workbook_lists_its_problems_per_cell_and_stores_nothing(app, manager):
    book = with_survey_cell(3, "type", "geopoint")
    book = with_survey_cell(4, "relevant", "${nowhere} = '1'", book)
    response = upload(manager, build(book))
    assert response.status_code == 422
    page = response.text
    assert "工作簿未被接受，未保存任何内容" in page
    rows = re.findall(r"<tr><td>(.*?)</td><td class=\"num\">(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", page)
    assert ("survey", "3", "type") in [r[:3] for r in rows]
    assert any(r[:3] == ("survey", "4", "relevant") for r in rows)
    assert any("geopoint" in r[3] for r in rows)
    assert stored_nothing(app)


def test_a_file_that_is_not_a_workbook_is_refused_and_nothing_is_stored(app, manager):
    response = upload(manager, b"name,type\nq1,text\n", "form.csv")
    assert response.status_code == 422
    assert "未保存任何内容" in response.text
    assert stored_nothing(app)


def test_an_upload_without_a_csrf_token_is_refused(app, manager):
    response = manager.post(f"{BASE_URL}/upload", content_type="multipart/form-data",
                            data={"workbook": (io.BytesIO(build()), "form.xlsx")})
    assert response.status_code in (400, 422)
    assert stored_nothing(app)


def test_a_changed_questionnaire_with_an_old_version_number_is_refused(app, manager):
    from survey import questionnaires

    with app.app_context():
        definition = questionnaires.get(get_db(), "elder-satisfaction").definition
    changed = dict(definition, title={"zh": "改过的标题", "en": "Changed"})
    response = upload(manager, xlsform.write_workbook(changed))
    assert response.status_code == 422
    assert "已经发布过，内容不同" in response.text and "settings" in response.text
    assert count(app, "select count(*) from questionnaire_drafts") == 0


def test_preview_shows_the_real_respondent_pages_and_stores_nothing(app, manager, draft_url):
    draft = manager.get(draft_url)
    assert "测试问卷" in draft.text
    start = manager.get(f"{draft_url}/preview")
    assert start.status_code == 200
    assert "预览" in start.text and "不会保存" in start.text
    assert 'href="/static/css/respond.css' in start.text  # the respondent layout, not the back office's
    begin = manager.post(f"{draft_url}/preview/start", data={"csrf_token": csrf_token(start.text)})
    assert begin.status_code == 302
    url = begin.location
    seen = []
    answers = {"respondent": "self", "services": ["meals"], "overall": "5", "knows": "1", "age": "75",
               "spend": "300", "suggestion": "很好"}
    while "/preview/q/" in url:
        page = manager.get(url)
        assert page.status_code == 200
        seen.append(url.rsplit("/", 1)[1])
        assert "不会保存" in page.text
        qid = seen[-1]
        data = {"csrf_token": csrf_token(page.text), "action": "next"}
        if qid in answers:
            data["answer"] = answers[qid]
        else:
            data["action"] = "skip"
        response = manager.post(url, data=data)
        assert response.status_code == 302, (qid, response.text[:300])
        url = response.location
    assert seen[:4] == ["welcome", "respondent", "services", "overall"]
    assert "spend" in seen and "suggestion" in seen
    summary = manager.get(url)
    assert "/preview/submit" in summary.text and "很好" in summary.text
    done = manager.post(f"{draft_url}/preview/submit", data={"csrf_token": csrf_token(summary.text)})
    assert done.status_code == 200
    assert "预览，不会保存" in done.text
    assert count(app, "select count(*) from responses") == 0
    assert count(app, "select count(*) from drafts") == 0
    assert count(app, "select count(*) from questionnaire_versions where questionnaire_id = 'xl-test'") == 0


def test_preview_checks_answers_like_the_real_page(manager, draft_url):
    start = manager.get(f"{draft_url}/preview")
    manager.post(f"{draft_url}/preview/start", data={"csrf_token": csrf_token(start.text)})
    page = manager.get(f"{draft_url}/preview/q/respondent")
    response = manager.post(f"{draft_url}/preview/q/respondent",
                            data={"csrf_token": csrf_token(page.text), "action": "next"})
    assert response.status_code == 400
    assert "请先回答这道题" in response.text


def test_publish_then_the_respondent_link_answers(app, client, manager, draft_url):
    response = post(manager, f"{draft_url}/publish", draft_url)
    assert response.status_code == 302
    assert count(app, "select count(*) from questionnaire_versions where questionnaire_id = 'xl-test'") == 1
    assert count(app, "select count(*) from evaluation_questionnaires where questionnaire_id = 'xl-test'"
                      " and evaluation_id = 1") == 1
    listing = manager.get(f"{BASE_URL}/").text
    assert "xl-test" in listing and "收集中" in listing
    start = client.get("/e/default/q/xl-test")
    assert start.status_code == 200 and "测试问卷" in start.text
    begin = client.post("/e/default/q/xl-test/start", data={"csrf_token": csrf_token(start.text)})
    assert begin.status_code == 302 and "/r/" in begin.location


def test_publishing_the_same_workbook_twice_changes_nothing(app, manager, draft_url):
    post(manager, f"{draft_url}/publish", draft_url)
    again = upload(manager, build())
    assert again.status_code == 302
    page = manager.get(again.location)
    assert "问卷库里已有完全相同的这一版" in page.text
    post(manager, f"{again.location}/publish", again.location)
    assert count(app, "select count(*) from questionnaire_versions where questionnaire_id = 'xl-test'") == 1


def test_close_shows_the_ended_page_and_reopen_collects_again(app, client, manager, draft_url):
    post(manager, f"{draft_url}/publish", draft_url)
    start = client.get("/e/default/q/xl-test")
    begin = client.post("/e/default/q/xl-test/start", data={"csrf_token": csrf_token(start.text)})
    in_progress = begin.location
    closed = post(manager, f"{BASE_URL}/questionnaires/xl-test/close", f"{BASE_URL}/")
    assert closed.status_code == 302
    assert "已停止收集" in manager.get(f"{BASE_URL}/").text
    ended = client.get("/e/default/q/xl-test")
    assert ended.status_code == 200 and "本次调查已结束" in ended.text
    assert "本次调查已结束" in client.get(in_progress).text  # a form begun before closing ends too
    # The evaluation's other questionnaires keep collecting.
    assert "本次调查已结束" not in client.get("/e/default/q/elder-satisfaction").text
    post(manager, f"{BASE_URL}/questionnaires/xl-test/reopen", f"{BASE_URL}/")
    assert "本次调查已结束" not in client.get("/e/default/q/xl-test").text


def test_downloads_workbook_and_paper_templates(manager):
    workbook = manager.get(f"{BASE_URL}/questionnaires/elder-satisfaction.xlsx")
    assert workbook.status_code == 200
    assert xlsform.read_workbook(workbook.data)["id"] == "elder-satisfaction"
    paper_csv = manager.get(f"{BASE_URL}/questionnaires/elder-satisfaction/paper.csv")
    assert paper_csv.status_code == 200
    header = next(csv.reader(io.StringIO(paper_csv.data.decode("utf-8-sig"))))
    assert "overall" in header
    paper_xlsx = manager.get(f"{BASE_URL}/questionnaires/elder-satisfaction/paper.xlsx")
    sheets = openpyxl.load_workbook(io.BytesIO(paper_xlsx.data)).sheetnames
    assert len(sheets) == 2
    assert manager.get(f"{BASE_URL}/questionnaires/nope.xlsx").status_code == 404
    assert manager.get(f"{BASE_URL}/questionnaires/elder-satisfaction/paper.pdf").status_code == 404


@pytest.mark.parametrize("username", ["staff1", "eva", "view", "othermgr"])
def test_others_get_404_everywhere(app, client, people, username):
    with app.app_context():
        db = get_db()
        from survey.storage import drafts

        definition = xlsform.read_workbook(build())
        draft_id = drafts.save(db, people[0].id, "form.xlsx", definition, build(), "mgr")
    log_in(client, username)
    for url in (f"{BASE_URL}/", f"{BASE_URL}/drafts/{draft_id}", f"{BASE_URL}/drafts/{draft_id}/preview",
                f"{BASE_URL}/drafts/{draft_id}/preview/q/respondent",
                f"{BASE_URL}/questionnaires/elder-satisfaction.xlsx",
                f"{BASE_URL}/questionnaires/elder-satisfaction/paper.csv"):
        assert client.get(url).status_code == 404, url
    token = csrf_token(client.get("/admin/").text)
    for url in (f"{BASE_URL}/upload", f"{BASE_URL}/drafts/{draft_id}/publish",
                f"{BASE_URL}/questionnaires/elder-satisfaction/close"):
        assert client.post(url, data={"csrf_token": token}).status_code == 404, url
    assert count(app, "select count(*) from questionnaire_versions where questionnaire_id = 'xl-test'") == 0
    assert count(app, "select count(*) from evaluation_questionnaires where closed_at is not null") == 0


def test_a_manager_of_another_evaluation_cannot_reach_this_ones_draft(app, client, people):
    with app.app_context():
        from survey.storage import drafts

        draft_id = drafts.save(get_db(), people[0].id, "form.xlsx", xlsform.read_workbook(build()), build(), "mgr")
    log_in(client, "othermgr")
    assert client.get(f"/e/other/authoring/drafts/{draft_id}").status_code == 404
    assert client.get("/e/other/authoring/").status_code == 200


def test_an_admin_may_author(client, people):
    log_in(client, "root")
    assert client.get(f"{BASE_URL}/").status_code == 200
    assert upload(client, build()).status_code == 302


def test_the_menu_shows_the_authoring_page_to_managers_only(app, people):
    assert "问卷工作簿" in log_in(app.test_client(), "mgr").get("/e/default/").text
    assert "问卷工作簿" not in log_in(app.test_client(), "eva").get("/e/default/").text


def test_the_evaluations_questionnaires_page_links_the_downloads(manager):
    page = manager.get("/e/default/questionnaires").text
    for url in (f"{BASE_URL}/questionnaires/elder-satisfaction.xlsx",
                f"{BASE_URL}/questionnaires/elder-satisfaction/paper.csv",
                f"{BASE_URL}/questionnaires/elder-satisfaction/paper.xlsx", f"{BASE_URL}/"):
        assert f'href="{url}"' in page, url


def test_an_oversized_or_empty_upload_is_refused_and_nothing_is_stored(app, manager, monkeypatch):
    from survey.web import authoring

    monkeypatch.setattr(authoring, "MAX_BYTES", 2048)
    response = upload(manager, build())
    assert response.status_code == 422
    assert "文件超过 2 KiB" in response.text
    empty = upload(manager, b"")
    assert empty.status_code == 422
    assert "请选择一个 .xlsx 工作簿" in empty.text or "文件是空的" in empty.text
    assert stored_nothing(app)
