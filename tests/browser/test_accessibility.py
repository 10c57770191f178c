"""Accessibility of every respondent page state: axe-core (WCAG 2.0/2.1/2.2 A and AA)
and the project's own elder-mode numbers measured in the page: text >= 20 px,
tap targets >= 60x60 CSS px, answer choices >= 60 px high, text contrast >= 7:1,
and no sideways scrolling at 360 px, also with 大字 (bigger text) on. Each state's
screenshot goes to test-artifacts/ on the way."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from PIL import Image
from playwright.sync_api import expect

from .helpers import STATES, dump, reach

pytestmark = pytest.mark.browser

AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]},
    "resultTypes": ["violations"],
}
MIN_FONT_PX = 20
MIN_TARGET_PX = 60  # MIIT: main controls 60x60 (issue 14: every control on the respondent pages)
MIN_CHOICE_HEIGHT_PX = 60
MIN_CONTRAST = 7.0

# Runs in the page: every visible text node, with its element's font size, colour and
# effective background (background colours composited from the root down, over white).
MEASURE_TEXT = """
() => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, under) => {
    const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + under[i] * (1 - a)).concat([1]);
  };
  const background = (el) => {
    const chain = [];
    for (let e = el; e; e = e.parentElement) chain.push(parse(getComputedStyle(e).backgroundColor));
    let colour = [255, 255, 255, 1];
    for (const c of chain.reverse()) colour = over(c, colour);
    return colour;
  };
  const lum = (c) => {
    const [r, g, b] = c.slice(0, 3).map(v => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const text = n.nodeValue.trim();
    if (!text) continue;
    const el = n.parentElement;
    if (el.closest('.visually-hidden')) continue;
    if (!el.checkVisibility({visibilityProperty: true, opacityProperty: true})) continue;
    const range = document.createRange();
    range.selectNodeContents(n);
    if (![...range.getClientRects()].some(r => r.width > 0 && r.height > 0)) continue;
    const style = getComputedStyle(el);
    const bg = background(el);
    const fg = over(parse(style.color), bg);
    const [l1, l2] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const cls = typeof el.className === 'string' && el.className ? '.' + el.className : '';
    out.push({text: text.slice(0, 30), tag: el.tagName.toLowerCase() + cls,
              fontSize: parseFloat(style.fontSize), contrast: (l1 + 0.05) / (l2 + 0.05),
              color: style.color, background: 'rgb(' + bg.slice(0, 3).map(Math.round).join(',') + ')'});
  }
  return out;
}
"""

MEASURE_TARGETS = """
() => [...document.querySelectorAll('button, a[href], label.choice, .text-input')]
  .filter(el => el.checkVisibility({visibilityProperty: true}) && !el.closest('.visually-hidden'))
  .map(el => {
    const r = el.getBoundingClientRect();
    return {what: el.tagName.toLowerCase() + (el.className ? '.' + el.className : ''),
            text: el.textContent.trim().replace(/\\s+/g, ' ').slice(0, 30),
            width: r.width, height: r.height, choice: el.matches('label.choice')};
  })
"""

MEASURE_OVERFLOW = """
() => [...document.querySelectorAll('body *')]
  .filter(el => !el.closest('.visually-hidden')
                && el.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
  .map(el => el.tagName.toLowerCase() + '.' + el.className + ': ' + el.textContent.trim().slice(0, 20))
  .concat(document.documentElement.scrollWidth > document.documentElement.clientWidth
          ? ['page scrollWidth ' + document.documentElement.scrollWidth] : [])
"""


@pytest.mark.parametrize("state", STATES)
def test_page_accessibility(live_server, page, artifacts, state):
    """On each page state: axe-core finds no WCAG 2.0/2.1/2.2 A or AA violation; every
    visible text is >= 20 px and >= 7:1 against its background; buttons, links and text
    boxes are >= 60x60 CSS px and answer choices >= 60 px high; nothing sticks out
    sideways, with normal text or after 大字. All problems are reported together.
    Also saves a full-page screenshot, test-artifacts/phone-<state>.png, for people to look at."""
    reach(page, live_server, state)
    shot = artifacts / f"phone-{state.replace('_', '-')}.png"
    page.screenshot(path=str(shot), full_page=True)
    with Image.open(shot) as image:
        assert image.width == 720, "360 CSS px at device scale factor 2, no sideways overflow"
    problems = []

    results = Axe().run(page, options=AXE_OPTIONS)
    print(f"\naxe {state}: {results.violations_count} violations")
    if results.violations_count:
        problems.append(results.generate_report())

    texts = page.evaluate(MEASURE_TEXT)
    assert texts, "no visible text measured"
    small = [t for t in texts if t["fontSize"] < MIN_FONT_PX]
    if small:
        problems.append(f"text under {MIN_FONT_PX}px:\n{dump(small)}")
    faint = [t for t in texts if t["contrast"] < MIN_CONTRAST]
    if faint:
        problems.append(f"contrast under {MIN_CONTRAST}:1:\n{dump(faint)}")

    targets = page.evaluate(MEASURE_TARGETS)
    assert targets, "no tap targets measured"
    tiny = [t for t in targets if t["width"] < MIN_TARGET_PX or t["height"] < MIN_TARGET_PX]
    if tiny:
        problems.append(f"tap targets under {MIN_TARGET_PX}x{MIN_TARGET_PX}:\n{dump(tiny)}")
    low = [t for t in targets if t["choice"] and t["height"] < MIN_CHOICE_HEIGHT_PX]
    if low:
        problems.append(f"answer choices under {MIN_CHOICE_HEIGHT_PX}px high:\n{dump(low)}")
    if state in ("single", "multi", "scale5", "yesno"):
        assert any(t["choice"] for t in targets), "no answer choices found"
    print(f"  {len(texts)} texts, smallest {min(t['fontSize'] for t in texts):.1f}px,"
          f" lowest contrast {min(t['contrast'] for t in texts):.2f}:1;"
          f" {len(targets)} targets, smallest {min(min(t['width'], t['height']) for t in targets):.0f}px")

    # Last, as it changes the page: nothing sticks out sideways at 360 px, also after 大字.
    for bigger in (False, True):
        if bigger:
            page.get_by_role("button", name="字体放大").tap()
            expect(page.locator("html")).to_have_class("bigger")
        wide = page.evaluate(MEASURE_OVERFLOW)
        if wide:
            problems.append(f"sticks out sideways at 360px{' with 大字' if bigger else ''}:\n{dump(wide)}")

    assert not problems, "\n\n".join(problems)
