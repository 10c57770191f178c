"""Issue 14, the staff and admin side through the test client: assignment of households to
staff and the audited phone reveal with tel:, search and status filter, a completed household
that warns before anything else is recorded, refusals in Chinese, local times, duplicate site
codes, poster contact details and the BASE_URL warning."""

import pytest
from conftest import PASSWORD, csrf_token
from field_helpers import elder_payload, make_roster

from survey import roster
from survey.web import api_submissions, links
from survey.web.auth import create_user
from survey.web.i18n import local_time


@pytest.fixture
def households(db, users):
    """The test roster: {household_no: id} (A001 has phone 13812341234)."""
    return make_roster(db)


def assign(client, **fields):
    """Post the admin's assignment form."""
    page = client.get("/e/default/manage/assignments")
    return client.post("/e/default/manage/assignments", data={"csrf_token": csrf_token(page.text), **fields})


def test_assigned_staff_see_and_call_the_number_others_see_it_masked(app, login, households, db, users):
    """Before assignment staff see 138****1234; after the admin assigns site 新华社区 they see
    the number as a tel: link, the reveal and the call are audited; another staff member
    still sees it masked."""
    with app.app_context():
        create_user(db, "staff2", PASSWORD, "staff", "李调查员")
    client = login("staff")
    before = client.get("/e/default/field/").text
    assert "138****1234" in before and "13812341234" not in before and 'href="tel:' not in before
    assert client.get(f"/e/default/field/call/{households['A001']}").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(before)})

    admin = login("admin")
    xh = db.execute("select id from sites where code = 'xh'").fetchone()[0]
    assert assign(admin, user_id=users["staff"], site_id=xh).status_code == 302
    assert assign(admin, user_id=users["staff"], household_no="B001").status_code == 302
    listing = admin.get("/e/default/manage/assignments").text
    assert "整个站点" in listing and "B001" in listing
    admin.post("/logout", data={"csrf_token": csrf_token(listing)})

    client = login("staff")
    after = client.get("/e/default/field/").text
    assert 'href="tel:13812341234"' in after and "13900001111" in after
    form = client.get(f"/e/default/field/form/elder-satisfaction?household={households['A001']}").text
    assert 'href="tel:13812341234"' in form
    call = client.get(f"/e/default/field/call/{households['A001']}")
    assert call.status_code == 302 and call.location == "tel:13812341234"
    actions = db.execute("select action, detail, user from audit_log where action like 'phone_%'").fetchall()
    assert ("phone_called", "household A001", "staff") in [tuple(a) for a in actions]
    assert any(a[0] == "phone_revealed" and "A001" in a[1] for a in actions)
    client.post("/logout", data={"csrf_token": csrf_token(after)})

    other = login("staff2")
    page = other.get("/e/default/field/").text
    assert "138****1234" in page and "13812341234" not in page
    assert other.get(f"/e/default/field/call/{households['A001']}").status_code == 403


def test_assignment_errors_are_specific(login, households, users):
    """An unknown household number or neither site nor household is refused in words."""
    admin = login("admin")
    response = assign(admin, user_id=users["staff"], household_no="Z999")
    assert "找不到户号“Z999”" in admin.get(response.location).text
    response = assign(admin, user_id=users["staff"])
    assert "请选一个站点" in admin.get(response.location).text
    response = assign(admin, user_id=users["evaluator"], household_no="A001")
    assert "请选择一位在用的调查员" in admin.get(response.location).text


def test_search_and_status_filter(login, households, db):
    """?s= finds a household by number, name or address; ?status= keeps done/visited/new."""
    api_submissions.store(db, elder_payload(households["A001"]), _user(db, "staff"))
    client = login("staff")
    found = client.get("/e/default/field/?s=B001").text
    assert "B001" in found and "A002" not in found and "1 户显示在下面" in found.replace("</span> ", " ")
    done = client.get("/e/default/field/?status=done").text
    assert "A001" in done and "A002" not in done
    new = client.get("/e/default/field/?status=new").text
    assert "A002" in new and 'data-household="%d"' % households["A001"] not in new
    assert "没有符合条件的住户" in client.get("/e/default/field/?s=不存在").text


def _user(db, username):
    """A stand-in for the authenticated user the API passes to `store` (its id and global role)."""
    user_id = db.execute("select id from users where username = ?", [username]).fetchone()[0]
    return type("U", (), {"id": user_id, "role": "staff"})()


def test_completed_household_warns_before_another_record(login, households, db):
    """Reopened from the list, a completed household shows a warning; a 不在家 visit posted
    without ticking 我知道这户已完成 is refused in Chinese and nothing is stored."""
    api_submissions.store(db, elder_payload(households["A001"]), _user(db, "staff"))
    client = login("staff")
    listing = client.get("/e/default/field/").text
    assert f"household={households['A001']}&amp;no=A001&amp;done=1" in listing
    page = client.get(f"/e/default/field/form/elder-satisfaction?household={households['A001']}")
    assert "这户已经完成过这份问卷" in page.text and 'id="done-warning" class="warning-box" role="alert">' in page.text
    submission_id = page.text.split('name="submission_id" value="')[1].split('"')[0]
    data = {"csrf_token": csrf_token(page.text), "submission_id": submission_id,
            "household_id": str(households["A001"]), "mode": "door", "outcome": "not_home"}
    refused = client.post("/e/default/field/form/elder-satisfaction", data=data)
    assert refused.status_code == 409 and "请勾选“我知道这户已完成，仍要记录”" in refused.text
    assert db.execute("select count(*) from visits where outcome = 'not_home'").fetchone()[0] == 0
    accepted = client.post("/e/default/field/form/elder-satisfaction", data=dict(data, confirm_done="1"))
    assert accepted.status_code == 302
    assert db.execute("select count(*) from visits where outcome = 'not_home'").fetchone()[0] == 1


def test_refused_no_js_form_says_why_in_chinese(login, households):
    """Without consent the no-JavaScript form is refused with a Chinese reason."""
    client = login("staff")
    page = client.get(f"/e/default/field/form/elder-satisfaction?household={households['A002']}")
    submission_id = page.text.split('name="submission_id" value="')[1].split('"')[0]
    response = client.post("/e/default/field/form/elder-satisfaction", data={
        "csrf_token": csrf_token(page.text), "submission_id": submission_id,
        "household_id": str(households["A002"]), "mode": "door", "outcome": "completed",
        "respondent_type": "self", "a-services": ["meals"], "a-overall": "4"})
    assert response.status_code == 400 and "没有勾选“知情同意”" in response.text


def test_times_are_shown_in_local_time(app, login, households, db):
    """A visit stored at 02:30 UTC shows as 10:30 in Beijing time on 我的走访记录."""
    with app.app_context():
        assert local_time("2026-03-01T02:30:00+00:00") == "2026-03-01 10:30"
    api_submissions.store(db, elder_payload(households["A001"], submitted_at="2026-03-01T02:30:00+00:00"),
                          _user(db, "staff"))
    page = login("staff").get("/e/default/field/mine").text
    assert "2026-03-01 10:30" in page and "02:30" not in page


def test_form_offers_the_three_respondent_types(login, households):
    """本人 / 代答 / 工作人员协助, as the respondent question codes them."""
    page = login("staff").get(f"/e/default/field/form/elder-satisfaction?household={households['A001']}").text
    for words in ('value="self"', 'value="proxy"', 'value="assisted"', "工作人员协助"):
        assert words in page


def test_adding_an_existing_site_code_is_refused(login, db, users, runner):
    """Re-adding xh says it exists and changes nothing (web and CLI)."""
    links.create_site(db, "xh", "新华社区")
    admin = login("admin")
    page = admin.get("/e/default/manage/sites")
    response = admin.post("/e/default/manage/sites", data={"csrf_token": csrf_token(page.text), "code": "xh",
                                                 "name": "别的社区"})
    text = admin.get(response.location).text
    assert "站点代码“xh”已经存在（新华社区）" in text and "已添加站点" not in text
    assert db.execute("select name from sites where code = 'xh'").fetchone()[0] == "新华社区"
    result = runner.invoke(args=["sites", "add", "xh", "又一个"])
    assert result.exit_code != 0 and "already exists" in result.output


def test_poster_prints_organiser_phone_and_closing_date(login, db, users, client):
    """Set on the link when it is created; the poster prints them; a bad date is refused."""
    site_id = links.create_site(db, "xh", "新华社区")
    admin = login("admin")
    page = admin.get("/e/default/manage/links")
    bad = admin.post("/e/default/manage/links", data={
        "csrf_token": csrf_token(page.text), "questionnaire": "elder-satisfaction",
        "channel": "poster", "site_id": site_id, "closes_on": "下个月"})
    assert "截止日期" in admin.get(bad.location).text
    assert db.execute("select count(*) from links").fetchone()[0] == 0
    admin.post("/e/default/manage/links", data={
        "csrf_token": csrf_token(page.text), "questionnaire": "elder-satisfaction",
        "channel": "poster", "site_id": site_id, "organiser": "某区民政局",
        "contact_phone": "010-12345678", "closes_on": "2026-12-31"})
    code = db.execute("select code from links").fetchone()[0]
    poster = client.get(f"/s/{code}/poster").text
    assert "某区民政局" in poster and "010-12345678" in poster and "2026-12-31" in poster


def test_poster_falls_back_to_app_defaults(app, db, client):
    """Without per-link details the app-wide POSTER_* settings are printed."""
    app.config.update(POSTER_ORGANISER="市民政局", POSTER_CONTACT_PHONE="12349", POSTER_CLOSES_ON="2026-06-30")
    code = links.create_link(db, "elder-satisfaction", "poster", site_id=links.create_site(db, "xh", "新华社区"))
    poster = client.get(f"/s/{code}/poster").text
    assert "市民政局" in poster and "12349" in poster and "2026-06-30" in poster


def test_back_office_warns_while_base_url_is_unset(app, login, users):
    """With BASE_URL unset every back-office page of admins and staff carries the warning."""
    admin = login("admin")
    assert "还没有设置 FLASK_BASE_URL" not in admin.get("/e/default/manage/").text
    app.config["BASE_URL"] = None
    page = admin.get("/e/default/manage/").text
    assert "还没有设置 FLASK_BASE_URL" in page and "http://localhost/" in page


@pytest.mark.parametrize("value, stored", [
    ("13812345678", "13812345678"), ("+86 138 1234 5678", "13812345678"), ("010-12345678", "010-12345678"),
    ("0755 1234567", "0755-1234567"), ("(021)87654321", "021-87654321"),
])
def test_phone_numbers_accepted(value, stored):
    assert roster.check_phone(value) == stored


@pytest.mark.parametrize("value, words", [
    ("1234567", "缺少区号"), ("87654321", "缺少区号"), ("1381234567", "不是11位手机号"),
    ("23812345678", "不是11位手机号"), ("12349", "不是11位手机号"), ("abc", "不是11位手机号"),
])
def test_phone_numbers_refused(value, words):
    with pytest.raises(roster.PhoneError, match=words):
        roster.check_phone(value)


HEADER = "姓名,户号,站点,身份证号,电话\n"
ID = "110101194001011234"


def test_duplicate_id_number_in_the_file_names_both_lines(db, users):
    links.create_site(db, "xh", "新华社区")
    body = f"张三明,A001,新华社区,{ID},\n李四,A002,新华社区,,\n张三明,A003,新华社区,{ID.lower()},\n"
    with pytest.raises(roster.RosterError) as caught:
        roster.import_roster(db, "r.csv", (HEADER + body).encode())
    assert caught.value.line == 4 and caught.value.column == "id_number"
    assert "第4行“身份证号”列" in str(caught.value) and "与第2行重复" in str(caught.value)
    assert ID not in str(caught.value)  # masked in the message
    assert db.execute("select count(*) from households").fetchone()[0] == 0


def test_duplicate_id_number_against_the_roster_names_the_household(db, users):
    links.create_site(db, "xh", "新华社区")
    roster.import_roster(db, "r1.csv", (HEADER + f"张三明,A001,新华社区,{ID},\n").encode())
    # The same household again is an update, not a duplicate.
    assert roster.import_roster(db, "r2.csv", (HEADER + f"张三明,A001,新华社区,{ID},13812345678\n").encode()) == (0, 1)
    with pytest.raises(roster.RosterError) as caught:
        roster.import_roster(db, "r3.csv", (HEADER + f"王五,B001,新华社区,,\n张三明,A009,新华社区,{ID},\n").encode())
    assert caught.value.line == 3
    assert "已在名册中登记为新华社区 户号“A001”" in str(caught.value) and "户号“A009”" in str(caught.value)
    assert db.execute("select count(*) from households").fetchone()[0] == 1


def test_poster_warns_on_screen_while_base_url_is_unset(app, db, client):
    """The poster page itself says its address is this host's (the warning does not print)."""
    code = links.create_link(db, "elder-satisfaction", "poster", site_id=links.create_site(db, "xh", "新华社区"))
    assert "还没有设置 FLASK_BASE_URL" not in client.get(f"/s/{code}/poster").text
    app.config["BASE_URL"] = None
    page = client.get(f"/s/{code}/poster").text
    assert 'class="screen-warning"' in page and "http://localhost/" in page
