"""The committee's dashboard of charts, and ``/-/metadata`` (the review page is in ``review``, the pending
list in ``pending``, a doctor's history in ``doctors``)."""

from __future__ import annotations

import json

from datasette.utils.asgi import Forbidden, Response
from markupsafe import Markup

from mengui_core.labels import STATUS_LABELS

from .site import forbidden as _forbidden, is_reviewer, mengui_database, rows as _rows


async def dashboard(request, datasette):
    """Flags per month and department, and the ladder's current state, as pictures."""
    if not is_reviewer(request.actor):
        return _forbidden(datasette, request)
    from mengui_core import months as month_names
    from mengui_core.outputs.charts import check_colours, horizontal_bars, stacked_bars
    from mengui_core.plugins import get_checks

    db = await mengui_database(datasette)
    latest = (await db.execute("SELECT max(month) FROM audit_runs")).first()[0]
    if latest is None:
        return Response.html(await datasette.render_template(
            "mengui_message.html", {"title": "还没有审核数据", "message": "请先运行 mengui audit。"}, request=request))
    # the last 12 months, from the first month with data at the earliest
    first = (await db.execute("SELECT min(substr(rx_date, 1, 7)) FROM prescriptions")).first()[0] or latest
    months = month_names.span(max(first, month_names.previous(latest, 11)), latest)
    audited = {r[0] for r in (await db.execute("SELECT DISTINCT month FROM audit_runs")).rows}
    titles = {r["check_id"]: r["title"] for r in await _rows(db, "SELECT check_id, title FROM checks")}
    per_month = await _rows(db, """
        SELECT month, check_id, count(*) AS n FROM flags WHERE month >= ? GROUP BY 1, 2""", (months[0],))
    checks = sorted({r["check_id"] for r in per_month} | set(titles))
    colours = check_colours(checks, {c.id: c.colour for c in get_checks().values()})
    series = {titles.get(c, c): [0 if m in audited else None for m in months] for c in checks}
    for r in per_month:
        series[titles.get(r["check_id"], r["check_id"])][months.index(r["month"])] = r["n"]
    trend = stacked_bars([month_names.label(m) for m in months], series, title="近 12 个月各规则标记数",
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


