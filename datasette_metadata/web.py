"""What every request and response of the committee's site goes through (the ASGI middleware of
mengui's Datasette plugin), and the Chinese error pages.

Requests: a session cookie that is no longer valid (expired, user removed or disabled, password
changed, secret rotated: :func:`sessions.valid_actor`) is dropped before Datasette sees it, and the
browser told to forget it; Datasette's pages about itself (versions, plugins, databases, threads,
settings, …) are for admins only; a POST body is limited in size; anonymous visitors of the raw
``disclosures`` table page are sent to the public list page (``/-/list``, the month of a ``month``
filter), made for reading — the table's JSON and CSV stay, for programs.

Responses: security headers on every one; every cookie HttpOnly and SameSite=Lax (and Secure over
HTTPS); SQLite's English errors (``database is locked``) replaced by Chinese ones in pages and JSON;
formula-like cells of every CSV neutralised. Nothing else in a page's body is changed: Datasette's
own pages speak Chinese through the template overrides in ``templates/``, not by rewriting HTML.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import sqlite3

from datasette.utils.asgi import Base400, Response

from mengui_core.errors import SQLITE_MESSAGES, sqlite_message
from mengui_core.formulas import neutralise

from .cds import SERVICE_AUTHORIZATION, is_service_path
from .sessions import COOKIE, request_cookies, valid_actor, without_cookie
from .site import is_reviewer

SECURITY_HEADERS = [
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]
# Datasette's pages about the server itself: versions, plugins, the database's path, threads, settings
INTERNAL_PAGES = re.compile(
    r"^/-/(versions|plugins|databases|threads|settings|config|permissions|allow-debug|messages|patterns|auth-token)"
    r"(\.json)?$")
# the raw table page of the public list (not its .json / .csv)
LIST_TABLE_PAGE = re.compile(r"^/[^/]+/disclosures/?$")
MONTH_PARAMETER = re.compile(rb"(?:^|&)month(?:__exact)?=(\d{4}-\d{2})(?:&|$)")
MAX_POST_BYTES = 256 * 1024  # a verdict with a 2,000-character note is about 20 KB
CLEARED = (f"{COOKIE}=; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
           ).encode("latin-1")
# SQLite's words for a busy or full database, as Datasette would show them after a failed write
_ENGLISH_ERRORS = re.compile("|".join(re.escape(e) for e in SQLITE_MESSAGES if "database" in e or "disk" in e), re.I)


def _page(title: str, message: str) -> bytes:
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title></head>'
            f'<body><h1>{title}</h1><p>{message}</p><p><a href="/">返回首页</a></p></body></html>').encode("utf-8")


async def _send_simple(send, status: int, title: str, message: str, json_body: bool) -> None:
    if json_body:
        body = json.dumps({"ok": False, "error": message, "status": status}, ensure_ascii=False).encode("utf-8")
        kind = b"application/json; charset=utf-8"
    else:
        body, kind = _page(title, message), b"text/html; charset=utf-8"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _redirect(send, location: str) -> None:
    await send({"type": "http.response.start", "status": 302,
                "headers": [(b"location", location.encode("utf-8")), (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


def _harden_cookie(value: bytes, https: bool) -> bytes:
    lower = value.lower()
    if b"httponly" not in lower:
        value += b"; HttpOnly"
    if b"samesite" not in lower:
        value += b"; SameSite=Lax"
    if https and b"secure" not in lower:
        value += b"; Secure"
    return value


def _chinese_errors(text: str) -> str:
    """SQLite's English error messages in a page or a JSON answer, in Chinese."""
    return _ENGLISH_ERRORS.sub(lambda m: sqlite_message(Exception(m.group(0))), text)


class CsvNeutraliser:
    """Rewrites a streamed CSV response: every formula-like cell gets a leading apostrophe
    (:func:`mengui_core.formulas.neutralise`); everything else comes out byte for byte."""

    def __init__(self):
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.pending = ""

    @staticmethod
    def _records_end(text: str) -> int:
        """Where the last complete record ends (after a newline outside quotes)."""
        end = len(text)
        while (end := text.rfind("\n", 0, end)) >= 0:
            if text.count('"', 0, end) % 2 == 0:
                return end + 1
        return 0

    def feed(self, data: bytes, final: bool = False) -> bytes:
        text = self.pending + self.decoder.decode(data, final)
        cut = len(text) if final else self._records_end(text)
        complete, self.pending = text[:cut], text[cut:]
        if not complete:
            return b""
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        for row in csv.reader(io.StringIO(complete, newline="")):
            writer.writerow([neutralise(cell) for cell in row])
        return out.getvalue().encode("utf-8")


class Guard:
    """The ASGI middleware (see the module's description)."""

    def __init__(self, app, datasette):
        self.app, self.datasette = app, datasette

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        wants_json = path.endswith(".json")
        if is_service_path(path):  # the HIS's bearer token is for the 事前 service alone: no login plugin sees it
            scope = dict(scope, headers=[(SERVICE_AUTHORIZATION if k.lower() == b"authorization" else k, v)
                                         for k, v in scope.get("headers") or []])
        cookies = request_cookies(scope)
        actor, clear = None, False
        if COOKIE in cookies:
            actor = valid_actor(self.datasette, cookies[COOKIE])
            if actor is None:  # Datasette never sees it; the browser is told to forget it
                scope, clear = without_cookie(scope, COOKIE), True
        https = scope.get("scheme") == "https"
        respond = self._responder(send, path, https, clear)
        if INTERNAL_PAGES.match(path) and (actor or {}).get("role") != "admin":
            return await _send_simple(respond, 403, "无权访问", "本页只对管理员开放。", wants_json)
        if scope.get("method") in ("GET", "HEAD") and LIST_TABLE_PAGE.match(path) and not is_reviewer(actor):
            month = MONTH_PARAMETER.search(scope.get("query_string") or b"")
            target = "/-/list" + (f"/{month.group(1).decode()}" if month else "")
            return await _redirect(respond, self.datasette.urls.path(target))
        if scope.get("method") == "POST":
            body = await self._body(scope, receive)
            if body is None:
                return await _send_simple(respond, 413, "提交的内容过大",
                                          f"一次提交不能超过 {MAX_POST_BYTES // 1024} KB（审核意见最多 2,000 个字符）。",
                                          wants_json)
            receive = self._replay(body, receive)
        return await self.app(scope, receive, respond)

    @staticmethod
    async def _body(scope, receive) -> bytes | None:
        """The whole request body, or None when it is larger than ``MAX_POST_BYTES``."""
        for key, value in scope.get("headers") or []:
            if key == b"content-length" and value.isdigit() and int(value) > MAX_POST_BYTES:
                return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_POST_BYTES:
                return None
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        return b"".join(chunks)

    @staticmethod
    def _replay(body: bytes, receive):
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    def _responder(self, send, path: str, https: bool, clear: bool):
        state: dict = {}

        async def respond(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers") or []]
                headers = [(k, _harden_cookie(v, https) if k.lower() == b"set-cookie" else v) for k, v in headers]
                if clear and not any(k.lower() == b"set-cookie" and v.startswith(COOKIE.encode() + b"=")
                                     for k, v in headers):
                    headers.append((b"set-cookie", CLEARED))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                kind = dict((k.lower(), v) for k, v in headers).get(b"content-type", b"")
                if kind.startswith(b"text/html"):
                    state["mode"] = "html"
                elif kind.startswith(b"application/json"):
                    state["mode"] = "json"
                elif path.endswith(".csv") and message.get("status", 200) == 200:
                    state["mode"] = "csv"
                    state["csv"] = CsvNeutraliser()
                else:
                    state["mode"] = None
                message = dict(message, headers=headers)
                if state["mode"] in ("html", "json"):
                    state["start"], state["chunks"] = message, []
                    return
                if state["mode"] == "csv":
                    message = dict(message, headers=[(k, v) for k, v in headers if k.lower() != b"content-length"])
                return await send(message)
            if message["type"] == "http.response.body" and state.get("mode") in ("html", "json"):
                state["chunks"].append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = b"".join(state["chunks"])
                text = body.decode("utf-8", errors="replace")
                if (chinese := _chinese_errors(text)) != text:  # otherwise the body goes out byte for byte
                    body = chinese.encode("utf-8")
                headers = [(k, v) for k, v in state["start"]["headers"] if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(body)).encode()))
                await send({**state["start"], "headers": headers})
                return await send({"type": "http.response.body", "body": body})
            if message["type"] == "http.response.body" and state.get("mode") == "csv":
                more = message.get("more_body", False)
                return await send({"type": "http.response.body",
                                   "body": state["csv"].feed(message.get("body", b""), final=not more),
                                   "more_body": more})
            return await send(message)

        return respond


# ---------------------------------------------------------------- error pages


def _user_error(exception) -> tuple[int, str, str] | None:
    """(status, title, Chinese message) for errors a visitor's request causes; None: Datasette's own."""
    from datasette.views.base import DatasetteError

    if isinstance(exception, sqlite3.ProgrammingError):  # e.g. /db/disclosures/1: half a primary key
        return 404, "没有这条记录", "网址中的记录编号不完整或无效。"
    if isinstance(exception, sqlite3.OperationalError):
        return 503, "数据库正忙", sqlite_message(exception) + "（页面可稍后刷新）"
    if isinstance(exception, DatasetteError):
        message = str(exception.message)
        sort = re.match(r"Cannot sort table by (.+)", message)
        if sort:
            return 400, "不能排序", f"不能按列「{sort.group(1)}」排序：该列不存在或不可排序。"
        if (exception.title or "") == "SQL Interrupted" or "took too long" in message:
            return 400, "查询超时", "查询用时过长，已中止：请缩小查询范围后重试。"
        if exception.status >= 500:
            return 400, "请求无效", "请求的参数无效，请检查网址。"
        return None
    if isinstance(exception, Base400):
        text = str(exception.args[0]) if exception.args else ""
        if re.search(r"[\u4e00-\u9fff]", text):
            return None  # already in Chinese
        titles = {403: ("无权访问", "请先以药事委员会委员身份登录。"), 404: ("页面不存在", "没有这个页面或数据表。")}
        title, message = titles.get(exception.status, ("请求无效", "请求的参数无效，请检查网址。"))
        return exception.status, title, message
    return 500, "服务器内部错误", "服务器处理请求时出错，请稍后重试；如果一再出现，请联系医保办。"


def error_response(datasette, request, exception):
    found = _user_error(exception)
    if found is None:
        return None
    status, title, message = found
    if status >= 500:
        import traceback

        traceback.print_exception(exception)  # for the log; the visitor sees no internals

    async def inner():
        if request.path.split("?")[0].endswith(".json"):
            return Response.json({"ok": False, "error": message, "status": status, "title": title}, status=status)
        try:
            html = await datasette.render_template("mengui_message.html", {"title": title, "message": message},
                                                   request=request)
        except Exception:  # the template cannot render (e.g. the error came from it): a plain page
            html = _page(title, message).decode("utf-8")
        return Response.html(html, status=status)

    return inner
