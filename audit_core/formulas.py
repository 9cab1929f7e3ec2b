"""Spreadsheet formula injection (CSV injection): text a spreadsheet would run as a formula.

A cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return before one) is
read by Excel, WPS and LibreOffice as a formula, e.g. ``=cmd|' /C calc'!A0``. The loader refuses
such names (:mod:`mengui_core.ingest.loader`); everything the project writes for a spreadsheet — CSV,
XLSX, and the CSV that the Datasette site serves — neutralises them anyway, in case older data
holds one: CSV cells get a leading apostrophe, XLSX cells are stored as text with Excel's quote
prefix. Plain numbers such as ``-12.50`` are left alone.
"""

from __future__ import annotations

import re
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[-+]?\d+(?:\.\d+)?$")


def is_formula_like(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.match(value)


def neutralise(value: Any) -> Any:
    """A CSV cell's value, with an apostrophe before text a spreadsheet would run as a formula."""
    return "'" + value if is_formula_like(value) else value


def literal_cell(cell, value: Any):
    """Set an openpyxl cell to ``value`` as data: formula-like text stays text (quote prefix)."""
    cell.value = value
    if isinstance(value, str) and (value.startswith("=") or is_formula_like(value)):
        cell.data_type = "s"
        cell.quotePrefix = True
    return cell
