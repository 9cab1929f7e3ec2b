"""Committee logins, kept beside the database in ``<name>.users.db``.

Password hashes never enter the served database (so no SQL, table or download in
Datasette can reach them) and reach datasette-auth-passwords only through
environment variables (``$env`` in the plugin configuration), so ``/-/metadata``
shows no hash either.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from dataclasses import dataclass

from datasette_auth_passwords.utils import hash_password

from mengui_core.errors import MenguiError
from mengui_core.schema import now, users_path

ROLES = {"committee": "药事委员会委员", "admin": "管理员"}
USERNAME = re.compile(r"^[A-Za-z0-9_.\-\u4e00-\u9fff]{2,32}$")


@dataclass
class User:
    name: str
    display_name: str
    role: str
    password_hash: str
    created_at: str


def _connect(db_path) -> sqlite3.Connection:
    conn = sqlite3.connect(users_path(db_path), isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute(
        "CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, display_name TEXT NOT NULL, role TEXT NOT NULL, "
        "password_hash TEXT NOT NULL, created_at TEXT NOT NULL)"
    )
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
        "INSERT INTO users VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET display_name = excluded.display_name, "
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


def list_users(db_path) -> list[User]:
    if not users_path(db_path).exists():
        return []
    conn = _connect(db_path)
    users = [User(**dict(row)) for row in conn.execute("SELECT * FROM users ORDER BY name")]
    conn.close()
    return users


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
