"""The monthly disclosure (公示) list: compute it with the ruleset's ladder, draft it, publish it.

A ladder (a plugin, ``register_ladders``) turns the month's unreasonable prescriptions into each
doctor's level and action. Publication is an act (DESIGN.md §2):

* :func:`disclose_month` computes the list and stores it as the month's *draft*
  (``disclosure_drafts``, ``disclosure_draft_rows``: private — never in ``disclosures``, its history or
  any public page). Nothing public changes.
* :func:`publish_month` makes the stored draft public, after checking that the list computed now is
  still the draft (what is published is exactly what was reviewed): a new, append-only revision
  (``disclosure_history`` + ``disclosure_revisions``, with who published it and when) when it differs
  from the published one; ``disclosures`` holds the current published list (public in Datasette: no
  names at level 1). Only then do its revocations (``revoke``) take effect: on the first day of the
  month after the list's month, or the date the publisher gives — never the day a command ran. A
  revocation lasts until the doctor is reinstated; one a later revision no longer makes is void.
* A published month whose list changes makes the later published months whose levels depended on it
  stale (:func:`stale_months`) until they are published again; :func:`compare_now` compares a month's
  published list with the list computed now, by content.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import date

from .. import months
from ..audit.checks import describe
from ..audit.ruleset import Ruleset
from ..db.schema import transaction
from ..times import now
from ..errors import MenguiError
from ..labels import ACTIONS, LEVEL_LABELS, label
from ..times import minute
from ..audit.runner import ruleset_for_month
from ..plugins import get_checks, get_ladders
from .ladder import Ladder, LadderContext

DEFAULT_LADDER = "three_strikes"

#: what every draft says, wherever it is shown (files, the CLI, the report, the committee's site)
DRAFT_NOTICE = "草稿，待审定后 mengui publish"

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
    """A month's list: a published revision, or the month's draft (``draft``), which nobody outside sees."""

    month: str
    revision: int  # a draft: the revision it becomes when published (the published one when they are equal)
    rows: list[DisclosureRow]
    pending: int = 0  # flags that need a committee verdict and have none
    ladder_title: str = ""  # e.g. "三级公示"
    policy: str = ""  # the policy sentence the list applies, in Chinese
    ruleset_title: str = ""
    created_at: str = ""  # when the list was computed
    changes: list[str] = field(default_factory=list)  # what changed against the previous (published) revision
    # 不合理 verdicts under appeal (申诉中): counted until the 复审; internal, never printed on the list
    appeals_pending: int = 0
    rules: list[str] = field(default_factory=list)  # the ladder's own explanation, a line per level
    # the checks whose flags count toward the list, as (title, description) in the ruleset's own numbers
    checks: list[tuple[str, str]] = field(default_factory=list)
    draft: bool = False
    published_at: str = ""  # a published revision: when and by whom
    published_by: str = ""
    effective: str = ""  # the day this list's revocations take effect (YYYY-MM-DD)
    base_revision: int | None = None  # a draft: the published revision it was compared with (None: none yet)

    @property
    def title(self) -> str:
        return f"{months.title(self.month)}门规不合理处方医师公示名单"

    @property
    def differs(self) -> bool:
        """A draft that would make a new revision (it differs from the published list, or there is none)."""
        return self.base_revision is None or self.revision != self.base_revision


@dataclass
class DraftResult:
    """What ``disclose`` did: the month's draft, computed and stored (nothing public changed)."""

    disclosure: Disclosure  # the draft
    published: Disclosure | None  # the month's published list (None: never published)
    ladder: Ladder
    # later months whose published lists an earlier month's new revision has made out of date
    stale: dict[str, list[str]] = field(default_factory=dict)
    # later published months whose levels depend on this month: to disclose and publish again once
    # this draft (which differs from the published list) is published
    dependents: list[str] = field(default_factory=list)

    @property
    def current(self) -> Disclosure:
        """The list to write out: the draft, or the published revision when the draft is the same list
        (nothing awaits sign-off; the file then carries the publication's revision and date)."""
        if self.published is not None and not self.disclosure.differs:
            return self.published
        return self.disclosure


@dataclass
class PublishResult:
    """What ``publish`` did: the month's list as now published."""

    disclosure: Disclosure
    new_revision: bool  # False when the draft equals the published revision (nothing changed publicly)
    ladder: Ladder
    stale: dict[str, list[str]] = field(default_factory=dict)
    revoked: list[tuple[str, str]] = field(default_factory=list)  # (doctor, effective date) recorded now
    withdrawn: list[str] = field(default_factory=list)  # revocations this revision no longer makes
    rescheduled: list[tuple[str, str]] = field(default_factory=list)  # (doctor, new effective date)


@dataclass
class Computed:
    """A month's list as the ladder computes it from the database now (nothing stored)."""

    month: str
    rows: list[DisclosureRow]
    pending: int
    appeals_pending: int
    ladder: Ladder
    ruleset: Ruleset
    policy: str
    rules: list[str]
    checks: list[tuple[str, str]]
    depends_on: list[str]  # the earlier months whose strikes the levels were computed from


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
        "SELECT doctor_code, max(department) FROM flags WHERE month = ? GROUP BY doctor_code", (month,)).fetchall())
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




# ---------------------------------------------------------------- comparing lists


def _key(row: DisclosureRow) -> tuple:
    """Everything the public sees of a row: two lists are the same list when their keys are."""
    return (row.doctor_code, row.doctor_name, row.department, row.level, row.action, row.unreasonable_count,
            row.reasons or "")


def same_rows(a: list[DisclosureRow], b: list[DisclosureRow]) -> bool:
    return sorted(map(_key, a)) == sorted(map(_key, b))


def list_changes(old: list[DisclosureRow], new: list[DisclosureRow]) -> list[str]:
    """What changed from ``old`` to ``new``, one Chinese line per change."""
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
        elif (a.reasons or "") != (b.reasons or ""):
            changes.append(f"{code} 不合理处方类别由「{a.reasons}」变为「{b.reasons}」")
        if a.level == b.level and (a.doctor_name, a.department) != (b.doctor_name, b.department):
            changes.append(f"{code} 公示的姓名或科室由「{a.doctor_name or ''} {a.department or ''}」"
                           f"变为「{b.doctor_name or ''} {b.department or ''}」".replace(" 」", "」"))
    return changes


# ---------------------------------------------------------------- reading the stored lists


def _row(r) -> DisclosureRow:
    return DisclosureRow(r["month"], r["doctor_code"], r["doctor_name"], r["department"], r["level"], r["action"],
                         r["unreasonable_count"], r["reasons"] or "")


def published_rows(conn: sqlite3.Connection, month: str) -> list[DisclosureRow]:
    """The month's published list (``disclosures``, public)."""
    return [_row(r) for r in conn.execute(
        "SELECT * FROM disclosures WHERE month = ? ORDER BY level DESC, doctor_code", (month,))]


current_rows = published_rows  # the name before drafts existed


def draft_rows(conn: sqlite3.Connection, month: str) -> list[DisclosureRow]:
    """The month's stored draft (``disclosure_draft_rows``, private)."""
    return [_row(r) for r in conn.execute(
        "SELECT * FROM disclosure_draft_rows WHERE month = ? ORDER BY level DESC, doctor_code", (month,))]


def published_months(conn: sqlite3.Connection) -> list[str]:
    """Months with a published list, newest first."""
    return [r[0] for r in conn.execute("SELECT DISTINCT month FROM disclosure_revisions ORDER BY month DESC")]


def rules_words(conn: sqlite3.Connection, month: str, ladder_name: str | None = None) -> dict:
    """What a list says about its rules (ladder title, policy, rule lines, the checks that count), from the
    ruleset the month was audited with; nothing when that ruleset or ladder cannot be loaded any more."""
    try:
        rs = ruleset_for_month(conn, month)
        ladder = ladder_for(rs)
    except MenguiError:
        return {"ladder_title": "", "policy": "", "rules": [], "checks": [], "ruleset_title": ""}
    policy, rules = ladder.explain(rs.ladder)
    return {"ladder_title": ladder.title, "policy": policy, "rules": rules, "checks": counting_checks(conn, rs),
            "ruleset_title": rs.title}


def published_disclosure(conn: sqlite3.Connection, month: str, words: dict | None = None) -> Disclosure | None:
    """The month's current published revision as a :class:`Disclosure` (None: never published)."""
    info = conn.execute("SELECT * FROM disclosure_revisions WHERE month = ? ORDER BY revision DESC LIMIT 1",
                        (month,)).fetchone()
    if info is None:
        return None
    words = words if words is not None else rules_words(conn, month)
    return Disclosure(month, info["revision"], published_rows(conn, month), info["pending"],
                      created_at=info["drafted_at"] or info["created_at"],
                      changes=json.loads(info["changes"] or "[]"),
                      published_at=info["published_at"] or info["created_at"], published_by=info["published_by"] or "",
                      effective=info["effective_date"] or effective_default(month), **words)


def draft_disclosure(conn: sqlite3.Connection, month: str, words: dict | None = None) -> Disclosure | None:
    """The month's stored draft as a :class:`Disclosure` (None: never disclosed)."""
    info = conn.execute("SELECT * FROM disclosure_drafts WHERE month = ?", (month,)).fetchone()
    if info is None:
        return None
    rows = draft_rows(conn, month)
    base = conn.execute("SELECT max(revision) FROM disclosure_revisions WHERE month = ?", (month,)).fetchone()[0]
    published = published_rows(conn, month) if base is not None else []
    same = base is not None and same_rows(rows, published)
    words = words if words is not None else rules_words(conn, month)
    return Disclosure(month, base if same else (base or 0) + 1, rows, info["pending"], created_at=info["computed_at"],
                      changes=[] if same or base is None else list_changes(published, rows),
                      appeals_pending=info["appeals_pending"], draft=True, base_revision=base,
                      effective=effective_default(month), **words)


def pending_drafts(conn: sqlite3.Connection) -> dict[str, int | None]:
    """Months whose stored draft differs from the published list (or was never published): month → the
    published revision it differs from (None: none yet). What the committee still has to sign off."""
    drafts = {r[0]: r[1] for r in conn.execute(
        "SELECT d.month, (SELECT max(revision) FROM disclosure_revisions v WHERE v.month = d.month) "
        "FROM disclosure_drafts d ORDER BY d.month")}
    return {month: base for month, base in drafts.items()
            if base is None or not same_rows(draft_rows(conn, month), published_rows(conn, month))}


# ---------------------------------------------------------------- stale published lists


def stale_months(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """Published months whose levels depended on an earlier month whose published list has changed since
    (a new revision after theirs was last published), each with those earlier months: to disclose and
    publish again, in order. A month's own list is compared by content elsewhere (:func:`compare_now`)."""
    rows = conn.execute(
        "SELECT l.month, group_concat(e.month, '、') FROM disclosure_runs l JOIN "
        "(SELECT * FROM disclosure_runs ORDER BY month) e ON e.month < l.month AND e.changed_seq > l.published_seq "
        "AND (l.depends_on IS NULL OR e.month IN (SELECT value FROM json_each(l.depends_on))) "
        "GROUP BY l.month ORDER BY l.month").fetchall()
    return {month: earlier.split("、") for month, earlier in rows}


def dependents(conn: sqlite3.Connection, month: str) -> list[str]:
    """Later published months whose levels were computed from ``month``."""
    return [r[0] for r in conn.execute(
        "SELECT month FROM disclosure_runs WHERE month > ? AND (depends_on IS NULL OR ? IN "
        "(SELECT value FROM json_each(depends_on))) ORDER BY month", (month, month))]


def _mark_published(conn: sqlite3.Connection, month: str, changed: bool, when: str, depends_on: list[str]) -> None:
    """Record a publication of ``month`` (a new revision when ``changed``): see :func:`stale_months`."""
    seq = conn.execute("SELECT coalesce(max(max(published_seq), max(changed_seq)), 0) + 1 "
                       "FROM disclosure_runs").fetchone()[0]
    conn.execute(
        "INSERT INTO disclosure_runs (month, published_seq, changed_seq, published_at, depends_on) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (month) DO UPDATE SET published_seq = excluded.published_seq, "
        "published_at = excluded.published_at, depends_on = excluded.depends_on, "
        "changed_seq = CASE WHEN ? THEN excluded.changed_seq ELSE changed_seq END",
        (month, seq, seq, when, json.dumps(depends_on), changed))


# ---------------------------------------------------------------- computing, drafting, publishing


def effective_default(month: str) -> str:
    """The day a list's revocations take effect unless the publisher says otherwise: the first day of
    the month after the list's month (never the day a command happens to run)."""
    return f"{months.following(month)}-01"


def compute_list(conn: sqlite3.Connection, month: str, *, ruleset: str | None = None, start: str | None = None,
                 allow_unaudited: bool = False) -> Computed:
    """The month's list as the ladder computes it from the database now. Stores nothing (but a declared
    ``start``, which :func:`ladder_start` remembers)."""
    months.bounds(month)
    rs = ruleset_for_month(conn, month, ruleset)
    ladder = ladder_for(rs)
    policy, rules = ladder.explain(rs.ladder)
    pending, appeals_pending = pending_counts(conn, month)
    ctx = LadderContext(conn, month, rs, ladder_start(conn, start, month), allow_unaudited)
    try:
        entries = ladder.compute(ctx)
    except MenguiError:
        raise
    except Exception as ex:
        raise MenguiError(f"公示办法 {ladder.name}（插件 {ladder.plugin}）出错：{type(ex).__name__}: {ex}") from ex
    return Computed(month, _rows(conn, month, entries), pending, appeals_pending, ladder, rs, policy, rules,
                    counting_checks(conn, rs), sorted(m for m in ctx.consulted if m < month))


def disclose_month(conn: sqlite3.Connection, month: str, *, ruleset: str | None = None, start: str | None = None,
                   allow_unaudited: bool = False, require_reviewed: bool = False) -> DraftResult:
    """Compute the month's list and store it as the month's draft (private: never in ``disclosures``, its
    history or any public page). ``publish_month`` makes it public."""
    months.bounds(month)
    if require_reviewed:
        pending, _ = pending_counts(conn, month)
        if pending:
            raise MenguiError(f"{month} 还有 {pending} 条标记待药事委员会审核（--require-reviewed 要求全部审核完毕）")
    computed = compute_list(conn, month, ruleset=ruleset, start=start, allow_unaudited=allow_unaudited)
    base = conn.execute("SELECT max(revision) FROM disclosure_revisions WHERE month = ?", (month,)).fetchone()[0]
    rs = computed.ruleset
    with transaction(conn):
        conn.execute("DELETE FROM disclosure_draft_rows WHERE month = ?", (month,))
        conn.execute(
            "INSERT OR REPLACE INTO disclosure_drafts (month, computed_at, ladder, ruleset, ruleset_option, "
            "allow_unaudited, doctors, pending, appeals_pending, depends_on, base_revision) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (month, now(), computed.ladder.name, f"{rs.name} {rs.version}", ruleset, int(allow_unaudited),
             len(computed.rows), computed.pending, computed.appeals_pending, json.dumps(computed.depends_on), base))
        conn.executemany(
            "INSERT INTO disclosure_draft_rows (month, doctor_code, doctor_name, department, level, action, "
            "unreasonable_count, reasons) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(r.month, r.doctor_code, r.doctor_name, r.department, r.level, r.action, r.unreasonable_count,
              r.reasons) for r in computed.rows])
    words = {"ladder_title": computed.ladder.title, "policy": computed.policy, "rules": computed.rules,
             "checks": computed.checks, "ruleset_title": rs.title}
    draft = draft_disclosure(conn, month, words)
    published = published_disclosure(conn, month, words)
    later = dependents(conn, month) if draft.differs and published is not None else []
    return DraftResult(draft, published, computed.ladder, stale_months(conn), later)


def _effective(month: str, effective: str | None) -> str:
    default = effective_default(month)
    if not effective:
        return default
    try:
        day = date.fromisoformat(str(effective).strip())
    except ValueError:
        raise MenguiError(f"生效日期格式应为 YYYY-MM-DD（如 {default}），实际为「{effective}」") from None
    if day.isoformat() < default:
        raise MenguiError(f"取消资格的生效日期 {day.isoformat()} 早于 {default}：{month} 的名单针对的是 {month} 的处方，"
                          f"取消资格最早自 {default} 起生效")
    return day.isoformat()


def publish_month(conn: sqlite3.Connection, month: str, *, by: str | None = None,
                  effective: str | None = None) -> PublishResult:
    """Make the month's stored draft public: a new revision (``disclosures``, ``disclosure_history``,
    ``disclosure_revisions``, with who and when) when it differs from the published one; its revocations
    take effect on ``effective`` (default: the first day of the next month). Refused when the list computed
    now differs from the draft (verdicts changed since): what is published is exactly what was reviewed."""
    months.bounds(month)
    info = conn.execute("SELECT * FROM disclosure_drafts WHERE month = ?", (month,)).fetchone()
    if info is None:
        raise MenguiError(f"{month} 还没有名单草稿：请先生成草稿（mengui disclose DB --month {month}），"
                          "经审定后再 mengui publish")
    when_effective = _effective(month, effective)
    draft = draft_rows(conn, month)
    computed = compute_list(conn, month, ruleset=info["ruleset_option"], allow_unaudited=bool(info["allow_unaudited"]))
    if not same_rows(draft, computed.rows):
        differences = "；".join(list_changes(draft, computed.rows))
        raise MenguiError(
            f"{month} 的名单草稿（{minute(info['computed_at'])} 生成）之后审核结论或数据有变化，现在计算的名单与草稿不同："
            f"{differences}。公示的必须是审定过的名单：请重新生成草稿（mengui disclose DB --month {month}），"
            "审定后再 mengui publish")
    rs = computed.ruleset
    words = {"ladder_title": computed.ladder.title, "policy": computed.policy, "rules": computed.rules,
             "checks": computed.checks, "ruleset_title": rs.title}
    last = conn.execute("SELECT max(revision) FROM disclosure_revisions WHERE month = ?", (month,)).fetchone()[0]
    old = published_rows(conn, month)
    published = now()
    if last is not None and same_rows(old, draft):
        with transaction(conn):
            revoked, withdrawn, moved = _sync_revocations(conn, month, old, last, published, when_effective,
                                                          explicit=bool(effective))
            if moved:
                conn.execute("UPDATE disclosure_revisions SET effective_date = ? WHERE month = ? AND revision = ?",
                             (when_effective, month, last))
            conn.execute("UPDATE disclosure_drafts SET published_revision = ?, published_at = ? WHERE month = ?",
                         (last, published, month))
            _mark_published(conn, month, False, published, computed.depends_on)
        return PublishResult(published_disclosure(conn, month, words), False, computed.ladder, stale_months(conn),
                             revoked, withdrawn, moved)
    revision = (last or 0) + 1
    changes = list_changes(old, draft) if last is not None else []
    with transaction(conn):
        conn.execute(
            "INSERT INTO disclosure_revisions (month, revision, created_at, ladder, ruleset, doctors, pending, changes, "
            "published_at, published_by, effective_date, drafted_at, depends_on) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (month, revision, published, computed.ladder.name, f"{rs.name} {rs.version}", len(draft), computed.pending,
             json.dumps(changes, ensure_ascii=False), published, by, when_effective, info["computed_at"],
             json.dumps(computed.depends_on)))
        values = [(r.month, revision, r.doctor_code, r.doctor_name, r.department, r.level, r.action,
                   r.unreasonable_count, r.reasons) for r in draft]
        conn.executemany(
            "INSERT INTO disclosure_history (month, revision, doctor_code, doctor_name, department, level, action, "
            "unreasonable_count, reasons) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
        conn.execute("DELETE FROM disclosures WHERE month = ?", (month,))
        conn.executemany(
            "INSERT INTO disclosures (month, revision, doctor_code, doctor_name, department, level, action, "
            "unreasonable_count, reasons) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
        revoked, withdrawn, moved = _sync_revocations(conn, month, draft, revision, published, when_effective,
                                                      explicit=bool(effective))
        conn.execute("UPDATE disclosure_drafts SET published_revision = ?, published_at = ?, base_revision = ? "
                     "WHERE month = ?", (revision, published, revision, month))
        _mark_published(conn, month, True, published, computed.depends_on)
    return PublishResult(published_disclosure(conn, month, words), True, computed.ladder, stale_months(conn),
                         revoked, withdrawn, moved)


def _sync_revocations(conn, month, rows, revision, when, effective, explicit):
    """Make ``revocations`` say what the month's published list says: a doctor it revokes is revoked from
    ``effective`` (unless already revoked by an earlier list and not reinstated); a revocation of this month
    the list no longer makes is withdrawn (void: it never took effect). Returns (revoked, withdrawn,
    rescheduled)."""
    revoked, withdrawn, moved = [], [], []
    listed = {r.doctor_code for r in rows if r.action == "revoke"}
    for doctor in sorted(listed):
        own = conn.execute("SELECT * FROM revocations WHERE doctor_code = ? AND month = ?", (doctor, month)).fetchone()
        if own is not None and own["withdrawn_at"] is None:
            if explicit and own["reinstated_at"] is None and own["effective_date"] != effective:
                conn.execute("UPDATE revocations SET effective_date = ? WHERE doctor_code = ? AND month = ?",
                             (effective, doctor, month))
                moved.append((doctor, effective))
            continue
        active = conn.execute("SELECT 1 FROM revocations WHERE doctor_code = ? AND reinstated_at IS NULL "
                              "AND withdrawn_at IS NULL", (doctor,)).fetchone()
        if active:
            continue  # still revoked by an earlier list
        conn.execute(
            "INSERT INTO revocations (doctor_code, month, revoked_at, effective_date, revision) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (doctor_code, month) DO UPDATE SET revoked_at = excluded.revoked_at, "
            "effective_date = excluded.effective_date, revision = excluded.revision, "
            "withdrawn_at = NULL, withdrawn_note = NULL", (doctor, month, when, effective, revision))
        revoked.append((doctor, effective))
    for (doctor,) in conn.execute(
            "SELECT doctor_code FROM revocations WHERE month = ? AND withdrawn_at IS NULL AND reinstated_at IS NULL",
            (month,)).fetchall():
        if doctor not in listed:
            conn.execute("UPDATE revocations SET withdrawn_at = ?, withdrawn_note = ? WHERE doctor_code = ? AND month = ?",
                         (when, f"{month} 公示名单第 {revision} 版不再取消其资格", doctor, month))
            withdrawn.append(doctor)
    return revoked, withdrawn, moved


def list_now(conn: sqlite3.Connection, month: str) -> tuple[list[DisclosureRow] | None, str | None]:
    """The month's list as computed from the database now, with the options of its stored draft (nothing
    stored): (the rows, None), or (None, why it cannot be computed)."""
    info = conn.execute("SELECT ruleset_option, allow_unaudited FROM disclosure_drafts WHERE month = ?",
                        (month,)).fetchone()
    try:
        computed = compute_list(conn, month, ruleset=info["ruleset_option"] if info else None,
                                allow_unaudited=bool(info["allow_unaudited"]) if info else False)
    except MenguiError as ex:
        return None, str(ex)
    return computed.rows, None


def compare_now(conn: sqlite3.Connection, month: str) -> tuple[list[str] | None, str | None]:
    """The list computed now against the published one, by content: (the changes — [] when they are the
    same list, None when nothing is published or the list cannot be computed —, why it cannot be)."""
    if conn.execute("SELECT max(revision) FROM disclosure_revisions WHERE month = ?", (month,)).fetchone()[0] is None:
        return None, None
    rows, error = list_now(conn, month)
    if rows is None:
        return None, error
    old = published_rows(conn, month)
    return ([] if same_rows(old, rows) else list_changes(old, rows)), None


def reinstate(conn: sqlite3.Connection, doctor_code: str, note: str | None, on: str | None = None) -> str:
    """Lift a doctor's active revocation from the day ``on`` (YYYY-MM-DD; default today: the roster's
    decision); return the month it was revoked in."""
    row = conn.execute("SELECT month, effective_date FROM revocations WHERE doctor_code = ? AND reinstated_at IS NULL "
                       "AND withdrawn_at IS NULL", (doctor_code,)).fetchone()
    if row is None:
        raise MenguiError(f"医师 {doctor_code} 目前没有被取消定岗资格，无需恢复")
    try:
        day = date.fromisoformat(on) if on else date.fromisoformat(now()[:10])
    except ValueError:
        raise MenguiError(f"恢复日期格式应为 YYYY-MM-DD，实际为「{on}」") from None
    with transaction(conn):
        conn.execute("UPDATE revocations SET reinstated_at = ?, reinstated_on = ?, reinstated_note = ? "
                     "WHERE doctor_code = ? AND month = ?", (now(), day.isoformat(), note, doctor_code, row[0]))
    return row[0]
