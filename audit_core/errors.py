"""Errors a user can act on. The CLI prints their message (Chinese) and exits non-zero."""

from dataclasses import dataclass


class MenguiError(Exception):
    """A user error: bad input, bad option, bad ruleset. Never shown with a traceback."""


@dataclass(frozen=True)
class Problem:
    """One problem in an input file, located precisely."""

    file: str
    line: int | None
    column: str | None
    value: str | None
    expected: str

    def __str__(self) -> str:
        where = [self.file]
        if self.line is not None:
            where.append(f"第 {self.line} 行")
        if self.column:
            where.append(f"列「{self.column}」")
        text = "，".join(where)
        if self.value is not None:
            text += f"：值「{self.value}」"
        return f"{text} —— {self.expected}"


class InputError(MenguiError):
    """One or more problems in input files; nothing was written."""

    MAX_SHOWN = 30

    def __init__(self, problems: list[Problem], total: int | None = None):
        self.problems = problems
        self.total = max(total or 0, len(problems))
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"输入文件有 {self.total} 处错误，本次未写入任何数据："]
        for problem in self.problems[: self.MAX_SHOWN]:
            lines.append(f"  - {problem}")
        hidden = self.total - min(len(self.problems), self.MAX_SHOWN)
        if hidden > 0:
            lines.append(f"  …… 另有 {hidden} 处错误未列出")
        return "\n".join(lines)
