"""Times: a human act is recorded as ISO 8601 with its offset; people read it in Beijing time.

Nothing else depends on the clock (the same data and commands give the same flags and lists on any
day): only the moment a person loaded, reviewed, appealed or published is recorded, by :func:`now`.
:func:`shown` turns any recorded time into what a reader expects — ``2026-11-30 20:26`` — in the
time zone the site's metadata names (``plugins: mengui: timezone``, Asia/Shanghai by default).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache

DEFAULT_TIMEZONE = "Asia/Shanghai"
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


@lru_cache(maxsize=8)
def zone(name: str = DEFAULT_TIMEZONE) -> tzinfo:
    """The named time zone; China's own offset when the system has no zone database."""
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:  # no tzdata: China has had one offset and no daylight saving since 1991
        return timezone(timedelta(hours=8), "CST")


def now() -> str:
    """The moment of a human act, in Beijing time with its offset: ``2026-11-30T20:26:36+08:00``."""
    return datetime.now(timezone.utc).astimezone(zone()).isoformat(timespec="seconds")


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
    """A recorded time in the reader's zone; a time without an offset was recorded as local already."""
    moment = parse(text)
    if moment is None:
        return None
    return moment.astimezone(zone(zone_name)) if moment.tzinfo else moment


def shown(text, empty: str = "—", zone_name: str = DEFAULT_TIMEZONE) -> str:
    """``2026-11-30T12:26:36+00:00`` → ``2026-11-30 20:26``; text that is not a time as it is."""
    if text is None or not str(text).strip():
        return empty
    moment = local(text, zone_name)
    return moment.strftime("%Y-%m-%d %H:%M") if moment else str(text).strip()
