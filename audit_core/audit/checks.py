"""What a check is, and the context it runs in.

A check computes its flags for one month as set-based SQL on the working tables the runner
prepares (``temp.audit_rx``, ``temp.audit_items`` and the others — the one description of them is
docs/plugins.md, "Tables prepared for checks") and adds them with :meth:`AuditContext.add_flags`.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping

from ..errors import MenguiError
from ..money import format_yuan, yuan_sql, yuan_to_fen
from .pairs import create_pairs

if TYPE_CHECKING:  # the runner gives a check its ruleset; checks never load one
    from .ruleset import Ruleset

__all__ = ["FLAG_COLUMNS", "AuditContext", "Check", "describe", "yuan_sql"]


#: the columns a check's ``add_flags`` query may select (``rx_id`` and ``detail`` are required)
FLAG_COLUMNS = ("rx_id", "detail", "amount_fen", "limit_fen", "related_rx_id", "measure", "evidence")


@dataclass
class Check:
    """One audit check. ``description`` may name the ruleset's parameters of the check in braces —
    ``"…超过 {single_cap} 元…"`` — so what people read states the active ruleset's numbers
    (:meth:`describe`); money parameters (``*_cap``, ``*_yuan``) are shown as 元."""

    id: str
    title: str
    description: str
    run: Callable[["AuditContext"], None]
    plugin: str | None = field(default=None, compare=False)
    # True when run() calls ctx.ensure_items(): such checks share one lane, which builds
    # temp.audit_items once (see lanes.py); a check that does not say so still works
    uses_items: bool = False
    # True when the check's flags come from each patient's own items alone (it reads audit_items,
    # item_spans and the catalog tables, nothing else): with several lanes every lane runs it over
    # its share of the patients, and builds audit_items for that share only
    by_patient: bool = False
    # the check's colour in charts (default: one derived from the id, see mengui_core.labels)
    colour: str | None = None
    # what a flag's measure means, in words with its unit, for the review page: a format string with
    # ``{measure}`` and any key of the flag's most significant evidence row (the one with the largest
    # ``excess_days``, else the first), e.g. "超出限额 {measure}%" or "尚余 {days_left} 天（可提前
    # {tolerance_days} 天）"; None: "衡量值 12.5" (see docs/plugins.md)
    measure_text: str | None = None
    # the example in the review page's empty note field: what a member typically writes for this check
    note_hint: str | None = None
    # True when a prescription's flag depends on other patients' prescriptions of the month (it
    # compares doctors or departments, as doctor_outlier does): the 事前 precheck, which sees one
    # patient's slice of the data, skips such a check and says so. A check that says nothing is evaluated.
    whole_month: bool = False

    def describe(self, params: Mapping | None = None, context: Mapping | None = None) -> str:
        """The description with the ruleset's parameters filled in (a missing one stays in braces).
        ``context`` adds what the ruleset says outside the check's section (the runner passes
        ``exempt_diseases``, ``refill_days`` and ``refill_percent``)."""
        values = _Shown({**(context or {}), **(params or {})})
        try:
            return self.description.format_map(values)
        except (ValueError, IndexError):  # stray braces: the text as written
            return self.description


    def show_measure(self, measure, evidence=None) -> str:
        """A flag's measure as people read it (see ``measure_text``); '' when the flag has none."""
        if measure is None:
            return ""
        rows = [e for e in evidence or [] if isinstance(e, dict)]
        row = max(rows, key=lambda e: e.get("excess_days") or 0) if rows else {}
        if self.measure_text:
            try:
                shown = _Measure(measure) if isinstance(measure, (int, float)) else measure
                return self.measure_text.format_map({**row, "measure": shown})
            except (KeyError, ValueError, IndexError, TypeError):
                pass
        return f"衡量值 {_Measure(measure)}" if isinstance(measure, (int, float)) else f"衡量值 {measure}"


class _Measure(float):
    """A measure as people read it when ``measure_text`` gives no format: three significant digits at
    most, never an exponent (``0.0033``, ``12.5``, ``1,900``); with a format spec, as that spec says."""

    def __format__(self, spec: str) -> str:
        if spec:
            return format(float(self), spec)
        value = float(self)
        if value == int(value):
            return f"{int(value):,}"
        size = abs(value)
        if size >= 100:
            return f"{value:,.0f}"
        decimals = 1 if size >= 10 else 2 if size >= 1 else max(2, 1 - int(f"{size:e}".split("e")[1]) + 1)
        return f"{value:.{decimals}f}".rstrip("0").rstrip(".")

    def __str__(self) -> str:
        return self.__format__("")


def describe(check: Check, ruleset: "Ruleset") -> str:
    """What ``check`` flags under ``ruleset``, in the ruleset's own numbers."""
    refill = ruleset.refill_tolerance.default
    exempt = "、".join(ruleset.disease_name(code) or code for code in ruleset.exempt_diseases) or "免于限额病种"
    config = ruleset.checks.get(check.id)
    return check.describe(config.params if config else {},
                          {"exempt_diseases": exempt, "refill_days": refill.days, "refill_percent": f"{refill.percent:g}"})


class _Shown(dict):
    """Parameters as people read them: money in 元, lists joined, unknown names left in braces."""

    def __missing__(self, key):
        return "{" + key + "}"

    def __getitem__(self, key):
        value = super().__getitem__(key)
        if key.endswith(("_cap", "_yuan")):
            try:
                return format_yuan(yuan_to_fen(value))
            except ValueError:
                return value
        if isinstance(value, (list, tuple)):
            return "、".join(map(str, value))
        return value


class AuditContext:
    """What a check's ``run`` gets: the lane's connection, the month, the ruleset, and the builder of
    ``temp.audit_items`` (given by the runner when it makes the context; ``None``: no item table)."""

    def __init__(self, conn: sqlite3.Connection, month: str, start: str, end: str, ruleset: "Ruleset",
                 items_builder: Callable[["AuditContext", int], None] | None = None,
                 share: tuple[int, int] = (0, 1)):
        self.conn = conn
        self.month = month
        self.start = start
        self.end = end
        self.ruleset = ruleset
        self.notes: list[str] = []
        self.check: Check | None = None
        self._items_builder = items_builder
        self._items_built: tuple[int, bool] | None = None  # (disease bound, for this lane's share only)
        self.items_seconds = 0.0  # how long building audit_items took on this context
        #: (this lane, how many lanes): a ``by_patient`` check sees the patients of its lane's share
        self.share = share

    # -- the current check's ruleset section
    @property
    def config(self):
        return self.ruleset.checks[self.check.id]

    def param(self, key: str, default=None):
        return self.config.params.get(key, default)

    def fen(self, key: str, default=None) -> int:
        """A money parameter of the current check, in 分."""
        value = self.param(key, default)
        if value is None:
            raise MenguiError(f"规则集 {self.ruleset.name} 的 [checks.{self.check.id}] 缺少参数 {key}")
        return yuan_to_fen(value)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    @property
    def items_share(self) -> bool:
        """True when ``audit_items`` holds only this lane's share of the patients (a ``by_patient``
        check running on one of several lanes)."""
        return self.share[1] > 1 and self.check is not None and self.check.by_patient

    def ensure_items(self, min_diseases: int = 0) -> None:
        """Build ``temp.audit_items`` for the patients with a prescription this month whose disease
        count is at least ``min_diseases`` (0: every patient) — for a ``by_patient`` check on one of
        several lanes, those of the lane's share. Rebuilt only if it does not cover that already."""
        if self._items_builder is None:
            return
        built = self._items_built
        if built is None or min_diseases < built[0] or built[1] != self.items_share:
            started = time.perf_counter()
            self._items_builder(self, min_diseases)
            self.items_seconds += time.perf_counter() - started
            self._items_built = (min_diseases, self.items_share)

    def item_pairs(self, same: str, min_diseases: int = 0, table: str = "item_pairs", params: dict | None = None
                   ) -> str:
        """Find the pairs of a patient's items that the drug checks look at, and return the name of the
        TEMP table holding them (``temp.item_pairs`` unless ``table`` says otherwise): item ``b`` dated
        in the month (at fault), an earlier item ``a`` of the same patient for which the SQL condition
        ``same`` holds on the ``item_spans`` rows ``a`` and ``b``, and ``a``'s supply still in hand
        on ``b``'s first day beyond the ruleset's refill tolerance. Columns: ``patient_id, b_seq,
        b_line, a_seq, a_line`` (join ``temp.audit_items`` on ``patient_id, seq, line_no`` for names
        and dates), ``overlap`` (days in hand), ``tolerance``, ``excess`` and ``earliest`` (the first
        on-time day for ``b``). Builds ``audit_items`` first; ``SAME_DRUG`` (``mengui_core``) is the
        condition of "the same drug"."""
        self.ensure_items(min_diseases)
        create_pairs(self.conn, table, same, min_diseases, params)
        return f"temp.{table}"

    def add_flags(self, sql: str, params=()) -> int:
        """Insert the rows selected by ``sql`` as flags. ``rx_id`` and ``detail`` are required; the other
        columns are optional: ``amount_fen``, ``limit_fen``, ``related_rx_id``, ``measure`` (the number
        the ruleset's ``levels`` grade) and ``evidence`` (a JSON array of objects: the facts behind the
        flag, laid out on the review page)."""
        columns = _selected_columns(self.conn, sql, params)
        missing = {"rx_id", "detail"} - columns
        if missing:
            raise MenguiError(f"规则 {self.check.id} 的查询缺少列 {'、'.join(sorted(missing))}（add_flags 至少需要 rx_id 和 detail）")
        selected = ", ".join(c if c in columns else f"NULL AS {c}" for c in FLAG_COLUMNS)
        # Several rows for one prescription are merged as they arrive (details joined, the largest
        # measure kept, evidence arrays concatenated; see MERGE): no sort of every flag afterwards.
        cursor = self.conn.execute(
            f"INSERT INTO temp.new_flags (check_id, {', '.join(FLAG_COLUMNS)}, evidence_n) "
            f"SELECT '{self.check.id}', *, evidence IS NOT NULL FROM (SELECT {selected} FROM ({sql})) "
            f"WHERE true {MERGE}",
            params,
        )
        return cursor.rowcount


#: the column names each check query selects, by its SQL text: the 事前 precheck runs the same
#: queries for every draft, and preparing a query only to learn its columns costs as much as running it
_COLUMNS: dict[str, frozenset[str]] = {}


def _selected_columns(conn: sqlite3.Connection, sql: str, params) -> frozenset[str]:
    found = _COLUMNS.get(sql)
    if found is None:
        # LIMIT 0 only prepares the statement: its column names tell which optional columns it selects
        found = frozenset(d[0] for d in conn.execute(f"SELECT * FROM ({sql}) LIMIT 0", params).description)
        if len(_COLUMNS) >= 1024:
            _COLUMNS.clear()
        _COLUMNS[sql] = found
    return found


def _inner(expr: str) -> str:
    """A JSON array's text without its brackets; NULL when it is empty."""
    return f"nullif(substr({expr}, 2, length({expr}) - 2), '')"


#: How ``add_flags`` merges a row into the flag already there for the same (prescription, check):
#: like GROUP BY with group_concat(detail, '；'), max() of the numbers, min(related_rx_id), and the
#: evidence arrays joined into one (one evidence alone is kept as it is; ``evidence_n`` counts them).
MERGE = f"""
    ON CONFLICT (rx_id, check_id) DO UPDATE SET
        detail = coalesce(detail || '；' || excluded.detail, detail, excluded.detail),
        amount_fen = coalesce(max(amount_fen, excluded.amount_fen), amount_fen, excluded.amount_fen),
        limit_fen = coalesce(max(limit_fen, excluded.limit_fen), limit_fen, excluded.limit_fen),
        related_rx_id = coalesce(min(related_rx_id, excluded.related_rx_id), related_rx_id, excluded.related_rx_id),
        measure = coalesce(max(measure, excluded.measure), measure, excluded.measure),
        evidence = CASE WHEN excluded.evidence IS NULL THEN evidence
                        WHEN evidence_n = 0 THEN excluded.evidence
                        ELSE '[' || coalesce({_inner('evidence')} || ',' || {_inner('excluded.evidence')},
                                             {_inner('evidence')}, {_inner('excluded.evidence')}) || ']' END,
        evidence_n = evidence_n + (excluded.evidence IS NOT NULL)
"""

#: the table the checks of one lane write their flags to (``add_flags``), one row per (prescription, check)
NEW_FLAGS = """CREATE TABLE {schema}.new_flags (
    check_id TEXT, rx_id TEXT, detail TEXT, amount_fen INTEGER, limit_fen INTEGER, related_rx_id TEXT,
    measure REAL, evidence TEXT, evidence_n INTEGER, UNIQUE (rx_id, check_id))"""


def create_new_flags(conn: sqlite3.Connection, schema: str = "temp") -> None:
    conn.execute(f"DROP TABLE IF EXISTS {schema}.new_flags")
    conn.execute(NEW_FLAGS.format(schema=schema))
