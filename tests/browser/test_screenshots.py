"""Screenshots into test-artifacts/ (gitignored) for people to look at, plus what can be
asserted of them: the A4 poster, and a question with 大字 on. (Every respondent page
state is also shot, at 360x740, by test_accessibility.py while it visits it.)"""

import re

import pytest
from playwright.sync_api import expect

from .helpers import reach

pytestmark = pytest.mark.browser


def test_bigger_text_screenshot(live_server, page, artifacts):
    """The scale5 question after tapping 大字: still one column, nothing cut off."""
    reach(page, live_server, "scale5")
    expect(page.locator("label.choice svg.face")).to_have_count(5)  # a face beside each answer
    page.get_by_role("button", name="字体放大").tap()
    expect(page.locator("html")).to_have_class("bigger")
    assert page.evaluate("getComputedStyle(document.documentElement).fontSize") == "30px"
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
