"""Plain-text tables that line up with Chinese text (wide characters count as two columns)."""

import unicodedata


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in str(text))


def pad(text, size: int, right: bool = False) -> str:
    text = "" if text is None else str(text)
    fill = " " * max(size - width(text), 0)
    return fill + text if right else text + fill


def table(headers: list[str], rows: list[list], right: set[int] = frozenset()) -> str:
    sizes = [max([width(h)] + [width("" if r[i] is None else r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(pad(h, sizes[i], i in right) for i, h in enumerate(headers)).rstrip(),
             "  ".join("-" * s for s in sizes)]
    for row in rows:
        lines.append("  ".join(pad(v, sizes[i], i in right) for i, v in enumerate(row)).rstrip())
    return "\n".join(lines)
