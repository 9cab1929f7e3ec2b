"""The committee's work list: a month's flags that await a verdict, in the order the committee takes
them, and the one after a given flag (where the review page goes once a verdict is recorded).

A flag awaits a verdict when the committee has not ruled on it and it is not a monitoring flag: status
待审核 (it counts only once ruled 不合理) or 计入未复核 (it counts unless ruled 合理).

The order: checks as the catalog first met them (the built-in ones as the policy lists them: over-cap
first), then within a check the most severe level first, then the largest amount,
then by date — the pending page shows one group per check in this order (a member records one verdict
for several flags of the same check at once), and the review page's "next" follows it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

__all__ = ["AWAITING", "ORDER", "PendingFlag", "pending_flags", "next_pending"]

#: the flags of ``flag_status s`` that await a verdict
AWAITING = "s.verdict IS NULL AND NOT s.monitoring"

#: the committee's order over ``flag_status s`` joined with ``checks c``
ORDER = ("coalesce(c.rowid, 1e9), s.check_id, s.level_rank DESC, s.amount_fen DESC NULLS LAST, "
         "s.rx_date, s.rx_id")


@dataclass
class PendingFlag:
    rx_id: str
    check_id: str
    title: str
    level: str
    level_rank: int
    rx_date: str
    doctor_code: str
    doctor_name: str
    department: str
    detail: str
    amount_fen: int | None
    limit_fen: int | None
    status: str


def pending_flags(conn: sqlite3.Connection, month: str, check_id: str | None = None) -> list[PendingFlag]:
    """The month's flags awaiting a verdict, in the committee's order."""
    rows = conn.execute(
        f"""
        SELECT s.rx_id, s.check_id, coalesce(c.title, s.check_id) AS title, coalesce(s.level, '') AS level,
               coalesce(s.level_rank, 0) AS level_rank, s.rx_date, s.doctor_code, coalesce(d.doctor_name, '') AS doctor_name,
               coalesce(nullif(s.department, ''), d.department, '') AS department, s.detail, s.amount_fen, s.limit_fen, s.status
        FROM flag_status s
        LEFT JOIN checks c ON c.check_id = s.check_id
        LEFT JOIN doctors d ON d.doctor_code = s.doctor_code
        WHERE s.month = ? AND {AWAITING} AND (? IS NULL OR s.check_id = ?)
        ORDER BY {ORDER}
        """,
        (month, check_id, check_id),
    ).fetchall()
    return [PendingFlag(*row) for row in rows]


def next_pending(conn: sqlite3.Connection, month: str, rx_id: str, check_id: str) -> tuple[str, str] | None:
    """The pending flag that comes after (rx_id, check_id) in the committee's order — from the start of
    the month's list again after its end — or None when nothing of the month awaits a verdict."""
    row = conn.execute(
        f"""
        WITH ordered AS (
            SELECT s.rx_id, s.check_id, ({AWAITING}) AS awaiting,
                   row_number() OVER (ORDER BY {ORDER}) AS n
            FROM flag_status s LEFT JOIN checks c ON c.check_id = s.check_id
            WHERE s.month = :month AND (({AWAITING}) OR (s.rx_id = :rx AND s.check_id = :check))
        ),
        here AS (SELECT coalesce((SELECT n FROM ordered WHERE rx_id = :rx AND check_id = :check), 0) AS n)
        SELECT o.rx_id, o.check_id FROM ordered o, here
        WHERE o.awaiting AND NOT (o.rx_id = :rx AND o.check_id = :check)
        ORDER BY o.n <= here.n, o.n
        LIMIT 1
        """,
        {"month": month, "rx": rx_id, "check": check_id},
    ).fetchone()
    return (row[0], row[1]) if row else None
