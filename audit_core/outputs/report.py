"""The monthly audit report (月报): one standalone HTML page for the 医保办.

:func:`render_month_report` reads the database (set-based SQL, one ``GROUP BY`` query per
table) and returns an HTML5 page with inline CSS and inline SVG charts: no JavaScript, no
external resources, printable on A4. It never shows patient names or patient ids: flag
details are masked before they are printed.

The report is an *internal* document: it names every flagged doctor. What is published
is the disclosure list (公示名单), summarised in the last section.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime
from typing import Mapping

from .charts import check_colours, esc, horizontal_bars, stacked_bars
from ..errors import MenguiError
from ..money import format_yuan
from ..plugins import get_checks

PENDING_LIST_LIMIT = 100
TREND_MONTHS = 6
AMOUNT_CAP = "amount_cap"
LEVEL_LABELS = {3: "三级", 2: "二级", 1: "一级"}
ACTION_LABELS = {"publish_code": "公示医师代码", "publish_name": "公示医师姓名", "revoke": "取消医保定岗医师资格"}
STATUS_LABELS = {"unreasonable": "不合理", "reasonable": "合理", "pending": "待审核",
                 "unreasonable_unreviewed": "计入未复核", "monitoring": "监测"}
NO_NAME_AT_LEVEL_1 = "（一级不公示姓名）"
PATIENT_MASK = "〔已隐去〕"
# 18-digit (or 15-digit) identity numbers, in case a plugin's detail text carries one.
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(?:\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
_MONTH = re.compile(r"(\d{4})-(\d{2})")


class ReportError(MenguiError, ValueError):
    """The report cannot be produced (e.g. the month was never audited)."""


# ---------------------------------------------------------------- small helpers


def _parse_month(month: str) -> tuple[int, int]:
    match = _MONTH.fullmatch(month or "")
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ReportError(f"月份格式应为 YYYY-MM（如 2026-10），实际为「{month}」")
    return int(match.group(1)), int(match.group(2))


def _shift(month: str, delta: int) -> str:
    year, mon = _parse_month(month)
    index = year * 12 + (mon - 1) + delta
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_title(month: str) -> str:
    year, mon = _parse_month(month)
    return f"{year} 年 {mon} 月"


def _month_short(month: str) -> str:
    year, mon = _parse_month(month)
    return f"{year}年{mon}月"


def _n(value) -> str:
    return f"{int(value or 0):,}"


def _time(text: str | None) -> str:
    """``2026-11-22T10:46:55+08:00`` → ``2026-11-22 10:46``."""
    if not text:
        return "—"
    match = re.match(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})", text)
    return f"{match.group(1)} {match.group(2)}" if match else text


def _percent(part: int, whole: int) -> str:
    """``part / whole`` as a percentage with two decimals, integer arithmetic (rounded half up)."""
    if not whole:
        return "—"
    hundredths = (part * 10000 * 2 + whole) // (2 * whole)
    return f"{hundredths // 100}.{hundredths % 100:02d}%"


def _before(a: str | None, b: str | None) -> bool:
    """Whether timestamp ``a`` is earlier than ``b`` (ISO text, with or without an offset)."""
    if not a or not b:
        return False
    try:
        x, y = datetime.fromisoformat(str(a)), datetime.fromisoformat(str(b))
        if (x.tzinfo is None) != (y.tzinfo is None):  # compare wall-clock times
            x, y = x.replace(tzinfo=None), y.replace(tzinfo=None)
        return x < y
    except ValueError:
        return str(a) < str(b)


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


# SQL: the department of a flag (the prescription's, else the doctor's roster department).
_DEPT = "coalesce(nullif(f.department, ''), nullif(d.department, ''), '（未填科室）')"
# SQL: a flag's detail with the patient's id and name masked.
_DETAIL = f"""
    CASE WHEN length(p.patient_name) >= 2
         THEN replace(x.detail, p.patient_name, '{PATIENT_MASK}') ELSE x.detail END"""
_DETAIL_ID = f"""
    CASE WHEN coalesce(f.patient_id, '') = '' THEN f.detail
         ELSE replace(f.detail, f.patient_id, '{PATIENT_MASK}') END"""


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


def _kpis(conn, month: str, start: str, next_start: str) -> dict:
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
        "SELECT count(*) FROM prescriptions WHERE rx_date >= ? AND rx_date < ?", (start, next_start)
    ).fetchone()[0]
    # The excess of a visit (patient, doctor, day) counted once, however many of its
    # prescriptions carry the flag.
    excess = conn.execute(
        """SELECT count(*) AS visits, coalesce(sum(excess), 0) AS excess_fen,
                  coalesce(sum(CASE WHEN any_counts THEN excess ELSE 0 END), 0) AS unreasonable_fen,
                  coalesce(sum(CASE WHEN any_pending THEN excess ELSE 0 END), 0) AS pending_fen
           FROM (SELECT max(amount_fen - limit_fen) AS excess, max(counts) AS any_counts,
                        max(status = 'pending') AS any_pending
                 FROM flag_status
                 WHERE month = ? AND check_id = ? AND amount_fen > limit_fen
                 GROUP BY patient_id, doctor_code, rx_date)""",
        (month, AMOUNT_CAP),
    ).fetchone()
    kpi.update(dict(excess))
    return kpi


def _disclosure_state(conn, month: str) -> dict:
    levels = dict(conn.execute(
        "SELECT level, count(*) FROM disclosures WHERE month = ? GROUP BY level", (month,)
    ).fetchall())
    revision = conn.execute(
        """SELECT revision, created_at, doctors, pending FROM disclosure_revisions
           WHERE month = ? ORDER BY revision DESC LIMIT 1""",
        (month,),
    ).fetchone()
    rows = conn.execute(
        """SELECT level, action, doctor_code, doctor_name, department, unreasonable_count, reasons
           FROM disclosures WHERE month = ?
           ORDER BY level DESC, unreasonable_count DESC, doctor_code""",
        (month,),
    ).fetchall()
    return {"levels": levels, "revision": dict(revision) if revision else None, "rows": rows}


def _trend(conn, month: str) -> dict:
    first = _shift(month, -(TREND_MONTHS - 1))
    months = [_shift(first, i) for i in range(TREND_MONTHS)]
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
        (f"{first}-01", f"{_shift(month, 1)}-01"),
    ).fetchall())
    return {"months": months, "audited": audited, "by_check": by_check, "per_month": per_month, "rx": rx}


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
                  coalesce(sum(f.status = 'pending'), 0) AS pending,
                  ds.level, ds.action
           FROM flag_status f
           LEFT JOIN doctors d ON d.doctor_code = f.doctor_code
           LEFT JOIN disclosures ds ON ds.month = f.month AND ds.doctor_code = f.doctor_code
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


# ---------------------------------------------------------------- rendering

CSS = """
:root { --ink:#1f2328; --muted:#5f6670; --line:#d8dde3; --head:#eef1f4; --accent:#1f4e79; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; background: #f6f7f9; color: var(--ink);
  font-family: "Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei","PingFang SC",sans-serif;
  font-size: 14px; line-height: 1.6; }
main { max-width: 940px; margin: 0 auto; padding: 28px 32px 40px; background: #fff; }
header.report { border-bottom: 3px solid var(--accent); padding-bottom: 12px; margin-bottom: 18px; }
h1 { font-size: 26px; margin: 0 0 6px; color: var(--accent); letter-spacing: 1px; }
h2 { font-size: 18px; margin: 30px 0 10px; padding-left: 10px; border-left: 4px solid var(--accent); }
.meta { margin: 0; color: var(--muted); font-size: 13px; }
.meta span + span::before { content: "　·　"; color: #b0b6bd; }
.notes { margin: 8px 0 0; padding: 6px 10px; background: #f4f6f8; border-radius: 4px; font-size: 13px; }
.notes p { margin: 2px 0; }
.callout { margin: 12px 0; padding: 8px 12px; border-left: 4px solid #c77c02; background: #fff7e6; font-size: 13px; }
.kpis { display: grid; grid-template-columns: repeat(3, 1fr); gap: 10px; margin: 14px 0 4px; }
.kpi { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; break-inside: avoid; }
.kpi .label { color: var(--muted); font-size: 13px; }
.kpi .value { font-size: 24px; font-weight: 700; line-height: 1.3; font-variant-numeric: tabular-nums; }
.kpi .value small { font-size: 13px; font-weight: 400; color: var(--muted); margin-left: 2px; }
.kpi .sub { color: var(--muted); font-size: 12px; }
.kpi.alert .value { color: #b3261e; }
.kpi.warn .value { color: #a15c00; }
figure { margin: 8px 0 12px; text-align: center; break-inside: avoid; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 12px; }
table { width: 100%; border-collapse: collapse; margin: 6px 0 10px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 5px 8px; vertical-align: top; }
th { background: var(--head); font-weight: 600; text-align: left; overflow-wrap: anywhere; }
tbody tr:nth-child(even) { background: #fafbfc; }
tfoot td { font-weight: 700; background: #f4f6f8; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
table.wide { font-size: 12px; }
table.wide th, table.wide td { padding: 4px 5px; }
td.code { font-variant-numeric: tabular-nums; white-space: nowrap; }
td.nowrap { white-space: nowrap; }
td.dept { min-width: 7em; }
td.detail { font-size: 12.5px; }
tr { break-inside: avoid; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: 0; }
.hint { display: block; color: var(--muted); font-size: 11.5px; font-weight: 400; }
.muted { color: var(--muted); }
.zero { color: #a0a6ad; }
.level { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; font-weight: 700; white-space: nowrap; }
.level-3 { background: #fde2e0; color: #8e1b14; border: 1px solid #e8a49e; }
.level-2 { background: #fff0d6; color: #8a4b00; border: 1px solid #f0c27a; }
.level-1 { background: #e7f0fb; color: #1f4e79; border: 1px solid #a9c4e4; }
.empty { color: var(--muted); padding: 8px 0; }
.warn-level { display: inline-block; padding: 0 6px; border-radius: 3px; font-size: 12px; white-space: nowrap; }
.warn-level-1 { background: #e7f0fb; color: #1f4e79; }
.warn-level-2 { background: #fff0d6; color: #8a4b00; }
.warn-level-3 { background: #fde2e0; color: #8e1b14; }
footer { margin-top: 30px; padding-top: 10px; border-top: 1px solid var(--line); color: var(--muted); font-size: 12px; }
@media (max-width: 720px) { .kpis { grid-template-columns: repeat(2, 1fr); } main { padding: 16px; } }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { background: #fff; font-size: 12px; }
  main { max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  section { break-inside: auto; }
  thead { display: table-header-group; }
}
"""


def _cell(value, cls: str = "num") -> str:
    value = int(value or 0)
    extra = " zero" if value == 0 else ""
    return f'<td class="{cls}{extra}">{_n(value)}</td>'


def _level_badge(level, action=None) -> str:
    if not level:
        return '<span class="muted">—</span>'
    label = LEVEL_LABELS.get(int(level), str(level))
    title = ACTION_LABELS.get(action or "", "")
    attr = f' title="{esc(title)}"' if title else ""
    text = f"{label}（{title}）" if title else label
    return f'<span class="level level-{int(level)}"{attr}>{esc(text)}</span>'


def _kpi(label: str, value: str, unit: str = "", sub: str = "", cls: str = "") -> str:
    unit_html = f"<small>{esc(unit)}</small>" if unit else ""
    sub_html = f'<div class="sub">{sub}</div>' if sub else ""
    return (f'<div class="kpi {cls}"><div class="label">{esc(label)}</div>'
            f'<div class="value">{value}{unit_html}</div>{sub_html}</div>')


def render_month_report(conn: sqlite3.Connection, month: str, check_titles: Mapping[str, str]) -> str:
    """The month's audit report as a standalone HTML page (see the module docstring).

    ``check_titles`` maps check ids to their Chinese titles (unknown ids are shown as is).
    Raises :class:`ReportError` (a ``ValueError``) when the month was never audited.
    """
    _parse_month(month)
    run = _latest_run(conn, month)
    if run is None:
        raise ReportError(f"{month_title(month)}尚未审核，无法生成月报：请先运行 mengui audit DB --month {month}")
    start, next_start = f"{month}-01", f"{_shift(month, 1)}-01"

    run_checks = _run_checks(run)
    kpi = _kpis(conn, month, start, next_start)
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

    page_title = f"{month_title(month)}门规处方审核月报"
    parts: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(page_title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
    ]

    # 1. title and audit run
    meta = [
        f"<span>规则集：{esc(run['ruleset'])}（版本 {esc(run['ruleset_version'])}）</span>",
        f"<span>审核时间：{esc(_time(run['finished_at'] or run['started_at']))}</span>",
    ]
    if run["run_count"] > 1:
        meta.append(f"<span>本月共审核 {run['run_count']} 次，以最近一次为准</span>")
    parts.append('<header class="report">')
    parts.append(f"<h1>{esc(page_title)}</h1>")
    parts.append(f'<p class="meta">{"".join(meta)}</p>')
    if check_ids:
        ran = "、".join(esc(titles[c["id"]]) for c in run_checks) or "—"
        parts.append(f'<p class="meta"><span>本月审核规则：{ran}</span></p>')
    if run["notes"]:
        notes = "".join(f"<p>{esc(line)}</p>" for line in str(run["notes"]).splitlines() if line.strip())
        parts.append(f'<div class="notes"><strong>审核说明</strong>{notes}</div>')
    parts.append("</header>")

    # 2. KPI cards
    levels = disclosure["levels"]
    disclosed = sum(levels.values())
    if disclosure["revision"] is None and not disclosed:
        disclosed_sub = "本月公示名单尚未生成"
    else:
        disclosed_sub = " · ".join(f"{LEVEL_LABELS[lv]} {levels.get(lv, 0)}" for lv in (3, 2, 1))
    excess_sub = f"{_n(kpi['visits'])} 次就诊超限（每次就诊只计一次）"
    if kpi["visits"]:
        excess_sub += (f"<br>其中已判不合理 {esc(format_yuan(kpi['unreasonable_fen']))} 元"
                       f"，待审核 {esc(format_yuan(kpi['pending_fen']))} 元")
    parts.append('<section id="kpi"><h2>本月概况</h2><div class="kpis">')
    parts.append(_kpi("审核处方数", _n(kpi["prescriptions"]), "张", f"开方日期在 {esc(month_title(month))}"))
    parts.append(_kpi("标记", _n(kpi["flags"]), "条",
                      f"涉及处方 <strong>{_n(kpi['flagged_rx'])}</strong> 张 · 医师 {_n(kpi['doctors'])} 人"))
    parts.append(_kpi("不合理处方", _n(kpi["unreasonable_rx"]), "张",
                      f"占审核处方 {_percent(kpi['unreasonable_rx'], kpi['prescriptions'])}",
                      "alert" if kpi["unreasonable_rx"] else ""))
    parts.append(_kpi("待审核", _n(kpi["pending"]), "条",
                      f"涉及处方 {_n(kpi['pending_rx'])} 张，审核前不计入", "warn" if kpi["pending"] else ""))
    parts.append(_kpi("超限额金额", esc(format_yuan(kpi["excess_fen"])), "元", excess_sub))
    parts.append(_kpi("公示医师", _n(disclosed), "人", esc(disclosed_sub), "alert" if levels.get(3) else ""))
    parts.append("</div>")
    if kpi["pending"]:
        parts.append(f'<p class="callout">尚有 {_n(kpi["pending"])} 条标记等待药事委员会审核。'
                     "待审核的标记不计入不合理处方，本月数字与公示名单可能随审核结论变化。</p>")
    parts.append("</section>")

    # 3. six-month trend
    months = trend["months"]
    missing = [m for m in months if m not in trend["audited"]]
    counts = {(r["month"], r["check_id"]): r["n"] for r in trend["by_check"]}
    series = {titles[cid]: [None if m in missing else counts.get((m, cid), 0) for m in months]
              for cid in check_ids}
    categories = [_month_short(m) for m in months]
    chart = stacked_bars(categories, series, title=f"近 {TREND_MONTHS} 个月各规则标记数（{_month_short(months[0])}至"
                         f"{_month_short(month)}）", missing=[_month_short(m) for m in missing],
                         colors=label_colours, unit="条", chart_id=f"trend-{month}")
    parts.append(f'<section id="trend"><h2>近 {TREND_MONTHS} 个月趋势</h2><figure>{chart}'
                 "<figcaption>各月标记数（按规则堆叠）；斜线灰柱表示该月未审核，不代表没有问题。</figcaption></figure>")
    parts.append('<table class="trend"><thead><tr><th>月份</th><th class="num">审核处方数</th><th class="num">标记数</th>'
                 '<th class="num">不合理处方</th><th class="num">待审核</th></tr></thead><tbody>')
    for m in months:
        label = esc(_month_short(m))
        if m in missing:
            parts.append(f'<tr><td class="nowrap">{label}</td><td colspan="4" class="muted">未审核'
                         f"（已导入处方 {_n(trend['rx'].get(m, 0))} 张）</td></tr>")
            continue
        pm = trend["per_month"].get(m, {})
        parts.append(f'<tr><td class="nowrap">{label}</td>{_cell(trend["rx"].get(m, 0))}{_cell(pm.get("flags"))}'
                     f'{_cell(pm.get("unreasonable_rx"))}{_cell(pm.get("pending"))}</tr>')
    parts.append("</tbody></table></section>")

    # 4. per check
    parts.append('<section id="checks"><h2>各规则审核情况</h2>')
    parts.append('<table><thead><tr><th>规则</th><th class="num">标记数</th><th class="num">不合理</th>'
                 '<th class="num">合理</th><th class="num">待审核</th><th class="num">计入未复核</th>'
                 '<th class="num">监测</th></tr></thead><tbody>')
    totals = dict.fromkeys(("flags", "unreasonable", "reasonable", "pending", "unreviewed", "monitoring"), 0)
    for cid in check_ids:
        if cid not in per_check and cid not in {c["id"] for c in run_checks}:
            continue  # seen only in earlier months
        row = per_check.get(cid, {})
        hint = ""
        if cid in monitoring:
            hint = "监测规则，仅供参考，不计入"
        elif cid in counts_from:
            hint = f"{counts_from[cid]}级别未被判为合理即计入，较轻级别需委员会判定不合理后计入"
        elif cid in needs_review:
            hint = "需委员会判定不合理后计入" if needs_review[cid] else "未被判为合理即计入"
        parts.append(
            f'<tr><td><span class="swatch" style="background:{esc(colours[cid])}"></span>{esc(titles[cid])}'
            + (f'<span class="hint">{esc(hint)}</span>' if hint else "") + "</td>"
            + "".join(_cell(row.get(k)) for k in totals) + "</tr>"
        )
        for k in totals:
            totals[k] += int(row.get(k) or 0)
    parts.append("</tbody><tfoot><tr><td>合计</td>" + "".join(_cell(v) for v in totals.values()) + "</tr></tfoot></table>")
    parts.append('<p class="meta">不合理 / 合理：药事委员会的结论；待审核：需委员会判定、尚无结论；'
                 "计入未复核：规则规定无需等待判定、委员会未判为合理，直接计入不合理处方；"
                 "监测：监测规则的标记，供委员会和医保办参考，从不计入不合理处方与三级公示。</p></section>")

    # 4b. warning levels: flags per check and level
    level_names, per_level = _per_level(conn, month)
    parts.append('<section id="levels"><h2>各规则预警级别</h2>')
    if per_level:
        level_checks = [cid for cid in check_ids if any((cid, name) in per_level for name in level_names)]
        rank_colours = ["#5b8fc7", "#e0a030", "#c0392b"]
        chart = stacked_bars([titles[cid] for cid in level_checks],
                             {name: [per_level.get((cid, name), 0) for cid in level_checks] for name in level_names},
                             title=f"{month_title(month)}各规则标记的预警级别", unit="条",
                             colors=dict(zip(level_names, rank_colours)),
                             chart_id=f"levels-{month}")
        parts.append(f"<figure>{chart}<figcaption>每条标记按规则集的分级界值定级（由轻到重："
                     f"{esc('、'.join(level_names))}）。</figcaption></figure>")
        head = "".join(f'<th class="num"><span class="warn-level warn-level-{min(i + 1, 3)}">{esc(name)}</span></th>'
                       for i, name in enumerate(level_names))
        parts.append(f'<table><thead><tr><th>规则</th>{head}<th class="num">合计</th></tr></thead><tbody>')
        for cid in level_checks:
            cells = [per_level.get((cid, name), 0) for name in level_names]
            parts.append(f"<tr><td>{esc(titles[cid])}</td>{''.join(_cell(v) for v in cells)}{_cell(sum(cells))}</tr>")
        parts.append("</tbody></table>")
    else:
        parts.append('<p class="empty">本月没有标记。</p>')
    parts.append("</section>")

    # 5. per department
    month_checks = [cid for cid in check_ids if cid in per_check]
    departments = _per_department(conn, month, month_checks)
    parts.append('<section id="departments"><h2>各科室标记情况</h2>')
    if departments:
        dept_series = {titles[cid]: [r[f"c{i}"] for r in departments] for i, cid in enumerate(month_checks)}
        chart = horizontal_bars([r["department"] for r in departments], dept_series,
                                title=f"{month_title(month)}各科室标记数（按规则堆叠）", colors=label_colours,
                                unit="条", chart_id=f"departments-{month}")
        parts.append(f"<figure>{chart}</figure>")
        head = "".join(f'<th class="num">{esc(titles[cid])}</th>' for cid in month_checks)
        wide = ' class="wide"' if len(month_checks) > 4 else ""
        parts.append(f'<table{wide}><thead><tr><th>科室</th>{head}<th class="num">合计</th><th class="num">不合理处方</th>'
                     '<th class="num">待审核</th><th class="num">涉及医师</th></tr></thead><tbody>')
        for r in departments:
            cells = "".join(_cell(r[f"c{i}"]) for i in range(len(month_checks)))
            parts.append(f"<tr><td class=\"dept\">{esc(r['department'])}</td>{cells}{_cell(r['flags'])}"
                         f"{_cell(r['unreasonable_rx'])}{_cell(r['pending'])}{_cell(r['doctors'])}</tr>")
        parts.append("</tbody></table>")
    else:
        parts.append('<p class="empty">本月没有标记。</p>')
    parts.append("</section>")

    # 6. per doctor
    doctors = _per_doctor(conn, month)
    parts.append('<section id="doctors"><h2>各医师标记情况</h2>')
    if doctors:
        parts.append('<table><thead><tr><th>医师代码</th><th>姓名</th><th>科室</th><th class="num">标记数</th>'
                     '<th class="num">不合理处方数</th><th class="num">待审核</th><th>本月公示级别</th></tr></thead><tbody>')
        for r in doctors:
            parts.append(
                f'<tr><td class="code">{esc(r["doctor_code"])}</td><td class="nowrap">{esc(r["doctor_name"] or "—")}</td>'
                f'<td>{esc(r["department"] or "—")}</td>{_cell(r["flags"])}{_cell(r["unreasonable_rx"])}'
                f'{_cell(r["pending"])}<td>{_level_badge(r["level"], r["action"])}</td></tr>'
            )
        parts.append("</tbody></table>")
    else:
        parts.append('<p class="empty">本月没有被标记的医师。</p>')
    parts.append("</section>")

    # 7. pending reviews
    pending = _pending(conn, month)
    parts.append(f'<section id="pending"><h2>待审核处方（{_n(kpi["pending"])} 条）</h2>')
    if pending:
        parts.append('<table><thead><tr><th>处方号</th><th>规则</th><th>医师</th><th>日期</th><th>原因</th>'
                     "</tr></thead><tbody>")
        for r in pending:
            doctor = esc(r["doctor_code"] or "—") + (f" {esc(r['doctor_name'])}" if r["doctor_name"] else "")
            parts.append(
                f'<tr><td class="code">{esc(r["rx_id"])}</td><td class="nowrap">{esc(titles.get(r["check_id"], r["check_id"]))}</td>'
                f'<td class="nowrap">{doctor}</td><td class="nowrap">{esc(r["rx_date"])}</td>'
                f'<td class="detail">{esc(_mask(r["detail"]))}</td></tr>'
            )
        parts.append("</tbody></table>")
        if kpi["pending"] > len(pending):
            parts.append(f'<p class="meta">按开方日期列出最早的 {len(pending)} 条，另有 '
                         f"{_n(kpi['pending'] - len(pending))} 条未列出（请在 Datasette 的 flag_status 中查看）。</p>")
    else:
        parts.append('<p class="empty">没有待审核的标记。</p>')
    parts.append("</section>")

    # 8. disclosure list
    parts.append('<section id="disclosures"><h2>本月公示名单</h2>')
    revision = disclosure["revision"]
    if revision:
        parts.append(f'<p class="meta"><span>第 {revision["revision"]} 版</span>'
                     f'<span>生成时间：{esc(_time(revision["created_at"]))}</span>'
                     f'<span>生成时待审核 {_n(revision["pending"])} 条</span></p>')
        audited_at = run["finished_at"] or run["started_at"] or ""
        if _before(revision["created_at"], audited_at):
            parts.append('<p class="callout">公示名单生成于最近一次审核之前，可能已过时：请重新运行 mengui disclose。</p>')
    if disclosure["rows"]:
        parts.append('<table><thead><tr><th>级别</th><th>医师代码</th><th>姓名</th><th>科室</th>'
                     '<th class="num">不合理处方数</th><th>原因</th></tr></thead><tbody>')
        for r in disclosure["rows"]:
            name = NO_NAME_AT_LEVEL_1 if r["level"] == 1 else (r["doctor_name"] or "—")
            parts.append(
                f'<tr><td>{_level_badge(r["level"], r["action"])}</td><td class="code">{esc(r["doctor_code"])}</td>'
                f'<td class="nowrap">{esc(name)}</td><td>{esc(r["department"] or "—")}</td>'
                f'{_cell(r["unreasonable_count"])}<td class="detail">{esc(r["reasons"] or "")}</td></tr>'
            )
        parts.append("</tbody></table>")
    elif revision:
        parts.append('<p class="empty">本月没有需要公示的医师。</p>')
    else:
        parts.append(f'<p class="empty">本月公示名单尚未生成（请运行 mengui disclose DB --month {esc(month)}）。</p>')
    parts.append("</section>")

    _appeals_section(parts, conn, month, titles)
    _deductions_section(parts, conn, month)

    parts.append(
        "<footer>本报告由 mengui-audit 根据审核数据库生成，不含参保人姓名及身份信息（原因中的参保人编号已隐去）。"
        "报告列出被标记医师的姓名，仅供医保办及药事委员会内部使用；对外公示以公示名单为准。</footer>"
    )
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


def _appeals_section(parts: list[str], conn, month: str, titles: Mapping[str, str]) -> None:
    """9. Appeals on the month's flags: pending ones (申诉中) first, then the 复审 results."""
    from ..labels import APPEAL_LABELS
    from ..review.appeals import list_appeals

    appeals = list_appeals(conn, month)
    pending = sum(1 for a in appeals if a["status"] == "pending")
    parts.append(f'<section id="appeals"><h2>申诉与复审（{_n(len(appeals))} 条）</h2>')
    if not appeals:
        parts.append('<p class="empty">本月的标记没有申诉。</p></section>')
        return
    if pending:
        parts.append(f'<p class="callout">{_n(pending)} 条申诉中（待复审）：复审前原结论“不合理”仍计入不合理处方和公示名单；'
                     "复审改判合理后，重新生成公示名单会产生新的版本。</p>")
    parts.append('<table><thead><tr><th>处方号</th><th>规则</th><th>医师</th><th>原结论</th><th>申诉日期</th>'
                 '<th>申诉理由</th><th>状态</th><th>复审</th></tr></thead><tbody>')
    for a in appeals:
        doctor = esc(a["doctor_code"] or "—") + (f" {esc(a['doctor_name'])}" if a["doctor_name"] else "")
        status = APPEAL_LABELS.get(a["status"], a["status"])
        badge = f'<span class="level level-{2 if a["status"] == "pending" else 1}">{esc(status)}</span>'
        second = "—"
        if a["second_verdict"]:
            second = esc(f"{STATUS_LABELS.get(a['second_verdict'], a['second_verdict'])}（{a['second_reviewer'] or ''}，"
                         f"{_time(a['second_reviewed_at'])}）{a['second_note'] or ''}")
        parts.append(
            f'<tr><td class="code">{esc(a["rx_id"])}</td><td class="nowrap">{esc(titles.get(a["check_id"], a["title"]))}</td>'
            f'<td class="nowrap">{doctor}</td><td class="nowrap">不合理（{esc(_time(a["first_reviewed_at"]))}）</td>'
            f'<td class="nowrap">{esc(a["filed_at"])}<span class="hint">期限 {esc(a["deadline"])}</span></td>'
            f'<td class="detail">{esc(_mask(a["reason"]))}</td><td>{badge}</td><td class="detail">{second}</td></tr>')
    parts.append("</tbody></table></section>")


def _deductions_section(parts: list[str], conn, month: str) -> None:
    """10. The insurance office's deductions of the month, per prescribing doctor."""
    from .deduction_list import MONTH_RULE, RULE, table_rows, totals_row
    from ..publish.deductions import summarise

    summary = summarise(conn, month)
    parts.append(f'<section id="deductions"><h2>医保扣款（{_n(summary.count)} 笔）</h2>')
    if not summary.count and not summary.undated_unattributed:
        parts.append(f'<p class="empty">{esc(month_title(month))}没有医保扣款。</p></section>')
        return
    parts.append(f'<p class="meta">{esc(RULE + MONTH_RULE)}</p>')
    parts.append('<table><thead><tr><th>医师代码</th><th>姓名</th><th>科室</th><th class="num">扣款笔数</th>'
                 '<th class="num">扣款金额（元）</th><th class="num">涉及处方数</th></tr></thead><tbody>')
    for row in table_rows(summary):
        parts.append(f'<tr><td class="code">{esc(row[1])}</td><td class="nowrap">{esc(row[2])}</td>'
                     f'<td>{esc(row[3] or "—")}</td>{_cell(row[4])}<td class="num">{esc(row[5])}</td>{_cell(row[6])}</tr>')
    total = totals_row(summary)
    parts.append(f'</tbody><tfoot><tr><td colspan="3">合计（{esc(total[2])}）</td>{_cell(total[4])}'
                 f'<td class="num">{esc(total[5])}</td>{_cell(total[6])}</tr></tfoot></table>')
    for note in summary.notes():
        parts.append(f'<p class="callout">{esc(note)}</p>')
    parts.append("</section>")


__all__ = ["render_month_report", "ReportError", "month_title"]
