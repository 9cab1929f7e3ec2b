"""Write a month's disclosure (公示) list as CSV, XLSX, Markdown or HTML.

* CSV is the machine-readable contract (docs/usage.md "Outputs"): ``CSV_COLUMNS`` first and in that
  order, then the same facts in Chinese (``CSV_EXTRA_COLUMNS``); a file starts with a UTF-8 byte-order
  mark, so Excel on a Chinese Windows PC reads it as UTF-8 (a stream, read by a program, has none).
* XLSX is the notice a 医保办 prints and posts: A4 portrait, one section per level (三级, 二级, 一级: what
  the level does, its doctors, a total line), a grand total, even row heights; a typical month (about
  20 doctors) fits one page with its signature block, a longer list runs on with the header row
  repeated; a second sheet explains the ladder (:mod:`mengui_core.outputs.xlsx`).
* Markdown and HTML carry the same sections for the web and for e-mail; the HTML page is the template
  ``templates/disclosure_list.html`` (standalone, the shared stylesheet inlined, no scripts) and prints
  on A4 like the workbook.

A draft (``Disclosure.draft``: computed by ``disclose``, not yet published) says so on every readable
format: "草稿，待审定后 mengui publish" under the title, and no signature date.

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
from typing import IO, Any

from .. import months
from ..formulas import neutralise
from ..labels import ACTION_LABELS, LEVEL_LABELS
from ..publish.disclosure import CSV_COLUMNS, DRAFT_NOTICE, Disclosure, DisclosureRow
from ..times import beijing
from . import xlsx
from .pages import render
from .text import OFFICE, md, minute, text_writer

__all__ = [
    "CSV_EXTRA_COLUMNS",
    "DEFAULT_SUFFIX",
    "DRAFT_NOTICE",
    "FORMATS",
    "TABLE_HEADERS",
    "render_csv",
    "render_html",
    "render_markdown",
    "sections",
    "sorted_rows",
    "write_csv",
    "write_html",
    "write_markdown",
    "write_xlsx",
]

# After the contract's columns, the same facts for a person, with Chinese headers.
CSV_EXTRA_COLUMNS = ["公示级别", "处理措施", "科室", "不合理处方原因"]

# Column headers of the printed table (XLSX, Markdown, HTML); the level and its action head each section.
TABLE_HEADERS = ["序号", "医师代码", "医师姓名", "科室", "不合理处方数", "原因"]

EMPTY_TEXT = "本月无不合理处方医师"
EMPTY_LEVEL = "无"
NOT_PUBLISHED = "—"  # the name and department of a code-only row
CHANGES_HEADING = "与上一版相比的变化"
CHECKS_HEADING = "计入不合理处方的审核规则"
# What holds for every list, whatever the ladder (the 说明 sheet).
GENERAL_NOTES = [
    "不合理处方以药事委员会审核结论为准；尚待审核的标记不计入名单。",
    f"{LEVEL_LABELS[1]}仅公示医师代码，不公示姓名和科室。",
]
# The action a level takes when no row of the list shows it (an empty section's heading).
DEFAULT_ACTIONS = {1: "publish_code", 2: "publish_name", 3: "revoke"}

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
    """The day under the signature: the publication's (Beijing time); a draft has none."""
    if disclosure.draft:
        return "（草稿，未公示）"
    when = beijing(disclosure.published_at or disclosure.created_at)
    if when is None:
        return ""
    return f"{when.year} 年 {when.month} 月 {when.day} 日"


def _version(disclosure: Disclosure) -> str:
    if not disclosure.draft:
        return f"第 {disclosure.revision} 版"
    if disclosure.base_revision is None:
        return "草稿（尚未公示）"
    if disclosure.differs:
        return f"草稿（与已公示的第 {disclosure.base_revision} 版不同，公示后为第 {disclosure.revision} 版）"
    return f"草稿（与已公示的第 {disclosure.base_revision} 版相同）"


def _meta_parts(disclosure: Disclosure) -> list[str]:
    parts = [f"公示月份：{months.title(disclosure.month)}", f"版本：{_version(disclosure)}"]
    if disclosure.draft:
        created = minute(disclosure.created_at, empty="")
        if created:
            parts.append(f"生成时间：{created}")
    else:
        published = minute(disclosure.published_at or disclosure.created_at, empty="")
        if published:
            parts.append(f"公示时间：{published}")
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


def sections(disclosure: Disclosure) -> list[dict]:
    """The list by level, highest first, every level of the vocabulary present (an empty one says 无):
    ``level``, ``label``, ``heading`` (the level and what it does; when it revokes anyone, from when),
    ``rows`` — (number, row) pairs, numbered across the whole list —, ``doctors`` and ``count`` (the
    level's total line)."""
    rows = sorted_rows(disclosure)
    number = 0
    result = []
    for level in sorted(set(LEVEL_LABELS) | {int(r.level) for r in rows}, reverse=True):
        mine = [r for r in rows if int(r.level) == level]
        action = mine[0].action if mine else DEFAULT_ACTIONS.get(level, "")
        heading = f"{LEVEL_LABELS.get(level, level)}：{ACTION_LABELS.get(action, action)}"
        if action == "revoke" and disclosure.effective and mine:
            heading += f"（自 {disclosure.effective} 起）"
        numbered = []
        for row in mine:
            number += 1
            numbered.append((number, row))
        result.append({"level": level, "label": LEVEL_LABELS.get(level, str(level)), "heading": heading,
                       "rows": numbered, "doctors": len(mine),
                       "count": sum(int(r.unreasonable_count) for r in mine)})
    return result


def _total_line(section: dict) -> str:
    return f"{section['label']}小计：{section['doctors']} 名医师，不合理处方 {section['count']} 张"


def _grand_total(disclosure: Disclosure) -> str:
    return (f"合计：{len(disclosure.rows)} 名医师，不合理处方 "
            f"{sum(int(r.unreasonable_count) for r in disclosure.rows)} 张")


def _table_cells(index: int, row: DisclosureRow) -> list[Any]:
    """One printed table row, in ``TABLE_HEADERS`` order."""
    code_only = _code_only(row)
    return [
        index,
        row.doctor_code,
        NOT_PUBLISHED if code_only else _name(row),
        NOT_PUBLISHED if code_only else _department(row),
        int(row.unreasonable_count),
        row.reasons or "",
    ]


# --------------------------------------------------------------------------- CSV


def write_csv(disclosure: Disclosure, fh: IO[str]) -> None:
    """Write the list as CSV to a text stream (open files with ``newline=""``).

    Columns: ``CSV_COLUMNS`` in that order, then ``CSV_EXTRA_COLUMNS``.
    ``level`` is the integer level, ``action`` the English action code and
    ``doctor_name`` empty for a code-only (level 1) row. The byte-order mark is the file's
    (``FORMATS["csv"]`` writes one to a path), not the stream's.
    """
    writer = csv.writer(fh)
    writer.writerow(CSV_COLUMNS + CSV_EXTRA_COLUMNS)
    for row in sorted_rows(disclosure):
        values = [row.month, row.doctor_code, _name(row), int(row.level), row.action, int(row.unreasonable_count),
                  row.level_label, row.action_label, _department(row), row.reasons or ""]
        writer.writerow([neutralise(value) for value in values])


def render_csv(disclosure: Disclosure) -> str:
    buffer = io.StringIO(newline="")
    write_csv(disclosure, buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------- Markdown


def render_markdown(disclosure: Disclosure) -> str:
    lines = [f"# {md(disclosure.title)}", ""]
    if disclosure.draft:
        lines += [f"> **{md(DRAFT_NOTICE)}**", ""]
    lines += [md(" · ".join(_meta_parts(disclosure))), ""]
    if _policy(disclosure):
        lines += [f"> {md(_policy(disclosure))}", ""]
    if disclosure.rows:
        for section in sections(disclosure):
            lines += [f"## {md(section['heading'])}", ""]
            if section["rows"]:
                lines.append("| " + " | ".join(TABLE_HEADERS) + " |")
                lines.append("| ---: | --- | --- | --- | ---: | --- |")
                for index, row in section["rows"]:
                    lines.append("| " + " | ".join(md(cell) for cell in _table_cells(index, row)) + " |")
                lines += ["", md(_total_line(section)), ""]
            else:
                lines += [f"{EMPTY_LEVEL}。", ""]
        lines += [f"**{md(_grand_total(disclosure))}**", ""]
    else:
        lines += [f"{EMPTY_TEXT}。", ""]
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

_CELL_CLASSES = ["num", "code", "name", "department", "count", "reasons"]


def render_html(disclosure: Disclosure) -> str:
    """The list as a standalone HTML page (template ``disclosure_list.html``)."""
    levels = []
    for section in sections(disclosure):
        rows = [list(zip(_CELL_CLASSES, _table_cells(index, row))) for index, row in section["rows"]]
        levels.append({**section, "level_class": f"level-{section['level']}", "cells": rows,
                       "total": _total_line(section)})
    return render(
        "disclosure_list.html",
        title=disclosure.title,
        draft=DRAFT_NOTICE if disclosure.draft else None,
        meta=_meta_parts(disclosure),
        policy=_policy(disclosure),
        headers=TABLE_HEADERS,
        sections=levels if disclosure.rows else [],
        grand_total=_grand_total(disclosure),
        empty_text=EMPTY_TEXT,
        empty_level=EMPTY_LEVEL,
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

_LEVEL_FILLS = {3: "FDE2E1", 2: "FEEBD6", 1: "E7EEF7"}
# Per column: (minimum width, maximum width) in Excel character units; the sum fits A4 portrait.
_COLUMN_LIMITS = [(6, 6), (13, 16), (11, 14), (14, 18), (13, 13), (30, 40)]
_WRAPPED_COLUMNS = {3, 5}  # 科室, 原因 (0-based)
ROW_HEIGHT = 19.5  # points: one line of 11 pt text with air; every table row has a multiple of it
# A4 portrait with the margins of xlsx.a4_table_page: the printable height in points
PRINTABLE_HEIGHT = (297 / 25.4 - 0.5 - 0.6) * 72
ONE_PAGE_SCALE = 0.8  # a list that fits one page at this scale or larger is printed on one page


def write_xlsx(disclosure: Disclosure, path: str | os.PathLike) -> None:
    """Write the printable notice (sheet 公示名单) and the ladder explanation (sheet 说明)."""
    xlsx.require_path(path)
    parts = sections(disclosure)
    table = [TABLE_HEADERS] + [_table_cells(i, r) for part in parts for i, r in part["rows"]]
    widths = xlsx.fit_widths(table, _COLUMN_LIMITS)
    for column in _WRAPPED_COLUMNS:  # room for the indent, so that a cell that fits stays on one line
        widths[column] = min(widths[column] + 2, _COLUMN_LIMITS[column][1])
    ncols = len(TABLE_HEADERS)
    border = xlsx.border()
    body = xlsx.font(11)
    bold = xlsx.font(11, bold=True)
    center = xlsx.alignment()
    left = xlsx.alignment("left", indent=1)
    # even rows: as many lines as the longest wrapped cell of any row needs (one, for a typical month)
    lines = max([1] + [xlsx.line_count(str(line[c]), widths[c]) for line in table[1:] for c in _WRAPPED_COLUMNS])
    row_height = lines * ROW_HEIGHT

    wb, ws = xlsx.new_workbook("公示名单", disclosure.title, widths)
    heights: list[float] = []

    def line(row: int, text: str, font, alignment, height: float) -> None:
        xlsx.merged_line(ws, row, ncols, text, font=font, alignment=alignment, height=height)
        heights.append(height)

    r = 1
    line(r, disclosure.title, xlsx.font(18, heading=True), center, 34)
    r += 1
    if disclosure.draft:
        line(r, DRAFT_NOTICE, xlsx.font(12, bold=True, color="B42318"), center, 20)
        r += 1
    line(r, "　".join(_meta_parts(disclosure)), xlsx.font(9.5, color=xlsx.MUTED_COLOUR), center,
         xlsx.line_count("　".join(_meta_parts(disclosure)), sum(widths) * 1.1) * 15 + 3)
    r += 1
    if _policy(disclosure):
        policy = "　　" + _policy(disclosure)
        line(r, policy, xlsx.font(10.5), xlsx.alignment("left", "top"),
             xlsx.line_count(policy, sum(widths)) * 15.5 + 6)
        r += 1
    ws.row_dimensions[r].height = 6  # a little air above the table
    heights.append(6)
    r += 1

    header_row = r
    xlsx.header_row(ws, r, TABLE_HEADERS, height=ROW_HEIGHT + 3)
    heights.append(ROW_HEIGHT + 3)
    r += 1
    if disclosure.rows:
        for part in parts:
            shade = xlsx.fill(_LEVEL_FILLS.get(part["level"], "F2F2F2"))
            # the section's heading: the level and what it does
            line(r, part["heading"], xlsx.font(11.5, heading=True), xlsx.alignment("left", indent=1), ROW_HEIGHT)
            for column in range(1, ncols + 1):
                cell = ws.cell(row=r, column=column)
                cell.fill, cell.border = shade, border
            r += 1
            if not part["rows"]:
                line(r, EMPTY_LEVEL, body, center, ROW_HEIGHT)
                for column in range(1, ncols + 1):
                    ws.cell(row=r, column=column).border = border
                r += 1
                continue
            for index, row in part["rows"]:
                for column, value in enumerate(_table_cells(index, row), 1):
                    cell = xlsx.put(ws, r, column, value if value != "" else None)
                    cell.font, cell.border = body, border
                    cell.alignment = left if column - 1 in _WRAPPED_COLUMNS else center
                ws.row_dimensions[r].height = row_height
                heights.append(row_height)
                r += 1
            _total_row(ws, r, ncols, f"{part['label']}小计：{part['doctors']} 名医师", part["count"], bold, border)
            heights.append(ROW_HEIGHT)
            r += 1
        _total_row(ws, r, ncols, f"合计：{len(disclosure.rows)} 名医师",
                   sum(int(x.unreasonable_count) for x in disclosure.rows), xlsx.font(11, heading=True), border,
                   fill=xlsx.fill(xlsx.HEADER_FILL))
        heights.append(ROW_HEIGHT)
        r += 1
    else:
        line(r, EMPTY_TEXT, body, center, 30)
        for column in range(1, ncols + 1):
            ws.cell(row=r, column=column).border = border
        r += 1

    # Notes and signature.
    note = _pending_note(disclosure)
    if note:
        line(r, note, xlsx.font(10, color=xlsx.NOTE_COLOUR), left, 18)
        r += 1
    ws.row_dimensions[r].height = 12
    heights.append(12)
    r += 1
    right = xlsx.alignment("right", wrap=False)
    for text in (OFFICE, _signature_date(disclosure)):
        line(r, text, xlsx.font(12), right, 21)
        r += 1

    one_page = sum(heights) <= PRINTABLE_HEIGHT / ONE_PAGE_SCALE
    xlsx.a4_table_page(ws, header_row, ncols, r - 1, landscape=False, one_page=one_page)
    xlsx.a4_text_page(wb.create_sheet("说明"), _explanation(disclosure))
    wb.active = 0
    xlsx.save(wb, path)


def _total_row(ws, row: int, ncols: int, text: str, count: int, font, border, fill=None) -> None:
    """A total line: the text across the first columns, the count under 不合理处方数."""
    count_column = TABLE_HEADERS.index("不合理处方数") + 1
    ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=count_column - 1)
    xlsx.put(ws, row, 1, text)
    xlsx.put(ws, row, count_column, count)
    for column in range(1, ncols + 1):
        cell = ws.cell(row=row, column=column)
        cell.font, cell.border = font, border
        cell.alignment = xlsx.alignment("right" if column < count_column else "center", indent=1 if column == 1 else 0)
        if fill is not None:
            cell.fill = fill
    ws.row_dimensions[row].height = ROW_HEIGHT


def _explanation(disclosure: Disclosure) -> list[tuple[str, Any]]:
    """The 说明 sheet: the ladder's rules, what holds for every list, the checks that count, the policy."""
    body = xlsx.font(11)
    bold = xlsx.font(11, heading=True)
    heading = (disclosure.ladder_title or "公示办法") + "说明"
    lines: list[tuple[str, Any]] = [(heading, xlsx.font(14, heading=True))]
    if disclosure.draft:
        lines += [(DRAFT_NOTICE, xlsx.font(11, bold=True, color="B42318"))]
    lines += [(text, body) for text in disclosure.rules]
    lines += [("", body)] + [(text, body) for text in GENERAL_NOTES]
    if disclosure.checks:
        lines += [("", body), (CHECKS_HEADING, bold)] + [(f"· {text}", body) for text in _check_lines(disclosure)]
    if _policy(disclosure):
        lines += [("", body), ("政策依据", bold), (_policy(disclosure), body)]
    if disclosure.changes:
        title = "本草稿" if disclosure.draft else f"本版（第 {disclosure.revision} 版）"
        lines += [("", body), (f"{title}{CHANGES_HEADING}", bold)]
        lines += [(f"· {change}", body) for change in disclosure.changes]
    return lines


# --------------------------------------------------------------------------- registry


FORMATS: dict[str, Callable[[Disclosure, Any], None]] = {
    "csv": text_writer(render_csv, bom=True),
    "xlsx": write_xlsx,
    "md": write_markdown,
    "html": write_html,
}
