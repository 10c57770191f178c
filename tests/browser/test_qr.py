"""QR codes decode to the absolute address a phone must open: the app's BASE_URL
(here the live server itself) plus the page's path. PNG from the server, SVG as
Chromium draws it, and the QR on the printed poster."""

import io
import threading
import urllib.request

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect
from werkzeug.serving import make_server

from app import create_app
from browser.conftest import LiveServer, QuietHandler
from survey.storage import evaluations
from survey.storage.db import get_db

pytestmark = pytest.mark.browser


def decode(png_bytes):
    """The texts of the QR codes found in a PNG image."""
    with Image.open(io.BytesIO(png_bytes)) as image:
        return [result.text for result in zxingcpp.read_barcodes(image.convert("L"))]


def fetch(url):
    """(content type, bytes) of a GET over real HTTP."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.headers.get_content_type(), response.read()


@pytest.fixture(scope="module")
def tracked_code(live_server):
    """A tracked poster link of elder-satisfaction at 新华社区."""
    return live_server.create_tracked_link()


def test_generic_qr_png_opens_the_start_page(live_server):
    """/q/elder-satisfaction/qr.png decodes to BASE_URL + /q/elder-satisfaction."""
    content_type, png = fetch(live_server.url("/q/elder-satisfaction/qr.png"))
    assert content_type == "image/png"
    assert live_server.app.config["BASE_URL"] == live_server.base_url
    assert decode(png) == [live_server.url("/q/elder-satisfaction")]


def test_tracked_qr_png_opens_the_tracked_start_page(live_server, tracked_code, page):
    """/s/<code>/qr.png decodes to the tracked link, and that address really opens the
    start page of the right questionnaire (as a phone that scanned it would)."""
    _, png = fetch(live_server.url(f"/s/{tracked_code}/qr.png"))
    (url,) = decode(png)
    assert url == live_server.url(f"/s/{tracked_code}")
    page.goto(url)
    expect(page.get_by_role("heading", name="养老服务满意度调查")).to_be_visible()
    expect(page.locator('input[name="link"]')).to_have_value(tracked_code)


@pytest.mark.parametrize("path", ["/q/elder-satisfaction", "/s/{code}"])
def test_svg_qr_as_chromium_draws_it(live_server, tracked_code, browser, path):
    """The SVG version, rasterised by Chromium at 600 CSS px, decodes to the same URL."""
    path = path.format(code=tracked_code)
    content_type, svg = fetch(live_server.url(f"{path}/qr.svg"))
    assert content_type == "image/svg+xml"
    context = browser.new_context(viewport={"width": 700, "height": 700})
    try:
        page = context.new_page()
        page.set_content('<body style="margin:0;background:#fff">'
                         f'<img id="qr" style="width:600px;height:600px" src="{live_server.url(path)}/qr.svg">')
        expect(page.locator("#qr")).to_have_js_property("complete", True)
        assert page.locator("#qr").evaluate("img => img.naturalWidth") > 0
        png = page.locator("#qr").screenshot()
    finally:
        context.close()
    assert decode(png) == [live_server.url(path)]


def test_poster_qr_decodes_to_its_printed_url(live_server, tracked_code, browser):
    """The QR code on the A4 poster decodes to the URL printed under it."""
    context = browser.new_context(viewport={"width": 794, "height": 1123}, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(live_server.url(f"/s/{tracked_code}/poster"), wait_until="load")
        png = page.locator("img.qr").screenshot()
        printed = page.locator(".url").inner_text()
    finally:
        context.close()
    assert printed == live_server.url(f"/s/{tracked_code}")
    assert decode(png) == [printed]


def test_qr_uses_configured_base_url(client):
    """With BASE_URL https://survey.example.cn (the shared test app), the QR says so."""
    response = client.get("/q/elder-satisfaction/qr.png")
    assert response.status_code == 200
    assert decode(response.data) == ["https://survey.example.cn/q/elder-satisfaction"]



@pytest.fixture(scope="module")
def two_evaluations_server(tmp_path_factory):
    """A server of its own (the shared live server keeps exactly one evaluation) with
    `browser-second` collecting and `browser-closed` closed, both using elder-satisfaction."""
    app = create_app({"TESTING": True, "SECRET_KEY": "browser-tests",
                      "DATABASE": str(tmp_path_factory.mktemp("two") / "two.sqlite")})
    with app.app_context():
        db = get_db()
        evaluations.create(db, "browser-second", "浏览器测试评价", questionnaires=["elder-satisfaction"])
        evaluations.create(db, "browser-closed", "已结束的评价", status="closed", questionnaires=["elder-satisfaction"])
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    app.config["BASE_URL"] = f"http://127.0.0.1:{server.port}"
    thread = threading.Thread(target=server.serve_forever, name="two-evaluations", daemon=True)
    thread.start()
    yield LiveServer(app, server)
    server.shutdown()
    thread.join(timeout=10)


def test_an_evaluations_generic_qr_opens_its_own_form_and_a_closed_one_ends_calmly(two_evaluations_server, page,
                                                                                   artifacts):
    """/e/<slug>/q/<id>/qr.png decodes to that evaluation's link, whose start page posts to it;
    a closed evaluation's link shows the calm ended page, without a form, at phone size."""
    server = two_evaluations_server
    _, png = fetch(server.url("/e/browser-second/q/elder-satisfaction/qr.png"))
    (url,) = decode(png)
    assert url == server.url("/e/browser-second/q/elder-satisfaction")
    page.goto(url)
    expect(page.get_by_role("heading", name="养老服务满意度调查")).to_be_visible()
    assert page.locator("form").get_attribute("action") == "/e/browser-second/q/elder-satisfaction/start"
    page.goto(server.url("/e/browser-closed/q/elder-satisfaction"))
    expect(page.get_by_role("heading", name="本次调查已结束")).to_be_visible()
    assert page.locator("form").count() == 0
    page.screenshot(path=str(artifacts / "respond-ended-360.png"), full_page=True)
