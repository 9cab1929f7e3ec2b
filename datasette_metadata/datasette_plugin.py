"""mengui's Datasette plugin: its hooks, and nothing else (the pages are in ``pages``, logins in
``sessions``, the site's guard in ``web``; Datasette's own pages speak Chinese through the template
overrides in ``templates/``, which `mengui serve` passes as Datasette's template directory).

Registered through Datasette's own ``datasette`` entry-point group. It only acts on
databases that hold mengui's ``flags`` table.
"""

from __future__ import annotations

from datasette import hookimpl
from markupsafe import Markup, escape

from mengui_core.labels import APPEAL_LABELS, label, register_sql_functions

from . import cds, pages, sessions, web
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
        *cds.ROUTES,  # the 事前 service (HIS tokens, not committee logins)
    ]


@hookimpl
def skip_csrf(datasette, scope):
    """The 事前 endpoints are called by the HIS with a bearer token, never by a browser with cookies."""
    return cds.is_service_path(scope.get("path", ""))


WEB_BUSY_TIMEOUT_MS = 120_000  # a web verdict waits for a load's or an audit's write, it does not fail


@hookimpl
def prepare_connection(conn, database, datasette):
    """Every connection Datasette opens waits for a writer, and speaks the vocabulary: the canned
    queries show labels with ``mg_label(kind, key)`` and money with ``mg_yuan(fen)``."""
    conn.execute(f"PRAGMA busy_timeout = {WEB_BUSY_TIMEOUT_MS}")
    register_sql_functions(conn)


@hookimpl
def prepare_jinja2_environment(env, datasette):
    """The same vocabulary in templates (``mg_label(kind, key)``), and ``mg_param_label(name)``: the
    Chinese label of a canned query's form field, from the metadata's ``plugins: mengui: param_labels``
    (the field's name itself when it has none)."""
    env.globals["mg_label"] = label

    def param_label(name: str) -> str:
        labels = (datasette.plugin_config("mengui") or {}).get("param_labels") or {}
        return labels.get(name, name)

    env.globals["mg_param_label"] = param_label


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


@hookimpl
def asgi_wrapper(datasette):
    return lambda app: web.Guard(app, datasette)


@hookimpl(tryfirst=True)
def handle_exception(datasette, request, exception):
    return web.error_response(datasette, request, exception)
