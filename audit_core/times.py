"""Times as people read them: the one place that turns a stored timestamp into Beijing time.

Timestamps are stored as ISO text with the machine's offset (``db.schema.now``); people read them in
Beijing time (Asia/Shanghai, UTC+8 all year: China keeps no daylight saving time, so a fixed offset
needs no time-zone database). A timestamp without an offset is shown as it is written.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

__all__ = ["BEIJING", "beijing", "day", "minute"]

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")

_MINUTE = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})")


def beijing(text: str | None) -> datetime | None:
    """An aware ISO timestamp in Beijing time; a naive one as it is; None for anything else."""
    if not text or not str(text).strip():
        return None
    try:
        when = datetime.fromisoformat(str(text).strip().replace("/", "-"))
    except ValueError:
        return None
    return when.astimezone(BEIJING) if when.tzinfo is not None else when


def minute(text: str | None, empty: str = "—") -> str:
    """``2026-11-22T02:46:55+00:00`` → ``2026-11-22 10:46`` (Beijing time); a naive ``2026/11/22 10:46``
    → ``2026-11-22 10:46``; other text as it is."""
    if not text or not str(text).strip():
        return empty
    when = beijing(text)
    if when is not None:
        return when.strftime("%Y-%m-%d %H:%M")
    text = str(text).strip()
    match = _MINUTE.match(text.replace("/", "-"))
    return f"{match.group(1)} {match.group(2)}" if match else text


def day(text: str | None) -> str:
    """The Beijing calendar day of a timestamp, ``YYYY-MM-DD`` ('' when there is none)."""
    when = beijing(text)
    if when is not None:
        return when.date().isoformat()
    return str(text or "").strip()[:10]
