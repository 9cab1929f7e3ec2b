"""Write a month's disclosure (公示) list as CSV, XLSX, Markdown or HTML.

* CSV is the machine-readable contract (docs/usage.md "Outputs"): plain UTF-8 without BOM,
  ``CSV_COLUMNS`` first and in that order, then a few readable extras.
* XLSX is the notice a 医保办 prints and posts: A4 landscape, one page wide,
  the table header repeated on every page, plus a second sheet explaining the
  ladder (:mod:`mengui_core.outputs.xlsx`).
* Markdown and HTML carry the same content for the web and for e-mail; the HTML
  page is the template ``templates/disclosure_list.html`` (standalone, the shared
  stylesheet inlined, no scripts) and prints on A4.

What the list says about its rules comes from the list itself: the ladder's policy sentence and
rule lines (``Disclosure.policy``, ``Disclosure.rules``) and the checks that count, in the ruleset's
own numbers (``Disclosure.checks``). Nothing here knows a city or a ladder.

Rows are always ordered by level (highest first), then doctor code. A doctor's
name (and department) is never printed for a row that publishes the code only
(level 1), whatever the row object carries.

``FORMATS`` maps a format name to ``write(disclosure, target)``; ``target`` is a
path or, for the text formats, an open text stream.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from datetime import date, datetime
from typing import IO, Any

from .. import months
from ..formulas import neutralise
from ..labels import LEVEL_LABELS
from ..publish.disclosure import CSV_COLUMNS, Disclosure, DisclosureRow
from . import xlsx
from .pages import render
from .text import OFFICE, md, minute, text_writer

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
CHANGES_HEADING = "与上一版相比的变化"
CHECKS_HEADING = "计入不合理处方的审核规则"
# What holds for every list, whatever the ladder (the 说明 sheet).
GENERAL_NOTES = [
    "不合理处方以药事委员会审核结论为准；尚待审核的标记不计入名单。",
    f"{LEVEL_LABELS[1]}仅公示医师代码，不公示姓名和科室。",
]

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


def _signature_date(disclosure: Disclosure) -> str:
    try:
        day = datetime.fromisoformat(disclosure.created_at.strip().replace("/", "-")).date()
    except ValueError:
        day = date.today()
    return f"{day.year} 年 {day.month} 月 {day.day} 日"


def _meta_parts(disclosure: Disclosure) -> list[str]:
    parts = [f"公示月份：{months.title(disclosure.month)}", f"版本：第 {disclosure.revision} 版"]
    created = minute(disclosure.created_at, empty="")
    if created:
        parts.append(f"生成时间：{created}")
    if disclosure.ruleset_title:
        parts.append(f"规则集：{disclosure.ruleset_title}")
    return parts


def _policy(disclosure: Disclosure) -> str:
    """The ladder's own policy sentence (nothing when the ladder gives none)."""
    return (disclosure.policy or "").strip()


def _check_lines(disclosure: Disclosure) -> list[str]:
    """The checks whose flags count, each with what it flags in the ruleset's numbers."""
    return [f"{title}：{description}" if description else title for title, description in disclosure.checks]


def _pending_note(disclosure: Disclosure) -> str | None:
    if disclosure.pending and disclosure.pending > 0:
        return f"另有 {disclosure.pending} 条标记尚待药事委员会审核，未计入本名单。"
    return None


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


def render_markdown(disclosure: Disclosure) -> str:
    lines = [f"# {md(disclosure.title)}", "", md(" · ".join(_meta_parts(disclosure))), ""]
    if _policy(disclosure):
        lines += [f"> {md(_policy(disclosure))}", ""]
    rows = sorted_rows(disclosure)
    if rows:
        lines.append("| " + " | ".join(TABLE_HEADERS) + " |")
        lines.append("| ---: | --- | --- | --- | --- | --- | ---: | --- |")
        for index, row in enumerate(rows, 1):
            lines.append("| " + " | ".join(md(cell) for cell in _table_cells(index, row)) + " |")
    else:
        lines.append(f"{EMPTY_TEXT}。")
    lines.append("")
    note = _pending_note(disclosure)
    if note:
        lines += [note, ""]
    if disclosure.checks:
        lines += [f"## {CHECKS_HEADING}", ""]
        lines += [f"- {md(line)}" for line in _check_lines(disclosure)]
        lines.append("")
    if disclosure.changes:
        lines += [f"## {CHANGES_HEADING}", ""]
        lines += [f"- {md(change)}" for change in disclosure.changes]
        lines.append("")
    lines += [OFFICE, "", _signature_date(disclosure), ""]
    return "\n".join(lines)


write_markdown = text_writer(render_markdown)


# --------------------------------------------------------------------------- HTML

_CELL_CLASSES = ["num", "code", "name", "department", "level", "action", "count", "reasons"]


def render_html(disclosure: Disclosure) -> str:
    """The list as a standalone HTML page (template ``disclosure_list.html``)."""
    rows = []
    for index, row in enumerate(sorted_rows(disclosure), 1):
        level_class = f"level-{int(row.level)}" if int(row.level) in LEVEL_LABELS else "level-other"
        rows.append({"level_class": level_class, "cells": list(zip(_CELL_CLASSES, _table_cells(index, row)))})
    return render(
        "disclosure_list.html",
        title=disclosure.title,
        meta=_meta_parts(disclosure),
        policy=_policy(disclosure),
        headers=TABLE_HEADERS,
        rows=rows,
        empty_text=EMPTY_TEXT,
        pending_note=_pending_note(disclosure),
        checks_heading=CHECKS_HEADING,
        checks=_check_lines(disclosure),
        changes_heading=CHANGES_HEADING,
        changes=disclosure.changes,
        office=OFFICE,
        signed=_signature_date(disclosure),
    )


write_html = text_writer(render_html)


# --------------------------------------------------------------------------- XLSX

_LEVEL_FILLS = {3: "FDE2E1", 2: "FEEBD6"}
# Per column: (minimum width, maximum width) in Excel character units.
_COLUMN_LIMITS = [(6, 6), (12, 16), (12, 16), (12, 22), (10, 10), (14, 24), (15, 15), (26, 44)]
_WRAPPED_COLUMNS = {3, 7}  # 科室, 原因 (0-based)


def write_xlsx(disclosure: Disclosure, path: str | os.PathLike) -> None:
    """Write the printable notice (sheet 公示名单) and the ladder explanation (sheet 说明)."""
    xlsx.require_path(path)
    rows = sorted_rows(disclosure)
    table = [TABLE_HEADERS] + [_table_cells(i, r) for i, r in enumerate(rows, 1)]
    widths = xlsx.fit_widths(table, _COLUMN_LIMITS)
    ncols = len(TABLE_HEADERS)
    border = xlsx.border()
    body = xlsx.font(11)
    center = xlsx.alignment()
    left = xlsx.alignment("left", indent=1)

    wb, ws = xlsx.new_workbook("公示名单", disclosure.title, widths)

    # Title, subtitle and the policy paragraph.
    r = 1
    xlsx.merged_line(ws, r, ncols, disclosure.title, font=xlsx.font(18, heading=True), alignment=center, height=36)
    r += 1
    xlsx.merged_line(ws, r, ncols, "　　".join(_meta_parts(disclosure)), font=xlsx.font(10, color=xlsx.MUTED_COLOUR),
                     alignment=center, height=20)
    r += 1
    if _policy(disclosure):
        policy = "　　" + _policy(disclosure)
        xlsx.merged_line(ws, r, ncols, policy, font=body, alignment=xlsx.alignment("left", "top"),
                         height=xlsx.line_count(policy, sum(widths)) * xlsx.LINE_HEIGHT + 8)
        r += 1
    ws.row_dimensions[r].height = 6  # a little air above the table
    r += 1

    # The table.
    header_row = r
    xlsx.header_row(ws, r, TABLE_HEADERS, height=24)
    r += 1
    if rows:
        for line, row in zip(table[1:], rows):
            shade = _LEVEL_FILLS.get(int(row.level))
            for column, value in enumerate(line, 1):
                cell = xlsx.put(ws, r, column, value if value != "" else None)
                cell.font, cell.border = body, border
                cell.alignment = left if column - 1 in _WRAPPED_COLUMNS else center
                if shade:
                    cell.fill = xlsx.fill(shade)
            height = max(xlsx.line_count(str(line[c]), widths[c]) for c in _WRAPPED_COLUMNS)
            ws.row_dimensions[r].height = height * xlsx.LINE_HEIGHT + 6
            r += 1
    else:
        xlsx.merged_line(ws, r, ncols, EMPTY_TEXT, font=body, alignment=center, height=30)
        for column in range(1, ncols + 1):
            ws.cell(row=r, column=column).border = border
        r += 1

    # Notes and signature.
    note = _pending_note(disclosure)
    if note:
        r += 1
        xlsx.merged_line(ws, r, ncols, note, font=xlsx.font(10.5, color=xlsx.NOTE_COLOUR), alignment=left, height=20)
    r += 2
    right = xlsx.alignment("right", wrap=False)
    for text in (OFFICE, _signature_date(disclosure)):
        xlsx.merged_line(ws, r, ncols, text, font=xlsx.font(12), alignment=right, height=22)
        r += 1

    xlsx.a4_table_page(ws, header_row, ncols, r - 1, landscape=True)
    xlsx.a4_text_page(wb.create_sheet("说明"), _explanation(disclosure))
    wb.active = 0
    xlsx.save(wb, path)


def _explanation(disclosure: Disclosure) -> list[tuple[str, Any]]:
    """The 说明 sheet: the ladder's rules, what holds for every list, the checks that count, the policy."""
    body = xlsx.font(11)
    bold = xlsx.font(11, heading=True)
    heading = (disclosure.ladder_title or "公示办法") + "说明"
    lines: list[tuple[str, Any]] = [(heading, xlsx.font(14, heading=True))]
    lines += [(text, body) for text in disclosure.rules]
    lines += [("", body)] + [(text, body) for text in GENERAL_NOTES]
    if disclosure.checks:
        lines += [("", body), (CHECKS_HEADING, bold)] + [(f"· {text}", body) for text in _check_lines(disclosure)]
    if _policy(disclosure):
        lines += [("", body), ("政策依据", bold), (_policy(disclosure), body)]
    if disclosure.changes:
        lines += [("", body), (f"本版（第 {disclosure.revision} 版）{CHANGES_HEADING}", bold)]
        lines += [(f"· {change}", body) for change in disclosure.changes]
    return lines


# --------------------------------------------------------------------------- registry


FORMATS: dict[str, Callable[[Disclosure, Any], None]] = {
    "csv": text_writer(render_csv),
    "xlsx": write_xlsx,
    "md": write_markdown,
    "html": write_html,
}
