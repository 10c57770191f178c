"""Crafted .xlsx files for the hostile upload tests and benchmarks/bench_uploads.py.

Each builder returns bytes under the 2 MiB upload limit: a plain roster workbook
rewritten at the zip level, as an attacker (or a broken exporter) would.
"""

import io
import re
import zipfile

from openpyxl import Workbook

HEADER = ["姓名", "户号", "站点", "电话"]
# The plain roster's <dimension>, as openpyxl writes it with its own serializer (`" />"`) or,
# when lxml is installed (python-docx brings it), with lxml's (`"/>"`).
PLAIN_DIMENSION = re.compile(rb'<dimension ref="A1:D4"\s*/>')


def _dimension(body, replacement):
    """The sheet body with the plain roster's <dimension> replaced; fails loudly if it is not there."""
    changed, count = PLAIN_DIMENSION.subn(replacement, body)
    assert count == 1, "the plain roster's <dimension ref=\"A1:D4\"/> was not found"
    return changed


def plain_roster(rows=3, site="S01"):
    """A normal roster workbook made by openpyxl (the baseline the others are rewritten from)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for index in range(rows):
        sheet.append([f"张{index}明", f"H{index:04d}", site, 13800138000 + index])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _rewrite(data, replace=None, add=None, level=6):
    """Copy a workbook zip, replacing member texts (name -> bytes) and adding members."""
    replace, add = replace or {}, add or {}
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as target:
        for info in source.infolist():
            body = source.read(info.filename)
            if info.filename in replace:
                body = replace[info.filename](body) if callable(replace[info.filename]) else replace[info.filename]
            target.writestr(info.filename, body)
        for name, body in add.items():
            target.writestr(name, body)
    return out.getvalue()


def _far_row(rows):
    """A sheet body edit adding one cell in row `rows` (read-only openpyxl pads up to it)."""
    cell = f'<row r="{rows}"><c r="A{rows}" t="inlineStr"><is><t>x</t></is></c></row>'.encode()
    return lambda body: body.replace(b"</sheetData>", cell + b"</sheetData>")


def declared_rows(rows=50_000_000):
    """The sheet's <dimension> claims 50 million rows and its last row is number 50 million."""
    far = _far_row(rows)
    return _rewrite(plain_roster(), {"xl/worksheets/sheet1.xml": lambda body: _dimension(
        far(body), f'<dimension ref="A1:D{rows}" />'.encode())})


def far_row_without_dimension(rows=50_000_000):
    """No <dimension> at all, one cell in row 50 million: caught while reading rows."""
    far = _far_row(rows)
    return _rewrite(plain_roster(), {"xl/worksheets/sheet1.xml": lambda body: _dimension(far(body), b"")})


def deflate_bomb(megabytes=400):
    """A sheet padded with hundreds of MiB of spaces: about 0.4 MiB compressed.

    Written in chunks so the test process itself never holds the padding.
    """
    source = zipfile.ZipFile(io.BytesIO(plain_roster()))
    out = io.BytesIO()
    chunk = b" " * 2**20
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for info in source.infolist():
            body = source.read(info.filename)
            if info.filename != "xl/worksheets/sheet1.xml":
                target.writestr(info.filename, body)
                continue
            head, tail = body.split(b"<sheetData>", 1)
            with target.open(info.filename, "w", force_zip64=True) as member:
                member.write(head + b"<sheetData>")
                for _ in range(megabytes):
                    member.write(chunk)
                member.write(tail)
    return out.getvalue()


def huge_shared_strings(count=400_000):
    """A shared-strings table of 400k distinct strings (tens of MiB unpacked)."""
    items = b"".join(b"<si><t>%d-%s</t></si>" % (i, b"x" * 40) for i in range(count))
    table = (b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
             b'spreadsheetml/2006/main" count="%d" uniqueCount="%d">' % (count, count) + items + b"</sst>")
    return _rewrite(plain_roster(), add={"xl/sharedStrings.xml": table}, level=9)


def external_link():
    """A workbook with an external-link part whose relationship has no Type (HTTP 500 before)."""
    part = (b'<?xml version="1.0" encoding="UTF-8"?><externalLink xmlns="http://schemas.'
            b'openxmlformats.org/spreadsheetml/2006/main"><externalBook r:id="rId1" xmlns:r="http://'
            b'schemas.openxmlformats.org/officeDocument/2006/relationships"/></externalLink>')
    rels = (b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
            b'.org/package/2006/relationships"><Relationship Id="rId1" Target="file:///C:/secret.xlsx"'
            b' TargetMode="External"/></Relationships>')
    return _rewrite(plain_roster(), add={"xl/externalLinks/externalLink1.xml": part,
                                         "xl/externalLinks/_rels/externalLink1.xml.rels": rels})


def dense_sheet(rows=20_000, columns=26):
    """520k small numeric cells in 1.3 MiB: under every size cap, seconds of openpyxl CPU."""
    def fill(body):
        head, rest = body.split(b"<sheetData>", 1)
        cells = "".join(f'<row r="{r}">' + "".join(f"<c><v>{c}</v></c>" for c in range(columns)) + "</row>"
                        for r in range(1, rows + 1))
        return (_dimension(head, b"") + b"<sheetData>" + cells.encode()
                + b"</sheetData>" + rest.split(b"</sheetData>", 1)[1])
    return _rewrite(plain_roster(), {"xl/worksheets/sheet1.xml": fill}, level=9)


def unsupported_compression():
    """The sheet stored under compression method 1 ("shrunk", from the 1980s), which Python's
    zipfile cannot read (found by the fuzzer: NotImplementedError reached the import command)."""
    data = bytearray(_rewrite(plain_roster(), level=0))
    name = b"xl/worksheets/sheet1.xml"
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):  # local header, central directory
        start = 0
        while (start := data.find(signature, start)) != -1:
            name_at = start + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at:name_at + len(name)] == name:
                data[start + offset:start + offset + 2] = (1).to_bytes(2, "little")
            start += 4
    return bytes(data)


HOSTILE = {
    "unsupported-compression": unsupported_compression,
    "declared-50M-rows": declared_rows,
    "far-row-no-dimension": far_row_without_dimension,
    "deflate-bomb": deflate_bomb,
    "huge-shared-strings": huge_shared_strings,
    "external-link": external_link,
    "dense-sheet": dense_sheet,
}
