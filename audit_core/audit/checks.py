"""What a check is, and the context it runs in.

A check computes its flags for one month as set-based SQL on the working tables the runner
prepares (``temp.audit_rx``, ``temp.audit_items`` and the others — the one description of them is
docs/plugins.md, "Tables prepared for checks") and adds them with :meth:`AuditContext.add_flags`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping

from ..errors import MenguiError
from ..money import format_yuan, yuan_sql, yuan_to_fen

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
    # the check's colour in charts (default: one derived from the id, see mengui_core.labels)
    colour: str | None = None

    def describe(self, params: Mapping | None = None, context: Mapping | None = None) -> str:
        """The description with the ruleset's parameters filled in (a missing one stays in braces).
        ``context`` adds what the ruleset says outside the check's section (the runner passes
        ``exempt_diseases``, ``refill_days`` and ``refill_percent``)."""
        values = _Shown({**(context or {}), **(params or {})})
        try:
            return self.description.format_map(values)
        except (ValueError, IndexError):  # stray braces: the text as written
            return self.description


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
    def __init__(self, conn: sqlite3.Connection, month: str, start: str, end: str, ruleset: "Ruleset"):
        self.conn = conn
        self.month = month
        self.start = start
        self.end = end
        self.ruleset = ruleset
        self.notes: list[str] = []
        self.check: Check | None = None
        self._items_min: int | None = None  # the disease bound audit_items was built for
        self._items_builder: Callable[[int], None] | None = None

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

    def ensure_items(self, min_diseases: int = 0) -> None:
        """Build ``temp.audit_items`` for the patients with a prescription this month whose disease
        count is at least ``min_diseases`` (0: every patient). Rebuilt only if a lower bound is asked."""
        if self._items_builder and (self._items_min is None or min_diseases < self._items_min):
            self._items_builder(min_diseases)
            self._items_min = min_diseases

    def add_flags(self, sql: str, params=()) -> int:
        """Insert the rows selected by ``sql`` as flags. ``rx_id`` and ``detail`` are required; the other
        columns are optional: ``amount_fen``, ``limit_fen``, ``related_rx_id``, ``measure`` (the number
        the ruleset's ``levels`` grade) and ``evidence`` (a JSON array of objects: the facts behind the
        flag, laid out on the review page)."""
        # LIMIT 0 only prepares the statement: its column names tell which optional columns it selects
        columns = {d[0] for d in self.conn.execute(f"SELECT * FROM ({sql}) LIMIT 0", params).description}
        missing = {"rx_id", "detail"} - columns
        if missing:
            raise MenguiError(f"规则 {self.check.id} 的查询缺少列 {'、'.join(sorted(missing))}（add_flags 至少需要 rx_id 和 detail）")
        selected = ", ".join(c if c in columns else "NULL" for c in FLAG_COLUMNS)
        cursor = self.conn.execute(
            f"INSERT INTO temp.new_flags (check_id, {', '.join(FLAG_COLUMNS)}) "
            f"SELECT '{self.check.id}', {selected} FROM ({sql})",
            params,
        )
        return cursor.rowcount
