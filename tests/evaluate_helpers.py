"""Builders of constructed survey data for the evaluator, quality, export and API tests."""

import uuid
from datetime import datetime, timedelta, timezone

from survey import questionnaires
from survey.storage import responses
from survey.web import links

BASE = datetime(2024, 9, 2, 9, 0, tzinfo=timezone.utc)


def elder(overall="4", items=("4", "5", "4"), respondent="self", **extra):
    """Elder-satisfaction answers: `items` fill attitude, timeliness, professionalism (and device items)."""
    names = ["item_attitude", "item_timeliness", "item_professionalism", "item_device_ease",
             "item_fault_response", "item_repair"]
    services = ["meals"] if len(items) <= 3 else ["emergency_call"]
    answers = {"respondent": respondent, "services": services, "overall": overall}
    answers.update(dict(zip(names, items, strict=False)))
    answers.update(extra)
    return answers


class Maker:
    """Stores responses one by one with controlled times, sites, devices and households."""

    def __init__(self, db, evaluation_id=1):
        """Start at BASE; every response is 10 minutes after the previous one by default.
        Everything goes to one evaluation (1: `default`)."""
        self.db = db
        self.evaluation_id = evaluation_id
        self.count = 0
        self.moment = BASE

    def site(self, code, name, population=None):
        """A site; returns its id."""
        return links.create_site(self.db, code, name, population=population, evaluation_id=self.evaluation_id)

    def household(self, site_id, number):
        """A roster household; returns its id."""
        cursor = self.db.execute(
            "insert into households (site_id, household_no, name, created_at, evaluation_id) values (?, ?, ?, ?, ?)",
            [site_id, number, f"户{number}", responses.now_iso(), self.evaluation_id])
        self.db.conn.commit()
        return cursor.lastrowid

    def add(self, answers, questionnaire_id="elder-satisfaction", duration=200, gap=timedelta(minutes=10),
            at=None, **meta):
        """Store one response; returns its id."""
        self.count += 1
        self.moment = at or (self.moment + gap)
        meta.setdefault("channel", "qr")
        meta.setdefault("evaluation_id", self.evaluation_id)
        meta["submitted_at"] = self.moment.isoformat()
        if duration is not None:
            meta["started_at"] = (self.moment - timedelta(seconds=duration)).isoformat()
        questionnaire = questionnaires.get(self.db, questionnaire_id)
        response_id, _created = responses.record(self.db, questionnaire, f"test-{uuid.uuid4()}", answers, meta)
        return response_id


def drop_one_response_per_household_index(db):
    """Allow a second response per household, as in a database made before that index existed."""
    db.execute("drop index if exists responses_one_per_household")
