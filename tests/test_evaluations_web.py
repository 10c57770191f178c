"""Evaluations in the browser: the list on /admin/, creating one in two steps, the overview's
checklist with counts, status changes, the evaluation shown on every scoped page, and the
menu from the role in the current evaluation."""

import pytest
from conftest import PASSWORD, csrf_token
from evaluation_builders import build

from survey.storage import evaluations
from survey.storage.db import get_db
from survey.web.auth import create_user


@pytest.fixture
def two(app):
    """Evaluations 'alpha' (a manager, an evaluator, a viewer) and 'beta' (the same manager as staff)."""
    with app.app_context():
        db = get_db()
        alpha = build(db, "alpha", "甲评价项目", base=100000, marker="ALFA1111", satisfied=3, unsatisfied=1)
        beta = build(db, "beta", "乙评价项目", base=200000, marker="BETA2222", satisfied=2, unsatisfied=0)
        create_user(db, "admin", PASSWORD, "admin")
        manager = create_user(db, "mgr", PASSWORD, "manager", evaluation_id=alpha.evaluation.id)
        evaluations.grant(db, manager, beta.evaluation.id, "staff")
        create_user(db, "eva", PASSWORD, "evaluator", evaluation_id=alpha.evaluation.id)
        create_user(db, "view", PASSWORD, "viewer", evaluation_id=alpha.evaluation.id)
    return alpha, beta


def log_in(client, username):
    """Log the client in as `username`."""
    page = client.get("/login")
    response = client.post("/login", data={"csrf_token": csrf_token(page.text), "username": username,
                                           "password": PASSWORD})
    assert response.status_code == 302
    return client


def test_home_lists_only_the_users_evaluations_with_role_and_status(client, two):
    """/admin/ lists each evaluation of the user with their role there and its status; no other."""
    page = log_in(client, "mgr").get("/admin/").text
    assert "甲评价项目" in page and "乙评价项目" in page
    assert "项目管理员" in page and "调查员" in page and "采集中" in page
    assert 'href="/e/alpha/"' in page and 'href="/e/beta/"' in page
    assert "默认评价项目" not in page  # the fresh database's default: no role there
    assert "新建评价项目" not in page

    page = log_in(client, "view").get("/admin/").text
    assert "甲评价项目" in page and "乙评价项目" not in page and "查看人员" in page


def test_admin_sees_every_evaluation_and_the_new_button(client, two):
    """An admin sees all evaluations (default included) and may create one."""
    page = log_in(client, "admin").get("/admin/").text
    for name in ("甲评价项目", "乙评价项目", "默认评价项目"):
        assert name in page
    assert 'href="/admin/evaluations/new"' in page and "新建评价项目" in page


def test_creating_an_evaluation_in_two_steps(client, two, db):
    """Step 1 refuses a bad field by name (nothing stored), then creates it as 准备中; step 2 picks
    the questionnaires; the overview shows the checklist with counts from the database."""
    log_in(client, "admin")
    page = client.get("/admin/evaluations/new")
    token = csrf_token(page.text)
    form = {"csrf_token": token, "name": "2025年热线项目", "slug": "Hotline 2025", "year": "2025",
            "period_from": "2025-01-01", "period_to": "2025-12-31", "population": "3000"}
    refused = client.post("/admin/evaluations/new", data=form)
    assert refused.status_code == 400
    assert 'href="#slug"' in refused.text and "简称（网址用）" in refused.text and 'aria-invalid="true"' in refused.text
    assert evaluations.get(db, "hotline-2025") is None and len(evaluations.every(db)) == 3

    late = client.post("/admin/evaluations/new", data={**form, "slug": "hotline-2025", "period_to": "2024-12-31"})
    assert late.status_code == 400 and 'href="#period_to"' in late.text
    taken = client.post("/admin/evaluations/new", data={**form, "slug": "alpha"})
    assert taken.status_code == 400 and "已经被另一个评价项目使用" in taken.text

    created = client.post("/admin/evaluations/new", data={**form, "slug": "hotline-2025"})
    assert created.status_code == 302 and created.location == "/e/hotline-2025/questionnaires?new=1"
    evaluation = evaluations.get(db, "hotline-2025")
    assert (evaluation.status, evaluation.year, evaluation.population) == ("preparing", 2025, 3000)
    assert evaluations.questionnaire_ids(db, evaluation.id) == []

    step2 = client.get(created.location)
    assert "第 2 步" in step2.text
    empty = client.post("/e/hotline-2025/questionnaires", data={"csrf_token": token})
    assert empty.status_code == 400 and 'href="#questionnaires"' in empty.text
    chosen = client.post("/e/hotline-2025/questionnaires",
                         data={"csrf_token": token, "questionnaire": ["elder-satisfaction", "public-awareness"]})
    assert chosen.status_code == 302 and chosen.location == "/e/hotline-2025/"
    assert evaluations.questionnaire_ids(db, evaluation.id) == ["elder-satisfaction", "public-awareness"]

    overview = client.get("/e/hotline-2025/").text
    assert 'id="check-questionnaires" class="done"' in overview and "2 份" in overview
    assert 'id="check-sites" class="todo"' in overview
    for path in ("/e/hotline-2025/manage/sites", "/e/hotline-2025/scores/", "/e/hotline-2025/manage/links",
                 "/e/hotline-2025/manage/members"):
        assert f'href="{path}"' in overview
    db.execute("insert into sites (code, name, evaluation_id) values ('HX01', '和平社区', ?)", [evaluation.id])
    db.conn.commit()
    assert 'id="check-sites" class="done"' in client.get("/e/hotline-2025/").text


def test_a_questionnaire_with_data_cannot_be_dropped(client, two, db):
    """Step 2 refuses to drop a questionnaire the evaluation has responses for, naming it."""
    log_in(client, "mgr")
    page = client.get("/e/alpha/questionnaires")
    refused = client.post("/e/alpha/questionnaires", data={"csrf_token": csrf_token(page.text),
                                                          "questionnaire": ["public-awareness"]})
    assert refused.status_code == 400 and "elder-satisfaction" in refused.text
    assert evaluations.questionnaire_ids(db, two[0].evaluation.id) == ["elder-satisfaction"]


def test_only_admins_create_evaluations(client, two):
    """The creation form is for admins: a manager gets 403."""
    assert log_in(client, "mgr").get("/admin/evaluations/new").status_code == 403


def test_status_changes_by_admin_or_manager_only(client, two, db):
    """A manager moves their evaluation to 已结束; an evaluator gets 403; a staff member of beta too."""
    log_in(client, "mgr")
    page = client.get("/e/alpha/")
    assert "更改状态" in page.text
    moved = client.post("/e/alpha/status", data={"csrf_token": csrf_token(page.text), "status": "closed"})
    assert moved.status_code == 302
    assert evaluations.get(db, "alpha").status == "closed"
    assert "已结束" in client.get("/e/alpha/").text
    assert client.post("/e/beta/status", data={"csrf_token": csrf_token(page.text),
                                               "status": "archived"}).status_code == 403
    assert evaluations.get(db, "beta").status == "collecting"

    log_in(client, "eva")
    page = client.get("/e/alpha/")
    assert "更改状态" not in page.text
    assert client.post("/e/alpha/status", data={"csrf_token": csrf_token(page.text),
                                                "status": "archived"}).status_code == 403
    assert evaluations.get(db, "alpha").status == "closed"


def test_scoped_pages_show_their_evaluation_and_hide_others(client, two):
    """Every scoped page names its evaluation and status and links back to the list;
    an evaluation where the user holds no role answers 404 (the same as an unknown slug)."""
    log_in(client, "eva")
    page = client.get("/e/alpha/").text
    assert 'id="evaluation-bar"' in page and "甲评价项目" in page and 'href="/admin/"' in page
    assert client.get("/e/beta/").status_code == 404
    assert client.get("/e/nothing/").status_code == 404


def test_menu_follows_the_role_in_the_current_evaluation(app, client, two):
    """The manager is manager in alpha and staff in beta: the menu of each follows that role."""
    from survey.web import auth

    probe = ("evaluations.choose_questionnaires", "问卷设置（测试）", ("manage",))
    auth.add_nav(*probe)
    try:
        log_in(client, "mgr")
        assert "问卷设置（测试）" in client.get("/e/alpha/").text
        assert "问卷设置（测试）" not in client.get("/e/beta/").text
        home = client.get("/admin/").text
        assert home.count("问卷设置（测试）") == 1  # alpha's card only
    finally:
        auth.NAV.remove(probe)
