"""Committee logins, kept beside the database in ``<name>.users.db`` (owner-only, 0600).

Password hashes and the cookie-signing secret never enter the served database (so no SQL, table
or download in Datasette can reach them). ``mengui serve`` reads this file at every login and on
every request (:mod:`mengui_datasette.sessions`): removing or disabling a user, changing a
password or rotating the secret ends that session at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
from dataclasses import dataclass

from datasette_auth_passwords.utils import hash_password

from mengui_core.errors import MenguiError
from mengui_core.db.files import create_private, make_private, with_side_files
from mengui_core.db.schema import now, users_path

ROLES = {"committee": "药事委员会委员", "admin": "管理员"}
USERNAME = re.compile(r"^[A-Za-z0-9_.\-\u4e00-\u9fff]{2,32}$")


@dataclass
class User:
    name: str
    display_name: str
    role: str
    password_hash: str
    created_at: str
    disabled: int = 0
    session_key: str = ""  # renewed when the user is disabled: no session of before survives re-enabling

    def fingerprint(self, secret: str) -> str:
        """What a session cookie is bound to: a new password, role, session key or secret gives another value."""
        text = f"{self.name}\n{self.role}\n{self.password_hash}\n{self.session_key}".encode("utf-8")
        return hmac.new(secret.encode("utf-8"), text, hashlib.sha256).hexdigest()[:32]


def _connect(db_path, *, path=None) -> sqlite3.Connection:
    path = path or users_path(db_path)
    if not path.exists():
        create_private(path)  # password hashes and the signing secret: owner-only
    make_private(*with_side_files(path))
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.row_factory = sqlite3.Row
    conn.execute(
        "CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, display_name TEXT NOT NULL, role TEXT NOT NULL, "
        "password_hash TEXT NOT NULL, created_at TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0, "
        "session_key TEXT NOT NULL DEFAULT '')"
    )
    columns = {row["name"] for row in conn.execute("PRAGMA table_info(users)")}
    for column, definition in (("disabled", "INTEGER NOT NULL DEFAULT 0"), ("session_key", "TEXT NOT NULL DEFAULT ''")):
        if column not in columns:  # a users file of an earlier version
            conn.execute(f"ALTER TABLE users ADD COLUMN {column} {definition}")
    conn.execute("CREATE TABLE IF NOT EXISTS secrets (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    return conn


def add_user(db_path, name: str, password: str, role: str = "committee", display_name: str | None = None,
             replace: bool = False) -> User:
    if role not in ROLES:
        raise MenguiError(f"角色「{role}」无效，可选：{'、'.join(ROLES)}")
    if not USERNAME.match(name or ""):
        raise MenguiError(f"用户名「{name}」无效：2–32 个字母、数字、汉字、下划线、点或减号")
    if len(password or "") < 8:
        raise MenguiError("密码至少 8 个字符")
    conn = _connect(db_path)
    exists = conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone()
    if exists and not replace:
        raise MenguiError(f"用户 {name} 已存在；如需重设密码请加 --replace")
    user = User(name, display_name or name, role, hash_password(password), now())
    conn.execute(
        "INSERT INTO users (name, display_name, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET display_name = excluded.display_name, "
        "role = excluded.role, password_hash = excluded.password_hash",
        (user.name, user.display_name, user.role, user.password_hash, user.created_at),
    )
    conn.close()
    return user


def remove_user(db_path, name: str) -> None:
    conn = _connect(db_path)
    if conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 0:
        raise MenguiError(f"没有用户 {name}")
    conn.close()


def set_disabled(db_path, name: str, disabled: bool) -> None:
    """Disable a login (its sessions end at once) or enable it again."""
    conn = _connect(db_path)
    if conn.execute("UPDATE users SET disabled = ?, session_key = CASE WHEN ? THEN ? ELSE session_key END "
                    "WHERE name = ?", (int(disabled), int(disabled), secrets.token_hex(16), name)).rowcount == 0:
        raise MenguiError(f"没有用户 {name}")
    conn.close()


def list_users(db_path) -> list[User]:
    if not users_path(db_path).exists():
        return []
    return read_users(users_path(db_path))[0]


def read_users(path) -> tuple[list[User], str | None]:
    """Every login in the users file ``path`` and its signing secret (None before the first serve)."""
    conn = _connect(None, path=path)
    try:
        users = [User(**dict(row)) for row in conn.execute(
            "SELECT name, display_name, role, password_hash, created_at, disabled, session_key FROM users "
            "ORDER BY name")]
        row = conn.execute("SELECT value FROM secrets WHERE key = 'datasette'").fetchone()
        return users, (row[0] if row else None)
    finally:
        conn.close()


def cookie_secret(db_path) -> str:
    """A signing secret kept with the logins, so sessions survive a restart."""
    conn = _connect(db_path)
    row = conn.execute("SELECT value FROM secrets WHERE key = 'datasette'").fetchone()
    if row is None:
        value = secrets.token_hex(32)
        conn.execute("INSERT INTO secrets VALUES ('datasette', ?)", (value,))
    else:
        value = row[0]
    conn.close()
    return value


def rotate_secret(db_path) -> None:
    """A new signing secret: every session of every user ends at once (restart ``mengui serve`` so
    that new cookies are signed with it too)."""
    conn = _connect(db_path)
    conn.execute("INSERT INTO secrets VALUES ('datasette', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                 (secrets.token_hex(32),))
    conn.close()
