"""What an 80-year-old meets on a cheap phone (issue 14): on every question screen of every
questionnaire the button that moves on is in view without scrolling at 360x740 and 320x568,
at least 60 px tall; the header stays one row; every control is at least 60x60; 大字 reaches
30 px and shows that it is on; at 200% zoom the button is still reachable; the services
question has a way out; the review page has 提交 at top and bottom, reads aloud, and 修改
comes back to it. Screenshots of each state go to test-artifacts/."""

import re

import pytest
from playwright.sync_api import expect

from .helpers import choice, goto_question, start, submission_and_question, tap_through

pytestmark = pytest.mark.browser

SCREENS = {"360x740": {"width": 360, "height": 740}, "320x568": {"width": 320, "height": 568},
           # Browser zoom at 200% on a 360x740 phone: half as many CSS pixels, each twice the size.
           "200pct": {"width": 180, "height": 370}}
# Answers that open every conditional question, by the labels a respondent taps.
WALKS = {
    "elder-satisfaction": {"respondent": ["老人本人"], "services": ["紧急呼叫（一键呼叫设备）", "养老服务热线"],
                           "hotline_unanswered": ["没遇到过"], "age_band": ["80到89岁"],
                           "living_alone": ["是，一个人住"]},
    "public-awareness": {"knows_hotline": ["知道"], "knows_services": ["知道"], "heard_from": ["亲戚朋友"],
                         "wants_info_no_channel": ["没有"]},
    "security-feeling": {"respondent": ["家属或照护人代答"]},
}
NEXT = re.compile("^(下一题|看看我的回答)$")

# The primary button and every control: where they are on the screen, before any scrolling.
MEASURE = """
() => {
  const box = (el) => { const r = el.getBoundingClientRect(); return {top: r.top, bottom: r.bottom,
    width: r.width, height: r.height, text: el.textContent.trim().slice(0, 20)}; };
  const next = document.querySelector('.actions-bar button.primary');
  const controls = [...document.querySelectorAll('button, a[href], label.choice, .text-input')]
    .filter(el => el.checkVisibility({visibilityProperty: true}) && !el.closest('.visually-hidden'));
  return {next: next && box(next), header: box(document.querySelector('header.bar')),
          controls: controls.map(box), innerHeight: window.innerHeight, scrollY: window.scrollY,
          scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth};
}
"""


def phone_context(browser, screen):
    """A touch phone context of the given CSS size, zh-CN."""
    scale = 4 if screen == "200pct" else 2
    return browser.new_context(viewport=SCREENS[screen], device_scale_factor=scale, is_mobile=True,
                               has_touch=True, locale="zh-CN")


@pytest.mark.parametrize("screen", ["360x740", "320x568"])
@pytest.mark.parametrize("questionnaire_id", list(WALKS))
def test_next_button_in_view_on_every_question(live_server, browser, artifacts, screen, questionnaire_id):
    """Walk every question screen: as the page opens (no scrolling), 下一题 is fully on
    screen and at least 60 px tall, the header is one row, every control is >= 60x60."""
    context = phone_context(browser, screen)
    try:
        page = context.new_page()
        start(page, live_server, f"/q/{questionnaire_id}")
        problems, screens = [], 0
        while "/summary" not in page.url:
            page.wait_for_load_state("load")
            _sid, question_id = submission_and_question(page)
            m = page.evaluate(MEASURE)
            screens += 1
            where = f"{questionnaire_id}/{question_id} at {screen}"
            if m["scrollY"] != 0:
                problems.append(f"{where}: opened scrolled to {m['scrollY']}")
            if not m["next"] or m["next"]["bottom"] > m["innerHeight"] or m["next"]["top"] < 0:
                problems.append(f"{where}: 下一题 not in view: {m['next']} (screen {m['innerHeight']})")
            elif m["next"]["height"] < 60:
                problems.append(f"{where}: 下一题 only {m['next']['height']}px tall")
            if m["header"]["height"] > 80:
                problems.append(f"{where}: header {m['header']['height']}px (two rows?)")
            small = [c for c in m["controls"] if c["width"] < 60 or c["height"] < 60]
            if small:
                problems.append(f"{where}: controls under 60x60: {small}")
            if m["scrollWidth"] > m["clientWidth"]:
                problems.append(f"{where}: sideways scrolling ({m['scrollWidth']}px)")
            if question_id in ("services", "overall", "worry_reduced", "knows_hotline"):
                page.screenshot(path=str(artifacts / f"layout-{screen}-{questionnaire_id}-{question_id}.png"))
            labels = WALKS[questionnaire_id].get(question_id)
            for label in labels or []:
                choice(page, label).tap()
            if labels is None and page.locator("label.choice").count():
                page.locator("label.choice").nth(1).tap()  # 满意 / 同意
            tap_through(page, page.get_by_role("button", name=NEXT))
        assert screens >= 5
        assert not problems, "\n".join(problems)
    finally:
        context.close()


def test_next_button_reachable_at_200_percent_zoom(live_server, browser, artifacts):
    """At 200% zoom (180x370 CSS px) the services question still shows 下一题 on screen
    without scrolling, nothing sticks out sideways, and every choice can be reached."""
    context = phone_context(browser, "200pct")
    try:
        page = context.new_page()
        start(page, live_server, "/q/elder-satisfaction")
        sid, _ = submission_and_question(page)
        page.goto(live_server.url(f"/r/{sid}/services"))
        m = page.evaluate(MEASURE)
        page.screenshot(path=str(artifacts / "layout-200pct-services.png"))
        assert m["next"]["bottom"] <= m["innerHeight"] and m["next"]["height"] >= 60, m["next"]
        assert m["scrollWidth"] <= m["clientWidth"], m
        last = choice(page, "都没用过")
        last.scroll_into_view_if_needed()
        last.tap()
        expect(last.locator("input")).to_be_checked()
        assert page.evaluate(MEASURE)["next"]["bottom"] <= m["innerHeight"]
        page.screenshot(path=str(artifacts / "layout-200pct-services-scrolled.png"))
        tap_through(page, page.get_by_role("button", name="下一题"))
        goto_question(page, "overall")
    finally:
        context.close()


def test_services_question_has_a_way_out(live_server, page, artifacts):
    """都没用过 and 其他服务 are offered; 都没用过 clears the services ticked before it (and a
    service clears 都没用过); the stored answer is just `none`."""
    start(page, live_server, "/q/elder-satisfaction")
    sid, _ = submission_and_question(page)
    choice(page, "老人本人").tap()
    tap_through(page, page.get_by_role("button", name="下一题"))
    goto_question(page, "services")
    expect(choice(page, "其他服务")).to_have_count(1)
    choice(page, "助餐（吃饭、送餐）").tap()
    choice(page, "都没用过").tap()
    expect(choice(page, "助餐（吃饭、送餐）").locator("input")).not_to_be_checked()
    expect(choice(page, "都没用过").locator("input")).to_be_checked()
    page.screenshot(path=str(artifacts / "phone-services-none.png"), full_page=True)
    choice(page, "助洁（打扫卫生）").tap()
    expect(choice(page, "都没用过").locator("input")).not_to_be_checked()
    choice(page, "都没用过").tap()
    tap_through(page, page.get_by_role("button", name="下一题"))
    goto_question(page, "overall")
    draft = live_server.query("select answers from drafts where submission_id = ?", (sid,))[0][0]
    assert '"services": ["none"]' in draft


def test_bigger_text_reaches_30px_and_shows_it_is_on(live_server, page, artifacts):
    """大字 turns main text to 30 px, and the button looks pressed (✓, dark) as well as saying so."""
    start(page, live_server, "/q/elder-satisfaction")
    bigger = page.get_by_role("button", name="字体放大")
    before = bigger.evaluate("b => getComputedStyle(b).backgroundColor")
    bigger.tap()
    expect(bigger).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("getComputedStyle(document.body).fontSize") == "30px"
    assert bigger.evaluate("b => getComputedStyle(b, '::before').content") == '"✓ "'
    assert bigger.evaluate("b => getComputedStyle(b).backgroundColor") != before
    m = page.evaluate(MEASURE)
    assert m["next"]["bottom"] <= m["innerHeight"] and m["header"]["height"] <= 80, m
    page.screenshot(path=str(artifacts / "phone-bigger-on.png"))


def test_proxy_sees_questions_about_the_elder(live_server, page, artifacts):
    """After 家属或照护人代答 the security statements ask how the elder feels."""
    start(page, live_server, "/q/security-feeling")
    choice(page, "家属或照护人代答").tap()
    tap_through(page, page.get_by_role("button", name="下一题"))
    expect(page.locator("h1.question")).to_have_text(re.compile("^现在老人担心"))
    page.screenshot(path=str(artifacts / "phone-proxy-wording.png"))


def test_faces_of_dissatisfied_and_very_dissatisfied_differ(live_server, page):
    """不满意 and 非常不满意 are told apart by more than a curve: another face colour."""
    start(page, live_server, "/q/elder-satisfaction")
    sid, _ = submission_and_question(page)
    page.goto(live_server.url(f"/r/{sid}/overall"))
    fills = page.evaluate("""() => ['sad', 'very-sad'].map(k =>
        getComputedStyle(document.querySelector('.face-' + k + ' circle')).fill)""")
    assert fills[0] != fills[1], fills


def test_review_page_submit_top_and_bottom_read_aloud_and_change_returns(live_server, page, artifacts):
    """The review page shows 提交 without scrolling and again at the bottom; 朗读 reads the
    answers; 修改 opens the question with 改好了，回去核对 and comes back to that row, in view."""
    page.add_init_script("""
      window.__spoken = [];
      class U { constructor(t) { this.text = t; } }
      Object.defineProperty(window, 'SpeechSynthesisUtterance', {value: U, configurable: true});
      Object.defineProperty(window, 'speechSynthesis', {configurable: true, value: {speaking: false,
        speak(u) { window.__spoken.push(u.text); document.documentElement.dataset.spoken = '1'; }, cancel() {}}});
    """)
    start(page, live_server, "/q/public-awareness")
    for labels in (["知道"], ["知道"], ["亲戚朋友"], ["没有"], ["满意"], []):
        for label in labels:
            choice(page, label).tap()
        tap_through(page, page.get_by_role("button", name=NEXT))
    expect(page).to_have_url(re.compile("/summary$"))
    submits = page.get_by_role("button", name="提交")
    expect(submits).to_have_count(2)
    box = submits.first.bounding_box()
    assert box["y"] + box["height"] <= 740, box
    page.screenshot(path=str(artifacts / "phone-review-top.png"))
    page.get_by_role("button", name="朗读本页").tap()
    expect(page.locator("html")).to_have_attribute("data-spoken", "1")
    spoken = page.evaluate("window.__spoken")[0]
    assert "您对本地的养老服务工作满意吗" in spoken and "满意" in spoken, spoken
    page.locator("#row-satisfaction a.change").tap()
    expect(page.get_by_role("button", name="改好了，回去核对")).to_be_visible()
    page.screenshot(path=str(artifacts / "phone-change-from-review.png"))
    choice(page, "非常满意").tap()
    tap_through(page, page.get_by_role("button", name="改好了，回去核对"))
    expect(page).to_have_url(re.compile("/summary#row-satisfaction$"))
    expect(page.locator("#row-satisfaction dd").first).to_have_text("非常满意")
    expect(page.locator("#row-satisfaction")).to_be_in_viewport()
    assert page.evaluate("window.scrollY") > 0, "reopened at the top, not at the changed row"
    page.screenshot(path=str(artifacts / "phone-review-after-change.png"))


def test_next_button_reachable_at_200_percent_text_zoom(live_server, browser, artifacts):
    """Text zoom at 200% (the phone's font-size setting: every rem doubles, the screen stays
    360x740): on each question of a full walk 下一题 stays on screen and nothing sticks out."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale="zh-CN", bypass_csp=True)
    try:
        page = context.new_page()
        zoom = "html { font-size: 44px !important; }"
        page.goto(live_server.url("/q/elder-satisfaction"))
        page.add_style_tag(content=zoom)
        tap_through(page, page.get_by_role("button", name="开始答题"))
        problems = []
        while "/summary" not in page.url:
            page.wait_for_load_state("load")
            page.add_style_tag(content=zoom)
            _sid, question_id = submission_and_question(page)
            m = page.evaluate(MEASURE)
            if not m["next"] or m["next"]["bottom"] > m["innerHeight"] or m["next"]["height"] < 60:
                problems.append(f"{question_id}: 下一题 {m['next']}")
            if m["scrollWidth"] > m["clientWidth"]:
                problems.append(f"{question_id}: sideways scrolling ({m['scrollWidth']}px)")
            if question_id == "services":
                page.screenshot(path=str(artifacts / "layout-text-zoom-200-services.png"))
            labels = WALKS["elder-satisfaction"].get(question_id)
            for label in labels or []:
                choice(page, label).tap()
            if labels is None and page.locator("label.choice").count():
                page.locator("label.choice").nth(1).tap()
            tap_through(page, page.get_by_role("button", name=NEXT))
        assert not problems, "\n".join(problems)
    finally:
        context.close()
