"""The committee's own pages: the review page of one flag, the dashboard of charts, ``/-/metadata``."""

from __future__ import annotations

import json

from datasette.utils.asgi import Forbidden, Response
from markupsafe import Markup

from mengui_core.labels import APPEAL_LABELS, KIND_LABELS, STATUS_LABELS, VERDICT_LABELS
from mengui_core.money import format_yuan

from .site import forbidden as _forbidden, is_reviewer, mengui_database, rows as _rows


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
    overrides = []
    if await db.table_exists("precheck_overrides"):
        from mengui_core.precheck.overrides import OVERRIDES_OF_FLAG

        overrides = await _rows(db, OVERRIDES_OF_FLAG, {
            "check_id": check_id, "rx_id": rx_id, "patient_id": flag["patient_id"], "rx_date": flag["rx_date"],
            "doctor_code": flag["doctor_code"]})
    other_flags = await _rows(db, """
        SELECT s.check_id, coalesce(c.title, s.check_id) AS title, s.status FROM flag_status s
        LEFT JOIN checks c USING (check_id) WHERE s.rx_id = ? AND s.check_id != ?""", (rx_id, check_id))
    for other in other_flags:
        other["status_label"] = STATUS_LABELS.get(other["status"], other["status"])
    return Response.html(await datasette.render_template("mengui_review.html", {
        "database": db.name, "flag": flag, "rx": rx, "related": related, "certifications": certifications,
        "billed": billed, "same_visit": same_visit, "history": history, "other_flags": other_flags,
        "appeal": appeal, "overrides": overrides,
        "verdict_labels": VERDICT_LABELS,
    }, request=request))


async def _disease_names(db, month) -> dict[str, str]:
    """Catalog names from the ruleset the month was audited with (certification files may lack names)."""
    from mengui_core.plugins import load_ruleset

    row = (await db.execute("SELECT ruleset, ruleset_path FROM audit_runs WHERE month = ? ORDER BY run_id DESC LIMIT 1",
                            (month,))).first()
    if row is None:
        return {}
    for candidate in (row["ruleset"], row["ruleset_path"]):
        try:
            return {d.code: d.name for d in load_ruleset(candidate).diseases}
        except Exception:  # a ruleset no longer installed: show codes only
            continue
    return {}


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


