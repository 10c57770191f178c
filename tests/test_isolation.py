"""Two evaluations side by side: nothing of the second reaches the users of the first.

Both evaluations use the same questionnaire and a site with the same code and name;
everything else of the second (ids, household names, link labels, open answers, the
indicator system's name, its count of responses, its satisfaction rate, the mixed rate
of both) is a unique string or number, so a page that leaks any of it fails. Users
hold a role in the first evaluation only. Logged in as each of its roles, and with an
API token, the test walks EVERY rule of app.url_map with its arguments filled from the
second evaluation (and the first's slug with the second's ids), plus every API endpoint.
"""

import io
import re
import zipfile

import pytest
from evaluation_builders import build

from app import create_app
from survey import questionnaires
from survey.storage import drafts, evaluations
from survey.storage.db import get_db
from survey.web import api
from survey.web.auth import PUBLIC_ENDPOINTS, create_user

PASSWORD = "correct-horse-battery"
ROLES = ("manager", "staff", "evaluator", "viewer")
# E1: 23 satisfied of 23 (rate 1.0). E2: 7 satisfied of 59 (rate 0.11864). Mixed: 30 of 82 (0.36585).
ONE = {"satisfied": 23, "unsatisfied": 0}
TWO = {"satisfied": 7, "unsatisfied": 52}
# Rule arguments the walk cannot fill from the second evaluation, with the reason.
UNFILLABLE = {
    "filename": "static files and the built-in example indicator systems are not evaluation data",
}
FORMATS = ("png", "svg", "csv", "xlsx")
# Respondent pages are public by design: anyone holding a printed code (or their own
# form's id) may answer the second evaluation, so these are exempt from the 404 rule and
# may name the evaluation's slug in their form addresses; every other marker of the
# second (household names, counts, rates, open answers of others) must still not appear.
PUBLIC_BY_DESIGN = set(PUBLIC_ENDPOINTS) - {"static", "auth.login", "health"}
# Endpoints the walk does not request, with the reason.
NOT_WALKED = {
    "auth.logout": "ends the session the walk runs in; takes no argument and shows no data",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An app with evaluations one and two, users of each role in one, and their API tokens."""
    folder = tmp_path_factory.mktemp("isolation")
    app = create_app({"TESTING": True, "SECRET_KEY": "isolation", "DATABASE": str(folder / "iso.sqlite"),
                      "BASE_URL": "https://survey.example.cn", "WTF_CSRF_ENABLED": False,
                      "RATELIMIT_ENABLED": False})
    with app.app_context():
        db = get_db()
        one = build(db, "iso-one", "第一评价项目", base=100000, marker="ALFA2468", population=500, **ONE)
        two = build(db, "iso-two", "贝塔评价项目9137", base=900000, marker="BETA7351", population=9173, **TWO)
        tokens = {}
        for role in ROLES:
            create_user(db, f"one-{role}", PASSWORD, role, f"第一{role}", evaluation_id=one.evaluation.id)
            if role != "staff":
                tokens[role] = api.create_token(db, f"one-{role}")
        # The fresh database's `default` evaluation: nobody of the first holds a role in it.
        default = evaluations.get(db, "default")
        # A questionnaire workbook uploaded in the second (a draft of the back office's authoring).
        definition = questionnaires.get(db, "elder-satisfaction").definition
        questionnaire_draft = drafts.save(db, two.evaluation.id, "two.xlsx", definition, b"PK", "two")
    return {"app": app, "one": one, "two": two, "tokens": tokens, "default": default,
            "questionnaire_draft": questionnaire_draft}


def markers(two):
    """Strings that only the second evaluation's data contains (ids as they appear in text)."""
    ids = [*two.site_ids, *two.household_ids, *two.response_ids, *two.system_ids]
    return ([str(i) for i in ids] + two.link_codes + two.submission_ids + two.draft_ids + two.texts
            + [two.evaluation.slug, two.evaluation.name, str(two.evaluation.population)])


# Rates and counts that only the second evaluation, or both mixed, would give. A count
# stands alone: not inside a token, an id, a time (15:59) or a date (2026-11-59 ...).
LEAKED_NUMBERS = [
    (r"(?<![A-Za-z0-9_.:/-])59(?![A-Za-z0-9_.:/-])", "the second's response count"),
    (r"(?<![A-Za-z0-9_.:/-])82(?![A-Za-z0-9_.:/-])", "both evaluations' response count"),
    (r"0\.1186|11\.9\s*%", "the second's satisfaction rate"),
    (r"0\.3658|36\.6\s*%", "the mixed satisfaction rate"),
]


def argument_values(world, rule, slug):
    """Every way to fill `rule`'s arguments with the second evaluation's ids (the slug given)."""
    two = world["two"]
    candidates = {
        "evaluation": [slug],
        "slug": [slug],
        "questionnaire_id": ["elder-satisfaction"],
        "code": two.link_codes,
        "system_id": [str(i) for i in two.system_ids],
        "site_id": [str(i) for i in two.site_ids],
        "household_id": [str(i) for i in two.household_ids],
        "response_id": [str(i) for i in two.response_ids[:1]],
        "submission_id": [two.submission_ids[0], two.draft_ids[0]],
        "question_id": ["overall", "suggestion"],
        "draft_id": [str(world["questionnaire_draft"])],
        "fmt": list(FORMATS),
        "kind": ["distribution", "sites", "trend"],
        "what": ["responses", "measures"],
        # The second evaluation holds no conflict; the first one's ids are all there is.
        "conflict_id": ["1"],
        "username": ["one-evaluator"],
        "user_id": ["1"],
        "id": [str(two.response_ids[0]), str(two.system_ids[0])],
    }
    missing = [arg for arg in rule.arguments if arg not in candidates and arg not in UNFILLABLE]
    if missing:
        raise LookupError(f"{rule.rule}: the isolation walk cannot fill {missing}; add them here or to UNFILLABLE")
    if any(arg in UNFILLABLE and arg not in candidates for arg in rule.arguments):
        return []
    combos = [{}]
    for arg in sorted(rule.arguments):
        combos = [{**combo, arg: value} for combo in combos for value in candidates[arg]]
    return combos


def rules(app):
    """Every rule of the app (one per rule and method) except static files."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint in NOT_WALKED:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def leaks(body, world, sent):
    """What of the second evaluation a body shows (values we sent in the URL excepted)."""
    found = [marker for marker in markers(world["two"]) if marker in body and marker not in sent]
    found += [what for pattern, what in LEAKED_NUMBERS if re.search(pattern, body)]
    return found


def readable(response):
    """A response's text: the body of text and JSON; the words of an SVG (not its path
    coordinates, where any number appears); the XML inside an XLSX; nothing of a PNG."""
    if response.mimetype.startswith("image/svg"):
        svg = response.get_data(as_text=True)
        words = re.findall(r"<(?:text|tspan|title|desc)\b[^>]*>([^<]*)<", svg)
        return " ".join(words + re.findall(r'id="([^"]*)"', svg))
    if response.mimetype.startswith(("text/", "application/json")):
        return response.get_data(as_text=True)
    if response.mimetype.endswith("spreadsheetml.sheet"):
        with zipfile.ZipFile(io.BytesIO(response.get_data())) as book:
            return "".join(book.read(name).decode("utf-8", "replace") for name in book.namelist())
    return ""


def login(app, username):
    """A client logged in as `username`."""
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302, f"login as {username}: {response.status_code}"
    return client


def fingerprint(world):
    """Every row of the second evaluation that a walk must not change. New drafts are
    allowed: the public start pages (PUBLIC_BY_DESIGN) open a form for anyone, and whoever
    holds a draft's id is its respondent and may answer on; the second's drafts must stay
    the second's (same evaluation and questionnaire) and none may be submitted."""
    with world["app"].app_context():
        db = get_db()
        two = db.execute("select id from evaluations where slug = 'iso-two'").fetchone()[0]
        rows = {table: db.execute(f"select * from {table} where evaluation_id = ? order by 1", [two]).fetchall()
                for table in ("sites", "households", "links", "responses", "indicator_systems",
                              "evaluation_members", "evaluation_questionnaires")}
        built = world["two"].draft_ids
        rows["drafts"] = db.execute(
            f"select submission_id, evaluation_id, questionnaire_id from drafts"
            f" where submission_id in ({', '.join('?' for _ in built)}) order by 1",
            built).fetchall()
        rows["evaluation"] = db.execute("select * from evaluations where id = ?", [two]).fetchall()
        return rows


def walk(world, client, headers=None, api_only=False):
    """Request every rule with the second's ids; return a list of problems found."""
    app, problems = world["app"], []
    for rule, method in rules(app):
        if api_only != rule.rule.startswith("/api/"):
            continue
        scoped = {"evaluation", "slug"} & set(rule.arguments)
        slugs = [world["two"].evaluation.slug, world["one"].evaluation.slug] if scoped else [None]
        for slug in slugs:
            try:
                combos = argument_values(world, rule, slug)
            except LookupError as exc:
                problems.append(str(exc))
                continue
            for values in combos:
                path = app.url_map.bind("localhost").build(rule.endpoint, values, method=method)
                response = client.open(path, method=method, headers=headers or {})
                sent = set(values.values())
                public = rule.endpoint in PUBLIC_BY_DESIGN
                if public:
                    sent.add(world["two"].evaluation.slug)
                if response.status_code >= 500:
                    problems.append(f"{method} {path} answers {response.status_code}")
                found = leaks(readable(response), world, sent)
                if found:
                    problems.append(f"{method} {path} ({response.status_code}) shows {found}")
                if slug == world["two"].evaluation.slug and response.status_code != 404 and not public:
                    problems.append(f"{method} {path} answers {response.status_code}, not 404")
    return problems


@pytest.mark.parametrize("role", ROLES)
def test_no_page_of_the_first_shows_the_second(world, role):
    """Logged in as each role of the first evaluation: every rule, the second's ids, nothing leaks,
    the second's scoped pages answer 404, and nothing of the second changes (POSTs included)."""
    before = fingerprint(world)
    problems = walk(world, login(world["app"], f"one-{role}"))
    assert not problems, "\n".join(problems)
    assert fingerprint(world) == before


@pytest.mark.parametrize("role", [role for role in ROLES if role != "staff"])
def test_no_api_answer_to_a_token_of_the_first_shows_the_second(world, role):
    """Every API endpoint with a token of each role of the first: nothing of the second."""
    headers = {"Authorization": f"Bearer {world['tokens'][role]}"}
    client = world["app"].test_client()
    problems = walk(world, client, headers, api_only=True)
    assert not problems, "\n".join(problems)
    listed = client.get("/api/v1/evaluations", headers=headers).json["evaluations"]
    assert [e["slug"] for e in listed] == ["iso-one"]


def test_the_first_sees_its_own_data(world):
    """The walk is not blind: the same checks find the first's own data where it belongs."""
    headers = {"Authorization": f"Bearer {world['tokens']['evaluator']}"}
    client = world["app"].test_client()
    body = client.get("/api/v1/evaluations/iso-one/measures/elder-satisfaction", headers=headers).json
    assert body["measures"]["satisfaction_rate"]["n"] == 23
    assert body["measures"]["satisfaction_rate"]["value"] == 1.0
    one_system = world["one"].system_ids[0]
    assert client.get(f"/api/v1/evaluations/iso-one/scores/{one_system}", headers=headers).status_code == 200
    # The checker itself flags the second's data when it is shown.
    two_page = login(world["app"], "one-evaluator")
    assert two_page.get("/api/v1/evaluations/iso-two/measures/elder-satisfaction").status_code == 401
    assert leaks(f"x {world['two'].texts[0]} 59 x", world, set()) == [world["two"].texts[0],
                                                                          "the second's response count"]


def test_staff_cannot_hold_an_api_token(world):
    """Staff work in the field pages: the API token is for roles that read statistics."""
    with world["app"].app_context():
        with pytest.raises(api.TokenError):
            api.create_token(get_db(), "one-staff")
