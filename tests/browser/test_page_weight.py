"""Page weight: the HTML + CSS + JS of each respondent page type, as Chromium receives
them with its cache off, stays within 30 KB before compression (slow rural networks,
old phones). Run with -s to see the figures; they are also written to
test-artifacts/page-weight.txt."""

import pytest

from .helpers import reach

pytestmark = pytest.mark.browser

BUDGET = 30 * 1024
WEIGHED = ["start", "single", "multi", "scale5", "yesno", "text", "number", "error_required", "summary", "done"]
KINDS = ("document", "stylesheet", "script")


def weigh(context, server, state):
    """{kind: (decoded bytes, transferred body bytes, urls)} of the page `state` ends on."""
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})  # every page fetches its CSS and JS
    loads = []  # one list of responses per document load of the main frame

    def on_response(response):
        kind = response.request.resource_type
        if kind not in KINDS:
            return
        if kind == "document":
            if response.frame != page.main_frame or 300 <= response.status < 400:
                return  # a redirect has no page of its own
            loads.append([])
        if loads:
            loads[-1].append(response)

    page.on("response", on_response)
    reach(page, server, state)
    page.remove_listener("response", on_response)
    figures = {kind: [0, 0, []] for kind in KINDS}
    for response in loads[-1]:
        entry = figures[response.request.resource_type]
        entry[0] += len(response.body())
        entry[1] += response.request.sizes()["responseBodySize"]
        entry[2].append(response.url.split("/", 3)[-1])
    page.close()
    return figures


def test_every_respondent_page_is_within_30_kb(live_server, phone, artifacts):
    """HTML + CSS + JS of each page type < 30 KB (30,720 bytes) decoded."""
    lines = [f"{'page':<16}{'HTML':>8}{'CSS':>8}{'JS':>8}{'total':>8}  (bytes, decoded; budget {BUDGET})"]
    over = []
    for state in WEIGHED:
        figures = weigh(phone, live_server, state)
        html, css, js = (figures[kind][0] for kind in KINDS)
        total = html + css + js
        assert html and css and js, f"{state}: not every part was seen: {figures}"
        assert figures["document"][1] == html, "the server sent the HTML uncompressed, so both agree"
        lines.append(f"{state:<16}{html:>8}{css:>8}{js:>8}{total:>8}")
        if total > BUDGET:
            over.append(f"{state}: {total} bytes")
    report = "\n".join(lines)
    print("\n" + report)
    (artifacts / "page-weight.txt").write_text(report + "\n", encoding="utf-8")
    assert not over, f"over the {BUDGET}-byte budget: {over}"
