"""Builders of whole evaluations for the isolation, API and evaluations tests.

Rows are inserted with plain SQL naming every column, ids included, so that each
evaluation's ids, names and counts are known to the test and can be made unique
strings (a check that looks for them must be able to fail). The answer tallies follow
by their triggers, as for responses stored by the app.
"""

import hashlib
import json
from dataclasses import dataclass, field

from survey.storage import evaluations
from survey.storage.db import transaction

QUESTIONNAIRE = "elder-satisfaction"
NOW = "2024-09-02T09:00:00+00:00"

# A system whose satisfaction leaf reads the evaluation's own elder-satisfaction responses.
SURVEY_SYSTEM = """
project: {project}
period: "2024"
indicators:
  - name: 产出
    weight: 90
    rule: judged
    score: 90
    reason: 测试用
  - name: 满意度
    weight: 10
    children:
      - name: 老年人满意度
        weight: 10
        rule: rate
        full_at: 0.9
        source: {{survey: elder-satisfaction, measure: satisfaction_rate}}
"""


@dataclass
class Built:
    """What was stored for one evaluation: its row and the ids, codes and texts of its data."""

    evaluation: evaluations.Evaluation
    site_ids: list = field(default_factory=list)
    site_codes: list = field(default_factory=list)
    household_ids: list = field(default_factory=list)
    link_codes: list = field(default_factory=list)
    response_ids: list = field(default_factory=list)
    submission_ids: list = field(default_factory=list)
    draft_ids: list = field(default_factory=list)
    system_ids: list = field(default_factory=list)
    texts: list = field(default_factory=list)


def build(db, slug, name, *, base, satisfied, unsatisfied, site=("CY01", "朝阳社区"), marker,
          project=None, population=None):
    """An evaluation using elder-satisfaction with one site, two roster households, a tracked
    link, a draft, an indicator system and `satisfied` + `unsatisfied` responses.

    `base` (e.g. 900000) offsets every id; `marker` (e.g. 'BETA7351') makes every name,
    household, label, open answer and audit entry of this evaluation unique to it.
    """
    evaluation = evaluations.create(db, slug, name, project=project or f"{marker}项目", population=population,
                                    questionnaires=[QUESTIONNAIRE])
    built = Built(evaluation)
    eid = evaluation.id
    version = db.execute("select current_version from questionnaires where id = ?", [QUESTIONNAIRE]).fetchone()[0]
    with transaction(db):
        site_id = base + 1
        db.execute("insert into sites (id, code, name, kind, population, evaluation_id) values (?, ?, ?, '社区', ?, ?)",
                   [site_id, site[0], site[1], population, eid])
        built.site_ids.append(site_id)
        built.site_codes.append(site[0])
        for n in (1, 2):
            household_id = base + 10 + n
            db.execute("insert into households (id, site_id, household_no, name, address, phone, created_at,"
                       " evaluation_id) values (?, ?, ?, ?, ?, ?, ?, ?)",
                       [household_id, site_id, f"{marker}-H{n}", f"{marker}户主{n}", f"{marker}路{n}号",
                        f"139{base + n:08d}"[:11], NOW, eid])
            built.household_ids.append(household_id)
            built.texts += [f"{marker}户主{n}", f"{marker}路{n}号"]
        code = f"{marker[:4]}{base // 1000}K"
        db.execute("insert into links (code, questionnaire_id, site_id, channel, label, household_id, single_use,"
                   " disabled, created_at, evaluation_id) values (?, ?, ?, 'household', ?, ?, 1, 0, ?, ?)",
                   [code, QUESTIONNAIRE, site_id, f"{marker}海报", built.household_ids[0], NOW, eid])
        built.link_codes.append(code)
        built.texts.append(f"{marker}海报")
        answers = ["5"] * satisfied + ["2"] * unsatisfied
        for n, overall in enumerate(answers, start=1):
            response_id = base + 100 + n
            submission_id = f"{marker.lower()}-sub-{n:04d}"
            db.execute(
                "insert into responses (id, submission_id, questionnaire_id, questionnaire_version, site_id, channel,"
                " respondent_type, source, age_band, living_alone, started_at, submitted_at, received_at, duration_s,"
                " excluded, evaluation_id) values (?, ?, ?, ?, ?, 'qr', 'self', 'web', '80-89', 1, ?, ?, ?, 240, 0, ?)",
                [response_id, submission_id, QUESTIONNAIRE, version, site_id, NOW, _at(n), _at(n), eid])
            for question_id, value in (("respondent", "self"), ("overall", overall),
                                       ("suggestion", f"{marker}意见{n}")):
                db.execute("insert into answers (response_id, question_id, value) values (?, ?, ?)",
                           [response_id, question_id, value])
            built.response_ids.append(response_id)
            built.submission_ids.append(submission_id)
        built.texts.append(f"{marker}意见")
        draft = f"{marker.lower()}-draft-0001"
        db.execute("insert into drafts (submission_id, questionnaire_id, questionnaire_version, answers, meta,"
                   " started_at, updated_at, evaluation_id) values (?, ?, ?, ?, ?, ?, ?, ?)",
                   [draft, QUESTIONNAIRE, version, json.dumps({"overall": "5"}), json.dumps({"channel": "qr"}),
                    NOW, NOW, eid])
        built.draft_ids.append(draft)
        system_id = base + 7
        yaml_text = SURVEY_SYSTEM.format(project=f"{marker}体系项目")
        db.execute("insert into indicator_systems (id, name, filename, yaml, sha256, uploaded_by, uploaded_at,"
                   " evaluation_id) values (?, ?, ?, ?, ?, 'test', ?, ?)",
                   [system_id, f"{marker}体系", f"{marker.lower()}.yaml", yaml_text,
                    hashlib.sha256(yaml_text.encode()).hexdigest(), NOW, eid])
        built.system_ids.append(system_id)
        built.texts += [f"{marker}体系", f"{marker}项目"]
        db.execute("insert into audit_log (at, user, action, detail, evaluation_id) values (?, 'test', 'built', ?, ?)",
                   [NOW, f"{marker}审计", eid])
        built.texts.append(f"{marker}审计")
    return built


def _at(n):
    """The submission time of the n-th response: one a minute from 2024-09-02 10:00 UTC."""
    return f"2024-09-02T{10 + n // 60:02d}:{n % 60:02d}:00+00:00"
