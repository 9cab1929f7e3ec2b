"""The monthly disclosure (公示) list: what a ladder produces and what the formats print.

The ladder itself is a plugin (``register_ladders``); :mod:`mengui_core.publish` runs it,
stores the list as an append-only revision and reports what changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ACTIONS = ("publish_code", "publish_name", "revoke")
ACTION_LABELS = {
    "publish_code": "公示医师代码",
    "publish_name": "公示医师姓名",
    "revoke": "取消医保定岗医师资格",
}
LEVEL_LABELS = {1: "一级", 2: "二级", 3: "三级"}

# The columns a CSV starts with, in this order (DESIGN §4 contract).
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
        return LEVEL_LABELS.get(self.level, str(self.level))

    @property
    def action_label(self) -> str:
        return ACTION_LABELS.get(self.action, self.action)


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

    @property
    def title(self) -> str:
        year, month = self.month.split("-")
        return f"{year} 年 {int(month)} 月门规不合理处方医师公示名单"
