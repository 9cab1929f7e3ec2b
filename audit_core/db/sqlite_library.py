"""Process-wide settings of the SQLite library itself (not of a connection)."""

from __future__ import annotations

SQLITE_CONFIG_MEMSTATUS = 9


def disable_memory_statistics() -> bool:
    """Stop SQLite keeping memory-use statistics in this process; return whether it worked.

    Those statistics go through one mutex around every allocation, which the audit's lanes (threads
    with a connection each) would otherwise take turns on; SQLite's recommended compile-time options
    turn them off too (``SQLITE_DEFAULT_MEMSTATUS=0``). The setting can only change while the library
    is shut down, so this must run before the process opens any connection: the ``mengui`` command
    calls it first thing. Where the library's functions cannot be reached it does nothing.
    """
    try:
        import ctypes

        import _sqlite3

        library = ctypes.CDLL(_sqlite3.__file__)  # resolves the SQLite functions the module links to
        if library.sqlite3_shutdown() != 0:
            return False
        done = library.sqlite3_config(SQLITE_CONFIG_MEMSTATUS, ctypes.c_int(0)) == 0
        library.sqlite3_initialize()
        return done
    except (OSError, AttributeError, ImportError):
        return False
