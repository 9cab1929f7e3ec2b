"""Files that hold patients, password hashes or secrets: owner-only (0600), whatever the umask.

That is the database with its ``-wal`` and ``-shm`` (SQLite gives those the database file's own
mode), ``<db>.users.db``, backups, the scratch databases of a load or an audit, and every list or
report the project writes. Scratch databases live beside the database (never in ``/tmp``), are
locked while in use, removed when done, and a crashed run's leftovers are removed by the next run.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import stat
from pathlib import Path

PRIVATE = 0o600
SIDE_FILES = ("-journal", "-wal", "-shm")


def create_private(path: str | os.PathLike) -> None:
    """Create (or empty) ``path`` as a file only its owner can read and write."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    try:
        os.fchmod(fd, PRIVATE)  # the umask may have taken bits away; never adds any
    finally:
        os.close(fd)


def open_private(path: str | os.PathLike, mode: str = "w", **kwargs):
    """``open()`` for writing a new owner-only file (text or binary)."""
    create_private(path)
    return open(path, mode, **kwargs)


def make_private(*paths: str | os.PathLike) -> None:
    """Take group and other permissions away from the files that exist and belong to this user
    (an older database created 0644, say). Files of another user are left as they are."""
    for path in paths:
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077:
            try:
                os.chmod(path, PRIVATE)
            except PermissionError:
                pass


def with_side_files(path: str | os.PathLike) -> list[str]:
    """A database file and the journal, WAL and shared-memory files SQLite keeps beside it."""
    return [str(path)] + [f"{path}{suffix}" for suffix in SIDE_FILES]


# ---------------------------------------------------------------- scratch databases


def _scratch_prefix(db_path: Path) -> str:
    return f".{db_path.name}.scratch-"


def _unlink(*paths: str | os.PathLike) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def remove_stale_scratch(db_path: str | os.PathLike) -> list[Path]:
    """Remove scratch databases beside ``db_path`` that no running load or audit holds (a crashed
    or killed run's leftovers); return them."""
    db_path = Path(db_path)
    removed = []
    try:
        candidates = sorted(db_path.parent.glob(_scratch_prefix(db_path) + "*"))
    except OSError:
        return removed
    for candidate in candidates:
        name = str(candidate)
        side = next((s for s in SIDE_FILES if name.endswith(s)), None)
        if side is not None:  # a journal whose database is gone
            if not os.path.exists(name[: -len(side)]):
                _unlink(candidate)
                removed.append(candidate)
            continue
        try:
            fd = os.open(candidate, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # in use by a running load or audit
            os.close(fd)
            continue
        try:
            _unlink(*with_side_files(candidate))
            removed.append(candidate)
        finally:
            os.close(fd)
    return removed


class Scratch:
    """A scratch database file beside the database ``db_path``: owner-only, locked (``flock``) while
    this process uses it, removed by :meth:`remove`. SQLite's own locks are POSIX record locks, which
    ``flock`` does not touch."""

    def __init__(self, db_path: str | os.PathLike, purpose: str):
        db_path = Path(db_path)
        remove_stale_scratch(db_path)
        self.path = db_path.parent / f"{_scratch_prefix(db_path)}{purpose}-{os.getpid()}-{secrets.token_hex(4)}"
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, PRIVATE)
        try:
            os.fchmod(self._fd, PRIVATE)
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        """Delete the file (call after SQLite has detached it); the lock goes with the descriptor."""
        try:
            _unlink(*with_side_files(self.path))
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
