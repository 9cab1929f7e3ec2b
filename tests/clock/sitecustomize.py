"""Another day on this machine's clock, for a whole `mengui` process (tests/test_publication.py runs
the CLI under it): with ``MENGUI_TEST_CLOCK_SHIFT_DAYS=N`` on the environment and this folder on
PYTHONPATH, ``time.time``, ``datetime.datetime.now`` / ``today`` / ``utcnow`` and ``datetime.date.today``
are N days later (or earlier) in every module the process imports. SQLite's own ``'now'`` is not moved."""

import datetime as _datetime
import os
import time as _time

_SHIFT = float(os.environ.get("MENGUI_TEST_CLOCK_SHIFT_DAYS", "0") or 0) * 86400

if _SHIFT:
    _real_time, _real_time_ns = _time.time, _time.time_ns
    _time.time = lambda: _real_time() + _SHIFT
    _time.time_ns = lambda: _real_time_ns() + int(_SHIFT * 1_000_000_000)

    class _DateTime(_datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls.fromtimestamp(_time.time(), tz)

        @classmethod
        def today(cls):
            return cls.fromtimestamp(_time.time())

        @classmethod
        def utcnow(cls):
            return cls.fromtimestamp(_time.time(), _datetime.timezone.utc).replace(tzinfo=None)

    class _Date(_datetime.date):
        @classmethod
        def today(cls):
            return cls.fromtimestamp(_time.time())

    _datetime.datetime = _DateTime
    _datetime.date = _Date
