"""Write a month's disclosure (公示) list as CSV, XLSX, Markdown or HTML.

* CSV is the machine-readable contract (docs/usage.md "Outputs"): plain UTF-8 without BOM,
  ``CSV_COLUMNS`` first and in that order, then a few readable extras.
* XLSX is the notice a 医保办 prints and posts: A4 landscape, one page wide,
  the table header repeated on every page, plus a second sheet explaining the
  ladder.
* Markdown and HTML carry the same content for the web and for e-mail; the HTML
  page is standalone (inline CSS, no scripts, no external resources) and prints
  on A4.

Rows are always ordered by level (highest first), then doctor code. A doctor's
name (and department) is never printed for a row that publishes the code only
(level 1), whatever the row object carries.

``FORMATS`` maps a format name to ``write(disclosure, target)``; ``target`` is a
path or, for the text formats, an open text stream.
"""

from __future__ import annotations

import csv
import html
import io
import math
import os
import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from typing import IO, Any

from ..db.files import create_private, open_private
from ..formulas import literal_cell, neutralise
from ..labels import ACTION_LABELS, ACTIONS, LEVEL_LABELS
from ..publish.disclosure import CSV_COLUMNS, Disclosure, DisclosureRow

__all__ = [
    "CSV_EXTRA_COLUMNS",
    "DEFAULT_SUFFIX",
    "FORMATS",
    "TABLE_HEADERS",
    "render_csv",
    "render_html",
    "render_markdown",
    "sorted_rows",
    "write_csv",
    "write_html",
    "write_markdown",
    "write_xlsx",
]

CSV_EXTRA_COLUMNS = ["level_label", "action_label", "department", "reasons"]

# Column headers of the printed table (XLSX, Markdown, HTML).
TABLE_HEADERS = ["序号", "医师代码", "医师姓名", "科室", "公示级别", "处理措施", "不合理处方数", "原因"]

EMPTY_TEXT = "本月无不合理处方医师"
OFFICE = "医保办公室"
CHANGES_HEADING = "与上一版相比的变化"

# Used when the ladder did not supply its own policy sentence.
DEFAULT_POLICY = (
    "根据本院医保管理考核办法（门规考核），对开具不合理处方的医师按月公示："
    "首次公示医师代码；连续两个月公示医师姓名；连续三个月取消医保定岗医师资格。"
)

# What makes a doctor reach each level of the three-strike ladder (the 说明 sheet).
LEVEL_CONDITIONS = {1: "首次", 2: "连续两个月", 3: "连续三个月"}
LEVEL_ACTIONS = dict(zip((1, 2, 3), ACTIONS))

DEFAULT_SUFFIX = {"csv": ".csv", "xlsx": ".xlsx", "md": ".md", "html": ".html"}


# --------------------------------------------------------------------------- helpers


def sorted_rows(disclosure: Disclosure) -> list[DisclosureRow]:
    """The rows as printed: level descending, then doctor code."""
    return sorted(disclosure.rows, key=lambda r: (-int(r.level), str(r.doctor_code)))


def _code_only(row: DisclosureRow) -> bool:
    """A row that publishes the doctor's code only: no name, no department."""
    return int(row.level) <= 1 or row.action == "publish_code"


def _name(row: DisclosureRow) -> str:
    return "" if _code_only(row) else (row.doctor_name or "")


def _department(row: DisclosureRow) -> str:
    return "" if _code_only(row) else (row.department or "")


def _month_label(month: str) -> str:
    try:
        year, mon = month.split("-")
        return f"{int(year)} 年 {int(mon)} 月"
    except ValueError:
        return month


def _parse_created(created_at: str) -> datetime | None:
    if not created_at:
        return None
    text = created_at.strip().replace("/", "-")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _created_label(created_at: str) -> str:
    parsed = _parse_created(created_at)
    if parsed is None:
        return created_at.strip()
    return parsed.strftime("%Y-%m-%d %H:%M")


def _signature_date(disclosure: Disclosure) -> str:
    parsed = _parse_created(disclosure.created_at)
    day = parsed.date() if parsed is not None else date.today()
    return f"{day.year} 年 {day.month} 月 {day.day} 日"


def _meta_parts(disclosure: Disclosure) -> list[str]:
    parts = [f"公示月份：{_month_label(disclosure.month)}", f"版本：第 {disclosure.revision} 版"]
    created = _created_label(disclosure.created_at)
    if created:
        parts.append(f"生成时间：{created}")
    if disclosure.ruleset_title:
        parts.append(f"规则集：{disclosure.ruleset_title}")
    return parts


def _policy(disclosure: Disclosure) -> str:
    return (disclosure.policy or "").strip() or DEFAULT_POLICY


def _pending_note(disclosure: Disclosure) -> str | None:
    if disclosure.pending and disclosure.pending > 0:
        return f"另有 {disclosure.pending} 条标记尚待药事委员会审核，未计入本名单。"
    return None


def _level_rules() -> list[str]:
    return [
        f"{LEVEL_LABELS[level]}：{LEVEL_CONDITIONS[level]}，{ACTION_LABELS[LEVEL_ACTIONS[level]]}"
        for level in (1, 2, 3)
    ]


def _table_cells(index: int, row: DisclosureRow) -> list[Any]:
    """One printed table row, in ``TABLE_HEADERS`` order."""
    return [
        index,
        row.doctor_code,
        _name(row),
        _department(row),
        row.level_label,
        row.action_label,
        int(row.unreasonable_count),
        row.reasons or "",
    ]


def _display_width(text: str) -> int:
    """Width in half-width character cells: CJK and full-width characters count 2."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in str(text))


def _is_path(target: Any) -> bool:
    return isinstance(target, (str, os.PathLike))


def _text_writer(render: Callable[[Disclosure], str]) -> Callable[[Disclosure, Any], None]:
    """``write(disclosure, target)`` for a text format: target is a path or a text stream."""

    def write(disclosure: Disclosure, target: Any) -> None:
        text = render(disclosure)
        if _is_path(target):
            with open_private(target, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        elif isinstance(target, (io.RawIOBase, io.BufferedIOBase)):
            raise TypeError("需要文本流（例如以文本模式打开的文件），不能写入二进制流")
        elif hasattr(target, "write"):
            target.write(text)
        else:
            raise TypeError(f"无法写入：{target!r} 既不是文件路径也不是文本流")

    write.__name__ = f"write_{render.__name__.removeprefix('render_')}"
    write.__doc__ = f"Write :func:`{render.__name__}` to a path (UTF-8) or a text stream."
    return write


# --------------------------------------------------------------------------- CSV


def write_csv(disclosure: Disclosure, fh: IO[str]) -> None:
    """Write the list as CSV to a text stream (open files with ``newline=""``).

    Columns: ``CSV_COLUMNS`` in that order, then ``CSV_EXTRA_COLUMNS``.
    ``level`` is the integer level, ``action`` the English action code and
    ``doctor_name`` empty for a code-only (level 1) row. No BOM is written.
    """
    writer = csv.writer(fh)
    writer.writerow(CSV_COLUMNS + CSV_EXTRA_COLUMNS)
    for row in sorted_rows(disclosure):
        values = {
            "month": row.month,
            "doctor_code": row.doctor_code,
            "doctor_name": _name(row),
            "level": int(row.level),
            "action": row.action,
            "unreasonable_count": int(row.unreasonable_count),
            "level_label": row.level_label,
            "action_label": row.action_label,
            "department": _department(row),
            "reasons": row.reasons or "",
        }
        writer.writerow([neutralise(values[column]) for column in CSV_COLUMNS + CSV_EXTRA_COLUMNS])


def render_csv(disclosure: Disclosure) -> str:
    buffer = io.StringIO(newline="")
    write_csv(disclosure, buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------- Markdown

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def _md(text: Any) -> str:
    """Escape a value for a Markdown table cell or line (CommonMark backslash escapes)."""
    flat = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", flat)


def render_markdown(disclosure: Disclosure) -> str:
    lines = [f"# {_md(disclosure.title)}", "", _md(" · ".join(_meta_parts(disclosure))), ""]
    lines += [f"> {_md(_policy(disclosure))}", ""]
    rows = sorted_rows(disclosure)
    if rows:
        lines.append("| " + " | ".join(TABLE_HEADERS) + " |")
        lines.append("| ---: | --- | --- | --- | --- | --- | ---: | --- |")
        for index, row in enumerate(rows, 1):
            lines.append("| " + " | ".join(_md(cell) for cell in _table_cells(index, row)) + " |")
    else:
        lines.append(f"{EMPTY_TEXT}。")
    lines.append("")
    note = _pending_note(disclosure)
    if note:
        lines += [note, ""]
    if disclosure.changes:
        lines += [f"## {CHANGES_HEADING}", ""]
        lines += [f"- {_md(change)}" for change in disclosure.changes]
        lines.append("")
    lines += [OFFICE, "", _signature_date(disclosure), ""]
    return "\n".join(lines)


write_markdown = _text_writer(render_markdown)


# --------------------------------------------------------------------------- HTML

_HTML_CSS = """
@page { size: A4 landscape; margin: 12mm 12mm 14mm 12mm; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; padding: 24px; background: #f3f4f6; color: #1f2328;
  font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", sans-serif;
  font-size: 15px; line-height: 1.6;
}
.notice { max-width: 1120px; margin: 0 auto; background: #fff; padding: 32px 40px; border: 1px solid #d0d7de; }
h1 { font-size: 26px; text-align: center; margin: 0 0 6px; letter-spacing: 1px; }
.meta { text-align: center; color: #57606a; font-size: 13px; margin: 0 0 18px; }
.meta span + span::before { content: "　·　"; color: #8c959f; }
.policy { margin: 0 0 18px; padding: 10px 14px; border-left: 4px solid #8c959f; background: #f6f8fa; }
.policy p { margin: 0; text-indent: 2em; }
table { width: 100%; border-collapse: collapse; font-size: 14px; }
th, td { border: 1px solid #8c959f; padding: 6px 8px; vertical-align: middle; }
th { background: #dde4ee; font-weight: bold; text-align: center; white-space: nowrap; }
td.num, td.count { text-align: center; white-space: nowrap; }
td.code { font-family: "DejaVu Sans Mono", Consolas, monospace, sans-serif; white-space: nowrap; }
td.name, td.level, td.action { white-space: nowrap; text-align: center; }
td.department { min-width: 7em; }
td.empty { text-align: center; padding: 18px; color: #57606a; }
tr.level-3 td { background: #fde2e1; }
tr.level-2 td { background: #feebd6; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; border: 1px solid; font-size: 13px;
  font-weight: bold; white-space: nowrap; }
.badge.level-3 { background: #c62828; border-color: #8e0000; color: #fff; }
.badge.level-2 { background: #ef6c00; border-color: #b53d00; color: #fff; }
.badge.level-1, .badge.level-other { background: #e3eaf2; border-color: #607d8b; color: #37474f; }
.pending { margin: 14px 0 0; color: #9a3412; }
.changes { margin-top: 18px; font-size: 14px; }
.changes h2 { font-size: 16px; margin: 0 0 4px; }
.changes ul { margin: 0; padding-left: 1.5em; }
.sign { margin-top: 36px; text-align: right; line-height: 1.9; }
.sign p { margin: 0; }
@media print {
  body { background: #fff; padding: 0; font-size: 11pt; }
  .notice { max-width: none; border: 0; padding: 0; }
  h1 { font-size: 18pt; }
  .meta { font-size: 9.5pt; }
  table { font-size: 10.5pt; }
  thead { display: table-header-group; }
  tr, .sign { page-break-inside: avoid; break-inside: avoid; }
  th, td, .badge, tr.level-3 td, tr.level-2 td {
    -webkit-print-color-adjust: exact; print-color-adjust: exact;
  }
}
""".strip("\n")


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def render_html(disclosure: Disclosure) -> str:
    rows = sorted_rows(disclosure)
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(disclosure.title)}</title>",
        f"<style>\n{_HTML_CSS}\n</style>",
        "</head>",
        "<body>",
        '<main class="notice">',
        "<header>",
        f"<h1>{_e(disclosure.title)}</h1>",
        '<p class="meta">' + "".join(f"<span>{_e(part)}</span>" for part in _meta_parts(disclosure)) + "</p>",
        "</header>",
        f'<blockquote class="policy"><p>{_e(_policy(disclosure))}</p></blockquote>',
        "<table>",
        "<thead><tr>" + "".join(f'<th scope="col">{_e(h)}</th>' for h in TABLE_HEADERS) + "</tr></thead>",
        "<tbody>",
    ]
    if rows:
        classes = ["num", "code", "name", "department", "level", "action", "count", "reasons"]
        for index, row in enumerate(rows, 1):
            level_class = f"level-{int(row.level)}" if int(row.level) in LEVEL_LABELS else "level-other"
            cells = _table_cells(index, row)
            rendered = []
            for css, value in zip(classes, cells):
                inner = _e(value)
                if css == "level":
                    inner = f'<span class="badge {level_class}">{inner}</span>'
                rendered.append(f'<td class="{css}">{inner}</td>')
            out.append(f'<tr class="{level_class}">' + "".join(rendered) + "</tr>")
    else:
        out.append(f'<tr><td class="empty" colspan="{len(TABLE_HEADERS)}">{_e(EMPTY_TEXT)}</td></tr>')
    out += ["</tbody>", "</table>"]
    note = _pending_note(disclosure)
    if note:
        out.append(f'<p class="pending">{_e(note)}</p>')
    if disclosure.changes:
        out.append('<section class="changes">')
        out.append(f"<h2>{_e(CHANGES_HEADING)}</h2>")
        out.append("<ul>" + "".join(f"<li>{_e(change)}</li>" for change in disclosure.changes) + "</ul>")
        out.append("</section>")
    out += [
        f'<footer class="sign"><p>{_e(OFFICE)}</p><p>{_e(_signature_date(disclosure))}</p></footer>',
        "</main>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(out)


write_html = _text_writer(render_html)


# --------------------------------------------------------------------------- XLSX

# Fonts commonly present on a Chinese Windows office PC; other systems substitute.
_BODY_FONT = "宋体"
_TITLE_FONT = "黑体"
_LEVEL_FILLS = {3: "FDE2E1", 2: "FEEBD6"}
_HEADER_FILL = "DDE4EE"
# Per column: (minimum width, maximum width) in Excel character units.
_COLUMN_LIMITS = [(6, 6), (12, 16), (12, 16), (12, 22), (10, 10), (14, 24), (15, 15), (26, 44)]
_WRAPPED_COLUMNS = {3, 7}  # 科室, 原因 (0-based)
_LINE_HEIGHT = 16.5  # points per line of 11 pt CJK text


def _xlsx_text(value: Any) -> Any:
    """Strip characters XLSX cannot store (control characters from HIS exports)."""
    if isinstance(value, str):
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def _put(ws, row: int, column: int, value: Any):
    """Set a cell to a literal value: formula-like text stays text (see :mod:`mengui_core.formulas`)."""
    return literal_cell(ws.cell(row=row, column=column), _xlsx_text(value))


def _lines(text: str, width: float) -> int:
    usable = max(width - 3, 1)  # borders and the one-character indent
    return max(1, sum(math.ceil(max(_display_width(part), 1) / usable) for part in str(text).split("\n")))


def _column_widths(table: list[list[Any]]) -> list[float]:
    widths = []
    for index, (low, high) in enumerate(_COLUMN_LIMITS):
        wanted = max(_display_width(str(line[index])) for line in table) + 2
        widths.append(float(min(max(wanted, low), high)))
    return widths


def write_xlsx(disclosure: Disclosure, path: str | os.PathLike) -> None:
    """Write the printable notice (sheet 公示名单) and the ladder explanation (sheet 说明)."""
    if not _is_path(path):
        raise ValueError("XLSX 只能写入文件路径，不能写入流")

    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    rows = sorted_rows(disclosure)
    table = [TABLE_HEADERS] + [_table_cells(i, r) for i, r in enumerate(rows, 1)]
    widths = _column_widths(table)
    ncols = len(TABLE_HEADERS)
    last_col = get_column_letter(ncols)
    total_width = sum(widths)

    thin = Side(style="thin", color="404040")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    body = Font(name=_BODY_FONT, size=11)
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)
    left = Alignment(horizontal="left", vertical="center", wrap_text=True, indent=1)

    wb, ws = new_workbook("公示名单", disclosure.title, widths)

    def merged_line(row: int, text: str, *, font, alignment, height: float | None = None):
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=ncols)
        cell = _put(ws, row, 1, text)
        cell.font = font
        cell.alignment = alignment
        if height:
            ws.row_dimensions[row].height = height
        return cell

    # Title, subtitle and the policy paragraph.
    r = 1
    merged_line(r, disclosure.title, font=Font(name=_TITLE_FONT, size=18, bold=True), alignment=center, height=36)
    r += 1
    merged_line(r, "　　".join(_meta_parts(disclosure)), font=Font(name=_BODY_FONT, size=10, color="555555"),
                alignment=center, height=20)
    r += 1
    policy = "　　" + _policy(disclosure)
    merged_line(r, policy, font=body, alignment=Alignment(horizontal="left", vertical="top", wrap_text=True),
                height=_lines(policy, total_width) * _LINE_HEIGHT + 8)
    r += 1
    ws.row_dimensions[r].height = 6  # a little air above the table
    r += 1

    # The table.
    header_row = r
    header_font = Font(name=_TITLE_FONT, size=11, bold=True)
    header_fill = PatternFill("solid", fgColor=_HEADER_FILL)
    for column, text in enumerate(TABLE_HEADERS, 1):
        cell = _put(ws, r, column, text)
        cell.font, cell.fill, cell.border, cell.alignment = header_font, header_fill, border, center
    ws.row_dimensions[r].height = 24
    r += 1
    if rows:
        for line, row in zip(table[1:], rows):
            fill = _LEVEL_FILLS.get(int(row.level))
            for column, value in enumerate(line, 1):
                cell = _put(ws, r, column, value if value != "" else None)
                cell.font, cell.border = body, border
                cell.alignment = left if column - 1 in _WRAPPED_COLUMNS else center
                if fill:
                    cell.fill = PatternFill("solid", fgColor=fill)
            height = max(_lines(str(line[c]), widths[c]) for c in _WRAPPED_COLUMNS)
            ws.row_dimensions[r].height = height * _LINE_HEIGHT + 6
            r += 1
    else:
        ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=ncols)
        cell = _put(ws, r, 1, EMPTY_TEXT)
        cell.font, cell.alignment = body, center
        for column in range(1, ncols + 1):
            ws.cell(row=r, column=column).border = border
        ws.row_dimensions[r].height = 30
        r += 1

    # Notes and signature.
    note = _pending_note(disclosure)
    if note:
        r += 1
        merged_line(r, note, font=Font(name=_BODY_FONT, size=10.5, color="9A3412"), alignment=left, height=20)
    r += 2
    right = Alignment(horizontal="right", vertical="center")
    for text in (OFFICE, _signature_date(disclosure)):
        merged_line(r, text, font=Font(name=_BODY_FONT, size=12), alignment=right, height=22)
        r += 1
    last_row = r - 1

    a4_table_page(ws, header_row, last_col, last_row, landscape=True)

    _write_explanation_sheet(wb.create_sheet("说明"), disclosure)
    wb.active = 0
    save_private(wb, path)


def save_private(wb, path) -> None:
    """Save a workbook as an owner-only file."""
    create_private(path)
    wb.save(path)


def new_workbook(sheet: str, title: str, widths):
    """A workbook whose first sheet ``sheet`` has no grid lines and the given column widths."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    wb.properties.title = title
    wb.properties.creator = OFFICE
    ws.sheet_view.showGridLines = False
    for index, width in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(index)].width = width
    return wb, ws


def a4_table_page(ws, header_row: int, last_col: str, last_row: int, *, landscape: bool) -> None:
    """Page setup of a printed table: A4, one page wide, the table header on every page, page numbers."""
    from openpyxl.worksheet.properties import PageSetupProperties

    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = ws.ORIENTATION_LANDSCAPE if landscape else ws.ORIENTATION_PORTRAIT
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top, ws.page_margins.bottom = 0.5, 0.6
    ws.page_margins.header, ws.page_margins.footer = 0.25, 0.3
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.print_area = f"A1:{last_col}{last_row}"
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"
    ws.oddFooter.center.size = 9
    ws.freeze_panes = ws.cell(row=header_row + 1, column=1)


def _write_explanation_sheet(ws, disclosure: Disclosure) -> None:
    from openpyxl.styles import Alignment, Font
    from openpyxl.worksheet.properties import PageSetupProperties

    wrap = Alignment(horizontal="left", vertical="top", wrap_text=True)
    ws.column_dimensions["A"].width = 66  # fits A4 portrait even where fit-to-page is ignored
    ws.sheet_view.showGridLines = False
    heading = (disclosure.ladder_title or "三级公示") + "说明"
    lines: list[tuple[str, Font]] = [(heading, Font(name=_TITLE_FONT, size=14, bold=True))]
    body = Font(name=_BODY_FONT, size=11)
    bold = Font(name=_TITLE_FONT, size=11, bold=True)
    lines += [(text, body) for text in _level_rules()]
    lines += [
        ("", body),
        ("“连续”指连续的自然月份；某月无不合理处方，则重新计数。", body),
        ("不合理处方以药事委员会审核结论为准；尚待审核的标记不计入名单。", body),
        ("一级仅公示医师代码，不公示姓名和科室。", body),
        ("", body),
        ("政策依据", bold),
        (_policy(disclosure), body),
    ]
    if disclosure.changes:
        lines += [("", body), (f"本版（第 {disclosure.revision} 版）{CHANGES_HEADING}", bold)]
        lines += [(f"· {change}", body) for change in disclosure.changes]
    for index, (text, font) in enumerate(lines, 1):
        cell = _put(ws, index, 1, text or None)
        cell.font, cell.alignment = font, wrap
        ws.row_dimensions[index].height = _lines(text, 66) * _LINE_HEIGHT + 4
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = ws.ORIENTATION_PORTRAIT
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.page_margins.left = ws.page_margins.right = 0.6
    ws.print_area = f"A1:A{len(lines)}"


# --------------------------------------------------------------------------- registry


FORMATS: dict[str, Callable[[Disclosure, Any], None]] = {
    "csv": _text_writer(render_csv),
    "xlsx": write_xlsx,
    "md": write_markdown,
    "html": write_html,
}
