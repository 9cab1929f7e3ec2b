"""Times: a human act is recorded as ISO 8601 with its offset; people read it in Beijing time.

Nothing else depends on the clock (the same data and commands give the same flags and lists on any
day): only the moment a person loaded, reviewed, appealed or published is recorded, by :func:`now`.
:func:`minute` (also :func:`shown`, for a named zone) turns any recorded time into what a reader
expects — ``2026-11-30 20:26`` — in Beijing time (Asia/Shanghai, UTC+8 all year: China keeps no
daylight saving time, so a fixed offset needs no time-zone database), or in the zone the site's
metadata names (``plugins: mengui: timezone``). A time recorded without an offset is shown as written.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache

__all__ = ["BEIJING", "DEFAULT_TIMEZONE", "beijing", "day", "local", "minute", "now", "parse", "shown", "today",
           "zone"]

DEFAULT_TIMEZONE = "Asia/Shanghai"
BEIJING = timezone(timedelta(hours=8), DEFAULT_TIMEZONE)

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_MINUTE = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})")


@lru_cache(maxsize=8)
def zone(name: str = DEFAULT_TIMEZONE) -> tzinfo:
    """The named time zone (Beijing's fixed offset for Asia/Shanghai, or without a zone database)."""
    if name == DEFAULT_TIMEZONE:
        return BEIJING
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:
        return BEIJING


def now() -> str:
    """The moment of a human act, in Beijing time with its offset: ``2026-11-30T20:26:36+08:00``."""
    return datetime.now(timezone.utc).astimezone(BEIJING).isoformat(timespec="seconds")


def today() -> date:
    """Today's date in Beijing (an appeal filed today, whatever the server's own zone)."""
    return datetime.now(timezone.utc).astimezone(BEIJING).date()


def parse(text) -> datetime | None:
    """A recorded time (ISO, with or without an offset; ``/`` as date separator too), or None."""
    if not text:
        return None
    value = str(text).strip().replace("/", "-")
    if not _ISO.match(value):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def local(text, zone_name: str = DEFAULT_TIMEZONE) -> datetime | None:
    """A recorded time in the reader's zone; one without an offset as it was written."""
    moment = parse(text)
    if moment is None:
        return None
    return moment.astimezone(zone(zone_name)) if moment.tzinfo else moment


def beijing(text) -> datetime | None:
    """A recorded time in Beijing time (one without an offset as written), or None."""
    return local(text)


def shown(text, empty: str = "—", zone_name: str = DEFAULT_TIMEZONE) -> str:
    """``2026-11-30T12:26:36+00:00`` → ``2026-11-30 20:26``; a naive ``2026/11/22 10:46`` →
    ``2026-11-22 10:46``; text that is not a time as it is."""
    if text is None or not str(text).strip():
        return empty
    moment = local(text, zone_name)
    if moment is not None:
        return moment.strftime("%Y-%m-%d %H:%M")
    text = str(text).strip()
    match = _MINUTE.match(text.replace("/", "-"))
    return f"{match.group(1)} {match.group(2)}" if match else text


def minute(text, empty: str = "—") -> str:
    """A recorded time to the minute, in Beijing time (see :func:`shown`)."""
    return shown(text, empty)


def day(text) -> str:
    """The Beijing calendar day of a recorded time, ``YYYY-MM-DD`` ('' when there is none)."""
    moment = beijing(text)
    if moment is not None:
        return moment.date().isoformat()
    return str(text or "").strip()[:10]
