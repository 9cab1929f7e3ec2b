"""What a disclosure ladder is, and the facts it is given.

A ladder turns the month's *strikes* (doctors with at least one unreasonable
prescription in a month) into the list to publish: each doctor's level and
action. The built-in three-strike ladder lives in ``plugins/three_strikes.py``;
another hospital replaces it by registering its own ladder and naming it in its
ruleset (``[ladder] name = "…"``).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping

from .. import months as month_names
from ..errors import MenguiError

if TYPE_CHECKING:  # the list's computation gives a ladder its ruleset
    from ..audit.ruleset import Ruleset


class LadderError(MenguiError):
    """The ladder cannot decide this month (e.g. an earlier month was never audited)."""


@dataclass
class LadderEntry:
    doctor_code: str
    level: int  # 1, 2 or 3
    action: str  # publish_code | publish_name | revoke
    unreasonable_count: int


@dataclass
class Ladder:
    """A disclosure ladder. It speaks for itself on the lists: ``policy`` is the sentence printed on
    them and ``rules`` its explanation, one line per level (then any line on how levels are counted);
    both may name the ruleset's ``[ladder]`` settings in braces (``"连续 {months_to_name} 个月"``), so
    a city's own numbers are what people read."""

    name: str
    title: str
    description: str
    policy: str
    compute: Callable[["LadderContext"], list[LadderEntry]]
    plugin: str | None = None
    rules: list[str] = field(default_factory=list)
    defaults: dict = field(default_factory=dict)  # settings the ruleset may leave out

    def explain(self, settings: Mapping | None = None) -> tuple[str, list[str]]:
        """The policy sentence and the rule lines with the ruleset's ``[ladder]`` settings filled in;
        ``{name:cn}`` writes a whole number in Chinese (``{months_to_name:cn}`` → 两)."""
        values = _Settings({**self.defaults, **(settings or {})})
        return self.policy.format_map(values), [rule.format_map(values) for rule in self.rules]


CHINESE_NUMBERS = "零一两三四五六七八九十"


class _Count(int):
    def __format__(self, spec: str) -> str:
        if spec == "cn":
            return CHINESE_NUMBERS[self] if 0 <= self <= 10 else str(int(self))
        return format(int(self), spec)


class _Settings(dict):
    def __missing__(self, key):
        return "{" + key + "}"

    def __getitem__(self, key):
        value = super().__getitem__(key)
        return _Count(value) if isinstance(value, int) and not isinstance(value, bool) else value


class LadderContext:
    """The facts a ladder may use, all read from the database."""

    def __init__(self, conn: sqlite3.Connection, month: str, ruleset: "Ruleset", start: str | None,
                 allow_unaudited: bool):
        self.conn = conn
        self.month = month
        self.ruleset = ruleset
        self.settings = ruleset.ladder
        self.start = start  # months before this one are outside the ladder (declared by the user)
        self.allow_unaudited = allow_unaudited
        self.consulted: set[str] = set()  # the months whose strikes the ladder read (what the list depends on)

    def months_back(self, count: int) -> list[str]:
        """The ``count`` months ending with this one, oldest first."""
        return [month_names.previous(self.month, back) for back in range(count - 1, -1, -1)]

    def audited_months(self) -> set[str]:
        return {row[0] for row in self.conn.execute("SELECT DISTINCT month FROM audit_runs WHERE finished_at IS NOT NULL")}

    def require_audited(self, months: list[str]) -> list[str]:
        """Refuse if a month the ladder needs was never audited; return the months that count."""
        wanted = [m for m in months if self.start is None or m >= self.start]
        missing = sorted(set(wanted) - self.audited_months())
        if self.month in missing:
            raise LadderError(f"{self.month} 还没有审核，请先运行 mengui audit DB --month {self.month}")
        if missing and not self.allow_unaudited:
            names = "、".join(missing)
            raise LadderError(
                f"无法确定 {self.month} 的公示级别：{names} 从未审核，不能当作没有不合理处方。"
                f"请先审核这些月份（mengui audit DB --month {missing[0]}），"
                f"或用 --ladder-start {self.month} 声明三级公示从 {self.month} 起算（之前月份不计），"
                f"或用 --allow-unaudited 明确把未审核月份视为无不合理处方"
            )
        return wanted

    def strikes(self, months: list[str]) -> dict[str, dict[str, int]]:
        """doctor_code -> {month: number of unreasonable prescriptions}, for the given months."""
        self.consulted.update(months)
        rows = self.conn.execute(
            """
            SELECT doctor_code, month, count(DISTINCT rx_id)
            FROM flag_status
            WHERE counts = 1 AND month IN (SELECT value FROM json_each(?))
            GROUP BY doctor_code, month
            """,
            (json.dumps(months),),
        ).fetchall()
        result: dict[str, dict[str, int]] = {}
        for doctor, month, count in rows:
            result.setdefault(doctor, {})[month] = count
        return result

    def reinstated_months(self) -> dict[str, str]:
        """doctor_code -> the latest month in which a revocation of theirs was lifted (the reinstatement's
        date, ``mengui reinstate --date``), up to this month: a later reinstatement changes nothing here."""
        rows = self.conn.execute(
            """
            SELECT doctor_code, max(substr(coalesce(reinstated_on, reinstated_at), 1, 7)) FROM revocations
            WHERE reinstated_at IS NOT NULL AND substr(coalesce(reinstated_on, reinstated_at), 1, 7) <= ?
            GROUP BY doctor_code
            """, (self.month,)
        ).fetchall()
        return {doctor: month for doctor, month in rows}
