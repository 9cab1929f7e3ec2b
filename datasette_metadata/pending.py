"""The committee's month: the flags that await a verdict, one group per check, with a verdict for several
flags at once; and the month's review sheet to print (``mengui review-sheet``, for logged-in members).

A batch is one check's ticked flags with one verdict and one note: each flag gets its own verdict and
history row (:func:`mengui_core.review.verdicts.record_verdicts`, all or none). Flags another member ruled
on since the page was shown are left as that member ruled, and said so. Datasette's CSRF protection covers
the form like every other POST of the site.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, quote

from datasette.utils.asgi import Response

from mengui_core import months
from mengui_core.errors import MenguiError
from mengui_core.labels import VERDICT_LABELS
from mengui_core.money import format_yuan
from mengui_core.review.pending import AWAITING, pending_flags
from mengui_core.review.verdicts import normalise_verdict, record_verdicts

from .site import checks, forbidden, is_reviewer, mengui_database

MONTH = re.compile(r"\d{4}-\d{2}")
MAX_BATCH = 500  # flags in one verdict: a page's group, never the whole database by accident


async def _months(db) -> list[str]:
    """The audited months, newest first."""
    return [r[0] for r in (await db.execute(
        "SELECT DISTINCT month FROM audit_runs WHERE finished_at IS NOT NULL ORDER BY month DESC")).rows]


async def pending_page(request, datasette):
    """GET: the month's pending flags by check. POST: one verdict for the ticked flags of one check."""
    if not is_reviewer(request.actor):
        return forbidden(datasette, request)
    db = await mengui_database(datasette)
    audited = await _months(db)
    if request.method == "POST":
        return await _batch(request, datasette, db, audited)
    month = request.args.get("month") or (audited[0] if audited else None)
    return await _page(request, datasette, db, audited, month)


async def _page(request, datasette, db, audited, month, error=None, status=200):
    if month is None:
        return Response.html(await datasette.render_template(
            "mengui_message.html", {"title": "还没有审核数据", "message": "请先运行 mengui audit。"}, request=request))
    if month not in audited:
        return Response.html(await datasette.render_template(
            "mengui_message.html", {"title": "没有这个月的审核", "message": f"{month} 还没有审核，或月份写错了（应为 YYYY-MM）。"},
            request=request), status=404)
    flags = await db.execute_fn(lambda conn: pending_flags(conn, month))
    installed = checks(datasette)
    groups: list[dict] = []
    for flag in flags:
        if not groups or groups[-1]["check_id"] != flag.check_id:
            check = installed.get(flag.check_id)
            groups.append({"check_id": flag.check_id, "title": flag.title, "rows": [],
                           "hint": (check.note_hint if check and check.note_hint else "例如：病历有记载，用药合理")})
        groups[-1]["rows"].append({
            **flag.__dict__,
            "amount": format_yuan(flag.amount_fen) if flag.amount_fen is not None else "",
            "excess": format_yuan(flag.amount_fen - flag.limit_fen)
            if flag.amount_fen is not None and flag.limit_fen is not None and flag.amount_fen > flag.limit_fen else "",
        })
    return Response.html(await datasette.render_template("mengui_pending.html", {
        "month": month, "month_title": months.title(month), "months": audited, "groups": groups,
        "total": len(flags), "error": error, "month_titles": {m: months.title(m) for m in audited},
    }, request=request), status=status)


async def _batch(request, datasette, db, audited):
    # every ticked box: Datasette's post_vars() keeps only one value of a repeated field
    fields = parse_qs((await request.post_body()).decode("utf-8", errors="replace"), keep_blank_values=True)

    def one(name: str) -> str:
        return (fields.get(name) or [""])[0].strip()

    month, check_id, verdict, note = one("month"), one("check_id"), one("verdict"), one("note") or None
    chosen = list(dict.fromkeys(v.strip() for v in fields.get("rx_id", []) if v.strip()))
    if not MONTH.fullmatch(month) or month not in audited:
        return await _page(request, datasette, db, audited, audited[0] if audited else None,
                           error="月份无效，请刷新页面后重试。", status=400)
    if not chosen:
        return await _page(request, datasette, db, audited, month, error="请先勾选要记录结论的处方。", status=400)
    if len(chosen) > MAX_BATCH:
        return await _page(request, datasette, db, audited, month,
                           error=f"一次最多为 {MAX_BATCH} 条标记记录结论（勾选了 {len(chosen):,} 条）。", status=400)
    try:
        normalise_verdict(verdict)
    except MenguiError:
        return await _page(request, datasette, db, audited, month, error="请选择结论：不合理 或 合理。", status=400)
    reviewer = request.actor.get("id")

    def write(conn):
        still = {r[0] for r in conn.execute(
            f"SELECT rx_id FROM flag_status s WHERE month = ? AND check_id = ? AND {AWAITING} "
            f"AND rx_id IN ({','.join('?' * len(chosen))})", (month, check_id, *chosen))}
        unknown = [rx for rx in chosen if not conn.execute(
            "SELECT 1 FROM flags WHERE rx_id = ? AND check_id = ? AND month = ?", (rx, check_id, month)).fetchone()]
        if unknown:
            raise MenguiError(f"处方 {'、'.join(unknown[:5])} 在 {month} 没有这条规则的标记（请刷新页面后重试）")
        recorded = record_verdicts(conn, [(rx, check_id) for rx in chosen if rx in still], verdict, reviewer, note,
                                   source="datasette")
        return recorded, [rx for rx in chosen if rx not in still]

    try:
        recorded, skipped = await db.execute_write_fn(write)
    except MenguiError as error:
        return await _page(request, datasette, db, audited, month, error=str(error), status=400)
    words = VERDICT_LABELS[normalise_verdict(verdict)]
    message = f"已为 {len(recorded)} 条标记记录结论「{words}」"
    if skipped:
        message += f"；另有 {len(skipped)} 条已由其他委员审核，保留其结论（{'、'.join(skipped[:5])}{'等' if len(skipped) > 5 else ''}）"
    datasette.add_message(request, message + "。", datasette.INFO)
    return Response.redirect(datasette.urls.path(f"/-/pending?month={month}"))


async def review_sheet(request, datasette):
    """``/-/review-sheet/YYYY-MM.xlsx`` (or ``.html``): the month's review sheet, as ``mengui review-sheet``
    writes it, to print and bring to the meeting; the filled XLSX goes back with ``mengui verdicts``."""
    if not is_reviewer(request.actor):
        return forbidden(datasette, request)
    from mengui_core.outputs import review_sheet as sheets

    db = await mengui_database(datasette)
    month, kind = request.url_vars["month"], request.url_vars["format"]
    try:
        sheet = await db.execute_fn(lambda conn: sheets.build(conn, month))
    except MenguiError as error:
        return Response.html(await datasette.render_template(
            "mengui_message.html", {"title": "不能生成审核单", "message": str(error)}, request=request), status=404)
    name = f"{month}-待审核清单.{kind}"
    disposition = f"attachment; filename=\"review-sheet-{month}.{kind}\"; filename*=UTF-8''" + quote(name)
    if kind == "html":
        return Response.html(sheets.render_html(sheet))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sheet.xlsx"
        sheets.write_xlsx(sheet, path)
        body = path.read_bytes()
    return Response(body, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"content-disposition": disposition})

