"""The monthly audit report (月报): one standalone HTML page for the 医保办.

:func:`month_report` reads the database (set-based SQL, one ``GROUP BY`` query per table) and
masks what could identify a patient; the template ``templates/report.html`` lays it out with the
shared stylesheet and inline SVG charts (:mod:`mengui_core.outputs.charts`): no JavaScript, no
external resources, printable on A4. :func:`render_month_report` does both, and
:func:`write_month_report` writes it to a file (``mengui report``, ``mengui run``) from the database as it
is — no load, no audit.

The list section shows the published list, or the month's draft saying it is one ("草稿，待审定后 mengui
publish"); what is out of date is found by content, never by comparing times: the draft against the
published list, the list computed now (``publish.disclosure.list_now``) against both, and an earlier
month's newer revision (``stale_months``).

The report never shows patient names or patient ids: flag details are masked before they reach
the template. It is an *internal* document: it names every flagged doctor. What is published is
the disclosure list (公示名单), summarised in its last sections.

Nothing here knows a city or a check: the money over a cap is read from any flag that carries a
``limit_fen``, and each check is described by the month's ruleset.
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Mapping

from markupsafe import Markup

from .. import months
from ..errors import MenguiError
from ..labels import ACTION_LABELS, APPEAL_LABELS, LEVEL_LABELS, VERDICT_LABELS
from ..plugins import get_checks
from .charts import check_colours, horizontal_bars, stacked_bars
from .pages import render
from .text import minute

__all__ = ["ReportError", "month_report", "render_month_report", "report_lines", "write_month_report"]

PENDING_LIST_LIMIT = 100
TREND_MONTHS = 6
NO_NAME_AT_LEVEL_1 = f"（{LEVEL_LABELS[1]}不公示姓名）"
PATIENT_MASK = "〔已隐去〕"
# 18-digit (or 15-digit) identity numbers, in case a plugin's detail text carries one.
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(?:\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
# Colours of the warning levels, mildest first.
LEVEL_COLOURS = ["#5b8fc7", "#e0a030", "#c0392b"]


class ReportError(MenguiError, ValueError):
    """The report cannot be produced (e.g. the month was never audited)."""


# ---------------------------------------------------------------- small helpers


def _percent(part: int, whole: int) -> str:
    """``part / whole`` as a percentage with two decimals, integer arithmetic (rounded half up)."""
    if not whole:
        return "—"
    hundredths = (part * 10000 * 2 + whole) // (2 * whole)
    return f"{hundredths // 100}.{hundredths % 100:02d}%"


def _mask(detail: str | None) -> str:
    return _ID_NUMBER.sub(PATIENT_MASK, detail or "")


def _unique_titles(check_ids, check_titles: Mapping[str, str]) -> dict[str, str]:
    """check id → display title (the id when unknown; disambiguated when two ids share a title)."""
    titles: dict[str, str] = {}
    seen: set[str] = set()
    for cid in check_ids:
        title = (check_titles or {}).get(cid) or cid
        if title in seen:
            title = f"{title}（{cid}）"
        seen.add(title)
        titles[cid] = title
    return titles


def _level(level, action=None) -> dict | None:
    """A disclosure level as the template's badge shows it (None: not on the list)."""
    if not level:
        return None
    return {"level": int(level), "label": LEVEL_LABELS.get(int(level), str(level)),
            "action": ACTION_LABELS.get(action or "", "")}


# SQL: the department of a flag (the prescription's, else the doctor's roster department).
_DEPT = "coalesce(nullif(f.department, ''), nullif(d.department, ''), '（未填科室）')"
# SQL: a flag's detail with the patient's id and name masked.
_DETAIL = f"""
    CASE WHEN length(p.patient_name) >= 2
         THEN replace(x.detail, p.patient_name, '{PATIENT_MASK}') ELSE x.detail END"""
_DETAIL_ID = f"""
    CASE WHEN coalesce(f.patient_id, '') = '' THEN f.detail
         ELSE replace(f.detail, f.patient_id, '{PATIENT_MASK}') END"""
# SQL: a prescription's drug amount (its items' sum when items are loaded, else the header's total).
_RX_AMOUNT = """coalesce((SELECT sum(i.amount_fen) FROM rx_items i WHERE i.rx_id = f.rx_id),
                         (SELECT p.total_amount_fen FROM prescriptions p WHERE p.rx_id = f.rx_id), 0)"""


# ---------------------------------------------------------------- data


def _latest_run(conn: sqlite3.Connection, month: str):
    return conn.execute(
        """SELECT run_id, ruleset, ruleset_version, checks, started_at, finished_at, flag_count, notes,
                  (SELECT count(*) FROM audit_runs WHERE month = :m) AS run_count
           FROM audit_runs WHERE month = :m ORDER BY run_id DESC LIMIT 1""",
        {"m": month},
    ).fetchone()


def _run_checks(run) -> list[dict]:
    try:
        checks = json.loads(run["checks"] or "[]")
    except (TypeError, ValueError):
        return []
    out = []
    for item in checks:
        if isinstance(item, dict) and item.get("id"):
            out.append(item)
        elif isinstance(item, str):
            out.append({"id": item})
    return out


def _kpis(conn, month: str) -> dict:
    row = conn.execute(
        """SELECT count(*) AS flags, count(DISTINCT rx_id) AS flagged_rx,
                  count(DISTINCT CASE WHEN counts THEN rx_id END) AS unreasonable_rx,
                  coalesce(sum(status = 'pending'), 0) AS pending,
                  count(DISTINCT CASE WHEN status = 'pending' THEN rx_id END) AS pending_rx,
                  count(DISTINCT doctor_code) AS doctors
           FROM flag_status WHERE month = ?""",
        (month,),
    ).fetchone()
    kpi = dict(row)
    kpi["prescriptions"] = conn.execute(
        "SELECT count(*) FROM prescriptions WHERE rx_date >= ? AND rx_date < ?",
        (f"{month}-01", f"{months.following(month)}-01"),
    ).fetchone()[0]
    kpi["unreasonable_share"] = _percent(kpi["unreasonable_rx"], kpi["prescriptions"])
    kpi.update(_excess(conn, month))
    return kpi


def _excess(conn, month: str) -> dict:
    """The money over a cap: every flag that carries a ``limit_fen`` (whatever its check) measures an
    amount against a cap. A visit (patient, doctor, day) counts once, however many of its
    prescriptions carry the flag and however many caps it crosses: its largest excess, and never more
    than the visit's own amount under that check (a running monthly cap counts only what is over it)."""
    return dict(conn.execute(
        f"""SELECT count(*) AS visits, coalesce(sum(excess), 0) AS excess_fen,
                   coalesce(sum(CASE WHEN any_counts THEN excess ELSE 0 END), 0) AS unreasonable_fen,
                   coalesce(sum(CASE WHEN any_pending THEN excess ELSE 0 END), 0) AS pending_fen
            FROM (SELECT max(excess) AS excess, max(counts) AS any_counts, max(pending) AS any_pending
                  FROM (SELECT f.patient_id, f.doctor_code, f.rx_date,
                               min(max(f.amount_fen - f.limit_fen), sum({_RX_AMOUNT})) AS excess,
                               max(f.counts) AS counts, max(f.status = 'pending') AS pending
                        FROM flag_status f
                        WHERE f.month = ? AND f.amount_fen > f.limit_fen
                        GROUP BY f.check_id, f.patient_id, f.doctor_code, f.rx_date)
                  GROUP BY patient_id, doctor_code, rx_date)""",
        (month,),
    ).fetchone())


def _disclosure_state(conn, month: str) -> dict:
    """The month's list as the report shows it: the published one, else the draft (said to be one), with
    what is out of date — compared by content, never by times: the stored draft against the published
    list, the list computed now against both, and an earlier month's newer revision (``stale_months``)."""
    from ..publish.disclosure import (DRAFT_NOTICE, draft_disclosure, list_changes, list_now, published_disclosure,
                                      same_rows, stale_months)

    published = published_disclosure(conn, month, words={})
    draft = draft_disclosure(conn, month, words={})
    shown = published or draft
    now, error = list_now(conn, month) if shown is not None else (None, None)
    state = {"notice": DRAFT_NOTICE, "published": None, "draft": None, "draft_changes": [], "now_changes": None,
             "now_error": error, "stale_after": stale_months(conn).get(month, []),
             "shown": "published" if published else ("draft" if draft else None)}
    if published is not None:
        state["published"] = {"revision": published.revision, "published_at": published.published_at,
                              "published_by": published.published_by, "pending": published.pending,
                              "effective": published.effective}
    if draft is not None and (published is None or draft.differs):
        state["draft"] = {"computed_at": draft.created_at, "pending": draft.pending}
        state["draft_changes"] = draft.changes
    if shown is not None and now is not None:
        base = draft if draft is not None else shown  # what the office last computed
        if not same_rows(base.rows, now):
            state["now_changes"] = list_changes(base.rows, now)
    rows = sorted(shown.rows if shown else [], key=lambda r: (-r.level, -r.unreasonable_count, r.doctor_code))
    state["levels"] = {level: sum(1 for r in rows if r.level == level) for level in {r.level for r in rows}}
    state["rows"] = rows
    return state


def _trend(conn, month: str) -> dict:
    first = months.shift(month, -(TREND_MONTHS - 1))
    window = months.span(first, month)
    audited = {r[0] for r in conn.execute(
        "SELECT DISTINCT month FROM audit_runs WHERE month BETWEEN ? AND ?", (first, month))}
    by_check = conn.execute(
        """SELECT month, check_id, count(*) AS n FROM flags
           WHERE month BETWEEN ? AND ? GROUP BY month, check_id""",
        (first, month),
    ).fetchall()
    per_month = {r["month"]: dict(r) for r in conn.execute(
        """SELECT month, count(*) AS flags, count(DISTINCT CASE WHEN counts THEN rx_id END) AS unreasonable_rx,
                  coalesce(sum(status = 'pending'), 0) AS pending
           FROM flag_status WHERE month BETWEEN ? AND ? GROUP BY month""",
        (first, month),
    )}
    rx = dict(conn.execute(
        """SELECT substr(rx_date, 1, 7) AS m, count(*) FROM prescriptions
           WHERE rx_date >= ? AND rx_date < ? GROUP BY m""",
        (f"{first}-01", f"{months.following(month)}-01"),
    ).fetchall())
    return {"months": window, "audited": audited, "by_check": by_check, "per_month": per_month, "rx": rx}


def _per_check(conn, month: str) -> dict[str, dict]:
    return {r["check_id"]: dict(r) for r in conn.execute(
        """SELECT check_id, count(*) AS flags,
                  coalesce(sum(status = 'unreasonable'), 0) AS unreasonable,
                  coalesce(sum(status = 'reasonable'), 0) AS reasonable,
                  coalesce(sum(status = 'pending'), 0) AS pending,
                  coalesce(sum(status = 'unreasonable_unreviewed'), 0) AS unreviewed,
                  coalesce(sum(status = 'monitoring'), 0) AS monitoring,
                  max(needs_review) AS needs_review, max(monitoring) AS is_monitoring
           FROM flag_status WHERE month = ? GROUP BY check_id""",
        (month,),
    )}


def _per_level(conn, month: str) -> tuple[list[str], dict[tuple[str, str], int]]:
    """The month's warning-level names (mildest first) and the flag count per (check, level)."""
    rows = conn.execute(
        "SELECT check_id, level, level_rank, count(*) AS n FROM flags WHERE month = ? AND level IS NOT NULL "
        "GROUP BY check_id, level, level_rank ORDER BY level_rank", (month,)).fetchall()
    names = list(dict.fromkeys(r["level"] for r in rows))
    return names, {(r["check_id"], r["level"]): r["n"] for r in rows}


def _per_department(conn, month: str, check_ids: list[str]) -> list[sqlite3.Row]:
    pivot = "".join(f", coalesce(sum(f.check_id = :c{i}), 0) AS c{i}" for i in range(len(check_ids)))
    params = {f"c{i}": cid for i, cid in enumerate(check_ids)}
    params["m"] = month
    return conn.execute(
        f"""SELECT {_DEPT} AS department, count(*) AS flags{pivot},
                   count(DISTINCT CASE WHEN f.counts THEN f.rx_id END) AS unreasonable_rx,
                   coalesce(sum(f.status = 'pending'), 0) AS pending,
                   count(DISTINCT f.doctor_code) AS doctors
            FROM flag_status f LEFT JOIN doctors d ON d.doctor_code = f.doctor_code
            WHERE f.month = :m
            GROUP BY 1 ORDER BY flags DESC, unreasonable_rx DESC, department""",
        params,
    ).fetchall()


def _per_doctor(conn, month: str) -> list[sqlite3.Row]:
    return conn.execute(
        """SELECT f.doctor_code, d.doctor_name,
                  coalesce(nullif(d.department, ''), max(f.department)) AS department,
                  count(*) AS flags,
                  count(DISTINCT CASE WHEN f.counts THEN f.rx_id END) AS unreasonable_rx,
                  coalesce(sum(f.status = 'pending'), 0) AS pending
           FROM flag_status f
           LEFT JOIN doctors d ON d.doctor_code = f.doctor_code
           WHERE f.month = ?
           GROUP BY f.doctor_code
           ORDER BY flags DESC, unreasonable_rx DESC, f.doctor_code""",
        (month,),
    ).fetchall()


def _pending(conn, month: str) -> list[sqlite3.Row]:
    return conn.execute(
        f"""SELECT x.rx_id, x.check_id, x.doctor_code, d.doctor_name, x.rx_date, {_DETAIL} AS detail
            FROM (SELECT f.rx_id, f.check_id, f.doctor_code, f.rx_date, {_DETAIL_ID} AS detail
                  FROM flag_status f WHERE f.month = ? AND f.status = 'pending') x
            LEFT JOIN prescriptions p ON p.rx_id = x.rx_id
            LEFT JOIN doctors d ON d.doctor_code = x.doctor_code
            ORDER BY x.rx_date, p.rx_time, x.rx_id, x.check_id
            LIMIT ?""",
        (month, PENDING_LIST_LIMIT),
    ).fetchall()


def _descriptions(conn, month: str, check_ids: list[str]) -> dict[str, str]:
    """check id → what it flags, in the numbers of the ruleset the month was audited with (what the
    ``checks`` table recorded, when that ruleset cannot be loaded any more)."""
    from ..audit.runner import ruleset_for_month
    from ..publish.disclosure import described_checks

    try:
        ruleset = ruleset_for_month(conn, month)
    except MenguiError:
        ruleset = None
    return {cid: text for cid, (_, text) in described_checks(conn, ruleset, check_ids).items() if text}


def _appeals(conn, month: str, titles: Mapping[str, str]) -> list[dict]:
    from ..review.appeals import list_appeals

    rows = []
    for a in list_appeals(conn, month):
        second = None
        if a["second_verdict"]:
            second = (f"{VERDICT_LABELS.get(a['second_verdict'], a['second_verdict'])}（{a['second_reviewer'] or ''}，"
                      f"{minute(a['second_reviewed_at'])}）{a['second_note'] or ''}")
        rows.append({"rx_id": a["rx_id"], "check": titles.get(a["check_id"], a["title"]),
                     "doctor_code": a["doctor_code"], "doctor_name": a["doctor_name"],
                     "first_reviewed_at": minute(a["first_reviewed_at"]), "filed_at": a["filed_at"],
                     "deadline": a["deadline"], "reason": _mask(a["reason"]), "pending": a["status"] == "pending",
                     "status": APPEAL_LABELS.get(a["status"], a["status"]), "second": second})
    return rows


def _deductions(conn, month: str) -> dict:
    from ..publish.deductions import summarise
    from .deduction_list import MONTH_RULE, RULE, table_rows, totals_row

    summary = summarise(conn, month)
    return {"count": summary.count, "shown": bool(summary.count or summary.undated_unattributed),
            "rule": RULE + MONTH_RULE, "rows": table_rows(summary), "total": totals_row(summary),
            "notes": summary.notes()}


# ---------------------------------------------------------------- the page


def month_report(conn: sqlite3.Connection, month: str, check_titles: Mapping[str, str]) -> dict:
    """Everything the report shows for ``month``, gathered and masked: the template's context.

    Raises :class:`ReportError` (a ``ValueError``) for a malformed month or one never audited.
    """
    try:
        months.parse(month)
    except MenguiError as ex:
        raise ReportError(str(ex)) from None
    run = _latest_run(conn, month)
    month_title = months.title(month)
    if run is None:
        raise ReportError(f"{month_title}尚未审核，无法生成月报：请先运行 mengui audit DB --month {month}")

    run_checks = _run_checks(run)
    kpi = _kpis(conn, month)
    disclosure = _disclosure_state(conn, month)
    trend = _trend(conn, month)
    per_check = _per_check(conn, month)

    # Every check that ran this month, then any other check seen in the trend window.
    check_ids = list(dict.fromkeys(
        [c["id"] for c in run_checks] + sorted(per_check) + sorted({r["check_id"] for r in trend["by_check"]})
    ))
    titles = _unique_titles(check_ids, check_titles)
    colours = check_colours(check_ids, {c.id: c.colour for c in get_checks().values()})
    label_colours = {titles[cid]: colours[cid] for cid in check_ids}
    needs_review = {c["id"]: bool(c.get("needs_review")) for c in run_checks if "needs_review" in c}
    monitoring = {c["id"] for c in run_checks if c.get("monitoring")}
    counts_from = {c["id"]: c["counts_without_review_from"] for c in run_checks if c.get("counts_without_review_from")}
    for cid, row in per_check.items():
        needs_review.setdefault(cid, bool(row["needs_review"]))
        if row["is_monitoring"]:
            monitoring.add(cid)

    # the disclosure list's state, as the KPI card and the last section show it
    levels = disclosure["levels"]
    disclosed = sum(levels.values())
    if disclosure["shown"] is None:
        disclosed_sub = "本月公示名单尚未生成"
    else:
        disclosed_sub = " · ".join(f"{LEVEL_LABELS[lv]} {levels.get(lv, 0)}" for lv in (3, 2, 1))
        if disclosure["shown"] == "draft":
            disclosed_sub += f"（{disclosure['notice']}）"
    listed = {r.doctor_code: r for r in disclosure["rows"]}

    # six-month trend
    window = trend["months"]
    missing = [m for m in window if m not in trend["audited"]]
    counts = {(r["month"], r["check_id"]): r["n"] for r in trend["by_check"]}
    trend_chart = stacked_bars(
        [months.label(m) for m in window],
        {titles[cid]: [None if m in missing else counts.get((m, cid), 0) for m in window] for cid in check_ids},
        title=f"近 {TREND_MONTHS} 个月各规则标记数（{months.label(window[0])}至{months.label(month)}）",
        missing=[months.label(m) for m in missing], colors=label_colours, unit="条", chart_id=f"trend-{month}")
    trend_rows = [{"label": months.label(m), "missing": m in missing, "rx": trend["rx"].get(m, 0),
                   "flags": 0, "unreasonable_rx": 0, "pending": 0, **trend["per_month"].get(m, {})} for m in window]

    # per check
    ran = {c["id"] for c in run_checks}
    shown = [cid for cid in check_ids if cid in per_check or cid in ran]  # not those seen only in earlier months
    columns = ("flags", "unreasonable", "reasonable", "pending", "unreviewed", "monitoring")
    check_rows = []
    for cid in shown:
        if cid in monitoring:
            hint = "监测规则，仅供参考，不计入"
        elif cid in counts_from:
            hint = f"{counts_from[cid]}级别未被判为合理即计入，较轻级别需委员会判定不合理后计入"
        elif cid in needs_review:
            hint = "需委员会判定不合理后计入" if needs_review[cid] else "未被判为合理即计入"
        else:
            hint = ""
        check_rows.append({"title": titles[cid], "colour": colours[cid], "hint": hint,
                           "cells": [per_check.get(cid, {}).get(k) for k in columns]})
    check_totals = [sum(int(per_check.get(cid, {}).get(k) or 0) for cid in shown) for k in columns]
    descriptions = _descriptions(conn, month, shown)

    # warning levels: flags per check and level
    level_names, per_level = _per_level(conn, month)
    level_checks = [cid for cid in check_ids if any((cid, name) in per_level for name in level_names)]
    levels_chart = None
    if per_level:
        levels_chart = stacked_bars(
            [titles[cid] for cid in level_checks],
            {name: [per_level.get((cid, name), 0) for cid in level_checks] for name in level_names},
            title=f"{month_title}各规则标记的预警级别", unit="条", colors=dict(zip(level_names, LEVEL_COLOURS)),
            chart_id=f"levels-{month}")

    # per department
    month_checks = [cid for cid in check_ids if cid in per_check]
    departments = _per_department(conn, month, month_checks)
    departments_chart = None
    if departments:
        departments_chart = horizontal_bars(
            [r["department"] for r in departments],
            {titles[cid]: [r[f"c{i}"] for r in departments] for i, cid in enumerate(month_checks)},
            title=f"{month_title}各科室标记数（按规则堆叠）", colors=label_colours, unit="条",
            chart_id=f"departments-{month}")

    audited_at = run["finished_at"] or run["started_at"] or ""
    return {
        "title": f"{month_title}门规处方审核月报",
        "month": month,
        "month_title": month_title,
        "run": {"ruleset": run["ruleset"], "version": run["ruleset_version"], "audited_at": minute(audited_at),
                "count": run["run_count"], "checks": [titles[c["id"]] for c in run_checks] if check_ids else None,
                "notes": [line for line in str(run["notes"] or "").splitlines() if line.strip()]},
        "kpi": kpi,
        "disclosed": {"count": disclosed, "sub": disclosed_sub, "revoked": bool(levels.get(3))},
        "trend": {"months": TREND_MONTHS, "chart": Markup(trend_chart), "rows": trend_rows},
        "checks": {"rows": check_rows, "totals": check_totals,
                   "descriptions": [(titles[cid], descriptions[cid]) for cid in shown if cid in descriptions]},
        "levels": {"chart": Markup(levels_chart) if levels_chart else None, "names": level_names,
                   "rows": [{"title": titles[cid], "cells": [per_level.get((cid, name), 0) for name in level_names]}
                            for cid in level_checks]},
        "departments": {"chart": Markup(departments_chart) if departments_chart else None,
                        "checks": [titles[cid] for cid in month_checks], "rows": departments},
        "doctors": [{**dict(r), "badge": _level(*((listed[r["doctor_code"]].level, listed[r["doctor_code"]].action)
                                                   if r["doctor_code"] in listed else (None, None)))}
                    for r in _per_doctor(conn, month)],
        "pending": [{**dict(r), "check": titles.get(r["check_id"], r["check_id"])} for r in _pending(conn, month)],
        "disclosure": {
            **disclosure,
            "rows": [{**vars(r), "badge": _level(r.level, r.action),
                      "shown_name": NO_NAME_AT_LEVEL_1 if r.level == 1 else (r.doctor_name or "—")}
                     for r in disclosure["rows"]],
        },
        "appeals": _appeals(conn, month, titles),
        "deductions": _deductions(conn, month),
    }


def write_month_report(conn: sqlite3.Connection, month: str, path, check_titles: Mapping[str, str] | None = None
                       ) -> list[str]:
    """Write the month's report (owner-only) from the database as it is — no load, no audit — and return
    what a clerk should know about its list, one Chinese line each (the CLI prints them)."""
    from ..db.files import open_private

    if check_titles is None:
        check_titles = {c.id: c.title for c in get_checks().values()}
    context = month_report(conn, month, check_titles)
    with open_private(path, "w", encoding="utf-8") as fh:
        fh.write(render("report.html", **context))
    return report_lines(context["disclosure"], month)


def report_lines(state: dict, month: str) -> list[str]:
    """The list's state in one line each: published or a draft, and what is out of date."""
    lines = []
    published = state["published"]
    if published:
        lines.append(f"{month} 公示名单：已公示第 {published['revision']} 版（{minute(published['published_at'])}）")
    elif state["shown"] == "draft":
        lines.append(f"{month} 公示名单：{state['notice']}（尚未公示）")
    else:
        lines.append(f"{month} 公示名单：尚未生成（mengui disclose）")
    if published and state["draft"]:
        lines.append(f"注意：名单草稿与已公示的第 {published['revision']} 版不同，{state['notice']}")
    if state["now_changes"]:
        lines.append(f"注意：按当前审核结论计算的名单与{'已公示的名单' if not state['draft'] else '草稿'}不同："
                     f"{'；'.join(state['now_changes'])}。请重新 mengui disclose，审定后 mengui publish")
    if state["stale_after"]:
        lines.append(f"注意：本月名单公示后 {'、'.join(state['stale_after'])} 的名单有变化，本月名单已过时，"
                     "请重新 mengui disclose，审定后 mengui publish")
    return lines


def render_month_report(conn: sqlite3.Connection, month: str, check_titles: Mapping[str, str]) -> str:
    """The month's audit report as a standalone HTML page (see the module docstring).

    ``check_titles`` maps check ids to their Chinese titles (unknown ids are shown as is).
    Raises :class:`ReportError` (a ``ValueError``) when the month was never audited.
    """
    return render("report.html", **month_report(conn, month, check_titles))
