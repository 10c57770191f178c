"""Hostile and careless roster files through the /manage/rosters upload (issue 11).

Crafted workbooks used to take 38-74 s of a worker's CPU before being refused and an
external link gave HTTP 500; a CSV with NUL bytes was imported and a Big5 file stored
as mojibake. Now each is refused in a sentence, in well under a second of CPU.
"""

import io
import threading
import time

import pytest
from conftest import csrf_token

from survey.web import links

from .workbooks import HOSTILE, plain_roster


@pytest.fixture
def site(db):
    """The site the crafted rosters name (code S01)."""
    return links.create_site(db, "S01", "新华社区", evaluation_id=1)


def post_roster(client, data, filename):
    """Upload a roster file on /manage/rosters; return the response."""
    page = client.get("/e/default/manage/rosters")
    return client.post("/e/default/manage/rosters", data={"csrf_token": csrf_token(page.text),
                                                "file": (io.BytesIO(data), filename)})


def households(db):
    """How many households are stored."""
    return db.execute("select count(*) from households").fetchone()[0]


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_workbook_is_refused_fast_and_health_answers(app, login, db, site, case):
    """Each crafted workbook: 400 with a sentence, under 5 s of CPU, /health answering meanwhile."""
    admin = login("admin")
    data = HOSTILE[case]()
    assert len(data) < 2 * 1024 * 1024
    health_times, stop = [], threading.Event()

    def poll_health():
        """Time /health on its own client while the upload is processed."""
        probe = app.test_client()
        while not stop.is_set() and len(health_times) < 200:
            started = time.perf_counter()
            assert probe.get("/health").status_code == 200
            health_times.append(time.perf_counter() - started)
            time.sleep(0.01)

    poller = threading.Thread(target=poll_health)
    poller.start()
    started = time.process_time()
    try:
        response = post_roster(admin, data, f"{case}.xlsx")
    finally:
        stop.set()
        poller.join(timeout=10)
    assert time.process_time() - started < 5
    assert response.status_code == 400
    assert "文件被拒绝" in response.text
    assert households(db) == 0
    assert health_times and max(health_times) < 1


def test_plain_workbook_still_imports(login, db, site):
    """The baseline the crafted files are made from is accepted."""
    response = post_roster(login("admin"), plain_roster(), "roster.xlsx")
    assert response.status_code == 302
    assert households(db) == 3


def test_csv_with_nul_bytes_is_refused(login, db, site):
    """NUL bytes (a binary file renamed .csv) are refused, naming the line."""
    data = "姓名,户号,站点\n张三,H1,S01\n李\x00四,H2,S01\n".encode()
    response = post_roster(login("admin"), data, "roster.csv")
    assert response.status_code == 400
    assert "NUL" in response.text and "第3行" in response.text
    assert households(db) == 0


def test_big5_roster_is_refused_not_stored_as_mojibake(login, db, site):
    """陳大文 in Big5 used to be stored as 朝ゅ...; now the file is refused."""
    data = "姓名,戶號,站點\n陳大文,H1,S01\n".encode("big5")
    response = post_roster(login("admin"), data, "roster.csv")
    assert response.status_code == 400
    assert "Big5" in response.text
    assert households(db) == 0


@pytest.mark.parametrize("encoding", ["gb18030", "utf-16", "utf-8-sig", "utf-8"])
def test_rosters_saved_by_chinese_excel_are_imported(login, db, site, encoding):
    """CSV from Chinese Excel (GB18030; 'Unicode text' is UTF-16 and tab-separated) imports."""
    separator = "\t" if encoding == "utf-16" else ","
    text = "\r\n".join(separator.join(row) for row in
                       [["姓名", "户号", "站点", "电话"], ["张三明", "H1", "S01", "13812341234"]]) + "\r\n"
    response = post_roster(login("admin"), text.encode(encoding), "名册.csv")
    assert response.status_code == 302, response.text[-500:]
    assert db.execute("select name from households").fetchone()[0] == "张三明"
