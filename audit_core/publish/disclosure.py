"""The monthly disclosure (公示) list: compute it with the ruleset's ladder, store and compare it.

A ladder (a plugin, ``register_ladders``) turns the month's unreasonable prescriptions into
each doctor's level and action. Each computation that differs from the month's current list becomes a new,
append-only revision (``disclosure_history`` + ``disclosure_revisions``);
``disclosures`` holds the current list (public in Datasette: no names at level 1).
A ``revoke`` records a revocation that lasts until the doctor is reinstated.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field

from .. import months
from ..audit.checks import describe
from ..audit.ruleset import Ruleset
from ..db.schema import now, transaction
from ..errors import MenguiError
from ..labels import ACTIONS, LEVEL_LABELS, label
from ..audit.runner import ruleset_for_month
from ..plugins import get_checks, get_ladders
from .ladder import Ladder, LadderContext

DEFAULT_LADDER = "three_strikes"

# The columns a CSV starts with, in this order (the design card's contract).
CSV_COLUMNS = ["month", "doctor_code", "doctor_name", "level", "action", "unreasonable_count"]


@dataclass
class DisclosureRow:
    """One doctor on one month's list. ``doctor_name`` and ``department`` are None at level 1."""

    month: str
    doctor_code: str
    doctor_name: str | None
    department: str | None
    level: int
    action: str
    unreasonable_count: int
    reasons: str = ""  # e.g. "超限额处方 2 张；重复用药 1 张"

    @property
    def level_label(self) -> str:
        return label("level", self.level)

    @property
    def action_label(self) -> str:
        return label("action", self.action)


@dataclass
class Disclosure:
    """A month's list as published (one revision)."""

    month: str
    revision: int
    rows: list[DisclosureRow]
    pending: int = 0  # flags that need a committee verdict and have none
    ladder_title: str = ""  # e.g. "三级公示"
    policy: str = ""  # the policy sentence the list applies, in Chinese
    ruleset_title: str = ""
    created_at: str = ""
    changes: list[str] = field(default_factory=list)  # what changed against the previous revision
    # 不合理 verdicts under appeal (申诉中): counted until the 复审; internal, never printed on the list
    appeals_pending: int = 0
    rules: list[str] = field(default_factory=list)  # the ladder's own explanation, a line per level
    # the checks whose flags count toward the list, as (title, description) in the ruleset's own numbers
    checks: list[tuple[str, str]] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{months.title(self.month)}门规不合理处方医师公示名单"


@dataclass
class PublishResult:
    disclosure: Disclosure
    new_revision: bool  # False when the list equals the current revision
    ladder: Ladder
    # later months whose lists were computed before an earlier month's list changed (to disclose again)
    stale: dict[str, list[str]] = field(default_factory=dict)


def described_checks(conn: sqlite3.Connection, ruleset: Ruleset | None, ids=None) -> dict[str, tuple[str, str]]:
    """check id → (title, description) for the ruleset's checks (or ``ids``), in its own numbers: the
    registered check describes itself with the ruleset's parameters; without a ruleset, or for a check
    no installed plugin provides any more, what the ``checks`` table recorded when it last ran."""
    registered = get_checks() if ruleset is not None else {}
    wanted = list(ruleset.checks if ids is None else ids)
    recorded = {r[0]: (r[1], r[2] or "") for r in conn.execute("SELECT check_id, title, description FROM checks")}
    described = {}
    for cid in wanted:
        if cid in registered:
            described[cid] = (registered[cid].title, describe(registered[cid], ruleset))
        elif cid in recorded:
            described[cid] = recorded[cid]
    return described


def counting_checks(conn: sqlite3.Connection, ruleset: Ruleset) -> list[tuple[str, str]]:
    """(title, description) of the ruleset's checks whose flags can count (monitoring checks never do)."""
    counting = [cid for cid, config in ruleset.checks.items() if not config.monitoring]
    return list(described_checks(conn, ruleset, counting).values())


def ladder_for(ruleset: Ruleset) -> Ladder:
    name = ruleset.ladder.get("name", DEFAULT_LADDER)
    ladders = get_ladders()
    if name not in ladders:
        raise MenguiError(f"规则集 {ruleset.name} 指定的公示办法「{name}」没有插件提供。已注册：{'、'.join(sorted(ladders))}")
    return ladders[name]


def ladder_start(conn: sqlite3.Connection, declared: str | None, month: str) -> str | None:
    """The month the ladder counts from for ``month``: the latest start ever declared that is not
    after it. A declared start is remembered (``ladder_starts``; the latest also in ``settings``) and
    applies only to months from it on: an earlier month is computed as it was before."""
    if declared:
        months.bounds(declared)
        with transaction(conn):
            conn.execute("INSERT INTO ladder_starts (month, declared_at) VALUES (?, ?) ON CONFLICT (month) DO NOTHING",
                         (declared, now()))
            conn.execute("INSERT INTO settings (key, value) VALUES ('ladder_start', ?) "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (declared,))
    return conn.execute("SELECT max(month) FROM ladder_starts WHERE month <= ?", (month,)).fetchone()[0]


def stale_months(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """Months whose current list was computed before an earlier month's list last changed (their
    levels may depend on it), each with those earlier months: to be disclosed again, in order."""
    rows = conn.execute(
        "SELECT l.month, group_concat(e.month, '、') FROM disclosure_runs l JOIN "
        "(SELECT * FROM disclosure_runs ORDER BY month) e ON e.month < l.month AND e.changed_seq > l.computed_seq "
        "GROUP BY l.month ORDER BY l.month").fetchall()
    return {month: earlier.split("、") for month, earlier in rows}


def _mark_computed(conn: sqlite3.Connection, month: str, changed: bool, when: str) -> None:
    """Record that ``month``'s list was computed now (and changed, when it did): see :func:`stale_months`."""
    seq = conn.execute("SELECT coalesce(max(computed_seq), 0) + 1 FROM disclosure_runs").fetchone()[0]
    conn.execute(
        "INSERT INTO disclosure_runs (month, computed_seq, changed_seq, computed_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (month) DO UPDATE SET computed_seq = excluded.computed_seq, computed_at = excluded.computed_at, "
        "changed_seq = CASE WHEN ? THEN excluded.changed_seq ELSE changed_seq END",
        (month, seq, seq, when, changed))


def pending_counts(conn: sqlite3.Connection, month: str) -> tuple[int, int]:
    """The month's flags awaiting the committee's verdict, and its appeals awaiting a 复审."""
    row = conn.execute("SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE appeal_status = "
                       "'pending') FROM flag_status WHERE month = ?", (month,)).fetchone()
    return row[0], row[1]


def _rows(conn: sqlite3.Connection, month: str, entries) -> list[DisclosureRow]:
    titles = {c.id: c.title for c in get_checks().values()}
    reasons: dict[str, list[str]] = {}
    for doctor, check, n in conn.execute(
        "SELECT doctor_code, check_id, count(DISTINCT rx_id) FROM flag_status WHERE month = ? AND counts = 1 "
        "GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2", (month,)
    ):
        reasons.setdefault(doctor, []).append(f"{titles.get(check, check)} {n} 张")
    doctors = {r["doctor_code"]: r for r in conn.execute("SELECT doctor_code, doctor_name, department FROM doctors")}
    departments = dict(conn.execute(
        "SELECT doctor_code, department FROM flags WHERE month = ? GROUP BY doctor_code", (month,)).fetchall())
    rows = []
    for entry in entries:
        if entry.action not in ACTIONS or entry.level not in LEVEL_LABELS:
            raise MenguiError(f"公示办法返回了无效的级别或措施：{entry}")
        known = doctors.get(entry.doctor_code)
        named = entry.level >= 2
        rows.append(DisclosureRow(
            month=month,
            doctor_code=entry.doctor_code,
            doctor_name=(known["doctor_name"] if known else "（名册中无此医师）") if named else None,
            department=((known["department"] if known else None) or departments.get(entry.doctor_code)) if named else None,
            level=entry.level,
            action=entry.action,
            unreasonable_count=entry.unreasonable_count,
            reasons="；".join(reasons.get(entry.doctor_code, [])),
        ))
    return sorted(rows, key=lambda r: (-r.level, r.doctor_code))


def _key(row) -> tuple:
    return (row.doctor_code, row.doctor_name, row.level, row.action, row.unreasonable_count)


def _changes(old: list[DisclosureRow], new: list[DisclosureRow]) -> list[str]:
    before = {r.doctor_code: r for r in old}
    after = {r.doctor_code: r for r in new}
    changes = []
    for code in sorted(after.keys() - before.keys()):
        r = after[code]
        changes.append(f"新增 {code}（{r.level_label}，{r.action_label}，不合理处方 {r.unreasonable_count} 张）")
    for code in sorted(before.keys() - after.keys()):
        changes.append(f"移除 {code}（原为{before[code].level_label}）")
    for code in sorted(before.keys() & after.keys()):
        a, b = before[code], after[code]
        if a.level != b.level:
            changes.append(f"{code} 级别由{a.level_label}变为{b.level_label}（{b.action_label}）")
        if a.unreasonable_count != b.unreasonable_count:
            changes.append(f"{code} 不合理处方数由 {a.unreasonable_count} 变为 {b.unreasonable_count}")
    return changes


def current_rows(conn: sqlite3.Connection, month: str) -> list[DisclosureRow]:
    return [
        DisclosureRow(r["month"], r["doctor_code"], r["doctor_name"], r["department"], r["level"], r["action"],
                      r["unreasonable_count"], r["reasons"] or "")
        for r in conn.execute("SELECT * FROM disclosures WHERE month = ? ORDER BY level DESC, doctor_code", (month,))
    ]


def disclose_month(conn: sqlite3.Connection, month: str, *, ruleset: str | None = None, start: str | None = None,
                   allow_unaudited: bool = False, require_reviewed: bool = False) -> PublishResult:
    months.bounds(month)
    rs = ruleset_for_month(conn, month, ruleset)
    ladder = ladder_for(rs)
    policy, rules = ladder.explain(rs.ladder)
    checks = counting_checks(conn, rs)
    pending, appeals_pending = pending_counts(conn, month)
    if require_reviewed and pending:
        raise MenguiError(f"{month} 还有 {pending} 条标记待药事委员会审核（--require-reviewed 要求全部审核完毕）")
    ctx = LadderContext(conn, month, rs, ladder_start(conn, start, month), allow_unaudited)
    try:
        entries = ladder.compute(ctx)
    except MenguiError:
        raise
    except Exception as ex:
        raise MenguiError(f"公示办法 {ladder.name}（插件 {ladder.plugin}）出错：{type(ex).__name__}: {ex}") from ex
    rows = _rows(conn, month, entries)
    old = current_rows(conn, month)
    last = conn.execute("SELECT max(revision) FROM disclosure_revisions WHERE month = ?", (month,)).fetchone()[0]
    if last is not None and [_key(r) for r in old] == [_key(r) for r in rows]:
        info = conn.execute("SELECT created_at, changes FROM disclosure_revisions WHERE month = ? AND revision = ?",
                            (month, last)).fetchone()
        disclosure = Disclosure(month, last, old, pending, ladder.title, policy, rs.title, info["created_at"],
                                json.loads(info["changes"] or "[]"), appeals_pending, rules, checks)
        with transaction(conn):
            _mark_computed(conn, month, False, now())
        return PublishResult(disclosure, False, ladder, stale_months(conn))
    revision = (last or 0) + 1
    changes = _changes(old, rows) if last is not None else []
    created = now()
    with transaction(conn):
        conn.execute(
            "INSERT INTO disclosure_revisions (month, revision, created_at, ladder, ruleset, doctors, pending, changes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (month, revision, created, ladder.name, f"{rs.name} {rs.version}", len(rows), pending,
             json.dumps(changes, ensure_ascii=False)),
        )
        values = [(r.month, revision, r.doctor_code, r.doctor_name, r.department, r.level, r.action,
                   r.unreasonable_count, r.reasons) for r in rows]
        conn.executemany("INSERT INTO disclosure_history VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
        conn.execute("DELETE FROM disclosures WHERE month = ?", (month,))
        conn.executemany(
            "INSERT INTO disclosures (month, revision, doctor_code, doctor_name, department, level, action, "
            "unreasonable_count, reasons) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
        _record_revocations(conn, month, rows, revision, created)
        _mark_computed(conn, month, True, created)
    disclosure = Disclosure(month, revision, rows, pending, ladder.title, policy, rs.title, created, changes,
                            appeals_pending, rules, checks)
    return PublishResult(disclosure, True, ladder, stale_months(conn))


def _record_revocations(conn, month, rows, revision, created) -> None:
    revoked = {r.doctor_code for r in rows if r.action == "revoke"}
    for doctor in revoked:
        active = conn.execute(
            "SELECT 1 FROM revocations WHERE doctor_code = ? AND reinstated_at IS NULL AND withdrawn_at IS NULL",
            (doctor,)).fetchone()
        if not active:
            conn.execute(
                "INSERT INTO revocations (doctor_code, month, revoked_at) VALUES (?, ?, ?) "
                "ON CONFLICT (doctor_code, month) DO UPDATE SET revoked_at = excluded.revoked_at, "
                "withdrawn_at = NULL, withdrawn_note = NULL", (doctor, month, created))
    for (doctor,) in conn.execute(
            "SELECT doctor_code FROM revocations WHERE month = ? AND withdrawn_at IS NULL AND reinstated_at IS NULL",
            (month,)).fetchall():
        if doctor not in revoked:
            conn.execute("UPDATE revocations SET withdrawn_at = ?, withdrawn_note = ? WHERE doctor_code = ? AND month = ?",
                         (created, f"{month} 公示名单第 {revision} 版不再取消其资格", doctor, month))


def reinstate(conn: sqlite3.Connection, doctor_code: str, note: str | None) -> str:
    """Lift a doctor's active revocation; return the month it was revoked in."""
    row = conn.execute("SELECT month FROM revocations WHERE doctor_code = ? AND reinstated_at IS NULL "
                       "AND withdrawn_at IS NULL", (doctor_code,)).fetchone()
    if row is None:
        raise MenguiError(f"医师 {doctor_code} 目前没有被取消定岗资格，无需恢复")
    with transaction(conn):
        conn.execute("UPDATE revocations SET reinstated_at = ?, reinstated_note = ? WHERE doctor_code = ? AND month = ?",
                     (now(), note, doctor_code, row[0]))
    return row[0]
