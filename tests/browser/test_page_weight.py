"""Page weight: the HTML + CSS + JS of each respondent page type, as Chromium receives
them with its cache off, stays within 30 KB before compression (slow rural networks,
old phones). Run with -s to see the figures; they are also written to
test-artifacts/page-weight.txt."""

import re

import pytest
from playwright.sync_api import expect

from .helpers import answer, choice, goto_question, submission_and_question, tap_through

pytestmark = pytest.mark.browser

BUDGET = 30 * 1024
KINDS = ("document", "stylesheet", "script")


class Scale:
    """Weighs every page the main frame loads: one group of responses per document."""

    def __init__(self, context):
        self.page = context.new_page()
        cdp = context.new_cdp_session(self.page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})  # each page fetches its CSS and JS
        self.loads = []
        self.figures = {}
        self.page.on("response", self._on_response)

    def _on_response(self, response):
        kind = response.request.resource_type
        if kind not in KINDS:
            return
        if kind == "document":
            if response.frame != self.page.main_frame or 300 <= response.status < 400:
                return  # a redirect has no page of its own
            self.loads.append([])
        if self.loads:
            self.loads[-1].append(response)

    def weigh(self, name):
        """Record the page now shown (fully loaded) under `name`."""
        self.page.wait_for_load_state("load")
        sizes = dict.fromkeys(KINDS, 0)
        for response in self.loads[-1]:
            sizes[response.request.resource_type] += len(response.body())
        assert all(sizes.values()), f"{name}: not every part was seen: {sizes}"
        document = self.loads[-1][0]
        assert document.request.sizes()["responseBodySize"] == sizes["document"], "sent uncompressed"
        self.figures[name] = sizes


def test_every_respondent_page_is_within_30_kb(live_server, phone, artifacts):
    """HTML + CSS + JS of each page type < 30 KB (30,720 bytes) decoded, each page
    reached the way a respondent reaches it."""
    scale = Scale(phone)
    page = scale.page
    page.goto(live_server.url("/q/elder-satisfaction"))
    scale.weigh("start")
    tap_through(page, page.get_by_role("button", name="开始答题"))
    scale.weigh("single")
    tap_through(page, page.get_by_role("button", name="下一题"))
    expect(page.get_by_role("alert")).to_be_visible()
    scale.weigh("error_required")
    sid, _ = submission_and_question(page)
    for name, question_id in [("multi", "services"), ("scale5", "overall"), ("text", "suggestion")]:
        page.goto(live_server.url(f"/r/{sid}/{question_id}"))
        scale.weigh(name)

    page.goto(live_server.url("/q/browser-number"))
    tap_through(page, page.get_by_role("button", name="开始答题"))
    expect(page.locator("input[inputmode=decimal]")).to_be_visible()
    scale.weigh("number")

    page.goto(live_server.url("/q/public-awareness"))
    tap_through(page, page.get_by_role("button", name="开始答题"))
    expect(choice(page, "知道")).to_be_visible()
    scale.weigh("yesno")
    for question_id, labels, action in [("knows_hotline", ["不知道"], "next"), ("knows_services", ["知道"], "next"),
                                        ("wants_info_no_channel", [], "skip"), ("satisfaction", ["满意"], "next"),
                                        ("suggestion", [], "skip")]:
        goto_question(page, question_id)
        answer(page, labels, action=action)
    expect(page).to_have_url(re.compile(r"/summary$"))
    scale.weigh("summary")
    tap_through(page, page.get_by_role("button", name="提交").first)
    expect(page.get_by_role("heading", name="提交成功")).to_be_visible()
    scale.weigh("done")

    lines = [f"{'page':<16}{'HTML':>8}{'CSS':>8}{'JS':>8}{'total':>8}  (bytes, decoded; budget {BUDGET})"]
    over = []
    for name, sizes in scale.figures.items():
        total = sum(sizes.values())
        lines.append(f"{name:<16}{sizes['document']:>8}{sizes['stylesheet']:>8}{sizes['script']:>8}{total:>8}")
        if total > BUDGET:
            over.append(f"{name}: {total} bytes")
    report = "\n".join(lines)
    print("\n" + report)
    (artifacts / "page-weight.txt").write_text(report + "\n", encoding="utf-8")
    assert len(scale.figures) == 10
    assert not over, f"over the {BUDGET}-byte budget: {over}"
