"""mengui's Datasette plugin: its hooks, and nothing else (the pages are in ``pages``, logins in
``sessions``, the site's guard in ``web``; Datasette's own pages speak Chinese through the template
overrides in ``templates/``, which `mengui serve` passes as Datasette's template directory).

Registered through Datasette's own ``datasette`` entry-point group. It only acts on
databases that hold mengui's ``flags`` table.
"""

from __future__ import annotations

from urllib.parse import quote

from datasette import hookimpl
from markupsafe import Markup, escape

from mengui_core import times
from mengui_core.labels import APPEAL_LABELS, label, register_sql_functions
from mengui_core.money import format_yuan
from mengui_core.times import minute

from . import cds, doctors, lists, pages, pending, review, sessions, site, web
from .metadata import public_tables
from .sessions import display_name
from .site import (TEMPLATES, column_label, is_mengui, is_reviewer, mengui_database, shown_source, shown_time,
                   value_label)

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
        (r"^/-/review/(?P<rx_id>[^/]+)/(?P<check_id>[^/]+)$", review.review),
        (r"^/-/pending$", pending.pending_page),
        (r"^/-/review-sheet/(?P<month>\d{4}-\d{2})\.(?P<format>xlsx|html)$", pending.review_sheet),
        (r"^/-/doctor$", doctors.find_doctor),
        (r"^/-/doctor/(?P<code>[^/]+)$", doctors.doctor_history),
        (r"^/-/dashboard$", pages.dashboard),
        (r"^/-/list$", lists.public_list),
        (r"^/-/list/(?P<month>[^/.]+)(\.(?P<format>csv|json))?$", lists.public_list),
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
    (the field's name itself when it has none). Under a plain ``datasette mengui.db`` (no template
    directory) the plugin's own pages (``mengui_*.html``) are still found, after Datasette's templates."""
    from jinja2 import ChoiceLoader, FileSystemLoader

    env.loader = ChoiceLoader([env.loader, FileSystemLoader(str(TEMPLATES))])
    env.globals["mg_label"] = label
    env.filters["mg_minute"] = minute  # a stored timestamp in Beijing time, to the minute

    def param_label(name: str) -> str:
        labels = (datasette.plugin_config("mengui") or {}).get("param_labels") or {}
        return labels.get(name, name)

    env.globals["mg_param_label"] = param_label
    # recorded times in the site's zone, a verdict's source as a file's name, a login as its display name
    env.filters["mg_time"] = lambda value: shown_time(datasette, value)
    env.filters["mg_source"] = shown_source
    env.filters["mg_person"] = lambda login: display_name(datasette, login)
    # a column's Chinese label: the metadata's plugins: mengui: column_labels (by column name), else the
    # column's description up to its first clause, else the name itself
    env.globals["mg_column"] = lambda database, table, column: column_label(datasette, database, table, column)
    # a table's or a database's title (crumbs, row pages) instead of its name
    env.globals["mg_title"] = lambda database, table=None: site.title(datasette, database, table)
    env.globals["mg_value"] = lambda table, column, value: value_label(datasette, table, column, value) or value
    env.globals["mg_query"] = lambda database, name: site.canned_query(datasette, database, name)
    env.globals["mg_crumb"] = lambda database, label: site.crumb(datasette, database, label)


@hookimpl
def extra_template_vars(request, datasette):
    """``mengui_plain``: every page in plain Chinese (no SQL, no row counts, no table or column names) for
    anyone but an admin, who keeps Datasette's tools. On the home page, ``mengui_rules``: what the rules
    say (the checks that count and the ladder), in the numbers of the ruleset the newest month was
    audited with. For a reviewer: ``mengui_stale``, the published months whose lists an earlier month's
    new revision has made out of date (shown on the home page and the dashboard until they are published
    again), and ``mengui_drafts``, the months whose draft awaits sign-off (``mengui publish``)."""
    found = {"mengui_plain": not (request is not None and (request.actor or {}).get("role") == "admin")}

    async def inner():
        if request is None:
            return found
        from mengui_core.publish.disclosure import pending_drafts, rules_words, stale_months

        try:
            db = await mengui_database(datasette)
            if not await db.table_exists("disclosure_drafts"):
                return found
            if request.path == "/":
                latest = (await db.execute("SELECT max(month) FROM audit_runs WHERE finished_at IS NOT NULL")).first()
                if latest and latest[0]:
                    found["mengui_rules"] = await db.execute_fn(lambda conn: rules_words(conn, latest[0]))
            if is_reviewer(request.actor):
                found["mengui_stale"] = await db.execute_fn(stale_months)
                found["mengui_drafts"] = await db.execute_fn(pending_drafts)
        except Exception:
            pass
        return found

    return inner


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    if isinstance(value, str) and times.parse(value) and ("T" in value or "+" in value[10:]):
        return shown_time(datasette, value)  # a recorded moment (ISO with a T or an offset): local time
    if column in ("source", "来源") and isinstance(value, str):
        return shown_source(value)
    if column in ("reviewer", "second_reviewer", "审核人", "复审人") and isinstance(value, str):
        return display_name(datasette, value)
    if column in ("医师代码", "在先医师代码") and isinstance(value, str) and value and table is None:
        # a doctor in a canned query's answer: to the doctor's history
        return Markup('<a href="{}">{}</a>').format(datasette.urls.path(f"/-/doctor/{quote(value, safe='')}"), value)
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
    if table and column.endswith("_fen") and isinstance(value, int):
        return Markup('<span class="mg-yuan" title="{} 分">{}</span>').format(value, format_yuan(value))  # 元 on pages
    if table == "audit_runs" and column in ("checks", "steps", "ruleset_path", "plugins") and isinstance(value, str):
        return site.audit_run_cell(datasette, column, value)
    if table and (shown := value_label(datasette, table, column, value)) is not None:
        return Markup('<span title="{}">{}</span>').format(value, shown)  # a stored code, in words
    return None


@hookimpl
def menu_links(datasette, actor):
    public = {"href": datasette.urls.path("/-/list"), "label": "公示名单"}
    if not is_reviewer(actor):
        return [public, {"href": datasette.urls.path("/-/login"), "label": "委员登录"}]
    links = [{"href": datasette.urls.path("/-/pending"), "label": "待审核处方（可批量审核、打印审核单）"},
             {"href": datasette.urls.path("/-/dashboard"), "label": "统计图表"},
             {"href": datasette.urls.path("/-/list"), "label": "公示名单（已公示与草稿）"}]
    for name in datasette.databases:
        if not name.startswith("_"):
            links.insert(1, {"href": datasette.urls.path(f"/{name}/appeals_overview"), "label": "申诉与复审"})
            break
    return links


@hookimpl
def asgi_wrapper(datasette):
    return lambda app: web.Guard(app, datasette)


@hookimpl(tryfirst=True)
def handle_exception(datasette, request, exception):
    return web.error_response(datasette, request, exception)
