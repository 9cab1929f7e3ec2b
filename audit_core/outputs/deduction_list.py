"""Write the deductions-per-doctor list (医保扣款) as CSV, XLSX, Markdown or a plain-text table.

* CSV (the contract, docs/usage.md "Deductions"): ``CSV_COLUMNS`` first and in that order,
  ``total_yuan`` with two decimals, then Chinese-headed columns (``CSV_EXTRA_COLUMNS``);
  unattributed deductions (prescription not in the database) are one more row with an empty
  ``doctor_code`` and a note. No totals row: a program sums the column. A file starts with a
  UTF-8 byte-order mark (Excel on a Chinese Windows PC), a stream has none.
* XLSX and Markdown are for people, in the style of the disclosure list: Chinese
  headers, a totals row (合计), the notes about unattributed deductions, A4 portrait;
  every row of the workbook as tall as its wrapped text.
"""

from __future__ import annotations

import csv
import io
from typing import IO, Any

from ..formulas import neutralise
from ..publish.deductions import NOT_IN_ROSTER, UNATTRIBUTED, DeductionSummary, yuan
from . import xlsx
from .text import OFFICE, display_width, md, text_writer

CSV_COLUMNS = ["doctor_code", "doctor_name", "count", "total_yuan"]
CSV_EXTRA_COLUMNS = ["科室", "涉及处方数", "扣款月份", "备注"]
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
    lines = [f"# {md(summary.title)}", "", f"> {md(RULE + MONTH_RULE)}", ""]
    rows = table_rows(summary)
    if rows:
        lines.append("| " + " | ".join(TABLE_HEADERS) + " |")
        lines.append("| ---: | --- | --- | --- | ---: | ---: | ---: | --- |")
        for row in rows + [totals_row(summary)]:
            lines.append("| " + " | ".join(md(cell) for cell in row) + " |")
    else:
        lines.append(f"{EMPTY_TEXT}。")
    lines.append("")
    for note in summary.notes():
        lines += [md(note), ""]
    lines += [OFFICE, ""]
    return "\n".join(lines)


def render_text(summary: DeductionSummary) -> str:
    """A readable table for the terminal (wide characters count as two columns)."""
    rows = table_rows(summary)
    lines = [summary.title, ""]
    if not rows:
        return "\n".join(lines + [EMPTY_TEXT, ""] + summary.notes())
    table = [TABLE_HEADERS] + [[str(c) for c in r] for r in rows + [totals_row(summary)]]
    sizes = [max(display_width(line[i]) for line in table) for i in range(len(TABLE_HEADERS))]
    right = {0, 4, 5, 6}

    def fmt(line):
        cells = []
        for i, text in enumerate(line):
            fill = " " * (sizes[i] - display_width(text))
            cells.append(fill + text if i in right else text + fill)
        return "  ".join(cells).rstrip()

    lines.append(fmt(table[0]))
    lines.append("  ".join("-" * s for s in sizes))
    lines += [fmt(line) for line in table[1:-1]]
    lines.append("  ".join("-" * s for s in sizes))
    lines.append(fmt(table[-1]))
    lines += [""] + summary.notes()
    return "\n".join(lines).rstrip() + "\n"


write_markdown = text_writer(render_markdown)
write_text = text_writer(render_text)


# ---------------------------------------------------------------- XLSX

_COLUMN_WIDTHS = [6, 12, 16, 14, 10, 16, 12, 20]
_WRAPPED = {2, 3, 7}  # 医师姓名, 科室, 扣款月份 (0-based): the cells that wrap


def write_xlsx(summary: DeductionSummary, path) -> None:
    """One printable sheet (医保扣款): title, rule, the table with a totals row, notes; A4 portrait."""
    xlsx.require_path(path)
    border = xlsx.border()
    center = xlsx.alignment()
    wrapped = xlsx.alignment("left")
    ncols = len(TABLE_HEADERS)

    wb, ws = xlsx.new_workbook("医保扣款", summary.title, _COLUMN_WIDTHS)
    xlsx.merged_line(ws, 1, ncols, summary.title, font=xlsx.font(16, heading=True), alignment=center, height=32)
    xlsx.merged_line(ws, 2, ncols, RULE + MONTH_RULE, font=xlsx.font(10, color=xlsx.MUTED_COLOUR), alignment=wrapped,
                     height=xlsx.line_count(RULE + MONTH_RULE, sum(_COLUMN_WIDTHS)) * 15 + 6)
    header_row = 4
    xlsx.header_row(ws, header_row, TABLE_HEADERS, height=24)
    r = header_row + 1
    rows = table_rows(summary)
    for line in rows + [totals_row(summary)]:
        text_font = xlsx.font(11, bold=line[1] == "合计")
        for column, value in enumerate(line, 1):
            if column == 6 and value != "":
                value = float(value)  # shown with two decimals by the number format below
            cell = xlsx.put(ws, r, column, value if value != "" else None)
            cell.font, cell.border, cell.alignment = text_font, border, center
            if column == 6:
                cell.number_format = "0.00"
        # as tall as the cell that wraps to the most lines (Excel does not grow rows it did not lay out)
        lines = max(xlsx.line_count(str(line[c]), _COLUMN_WIDTHS[c]) for c in _WRAPPED)
        ws.row_dimensions[r].height = lines * xlsx.LINE_HEIGHT + 6
        r += 1
    if not rows:
        xlsx.merged_line(ws, r, ncols, EMPTY_TEXT, font=xlsx.font(11), alignment=center, height=24)
        r += 1
    for note in summary.notes():
        r += 1
        xlsx.merged_line(ws, r, ncols, note, font=xlsx.font(10.5, color=xlsx.NOTE_COLOUR), alignment=wrapped,
                         height=xlsx.line_count(note, sum(_COLUMN_WIDTHS)) * xlsx.LINE_HEIGHT + 6)
    r += 2
    xlsx.merged_line(ws, r, ncols, OFFICE, font=xlsx.font(12), alignment=xlsx.alignment("right", wrap=False), height=22)
    xlsx.a4_table_page(ws, header_row, ncols, r, landscape=False)
    xlsx.save(wb, path)


FORMATS = {"csv": text_writer(render_csv, bom=True), "xlsx": write_xlsx, "md": write_markdown}
