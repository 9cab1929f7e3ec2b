"""Logins and sessions of the committee's site.

- ``/-/login`` is mengui's own view (it takes the route before datasette-auth-passwords, whose
  password hashes and form it keeps): the password hash is checked on a thread of its own, never on
  the event loop, against a dummy hash for an unknown name (the same time either way); failed tries
  are throttled per address and per user name with backoff (a Chinese 429 page); every login,
  failure and throttled burst is recorded in ``login_events`` (admins only).
- A session cookie (``ds_actor``) expires (8 hours unless ``mengui serve --session-hours``), is
  HttpOnly and SameSite=Lax, and is bound to the user's name, role and password hash and to the
  current signing secret (:meth:`User.fingerprint`). Every request checks it against the users file,
  so removing or disabling a user, changing a password or rotating the secret ends it at once.
- ``/-/password-tool`` (a hashing page of datasette-auth-passwords) is for admins only.
"""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

from datasette.utils import baseconv
from datasette.utils.asgi import Response
from datasette_auth_passwords.utils import hash_password, verify_password
from itsdangerous import BadSignature

from mengui_core import times

from .site import mengui_database
from .users import User, read_users

SESSION_HOURS = 8.0
COOKIE = "ds_actor"
# Hashing takes a core for a fifth of a second: one thread does it, so that a burst of tries can
# neither block the event loop nor take both cores from the pages being served.
HASHING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mengui-login")
_DUMMY_HASH = hash_password(os.urandom(16).hex())  # what an unknown user name is checked against


@dataclass
class UserStore:
    """The users file, read again whenever it changes on disk (a cheap ``stat`` per request)."""

    path: Path
    _stamp: tuple | None = None
    _users: dict[str, User] = field(default_factory=dict)
    _secret: str | None = None

    def _refresh(self) -> None:
        try:
            st = os.stat(self.path)
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return
        users, secret = read_users(self.path) if stamp else ([], None)
        self._users, self._secret, self._stamp = {u.name: u for u in users}, secret, stamp

    def get(self, name: str) -> User | None:
        self._refresh()
        return self._users.get(name)

    @property
    def secret(self) -> str | None:
        self._refresh()
        return self._secret


@dataclass
class Throttle:
    """Failed logins per key (an address, a user name): ``free`` tries, then a wait that doubles with
    every further failure up to ``cap`` seconds. Tries during a wait are refused without a check and
    do not lengthen it, so nobody is locked out for good; ``window`` seconds without a failure
    forget the key."""

    free: int = 5
    base: float = 1.0
    cap: float = 900.0
    window: float = 900.0
    _state: dict = field(default_factory=dict)  # key -> [failures, last failure, locked until]

    MAX_KEYS = 100_000

    def wait(self, key) -> float:
        state = self._state.get(key)
        if state is None:
            return 0.0
        now = time.monotonic()
        if now - state[1] > self.window and now >= state[2]:
            del self._state[key]
            return 0.0
        return max(0.0, state[2] - now)

    def failure(self, key) -> None:
        now = time.monotonic()
        state = self._state.get(key)
        if state is None or now - state[1] > self.window:
            if len(self._state) >= self.MAX_KEYS:
                self._forget_old(now)
            state = self._state[key] = [0, now, 0.0]
        state[0] += 1
        state[1] = now
        if state[0] > self.free:
            state[2] = now + min(self.base * 2 ** (state[0] - self.free - 1), self.cap)

    def success(self, key) -> None:
        self._state.pop(key, None)

    def _forget_old(self, now: float) -> None:
        for key in [k for k, s in self._state.items() if now - s[1] > self.window and now >= s[2]]:
            del self._state[key]
        while len(self._state) >= self.MAX_KEYS:  # still full: the oldest go
            del self._state[min(self._state, key=lambda k: self._state[k][1])]


def throttle_from_environment() -> Throttle:
    """``MENGUI_LOGIN_FREE_TRIES``, ``MENGUI_LOGIN_BACKOFF`` (first wait, seconds) and
    ``MENGUI_LOGIN_BACKOFF_MAX`` (longest wait) override the defaults (5, 1, 900)."""
    def number(name, default, kind=float):
        try:
            return kind(os.environ.get(name, default))
        except ValueError:
            return kind(default)

    return Throttle(free=number("MENGUI_LOGIN_FREE_TRIES", 5, int), base=number("MENGUI_LOGIN_BACKOFF", 1.0),
                    cap=number("MENGUI_LOGIN_BACKOFF_MAX", 900.0))


@dataclass
class Site:
    """What ``mengui serve`` adds to its Datasette instance (``datasette._mengui_site``)."""

    users: UserStore | None  # None: a plain ``datasette`` (accounts from datasette-auth-passwords' config)
    session_hours: float = SESSION_HOURS
    throttle: Throttle = field(default_factory=throttle_from_environment)
    _throttled: set = field(default_factory=set)  # keys whose current wait is already recorded


def site_of(datasette) -> Site:
    site = getattr(datasette, "_mengui_site", None)
    if site is None:
        site = datasette._mengui_site = Site(None)
    return site


# ---------------------------------------------------------------- session cookies


def session_cookie(datasette, user: User, secret: str, hours: float = SESSION_HOURS) -> str:
    """The signed ``ds_actor`` value of a new session for ``user`` (``e``: Datasette's expiry)."""
    expires = int(time.time() + hours * 3600)
    actor = {"id": user.name, "name": user.display_name, "role": user.role}
    return datasette.sign({"a": actor, "e": baseconv.base62.encode(expires), "m": user.fingerprint(secret)}, "actor")


def valid_actor(datasette, value: str) -> dict | None:
    """The actor of a ``ds_actor`` cookie when its session is still valid, else None."""
    try:
        decoded = datasette.unsign(value, "actor")
    except BadSignature:
        return None
    if not isinstance(decoded, dict) or not isinstance(decoded.get("a"), dict):
        return None
    expires = decoded.get("e")
    try:
        if expires is not None and time.time() > int(baseconv.base62.decode(expires)):
            return None
    except (ValueError, TypeError):
        return None
    store = site_of(datasette).users
    if store is None:  # a plain `datasette`: Datasette's own rules
        return decoded["a"]
    if expires is None:  # under `mengui serve` every session expires
        return None
    actor = decoded["a"]
    user = store.get(str(actor.get("id")))
    secret = store.secret
    if user is None or user.disabled or secret is None or actor.get("role") != user.role:
        return None
    return actor if decoded.get("m") == user.fingerprint(secret) else None


def request_cookies(scope) -> dict[str, str]:
    cookies = {}
    for key, value in scope.get("headers") or []:
        if key == b"cookie":
            parsed = SimpleCookie()
            try:
                parsed.load(value.decode("latin-1"))
            except Exception:  # a malformed Cookie header: no cookies
                continue
            cookies.update({name: morsel.value for name, morsel in parsed.items()})
    return cookies


def without_cookie(scope, name: str):
    """``scope`` with cookie ``name`` removed from its Cookie headers."""
    headers = []
    for key, value in scope.get("headers") or []:
        if key == b"cookie":
            parts = [p for p in value.decode("latin-1").split(";") if p.strip().split("=", 1)[0] != name]
            if not parts:
                continue
            value = ";".join(parts).encode("latin-1")
        headers.append((key, value))
    return dict(scope, headers=headers)


# ---------------------------------------------------------------- the login view


def _address(request) -> str:
    client = request.scope.get("client")
    return str(client[0]) if client else "?"


async def _record(datasette, username: str, address: str, outcome: str) -> None:
    """A row in ``login_events`` of the mengui database (never waits for the write)."""
    try:
        db = await mengui_database(datasette)
    except Exception:
        return
    if not db.is_mutable or not await db.table_exists("login_events"):
        return
    await db.execute_write(
        "INSERT INTO login_events (at, username, address, outcome) "
        "VALUES (?, ?, ?, ?)", [times.now(), username[:64], address[:64], outcome], block=False)


async def _logged_in_before(datasette, username: str, address: str) -> bool:
    """Whether ``username`` has logged in from ``address`` before: the user-name throttle lets that
    address through (its own throttle still applies), so an attacker cannot lock the real user out."""
    try:
        db = await mengui_database(datasette)
        if not await db.table_exists("login_events"):
            return False
        row = (await db.execute("SELECT 1 FROM login_events WHERE username = ? AND address = ? AND outcome = 'success' "
                                "LIMIT 1", [username, address])).first()
    except Exception:
        return False
    return row is not None


def _accounts(datasette, site: Site) -> tuple[dict[str, User], str | None]:
    if site.users is not None:
        site.users._refresh()
        return site.users._users, site.users._secret
    config = datasette.plugin_config("datasette-auth-passwords") or {}
    actors = config.get("actors") or {}
    accounts = {}
    for key, value in config.items():
        if key.endswith("_password_hash"):
            name = key[: -len("_password_hash")]
            actor = actors.get(name) or {}
            accounts[name] = User(name, actor.get("name") or name, actor.get("role") or "", value, "")
    return accounts, None


async def _page(datasette, request, error: str | None = None, status: int = 200, headers=None) -> Response:
    return Response.html(await datasette.render_template("password_login.html", {"error": error}, request=request),
                         status=status, headers=headers or {})


async def login(request, datasette):
    site = site_of(datasette)
    if request.method != "POST":
        return await _page(datasette, request)
    form = await request.post_vars()
    username = (form.get("username") or "").strip()[:64]
    password = (form.get("password") or "")[:1024]
    address = _address(request)
    keys = [("address", address)]
    if not await _logged_in_before(datasette, username, address):
        keys.append(("user", username.lower()))
    wait = max(site.throttle.wait(key) for key in keys)
    if wait > 0:
        fresh = [key for key in keys if site.throttle.wait(key) > 0 and key not in site._throttled]
        if fresh:  # one row per wait, not per refused try
            site._throttled.update(fresh)
            await _record(datasette, username, address, "throttled")
        seconds = int(wait) + 1
        return await _page(datasette, request, f"登录失败次数过多，请 {seconds} 秒后再试。", status=429,
                           headers={"Retry-After": str(seconds)})
    accounts, secret = _accounts(datasette, site)
    if not accounts:
        return await _page(datasette, request, "尚未创建任何委员账号：请管理员运行 mengui users add。")
    user = accounts.get(username)
    loop = asyncio.get_running_loop()
    matches = await loop.run_in_executor(HASHING, verify_password, password,
                                         user.password_hash if user else _DUMMY_HASH)
    if not matches or user is None or user.disabled:
        for key in keys:
            site.throttle.failure(key)
            site._throttled.discard(key)
        await _record(datasette, username, address, "failure")
        return await _page(datasette, request, "用户名或密码错误，请重新输入。")
    for key in keys:
        site.throttle.success(key)
    await _record(datasette, username, address, "success")
    response = Response.redirect(datasette.urls.path("/"))
    if secret is None:  # a plain `datasette`: Datasette's cookie, with an expiry
        value = datasette.sign({"a": {"id": user.name, "name": user.display_name, "role": user.role},
                                "e": baseconv.base62.encode(int(time.time() + site.session_hours * 3600))}, "actor")
    else:
        value = session_cookie(datasette, user, secret, site.session_hours)
    response.set_cookie(COOKIE, value, max_age=int(site.session_hours * 3600), httponly=True, samesite="lax",
                        secure=request.scope.get("scheme") == "https")
    return response


async def password_tool(request, datasette):
    """datasette-auth-passwords' hashing page: admins only, hashing off the event loop."""
    actor = request.actor or {}
    if actor.get("role") != "admin":
        return Response.html(await datasette.render_template(
            "mengui_message.html", {"title": "无权访问", "message": "密码由医保办用 mengui users add 设置，本页仅限管理员。"},
            request=request), status=403)
    password = (await request.post_vars()).get("password") if request.method == "POST" else None
    hashed = None
    if password:
        hashed = await asyncio.get_running_loop().run_in_executor(HASHING, hash_password, password[:1024])
    return Response.html(await datasette.render_template("password_tool.html", {"hashed_password": hashed},
                                                         request=request))


def display_name(datasette, login) -> str:
    """The display name of a committee login (``zhangwei`` → 张伟); anything else as it is."""
    users = site_of(datasette).users
    user = users.get(str(login)) if users is not None and login else None
    return user.display_name if user else (login or "")
