"""Writing XLSX: every workbook the project makes goes through this module.

A workbook here is a printed document first: A4, one page wide, the table's header row repeated on
every page, page numbers, fonts a Chinese office PC has, column widths and row heights that fit
wrapped CJK text. Every cell is written as data (:func:`put`): text a spreadsheet would run as a
formula stays text (:func:`mengui_core.formulas.literal_cell`), and characters XLSX cannot store are
dropped. Files are owner-only (:func:`save`).

openpyxl is imported inside the functions, so that importing an output module stays cheap.
"""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

from ..db.files import create_private
from ..formulas import literal_cell
from .text import OFFICE, display_width, is_path

__all__ = [
    "BODY_FONT", "HEADER_FILL", "LINE_HEIGHT", "NOTE_COLOUR", "TITLE_FONT",
    "a4_table_page", "a4_text_page", "alignment", "border", "fill", "fit_widths", "font", "header_row",
    "line_count", "merged_line", "new_workbook", "put", "require_path", "save",
]

# Fonts commonly present on a Chinese Windows office PC; other systems substitute.
BODY_FONT = "宋体"
TITLE_FONT = "黑体"
HEADER_FILL = "DDE4EE"
NOTE_COLOUR = "9A3412"  # notes under a table (pending reviews, unattributed money)
MUTED_COLOUR = "555555"
LINE_HEIGHT = 16.5  # points per line of 11 pt CJK text


# ---------------------------------------------------------------- styles


def font(size: float = 11, *, heading: bool = False, bold: bool | None = None, color: str | None = None):
    """Body text in 宋体; ``heading``: 黑体, bold unless told otherwise."""
    from openpyxl.styles import Font

    return Font(name=TITLE_FONT if heading else BODY_FONT, size=size, bold=heading if bold is None else bold,
                color=color)


def alignment(horizontal: str = "center", vertical: str = "center", *, wrap: bool = True, indent: int = 0):
    from openpyxl.styles import Alignment

    return Alignment(horizontal=horizontal, vertical=vertical, wrap_text=wrap, indent=indent)


def border():
    """A thin dark border on all four sides (a printed table's grid)."""
    from openpyxl.styles import Border, Side

    thin = Side(style="thin", color="404040")
    return Border(left=thin, right=thin, top=thin, bottom=thin)


def fill(rgb: str):
    from openpyxl.styles import PatternFill

    return PatternFill("solid", fgColor=rgb)


# ---------------------------------------------------------------- sizes


def line_count(text: Any, width: float) -> int:
    """How many lines ``text`` wraps to in a column ``width`` characters wide (CJK counts double)."""
    usable = max(width - 3, 1)  # borders and the one-character indent
    return max(1, sum(math.ceil(max(display_width(part), 1) / usable) for part in str(text).split("\n")))


def fit_widths(table: Sequence[Sequence[Any]], limits: Sequence[tuple[float, float]]) -> list[float]:
    """Column widths that fit the widest cell of each column (plus a margin), within (minimum, maximum)."""
    widths = []
    for index, (low, high) in enumerate(limits):
        wanted = max((display_width(str(line[index])) for line in table), default=0) + 2
        widths.append(float(min(max(wanted, low), high)))
    return widths


# ---------------------------------------------------------------- cells


def put(ws, row: int, column: int, value: Any):
    """Set a cell to a literal value: formula-like text stays text, characters XLSX cannot store
    (control characters from HIS exports) are dropped."""
    if isinstance(value, str):
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return literal_cell(ws.cell(row=row, column=column), value)


def merged_line(ws, row: int, columns: int, text: Any, *, font, alignment, height: float | None = None):
    """One line of text across the first ``columns`` columns (a title, a note, a signature)."""
    ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=columns)
    cell = put(ws, row, 1, text)
    cell.font, cell.alignment = font, alignment
    if height:
        ws.row_dimensions[row].height = height
    return cell


def header_row(ws, row: int, headers: Sequence[str], height: float | None = None) -> None:
    """A table's header: bold 黑体 on a pale blue fill, centred, with the grid."""
    heading, shade, grid, centre = font(11, heading=True), fill(HEADER_FILL), border(), alignment()
    for column, text in enumerate(headers, 1):
        cell = put(ws, row, column, text)
        cell.font, cell.fill, cell.border, cell.alignment = heading, shade, grid, centre
    if height:
        ws.row_dimensions[row].height = height


# ---------------------------------------------------------------- workbook and page


def require_path(target: Any) -> None:
    if not is_path(target):
        raise ValueError("XLSX 只能写入文件路径，不能写入流")


def new_workbook(sheet: str, title: str, widths: Sequence[float]):
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


def _a4(ws, *, landscape: bool, one_page: bool = False) -> None:
    from openpyxl.worksheet.properties import PageSetupProperties

    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = ws.ORIENTATION_LANDSCAPE if landscape else ws.ORIENTATION_PORTRAIT
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 1 if one_page else 0


def a4_table_page(ws, header_row: int, columns: int, last_row: int, *, landscape: bool,
                  one_page: bool = False) -> None:
    """Page setup of a printed table: A4, one page wide (and one page tall when ``one_page``: a short
    table keeps its signature block on its page), the table header on every page, page numbers."""
    from openpyxl.utils import get_column_letter

    _a4(ws, landscape=landscape, one_page=one_page)
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top, ws.page_margins.bottom = 0.5, 0.6
    ws.page_margins.header, ws.page_margins.footer = 0.25, 0.3
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.print_area = f"A1:{get_column_letter(columns)}{last_row}"
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"
    ws.oddFooter.center.size = 9
    ws.freeze_panes = ws.cell(row=header_row + 1, column=1)


def a4_text_page(ws, lines: Sequence[tuple[str, Any]], width: float = 66) -> None:
    """A sheet of wrapped lines in column A — (text, font) each — printed on A4 portrait, one page wide."""
    ws.column_dimensions["A"].width = width  # 66 fits A4 portrait even where fit-to-page is ignored
    ws.sheet_view.showGridLines = False
    wrap = alignment("left", "top")
    for index, (text, text_font) in enumerate(lines, 1):
        cell = put(ws, index, 1, text or None)
        cell.font, cell.alignment = text_font, wrap
        ws.row_dimensions[index].height = line_count(text, width) * LINE_HEIGHT + 4
    _a4(ws, landscape=False)
    ws.page_margins.left = ws.page_margins.right = 0.6
    ws.print_area = f"A1:A{len(lines)}"


def save(wb, path: str | os.PathLike) -> None:
    """Save a workbook as an owner-only file."""
    require_path(path)
    create_private(path)
    wb.save(path)
