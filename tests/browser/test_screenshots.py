"""Screenshots of the respondent pages on a 360x740 phone and of the A4 poster, into
test-artifacts/ (gitignored) for people to look at; plus what can be asserted of them."""

import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from .helpers import reach

pytestmark = pytest.mark.browser

SHOTS = {
    "start": "start", "scale5": "scale5-faces", "scale5_checked": "scale5-checked", "multi": "multi-choice",
    "error_required": "error-required", "error_invalid": "error-invalid", "summary": "summary", "done": "done",
}


@pytest.mark.parametrize("state", SHOTS)
def test_phone_screenshot(live_server, page, artifacts, state):
    """A full-page screenshot of each state at 360 CSS px (720 device px)."""
    reach(page, live_server, state)
    if state.startswith("scale5"):
        expect(page.locator("svg.face")).to_have_count(5)
    path = artifacts / f"phone-{SHOTS[state]}.png"
    page.screenshot(path=str(path), full_page=True)
    with Image.open(path) as image:
        assert image.width == 720 and image.height >= 1480


def test_bigger_text_screenshot(live_server, page, artifacts):
    """The scale5 question after tapping 大字: still one column, nothing cut off."""
    reach(page, live_server, "scale5")
    page.get_by_role("button", name="字体放大").tap()
    expect(page.locator("html")).to_have_class("bigger")
    assert page.evaluate("getComputedStyle(document.documentElement).fontSize") == "26px"
    page.screenshot(path=str(artifacts / "phone-scale5-bigger-text.png"), full_page=True)


def test_a4_poster(live_server, browser, artifacts):
    """The poster of a tracked link: a screenshot at A4 size and a PDF that fits one A4 page."""
    code = live_server.create_tracked_link()
    context = browser.new_context(viewport={"width": 794, "height": 1123}, device_scale_factor=1, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(live_server.url(f"/s/{code}/poster"), wait_until="load")
        qr = page.locator("img.qr")
        expect(qr).to_be_visible()
        assert page.evaluate("document.querySelector('img.qr').naturalWidth") > 0, "the QR image did not load"
        expect(page.locator(".site")).to_have_text("新华社区")
        expect(page.locator(".url")).to_have_text(live_server.url(f"/s/{code}"))
        page.screenshot(path=str(artifacts / "poster-a4.png"), full_page=True)
        page.emulate_media(media="print")
        pdf = page.pdf(format="A4", print_background=True)
        (artifacts / "poster-a4.pdf").write_bytes(pdf)
        pages = len(re.findall(rb"/Type\s*/Page\b", pdf))
        assert pages == 1, f"the poster prints on {pages} A4 pages"
    finally:
        context.close()
