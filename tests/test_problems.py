"""survey.problems: identical and near-identical comments merged with their counts and sites."""

import difflib
import random

import pytest

from survey.problems import NEAR_RATIO, ProblemGroup, group_comments, normalise, similar


def test_the_four_ways_of_writing_one_complaint_are_one_group_of_four():
    """The issue's example: 希望送餐能准时一点 four times is one row ×4, with its sites."""
    rows = [("希望送餐能准时一点", "东湖社区"), ("希望送餐能准时一点。", "西山社区"),
            ("希望送餐能 准时一点啊", "东湖社区"), ("希望送餐能准时点", "东湖社区")]
    groups = group_comments(rows)
    assert len(groups) == 1
    group = groups[0]
    assert isinstance(group, ProblemGroup)
    assert (group.text, group.count) == ("希望送餐能准时一点", 4)
    assert group.sites == {"东湖社区": 3, "西山社区": 1}
    assert sum(group.members.values()) == 4 and "希望送餐能准时点" in group.members
    assert group.site_list() == "东湖社区 ×3、西山社区 ×1"


def test_different_complaints_stay_apart():
    """准时 and 便宜 differ in two of nine characters (ratio 0.78 < 0.8): two problems."""
    assert difflib.SequenceMatcher(None, "希望送餐能准时一点", "希望送餐能便宜一点").ratio() < NEAR_RATIO
    groups = group_comments([("希望送餐能准时一点", "A"), ("希望送餐能便宜一点", "A")])
    assert [g.count for g in groups] == [1, 1]


def test_normalise_folds_width_case_spaces_punctuation_and_particles():
    """Full-width letters and digits, spaces, punctuation and trailing 了/啊/吧 do not count."""
    assert normalise("  １２３４９热线 打不通了！！") == "12349热线打不通"
    assert normalise("Ｗｉｆｉ 信号差啊。") == "wifi信号差"
    assert normalise("设备坏了吧~") == "设备坏"
    assert normalise("。。。") == ""


def test_short_texts_merge_only_when_identical():
    """Under four characters one character is a quarter of the text: no fuzzy merge."""
    assert not similar("太贵", "太慢")
    groups = group_comments([("太贵", "A"), ("太贵！", "B"), ("太慢", "A")])
    assert sorted((g.text, g.count) for g in groups) == [("太慢", 1), ("太贵", 2)]


def test_no_comment_answers_are_left_out_unless_asked():
    """无 / 没有 / 很好 say there is nothing to report: not problems."""
    rows = [("无", "A"), ("没有。", "A"), ("很好", "B"), ("热线打不通", "B")]
    assert [g.text for g in group_comments(rows)] == ["热线打不通"]
    assert {g.text for g in group_comments(rows, keep_no_comment=True)} == {"无", "没有。", "很好", "热线打不通"}


def test_representative_is_the_most_common_wording_and_groups_are_by_count():
    """The row shows the wording most people used; the biggest problem comes first."""
    rows = [("热线经常打不通", "A")] + [("热线经常打不通。", "A")] * 3 + [("设备坏了没人修", "B")] * 2
    groups = group_comments(rows)
    assert [(g.text, g.count) for g in groups] == [("热线经常打不通。", 4), ("设备坏了没人修", 2)]


def test_rows_may_be_mappings_or_objects():
    """Dict rows and objects with .text/.site (TextRow) are read the same as pairs."""
    class Row:
        """A row with attributes."""

        def __init__(self, text, site):
            """Keep the text and site."""
            self.text, self.site = text, site

    groups = group_comments([{"text": "送餐太慢", "site": "A"}, Row("送餐太慢了", None)])
    assert groups[0].count == 2 and groups[0].sites == {"A": 1, None: 1}
    assert "（未注明）" in groups[0].site_list()


def _brute_force(keys, ratio=NEAR_RATIO):
    """The same grouping with every pair compared (no candidate filter)."""
    reps = []
    for key in keys:
        best, best_ratio = None, ratio
        for number, rep in enumerate(reps):
            if min(len(key), len(rep)) < 4 or rep == "":
                continue
            found = difflib.SequenceMatcher(None, rep, key, autojunk=False).ratio()
            if found > best_ratio or (found == best_ratio and best is None):
                best, best_ratio = number, found
        if best is None:
            reps.append(key if len(key) >= 4 else "")
    return len(reps)


@pytest.mark.parametrize("seed", range(12))
def test_candidate_filter_never_drops_a_true_match(seed):
    """On texts from a small alphabet (many near matches), the bucketed grouping finds the
    same number of groups as comparing every pair."""
    rng = random.Random(seed)
    base = ["".join(rng.choice("送餐准时热线打不通设备") for _ in range(rng.randint(4, 14))) for _ in range(40)]
    texts = []
    for text in base:
        for _ in range(rng.randint(1, 3)):
            variant = list(text)
            if rng.random() < 0.5 and len(variant) > 4:
                del variant[rng.randrange(len(variant))]
            if rng.random() < 0.3:
                variant.insert(rng.randrange(len(variant) + 1), rng.choice("好差"))
            texts.append("".join(variant))
    keys = list(dict.fromkeys(normalise(t) for t in texts))
    counts = {k: sum(1 for t in texts if normalise(t) == k) for k in keys}
    keys = [k for k in sorted(keys, key=lambda k: -counts[k]) if k]
    found = group_comments([(t, None) for t in texts], keep_no_comment=True)
    assert len(found) == _brute_force(keys)
    assert sum(g.count for g in found) == sum(1 for t in texts if normalise(t))
