"""Text helpers every output shares: display width of CJK text, Markdown escaping, writing a text
format to a path or a stream, and timestamps to the minute.

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

from .. import times
from ..db.files import open_private

__all__ = ["OFFICE", "display_width", "is_path", "is_wide", "md", "minute", "text_writer"]

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




def minute(text: str | None, empty: str = "—") -> str:
    """A recorded time as people read it: ``2026-11-30T12:26:36+00:00`` → ``2026-11-30 20:26`` (Beijing
    time); other text as it is."""
    return times.shown(text, empty)


def is_path(target: Any) -> bool:
    return isinstance(target, (str, os.PathLike))


def text_writer(render: Callable[[Any], str]) -> Callable[[Any, Any], None]:
    """``write(value, target)`` for a text format: ``target`` is a path (written UTF-8, owner-only) or
    an open text stream."""

    def write(value: Any, target: Any) -> None:
        text = render(value)
        if is_path(target):
            with open_private(target, "w", encoding="utf-8", newline="") as fh:
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
