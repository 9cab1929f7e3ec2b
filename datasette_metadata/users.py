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

import sqlite_utils
from datasette_auth_passwords.utils import hash_password

from mengui_core.errors import MenguiError
from mengui_core.db.files import create_private, make_private, with_side_files
from mengui_core.db.schema import users_path
from mengui_core.times import now

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


#: the users table, and the columns a users file of an earlier version may lack (with their defaults)
USER_COLUMNS = {"name": str, "display_name": str, "role": str, "password_hash": str, "created_at": str,
                "disabled": int, "session_key": str}
ADDED_LATER = {"disabled": 0, "session_key": ""}


def _open(db_path, *, path=None) -> sqlite_utils.Database:
    """The users file (created owner-only), with its tables as this version has them."""
    path = path or users_path(db_path)
    if not path.exists():
        create_private(path)  # password hashes and the signing secret: owner-only
    make_private(*with_side_files(path))
    db = sqlite_utils.Database(sqlite3.connect(path, isolation_level=None, timeout=30))
    users = db["users"]
    if not users.exists():
        users.create(USER_COLUMNS, pk="name", not_null=set(USER_COLUMNS), defaults=ADDED_LATER)
    else:
        for column, default in ADDED_LATER.items():
            if column not in users.columns_dict:
                users.add_column(column, type(default), not_null_default=default)
    db["secrets"].create({"key": str, "value": str}, pk="key", not_null={"value"}, if_not_exists=True)
    return db


def add_user(db_path, name: str, password: str, role: str = "committee", display_name: str | None = None,
             replace: bool = False) -> User:
    if role not in ROLES:
        raise MenguiError(f"角色「{role}」无效，可选：{'、'.join(ROLES)}")
    if not USERNAME.match(name or ""):
        raise MenguiError(f"用户名「{name}」无效：2–32 个字母、数字、汉字、下划线、点或减号")
    if len(password or "") < 8:
        raise MenguiError("密码至少 8 个字符")
    db = _open(db_path)
    try:
        user = User(name, display_name or name, role, hash_password(password), now())
        if _exists(db["users"], name):
            if not replace:
                raise MenguiError(f"用户 {name} 已存在；如需重设密码请加 --replace")
            db["users"].update(name, {"display_name": user.display_name, "role": user.role,
                                      "password_hash": user.password_hash})
        else:
            db["users"].insert({"name": user.name, "display_name": user.display_name, "role": user.role,
                                "password_hash": user.password_hash, "created_at": user.created_at})
        return user
    finally:
        db.close()


def _exists(table, name: str) -> bool:
    try:
        table.get(name)
        return True
    except sqlite_utils.db.NotFoundError:
        return False


def remove_user(db_path, name: str) -> None:
    db = _open(db_path)
    try:
        if not _exists(db["users"], name):
            raise MenguiError(f"没有用户 {name}")
        db["users"].delete(name)
    finally:
        db.close()


def set_disabled(db_path, name: str, disabled: bool) -> None:
    """Disable a login (its sessions end at once) or enable it again."""
    db = _open(db_path)
    try:
        change = {"disabled": int(disabled)}
        if disabled:  # re-enabling later must not bring an old session back
            change["session_key"] = secrets.token_hex(16)
        db["users"].update(name, change)
    except sqlite_utils.db.NotFoundError as ex:
        raise MenguiError(f"没有用户 {name}") from ex
    finally:
        db.close()


def list_users(db_path) -> list[User]:
    if not users_path(db_path).exists():
        return []
    return read_users(users_path(db_path))[0]


def read_users(path) -> tuple[list[User], str | None]:
    """Every login in the users file ``path`` and its signing secret (None before the first serve)."""
    db = _open(None, path=path)
    try:
        users = [User(**{column: row[column] for column in USER_COLUMNS}) for row in db["users"].rows_where(order_by="name")]
        secret = next(db["secrets"].rows_where("key = ?", ["datasette"]), None)
        return users, (secret["value"] if secret else None)
    finally:
        db.close()


def cookie_secret(db_path) -> str:
    """A signing secret kept with the logins, so sessions survive a restart."""
    db = _open(db_path)
    try:
        secret = next(db["secrets"].rows_where("key = ?", ["datasette"]), None)
        if secret is not None:
            return secret["value"]
        value = secrets.token_hex(32)
        db["secrets"].insert({"key": "datasette", "value": value})
        return value
    finally:
        db.close()


def rotate_secret(db_path) -> None:
    """A new signing secret: every session of every user ends at once (restart ``mengui serve`` so
    that new cookies are signed with it too)."""
    db = _open(db_path)
    try:
        db["secrets"].upsert({"key": "datasette", "value": secrets.token_hex(32)}, pk="key")
    finally:
        db.close()
