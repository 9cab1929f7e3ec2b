"""mengui's Datasette plugin: the review page, the committee dashboard, links, Chinese menus.

Registered through Datasette's own ``datasette`` entry-point group. It only acts on
databases that hold mengui's ``flags`` table.
"""

from __future__ import annotations

import functools
import json
import re

from datasette import hookimpl
from datasette.utils.asgi import Forbidden, Response
from markupsafe import Markup, escape

from mengui_core.appeals import STATUS_LABELS as APPEAL_LABELS
from mengui_core.ruleset import format_yuan

from . import sessions, web

REVIEW_ROLES = ("committee", "admin")
STATUS_LABELS = {"pending": "待审核", "unreasonable": "不合理", "reasonable": "合理",
                 "unreasonable_unreviewed": "计入（未复核）", "monitoring": "监测（不计入）"}
KIND_LABELS = {"disease": "病种", "complication": "并发症"}


def is_reviewer(actor) -> bool:
    return bool(actor) and actor.get("role") in REVIEW_ROLES


async def is_mengui(db) -> bool:
    """Whether a Datasette database is a mengui database (it holds flags and disclosures)."""
    return await db.table_exists("flags") and await db.table_exists("disclosures")


async def mengui_database(datasette):
    for name, db in datasette.databases.items():
        if name.startswith("_"):
            continue
        if await is_mengui(db):
            return db
    raise Forbidden("没有门规审核数据库")


# ---------------------------------------------------------------- privacy without `mengui serve`

GUARDED_ACTIONS = ("view-table", "execute-sql", "view-database-download")


@functools.lru_cache(maxsize=1)
def _public_tables() -> frozenset[str]:
    """The tables and views `mengui serve` shows anonymous visitors (``allow: true`` in metadata.yaml);
    read once, not on every permission check."""
    from .server import PLACEHOLDER, base_metadata

    block = (base_metadata().get("databases") or {}).get(PLACEHOLDER) or {}
    return frozenset(name for name, table in (block.get("tables") or {}).items() if (table or {}).get("allow") is True)


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
        if action == "view-table" and resource[1] in _public_tables():
            return None
        return False

    return decide


def _forbidden(datasette, request):
    return Response.redirect(datasette.urls.path("/-/login"))


async def _rows(db, sql, params=()):
    return [dict(r) for r in (await db.execute(sql, params)).rows]


async def review(request, datasette):
    """Everything needed to judge one flagged prescription, and the verdict form."""
    if not is_reviewer(request.actor):
        return _forbidden(datasette, request)
    db = await mengui_database(datasette)
    rx_id = request.url_vars["rx_id"]
    check_id = request.url_vars["check_id"]
    flags = await _rows(db, """
        SELECT s.*, coalesce(c.title, s.check_id) AS title, c.description AS check_description
        FROM flag_status s LEFT JOIN checks c USING (check_id)
        WHERE s.rx_id = ? AND s.check_id = ?""", (rx_id, check_id))
    if not flags:
        return Response.html(await datasette.render_template(
            "mengui_message.html", {"title": "没有这条标记", "message": f"处方 {rx_id} 没有规则 {check_id} 的标记。"},
            request=request), status=404)
    flag = flags[0]
    flag["status_label"] = STATUS_LABELS.get(flag["status"], flag["status"])
    if flag["amount_fen"] is not None:
        flag["amount_yuan"] = format_yuan(flag["amount_fen"])
    if flag["limit_fen"] is not None:
        flag["limit_yuan"] = format_yuan(flag["limit_fen"])
        flag["excess_yuan"] = format_yuan(max(flag["amount_fen"] - flag["limit_fen"], 0))
    # the facts behind a drug flag, one row per earlier supply still in hand (see flags.evidence)
    try:
        evidence = json.loads(flag["evidence"]) if flag.get("evidence") else []
    except ValueError:
        evidence = []
    flag["overlaps"] = [e for e in evidence if isinstance(e, dict) and "days_left" in e]

    async def prescription(rid):
        found = await _rows(db, """
            SELECT p.*, d.doctor_name FROM prescriptions p LEFT JOIN doctors d USING (doctor_code)
            WHERE p.rx_id = ?""", (rid,))
        if not found:
            return None
        rx = found[0]
        rx["total_yuan"] = format_yuan(rx["total_amount_fen"]) if rx["total_amount_fen"] is not None else ""
        rx["lines"] = await _rows(db, "SELECT * FROM rx_items WHERE rx_id = ? ORDER BY line_no", (rid,))
        item_sum = 0
        for item in rx["lines"]:
            item["amount_yuan"] = format_yuan(item["amount_fen"])
            item_sum += item["amount_fen"]
        rx["items_yuan"] = format_yuan(item_sum) if rx["lines"] else ""
        return rx

    rx = await prescription(rx_id)
    related = None
    if flag["related_rx_id"] and flag["related_rx_id"] != rx_id:
        related = await prescription(flag["related_rx_id"])
    certifications = await _rows(db, """
        SELECT disease_code, disease_name, kind, valid_from, valid_to,
               (valid_from <= :day AND (valid_to IS NULL OR valid_to >= :day)) AS valid
        FROM certifications WHERE patient_id = :patient ORDER BY valid DESC, disease_code""",
        {"day": flag["rx_date"], "patient": flag["patient_id"]})
    names = await _disease_names(db, flag["month"])
    for cert in certifications:
        cert["name"] = cert["disease_name"] or names.get(cert["disease_code"][:6], "")
        cert["kind_label"] = KIND_LABELS.get(cert["kind"], cert["kind"])
    billed = []
    for code in (rx["disease_codes"] or "").split(";") if rx else []:
        if code:
            billed.append({"code": code, "name": names.get(code[:6], "")})
    same_visit = await _rows(db, """
        SELECT p.rx_id, p.rx_time, p.disease_codes, p.total_amount_fen,
               (SELECT sum(amount_fen) FROM rx_items i WHERE i.rx_id = p.rx_id) AS items_fen
        FROM prescriptions p WHERE p.patient_id = ? AND p.doctor_code = ? AND p.rx_date = ? AND p.rx_id != ?""",
        (flag["patient_id"], flag["doctor_code"], flag["rx_date"], rx_id))
    for other in same_visit:
        fen = other["items_fen"] if other["items_fen"] is not None else other["total_amount_fen"]
        other["amount_yuan"] = format_yuan(fen) if fen is not None else ""
    history = await _rows(db, "SELECT * FROM verdict_history WHERE rx_id = ? AND check_id = ? ORDER BY id",
                          (rx_id, check_id))
    appeals = await _rows(db, "SELECT * FROM appeals WHERE rx_id = ? AND check_id = ?", (rx_id, check_id))
    appeal = appeals[0] if appeals else None
    if appeal:
        appeal["status_label"] = APPEAL_LABELS.get(appeal["status"], appeal["status"])
    other_flags = await _rows(db, """
        SELECT s.check_id, coalesce(c.title, s.check_id) AS title, s.status FROM flag_status s
        LEFT JOIN checks c USING (check_id) WHERE s.rx_id = ? AND s.check_id != ?""", (rx_id, check_id))
    for other in other_flags:
        other["status_label"] = STATUS_LABELS.get(other["status"], other["status"])
    return Response.html(await datasette.render_template("mengui_review.html", {
        "database": db.name, "flag": flag, "rx": rx, "related": related, "certifications": certifications,
        "billed": billed, "same_visit": same_visit, "history": history, "other_flags": other_flags,
        "appeal": appeal,
        "verdict_labels": {"unreasonable": "不合理", "reasonable": "合理"},
    }, request=request))


async def _disease_names(db, month) -> dict[str, str]:
    """Catalog names from the ruleset the month was audited with (certification files may lack names)."""
    from mengui_core import ruleset as rulesets

    row = (await db.execute("SELECT ruleset, ruleset_path FROM audit_runs WHERE month = ? ORDER BY run_id DESC LIMIT 1",
                            (month,))).first()
    if row is None:
        return {}
    for candidate in (row["ruleset"], row["ruleset_path"]):
        try:
            return {d.code: d.name for d in rulesets.load(candidate).diseases}
        except Exception:  # a ruleset no longer installed: show codes only
            continue
    return {}


async def dashboard(request, datasette):
    """Flags per month and department, and the ladder's current state, as pictures."""
    if not is_reviewer(request.actor):
        return _forbidden(datasette, request)
    from mengui_core.charts import check_colours, horizontal_bars, stacked_bars
    from mengui_core.ladder import previous_month

    db = await mengui_database(datasette)
    latest = (await db.execute("SELECT max(month) FROM audit_runs")).first()[0]
    if latest is None:
        return Response.html(await datasette.render_template(
            "mengui_message.html", {"title": "还没有审核数据", "message": "请先运行 mengui audit。"}, request=request))
    months = [previous_month(latest, back) for back in range(11, -1, -1)]
    audited = {r[0] for r in (await db.execute("SELECT DISTINCT month FROM audit_runs")).rows}
    titles = {r["check_id"]: r["title"] for r in await _rows(db, "SELECT check_id, title FROM checks")}
    per_month = await _rows(db, """
        SELECT month, check_id, count(*) AS n FROM flags WHERE month >= ? GROUP BY 1, 2""", (months[0],))
    checks = sorted({r["check_id"] for r in per_month} | set(titles))
    colours = check_colours(checks)
    series = {titles.get(c, c): [0 if m in audited else None for m in months] for c in checks}
    for r in per_month:
        series[titles.get(r["check_id"], r["check_id"])][months.index(r["month"])] = r["n"]
    label = lambda m: f"{int(m[5:])}月"  # noqa: E731
    trend = stacked_bars([label(m) for m in months], series, title="近 12 个月各规则标记数",
                         missing=[i for i, m in enumerate(months) if m not in audited],
                         colors={titles.get(c, c): colours[c] for c in checks}, unit="条")
    per_dept = await _rows(db, """
        SELECT coalesce(department, '（未填）') AS department, check_id, count(*) AS n FROM flags
        WHERE month = ? GROUP BY 1, 2""", (latest,))
    departments = sorted({r["department"] for r in per_dept},
                         key=lambda d: -sum(r["n"] for r in per_dept if r["department"] == d))
    dept_series = {titles.get(c, c): [0] * len(departments) for c in checks}
    for r in per_dept:
        dept_series[titles.get(r["check_id"], r["check_id"])][departments.index(r["department"])] = r["n"]
    by_department = horizontal_bars(departments, dept_series, title=f"{latest} 各科室标记数",
                                    colors={titles.get(c, c): colours[c] for c in checks}, unit="条")
    status = await _rows(db, """
        SELECT status, count(*) AS n FROM flag_status WHERE month = ? GROUP BY status""", (latest,))
    disclosed = (await db.execute("SELECT max(month) FROM disclosures")).first()[0]
    ladder = await _rows(db, """
        SELECT d.*, coalesce(d.doctor_name, r.doctor_name) AS full_name FROM disclosures d
        LEFT JOIN doctors r USING (doctor_code) WHERE d.month = ? ORDER BY level DESC, doctor_code""", (disclosed,))
    revoked = await _rows(db, "SELECT * FROM doctor_roster WHERE revoked_month IS NOT NULL ORDER BY doctor_code")
    return Response.html(await datasette.render_template("mengui_dashboard.html", {
        "database": db.name, "latest": latest, "trend": Markup(trend), "by_department": Markup(by_department),
        "status": {r["status"]: r["n"] for r in status}, "status_labels": STATUS_LABELS,
        "disclosed": disclosed, "ladder": ladder, "revoked": revoked,
    }, request=request))


async def metadata_guard(request, datasette):
    """``/-/metadata`` lists the committee's accounts: only for logged-in reviewers."""
    if not is_reviewer(request.actor):
        raise Forbidden("仅限登录的药事委员会委员")
    data = datasette.metadata()
    if request.url_vars.get("format"):
        return Response.json(data)
    return Response.html(await datasette.render_template(
        "show_json.html", {"filename": "metadata.json", "data_json": json.dumps(data, indent=4, ensure_ascii=False)},
        request=request))


@hookimpl(tryfirst=True)  # before datasette-auth-passwords' own /-/login and /-/password-tool
def register_routes():
    return [
        (r"^/-/login$", sessions.login),
        (r"^/-/password-tool$", sessions.password_tool),
        (r"^/-/review/(?P<rx_id>[^/]+)/(?P<check_id>[^/]+)$", review),
        (r"^/-/dashboard$", dashboard),
        (r"^/-/metadata(\.(?P<format>json))?$", metadata_guard),
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
        from mengui_core.publish import stale_months

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
