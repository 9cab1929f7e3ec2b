"""API tokens of the HIS systems that call the 事前 service (``mengui tokens add|list|remove``).

One token per HIS, kept in the users file beside the database (owner-only, with the committee's
password hashes and the signing secret), never in the served database. Only a SHA-256 hash of
each token is stored — a token is 32 random bytes, so a fast hash is enough and a leaked users
file gives no usable token — and the token itself is printed once, when it is made. Tokens are
not committee logins: they open the 事前 endpoints only, and no committee page accepts them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from dataclasses import dataclass

import sqlite_utils

from mengui_core.db.schema import users_path
from mengui_core.times import now
from mengui_core.errors import MenguiError

from .users import USERNAME, _open

TABLE = "his_tokens"
COLUMNS = {"name": str, "token_hash": str, "prefix": str, "created_at": str}
PREFIX = "mgh_"


@dataclass
class Token:
    name: str
    prefix: str
    created_at: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _table(db: sqlite_utils.Database):
    table = db[TABLE]
    if not table.exists():
        table.create(COLUMNS, pk="name", not_null=set(COLUMNS))
    return table


def add_token(db_path, name: str) -> str:
    """Make the token of HIS ``name``; return it (shown once, stored only as a hash)."""
    if not USERNAME.match(name or ""):
        raise MenguiError(f"名称「{name}」无效：2–32 个字母、数字、汉字、下划线、点或减号")
    token = PREFIX + secrets.token_urlsafe(32)
    db = _open(db_path)
    try:
        table = _table(db)
        try:
            table.get(name)
            raise MenguiError(f"已有名为 {name} 的令牌；如需更换，先用 mengui tokens remove 删除")
        except sqlite_utils.db.NotFoundError:
            pass
        table.insert({"name": name, "token_hash": _hash(token), "prefix": token[:len(PREFIX) + 4],
                      "created_at": now()})
    finally:
        db.close()
    return token


def list_tokens(db_path) -> list[Token]:
    if not users_path(db_path).exists():
        return []
    db = _open(db_path)
    try:
        return [Token(r["name"], r["prefix"], r["created_at"]) for r in _table(db).rows_where(order_by="name")]
    finally:
        db.close()


def remove_token(db_path, name: str) -> None:
    db = _open(db_path)
    try:
        _table(db).delete(name)
    except sqlite_utils.db.NotFoundError as ex:
        raise MenguiError(f"没有名为 {name} 的令牌（用 mengui tokens list 查看）") from ex
    finally:
        db.close()


class TokenStore:
    """The server's view of the tokens: re-read from the users file whenever the file changes, so a
    removed token stops working at the next request, without a restart."""

    def __init__(self, db_path):
        self.db_path = db_path
        self.path = users_path(db_path)
        self._seen = None
        self._hashes: dict[str, str] = {}
        self._lock = threading.Lock()

    def _stamp(self):
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def name_of(self, token: str | None) -> str | None:
        """The HIS a token belongs to, or None."""
        if not token or not token.startswith(PREFIX) or len(token) > 200:
            return None
        stamp = self._stamp()
        with self._lock:
            if stamp != self._seen:
                db = _open(self.db_path) if stamp is not None else None
                try:
                    self._hashes = {r["token_hash"]: r["name"] for r in _table(db).rows} if db is not None else {}
                finally:
                    if db is not None:
                        db.close()
                self._seen = self._stamp()
            hashes = self._hashes
        digest = _hash(token)
        for known, name in hashes.items():
            if hmac.compare_digest(known, digest):
                return name
        return None
