"""Questionnaire definitions: versioned YAML files, validated, stored, and answered.

A definition is plain data (a dict parsed from YAML). `Questionnaire` wraps it with
the logic every entry path shares: which questions are visible given earlier answers
(show-if), and how a raw answer is checked and turned into stored codes.
"""

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from scoring.appendix import strip_controls
from scoring.files import FileRefused, load_yaml, read_bytes
from survey.storage import evaluations
from survey.storage.db import transaction

QUESTION_TYPES = {"single", "multi", "scale5", "yesno", "number", "text", "note"}
# Comparison operators of a show-if leaf with `op` and of a constraint (`. >= 0`).
COMPARISONS = {"=", "!=", ">", ">=", "<", "<="}

# The 5-point satisfaction scale, coded 1-5 with 5 = 非常满意; `face` names the
# drawing shown beside the words.
SCALE5 = [
    {"value": "5", "zh": "非常满意", "en": "Very satisfied", "face": "very-happy"},
    {"value": "4", "zh": "满意", "en": "Satisfied", "face": "happy"},
    {"value": "3", "zh": "一般", "en": "Neutral", "face": "neutral"},
    {"value": "2", "zh": "不满意", "en": "Dissatisfied", "face": "sad"},
    {"value": "1", "zh": "非常不满意", "en": "Very dissatisfied", "face": "very-sad"},
]
# The same scale for agreement statements (security-feeling), 5 = 非常同意.
SCALE5_AGREE = [
    {"value": "5", "zh": "非常同意", "en": "Strongly agree", "face": "very-happy"},
    {"value": "4", "zh": "同意", "en": "Agree", "face": "happy"},
    {"value": "3", "zh": "说不清", "en": "Not sure", "face": "neutral"},
    {"value": "2", "zh": "不同意", "en": "Disagree", "face": "sad"},
    {"value": "1", "zh": "非常不同意", "en": "Strongly disagree", "face": "very-sad"},
]
YESNO = [
    {"value": "1", "zh": "是", "en": "Yes"},
    {"value": "0", "zh": "否", "en": "No"},
]
TEXT_MAX = 500
# Who answers, as the `meta: respondent_type` question codes it; a question may carry
# `wording:` for the proxy and assisted cases (self is the plain `text`).
RESPONDENT_TYPES = {"self", "proxy", "assisted"}


class QuestionnaireError(ValueError):
    """A questionnaire definition file is malformed."""


class AnswerError(ValueError):
    """An answer does not fit its question; `question_id` says which one.

    `code` names the kind of problem (required, too_many, too_long, not_a_choice,
    not_a_number, out_of_range, unknown_question) so each page can word it for its
    reader; `params` holds the figures the wording needs.
    """

    def __init__(self, question_id, message, code=None, **params):
        """Keep the question id, a plain English message, the code and its figures."""
        super().__init__(f"{question_id}: {message}")
        self.question_id = question_id
        self.message = message
        self.code = code or message
        self.params = params


class UnknownQuestionnaire(LookupError):
    """No questionnaire (or version) with that id is loaded."""


@dataclass
class Questionnaire:
    """One version of a questionnaire, ready to show and to check answers."""

    definition: dict

    @property
    def id(self):
        """The stable questionnaire id, e.g. `elder-satisfaction`."""
        return self.definition["id"]

    @property
    def version(self):
        """The version number stored with every answer."""
        return self.definition["version"]

    @property
    def questions(self):
        """All questions in order."""
        return self.definition["questions"]

    def question(self, question_id):
        """Return the question with this id, or None."""
        return next((q for q in self.questions if q["id"] == question_id), None)

    def text(self, key, locale="zh"):
        """A localised top-level text such as `title` or `intro`."""
        value = self.definition.get(key) or {}
        return value.get(locale) or value.get("zh", "")

    def choices(self, question):
        """The choices of a question, including the implicit ones of scale5 and yesno."""
        if question["type"] in ("scale5", "yesno"):
            if question["type"] == "yesno":
                base = YESNO
            else:
                base = SCALE5_AGREE if question.get("scale") == "agree" else SCALE5
            # "您知道…吗" is answered 知道/不知道, not 是/否: `labels` rewords the
            # choices by their stored codes (1, 0; or 1-5 of a scale), which stay the same.
            labels = {str(code): words for code, words in (question.get("labels") or {}).items()}
            return [dict(choice, **labels.get(choice["value"], {})) for choice in base]
        if question["type"] == "note":
            return []
        return question.get("choices", [])

    def question_text(self, question, locale="zh", respondent_type=None):
        """The words of a question for who is answering (`wording:` per respondent type).

        A relative answering for an elder (代答) is asked about the elder, not about
        themselves; without a wording for that respondent type the plain text is used.
        """
        wording = (question.get("wording") or {}).get(respondent_type) or {}
        text = question["text"]
        return wording.get(locale) or wording.get("zh") or text.get(locale) or text["zh"]

    def respondent_type(self, answers, meta=None):
        """Who is answering (self/proxy/assisted): the answer to the `meta: respondent_type`
        question, else what the form's meta says."""
        for question in self.questions:
            if question.get("meta") == "respondent_type" and question["id"] in answers:
                return answers[question["id"]]
        return (meta or {}).get("respondent_type")

    @property
    def respondent_question(self):
        """The question that asks who is answering (`meta: respondent_type`), or None."""
        return next((q for q in self.questions if q.get("meta") == "respondent_type"), None)

    @property
    def minutes(self):
        """About how many minutes the questionnaire takes (`minutes:` in the file)."""
        return self.definition.get("minutes")

    def progress(self, answers, question_id):
        """(position, total) of a question, where total never grows as answers come in.

        Total counts the visible questions plus those that an unanswered earlier
        question may still reveal: an elder told 共 13 题 may then see 共 9 题, never
        共 9 题 turning into 共 13 题 half way.
        A note (no answer) is not counted: its position is None.
        """
        visible = [q for q in self.visible_questions(answers) if q["type"] != "note"]
        ids = [q["id"] for q in visible]
        position = ids.index(question_id) + 1 if question_id in ids else None
        pending = 0
        for question in self.questions:
            rule = question.get("show_if")
            if rule and question["type"] != "note" and not self.is_visible(question, answers) \
                    and any(ref not in answers for ref in rule_questions(rule)):
                pending += 1
        return position, len(visible) + pending

    def may_follow(self, answers, question_id):
        """Whether a question after `question_id`, hidden now, may still be shown: its show-if
        reads a question not answered yet, or this one (whose answer is about to change)."""
        ids = [q["id"] for q in self.questions]
        for question in self.questions[ids.index(question_id) + 1:]:
            rule = question.get("show_if")
            if rule and not self.is_visible(question, answers) and any(
                    ref not in answers or ref == question_id for ref in rule_questions(rule)):
                return True
        return False

    def is_visible(self, question, answers):
        """Whether a question is shown, given the answers so far (its show-if)."""
        rule = question.get("show_if")
        return not rule or rule_matches(rule, answers)

    def visible_questions(self, answers):
        """The questions shown for these answers, in order."""
        return [q for q in self.questions if self.is_visible(q, answers)]

    def parse(self, question, raw):
        """Turn a raw answer (str, number or list) into stored codes, or raise AnswerError.

        Returns None for "not answered", a list of codes for multi, else one string.
        """
        qid, qtype = question["id"], question["type"]
        values = raw if isinstance(raw, list) else ([] if raw is None else [raw])
        # Control characters are never meant (a paste from another app): drop them on the way in.
        values = [strip_controls(str(v)).strip() for v in values if v is not None]
        values = [v for v in values if v != ""]
        if not values:
            if question.get("required"):
                raise AnswerError(qid, "required")
            return None
        if qtype == "multi":
            values = self._check_choices(question, sorted(set(values)))
            # A way out such as 都没用过 cannot be ticked together with a service.
            for choice in self.choices(question):
                if choice.get("exclusive") and len(values) > 1 and str(choice["value"]) in values:
                    raise AnswerError(qid, f"'{choice['value']}' cannot be combined with other choices",
                                      "exclusive", choice=choice)
            return values
        if len(values) > 1:
            raise AnswerError(qid, "only one answer allowed", "too_many")
        value = values[0]
        if qtype == "note":
            raise AnswerError(qid, "a note takes no answer", "not_answerable")
        if qtype == "number":
            value = self._check_number(question, value)
        elif qtype == "text":
            if len(value) > question.get("max_length", TEXT_MAX):
                limit = question.get("max_length", TEXT_MAX)
                raise AnswerError(qid, f"longer than {limit} characters", "too_long", max=limit)
        else:
            value = self._check_choices(question, [value])[0]
        self._check_constraint(question, value)
        return value

    def _check_constraint(self, question, value):
        """Refuse an answer its `constraint` rejects, with the constraint message (Chinese first)."""
        rule = question.get("constraint")
        if rule is None or constraint_holds(rule, value):
            return
        words = question.get("constraint_message") or {}
        message = words.get("zh") or "不符合本题的要求"
        raise AnswerError(question["id"], f"'{value}' breaks the constraint {constraint_text(rule)}: {message}",
                          "constraint", words=words, value=value)

    def _check_choices(self, question, values):
        """Refuse any value that is not one of the question's choice codes."""
        allowed = {str(c["value"]) for c in self.choices(question)}
        for value in values:
            if value not in allowed:
                raise AnswerError(question["id"], f"'{value}' is not one of {sorted(allowed)}", "not_a_choice")
        return values

    def _check_number(self, question, value):
        """Check a number answer against the question's bounds."""
        try:
            number = float(value)
        except ValueError:
            raise AnswerError(question["id"], f"'{value}' is not a number", "not_a_number") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise AnswerError(question["id"], f"'{value}' is not a number", "not_a_number")
        if question.get("integer"):
            if not number.is_integer():
                raise AnswerError(question["id"], f"'{value}' is not a whole number", "not_an_integer")
            value = str(int(number))
        low, high = question.get("min"), question.get("max")
        if (low is not None and number < low) or (high is not None and number > high):
            raise AnswerError(question["id"], f"{value} is outside {low}..{high}", "out_of_range", low=low, high=high)
        return value

    def clean_answers(self, raw_answers, partial=False):
        """Check a whole set of answers; drop answers to hidden questions.

        Unknown question ids are refused. With `partial`, required questions may be
        missing (a draft in progress).
        """
        unknown = set(raw_answers) - {q["id"] for q in self.questions}
        if unknown:
            raise AnswerError(sorted(unknown)[0], "no such question", "unknown_question")
        clean = {}
        for question in self.questions:
            if not self.is_visible(question, clean):
                continue
            if question["type"] == "note" and raw_answers.get(question["id"]) in (None, "", []):
                continue
            raw = raw_answers.get(question["id"])
            if partial and raw in (None, "", []):
                continue
            value = self.parse(question, raw)
            if value is not None:
                clean[question["id"]] = value
        return clean

    def meta_from_answers(self, answers):
        """Respondent facts that questions carry (`meta:`), e.g. respondent_type, age_band."""
        meta = {}
        for question in self.questions:
            key = question.get("meta")
            if key and question["id"] in answers:
                meta[key] = answers[question["id"]]
        return meta


def rule_questions(rule):
    """The question ids a show-if rule reads (a leaf, or `all`/`any`/`not` of rules)."""
    if "all" in rule or "any" in rule:
        return [ref for part in rule.get("all", rule.get("any")) for ref in rule_questions(part)]
    if "not" in rule:
        return rule_questions(rule["not"])
    return [rule["question"]]


def _compare(given, op, expected):
    """`given op expected`: numerically when the expected value is a number, else as text.

    An answer that is not a number never satisfies a numeric comparison (XLSForm compares
    an empty or textual value as NaN, which is false for every operator but !=).
    """
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        try:
            number = float(given)
        except (TypeError, ValueError):
            return op == "!="
        return {"=": number == expected, "!=": number != expected, ">": number > expected,
                ">=": number >= expected, "<": number < expected, "<=": number <= expected}[op]
    return (str(given) == str(expected)) == (op == "=")


def rule_matches(rule, answers):
    """Whether a show-if rule holds for these answers.

    Leaves: `{question, equals}` (the answer is, or for a multiple choice includes, the
    value; `equals: ""` holds while the question is unanswered), `{question, includes}`
    (selected()), `{question, in: [...]}`, `{question, op, value}` (a comparison);
    `{all: [...]}`, `{any: [...]}` and `{not: rule}` combine them. An unanswered question
    matches no leaf but `equals: ""`, so `not(...)` of a leaf on it holds (as in XLSForm,
    where ${q} != 'v' is true while q is empty).
    """
    if "all" in rule:
        return all(rule_matches(part, answers) for part in rule["all"])
    if "any" in rule:
        return any(rule_matches(part, answers) for part in rule["any"])
    if "not" in rule:
        return not rule_matches(rule["not"], answers)
    given = answers.get(rule["question"])
    if given in (None, "", []):
        return "equals" in rule and str(rule["equals"]) == ""
    given = [str(v) for v in (given if isinstance(given, list) else [given])]
    if "equals" in rule:
        return str(rule["equals"]) in given
    if "includes" in rule:
        return str(rule["includes"]) in given
    if "op" in rule:
        return len(given) == 1 and _compare(given[0], rule["op"], rule["value"])
    return any(str(v) in given for v in rule["in"])


def constraint_holds(rule, value):
    """Whether an answer (a code, a number as text, or a list of codes) meets a constraint.

    Leaves: `{op, value}` compares the answer (`. >= 0`); `{includes}` is selected(., 'v');
    `{all}`, `{any}`, `{not}` combine them.
    """
    if "all" in rule:
        return all(constraint_holds(part, value) for part in rule["all"])
    if "any" in rule:
        return any(constraint_holds(part, value) for part in rule["any"])
    if "not" in rule:
        return not constraint_holds(rule["not"], value)
    values = [str(v) for v in (value if isinstance(value, list) else [value])]
    if "includes" in rule:
        return str(rule["includes"]) in values
    return len(values) == 1 and _compare(values[0], rule["op"], rule["value"])


def _literal(value):
    """A value as an XLSForm literal: numbers bare, text in single quotes."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value) if isinstance(value, float) else str(value)
    return "'" + str(value) + "'"


def _joined(parts, word, render, nested):
    """Parts joined by and/or, in parentheses when inside another combination."""
    text = f" {word} ".join(render(part, True) for part in parts)
    return f"({text})" if nested else text


def relevant_text(rule, nested=False):
    """A show-if rule written as an XLSForm `relevant` expression (the inverse of the reader)."""
    if "all" in rule:
        return _joined(rule["all"], "and", relevant_text, nested)
    if "any" in rule:
        return _joined(rule["any"], "or", relevant_text, nested)
    if "not" in rule:
        inner = rule["not"]
        if "equals" in inner:
            return f"${{{inner['question']}}} != {_literal(inner['equals'])}"
        return f"not({relevant_text(inner)})"
    ref = f"${{{rule['question']}}}"
    if "equals" in rule:
        return f"{ref} = {_literal(rule['equals'])}"
    if "includes" in rule:
        return f"selected({ref}, {_literal(rule['includes'])})"
    if "op" in rule:
        return f"{ref} {rule['op']} {_literal(rule['value'])}"
    return _joined([{"question": rule["question"], "equals": v} for v in rule["in"]], "or",
                   relevant_text, nested)


def constraint_text(rule, nested=False):
    """A constraint written as an XLSForm expression on `.`."""
    if "all" in rule:
        return _joined(rule["all"], "and", constraint_text, nested)
    if "any" in rule:
        return _joined(rule["any"], "or", constraint_text, nested)
    if "not" in rule:
        return f"not({constraint_text(rule['not'])})"
    if "includes" in rule:
        return f"selected(., {_literal(rule['includes'])})"
    return f". {rule['op']} {_literal(rule['value'])}"


def _check_rule(rule, earlier, where, leaf_keys):
    """Refuse a malformed show-if or constraint tree (QuestionnaireError naming the question)."""
    if not isinstance(rule, dict) or not rule:
        raise QuestionnaireError(f"{where}: a rule must be a mapping")
    for key in ("all", "any"):
        if key in rule:
            if not isinstance(rule[key], list) or not rule[key] or len(rule) != 1:
                raise QuestionnaireError(f"{where}: `{key}` must be the only key, with a list of rules")
            for part in rule[key]:
                _check_rule(part, earlier, where, leaf_keys)
            return
    if "not" in rule:
        if len(rule) != 1:
            raise QuestionnaireError(f"{where}: `not` must be the only key")
        _check_rule(rule["not"], earlier, where, leaf_keys)
        return
    if earlier is not None and rule.get("question") not in earlier:
        raise QuestionnaireError(f"{where}: show_if must refer to an earlier question")
    if not set(rule) & leaf_keys:
        raise QuestionnaireError(f"{where}: a rule needs one of {sorted(leaf_keys)}")
    if "op" in rule and rule["op"] not in COMPARISONS:
        raise QuestionnaireError(f"{where}: unknown comparison '{rule['op']}'")


def validate_definition(definition, source="definition"):
    """Check the structure of a definition; raise QuestionnaireError naming the place."""
    if not isinstance(definition, dict):
        raise QuestionnaireError(f"{source}: a questionnaire must be a YAML mapping")
    for key in ("id", "version", "title", "questions"):
        if key not in definition:
            raise QuestionnaireError(f"{source}: missing '{key}'")
    if not isinstance(definition["version"], int) or definition["version"] < 1:
        raise QuestionnaireError(f"{source}: version must be a positive integer")
    if not isinstance(definition["questions"], list):
        raise QuestionnaireError(f"{source}: questions must be a list")
    seen = set()
    for position, question in enumerate(definition["questions"], 1):
        if not isinstance(question, dict):
            raise QuestionnaireError(f"{source}: question {position} must be a mapping")
        where = f"{source}: question {position} ({question.get('id', '?')})"
        if "id" not in question or question["id"] in seen:
            raise QuestionnaireError(f"{where}: missing or duplicate id")
        if question.get("type") not in QUESTION_TYPES:
            raise QuestionnaireError(f"{where}: type must be one of {sorted(QUESTION_TYPES)}")
        if not (question.get("text") or {}).get("zh"):
            raise QuestionnaireError(f"{where}: missing Chinese text")
        if question["type"] in ("single", "multi") and not question.get("choices"):
            raise QuestionnaireError(f"{where}: a choice question needs choices")
        for choice in question.get("choices") or []:
            # `{en: A, for B}` in YAML makes "for B" a key of its own and cuts the label.
            stray = set(choice) - {"value", "zh", "en", "exclusive"}
            if stray or choice.get("value") is None or not choice.get("zh"):
                raise QuestionnaireError(f"{where}: choice {choice.get('value')!r} needs a value and Chinese "
                                         f"words and no other keys (found {sorted(stray)}; quote a label "
                                         "with a comma)")
        for kind, words in (question.get("wording") or {}).items():
            if kind not in RESPONDENT_TYPES or not (words or {}).get("zh"):
                raise QuestionnaireError(f"{where}: wording must be {sorted(RESPONDENT_TYPES)}"
                                         f" with Chinese text, not '{kind}'")
        codes = {"yesno": {"1", "0"}, "scale5": {"1", "2", "3", "4", "5"}}.get(question["type"])
        if question.get("labels") and (codes is None or {str(code) for code in question["labels"]} - codes):
            raise QuestionnaireError(f"{where}: labels (codes 1 and 0, or 1-5) only apply to a yesno "
                                     "or scale5 question")
        if question["type"] == "note" and question.get("required"):
            raise QuestionnaireError(f"{where}: a note cannot be required")
        if question.get("show_if"):
            _check_rule(question["show_if"], seen, where, {"equals", "includes", "in", "op"})
        if question.get("constraint"):
            _check_rule(question["constraint"], None, where, {"op", "includes"})
        seen.add(question["id"])
    return definition


def load_all(db, directory):
    """Load every `*.yaml` definition in `directory` into the database.

    Idempotent: an unchanged file is skipped. A changed file must carry a new version
    number, since stored answers refer to the version they were given under.
    """
    results = []
    known = {row[0] for row in db.execute("select id from questionnaires").fetchall()}
    for path in sorted(Path(directory).glob("*.yaml")):
        try:
            definition = load_yaml(read_bytes(path), path.name)
        except FileRefused as exc:
            raise QuestionnaireError(f"{path.name}: {exc}") from None
        results.append(store_definition(db, validate_definition(definition, path.name)))
    evaluations.adopt_new_questionnaires(db, [qid for qid, _version, _status in results if qid not in known])
    return results


class VersionChanged(QuestionnaireError):
    """A definition differs from the stored one of the same version (answers refer to that one)."""


def definition_sha256(definition):
    """The sha256 of a definition's canonical JSON: equal content, equal digest."""
    return hashlib.sha256(_canonical(definition).encode()).hexdigest()


def _canonical(definition):
    """The canonical JSON text a definition is stored and compared as."""
    return json.dumps(definition, ensure_ascii=False, sort_keys=True)


def store_definition(db, definition, status="published"):
    """Store one definition version; return (id, version, 'loaded'|'unchanged').

    The same content again is a no-op ('unchanged'); other content under a stored version
    number raises VersionChanged. With status "draft" (an uploaded workbook before
    publish()) the version is kept but respondents go on seeing the current published one;
    a questionnaire stored for the first time as a draft is answered nowhere until published.
    """
    text = _canonical(definition)
    digest = hashlib.sha256(text.encode()).hexdigest()
    qid, version = definition["id"], definition["version"]
    existing = db.execute(
        "select sha256 from questionnaire_versions where questionnaire_id = ? and version = ?",
        [qid, version],
    ).fetchone()
    if existing and existing[0] == digest:
        return qid, version, "unchanged"
    if existing:
        raise VersionChanged(
            f"{qid}: version {version} was edited after it was loaded (answers refer to it); "
            f"changed: give it a new version number ({version + 1}) and load it again")
    if status not in ("draft", "published"):
        raise ValueError(f"status must be draft or published, not {status!r}")
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    title = definition["title"]
    with transaction(db):
        known = db.execute("select status from questionnaires where id = ?", [qid]).fetchone()
        if known is None:
            db.execute(
                "insert into questionnaires (id, title_zh, title_en, current_version, audience, status)"
                " values (?, ?, ?, ?, ?, ?)",
                [qid, title["zh"], title.get("en", ""), version, definition.get("audience", ""), status])
        elif status == "published":
            db.execute(
                "update questionnaires set title_zh = ?, title_en = ?, audience = ?,"
                " current_version = max(current_version, ?),"
                " status = case status when 'draft' then 'published' else status end where id = ?",
                [title["zh"], title.get("en", ""), definition.get("audience", ""), version, qid])
        db.execute(
            "insert into questionnaire_versions (questionnaire_id, version, definition, sha256, loaded_at, status)"
            " values (?, ?, ?, ?, ?, ?)",
            [qid, version, text, digest, now, status],
        )
    return qid, version, "loaded"


def status(db, questionnaire_id):
    """'draft' (never published), 'published' or 'closed'; UnknownQuestionnaire if none."""
    row = db.execute("select status from questionnaires where id = ?", [questionnaire_id]).fetchone()
    if row is None:
        raise UnknownQuestionnaire(questionnaire_id)
    return row[0]


def versions(db, questionnaire_id):
    """[(version, status, sha256, loaded_at)] of a questionnaire, oldest first."""
    return [tuple(row) for row in db.execute(
        "select version, status, sha256, loaded_at from questionnaire_versions where questionnaire_id = ?"
        " order by version", [questionnaire_id]).fetchall()]


def publish(db, questionnaire_id, version):
    """Make a stored version the one respondents answer, and (re)open the questionnaire.

    A questionnaire published for the first time joins every evaluation still preparing
    or collecting, as a loaded YAML file does. Publishing a version older than the current
    published one is refused: answers already given under the newer one would go back.
    """
    state = status(db, questionnaire_id)
    row = db.execute("select status, definition from questionnaire_versions where questionnaire_id = ?"
                     " and version = ?", [questionnaire_id, version]).fetchone()
    if row is None:
        raise UnknownQuestionnaire(f"{questionnaire_id} v{version}")
    current = db.execute("select current_version from questionnaires where id = ?", [questionnaire_id]).fetchone()[0]
    if state != "draft" and version < current:
        raise QuestionnaireError(f"{questionnaire_id}: version {version} is older than the published "
                                 f"version {current}")
    title = json.loads(row[1])["title"]
    with transaction(db):
        db.execute("update questionnaire_versions set status = 'published' where questionnaire_id = ? and version = ?",
                   [questionnaire_id, version])
        db.execute("update questionnaires set current_version = ?, status = 'published', title_zh = ?,"
                   " title_en = ? where id = ?", [version, title["zh"], title.get("en", ""), questionnaire_id])
    if state == "draft":
        evaluations.adopt_new_questionnaires(db, [questionnaire_id])


def close(db, questionnaire_id):
    """Stop a questionnaire taking answers on the respondents' pages (publish() reopens it).

    Field staff's queued answers and paper imports are still taken: an interview already
    done is never lost (an evaluation's own closing stops those).
    """
    if status(db, questionnaire_id) == "draft":
        raise QuestionnaireError(f"{questionnaire_id}: a draft that was never published cannot be closed")
    with transaction(db):
        db.execute("update questionnaires set status = 'closed' where id = ?", [questionnaire_id])


def is_closed(db, questionnaire_id):
    """Whether a questionnaire was closed (respondent pages show 本次调查已结束)."""
    row = db.execute("select status from questionnaires where id = ?", [questionnaire_id]).fetchone()
    return row is not None and row[0] == "closed"


def get(db, questionnaire_id, version=None):
    """Return a Questionnaire (the current version unless one is named)."""
    if version is None:
        # The current definition in one statement (every submission asks); the two steps
        # below only to say what is missing.
        row = db.execute(
            "select v.definition from questionnaires q join questionnaire_versions v"
            " on v.questionnaire_id = q.id and v.version = q.current_version where q.id = ?",
            [questionnaire_id]).fetchone()
        if row is not None:
            return _parsed(row[0])
        row = db.execute(
            "select current_version from questionnaires where id = ?", [questionnaire_id]
        ).fetchone()
        if row is None:
            raise UnknownQuestionnaire(questionnaire_id)
        version = row[0]
    row = db.execute(
        "select definition from questionnaire_versions where questionnaire_id = ? and version = ?",
        [questionnaire_id, version],
    ).fetchone()
    if row is None:
        raise UnknownQuestionnaire(f"{questionnaire_id} v{version}")
    return _parsed(row[0])


@functools.lru_cache(maxsize=256)
def _parsed(definition_text):
    """The Questionnaire of a stored definition, parsed once per process.

    Keyed by the stored text itself, so a changed definition is parsed afresh; a stored
    version never changes, and callers only read it. Every submission used to re-parse
    its questionnaire's JSON (a few per cent of a submission's time under load).
    """
    return Questionnaire(json.loads(definition_text))


def list_current(db):
    """All published questionnaires (id, titles, current version, status), closed ones included."""
    return list(db.query("select * from questionnaires where status != 'draft' order by id"))


def list_all(db):
    """Every questionnaire with its current version, status, latest stored version and its
    number of stored responses (all versions, all evaluations)."""
    return list(db.query(
        "select q.id, q.title_zh, q.title_en, q.current_version, q.status,"
        " (select max(version) from questionnaire_versions v where v.questionnaire_id = q.id) as latest_version,"
        " (select count(*) from responses r where r.questionnaire_id = q.id) as responses"
        " from questionnaires q order by q.id"))
