"""``mengui demo``: generate a hospital's months of exports, load them and audit each month."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .demo_data import write_demo_inputs
from .loader import LoadResult, load_files
from .plugins import get_input_aliases
from .runner import AuditResult, audit_month
from .schema import connect

DEMO_LAST_MONTH = "2026-10"


@dataclass
class DemoRun:
    directory: Path
    db_path: Path
    months: list[str]
    manifest: dict


def demo_months(count: int, last: str = DEMO_LAST_MONTH) -> list[str]:
    """``count`` consecutive months ending with ``last``."""
    year, month = map(int, last.split("-"))
    months = []
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return months[::-1]


def run_demo(directory: Path, months: int = 3, seed: int = 20261101,
             on_month: Callable[[str, LoadResult, AuditResult], None] | None = None) -> DemoRun:
    """Write ``directory/inputs/<month>/``, then load and audit each month into ``directory/mengui.db``."""
    directory.mkdir(parents=True, exist_ok=True)
    inputs = directory / "inputs"
    month_list = demo_months(months)
    manifest = write_demo_inputs(inputs, month_list, seed=seed)
    db_path = directory / "mengui.db"
    conn = connect(db_path)
    aliases = get_input_aliases()
    try:
        for month in month_list:
            loaded = load_files(conn, [inputs / month], aliases=aliases)
            audited = audit_month(conn, month)
            if on_month:
                on_month(month, loaded, audited)
    finally:
        conn.close()
    return DemoRun(directory, db_path, month_list, manifest)
