"""Demo data so a newcomer sees something real: sites, tracked links, responses."""

import random
from datetime import datetime, timedelta, timezone

from survey import questionnaires
from survey.roster import import_roster
from survey.storage import evaluations, responses
from survey.web import links
from survey.web.auth import create_user

DEMO_SITES = [
    ("xinhua", "新华社区", 180), ("dongfeng", "东风社区", 150), ("hexi", "河西村", 120),
]
# Share of answers 5..1 for each demo site: one site does visibly worse.
SCALE_WEIGHTS = {"xinhua": [45, 42, 9, 3, 1], "dongfeng": [38, 44, 12, 4, 2], "hexi": [25, 40, 22, 9, 4]}


def _scale(rng, site_code):
    """A 5-point answer drawn from the site's demo distribution."""
    return str(rng.choices(["5", "4", "3", "2", "1"], weights=SCALE_WEIGHTS[site_code])[0])


def _elder_answers(rng, site_code):
    """A plausible elder-satisfaction response."""
    services = sorted(rng.sample(["meals", "cleaning", "medical", "emergency_call", "home_care",
                                  "activities", "hotline"], k=rng.randint(1, 3)))
    answers = {"respondent": rng.choices(["self", "proxy", "assisted"], [60, 25, 15])[0],
               "services": services, "overall": _scale(rng, site_code),
               "item_attitude": _scale(rng, site_code), "item_timeliness": _scale(rng, site_code),
               "item_professionalism": _scale(rng, site_code),
               "age_band": rng.choice(["60-69", "70-79", "80-89", "90+"]),
               "living_alone": rng.choice(["0", "1"])}
    if "emergency_call" in services:
        answers.update(item_device_ease=_scale(rng, site_code), item_fault_response=_scale(rng, "hexi"),
                       item_repair=_scale(rng, site_code))
    if "hotline" in services:
        answers["hotline_unanswered"] = rng.choices(["1", "0"], [8, 92])[0]
    if rng.random() < 0.15:
        answers["suggestion"] = rng.choice(["希望送餐能准时一点", "设备坏了报修好几天才来人", "服务人员态度很好，谢谢",
                                            "打热线有时没人接", "希望多组织些活动"])
    return answers


def _public_answers(rng, site_code):
    """A plausible public-awareness response."""
    knows = rng.choices(["1", "0"], [90, 10])[0]
    answers = {"knows_hotline": knows, "knows_services": rng.choices(["1", "0"], [88, 12])[0],
               "wants_info_no_channel": rng.choices(["1", "0"], [10, 90])[0],
               "satisfaction": _scale(rng, site_code)}
    if knows == "1":
        answers["heard_from"] = sorted(rng.sample(["community", "poster", "tv_radio", "online", "family"], k=2))
    return answers


def _demo_code(evaluation, site_code, questionnaire_id):
    """The demo link code of a site and questionnaire: link codes (and so the demo's submission
    ids) are unique across evaluations, so each evaluation but the first gets its id appended."""
    code = f"{site_code[:3]}{questionnaire_id[:3]}"
    return code if evaluation.id == 1 else f"{code}{evaluation.id}"


def load_demo(db, evaluation, seed=2024, per_site=40):
    """Create demo sites, links and responses in an evaluation; idempotent (fixed submission ids)."""
    rng = random.Random(seed)
    start = datetime(2024, 9, 1, tzinfo=timezone.utc)
    created = 0
    for site_code, site_name, population in DEMO_SITES:
        site_id = links.create_site(db, site_code, site_name, population=population, evaluation_id=evaluation.id)
        for qid, make in (("elder-satisfaction", _elder_answers), ("public-awareness", _public_answers)):
            if not evaluations.uses(db, evaluation.id, qid):
                continue
            questionnaire = questionnaires.get(db, qid)
            code = _demo_code(evaluation, site_code, qid)
            if links.get_link(db, code) is None:
                links.create_link(db, qid, "poster", site_id=site_id, label=f"{site_name}公告栏", code=code,
                                  evaluation_id=evaluation.id)
            for index in range(per_site):
                submitted = start + timedelta(days=rng.randint(0, 89), minutes=rng.randint(0, 600))
                meta = {"evaluation_id": evaluation.id, "link_code": code, "site_id": site_id, "channel": "poster",
                        "started_at": (submitted - timedelta(seconds=rng.randint(90, 400))).isoformat(),
                        "submitted_at": submitted.isoformat()}
                _rid, new = responses.record(db, questionnaire, f"demo-{code}-{index:04d}",
                                             make(rng, site_code), meta)
                created += new
    return created


DEMO_PASSWORD = "demo-password"
SURNAMES = "王李张刘陈杨赵黄周吴"
GIVEN = ["秀英", "桂兰", "建国", "玉兰", "德明", "淑芬", "志强", "凤英", "国华", "春梅"]


def load_demo_roster(db, evaluation, per_site=10):
    """A small fictitious roster per demo site of an evaluation (names and phones invented)."""
    lines = ["姓名,户号,站点,地址,电话"]
    for site_code, site_name, _population in DEMO_SITES:
        for index in range(per_site):
            name = SURNAMES[index % 10] + GIVEN[(index * 3 + len(site_code)) % 10]
            lines.append(f"{name},{site_code}-{index + 1:03d},{site_code},{site_name}{index + 1}号楼,"
                         f"1380000{len(site_code):02d}{index:02d}")
    return import_roster(db, "demo-roster.csv", ("\n".join(lines) + "\n").encode("utf-8"),
                         evaluation_id=evaluation.id)


def load_demo_users(db, evaluation):
    """One demo account per role (password DEMO_PASSWORD), with its role in `evaluation`;
    never for production. An account that exists already is given its role there."""
    made = []
    for username, role, name in (("admin", "admin", "演示管理员"), ("staff", "staff", "演示调查员"),
                                 ("evaluator", "evaluator", "演示评价组")):
        row = db.execute("select id from users where username = ?", [username]).fetchone()
        if row is None:
            create_user(db, username, DEMO_PASSWORD, role, name, evaluation_id=evaluation.id)
            made.append(username)
        elif role != "admin":
            evaluations.grant(db, row[0], evaluation.id, role, granted_by="demo")
    return made
