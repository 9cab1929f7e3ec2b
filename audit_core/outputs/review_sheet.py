"""The committee's review sheet: the month's flags awaiting a verdict, on paper.

Each row carries what the meeting needs to decide without a screen — the prescription, its date and
doctor, the patient's certified diseases (no name), the reason with its numbers, the level and the
drugs in brief — and three empty columns, 结论, 审核人 and 备注. Most severe first, then the largest
amount. The XLSX prints on A4 landscape with the header row on every page; filled in (on paper and
typed back, or in Excel), it goes straight back in with ``mengui verdicts DB FILE``: its headers are
the verdict file's (处方号, 规则 — the check's Chinese title, which the loader maps to its id —, 结论,
审核人, 备注); the other columns are context the loader ignores, and rows left without a 结论 are
skipped and counted. The HTML version is for printing from a browser.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from .. import months
from ..audit.runner import ruleset_for_month
from ..errors import MenguiError
from ..money import format_yuan
from ..review.pending import AWAITING
from . import xlsx
from .pages import render

#: the sheet's columns: context first, the three the committee fills in last
HEADERS = ["序号", "处方号", "开方日期", "医师", "患者门规病种", "级别", "规则", "原因", "药品（用药天数）",
           "结论", "审核人", "备注"]
#: (minimum, maximum) width of each column, in characters; 原因 takes what is left
WIDTHS = [(5, 5), (16, 18), (11, 11), (10, 14), (12, 18), (6, 6), (10, 14), (30, 48), (18, 30),
          (8, 8), (8, 8), (14, 14)]


@dataclass
class SheetRow:
    rx_id: str
    rx_date: str
    doctor: str
    diseases: str
    level: str
    level_rank: int
    check_title: str
    detail: str
    drugs: str
    amount_fen: int | None


@dataclass
class ReviewSheet:
    month: str
    rows: list[SheetRow] = field(default_factory=list)
    ruleset_title: str = ""

    @property
    def title(self) -> str:
        return f"{months.title(self.month)}门规处方待审核清单"

    def cells(self, index: int, row: SheetRow) -> list:
        return [index, row.rx_id, row.rx_date, row.doctor, row.diseases, row.level, row.check_title, row.detail,
                row.drugs, "", "", ""]


def build(conn: sqlite3.Connection, month: str) -> ReviewSheet:
    """The month's flags that await a verdict (:data:`mengui_core.review.pending.AWAITING`: 待审核, and 计入未复核
    — counted unless ruled 合理), most severe and largest first."""
    months.check(month)
    if not conn.execute("SELECT EXISTS (SELECT 1 FROM audit_runs WHERE month = ? AND finished_at IS NOT NULL)",
                        (month,)).fetchone()[0]:
        raise MenguiError(f"{month} 还没有审核，请先运行 mengui audit DB --month {month}")
    ruleset = ruleset_for_month(conn, month)
    names = {d.code: d.name for d in ruleset.diseases}
    rows = conn.execute(
        f"""
        SELECT s.rx_id, s.rx_date, s.doctor_code, d.doctor_name, s.patient_id, s.level, s.level_rank,
               coalesce(c.title, s.check_id) AS check_title, s.detail, s.amount_fen,
               (SELECT group_concat(i.drug_name || coalesce('（' || i.days_supply || ' 天）', ''), '；')
                FROM (SELECT drug_name, days_supply FROM rx_items WHERE rx_id = s.rx_id ORDER BY line_no) i) AS drugs,
               (SELECT group_concat(t.disease_code, ';')
                FROM (SELECT DISTINCT disease_code FROM certifications
                      WHERE patient_id = s.patient_id AND valid_from <= s.rx_date
                        AND (valid_to IS NULL OR valid_to >= s.rx_date) ORDER BY disease_code) t) AS certified
        FROM flag_status s
        LEFT JOIN checks c ON c.check_id = s.check_id
        LEFT JOIN doctors d ON d.doctor_code = s.doctor_code
        WHERE s.month = ? AND {AWAITING}
        ORDER BY s.level_rank DESC, s.amount_fen DESC NULLS LAST, s.rx_date, s.rx_id, s.check_id
        """,
        (month,),
    ).fetchall()
    sheet = ReviewSheet(month, ruleset_title=ruleset.title)
    for r in rows:
        codes = [code for code in (r["certified"] or "").split(";") if code]
        diseases = "、".join(names.get(code[:6], code) for code in codes) or "无有效认定"
        doctor = r["doctor_code"] + (f" {r['doctor_name']}" if r["doctor_name"] else "")
        detail = r["detail"] + (f"（金额 {format_yuan(r['amount_fen'])} 元）" if r["amount_fen"] is not None
                                and "元" not in (r["detail"] or "") else "")
        sheet.rows.append(SheetRow(r["rx_id"], r["rx_date"], doctor, diseases, r["level"] or "", r["level_rank"] or 0,
                                   r["check_title"], detail, r["drugs"] or "（未导入明细）", r["amount_fen"]))
    return sheet


NOTE = ("填写说明：在「结论」栏填「合理」或「不合理」，并填写审核人；未填结论的行不导入。"
        "填好后交医保办导入（读取处方号、规则、结论、审核人、备注五栏，其他栏仅供参考）。")


def write_xlsx(sheet: ReviewSheet, path) -> None:
    """A4 landscape, the header row on every page, wrapped rows as tall as their text."""
    table = [HEADERS] + [sheet.cells(n, row) for n, row in enumerate(sheet.rows, 1)]
    widths = xlsx.fit_widths(table, WIDTHS)
    wb, ws = xlsx.new_workbook("待审核", sheet.title, widths)
    # row 1 is the header row (the loader reads it back); the title and the note go in the page header
    xlsx.header_row(ws, 1, HEADERS, height=xlsx.LINE_HEIGHT + 8)
    body, grid = xlsx.font(10.5), xlsx.border()
    left, centre = xlsx.alignment("left", "top"), xlsx.alignment("center", "top")
    for row_index, cells in enumerate(table[1:], 2):
        lines = 1
        for column, value in enumerate(cells, 1):
            cell = xlsx.put(ws, row_index, column, value)
            cell.font, cell.border = body, grid
            cell.alignment = left if HEADERS[column - 1] in ("原因", "药品（用药天数）", "患者门规病种", "备注") else centre
            lines = max(lines, xlsx.line_count(value, widths[column - 1]))
        ws.row_dimensions[row_index].height = max(lines, 2) * xlsx.LINE_HEIGHT + 6  # room to write by hand
    last = len(table)
    if not sheet.rows:
        xlsx.merged_line(ws, 2, len(HEADERS), "本月没有待审核的标记", font=body, alignment=centre,
                         height=xlsx.LINE_HEIGHT * 2)
        last = 2
    xlsx.a4_table_page(ws, 1, len(HEADERS), last, landscape=True)
    ws.oddHeader.center.text = f"&\"{xlsx.TITLE_FONT},Bold\"&14{sheet.title}"
    ws.oddHeader.right.text = f"共 {len(sheet.rows)} 条"
    ws.oddFooter.left.text = NOTE
    ws.oddFooter.left.size = 8
    ws.auto_filter.ref = f"A1:{chr(ord('A') + len(HEADERS) - 1)}{max(last, 1)}"
    xlsx.save(wb, path)


def render_html(sheet: ReviewSheet) -> str:
    return render("review_sheet.html", title=sheet.title, headers=HEADERS, note=NOTE, ruleset=sheet.ruleset_title,
                  rows=[sheet.cells(n, row) for n, row in enumerate(sheet.rows, 1)],
                  level_ranks=[row.level_rank for row in sheet.rows])
