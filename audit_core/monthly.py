"""The monthly job (``mengui run``): load, audit, import verdicts, draft the list, write it and the report.

The job never publishes: the list it computes is the month's draft ("草稿，待审定后 mengui publish"),
made public by ``mengui publish`` once the committee has signed it off.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from .ingest.inputs import AFTER_AUDIT
from .ingest.loader import LoadResult, load_files, plan
from .plugins import input_options
from .publish.disclosure import Disclosure, DraftResult, disclose_month
from .audit.runner import AuditResult, audit_month

OUTPUT_FORMATS = ("csv", "xlsx", "md", "html")


@dataclass
class MonthlyResult:
    month: str
    loaded: LoadResult
    audited: AuditResult
    verdicts: LoadResult | None
    drafted: DraftResult
    files: list[Path] = field(default_factory=list)


def write_outputs(conn: sqlite3.Connection, disclosure: Disclosure, out_dir: Path,
                  formats=OUTPUT_FORMATS, report: bool = True) -> list[Path]:
    """The list (a draft or the published one) in every format, the month's deductions per doctor (when
    there are any) and the report."""
    from .outputs.deduction_list import FORMATS as DEDUCTION_FORMATS
    from .publish.deductions import summarise as summarise_deductions
    from .outputs.disclosure_list import DEFAULT_SUFFIX, FORMATS
    from .outputs.report import write_month_report

    out_dir.mkdir(parents=True, exist_ok=True)
    month = disclosure.month
    written = []
    for name in formats:
        path = out_dir / f"disclosure-{month}{DEFAULT_SUFFIX[name]}"
        FORMATS[name](disclosure, path)
        written.append(path)
    deductions = summarise_deductions(conn, month)
    if deductions.count:
        path = out_dir / f"deductions-{month}.csv"
        DEDUCTION_FORMATS["csv"](deductions, path)
        written.append(path)
    if report:
        path = out_dir / f"report-{month}.html"
        write_month_report(conn, month, path)
        written.append(path)
    return written


def run_month(conn: sqlite3.Connection, month: str, input_dir: Path, out_dir: Path, *, ruleset: str | None = None,
              start: str | None = None, allow_unaudited: bool = False, require_reviewed: bool = False,
              progress=None, on_step=None) -> MonthlyResult:
    """Load the month's exports, audit, then load any verdict files, draft the list and write the outputs."""
    step = on_step or (lambda text: None)
    options = input_options()
    planned = plan([input_dir], formats=options["formats"])
    data = [p for p, kind in planned if kind not in AFTER_AUDIT]
    later = [p for p, kind in planned if kind in AFTER_AUDIT]
    step("导入数据")
    loaded = load_files(conn, data, progress=progress, **options)
    step("审核")
    audited = audit_month(conn, month, ruleset)
    verdicts = None
    if later:
        step("导入审核结论")
        verdicts = load_files(conn, later, **options)
    step("生成公示名单草稿")
    drafted = disclose_month(conn, month, ruleset=ruleset, start=start, allow_unaudited=allow_unaudited,
                             require_reviewed=require_reviewed)
    step("写出名单草稿与月报")
    files = write_outputs(conn, drafted.current, out_dir)
    return MonthlyResult(month, loaded, audited, verdicts, drafted, files)
