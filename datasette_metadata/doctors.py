"""A doctor's history for the committee (``/-/doctor/<code>``): month by month, how many flags, what the
committee ruled and where the doctor stood on the published list; how the committee ruled on the doctor's
flags of each check before; and the flags themselves, newest first, in a few readable columns."""

from __future__ import annotations

import re

from datasette.utils.asgi import Response

from mengui_core import months
from mengui_core.labels import ACTION_LABELS, LEVEL_LABELS, STATUS_LABELS

from .site import forbidden, is_reviewer, mengui_database, rows

MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
MAX_FLAGS = 500  # the newest flags shown; a month narrows the list


async def doctor_history(request, datasette):
    if not is_reviewer(request.actor):
        return forbidden(datasette, request)
    db = await mengui_database(datasette)
    code = request.url_vars["code"]
    month = request.args.get("month") or None
    if month and not MONTH.fullmatch(month):
        month = None
    found = await rows(db, "SELECT * FROM doctor_roster WHERE doctor_code = ?", (code,))
    doctor = found[0] if found else None
    if doctor is None and not (await db.execute("SELECT 1 FROM flags WHERE doctor_code = ? LIMIT 1", (code,))).rows:
        return Response.html(await datasette.render_template(
            "mengui_message.html", {"title": "没有这位医师", "message": f"医师名册和审核标记中都没有医师代码 {code}。"},
            request=request), status=404)
    per_month = await rows(db, """
        SELECT s.month,
               count(*) FILTER (WHERE NOT s.monitoring) AS flags,
               count(*) FILTER (WHERE s.status = 'pending') AS pending,
               count(*) FILTER (WHERE s.counts) AS unreasonable,
               count(*) FILTER (WHERE s.status = 'reasonable') AS reasonable,
               count(*) FILTER (WHERE s.monitoring) AS monitoring,
               l.level, l.action, l.unreasonable_count
        FROM flag_status s LEFT JOIN disclosures l ON l.month = s.month AND l.doctor_code = s.doctor_code
        WHERE s.doctor_code = ?
        GROUP BY s.month ORDER BY s.month DESC""", (code,))
    for row in per_month:
        row["title"] = months.title(row["month"])
        row["listed"] = (f"{LEVEL_LABELS.get(row['level'], row['level'])}：{ACTION_LABELS.get(row['action'], row['action'])}"
                         if row["level"] else "")
    by_check = await rows(db, """
        SELECT coalesce(c.title, s.check_id) AS title,
               count(*) FILTER (WHERE s.verdict = 'unreasonable') AS unreasonable,
               count(*) FILTER (WHERE s.verdict = 'reasonable') AS reasonable,
               count(*) FILTER (WHERE s.status = 'pending') AS pending
        FROM flag_status s LEFT JOIN checks c ON c.check_id = s.check_id
        WHERE s.doctor_code = ? AND NOT s.monitoring
        GROUP BY s.check_id ORDER BY count(*) DESC, title""", (code,))
    flags = await rows(db, """
        SELECT s.rx_id, s.check_id, s.month, s.rx_date, coalesce(c.title, s.check_id) AS title, s.level, s.level_rank,
               s.detail, s.status, s.verdict_note
        FROM flag_status s LEFT JOIN checks c ON c.check_id = s.check_id
        WHERE s.doctor_code = :code AND (:month IS NULL OR s.month = :month)
        ORDER BY s.rx_date DESC, s.rx_id DESC, s.check_id
        LIMIT :limit""", {"code": code, "month": month, "limit": MAX_FLAGS + 1})
    for flag in flags:
        flag["status_label"] = STATUS_LABELS.get(flag["status"], flag["status"])
    name = (doctor or {}).get("doctor_name") or ""
    return Response.html(await datasette.render_template("mengui_doctor.html", {
        "code": code, "name": name, "doctor": doctor, "per_month": per_month, "by_check": by_check,
        "flags": flags[:MAX_FLAGS], "more": len(flags) > MAX_FLAGS, "month": month,
        "month_title": months.title(month) if month else "",
    }, request=request))


async def find_doctor(request, datasette):
    """``/-/doctor?q=…``: a doctor by code or name — one match goes straight to the history."""
    if not is_reviewer(request.actor):
        return forbidden(datasette, request)
    db = await mengui_database(datasette)
    query = (request.args.get("q") or "").strip()[:64]
    found = []
    if query:
        found = await rows(db, """
            SELECT doctor_code, doctor_name, department FROM doctors
            WHERE doctor_code = :q OR doctor_name = :q OR doctor_name LIKE '%' || :q || '%'
            ORDER BY doctor_code = :q DESC, doctor_name = :q DESC, doctor_code LIMIT 50""", {"q": query})
        if len(found) == 1 or (found and found[0]["doctor_code"] == query):
            return Response.redirect(datasette.urls.path(f"/-/doctor/{found[0]['doctor_code']}"))
    return Response.html(await datasette.render_template(
        "mengui_doctor_find.html", {"q": query, "found": found}, request=request))
