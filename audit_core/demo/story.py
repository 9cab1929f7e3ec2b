"""``mengui demo``: a hospital's months of exports, loaded, audited, reviewed and disclosed.

For each month: load the exports (with the insurance office's deductions), audit,
import the committee's verdict file (written here from what the committee would
plausibly rule on the month's flags), draft the list and publish it (the office signs it
off as ``PUBLISHER``): its revocations take effect on the first day of the next month, and
the generator has the revoked doctors stop writing 门规 prescriptions from that day
(their patients go to colleagues), so no revoked doctor keeps prescribing unflagged. Then
two doctors appeal a 不合理 verdict of the second-to-last month (one overturned by the
复审 — that month's and the following lists are drafted and published again: new
revisions — one upheld) and one appeals in the last month (still pending). The last
month's published list, deductions and report, and the deductions of all months (XLSX),
go to ``output/``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Callable

from .. import months as month_names
from ..review.appeals import file_appeal, review_appeal
from ..outputs.deduction_list import FORMATS as DEDUCTION_FORMATS
from ..publish.deductions import summarise as summarise_deductions
from .data import write_demo_inputs
from ..db.files import open_private
from ..formulas import neutralise
from ..ingest.loader import LoadResult, load_files
from ..monthly import write_outputs
from ..plugins import input_options
from ..publish.disclosure import PublishResult, disclose_month, publish_month
from ..audit.runner import AuditResult, audit_month
from ..db.schema import connect

DEMO_LAST_MONTH = "2026-10"
PUBLISHER = "医保办 赵主任"  # who signs the demo's lists off

# What the 药事委员会 rules on each kind of planted case (None: not reviewed this month).
COMMITTEE = {
    "split_visit": ("不合理", "分解处方规避单次限额"),
    "multi_over": ("不合理", "超出多病种限额，病历无特殊用药说明"),
    "single_over": ("合理", "超出 0.01 元，系药品调价尾差"),
    "uncertified": ("不合理", "门规认定已过期仍按门规开药"),
    "unqualified_doctor": ("不合理", "进修医师无医保定岗资格，不得开具门规处方"),
    "over_supply_far": ("不合理", "超出病种每次最长用药天数，无长处方备案"),
    "over_supply_some": ("合理", "患者长期外出，已在医保办备案长处方"),
    "early_refill_hint": ("合理", "患者外出探亲，提前取药，已在医保办登记"),
}
REVIEWERS = ["王立新", "刘敏", "陈志刚"]


@dataclass
class DemoAppeal:
    rx_id: str
    check_id: str
    doctor_code: str
    month: str
    status: str  # pending | upheld | overturned
    revisions: list[PublishResult]  # the lists published again after the 复审 (new revision or not)


@dataclass
class DemoRun:
    directory: Path
    db_path: Path
    months: list[str]
    manifest: dict
    outputs: list[Path]
    appeals: list[DemoAppeal] = field(default_factory=list)
    published: PublishResult | None = None  # the last month's list after the appeals


@dataclass
class DemoMonth:
    month: str
    loaded: LoadResult
    audited: AuditResult
    verdicts: int
    published: PublishResult


def publish(conn, month: str, first: str) -> PublishResult:
    """Draft the month's list and publish it, as the office does once the committee has signed it off."""
    disclose_month(conn, month, start=first)
    return publish_month(conn, month, by=PUBLISHER)


def demo_months(count: int, last: str = DEMO_LAST_MONTH) -> list[str]:
    """``count`` consecutive months ending with ``last``."""
    return month_names.span(month_names.previous(last, count - 1), last)


def committee_file(conn, month: str, planted: list[dict], path: Path, last: bool) -> int:
    """Write the committee's verdicts on the month's flags as a Chinese-headed CSV; return the count."""
    case_of = {rx: case["case"] for case in planted for rx in case["rx_ids"]}
    flags = conn.execute("SELECT rx_id, check_id FROM flags WHERE month = ? ORDER BY rx_id, check_id", (month,)).fetchall()
    first_month = conn.execute("SELECT min(month) FROM flags").fetchone()[0]
    rows = []
    for index, (rx_id, check_id) in enumerate(flags):
        case = case_of.get(rx_id)
        ruling = COMMITTEE.get(case)
        if case == "multi_over" and last:
            continue  # still waiting for the committee: shows as 待审核
        if case == "duplicate_name" and month == first_month:
            ruling = ("合理", "原规格停产，更换规格后原处方已停用")
        if case == "extra_over":
            ruling = ("合理", "病情需要，已补充用药说明") if index % 3 == 0 else ("不合理", "超出单次限额，无特殊用药说明")
        if ruling:
            reviewer = REVIEWERS[index % len(REVIEWERS)]
            rows.append([rx_id, check_id, ruling[0], reviewer, f"{month}-28 15:00:00", ruling[1]])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_private(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["处方号", "规则", "结论", "审核人", "审核时间", "备注"])
        writer.writerows([neutralise(value) for value in row] for row in rows)
    return len(rows)


def run_demo(directory: Path, months: int = 3, seed: int = 20261101,
             on_month: Callable[[DemoMonth], None] | None = None) -> DemoRun:
    """Write ``directory/inputs/<month>/``; load, audit, review and disclose each month into ``mengui.db``."""
    directory.mkdir(parents=True, exist_ok=True)
    inputs = directory / "inputs"
    month_list = demo_months(months)
    manifest = write_demo_inputs(inputs, month_list, seed=seed)
    db_path = directory / "mengui.db"
    conn = connect(db_path)
    options = input_options()
    try:
        published = None
        for month in month_list:
            loaded = load_files(conn, [inputs / month], **options)
            audited = audit_month(conn, month)
            verdict_path = directory / "committee" / f"verdicts-{month}.csv"
            count = committee_file(conn, month, manifest["months"][month]["planted"], verdict_path,
                                   last=month == month_list[-1])
            if count:
                load_files(conn, [verdict_path], kind="verdicts", **options)
            published = publish(conn, month, month_list[0])
            if on_month:
                on_month(DemoMonth(month, loaded, audited, count, published))
        appeals = []
        if not conn.execute("SELECT EXISTS (SELECT 1 FROM appeals)").fetchone()[0]:  # a rerun files nothing again
            appeals = demo_appeals(conn, month_list)
        # the last month's list as it stands after the appeals (a new revision only if it changed)
        published = publish(conn, month_list[-1], month_list[0])
        outputs = write_outputs(conn, published.disclosure, directory / "output")
        path = directory / "output" / f"deductions-{month_list[0]}_{month_list[-1]}.xlsx"
        DEDUCTION_FORMATS["xlsx"](summarise_deductions(conn), path)
        outputs.append(path)
    finally:
        conn.close()
    return DemoRun(directory, db_path, month_list, manifest, outputs, appeals, published)


# The doctors' appeals and the committee's 复审 in the demo.
APPEALS = {
    "overturned": ("患者当月血压波动，已补充病历中的特殊用药说明", "合理", "复审：病历记载的特殊用药说明属实，改判合理"),
    "upheld": ("认为药品调价后金额应按原价计算", "不合理", "复审：按结算价格计算，维持不合理"),
    "pending": ("同日两张处方分属不同病种，并非分解处方", None, None),
}


def _appeal_candidate(conn, month: str, next_month: str | None, avoid: set[str]):
    """A 不合理 over-cap flag of ``month`` (the appeal reasons are about amounts) whose doctor has no
    other unreasonable prescription that month (so an overturn changes the list), preferring a
    doctor also listed the month after."""
    rows = conn.execute(
        """
        SELECT f.rx_id, f.check_id, f.doctor_code FROM flag_status f
        WHERE f.month = :m AND f.check_id = 'amount_cap' AND f.verdict = 'unreasonable' AND f.appeal_status IS NULL
          AND (SELECT count(DISTINCT g.rx_id) FROM flag_status g
               WHERE g.month = :m AND g.doctor_code = f.doctor_code AND g.counts) = 1
        ORDER BY EXISTS (SELECT 1 FROM disclosures x WHERE x.month = :n AND x.doctor_code = f.doctor_code) DESC,
                 f.rx_id
        """, {"m": month, "n": next_month}).fetchall()
    return next((r for r in rows if r["doctor_code"] not in avoid), None)


def demo_appeals(conn, months: list[str]) -> list[DemoAppeal]:
    """One appeal overturned and one upheld on the second-to-last month's verdicts (the lists of that
    month and later are disclosed again: the overturn makes new revisions), one still pending in the last."""
    target = months[-2] if len(months) > 1 else months[-1]
    later = months[months.index(target):]
    plan = [("overturned", target), ("upheld", target)] + ([("pending", months[-1])] if len(months) > 1 else [])
    done: list[DemoAppeal] = []
    for kind, month in plan:
        following = months[months.index(month) + 1] if month != months[-1] else None
        row = _appeal_candidate(conn, month, following, {a.doctor_code for a in done})
        if row is None:
            continue
        reason, verdict, note = APPEALS[kind]
        verdict_day = date.fromisoformat(f"{month}-28")
        file_appeal(conn, row["rx_id"], row["check_id"], reason, row["doctor_code"],
                    verdict_day + timedelta(days=6), source="demo")
        revisions = []
        if verdict:
            review_appeal(conn, row["rx_id"], row["check_id"], verdict, REVIEWERS[0], note, source="demo")
            revisions = [publish(conn, m, months[0]) for m in later]
        done.append(DemoAppeal(row["rx_id"], row["check_id"], row["doctor_code"], month, kind, revisions))
    return done
