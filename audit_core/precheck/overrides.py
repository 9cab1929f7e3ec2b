"""Override reasons: the doctor was warned before issuing the prescription and went on anyway.

The HIS sends them as CDS Hooks feedback (``outcome: overridden`` with an ``overrideReason``) for a
card this service answered, or in the plain shape for a flag of the plain endpoint. They are the
only thing the 事前 service writes: one row each in ``precheck_overrides`` (migration 14). The
committee's review page shows them beside the flag the monthly audit later raises on that
prescription ("开方时已提示，医师理由：…"), matched by prescription number and check, or — for a
draft sent without a prescription number — by patient, doctor, day and check.

A card's uuid is not a key into the database (the service writes nothing when it answers): the
server keeps what each recent card was about in memory (:class:`CardMemory`, bounded), so feedback
for a card answered before the server restarted, or too long ago, cannot be placed and is refused.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass

from datetime import datetime, timedelta, timezone

from ..db.schema import transaction
from .draft import DraftError

MAX_REASON = 2000
BEIJING = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class CardNote:
    """What a card answered was about (kept in memory until its feedback arrives)."""

    patient_id: str
    doctor_code: str
    rx_date: str
    check_id: str
    rx_id: str | None
    level: str | None
    summary: str


@dataclass
class Override:
    patient_id: str
    doctor_code: str
    rx_date: str
    check_id: str
    reason: str
    rx_id: str | None = None
    level: str | None = None
    summary: str | None = None
    reason_code: str | None = None
    card_uuid: str | None = None
    client: str | None = None


class CardMemory:
    """The last ``size`` cards answered, by uuid (least recently answered forgotten first)."""

    def __init__(self, size: int = 50_000):
        self.size = size
        self._cards: OrderedDict[str, CardNote] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, uuid: str, note: CardNote) -> None:
        with self._lock:
            self._cards[uuid] = note
            while len(self._cards) > self.size:
                self._cards.popitem(last=False)

    def get(self, uuid: str) -> CardNote | None:
        with self._lock:
            return self._cards.get(uuid)

    def __len__(self) -> int:
        return len(self._cards)


def _reason_text(value, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DraftError(path, "不能为空（医师继续开具的理由）", value)
    if len(value) > MAX_REASON:
        raise DraftError(path, f"不能超过 {MAX_REASON} 个字符")
    return value.strip()


def feedback_overrides(body: object, cards: CardMemory, client: str | None = None) -> tuple[list[Override], list[str]]:
    """CDS Hooks feedback → (the overrides to store, the card uuids this server does not know).
    ``accepted`` outcomes are acknowledged and not stored."""
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list):
        raise DraftError("feedback", "应为反馈列表（CDS Hooks feedback）", body if not isinstance(body, dict) else body.get("feedback"))
    found, unknown = [], []
    for n, entry in enumerate(body["feedback"]):
        where = f"feedback[{n}]"
        if not isinstance(entry, dict):
            raise DraftError(where, "应为一个对象", entry)
        outcome = entry.get("outcome")
        if outcome not in ("accepted", "overridden"):
            raise DraftError(f"{where}.outcome", "应为 accepted 或 overridden", outcome)
        card = entry.get("card")
        if not isinstance(card, str) or not card.strip():
            raise DraftError(f"{where}.card", "应为卡片的 uuid", card)
        if outcome != "overridden":
            continue
        note = cards.get(card.strip())
        if note is None:
            unknown.append(card.strip())
            continue
        reason = entry.get("overrideReason") or {}
        if not isinstance(reason, dict):
            raise DraftError(f"{where}.overrideReason", "应为一个对象（reason、userComment）", reason)
        coding = reason.get("reason") if isinstance(reason.get("reason"), dict) else {}
        comment = reason.get("userComment")
        if comment is not None and not isinstance(comment, str):
            raise DraftError(f"{where}.overrideReason.userComment", "应为文本", comment)
        display = coding.get("display") if isinstance(coding.get("display"), str) else None
        text = "：".join(t.strip() for t in (display, comment) if t and t.strip()) or "（医师未说明理由）"
        found.append(Override(note.patient_id, note.doctor_code, note.rx_date, note.check_id,
                              _reason_text(text, f"{where}.overrideReason"), note.rx_id, note.level, note.summary,
                              coding.get("code") if isinstance(coding.get("code"), str) else None, card.strip(), client))
    return found, unknown


def plain_overrides(body: object, client: str | None = None) -> list[Override]:
    """The plain shape: ``{"overrides": [{"patient_id", "doctor_code", "rx_date", "check_id",
    "reason", "rx_id" (optional), "reason_code" (optional)}]}`` (or one such object alone)."""
    from .draft import _date, _text

    entries = body.get("overrides") if isinstance(body, dict) and "overrides" in body else [body]
    if not isinstance(entries, list) or not entries:
        raise DraftError("overrides", "应为非空列表", entries)
    found = []
    for n, entry in enumerate(entries):
        where = f"overrides[{n}]" if isinstance(body, dict) and "overrides" in body else "(根)"
        prefix = "" if where == "(根)" else where + "."
        if not isinstance(entry, dict):
            raise DraftError(where, "应为一个对象", entry)
        day, _ = _date(entry.get("rx_date"), prefix + "rx_date")
        found.append(Override(
            patient_id=_text(entry.get("patient_id"), prefix + "patient_id", True, 64),
            doctor_code=_text(entry.get("doctor_code"), prefix + "doctor_code", True, 64),
            rx_date=day,
            check_id=_text(entry.get("check_id"), prefix + "check_id", True, 64),
            reason=_reason_text(entry.get("reason"), prefix + "reason"),
            rx_id=_text(entry.get("rx_id"), prefix + "rx_id", False, 64),
            level=_text(entry.get("level"), prefix + "level", False, 16),
            reason_code=_text(entry.get("reason_code"), prefix + "reason_code", False, 64),
            client=client))
    return found


def record_overrides(conn: sqlite3.Connection, overrides: list[Override]) -> int:
    """Store the overrides in one transaction; their count."""
    if not overrides:
        return 0
    received = datetime.now(BEIJING).isoformat(timespec="seconds")  # Beijing time, as the review page shows it
    with transaction(conn):
        conn.executemany(
            "INSERT INTO precheck_overrides (received_at, client, rx_id, patient_id, doctor_code, rx_date, check_id, "
            "level, summary, reason_code, reason, card_uuid) VALUES (:received_at, :client, :rx_id, :patient_id, "
            ":doctor_code, :rx_date, :check_id, :level, :summary, :reason_code, :reason, :card_uuid)",
            [{**asdict(o), "received_at": received} for o in overrides])
    return len(overrides)


#: the overrides of one flag: by prescription number, else (drafts sent without one) by visit
OVERRIDES_OF_FLAG = """
    SELECT received_at, reason, reason_code, level, summary, client FROM precheck_overrides
    WHERE check_id = :check_id
      AND (rx_id = :rx_id
           OR (rx_id IS NULL AND patient_id = :patient_id AND rx_date = :rx_date AND doctor_code = :doctor_code))
    ORDER BY id
"""
