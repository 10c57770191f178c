"""Page weight of every respondent page, with the CSS and JS it loads, via the Flask
test client: HTML bytes, asset bytes, the total, and the total gzip-compressed (what a
phone on a slow link downloads when the proxy compresses).

Usage: python benchmarks/bench_pages.py
"""

import gzip
import json
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import make_app  # noqa: E402

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ASSET = re.compile(r'(?:href|src)="(/static/[^"?]+)(?:\?[^"]*)?"')
ANSWERS = {
    "elder-satisfaction": {"respondent": "self", "services": ["emergency_call", "hotline"], "overall": "5",
                           "item_attitude": "4", "item_timeliness": "5", "item_professionalism": "4",
                           "item_device_ease": "5", "item_fault_response": "2", "item_repair": "3",
                           "hotline_unanswered": "1", "age_band": "80-89", "living_alone": "1",
                           "suggestion": "设备坏了报修好几天才来人"},
    "public-awareness": {"knows_hotline": "1", "knows_services": "1", "heard_from": ["community"],
                         "wants_info_no_channel": "0", "satisfaction": "4", "suggestion": "多宣传"},
    "security-feeling": {"respondent": "self", "worry_reduced": "4", "confidence_increased": "5",
                         "security_improved": "4", "suggestion": "很好"},
}


def weigh(client, path, html):
    """Bytes of a page and of the assets it references (each asset counted once per page)."""
    assets = sorted(set(ASSET.findall(html)))
    asset_bytes = {a: client.get(a).data for a in assets}
    total = html.encode() + b"".join(asset_bytes.values())
    return {"page": path, "html": len(html.encode()), "assets": {a: len(b) for a, b in asset_bytes.items()},
            "total": len(total), "total_gzip": len(gzip.compress(html.encode())) +
            sum(len(gzip.compress(b)) for b in asset_bytes.values())}


def walk(client, questionnaire_id, answers):
    """Every page of one questionnaire: start, each question, summary, done."""
    pages = []
    start = client.get(f"/q/{questionnaire_id}")
    pages.append(weigh(client, f"/q/{questionnaire_id}", start.text))
    token = CSRF.search(start.text).group(1)
    location = client.post(f"/q/{questionnaire_id}/start", data={"csrf_token": token}).location
    sid = location.split("/")[2]
    for _ in range(40):  # bounded: no questionnaire has 40 questions
        if location.endswith("/summary"):
            break
        page = client.get(location)
        question_id = location.rsplit("/", 1)[1]
        pages.append(weigh(client, f"{questionnaire_id}: {question_id}", page.text))
        value = answers.get(question_id)
        data = {"csrf_token": token, "action": "next" if value is not None else "skip"}
        if value is not None:
            data["answer"] = value
        location = client.post(location, data=data).location
    summary = client.get(f"/r/{sid}/summary")
    pages.append(weigh(client, f"{questionnaire_id}: summary", summary.text))
    done = client.post(f"/r/{sid}/submit", data={"csrf_token": token})
    thanks = client.get(done.location)
    pages.append(weigh(client, f"{questionnaire_id}: done", thanks.text))
    return pages


def run():
    """Weigh every respondent page of the three questionnaires."""
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as folder:
        app = make_app(Path(folder) / "pages.sqlite")
        client = app.test_client()
        pages = [page for qid, answers in ANSWERS.items() for page in walk(client, qid, answers)]
    totals = [p["total"] for p in pages]
    return {"pages": pages, "count": len(pages), "max_total": max(totals), "min_total": min(totals),
            "max_total_gzip": max(p["total_gzip"] for p in pages)}


def main():
    """Print the figures as JSON."""
    print(json.dumps(run(), ensure_ascii=False))


if __name__ == "__main__":
    main()
