"""The review page of one flag: everything needed to judge it, and the verdict form.

A verdict posted here is recorded like one from the command line (:func:`mengui_core.review.verdicts.record_verdict`,
source ``datasette``, the member's login as reviewer) and the member is taken to the next flag of the
month that awaits a verdict, in the committee's order (:mod:`mengui_core.review.pending`).
"""

from __future__ import annotations

import json

from datasette.utils.asgi import Response

from mengui_core.errors import MenguiError
from mengui_core.labels import APPEAL_LABELS, KIND_LABELS, STATUS_LABELS, VERDICT_LABELS
from mengui_core.money import format_yuan
from mengui_core.review.pending import AWAITING, next_pending
from mengui_core.review.verdicts import record_verdict

from .site import checks, forbidden as _forbidden, is_reviewer, mengui_database, rows as _rows

#: how many earlier verdicts on similar flags the page shows
SIMILAR = 5


async def review(request, datasette):
    """GET: the page. POST (a member's verdict): record it and go on to the next pending flag."""
    if not is_reviewer(request.actor):
        return _forbidden(datasette, request)
    db = await mengui_database(datasette)
    rx_id = request.url_vars["rx_id"]
    check_id = request.url_vars["check_id"]
    if request.method == "POST":
        form = await request.post_vars()
        verdict, note = (form.get("verdict") or "").strip(), (form.get("note") or "").strip() or None
        reviewer = request.actor.get("id")

        def write(conn):
            recorded = record_verdict(conn, rx_id, check_id, verdict, reviewer, note, source="datasette")
            month = conn.execute("SELECT month FROM flags WHERE rx_id = ? AND check_id = ?", (rx_id, check_id)).fetchone()[0]
            return recorded, month, next_pending(conn, month, rx_id, check_id)

        try:
            recorded, month, following = await db.execute_write_fn(write)
        except MenguiError as error:
            return await _page(request, datasette, db, rx_id, check_id, error=str(error), form=form)
        datasette.add_message(request, f"已记录审核结论：处方 {rx_id}「{VERDICT_LABELS[recorded.verdict]}」"
                              + ("" if following else f"。{month} 的标记已全部审核。"), datasette.INFO)
        if following:
            return Response.redirect(datasette.urls.path(f"/-/review/{following[0]}/{following[1]}"))
        return Response.redirect(datasette.urls.path(f"/-/pending?month={month}"))
    return await _page(request, datasette, db, rx_id, check_id)


async def _page(request, datasette, db, rx_id: str, check_id: str, error: str | None = None, form=None):
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
    check = checks(datasette).get(check_id)
    flag["measure_text"] = check.show_measure(flag["measure"], flag["overlaps"]) if check else (
        "" if flag["measure"] is None else f"衡量值 {flag['measure']:g}")
    flag["note_hint"] = (check.note_hint if check and check.note_hint else "例如：病历有记载，用药合理")

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
    overrides = []  # the doctor's reasons for going on after a 事前 warning (issue 19)
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
    similar = await _similar(db, flag)
    # the month's other flags awaiting a verdict
    waiting = (await db.execute(
        f"SELECT count(*) FROM flag_status s WHERE month = ? AND {AWAITING} AND NOT (rx_id = ? AND check_id = ?)",
        (flag["month"], rx_id, check_id))).first()[0]
    return Response.html(await datasette.render_template("mengui_review.html", {
        "database": db.name, "flag": flag, "rx": rx, "related": related, "certifications": certifications,
        "billed": billed, "same_visit": same_visit, "history": history, "other_flags": other_flags,
        "appeal": appeal, "overrides": overrides, "similar": similar, "waiting": waiting, "error": error,
        "chosen": (form or {}).get("verdict"), "note": (form or {}).get("note") or "",
        "verdict_labels": VERDICT_LABELS,
    }, request=request), status=400 if error else 200)


async def _similar(db, flag) -> list[dict]:
    """Earlier verdicts on flags like this one — the same check and level, the nearest measure, the most
    recent first — so that members decide alike."""
    found = await _rows(db, """
        SELECT s.rx_id, s.check_id, s.rx_date, s.doctor_code, d.doctor_name, s.detail, s.verdict, s.verdict_note
        FROM flag_status s LEFT JOIN doctors d ON d.doctor_code = s.doctor_code
        WHERE s.check_id = :check AND s.verdict IS NOT NULL AND NOT (s.rx_id = :rx)
          AND coalesce(s.level_rank, 0) = coalesce(:rank, 0)
        ORDER BY abs(coalesce(s.measure, 0) - coalesce(:measure, 0)), s.rx_date DESC, s.rx_id
        LIMIT :limit""", {"check": flag["check_id"], "rx": flag["rx_id"], "rank": flag["level_rank"],
                          "measure": flag["measure"], "limit": SIMILAR})
    for row in found:
        row["verdict_label"] = VERDICT_LABELS.get(row["verdict"], row["verdict"])
    return found


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


