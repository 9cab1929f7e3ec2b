"""The public list page: a month's current published 公示 list, made for reading (``/-/list/YYYY-MM``),
its CSV and JSON downloads with Chinese labels, and — for the logged-in committee only — the month's
draft beside it.

Anonymous visitors see published revisions only: the page reads ``disclosures`` and the revision's
number, date and effective date, never a draft (``disclosure_drafts`` is read only for a reviewer).
The raw ``disclosures`` table page sends anonymous visitors here (``web.Guard``).
"""

from __future__ import annotations

import csv
import io
import json
import re
from urllib.parse import quote

from datasette.utils.asgi import Response

from mengui_core import months as month_names
from mengui_core.errors import MenguiError
from mengui_core.formulas import neutralise
from mengui_core.labels import ACTION_LABELS
from mengui_core.outputs.disclosure_list import NOT_PUBLISHED, sections
from mengui_core.publish.disclosure import (DRAFT_NOTICE, draft_disclosure, pending_drafts, published_disclosure,
                                            published_months, rules_words)
from mengui_core.times import day

from .site import is_reviewer, mengui_database

MONTH = re.compile(r"\d{4}-\d{2}")
#: the downloads' columns, in Chinese (the raw table's JSON and CSV keep the contract's English names)
DOWNLOAD_COLUMNS = ["公示月份", "公示级别", "处理措施", "医师代码", "医师姓名", "科室", "不合理处方数",
                    "不合理处方原因", "版本", "公示日期"]


def _levels(disclosure) -> list[dict]:
    """The list by level for the page: what each level does, its rows, its total; a code-only level has
    no name or department column."""
    levels = []
    for part in sections(disclosure):
        named = any(row.action != "publish_code" and row.level > 1 for _, row in part["rows"]) or (
            not part["rows"] and part["level"] > 1)
        levels.append({
            "level": part["level"], "label": part["label"], "heading": part["heading"].split("：", 1)[-1],
            "named": named, "doctors": part["doctors"], "count": part["count"],
            "rows": [{"n": n, "code": row.doctor_code,
                      "name": (row.doctor_name or "") if named else NOT_PUBLISHED,
                      "department": (row.department or "") if named else NOT_PUBLISHED,
                      "count": row.unreasonable_count, "reasons": row.reasons or "",
                      "action": ACTION_LABELS.get(row.action, row.action)} for n, row in part["rows"]]})
    return levels


def page_data(conn, month: str | None, reviewer: bool) -> dict:
    """Everything the page shows for ``month`` (the newest published one when None). A draft, and the
    months that only have one, only when ``reviewer``."""
    published = published_months(conn)
    drafts = pending_drafts(conn) if reviewer else {}
    choices = sorted(set(published) | set(drafts), reverse=True)
    if month is None:
        month = choices[0] if choices else None
    data = {"month": month, "months": [{"month": m, "label": month_names.title(m), "draft_only": m not in published}
                                       for m in choices],
            "published": None, "draft": None, "notice": DRAFT_NOTICE, "reviewer": reviewer}
    if month is None:
        return data
    data["month_title"] = month_names.title(month)
    # the rules' words once (the ladder's policy in the audited ruleset's numbers), for the list and the draft
    words = rules_words(conn, month)
    data["policy"] = words["policy"]
    if month in published:
        shown = published_disclosure(conn, month, words=words)
        data["published"] = {"revision": shown.revision, "date": day(shown.published_at),
                             "effective": shown.effective, "levels": _levels(shown), "doctors": len(shown.rows),
                             "count": sum(r.unreasonable_count for r in shown.rows)}
    if reviewer and month in drafts:
        draft = draft_disclosure(conn, month, words=words)
        data["draft"] = {"computed_at": draft.created_at, "base_revision": draft.base_revision,
                         "changes": draft.changes, "pending": draft.pending, "levels": _levels(draft),
                         "doctors": len(draft.rows), "count": sum(r.unreasonable_count for r in draft.rows)}
    return data


def _rows_for_download(data: dict) -> list[list]:
    published = data["published"]
    rows = []
    for level in published["levels"]:
        for row in level["rows"]:
            rows.append([data["month"], level["label"], row["action"], row["code"], "" if row["name"] == NOT_PUBLISHED else row["name"],
                "" if row["department"] == NOT_PUBLISHED else row["department"], row["count"], row["reasons"],
                published["revision"], published["date"]])
    return rows


def _download(data: dict, fmt: str) -> Response:
    published = data["published"]
    rows = _rows_for_download(data)
    name = f"公示名单-{data['month']}.{fmt}"
    disposition = {"content-disposition": f"attachment; filename*=UTF-8''{quote(name)}"}
    if fmt == "csv":
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(DOWNLOAD_COLUMNS)
        writer.writerows([neutralise(value) for value in row] for row in rows)
        return Response("\ufeff" + out.getvalue(), content_type="text/csv; charset=utf-8", headers=disposition)
    body = {
        "标题": f"{data['month_title']}门规不合理处方医师公示名单",
        "公示月份": data["month"], "版本": published["revision"], "公示日期": published["date"],
        "取消资格生效日期": published["effective"],
        "各级合计": {level["label"]: {"处理措施": level["heading"], "医师数": level["doctors"],
                                  "不合理处方数": level["count"]} for level in published["levels"]},
        "名单": [dict(zip(DOWNLOAD_COLUMNS, row)) for row in rows],
    }
    return Response(json.dumps(body, ensure_ascii=False, indent=2), content_type="application/json; charset=utf-8",
                    headers=disposition)


async def public_list(request, datasette):
    """``/-/list`` (the newest published month), ``/-/list/YYYY-MM`` and its ``.csv`` / ``.json``."""
    month = request.url_vars.get("month")
    fmt = request.url_vars.get("format")
    wanted = request.args.get("month")
    if month is None and wanted:  # the month picker's form
        if not MONTH.fullmatch(wanted):
            return await _missing(request, datasette, "月份格式应为 YYYY-MM（如 2026-10）")
        return Response.redirect(datasette.urls.path(f"/-/list/{wanted}"))
    if month is not None:
        try:
            month_names.parse(month)
        except MenguiError as ex:
            return await _missing(request, datasette, str(ex), status=404)
    reviewer = is_reviewer(request.actor)
    db = await mengui_database(datasette)
    if not await db.table_exists("disclosure_drafts"):
        return await _missing(request, datasette, "数据库尚未升级：请先用 mengui 命令打开一次数据库。")
    data = await db.execute_fn(lambda conn: page_data(conn, month, reviewer))
    if month is not None and data["published"] is None and data["draft"] is None:
        return await _missing(request, datasette, f"{month_names.title(month)}没有公示名单。", data, status=404)
    if fmt:
        if data["published"] is None:
            return await _missing(request, datasette, "该月的名单尚未公示。", data, status=404)
        return _download(data, fmt)
    if data["month"] is None:
        return await _missing(request, datasette, "还没有公示名单。", data)
    return Response.html(await datasette.render_template("mengui_list.html", data, request=request))


async def _missing(request, datasette, message: str, data: dict | None = None, status: int = 200) -> Response:
    context = {"month": None, "months": (data or {}).get("months", []), "published": None, "draft": None,
               "message": message, "notice": DRAFT_NOTICE, "reviewer": is_reviewer(request.actor)}
    return Response.html(await datasette.render_template("mengui_list.html", context, request=request),
                         status=status)
