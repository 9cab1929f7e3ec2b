"""mengui's Datasette plugin: its hooks, and nothing else (the pages are in ``pages``, logins in
``sessions``, the site's guard in ``web``).

Registered through Datasette's own ``datasette`` entry-point group. It only acts on
databases that hold mengui's ``flags`` table.
"""

from __future__ import annotations

import re

from datasette import hookimpl
from markupsafe import Markup, escape

from mengui_core.labels import APPEAL_LABELS

from . import pages, sessions, web
from .metadata import public_tables
from .site import is_mengui, is_reviewer, mengui_database

# ---------------------------------------------------------------- privacy without `mengui serve`

GUARDED_ACTIONS = ("view-table", "execute-sql", "view-database-download")


@hookimpl
def permission_allowed(datasette, actor, action, resource):
    """A plain ``datasette mengui.db`` carries none of the metadata that keeps patient identity from
    anonymous visitors. For a mengui database without its own ``allow`` block, anonymous visitors
    get what `mengui serve` would show them: the public tables, no SQL, no download."""
    if actor is not None or action not in GUARDED_ACTIONS:
        return None
    database = resource[0] if isinstance(resource, tuple) else resource
    if database == "_memory" and getattr(datasette, "crossdb", False):
        # `datasette --crossdb`: SQL on _memory reads every attached database, a mengui one included
        async def any_mengui():
            for name, db in datasette.databases.items():
                if not name.startswith("_") and await is_mengui(db):
                    return False
            return None

        return any_mengui
    if not database or datasette.metadata("allow", database=database) is not None:
        return None  # the site's own metadata decides (as under `mengui serve`)

    async def decide():
        db = datasette.databases.get(database)
        if db is None or not await is_mengui(db):
            return None
        if action == "view-table" and resource[1] in public_tables():
            return None
        return False

    return decide


@hookimpl(tryfirst=True)  # before datasette-auth-passwords' own /-/login and /-/password-tool
def register_routes():
    return [
        (r"^/-/login$", sessions.login),
        (r"^/-/password-tool$", sessions.password_tool),
        (r"^/-/review/(?P<rx_id>[^/]+)/(?P<check_id>[^/]+)$", pages.review),
        (r"^/-/dashboard$", pages.dashboard),
        (r"^/-/metadata(\.(?P<format>json))?$", pages.metadata_guard),
    ]


WEB_BUSY_TIMEOUT_MS = 120_000  # a web verdict waits for a load's or an audit's write, it does not fail


@hookimpl
def prepare_connection(conn, database, datasette):
    conn.execute(f"PRAGMA busy_timeout = {WEB_BUSY_TIMEOUT_MS}")


@hookimpl
def extra_template_vars(request, datasette):
    """``mengui_stale``: for a reviewer, the months whose lists an earlier month's change has made
    out of date (shown on the home page and the dashboard until they are disclosed again)."""
    async def inner():
        if request is None or not is_reviewer(request.actor):
            return {}
        from mengui_core.publish.disclosure import stale_months

        try:
            db = await mengui_database(datasette)
            if not await db.table_exists("disclosure_runs"):
                return {}
            stale = await db.execute_fn(stale_months)
        except Exception:
            return {}
        return {"mengui_stale": stale}

    return inner


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    if column == "审核" and isinstance(value, str) and value.startswith("/-/review/"):
        return Markup('<a href="{}">去审核</a>').format(datasette.urls.path(value))
    if column == "申诉状态" and value == APPEAL_LABELS["pending"]:
        return Markup('<strong class="mg-appeal-pending" style="background:#fde7c6;color:#8a4b00;'
                      'padding:0 0.4em;border-radius:0.3em">{}</strong>').format(value)
    if table in ("flags", "flag_status") and column == "rx_id" and row is not None:
        try:
            check = row["check_id"]
        except (KeyError, IndexError):
            return None
        return Markup('<a href="{}">{}</a>').format(
            datasette.urls.path(f"/-/review/{value}/{check}"), escape(value))
    return None


@hookimpl
def menu_links(datasette, actor):
    if not is_reviewer(actor):
        return [{"href": datasette.urls.path("/-/login"), "label": "委员登录"}]
    links = [{"href": datasette.urls.path("/-/dashboard"), "label": "统计图表"}]
    for name in datasette.databases:
        if not name.startswith("_"):
            links.insert(0, {"href": datasette.urls.path(f"/{name}/appeals_overview"), "label": "申诉与复审"})
            links.insert(0, {"href": datasette.urls.path(f"/{name}/pending_reviews"), "label": "本月待审核处方"})
            break
    return links


# Datasette 0.65's own interface words, in the committee's language. Applied to HTML pages only,
# and only to these exact markup fragments, never to data.
UI_WORDS = [
    (re.compile(r"Custom SQL query returning more than ([\d,]+) rows"), r"查询结果：超过 \1 行"),
    (re.compile(r"Custom SQL query returning ([\d,]+) rows?"), r"查询结果：\1 行"),
    (re.compile(r"<h3>Custom SQL query"), "<h3>查询"),
    (re.compile(r'(<a href="[^"]*">)hide(</a>)'), r"\1隐藏 SQL\2"),
    (re.compile(r'(<a href="[^"]*">)show(</a>)'), r"\1显示 SQL\2"),
    (re.compile(r"<h3>Query parameters</h3>"), "<h3>查询条件</h3>"),
    (re.compile(r'value="Run SQL"'), 'value="查询"'),
    (re.compile(r">Format SQL<"), ">格式化 SQL<"),
    (re.compile(r">Edit SQL<"), ">编辑 SQL<"),
    (re.compile(r'<p class="export-links">This data as '), '<p class="export-links">导出：'),
    (re.compile(r'<p class="zero-results">0 results</p>'), '<p class="zero-results">没有记录</p>'),
    (re.compile(r">Log out<"), ">退出登录<"),
    (re.compile(r'value="Log out"'), 'value="退出登录"'),
    (re.compile(r"Powered by (<a [^>]*>Datasette</a>)"), r"基于 \1"),
    (re.compile(r"&middot; Queries took ([\d.]+)ms"), r"&middot; 查询用时 \1 毫秒"),
    (re.compile(r"Query executed, (\d+) rows? affected"), r"已执行，影响 \1 行"),
]
# canned-query form fields: the label changes, the field name the query uses does not
PARAM_LABELS = {"month": "月份（YYYY-MM）", "doctor_code": "医师代码或姓名", "rx_id": "处方号", "check_id": "规则编号",
                "verdict": "结论（不合理 / 合理）", "note": "审核意见"}
UI_WORDS += [(re.compile(rf'(<label for="qp\d+">){name}(</label>)'), rf"\g<1>{label}\g<2>")
             for name, label in PARAM_LABELS.items()]


def translate_html(html: str) -> str:
    for pattern, replacement in UI_WORDS:
        html = pattern.sub(replacement, html)
    return html


@hookimpl
def asgi_wrapper(datasette):
    return lambda app: web.Guard(app, datasette, translate_html)


@hookimpl(tryfirst=True)
def handle_exception(datasette, request, exception):
    return web.error_response(datasette, request, exception)
