"""Committee verdicts (药事委员会审核结论) on flags.

``verdicts`` holds the current verdict per (rx_id, check_id); triggers keep every
change in ``verdict_history`` and refuse deletion. An audit never touches them.
Files of verdicts load through :mod:`mengui_core.ingest.loader` (kind ``verdicts``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from ..errors import MenguiError
from ..ingest.inputs import VERDICT_VALUES
from ..db.schema import transaction
from ..times import now



@dataclass
class Recorded:
    rx_id: str
    check_id: str
    verdict: str
    previous: str | None


def normalise_verdict(text: str) -> str:
    value = VERDICT_VALUES.get((text or "").strip().lower()) or VERDICT_VALUES.get((text or "").strip())
    if value is None:
        raise MenguiError(f"审核结论「{text}」无效：应为 不合理 / 合理（或 unreasonable / reasonable）")
    return value


MAX_NOTE_CHARS = 2000  # the same limit as the database triggers (migration 11) and the web form


def check_note(text: str | None, what: str = "审核意见") -> str | None:
    """A note, reason or 复审 opinion as recorded: refused when it could not be shown or printed."""
    if text is None:
        return None
    if "\x00" in text:
        raise MenguiError(f"{what}含有 NUL 空字符，请删除后重新提交")
    if len(text) > MAX_NOTE_CHARS:
        raise MenguiError(f"{what}不能超过 {MAX_NOTE_CHARS:,} 个字符（现在 {len(text):,} 个），请精简后重新提交")
    return text


def require_flag(conn: sqlite3.Connection, rx_id: str, check_id: str, action: str) -> sqlite3.Row:
    """The flag (rx_id, check_id), or a Chinese error that lists the prescription's flagged checks."""
    flag = conn.execute("SELECT * FROM flags WHERE rx_id = ? AND check_id = ?", (rx_id, check_id)).fetchone()
    if flag is None:
        others = [r[0] for r in conn.execute("SELECT check_id FROM flags WHERE rx_id = ?", (rx_id,))]
        if others:
            raise MenguiError(f"处方 {rx_id} 没有规则 {check_id} 的标记；该处方被标记的规则：{'、'.join(others)}")
        raise MenguiError(f"处方 {rx_id} 没有任何标记，无法{action}（请检查处方号，或先运行 mengui audit）")
    return flag


def record_verdict(conn: sqlite3.Connection, rx_id: str, check_id: str, verdict: str,
                   reviewer: str | None = None, note: str | None = None, source: str = "mengui review") -> Recorded:
    """Record one verdict for an existing flag; the earlier verdict stays in the history."""
    return record_verdicts(conn, [(rx_id, check_id)], verdict, reviewer, note, source)[0]


def record_verdicts(conn: sqlite3.Connection, flags: list[tuple[str, str]], verdict: str,
                    reviewer: str | None = None, note: str | None = None, source: str = "mengui review"
                    ) -> list[Recorded]:
    """Record the same verdict and note for several flags (the committee's batch), each its own verdict
    and history row, in one transaction: all of them or, when one cannot be recorded, none."""
    value = normalise_verdict(verdict)
    check_note(note)
    recorded = []
    for rx_id, check_id in flags:
        require_flag(conn, rx_id, check_id, "记录审核结论")
        appeal = conn.execute("SELECT 1 FROM appeals WHERE rx_id = ? AND check_id = ?", (rx_id, check_id)).fetchone()
        if appeal is not None:
            raise MenguiError(f"处方 {rx_id} 规则 {check_id} 已有医师申诉，原结论不能再修改；"
                              f"请用 mengui appeal-review 记录药事委员会的复审结论（复审为最终结论）")
        old = conn.execute("SELECT verdict FROM verdicts WHERE rx_id = ? AND check_id = ?", (rx_id, check_id)).fetchone()
        recorded.append(Recorded(rx_id, check_id, value, old[0] if old else None))
    at = now()
    with transaction(conn):
        conn.executemany(
            """
            INSERT INTO verdicts (rx_id, check_id, verdict, reviewer, reviewed_at, note, source)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (rx_id, check_id) DO UPDATE SET verdict = excluded.verdict, reviewer = excluded.reviewer,
                reviewed_at = excluded.reviewed_at, note = excluded.note, source = excluded.source
            """,
            [(r.rx_id, r.check_id, value, reviewer, at, note, source) for r in recorded],
        )
    return recorded


def history(conn: sqlite3.Connection, rx_id: str, check_id: str) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT * FROM verdict_history WHERE rx_id = ? AND check_id = ? ORDER BY id", (rx_id, check_id)
    ).fetchall()
