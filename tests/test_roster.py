"""Roster import (CSV and XLSX, all-or-nothing, errors naming line and column) and masking."""

import io

import pytest
from conftest import csrf_token
from openpyxl import Workbook

from survey import roster
from survey.web import links

HEADER = "姓名,户号,站点,地址,电话\n"


@pytest.fixture
def sites(db):
    """Two sites, by code: xh (新华社区) and df (东风社区)."""
    return {"xh": links.create_site(db, "xh", "新华社区"), "df": links.create_site(db, "df", "东风社区")}


def csv_bytes(text):
    """A CSV file as an office would save it (UTF-8 with BOM)."""
    return ("\ufeff" + text).encode("utf-8")


def test_masks():
    assert roster.mask_name("张三明") == "张*明"
    assert roster.mask_name("张三") == "张*"
    assert roster.mask_name("欧阳小明") == "欧**明"
    assert roster.mask_phone("13812341234") == "138****1234"
    assert roster.mask_id_number("110101194001011234") == "110*************34"


def test_csv_import_stores_households(db, sites):
    data = csv_bytes(HEADER + "张三明,A001,新华社区,新华路1号,13812341234\n李四,A002,xh,新华路2号,\n"
                     "王五,B001,东风社区,,139 0000 1111\n")
    assert roster.import_roster(db, "名册.csv", data) == (3, 0)
    rows = {r["household_no"]: r for r in roster.households(db)}
    assert rows["A001"]["name"] == "张三明" and rows["A001"]["site_id"] == sites["xh"]
    assert rows["B001"]["phone"] == "13900001111" and rows["B001"]["site_id"] == sites["df"]
    # A second import of the same households updates them, never duplicates.
    assert roster.import_roster(db, "名册.csv", csv_bytes(HEADER + "张三明,A001,新华社区,新华路9号,\n")) == (0, 1)
    assert db.execute("select count(*) from households").fetchone()[0] == 3
    assert roster.get_household(db, rows["A001"]["id"])["address"] == "新华路9号"


def test_xlsx_import_keeps_phone_digits(db, sites):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["姓名", "身份证号", "站点", "电话"])
    sheet.append(["赵六", "11010119400101123X", "新华社区", 13812341234])
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert roster.import_roster(db, "roster.xlsx", buffer.getvalue()) == (1, 0)
    row = roster.households(db)[0]
    assert row["phone"] == "13812341234"
    assert row["household_no"].startswith("ID") and "1101011940" not in row["household_no"]


@pytest.mark.parametrize("body, line, column, words", [
    ("张三明,A001,新华社区,,13812341234\n,A002,新华社区,,\n", 3, "name", "姓名不能为空"),
    ("张三明,A001,新华社区,,13812341234\n李四,A002,火星社区,,\n", 3, "site", "火星社区"),
    ("张三明,A001,新华社区,,12345\n", 2, "phone", "不是11位手机号"),
    ("张三明,A001,新华社区,,\n李四,A001,新华社区,,\n", 3, "household_no", "与第2行重复"),
    ("张三明,,新华社区,,\n", 2, "household_no", "至少填一个"),
])
def test_bad_row_names_line_and_column_and_imports_nothing(db, sites, body, line, column, words):
    with pytest.raises(roster.RosterError) as caught:
        roster.import_roster(db, "名册.csv", csv_bytes(HEADER + "王五,A000,新华社区,,\n" + body))
    error = caught.value
    assert (error.line, error.column) == (line + 1, column)
    assert f"第{line + 1}行" in str(error) and roster.COLUMN_LABELS[column] in str(error)
    assert words.replace("第2行", "第3行") in str(error)
    assert db.execute("select count(*) from households").fetchone()[0] == 0


def test_unknown_header_is_refused(db, sites):
    with pytest.raises(roster.RosterError, match="第1行.*年龄"):
        roster.import_roster(db, "名册.csv", csv_bytes("姓名,户号,站点,年龄\n张三,A1,新华社区,80\n"))


def test_import_page_and_masking_on_screen_and_export(app, login, sites, db):
    admin = login("admin")
    page = admin.get("/e/default/manage/rosters")
    bad = admin.post("/e/default/manage/rosters", data={
        "csrf_token": csrf_token(page.text),
        "file": (io.BytesIO(csv_bytes(HEADER + "张三明,A001,新华社区,,\n李四,A002,新华社区,,abc\n")), "名册.csv")})
    assert bad.status_code == 400
    assert "第3行“电话”列" in bad.text and db.execute("select count(*) from households").fetchone()[0] == 0
    good = admin.post("/e/default/manage/rosters", data={
        "csrf_token": csrf_token(page.text),
        "file": (io.BytesIO(csv_bytes(HEADER + "张三明,A001,新华社区,新华路1号,13812341234\n")), "名册.csv")})
    assert good.status_code == 302
    assert "张三明" in admin.get("/e/default/manage/rosters").text  # admins see personal data
    actions = [r[0] for r in db.execute("select action from audit_log").fetchall()]
    assert "roster_import_refused" in actions and "roster_imported" in actions
    admin.post("/logout", data={"csrf_token": csrf_token(admin.get("/e/default/manage/").text)})

    staff = login("staff")
    listing = staff.get("/e/default/field/")
    assert "张*明" in listing.text and "138****1234" in listing.text
    assert "张三明" not in listing.text and "13812341234" not in listing.text


def test_export_masked_unless_granted(db, sites):
    roster.import_roster(db, "r.csv", csv_bytes(HEADER + "张三明,A001,新华社区,新华路1号,13812341234\n"))
    masked = roster.export_csv(db, can_see_personal_data=False)
    assert "张*明" in masked and "138****1234" in masked and "张三明" not in masked
    full = roster.export_csv(db, can_see_personal_data=True)
    assert "张三明" in full and "13812341234" in full


def test_roster_export_route_masks_for_users_without_grant(app, login, sites, db):
    roster.import_roster(db, "r.csv", csv_bytes(HEADER + "张三明,A001,新华社区,新华路1号,13812341234\n"))
    exported = login("admin").get("/e/default/manage/rosters/export.csv")
    assert exported.status_code == 200 and "张三明" in exported.text
    assert db.execute("select count(*) from audit_log where action = 'roster_exported'").fetchone()[0] == 1


def test_household_cards_one_time_links(login, sites, db):
    roster.import_roster(db, "r.csv", csv_bytes(HEADER + "张三明,A001,新华社区,,\n李四,A002,新华社区,,\n"))
    page = login("admin").get("/e/default/manage/rosters/cards?q=security-feeling")
    assert page.status_code == 200
    codes = db.execute("select code, household_id, single_use, site_id from links"
                       " where household_id is not null").fetchall()
    assert len(codes) == 2 and all(row[2] == 1 and row[3] == sites["xh"] for row in codes)
    assert all(f"/s/{row[0]}/qr.svg" in page.text for row in codes)
    assert "张*明" in page.text and "张三明" not in page.text  # a card never shows a full name
    # Asking again reuses the links.
    login("admin").get("/e/default/manage/rosters/cards?q=security-feeling")
    assert db.execute("select count(*) from links where household_id is not null").fetchone()[0] == 2


def test_malformed_csv_is_a_roster_error(db, sites):
    with pytest.raises(roster.RosterError, match="第2行.*CSV"):
        roster.import_roster(db, "r.csv", csv_bytes(HEADER + '张三明,"A001' + "x" * 140000 + "\n"))
    assert db.execute("select count(*) from households").fetchone()[0] == 0
