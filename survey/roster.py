"""Rosters (名册) of service recipients: import, masking, household links and cards.

Personal data (name, ID number, address, phone) lives only in the `households`
table. Answers never sit next to it: a response carries the household id, and no
export joins the two. Screens and exports mask names and phones (张*明,
138****1234) unless the user is granted sight of personal data.
"""

import csv
import hashlib
import io
import re

from scoring.files import FileRefused, table_rows
from survey.importer import neutralise, safe_row
from survey.phones import PhoneError, check_phone, mask_phone  # noqa: F401 (roster.check_phone is public)
from survey.storage.db import transaction
from survey.storage.field_storage import evaluation_id_or_only, site_ids_by_code_and_name
from survey.storage.responses import now_iso
from survey.web import links

# Accepted header words per column (Chinese or English, case-insensitive).
COLUMNS = {
    "name": ("姓名", "name"),
    "household_no": ("户号", "household_no", "household number", "编号"),
    "id_number": ("身份证号", "身份证", "id_number", "id"),
    "site": ("站点", "社区", "site"),
    "address": ("地址", "住址", "address"),
    "phone": ("电话", "联系电话", "手机", "phone"),
}
COLUMN_LABELS = {"name": "姓名", "household_no": "户号", "id_number": "身份证号", "site": "站点",
                 "address": "地址", "phone": "电话"}
ID_NUMBER = re.compile(r"^(\d{17}[\dXx]|\d{15})$")
HOUSEHOLD_NO = re.compile(r"^[\w-]{1,40}$")
MAX_ROWS = 20000


class RosterError(ValueError):
    """A roster file cannot be imported; `line` and `column` say where (1-based line)."""

    def __init__(self, message, line=None, column=None):
        """Keep the place next to the message."""
        where = ""
        if line is not None:
            where = f"第{line}行"
            if column:
                where += f"“{COLUMN_LABELS.get(column, column)}”列"
            where += "："
        super().__init__(where + message)
        self.line = line
        self.column = column
        self.message = message


def mask_name(name):
    """Mask a name: keep the first and last character (张三明 -> 张*明, 张三 -> 张*)."""
    name = (name or "").strip()
    if len(name) <= 1:
        return "*" if name else ""
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_id_number(id_number):
    """Mask an ID number: keep the first 3 and last 2 characters."""
    value = (id_number or "").strip()
    if len(value) <= 5:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 5) + value[-2:]


def mask_address(address):
    """Mask an address: keep its first 6 characters (the community), hide the house number."""
    value = (address or "").strip()
    return value if len(value) <= 6 else value[:6] + "…"


def for_display(household, can_see_personal_data):
    """A household row (dict) as a given user may see it: masked unless granted."""
    shown = dict(household)
    if not can_see_personal_data:
        shown["name"] = mask_name(household.get("name"))
        shown["phone"] = mask_phone(household.get("phone"))
        shown["id_number"] = mask_id_number(household.get("id_number"))
        shown["address"] = mask_address(household.get("address"))
    return shown


def _read_rows(filename, data):
    """Yield (line number, [cells]) from a CSV or XLSX file through the guarded loader.

    Encodings (UTF-8, UTF-16, GB18030), NUL bytes, workbook bombs and external links
    are all checked there, before any parsing; a refusal becomes a RosterError.
    """
    try:
        yield from table_rows(filename, data, max_rows=MAX_ROWS)
    except FileRefused as exc:
        found = re.search(r"\d+", exc.where or "")
        if found and not (exc.where or "").startswith("cell"):
            raise RosterError(f"文件被拒绝：{exc.message}", line=int(found.group())) from None
        raise RosterError(f"文件被拒绝：{exc}") from None


def _header_map(header):
    """{column key: index} from the header row; RosterError on unknown or missing columns."""
    mapping = {}
    for index, title in enumerate(header):
        word = str(title).strip().lower()
        if not word:
            continue
        key = next((k for k, words in COLUMNS.items() if word in {w.lower() for w in words}), None)
        if key is None:
            raise RosterError(f"不认识的列名“{title}”（可用：姓名、户号、身份证号、站点、地址、电话）", line=1)
        if key in mapping:
            raise RosterError(f"列“{title}”重复", line=1)
        mapping[key] = index
    for required in ("name", "site"):
        if required not in mapping:
            raise RosterError(f"缺少“{COLUMN_LABELS[required]}”列", line=1)
    if "household_no" not in mapping and "id_number" not in mapping:
        raise RosterError("需要“户号”或“身份证号”列", line=1)
    return mapping


def _household_no_from_id(id_number):
    """A stable household number derived from an ID number without revealing it."""
    return "ID" + hashlib.sha256(id_number.upper().encode()).hexdigest()[:10].upper()


def parse_roster(db, filename, data, evaluation_id=None):
    """Check a whole roster file for an evaluation (default: the only one); return the clean
    rows or raise RosterError at the first bad cell. Sites are the evaluation's own."""
    evaluation_id = evaluation_id_or_only(db, evaluation_id)
    rows = iter(_read_rows(filename, data))
    try:
        _number, header = next(rows)
    except StopIteration:
        raise RosterError("文件是空的") from None
    mapping = _header_map(header)
    sites = site_ids_by_code_and_name(db, evaluation_id)
    clean, seen, ids = [], {}, {}
    for line, cells in rows:
        values = {key: (cells[i].strip() if i < len(cells) and cells[i] is not None else "")
                  for key, i in mapping.items()}
        if not any(values.values()):
            continue
        if len(clean) >= MAX_ROWS:
            raise RosterError(f"一次最多导入 {MAX_ROWS} 行", line=line)
        row = _check_row(line, values, sites, seen)
        if row["id_number"]:
            if row["id_number"] in ids:
                raise RosterError(f"身份证号“{mask_id_number(row['id_number'])}”与第{ids[row['id_number']]}行重复"
                                  "（同一个人不能登记在两个户号下）", line, "id_number")
            ids[row["id_number"]] = line
        row["line"] = line
        clean.append(row)
    if not clean:
        raise RosterError("文件里没有数据行")
    _check_ids_against_roster(db, evaluation_id, clean)
    return clean


def _check_ids_against_roster(db, evaluation_id, rows):
    """Refuse an ID number already on the evaluation's roster under another household, naming both."""
    for row in rows:
        if not row["id_number"]:
            continue
        other = db.execute(
            "select h.household_no, s.name from households h join sites s on s.id = h.site_id"
            " where h.evaluation_id = ? and upper(h.id_number) = ? and not (h.site_id = ? and h.household_no = ?)",
            [evaluation_id, row["id_number"], row["site_id"], row["household_no"]]).fetchone()
        if other:
            raise RosterError(f"身份证号“{mask_id_number(row['id_number'])}”已在名册中登记为"
                              f"{other[1]} 户号“{other[0]}”，与本行户号“{row['household_no']}”不同"
                              "（同一个人不能登记在两个户号下）", row["line"], "id_number")


def _check_row(line, values, sites, seen):
    """Check one data row; return the households row to store."""
    name = values.get("name", "")
    if not name:
        raise RosterError("姓名不能为空", line, "name")
    if len(name) > 40:
        raise RosterError("姓名过长（最多40字）", line, "name")
    site = values.get("site", "")
    if not site:
        raise RosterError("站点不能为空", line, "site")
    if site not in sites:
        raise RosterError(f"没有站点“{site}”（请先在“站点”页添加）", line, "site")
    id_number = values.get("id_number", "").upper()
    if id_number and not ID_NUMBER.match(id_number):
        raise RosterError(f"身份证号“{mask_id_number(id_number)}”格式不对（应为18位）", line, "id_number")
    household_no = values.get("household_no", "")
    if household_no and not HOUSEHOLD_NO.match(household_no):
        raise RosterError(f"户号“{household_no}”只能含字母、数字、下划线和短横线", line, "household_no")
    if not household_no:
        if not id_number:
            raise RosterError("户号和身份证号至少填一个", line, "household_no")
        household_no = _household_no_from_id(id_number)
    phone = values.get("phone", "")
    if phone:
        try:
            phone = check_phone(phone)
        except PhoneError as exc:
            raise RosterError(str(exc), line, "phone") from None
    address = values.get("address", "")
    if len(address) > 200:
        raise RosterError("地址过长（最多200字）", line, "address")
    key = (sites[site], household_no)
    if key in seen:
        raise RosterError(f"户号“{household_no}”与第{seen[key]}行重复", line, "household_no")
    seen[key] = line
    return {"site_id": sites[site], "household_no": household_no, "name": name,
            "id_number": id_number or None, "address": address or None, "phone": phone or None}


def import_roster(db, filename, data, evaluation_id=None):
    """Import a roster file into an evaluation (default: the only one) all-or-nothing;
    return (added, updated).

    A household already on the roster (same site and household number) is updated.
    """
    evaluation_id = evaluation_id_or_only(db, evaluation_id)
    rows = parse_roster(db, filename, data, evaluation_id)
    added = updated = 0
    now = now_iso()
    with transaction(db):
        for row in rows:
            existing = db.execute("select id from households where site_id = ? and household_no = ?",
                                  [row["site_id"], row["household_no"]]).fetchone()
            if existing:
                db.execute("update households set name = ?, id_number = ?, address = ?, phone = ?"
                           " where id = ?",
                           [row["name"], row["id_number"], row["address"], row["phone"], existing[0]])
                updated += 1
            else:
                db.execute("insert into households (evaluation_id, site_id, household_no, name, id_number,"
                           " address, phone, created_at) values (?, ?, ?, ?, ?, ?, ?, ?)",
                           [evaluation_id, row["site_id"], row["household_no"], row["name"], row["id_number"],
                            row["address"], row["phone"], now])
                added += 1
    return added, updated


def households(db, site_id=None, evaluation_id=None):
    """An evaluation's roster rows (dicts) with their site's name, ordered by site and
    household number (default: the only evaluation)."""
    sql = ("select h.*, s.name as site_name, s.code as site_code from households h"
           " join sites s on s.id = h.site_id where h.evaluation_id = ?")
    params = [evaluation_id_or_only(db, evaluation_id)]
    if site_id:
        sql += " and h.site_id = ?"
        params.append(site_id)
    return list(db.query(sql + " order by s.name, h.household_no", params))


def get_household(db, household_id, evaluation_id=None):
    """One roster row of the evaluation (default: the only one) with its site, or None."""
    rows = list(db.query("select h.*, s.name as site_name, s.code as site_code from households h"
                         " join sites s on s.id = h.site_id where h.id = ? and h.evaluation_id = ?",
                         [household_id, evaluation_id_or_only(db, evaluation_id)]))
    return rows[0] if rows else None


def export_rows(db, can_see_personal_data, site_id=None, evaluation_id=None):
    """Yield the roster as spreadsheet rows (header first), masked unless granted.

    Only the roster: no answers are ever exported next to names.
    """
    yield ["站点", "户号", "姓名", "身份证号", "地址", "电话"]
    for row in households(db, site_id, evaluation_id):
        shown = for_display(row, can_see_personal_data)
        yield [neutralise(v or "") for v in (shown["site_name"], shown["household_no"], shown["name"],
                                              shown["id_number"], shown["address"], shown["phone"])]


def export_csv(db, can_see_personal_data, site_id=None, evaluation_id=None):
    """The roster export as UTF-8 CSV text with a BOM (Excel opens it correctly)."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    rows = export_rows(db, can_see_personal_data, site_id, evaluation_id)
    csv.writer(buffer).writerows(safe_row(row) for row in rows)
    return buffer.getvalue()


def household_links(db, questionnaire_id, site_id=None, evaluation_id=None):
    """Give every household of the evaluation (of a site) a one-time link for a questionnaire,
    unless it has one.

    Returns {household id: link code} for all of them.
    """
    evaluation_id = evaluation_id_or_only(db, evaluation_id)
    result = {}
    existing = db.execute("select household_id, code from links where evaluation_id = ? and questionnaire_id = ?"
                          " and household_id is not null and disabled = 0",
                          [evaluation_id, questionnaire_id]).fetchall()
    known = {household_id: code for household_id, code in existing}
    for row in households(db, site_id, evaluation_id):
        code = known.get(row["id"])
        if code is None:
            code = links.create_link(db, questionnaire_id, "household", site_id=row["site_id"],
                                     household_id=row["id"], label=f"户号 {row['household_no']}",
                                     evaluation_id=evaluation_id)
        result[row["id"]] = code
    return result
