"""Read-aloud (语音阅读): the 朗读 button speaks the page in zh-CN through the browser's
own speech synthesis, stubbed here to record what would be said."""

import pytest
from playwright.sync_api import expect

from .helpers import reach

pytestmark = pytest.mark.browser

# Replaces speechSynthesis and SpeechSynthesisUtterance before the page's scripts run.
SPEECH_STUB = """
window.__spoken = [];
class StubUtterance {
  constructor(text) { this.text = text; this.lang = ''; this.rate = 1; }
}
Object.defineProperty(window, 'SpeechSynthesisUtterance', {value: StubUtterance, configurable: true});
Object.defineProperty(window, 'speechSynthesis', {configurable: true, value: {
  speaking: false,
  speak(u) {
    window.__spoken.push({text: u.text, lang: u.lang, rate: u.rate});
    document.documentElement.dataset.spoken = String(window.__spoken.length);
  },
  cancel() {},
}});
"""


@pytest.mark.parametrize("state, expected", [
    ("scale5", ["总的来说，您对这些养老服务满意吗？", "非常满意", "非常不满意"]),
    ("start", ["我们想听听您对养老服务的真实感受"]),
])
def test_read_aloud_speaks_the_question_in_chinese(live_server, page, state, expected):
    """Tapping 朗读 calls speechSynthesis.speak once, lang zh-CN, with the question and
    its choices (or the start page's introduction)."""
    page.add_init_script(SPEECH_STUB)
    reach(page, live_server, state)
    read = page.get_by_role("button", name="朗读本页")
    expect(read).to_be_visible()
    read.tap()
    expect(page.locator("html")).to_have_attribute("data-spoken", "1")  # no wait_for_function: CSP forbids eval
    spoken = page.evaluate("window.__spoken")
    assert len(spoken) == 1
    assert spoken[0]["lang"] == "zh-CN"
    for text in expected:
        assert text in spoken[0]["text"], spoken[0]["text"]
    assert spoken[0]["rate"] < 1, "older listeners get slower speech"


def test_read_aloud_button_hidden_without_speech_synthesis(live_server, page):
    """A browser without speech synthesis shows no dead 朗读 button, but still 大字."""
    page.add_init_script("delete window.speechSynthesis; delete Window.prototype.speechSynthesis;")
    reach(page, live_server, "start")
    assert page.evaluate("'speechSynthesis' in window") is False
    expect(page.get_by_role("button", name="字体放大")).to_be_visible()
    expect(page.get_by_role("button", name="朗读本页")).to_be_hidden()


def test_bigger_text_is_a_remembered_toggle(live_server, page):
    """大字 says whether it is on (aria-pressed) and the phone remembers it on the next page."""
    reach(page, live_server, "scale5")
    bigger = page.get_by_role("button", name="字体放大")
    expect(bigger).to_have_attribute("aria-pressed", "false")
    bigger.tap()
    expect(bigger).to_have_attribute("aria-pressed", "true")
    page.reload()
    expect(page.locator("html")).to_have_class("bigger")
    expect(page.get_by_role("button", name="字体放大")).to_have_attribute("aria-pressed", "true")
