"""Shared setup for the field-work tests: a roster, a separate DB connection, API calls."""

import uuid

from survey import roster
from survey.web import links

ROSTER_CSV = ("姓名,户号,站点,地址,电话\n张三明,A001,新华社区,新华路1号,13812341234\n"
              "李四,A002,新华社区,新华路2号,13900001111\n王五,B001,东风社区,东风路1号,\n")


def make_roster(db):
    """Two sites and three households; returns {household_no: id}."""
    links.create_site(db, "xh", "新华社区")
    links.create_site(db, "df", "东风社区")
    roster.import_roster(db, "r.csv", ROSTER_CSV.encode())
    return {row["household_no"]: row["id"] for row in roster.households(db)}


def elder_payload(household_id=None, submission_id=None, **meta):
    """A complete elder-satisfaction submission from a door-to-door visit with consent."""
    answers = {"respondent": "self", "services": ["meals"], "overall": "5", "item_attitude": "4",
               "age_band": "80-89", "living_alone": "1"}
    base = {"channel": "door", "consent": 1, "household_id": household_id, "source": "field"}
    base.update(meta)
    return {"id": submission_id or str(uuid.uuid4()), "questionnaire": "elder-satisfaction",
            "answers": answers, "meta": base}
