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


# SQLite's and the operating system's own words never reach a user: these say it in Chinese.
SQLITE_MESSAGES = {
    "database is locked": "数据库正被其他程序写入（如正在导入或审核数据），请稍后重试",
    "database table is locked": "数据库正被其他程序写入（如正在导入或审核数据），请稍后重试",
    "database or disk is full": "磁盘空间不足，无法写入数据库",
    "disk i/o error": "读写数据库文件时磁盘出错",
    "attempt to write a readonly database": "数据库文件是只读的，无法写入（请检查文件权限）",
    "unable to open database file": "无法打开数据库文件（请检查路径与权限）",
    "file is not a database": "数据库文件已损坏，或不是 SQLite 数据库",
    "database disk image is malformed": "数据库文件已损坏，请从备份恢复",
    "interrupted": "数据库操作被中断",
}


def sqlite_message(ex: BaseException) -> str:
    """A SQLite error in the clerk's language."""
    text = str(ex).strip().lower()
    if any("\u4e00" <= ch <= "\u9fff" for ch in text):  # a trigger's own message (RAISE) is Chinese already
        return str(ex).strip()
    for english, chinese in SQLITE_MESSAGES.items():
        if english in text:
            return chinese
    return "数据库操作失败（数据库可能被其他程序占用或已损坏）"


def os_message(ex: OSError) -> str:
    """A file-system error in the clerk's language, naming the file."""
    import errno

    reasons = {
        errno.ENOENT: "文件或目录不存在", errno.EACCES: "没有权限", errno.EPERM: "没有权限",
        errno.EISDIR: "这是一个目录，不是文件", errno.ENOTDIR: "路径中的某一级不是目录", errno.ENOSPC: "磁盘空间不足",
        errno.EROFS: "文件系统是只读的", errno.ELOOP: "链接层数过多（链接可能指向自身）",
        errno.ENAMETOOLONG: "文件名过长", errno.EEXIST: "文件已存在",
    }
    reason = reasons.get(ex.errno, f"系统错误（错误号 {ex.errno}）")
    name = ex.filename if ex.filename is not None else ""
    return f"{name}：{reason}" if name else reason
