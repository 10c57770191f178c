"""Grouping open-text comments into problems (survey.problems.group_comments), timed.

Three sets of N comments (default 20,000): "realistic" (240 complaints, each written in
several ways: punctuation, spaces, particles, a character dropped, over 20 sites);
"distinct" (every comment different: 6 to 30 characters drawn from 2,000 CJK
characters, no repeats to merge first); and "adversarial" (the same from only 50
characters, so that every comment shares bigrams with thousands of others: the
candidate filter's worst case). Prints the time and the number of groups of each; the
target is under 2 s for 20,000 realistic or distinct comments.

--responses N (e.g. 200000) also stores N generated elder-satisfaction responses (every
seventh with a comment, rewritten to the realistic set's wordings) and times the problem
page's grouping as the app runs it (survey.web.evaluate.problem_groups: every comment read
from SQLite and grouped) cold, then from its cache, and one filtered by a site.

Usage: python benchmarks/bench_problems.py [--comments N] [--seed S] [--responses N]
"""

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import peak_rss_mib  # noqa: E402

SUBJECTS = ("送餐 助浴 理发 上门服务 热线 呼叫器 设备维修 服务人员 社区食堂 康复理疗 "
            "陪同就医 日间照料 家政保洁 心理慰藉 紧急呼叫 健康检查 文化活动 床位 护理员 配餐").split()
WISHES = ["希望{}能准时一点", "{}太慢了", "{}的次数能不能多一些", "{}价格有点贵", "{}态度不太好",
          "{}经常打不通", "{}坏了没人来修", "希望增加{}的项目", "{}时间安排不合理", "希望{}更方便一些",
          "{}人员流动太大", "{}不够专业"]
NOISE = ["", "。", "！", "啊", "了", " ", "，谢谢", "吧"]
WORDS = list("希望服务能够准时一点送餐太慢了次数多些价格有贵态度不好经常打通"
             "坏没人来修增加项目时间安排合理更方便流动大专业社区食堂")


def realistic(count, rng):
    """Comments drawn from SUBJECTS x WISHES, written in several near-identical ways."""
    rows = []
    for _ in range(count):
        text = rng.choice(WISHES).format(rng.choice(SUBJECTS))
        if rng.random() < 0.2 and len(text) > 5:  # drop one character
            cut = rng.randrange(1, len(text) - 1)
            text = text[:cut] + text[cut + 1:]
        rows.append((text + rng.choice(NOISE), f"社区{rng.randrange(20):02d}"))
    return rows


def distinct(count, rng, alphabet=None):
    """Comments of 6 to 30 random characters (2,000 CJK characters unless told): none alike."""
    alphabet = alphabet or [chr(0x4E00 + i) for i in range(2000)]
    return [("".join(rng.choice(alphabet) for _ in range(rng.randint(6, 30))), f"社区{rng.randrange(20):02d}")
            for _ in range(count)]


def adversarial(count, rng):
    """Distinct comments from 50 characters only: many shared bigrams, the slowest case."""
    return distinct(count, rng, WORDS)


def run(count, seed):
    """Time group_comments on both sets; return the figures."""
    from survey.problems import group_comments

    figures = {"comments": count}
    for name, make in (("realistic", realistic), ("distinct", distinct), ("adversarial", adversarial)):
        rows = make(count, random.Random(seed))
        started = time.perf_counter()
        groups = group_comments(rows)
        figures[f"{name}_s"] = round(time.perf_counter() - started, 3)
        figures[f"{name}_groups"] = len(groups)
    figures["peak_rss_mib"] = round(peak_rss_mib(), 1)
    return figures


def run_pages(count, seed):
    """Generate `count` responses, give their comments realistic wordings, and time the
    app's grouping: cold, cached, and filtered by one site (cold)."""
    from common import generate_elder_responses, make_app

    from survey.storage.db import get_db
    from survey.web import evaluate

    figures = {"responses": count}
    with tempfile.TemporaryDirectory(prefix="bench-problems-") as folder:
        app = make_app(Path(folder) / "problems.sqlite")
        with app.app_context():
            db = get_db()
            generate_elder_responses(db, count, seed=seed)
            ids = [row[0] for row in db.execute("select response_id from answers where question_id = 'suggestion'")]
            texts = realistic(len(ids), random.Random(seed))
            db.conn.executemany("update answers set value = ? where response_id = ? and question_id = 'suggestion'",
                                [(text, rid) for (text, _site), rid in zip(texts, ids, strict=True)])
            db.conn.commit()
            figures["comments"] = len(ids)
            site = db.execute("select code from sites order by id limit 1").fetchone()[0]
            with app.test_request_context():
                for name, filters in (("cold", {}), ("cached", {}), ("site_cold", {"site": site})):
                    started = time.perf_counter()
                    groups = evaluate.problem_groups(db, 1, "elder-satisfaction", filters)
                    figures[f"{name}_s"] = round(time.perf_counter() - started, 3)
                    figures[f"{name}_groups"] = len(groups)
    figures["peak_rss_mib"] = round(peak_rss_mib(), 1)
    return figures


def main():
    """Parse the arguments, run, print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comments", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--responses", type=int, default=0)
    args = parser.parse_args()
    print(json.dumps(run(args.comments, args.seed), ensure_ascii=False))
    if args.responses:
        print(json.dumps(run_pages(args.responses, args.seed), ensure_ascii=False))


if __name__ == "__main__":
    main()
