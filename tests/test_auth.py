"""Login, logout, lockout, roles and the default-deny rule for back-office pages."""

from conftest import PASSWORD, csrf_token


def test_admin_home_needs_login(client):
    """An anonymous visitor is sent to the login page."""
    response = client.get("/admin/")
    assert response.status_code == 302 and "/login" in response.location


def test_login_and_logout(login, client):
    """A correct password logs in; logout ends the session."""
    login("staff")
    assert client.get("/admin/").status_code == 200
    page = client.get("/admin/")
    client.post("/logout", data={"csrf_token": csrf_token(page.text)})
    assert client.get("/admin/").status_code == 302


def test_wrong_password_then_lockout(client, users):
    """Five wrong passwords lock the account, even for the right password afterwards."""
    for _ in range(5):
        page = client.get("/login")
        response = client.post("/login", data={"csrf_token": csrf_token(page.text),
                                                "username": "staff", "password": "wrong-password"})
        assert response.status_code == 401 and "用户名或密码不对" in response.text
    page = client.get("/login")
    response = client.post("/login", data={"csrf_token": csrf_token(page.text),
                                            "username": "staff", "password": PASSWORD})
    assert response.status_code == 401 and "秒后再试" in response.text and int(response.headers["Retry-After"]) > 0


def test_open_redirect_is_refused(client, users):
    """`next` pointing off-site is ignored."""
    page = client.get("/login")
    response = client.post("/login?next=//evil.example/x", data={
        "csrf_token": csrf_token(page.text), "username": "admin", "password": PASSWORD})
    assert response.location == "/admin/"


def test_users_create_cli_reads_password_from_stdin(runner, app):
    """`flask users create NAME --role ROLE` takes the password from stdin."""
    result = runner.invoke(args=["users", "create", "li", "--role", "evaluator"], input="a-long-password\n")
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["users", "create", "li", "--role", "evaluator"], input="a-long-password\n")
    assert result.exit_code != 0 and "exists" in result.output
    result = runner.invoke(args=["users", "create", "zh", "--role", "evaluator"], input="short\n")
    assert result.exit_code != 0 and "8 characters" in result.output


def test_health_is_public(client):
    """The health check answers without login."""
    assert client.get("/health").json == {"status": "ok"}
