"""Appeals (申诉) against 不合理 verdicts and the committee's second review (复审).

Lifecycle (one appeal per flag, keyed by ``rx_id`` + ``check_id`` like verdicts):

* A doctor may appeal a flag the committee ruled 不合理, within the ruleset's
  ``[appeals] days`` counted from the date of that verdict (the deadline day
  included). Appeals on 合理 verdicts, on flags without a verdict, a second appeal
  on the same flag and late appeals are refused with a Chinese message.
* While the appeal is pending (``status = 'pending'``, 申诉中) the first verdict
  stands: the ladder and the disclosure list count it as before.
* The committee's 复审 (``appeal_reviews``) is final: ``upheld`` when it repeats
  不合理, ``overturned`` when it rules 合理. From then on ``flag_status`` (and so the
  ladder, the report and the next ``mengui disclose``) uses the 复审 verdict; an
  overturn therefore produces a new revision of that month's list (and of later
  months' lists, whose levels depend on it) the next time they are disclosed.
* Nothing is ever deleted or rewritten: triggers refuse deleting appeals and 复审
  records, refuse changing a decided appeal and refuse changing the first verdict
  once a flag is appealed. The 复审 is also written to ``verdict_history``, next to
  the first verdict. A re-audit replaces flags only, never appeals.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, timedelta

from .. import times
from ..errors import MenguiError
from ..audit.runner import ruleset_for_month
from ..db.schema import transaction
from ..times import now
from ..labels import APPEAL_LABELS, VERDICT_LABELS
from .verdicts import check_note, normalise_verdict, require_flag


@dataclass
class Appeal:
    rx_id: str
    check_id: str
    month: str | None
    doctor_code: str | None
    first_verdict: str
    first_reviewed_at: str | None
    filed_at: str
    deadline: str
    appellant: str | None
    reason: str
    status: str
    second_verdict: str | None
    second_reviewer: str | None
    second_reviewed_at: str | None
    second_note: str | None

    @property
    def status_label(self) -> str:
        return APPEAL_LABELS.get(self.status, self.status)


@dataclass
class Reviewed:
    appeal: Appeal
    redisclose: list[str]  # months whose published list may change: the flag's month and later published months


def _day(text: str | None) -> date | None:
    if not text:
        return None
    try:  # a recorded moment's Beijing day (one without an offset as written)
        return date.fromisoformat(times.day(str(text).strip().replace("/", "-"))[:10])
    except ValueError:
        return None


def parse_date(text: str | None) -> date:
    """An appeal date given by the user (``YYYY-MM-DD``); today when empty."""
    if not text:
        return times.today()
    day = _day(text)
    if day is None or len(str(text).strip()) != 10:
        raise MenguiError(f"日期「{text}」格式不对，应为 YYYY-MM-DD（如 2026-11-05）")
    return day


_SELECT = """
    SELECT a.*, f.month, f.doctor_code FROM appeals a
    LEFT JOIN flags f ON f.rx_id = a.rx_id AND f.check_id = a.check_id
"""


def _appeal(row: sqlite3.Row) -> Appeal:
    return Appeal(row["rx_id"], row["check_id"], row["month"], row["doctor_code"], row["first_verdict"],
                  row["first_reviewed_at"], row["filed_at"], row["deadline"], row["appellant"], row["reason"],
                  row["status"], row["second_verdict"], row["second_reviewer"], row["second_reviewed_at"],
                  row["second_note"])


def get_appeal(conn: sqlite3.Connection, rx_id: str, check_id: str) -> Appeal | None:
    row = conn.execute(_SELECT + " WHERE a.rx_id = ? AND a.check_id = ?", (rx_id, check_id)).fetchone()
    return _appeal(row) if row else None


def _verdict_day(conn: sqlite3.Connection, verdict: sqlite3.Row) -> date:
    """The day the 不合理 verdict was made: its review time, else when it was recorded."""
    day = _day(verdict["reviewed_at"])
    if day is None:
        recorded = conn.execute(
            "SELECT max(recorded_at) FROM verdict_history WHERE rx_id = ? AND check_id = ? AND verdict = ?",
            (verdict["rx_id"], verdict["check_id"], verdict["verdict"])).fetchone()[0]
        day = _day(recorded) or times.today()
    return day


def file_appeal(conn: sqlite3.Connection, rx_id: str, check_id: str, reason: str, appellant: str | None = None,
                filed_on: date | None = None, source: str = "mengui appeal") -> Appeal:
    """Record a doctor's appeal against a 不合理 verdict; refuse (Chinese message) when not allowed."""
    flag = require_flag(conn, rx_id, check_id, "申诉")
    reason = check_note((reason or "").strip(), "申诉理由")
    if not reason:
        raise MenguiError("请写明申诉理由（--reason）")
    existing = get_appeal(conn, rx_id, check_id)
    if existing is not None:
        raise MenguiError(f"处方 {rx_id} 规则 {check_id} 已于 {existing.filed_at} 申诉（{existing.status_label}）："
                          "每条标记只能申诉一次，复审结论为最终结论")
    verdict = conn.execute("SELECT * FROM verdicts WHERE rx_id = ? AND check_id = ?", (rx_id, check_id)).fetchone()
    if verdict is None:
        raise MenguiError(f"处方 {rx_id} 规则 {check_id} 尚无药事委员会结论，不能申诉"
                          "（只能对判定为不合理的处方申诉）")
    if verdict["verdict"] != "unreasonable":
        raise MenguiError(f"处方 {rx_id} 规则 {check_id} 的结论是「{VERDICT_LABELS[verdict['verdict']]}」，"
                          "只能对判定为不合理的处方申诉")
    decided = _verdict_day(conn, verdict)
    days = ruleset_for_month(conn, flag["month"]).appeal_days  # the ruleset the month was audited with
    deadline = decided + timedelta(days=days)
    filed = filed_on or times.today()
    if filed < decided:
        raise MenguiError(f"申诉日期 {filed} 早于不合理结论的日期 {decided}，请检查 --date")
    if filed > deadline:
        raise MenguiError(f"已超过申诉期限，不能申诉：不合理结论作出于 {decided}，申诉期限 {days} 天，"
                          f"截止 {deadline}；申诉日期为 {filed}")
    with transaction(conn):
        conn.execute(
            "INSERT INTO appeals (rx_id, check_id, first_verdict, first_reviewer, first_reviewed_at, filed_at, "
            "deadline, appellant, reason, source, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (rx_id, check_id, verdict["verdict"], verdict["reviewer"], verdict["reviewed_at"], filed.isoformat(),
             deadline.isoformat(), appellant or flag["doctor_code"], reason, source, now()))
    return get_appeal(conn, rx_id, check_id)


def review_appeal(conn: sqlite3.Connection, rx_id: str, check_id: str, verdict: str, reviewer: str | None = None,
                  note: str | None = None, source: str = "mengui appeal-review") -> Reviewed:
    """Record the committee's 复审 (final) of a pending appeal."""
    value = normalise_verdict(verdict)
    check_note(note, "复审意见")
    appeal = get_appeal(conn, rx_id, check_id)
    if appeal is None:
        raise MenguiError(f"处方 {rx_id} 规则 {check_id} 没有申诉，不能复审（复审只针对医师的申诉；"
                          "要记录或更正审核结论请用 mengui review）")
    if appeal.status != "pending":
        raise MenguiError(f"处方 {rx_id} 规则 {check_id} 的申诉已于 {appeal.second_reviewed_at} 复审"
                          f"（{appeal.status_label}）：复审结论为最终结论，不能再次复审")
    with transaction(conn):
        conn.execute(
            "INSERT INTO appeal_reviews (rx_id, check_id, verdict, reviewer, reviewed_at, note, source) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", (rx_id, check_id, value, reviewer, now(), note, source))
    appeal = get_appeal(conn, rx_id, check_id)
    months = []
    if appeal.month:
        months = [r[0] for r in conn.execute(
            "SELECT DISTINCT month FROM disclosure_revisions WHERE month >= ? ORDER BY month", (appeal.month,))]
    return Reviewed(appeal, months)


def list_appeals(conn: sqlite3.Connection, month: str | None = None) -> list[sqlite3.Row]:
    """Appeals (pending first), with the flag's month, doctor and check title; ``month`` is the flag's month."""
    return conn.execute(
        """
        SELECT a.*, f.month, f.doctor_code, d.doctor_name, coalesce(c.title, a.check_id) AS title
        FROM appeals a
        LEFT JOIN flags f ON f.rx_id = a.rx_id AND f.check_id = a.check_id
        LEFT JOIN doctors d ON d.doctor_code = f.doctor_code
        LEFT JOIN checks c ON c.check_id = a.check_id
        WHERE ? IS NULL OR f.month = ?
        ORDER BY a.status <> 'pending', a.filed_at, a.rx_id, a.check_id
        """, (month, month)).fetchall()

