"""Online backup with SQLite's backup API: consistent even while a server reads or writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..errors import MenguiError
from .files import create_private
from .schema import users_path


def _copy(source: Path, target: Path) -> int:
    if target.exists():
        raise MenguiError(f"备份文件已存在：{target}（请换一个文件名，不会覆盖已有备份）")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    create_private(target)  # a backup holds patients (or password hashes): owner-only
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=1024)
        pages = dst.execute("PRAGMA page_count").fetchone()[0]
        if dst.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise MenguiError(f"备份 {target} 校验失败，请重试")
        return pages
    finally:
        dst.close()
        src.close()


def backup_database(db: Path, target: Path) -> list[tuple[Path, int]]:
    """Back up the database (and its ``.users.db`` logins beside it) to ``target``."""
    if target.resolve() == db.resolve():
        raise MenguiError("备份文件不能与数据库相同")
    if not target.parent.exists():
        raise MenguiError(f"备份目录不存在：{target.parent}")
    written = [(target, _copy(db, target))]
    users = users_path(db)
    if users.exists():
        users_target = users_path(target)
        written.append((users_target, _copy(users, users_target)))
    return written
