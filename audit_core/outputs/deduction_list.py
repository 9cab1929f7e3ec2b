"""Write the deductions-per-doctor list (医保扣款) as CSV, XLSX, Markdown or a plain-text table.

* CSV (the contract, docs/usage.md "Deductions"): UTF-8 without BOM, ``CSV_COLUMNS`` first and in that
  order, ``total_yuan`` with two decimals; unattributed deductions (prescription not in
  the database) are one more row with an empty ``doctor_code`` and a ``note``. No
  totals row: a program sums the column.
* XLSX and Markdown are for people, in the style of the disclosure list: Chinese
  headers, a totals row (合计), the notes about unattributed deductions, A4 portrait.
"""

from __future__ import annotations

import csv
import io
from typing import IO, Any

from ..publish.deductions import NOT_IN_ROSTER, UNATTRIBUTED, DeductionSummary, yuan
from .disclosure_list import (
    _BODY_FONT,
    _HEADER_FILL,
    _TITLE_FONT,
    OFFICE,
    _display_width,
    _is_path,
    _md,
    _put,
    _text_writer,
    a4_table_page,
    new_workbook,
    save_private,
)
from ..formulas import neutralise

CSV_COLUMNS = ["doctor_code", "doctor_name", "count", "total_yuan"]
CSV_EXTRA_COLUMNS = ["department", "prescriptions", "months", "note"]
TABLE_HEADERS = ["序号", "医师代码", "医师姓名", "科室", "扣款笔数", "扣款金额（元）", "涉及处方数", "扣款月份"]
RULE = "按本院规定，市医保办因门规处方对医院的扣款由开方医师个人全额承担。"
MONTH_RULE = "月份按扣款日期计；扣款无日期时按处方开方日期计。"
EMPTY_TEXT = "没有医保扣款记录"


def _name(row) -> str:
    return row.doctor_name if row.doctor_name is not None else NOT_IN_ROSTER


def table_rows(summary: DeductionSummary) -> list[list[Any]]:
    """The printed rows (``TABLE_HEADERS`` order): doctors, then the unattributed line."""
    rows = [[i, d.doctor_code, _name(d), d.department or "", d.count, yuan(d.total_fen), d.prescriptions,
             "、".join(d.months)] for i, d in enumerate(summary.doctors, 1)]
    if summary.unattributed:
        months = sorted({(u.deduction_date or "")[:7] for u in summary.unattributed} - {""})
        rows.append(["", "—", UNATTRIBUTED, "", len(summary.unattributed), yuan(summary.unattributed_fen),
                     len({u.rx_id for u in summary.unattributed}), "、".join(months)])
    return rows


def totals_row(summary: DeductionSummary) -> list[Any]:
    rxs = sum(d.prescriptions for d in summary.doctors) + len({u.rx_id for u in summary.unattributed})
    return ["", "合计", f"{len(summary.doctors)} 名医师", "", summary.count, yuan(summary.total_fen), rxs, ""]


# ---------------------------------------------------------------- CSV


def write_csv(summary: DeductionSummary, fh: IO[str]) -> None:
    writer = csv.writer(fh)
    writer.writerow(CSV_COLUMNS + CSV_EXTRA_COLUMNS)
    rows = [[d.doctor_code, d.doctor_name or "", d.count, yuan(d.total_fen), d.department or "", d.prescriptions,
             ";".join(d.months), "" if d.doctor_name is not None else "名册中无此医师"] for d in summary.doctors]
    if summary.unattributed:
        ids = ";".join(f"{u.deduction_id}:{u.rx_id}" for u in summary.unattributed)
        rows.append(["", "", len(summary.unattributed), yuan(summary.unattributed_fen), "",
                     len({u.rx_id for u in summary.unattributed}), "", f"未归属：处方不在数据库中（扣款编号:处方号 {ids}）"])
    writer.writerows([neutralise(value) for value in row] for row in rows)


def render_csv(summary: DeductionSummary) -> str:
    buffer = io.StringIO(newline="")
    write_csv(summary, buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------- Markdown and plain text


def render_markdown(summary: DeductionSummary) -> str:
    lines = [f"# {_md(summary.title)}", "", f"> {_md(RULE + MONTH_RULE)}", ""]
    rows = table_rows(summary)
    if rows:
        lines.append("| " + " | ".join(TABLE_HEADERS) + " |")
        lines.append("| ---: | --- | --- | --- | ---: | ---: | ---: | --- |")
        for row in rows + [totals_row(summary)]:
            lines.append("| " + " | ".join(_md(cell) for cell in row) + " |")
    else:
        lines.append(f"{EMPTY_TEXT}。")
    lines.append("")
    for note in summary.notes():
        lines += [_md(note), ""]
    lines += [OFFICE, ""]
    return "\n".join(lines)


def render_text(summary: DeductionSummary) -> str:
    """A readable table for the terminal (wide characters count as two columns)."""
    rows = table_rows(summary)
    lines = [summary.title, ""]
    if not rows:
        return "\n".join(lines + [EMPTY_TEXT, ""] + summary.notes())
    table = [TABLE_HEADERS] + [[str(c) for c in r] for r in rows + [totals_row(summary)]]
    sizes = [max(_display_width(line[i]) for line in table) for i in range(len(TABLE_HEADERS))]
    right = {0, 4, 5, 6}

    def fmt(line):
        cells = []
        for i, text in enumerate(line):
            fill = " " * (sizes[i] - _display_width(text))
            cells.append(fill + text if i in right else text + fill)
        return "  ".join(cells).rstrip()

    lines.append(fmt(table[0]))
    lines.append("  ".join("-" * s for s in sizes))
    lines += [fmt(line) for line in table[1:-1]]
    lines.append("  ".join("-" * s for s in sizes))
    lines.append(fmt(table[-1]))
    lines += [""] + summary.notes()
    return "\n".join(lines).rstrip() + "\n"


write_markdown = _text_writer(render_markdown)
write_text = _text_writer(render_text)


# ---------------------------------------------------------------- XLSX

_COLUMN_WIDTHS = [6, 12, 16, 14, 10, 16, 12, 20]


def write_xlsx(summary: DeductionSummary, path) -> None:
    """One printable sheet (医保扣款): title, rule, the table with a totals row, notes; A4 portrait."""
    if not _is_path(path):
        raise ValueError("XLSX 只能写入文件路径，不能写入流")
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    thin = Side(style="thin", color="404040")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    body = Font(name=_BODY_FONT, size=11)
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)
    ncols = len(TABLE_HEADERS)
    last_col = get_column_letter(ncols)

    wb, ws = new_workbook("医保扣款", summary.title, _COLUMN_WIDTHS)

    def merged(row, text, font, alignment, height):
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=ncols)
        cell = _put(ws, row, 1, text)
        cell.font, cell.alignment = font, alignment
        ws.row_dimensions[row].height = height

    merged(1, summary.title, Font(name=_TITLE_FONT, size=16, bold=True), center, 32)
    merged(2, RULE + MONTH_RULE, Font(name=_BODY_FONT, size=10, color="555555"),
           Alignment(horizontal="left", vertical="center", wrap_text=True), 34)
    header_row = 4
    for column, text in enumerate(TABLE_HEADERS, 1):
        cell = _put(ws, header_row, column, text)
        cell.font = Font(name=_TITLE_FONT, size=11, bold=True)
        cell.fill = PatternFill("solid", fgColor=_HEADER_FILL)
        cell.border, cell.alignment = border, center
    r = header_row + 1
    rows = table_rows(summary)
    for line in rows + [totals_row(summary)]:
        is_total = line[1] == "合计"
        for column, value in enumerate(line, 1):
            if column in (6,) and value != "":
                value = float(value)  # shown with two decimals by the number format below
            cell = _put(ws, r, column, value if value != "" else None)
            cell.font = Font(name=_BODY_FONT, size=11, bold=is_total)
            cell.border, cell.alignment = border, center
            if column == 6:
                cell.number_format = "0.00"
        r += 1
    if not rows:
        merged(r, EMPTY_TEXT, body, center, 24)
        r += 1
    for note in summary.notes():
        r += 1
        merged(r, note, Font(name=_BODY_FONT, size=10.5, color="9A3412"),
               Alignment(horizontal="left", vertical="center", wrap_text=True), 34)
    r += 2
    merged(r, OFFICE, Font(name=_BODY_FONT, size=12), Alignment(horizontal="right", vertical="center"), 22)
    a4_table_page(ws, header_row, last_col, r, landscape=False)
    save_private(wb, path)


FORMATS = {"csv": _text_writer(render_csv), "xlsx": write_xlsx, "md": write_markdown}
