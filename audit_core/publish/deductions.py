"""The insurance office's deductions (医保扣款) per prescribing doctor.

Hospital rule (the Jinan policy, docs/usage.md "Deductions"): the prescribing doctor bears a deduction in full. A
deduction is attributed through its prescription (``prescriptions.doctor_code``)
to the doctor, whose name and department come from the roster (``doctors``). The
view ``deduction_attribution`` (schema migration 8) does the join; everything here
is one ``GROUP BY`` query on it.

``--month`` filters on the month of the deduction date (扣款日期), or on the
prescription's month when the deduction has no date. A deduction whose
prescription is not in the database cannot be attributed: it is listed as
unattributed (未归属), never dropped; if it also has no date it cannot be placed
in any month and is reported separately when a month is asked for.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from ..money import format_yuan
from .. import months

NOT_IN_ROSTER = "（名册中无此医师）"
UNATTRIBUTED = "（未归属：处方不在数据库中）"


@dataclass
class DoctorDeductions:
    doctor_code: str
    doctor_name: str | None  # None: the doctor is not in the roster
    department: str | None
    count: int
    total_fen: int
    prescriptions: int
    months: list[str]


@dataclass
class Unattributed:
    deduction_id: str
    rx_id: str
    amount_fen: int
    deduction_date: str | None
    reason: str | None


@dataclass
class DeductionSummary:
    month: str | None
    doctors: list[DoctorDeductions]
    unattributed: list[Unattributed] = field(default_factory=list)
    undated_unattributed: int = 0  # no date and no prescription: cannot be placed in ``month``

    @property
    def count(self) -> int:
        return sum(d.count for d in self.doctors) + len(self.unattributed)

    @property
    def total_fen(self) -> int:
        return sum(d.total_fen for d in self.doctors) + sum(u.amount_fen for u in self.unattributed)

    @property
    def unattributed_fen(self) -> int:
        return sum(u.amount_fen for u in self.unattributed)

    @property
    def title(self) -> str:
        if self.month:
            return f"{months.title(self.month)}医保扣款（按开方医师）"
        return "医保扣款（按开方医师，全部月份）"

    def notes(self) -> list[str]:
        """What a reader must know: unattributed deductions, in Chinese."""
        notes = []
        if self.unattributed:
            ids = "、".join(f"{u.deduction_id}（处方 {u.rx_id}）" for u in self.unattributed[:5])
            more = f" 等 {len(self.unattributed)} 条" if len(self.unattributed) > 5 else ""
            notes.append(f"另有 {len(self.unattributed)} 条扣款共 {yuan(self.unattributed_fen)} 元未能归属到医师："
                         f"对应处方不在数据库中：{ids}{more}。请导入这些处方后重新统计。")
        if self.undated_unattributed:
            notes.append(f"另有 {self.undated_unattributed} 条扣款既无扣款日期、处方也不在数据库中，无法确定月份，"
                         "未计入本月（不带 --month 时列出）。")
        return notes


def yuan(fen: int) -> str:
    """分 → 元 with two decimals and no thousands separator, as the deductions CSV has it."""
    return format_yuan(fen, grouping=False)


def summarise(conn: sqlite3.Connection, month: str | None = None) -> DeductionSummary:
    """Deductions per doctor (largest total first), plus the unattributed ones, for ``month`` or all months."""
    if month:
        months.check(month)
    params = {"m": month}
    doctors = [
        DoctorDeductions(r["doctor_code"], r["doctor_name"], r["department"], r["n"], r["total"], r["rxs"],
                         sorted(set((r["months"] or "").split(","))))
        for r in conn.execute(
            """
            SELECT doctor_code, max(doctor_name) AS doctor_name, max(department) AS department, count(*) AS n,
                   sum(amount_fen) AS total, count(DISTINCT rx_id) AS rxs, group_concat(DISTINCT month) AS months
            FROM deduction_attribution
            WHERE attributed AND (:m IS NULL OR month = :m)
            GROUP BY doctor_code
            ORDER BY total DESC, doctor_code
            """, params)
    ]
    unattributed = [
        Unattributed(r["deduction_id"], r["rx_id"], r["amount_fen"], r["deduction_date"], r["reason"])
        for r in conn.execute(
            """
            SELECT deduction_id, rx_id, amount_fen, deduction_date, reason FROM deduction_attribution
            WHERE NOT attributed AND (:m IS NULL OR month = :m)
            ORDER BY deduction_date, deduction_id
            """, params)
    ]
    undated = 0
    if month:
        undated = conn.execute(
            "SELECT count(*) FROM deduction_attribution WHERE NOT attributed AND month IS NULL").fetchone()[0]
    return DeductionSummary(month, doctors, unattributed, undated)

