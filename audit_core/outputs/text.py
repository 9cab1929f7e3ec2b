"""Text helpers every output shares: display width of CJK text, Markdown escaping, writing a text
format to a path or a stream (CSV files with a byte-order mark), a list's format from its file's
extension (:func:`choose_format`), and timestamps to the minute in Beijing time.

CJK width is measured here and nowhere else: :func:`is_wide` decides whether a character takes two
cells (a full-width or wide East Asian character), :func:`display_width` counts a string in half-width
cells (XLSX column widths, the terminal's tables) and the charts scale the same test to pixels.
"""

from __future__ import annotations

import io
import os
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from ..db.files import open_private
from ..errors import MenguiError
from ..times import minute  # noqa: F401 (re-exported: the outputs' one way to show a time)

__all__ = ["EXTENSIONS", "OFFICE", "choose_format", "display_width", "is_path", "is_wide", "md", "minute", "text_writer"]

#: who signs the lists and makes the workbooks
OFFICE = "医保办公室"


def is_wide(ch: str) -> bool:
    """Whether ``ch`` takes two half-width cells: CJK ideographs, kana, full-width forms (East Asian W, F)."""
    return unicodedata.east_asian_width(ch) in "WF"


def display_width(text: Any) -> int:
    """Width in half-width character cells: CJK and full-width characters count 2."""
    return sum(2 if is_wide(ch) else 1 for ch in str(text))


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def md(text: Any) -> str:
    """Escape a value for a Markdown table cell or line (CommonMark backslash escapes, one line)."""
    flat = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", flat)


def is_path(target: Any) -> bool:
    return isinstance(target, (str, os.PathLike))


def text_writer(render: Callable[[Any], str], *, bom: bool = False) -> Callable[[Any, Any], None]:
    """``write(value, target)`` for a text format: ``target`` is a path (written UTF-8, owner-only; with a
    byte-order mark when ``bom``: Excel on a Chinese Windows PC reads a CSV without one as GBK) or an open
    text stream (never a mark: a program reads it)."""

    def write(value: Any, target: Any) -> None:
        text = render(value)
        if is_path(target):
            with open_private(target, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
                fh.write(text)
        elif isinstance(target, (io.RawIOBase, io.BufferedIOBase)):
            raise TypeError("需要文本流（例如以文本模式打开的文件），不能写入二进制流")
        elif hasattr(target, "write"):
            target.write(text)
        else:
            raise TypeError(f"无法写入：{target!r} 既不是文件路径也不是文本流")

    write.__name__ = f"write_{render.__name__.removeprefix('render_')}"
    write.__doc__ = f"Write :func:`{render.__name__}` to a path (UTF-8) or a text stream."
    return write


#: file extensions and the format each one means (every list a command writes: the disclosure list, the
#: deductions, the review sheet)
EXTENSIONS = {".csv": "csv", ".xlsx": "xlsx", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}


def choose_format(output: str | os.PathLike | None, explicit: str | None, formats, default: str | None = "csv") -> str | None:
    """The format a list is written in: the output file's extension chooses it; an explicit ``--format``
    must agree with a known extension (a Chinese error otherwise); without a file, the explicit format or
    ``default``. ``formats``: the formats this list can be written in."""
    names = "、".join(f"{ext}（{fmt}）" for ext, fmt in EXTENSIONS.items() if fmt in formats)
    if output is None:
        return explicit or default
    suffix = os.path.splitext(str(output))[1].lower()
    implied = EXTENSIONS.get(suffix)
    if implied is not None and implied not in formats:
        raise MenguiError(f"输出文件 {output} 的扩展名 {suffix} 对应的格式 {implied} 不适用于这份名单（可用：{names}）")
    if explicit and implied and explicit != implied:
        raise MenguiError(f"--format {explicit} 与输出文件 {output} 的扩展名 {suffix}（{implied} 格式）不一致："
                          f"请去掉 --format，或把文件名改为 {os.path.splitext(str(output))[0]}{_suffix(explicit)}")
    if implied:
        return implied
    if explicit:
        return explicit
    raise MenguiError(f"无法从输出文件 {output} 的扩展名判断格式：请用 {names} 之一作扩展名，或用 --format 指定")


def _suffix(fmt: str) -> str:
    return next(ext for ext, name in EXTENSIONS.items() if name == fmt)
