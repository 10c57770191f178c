"""One guarded loader for every file users hand in: YAML, CSV (any delimiter) and XLSX.

Indicator systems (the `score` command and the /scores/ upload), questionnaire
definitions, rosters and paper-answer imports all come through here, so a hostile or
careless file is refused the same way everywhere: in a sentence naming the line or
cell, with no traceback, no hang and bounded memory, before the real parser sees it.

- YAML: a size cap; the event stream (libyaml, no recursion) is scanned for nesting
  depth and alias count before anything is composed; the composed graph is then walked
  once, iteratively, counting the nodes an alias expansion would produce, so a 500-byte
  "billion laughs" file and a self-referencing alias are refused in milliseconds.
- Text: UTF-8 (with or without BOM), UTF-16 (with BOM) and GB18030/GBK, which is what
  Chinese Excel saves. GB18030 decodes almost any byte string, so a Big5 or Shift-JIS
  file would turn into mojibake rather than fail; text decoded that way is refused when
  it holds characters no Chinese roster contains (kana, Cyrillic, box drawing, private
  use) or mostly characters outside GB2312. NUL bytes are refused.
- XLSX: the zip's central directory is inspected before openpyxl parses anything:
  member count, declared uncompressed sizes (zipfile never inflates past them),
  compression ratio, sharedStrings size, external links and the first sheet's declared
  <dimension> (openpyxl's read-only mode pads every row up to it).

No Flask here: `scoring/` stays pure Python and the CLI uses the same code.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 2 * 1024 * 1024  # the upload limit (MAX_CONTENT_LENGTH)
YAML_MAX_DEPTH = 40
YAML_MAX_ALIASES = 200
YAML_MAX_NODES = 200_000  # after alias expansion
XLSX_MAX_MEMBERS = 500
XLSX_MAX_TOTAL = 64 * 1024 * 1024  # declared uncompressed bytes of all members
XLSX_MAX_MEMBER = 48 * 1024 * 1024
XLSX_MAX_SHARED_STRINGS = 16 * 1024 * 1024
XLSX_MAX_RATIO = 120  # real workbooks compress 5-30x; deflate bombs 1000x
XLSX_MAX_ROWS = 50_000
XLSX_MAX_COLUMNS = 200
# openpyxl parses about 100-250k cells per second of CPU here; the row cap alone does not
# bound the work (20k rows of 165 cells fit in a 2 MiB upload), so cells are counted
# from the raw sheet XML before openpyxl starts.
XLSX_MAX_CELLS = 500_000
_CELL_TAG = re.compile(rb"<(?:\w+:)?c[\s>/]")
MAX_CELL_CHARS = 10_000
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# Characters a Big5 / Shift-JIS / EUC-KR file shows when decoded as GB18030.
_MOJIBAKE = re.compile("[\u0370-\u04ff\u2500-\u257f\u3040-\u30ff\u3100-\u312f"
                       "\uac00-\ud7af\ue000-\uf8ff\ufe10-\ufe6f]")
_CJK = re.compile("[\u4e00-\u9fff]")
_CELL = re.compile(r"([A-Z]{1,3})(\d+)")


class FileRefused(ValueError):
    """A file handed in is refused; the message says why and where (line, cell or node)."""

    def __init__(self, message: str, where: str | None = None) -> None:
        """Keep the place (e.g. 'line 12', 'cell B7', 'node 决策 / 项目立项') next to the message."""
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        self.message = message


def suggest(key: str, allowed: Any) -> str:
    """' (did you mean `full_at`?)' for a misspelt key, or '' when nothing is close."""
    close = get_close_matches(str(key), sorted(allowed), n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def check_keys(mapping: Any, allowed: Any, where: str) -> None:
    """Refuse a mapping key that is not in ``allowed``, suggesting the closest one."""
    for key in mapping:
        if key not in allowed:
            raise FileRefused(f"unknown key `{key}`{suggest(key, allowed)}; "
                              f"allowed: {', '.join(sorted(allowed))}", where)


def read_bytes(path: Path | str, limit: int = MAX_BYTES) -> bytes:
    """Read at most ``limit`` bytes of a file; refuse a bigger or unreadable one."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise FileRefused(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise FileRefused(f"{path} is larger than {limit // 1024} KiB")
    return data


# --- text ------------------------------------------------------------------------------


def decode_text(data: bytes, limit: int = MAX_BYTES) -> str:
    """Decode UTF-8 (BOM optional), UTF-16 (with BOM) or GB18030; refuse anything else."""
    if len(data) > limit:
        raise FileRefused(f"the file is larger than {limit // 1024} KiB")
    if data.startswith(UTF16_BOMS):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise FileRefused(f"broken UTF-16 text at byte {exc.start}") from None
        return _no_nul(text)
    if b"\x00" in data:
        line = data[:data.index(b"\x00")].count(b"\n") + 1
        raise FileRefused("the file contains NUL bytes (a binary file, or UTF-16 without a BOM); "
                          "save it as CSV UTF-8", f"line {line}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as utf8_error:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise FileRefused(f"the file is neither UTF-8 nor GB18030/GBK text (bad byte at "
                              f"{utf8_error.start}); save it as CSV UTF-8") from None
    _refuse_mojibake(text)
    return text


def _no_nul(text: str) -> str:
    """Refuse decoded text with NUL characters, naming the line."""
    if "\x00" in text:
        raise FileRefused("the file contains NUL characters",
                          f"line {text[:text.index(chr(0))].count(chr(10)) + 1}")
    return text


def _refuse_mojibake(text: str) -> None:
    """Refuse GB18030-decoded text that is really another encoding (Big5, Shift-JIS...)."""
    odd = _MOJIBAKE.search(text)
    cjk = _CJK.findall(text)
    rare = [ch for ch in cjk if not _in_gb2312(ch)]
    if odd or (len(cjk) >= 4 and len(rare) * 3 > len(cjk)):
        where = f"line {text[:odd.start()].count(chr(10)) + 1}" if odd else None
        raise FileRefused("the file's encoding is not UTF-8 or GB18030 (it looks like Big5 or "
                          "another legacy encoding and would be stored garbled); save it as "
                          "CSV UTF-8", where)


def _in_gb2312(ch: str) -> bool:
    """True for a character of GB2312, the everyday simplified set."""
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def sniff_delimiter(first_line: str) -> str:
    """Tab for Excel's 'Unicode text' (UTF-16, tab-separated), else comma or semicolon."""
    counts = {d: first_line.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def csv_rows(text: str, max_rows: int = XLSX_MAX_ROWS) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, cells) of CSV text, refusing a malformed record or too many rows."""
    text = text.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""),
                        delimiter=sniff_delimiter(text.split("\n", 1)[0]))
    count = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FileRefused(f"not readable as CSV ({exc})", f"line {reader.line_num}") from None
        count += 1
        if count > max_rows + 1:
            raise FileRefused(f"more than {max_rows} rows", f"line {reader.line_num}")
        yield reader.line_num, row


# --- YAML ------------------------------------------------------------------------------

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(source: bytes | str, what: str = "the file") -> Any:
    """Parse YAML from bytes or text with size, depth, alias and expansion limits."""
    if isinstance(source, bytes):
        if len(source) > MAX_BYTES:
            raise FileRefused(f"{what} is larger than {MAX_BYTES // 1024} KiB")
        text = decode_text(source)
    else:
        text = source
        if len(text) > MAX_BYTES:
            raise FileRefused(f"{what} is larger than {MAX_BYTES // 1024} KiB")
    _scan_events(text)
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_graph(node)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise FileRefused(_yaml_message(exc)) from None
    except FileRefused:
        raise
    except (ValueError, OverflowError):  # e.g. an integer of 5,000 digits, a bad date
        raise FileRefused("a value cannot be read (a number with thousands of digits, or a "
                          "malformed date?)") from None


def _yaml_message(exc: yaml.YAMLError) -> str:
    """A short YAML error: the problem and its line/column, never the document."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"invalid YAML{where}: {str(problem)[:200]}"


def _scan_events(text: str) -> None:
    """Refuse deep nesting and many aliases from the event stream (no recursion, no build)."""
    depth = aliases = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > YAML_MAX_DEPTH:
                    raise FileRefused(f"nested more than {YAML_MAX_DEPTH} levels deep",
                                      _line(event))
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > YAML_MAX_ALIASES:
                    raise FileRefused(f"more than {YAML_MAX_ALIASES} aliases (*name); "
                                      "write the values out", _line(event))
    except yaml.YAMLError as exc:
        raise FileRefused(_yaml_message(exc)) from None


def _line(event: Any) -> str | None:
    """'line N' of a YAML event or node, if it has a position."""
    mark = getattr(event, "start_mark", None)
    return f"line {mark.line + 1}" if mark else None


def _check_graph(root: yaml.Node) -> None:
    """Walk the composed graph as aliases would expand it, refusing cycles and blow-ups."""
    # Each stack entry: (node, ids of its ancestors) so a node reached from itself is a cycle.
    count = 0
    stack: list[tuple[yaml.Node, frozenset[int]]] = [(root, frozenset())]
    while stack:
        node, ancestors = stack.pop()
        count += 1
        if count > YAML_MAX_NODES:
            raise FileRefused(f"aliases expand to more than {YAML_MAX_NODES} values "
                              "(an alias bomb?)", _line(node))
        if isinstance(node, yaml.ScalarNode):
            continue
        if id(node) in ancestors:
            raise FileRefused("an alias refers to the structure that contains it", _line(node))
        inside = ancestors | {id(node)}
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, inside) for child in node.value)
        else:
            for key, value in node.value:
                stack.append((key, inside))
                stack.append((value, inside))


# --- XLSX ------------------------------------------------------------------------------


def check_xlsx(data: bytes, max_rows: int = XLSX_MAX_ROWS, all_sheets: bool = False) -> None:
    """Refuse a workbook that is too big, a zip bomb, links outside or declares huge sheets.

    Only the first sheet's dimension and cells are checked unless `all_sheets` (a
    questionnaire workbook reads four sheets, a table import only the first).
    """
    if len(data) > MAX_BYTES:
        raise FileRefused(f"the file is larger than {MAX_BYTES // 1024} KiB")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise FileRefused("not a readable .xlsx file (not a zip archive)") from None
    with archive:
        members = archive.infolist()
        if len(members) > XLSX_MAX_MEMBERS:
            raise FileRefused(f"the workbook has {len(members)} parts (at most {XLSX_MAX_MEMBERS})")
        total = 0
        for info in members:
            _check_member(info)
            total += info.file_size
        if total > XLSX_MAX_TOTAL:
            raise FileRefused(f"the workbook unpacks to {total // 2**20} MiB "
                              f"(at most {XLSX_MAX_TOTAL // 2**20} MiB)")
        names = {info.filename for info in members}
        try:
            if any(n.startswith("xl/externalLinks/") for n in names) or _rels_mention(
                    archive, names, b"externalLink"):
                raise FileRefused("the workbook links to other files (external links); "
                                  "copy the values into a plain workbook")
            for sheet in (_sheets(names) if all_sheets else [_first_sheet(archive, names)]):
                _check_dimension(archive, sheet, max_rows)
                _count_cells(archive, sheet)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
            if isinstance(exc, FileRefused):
                raise
            raise FileRefused(f"the workbook is damaged ({type(exc).__name__}); "
                              "open it in Excel and save it again") from None


def _check_member(info: zipfile.ZipInfo) -> None:
    """Refuse one zip member that is huge, encrypted or compressed like a bomb."""
    if info.flag_bits & 0x1:
        raise FileRefused("the workbook is encrypted; save it without a password")
    limit = XLSX_MAX_SHARED_STRINGS if info.filename == "xl/sharedStrings.xml" else XLSX_MAX_MEMBER
    if info.file_size > limit:
        raise FileRefused(f"part {info.filename} unpacks to {info.file_size // 2**20} MiB "
                          f"(at most {limit // 2**20} MiB)")
    if info.file_size > 1_000_000 and info.file_size > XLSX_MAX_RATIO * max(info.compress_size, 1):
        raise FileRefused(f"part {info.filename} is compressed {info.file_size // max(info.compress_size, 1)}"
                          " times (a zip bomb?)")


def _rels_mention(archive: zipfile.ZipFile, names: set[str], needle: bytes) -> bool:
    """True if the workbook's relationships name ``needle`` (e.g. an external link)."""
    rels = "xl/_rels/workbook.xml.rels"
    return rels in names and needle in archive.read(rels)


def _sheets(names: set[str]) -> list[str]:
    """Every worksheet part's name, in number order."""
    return sorted((n for n in names if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n)),
                  key=lambda n: int(re.sub(r"\D", "", n.rsplit("/", 1)[1])))


def _first_sheet(archive: zipfile.ZipFile, names: set[str]) -> str | None:
    """The first worksheet part's name (as openpyxl would pick it), or None."""
    sheets = _sheets(names)
    return sheets[0] if sheets else None


def _check_dimension(archive: zipfile.ZipFile, sheet: str | None, max_rows: int) -> None:
    """Refuse a sheet whose declared <dimension> exceeds the row or column limits."""
    if sheet is None:
        return
    with archive.open(sheet) as handle:
        head = handle.read(4096)
    found = re.search(rb'<(?:\w+:)?dimension[^>]*ref="([A-Z]*\d*)(?::([A-Z]+)(\d+))?"', head)
    if not found or not found.group(2):
        return
    column, row = found.group(2).decode(), int(found.group(3))
    width = 0
    for letter in column:
        width = width * 26 + ord(letter) - 64
    if row > max_rows + 1 or width > XLSX_MAX_COLUMNS:
        raise FileRefused(f"the first sheet declares {row} rows x {width} columns (at most "
                          f"{max_rows} rows and {XLSX_MAX_COLUMNS} columns)",
                          f"cell {found.group(2).decode()}{row}")


def _count_cells(archive: zipfile.ZipFile, sheet: str | None) -> None:
    """Refuse a sheet with more than XLSX_MAX_CELLS cells, counted in the raw XML stream."""
    if sheet is None:
        return
    count, tail = 0, b""
    with archive.open(sheet) as handle:
        while chunk := handle.read(1 << 20):
            block = tail + chunk
            count += len(_CELL_TAG.findall(block))
            # Carry the last bytes over (a tag cut in two is counted once, in the next block).
            tail = block[-8:]
            count -= len(_CELL_TAG.findall(tail))
            if count > XLSX_MAX_CELLS:
                raise FileRefused(f"the first sheet has more than {XLSX_MAX_CELLS:,} cells; "
                                  "split it into smaller files")


def _open_workbook(data: bytes) -> Any:
    """openpyxl's read-only workbook of checked bytes; a damaged file is refused."""
    from openpyxl import load_workbook  # imported here: only workbook readers pay for it

    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a damaged file
        raise FileRefused(f"not a readable .xlsx file ({type(exc).__name__})") from None


def _sheet_rows(sheet: Any, max_rows: int, where: str, name: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (row number, cell texts) of one sheet; `where` prefixes a too-many-rows place
    ("" or "sheet X "), `name` names the sheet when its XML cannot be read."""
    try:
        for number, row in enumerate(sheet.iter_rows(values_only=True), 1):
            if number > max_rows + 1:
                raise FileRefused(f"more than {max_rows} rows", f"{where}row {number}")
            yield number, [_cell_text(cell, number, index) for index, cell in enumerate(row[:XLSX_MAX_COLUMNS])]
    except FileRefused:
        raise
    except Exception as exc:  # a damaged sheet part
        raise FileRefused(f"{name} cannot be read ({type(exc).__name__})") from None


def xlsx_rows(data: bytes, max_rows: int = XLSX_MAX_ROWS) -> Iterator[tuple[int, list[str]]]:
    """Yield (row number, cell texts) of the first sheet after check_xlsx; refuse bad cells."""
    check_xlsx(data, max_rows)
    workbook = _open_workbook(data)
    try:
        if not workbook.worksheets:
            raise FileRefused("the workbook has no sheet")
        yield from _sheet_rows(workbook.worksheets[0], max_rows, "", "the first sheet")
    finally:
        workbook.close()


def column_letter(index: int) -> str:
    """Excel column letters of a 0-based column index (0 -> A, 27 -> AB)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _cell_text(cell: Any, row: int, index: int) -> str:
    """An Excel cell as text: whole numbers without '.0' (phones survive); NUL refused."""
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer() and abs(cell) < 1e16:
        text = str(int(cell))
    else:
        text = str(cell)
    if "\x00" in text or len(text) > MAX_CELL_CHARS:
        raise FileRefused("the cell holds a NUL character or is too long",
                          f"cell {column_letter(index)}{row}")
    return text


def table_rows(filename: str, data: bytes, max_rows: int = XLSX_MAX_ROWS) -> Iterator[tuple[int, list[str]]]:
    """Rows of a .csv or .xlsx file by its extension: (line or row number, cell texts)."""
    lower = filename.lower()
    if lower.endswith(".xlsx"):
        return xlsx_rows(data, max_rows)
    if lower.endswith((".csv", ".txt", ".tsv")):
        return csv_rows(decode_text(data), max_rows)
    if lower.endswith(".xls"):
        raise FileRefused("old .xls workbooks are not read; save it as .xlsx or CSV UTF-8")
    raise FileRefused("only .csv and .xlsx files can be imported")


def xlsx_sheets(data: bytes, max_rows: int = XLSX_MAX_ROWS) -> dict[str, list[tuple[int, list[str]]]]:
    """Every sheet of a workbook: {title: [(row number, cell texts), ...]}, in sheet order.

    For workbooks of several sheets (indicator systems): check_xlsx guards the zip and
    every sheet's declared size and cell count before openpyxl starts, so a second
    sheet cannot carry the bomb the first one is checked for.
    """
    check_xlsx(data, max_rows, all_sheets=True)
    workbook = _open_workbook(data)
    sheets: dict[str, list[tuple[int, list[str]]]] = {}
    try:
        for sheet in workbook.worksheets:
            sheets.setdefault(str(sheet.title).strip(), []).extend(
                _sheet_rows(sheet, max_rows, f"sheet {sheet.title} ", f"sheet {sheet.title}"))
    finally:
        workbook.close()
    return sheets
