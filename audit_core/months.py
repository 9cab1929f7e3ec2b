"""Months: the one place that parses, shifts and names a ``YYYY-MM`` month.

Every stage works month by month (an audit, a list, a report); they all go through here, so a
month is checked and written the same way everywhere.
"""

from __future__ import annotations

import calendar
import re

from .errors import MenguiError

_MONTH = re.compile(r"(\d{4})-(\d{2})")


def parse(month: str) -> tuple[int, int]:
    """``"2026-10"`` → ``(2026, 10)``; a Chinese error for anything else."""
    match = _MONTH.fullmatch(month or "")
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise MenguiError(f"月份格式应为 YYYY-MM（如 2026-10），实际为「{month}」")
    return int(match.group(1)), int(match.group(2))


def check(month: str) -> str:
    """The month itself, once checked (for options and arguments)."""
    parse(month)
    return month


def bounds(month: str) -> tuple[str, str]:
    """The month's first and last day, ``YYYY-MM-DD``."""
    year, mon = parse(month)
    return f"{month}-01", f"{month}-{calendar.monthrange(year, mon)[1]:02d}"


def shift(month: str, delta: int) -> str:
    """The month ``delta`` months later (earlier when negative)."""
    year, mon = parse(month)
    index = year * 12 + (mon - 1) + delta
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def previous(month: str, back: int = 1) -> str:
    return shift(month, -back)


def following(month: str) -> str:
    return shift(month, 1)


def span(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last``, inclusive, oldest first."""
    months, month = [], first
    while month <= last:
        months.append(month)
        month = following(month)
    return months


def of_date(day: str) -> str:
    """``"2026-10-08"`` (or with a time) → ``"2026-10"``."""
    return str(day)[:7]


def title(month: str) -> str:
    """``"2026 年 10 月"`` — in headings and titles."""
    year, mon = parse(month)
    return f"{year} 年 {mon} 月"


def label(month: str) -> str:
    """``"2026年10月"`` — compact, with the year (chart axes, table cells)."""
    year, mon = parse(month)
    return f"{year}年{mon}月"
