"""Issue 12: sessions end on the server, login cannot be turned against its user, links
never come from a forged Host, and pages with personal data are never cached."""

import statistics
import time

import pytest
from conftest import PASSWORD, csrf_token

from app import create_app
from survey.web import api, api_submissions, auth


def _login(client, username, password=PASSWORD, next_=None, addr="10.0.0.1"):
    """POST the login form from client address `addr`; return the response."""
    page = client.get("/login", environ_base={"REMOTE_ADDR": addr})
    url = "/login" if next_ is None else "/login?next=" + next_
    return client.post(url, data={"csrf_token": csrf_token(page.text), "username": username,
                                  "password": password}, environ_base={"REMOTE_ADDR": addr})


def _cookie(client):
    """The session cookie's value."""
    return client.get_cookie("session").value


def _copy_with(app, cookie):
    """A second client (another browser) holding a copied session cookie."""
    other = app.test_client()
    other.set_cookie("session", cookie, domain="localhost")
    return other


def _user_id(db, username):
    """The id of a user."""
    return db.execute("select id from users where username = ?", [username]).fetchone()[0]


def test_copied_cookie_dies_at_logout(app, client, users):
    assert _login(client, "staff").status_code == 302
    copied = _cookie(client)
    thief = _copy_with(app, copied)
    assert thief.get("/e/default/field/").status_code == 200  # the copy works while the session stands
    page = client.get("/e/default/field/")
    token = csrf_token(page.text.replace('name="csrf-token" content=', 'name="csrf_token" value='))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert thief.get("/e/default/field/").status_code == 302  # sent to the login page
    assert _copy_with(app, copied).get("/e/default/field/").status_code == 302


def test_password_change_ends_sessions_and_submit_tokens(app, client, users, db):
    _login(client, "staff")
    copied = _cookie(client)
    with app.app_context():
        from survey.storage.db import get_db
        token = api_submissions.issue_token(get_db(), _user_id(db, "staff"))
        assert api_submissions.user_for_token(get_db(), token) is not None
        auth.set_password(get_db(), _user_id(db, "staff"), "another-good-password")
        assert api_submissions.user_for_token(get_db(), token) is None
    assert _copy_with(app, copied).get("/e/default/field/").status_code == 302


def test_set_password_cli_ends_sessions(app, client, users, runner):
    _login(client, "staff")
    result = runner.invoke(args=["users", "set-password", "staff"], input="brand-new-password\n")
    assert result.exit_code == 0, result.output
    assert client.get("/e/default/field/").status_code == 302
    assert _login(app.test_client(), "staff", "brand-new-password").status_code == 302


def test_deactivation_ends_sessions_and_reactivation_does_not_revive_them(app, users, db):
    staff, admin = app.test_client(), app.test_client()
    _login(staff, "staff")
    copied = _cookie(staff)
    _login(admin, "admin")
    with app.app_context():
        from survey.storage.db import get_db
        submit_token = api_submissions.issue_token(get_db(), _user_id(db, "staff"))
        api_token = api.create_token(get_db(), "evaluator")
    token = csrf_token(admin.get("/manage/users").text)
    for user, active in (("staff", "0"), ("staff", "1"), ("evaluator", "0"), ("evaluator", "1")):
        response = admin.post(f"/manage/users/{_user_id(db, user)}/active",
                              data={"csrf_token": token, "active": active})
        assert response.status_code == 302
    assert _copy_with(app, copied).get("/e/default/field/").status_code == 302
    with app.app_context():
        from survey.storage.db import get_db
        assert api_submissions.user_for_token(get_db(), submit_token) is None
    assert app.test_client().get("/api/v1/questionnaires",
                                 headers={"Authorization": f"Bearer {api_token}"}).status_code == 401


def test_admin_signs_a_user_out_everywhere(app, users, db):
    staff, admin = app.test_client(), app.test_client()
    _login(staff, "staff")
    _login(admin, "admin")
    assert staff.get("/e/default/field/").status_code == 200
    token = csrf_token(admin.get("/manage/users").text)
    response = admin.post(f"/manage/users/{_user_id(db, 'staff')}/sign-out", data={"csrf_token": token})
    assert response.status_code == 302
    assert staff.get("/e/default/field/").status_code == 302
    assert admin.get("/manage/users").status_code == 200  # the admin's own session stands
    assert db.execute("select count(*) from audit_log where action = 'user_signed_out_everywhere'").fetchone()[0] == 1


def test_session_cookie_lasts_at_most_8_hours(app, client, users):
    assert app.config["PERMANENT_SESSION_LIFETIME"].total_seconds() == 8 * 3600
    response = _login(client, "staff")
    cookie = response.headers["Set-Cookie"]
    assert "Expires=" in cookie
    from email.utils import parsedate_to_datetime
    expires = parsedate_to_datetime(cookie.split("Expires=")[1].split(";")[0])
    assert expires.timestamp() - time.time() <= 8 * 3600 + 5


@pytest.mark.parametrize("gap_key,gap", [("_login_at", 8 * 3600 + 1), ("_seen", 2 * 3600 + 1)])
def test_absolute_and_idle_timeouts_end_the_session(client, users, gap_key, gap):
    _login(client, "staff")
    assert client.get("/e/default/field/").status_code == 200
    with client.session_transaction() as session:
        session[gap_key] = session[gap_key] - gap
    assert client.get("/e/default/field/").status_code == 302


def test_timeouts_are_configurable(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE": str(tmp_path / "c.sqlite"),
                      "SESSION_ABSOLUTE_SECONDS": 3600, "SESSION_IDLE_SECONDS": 600})
    assert app.config["PERMANENT_SESSION_LIFETIME"].total_seconds() == 3600


def test_a_session_without_server_side_marks_is_refused(client, users, db):
    """A cookie forged or kept from before this change (no session version) opens nothing."""
    with client.session_transaction() as session:
        session["_user_id"] = str(_user_id(db, "staff"))
        session["_fresh"] = True
    assert client.get("/e/default/field/").status_code == 302


def test_anonymous_failures_do_not_lock_the_real_user_out(client, users):
    for _ in range(8):
        assert _login(client, "admin", "wrong-password", addr="203.0.113.9").status_code == 401
    refused = _login(client, "admin", PASSWORD, addr="203.0.113.9")
    assert refused.status_code == 401 and int(refused.headers["Retry-After"]) > 0
    assert _login(client, "admin", PASSWORD, addr="10.0.0.7").status_code == 302


def test_delays_grow_and_an_admin_can_unlock(app, client, users, db):
    with app.app_context():
        from survey.storage.db import get_db
        waits = []
        for attempt in range(7):
            assert _login(client, "staff", "wrong-password", addr="198.51.100.4").status_code == 401
            waits.append(auth.wait_seconds(get_db(), "staff", "198.51.100.4"))
            # Let the wait pass (move the failures back in time) so the next try is counted.
            with get_db().conn:
                get_db().execute("update login_failures set at = strftime('%Y-%m-%dT%H:%M:%f+00:00', at, ?)",
                                 [f"-{waits[-1] + 1 if attempt < 6 else 0} seconds"])
        assert waits[:4] == [0, 0, 0, 0] and 0 < waits[4] < waits[5] < waits[6] <= 15 * 60
        assert _login(client, "staff", PASSWORD, addr="198.51.100.4").status_code == 401
    admin = app.test_client()
    _login(admin, "admin")
    token = csrf_token(admin.get("/manage/users").text)
    assert admin.post(f"/manage/users/{_user_id(db, 'staff')}/unlock", data={"csrf_token": token}).status_code == 302
    assert _login(client, "staff", PASSWORD, addr="198.51.100.4").status_code == 302


def test_unknown_and_known_users_take_the_same_time(client, users):
    """The median of 7 tries each: an unknown user costs a password-hash check too."""
    def median(username):
        times = []
        for i in range(7):
            page = client.get("/login")
            started = time.perf_counter()
            client.post("/login", data={"csrf_token": csrf_token(page.text), "username": username,
                                        "password": "wrong-password"}, environ_base={"REMOTE_ADDR": f"10.1.0.{i}"})
            times.append(time.perf_counter() - started)
        return statistics.median(times)
    known, unknown = median("admin"), median("no-such-user")
    # Before: 4 ms against 83-95 ms (a factor of 20). A hash check dominates both now.
    assert unknown > known * 0.5 and known > unknown * 0.5, (known, unknown)


@pytest.mark.parametrize("target", [
    "/%09/evil.example", "/%0a/evil.example", "/%0d%0a/evil.example", "//evil.example",
    "/\\evil.example", "https://evil.example/", "/%00/evil.example", "%2F%2Fevil.example",
    "/%E2%80%8B/evil.example", "/%0D%0ASet-Cookie:x=1",
])
def test_next_stays_on_the_site(client, users, target):
    response = _login(client, "staff", next_=target)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith("//") and "\\" not in location
    assert "evil.example" not in location.split("?")[0].split("/")[1:2][0] if location != "/" else True
    assert "\n" not in location and "\r" not in location and "\t" not in location


def test_next_keeps_a_same_site_path(client, users):
    assert _login(client, "staff", next_="/e/default/field/%3Fx%3D1").headers["Location"] == "/e/default/field/?x=1"


def test_forged_host_is_refused_and_never_reaches_a_link(client, users):
    forged = client.get("/api/v1/openapi.json", headers={"Host": "evil.example"})
    assert forged.status_code == 400
    ok = client.get("/api/v1/openapi.json")
    assert ok.json["servers"][0]["url"].startswith("https://survey.example.cn/")


def test_forwarded_host_is_ignored_unless_configured(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE": str(tmp_path / "f.sqlite"),
                      "BASE_URL": "https://survey.example.cn", "TRUSTED_PROXIES": 1})
    response = app.test_client().get("/api/v1/openapi.json", headers={"X-Forwarded-Host": "evil.example"})
    assert response.status_code == 200 and "evil.example" not in response.text


def test_printable_report_links_come_from_base_url(login, client):
    login("evaluator")
    page = client.get("/evaluate/elder-satisfaction/report", headers={"Host": "localhost"})
    if page.status_code == 404:
        pytest.skip("no printable report route in this build")
    assert "evil.example" not in page.text
    assert client.get("/evaluate/elder-satisfaction/report", headers={"Host": "evil.example"}).status_code == 400


def test_production_requires_base_url(tmp_path):
    from survey.web.security import InsecureConfigError
    with pytest.raises(InsecureConfigError, match="BASE_URL"):
        create_app({"PRODUCTION": True, "SECRET_KEY": "a-real-secret", "DATABASE": str(tmp_path / "p.sqlite")})


def test_pages_with_personal_data_are_not_cached(login, client):
    login("admin")
    for path in ("/e/default/manage/rosters", "/e/default/manage/rosters/export.csv", "/manage/users",
                 "/e/default/field/"):
        assert client.get(path).headers.get("Cache-Control") == "no-store", path
    assert client.get("/static/css/office.css").headers.get("Cache-Control") != "no-store"
