"""Dependency-free SVG charts for the monthly report.

Every function returns SVG markup (a string) that can be inlined in HTML or saved as a
``.svg`` file: ``role="img"`` with a ``<title>`` and a ``<desc>`` that spells out the data
for screen readers, Chinese labels, a legend, and one colour per series. All text is
escaped. Layout is computed here (no browser measurement), with a width estimate that
treats CJK characters as one em and Latin characters as about half an em.

Colours are keyed by *check id* (:func:`check_colours`) so that the same check has the
same colour in every chart of a report, on the site's dashboard and from month to month: the
plugin's own colour, else one derived from the id (:func:`mengui_core.labels.check_colour`, a
colour-blind-safe palette). Grey is reserved for "未审核" (never audited) and is never given to a
series.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
from typing import Iterable, Mapping, Sequence

from ..labels import CHECK_PALETTE, check_colour
from .text import is_wide

FONT_FAMILY = "'Noto Sans CJK SC','Source Han Sans SC','Microsoft YaHei','PingFang SC',sans-serif"
TEXT = "#222222"
MUTED = "#666666"
GRID = "#e3e3e3"
AXIS = "#9a9a9a"
MISSING_FILL = "#f2f2f2"
MISSING_STROKE = "#8c8c8c"

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def esc(value) -> str:
    """Text → safe XML/HTML text and attribute value (characters XML forbids are dropped)."""
    return html.escape(_INVALID_XML.sub("", str(value)), quote=True)


def check_colours(check_ids: Iterable[str], overrides: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """One colour per check id: the plugin's own (``overrides``: check id → ``Check.colour``), else the
    one :func:`mengui_core.labels.check_colour` derives from the id — the same in every chart."""
    overrides = overrides or {}
    return {cid: check_colour(cid, overrides.get(cid)) for cid in dict.fromkeys(check_ids)}


def text_width(text: str, size: float) -> float:
    """Estimated rendered width of ``text`` in px at font ``size``: a wide (CJK) character is one em."""
    width = 0.0
    for ch in str(text):
        if is_wide(ch):  # the one test of CJK width (mengui_core.outputs.text)
            width += size
        elif ch in "il.,:;'|!":
            width += size * 0.3
        elif ch.isupper() or ch in "mwMW@%":
            width += size * 0.7
        else:
            width += size * 0.56
    return width


def _truncate(text: str, size: float, max_width: float) -> str:
    if text_width(text, size) <= max_width:
        return text
    out = ""
    for ch in text:
        if text_width(out + ch + "…", size) > max_width:
            break
        out += ch
    return out + "…"


def _num(value: float) -> str:
    """A coordinate, rounded to 0.1 px, without a trailing ``.0``."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _nice_scale(maximum: int, ticks: int = 5) -> tuple[int, int]:
    """(axis maximum, step) for non-negative integer data: steps of 1, 2, 5 × 10ⁿ."""
    if maximum <= 0:
        return ticks, 1
    raw = maximum / ticks
    magnitude = 10 ** max(0, math.floor(math.log10(raw))) if raw >= 1 else 1
    for factor in (1, 2, 5, 10):
        step = factor * magnitude
        if step >= raw:
            break
    step = max(1, int(step))
    return step * math.ceil(maximum / step), step


def _chart_id(kind: str, *parts) -> str:
    digest = hashlib.sha1(repr((kind,) + parts).encode("utf-8")).hexdigest()[:8]
    return f"{kind}-{digest}"


def _series_colours(series: Mapping[str, Sequence], colors: Mapping[str, str] | None) -> dict[str, str]:
    colors = dict(colors or {})
    result = {}
    spare = iter(c for c in CHECK_PALETTE if c not in colors.values())
    for label in series:
        result[label] = colors.get(label) or next(spare, "#444444")
    return result


def _hatch_pattern(pid: str) -> str:
    return (
        f'<pattern id="{pid}-hatch" patternUnits="userSpaceOnUse" width="8" height="8" '
        f'patternTransform="rotate(45)">'
        f'<rect width="8" height="8" fill="{MISSING_FILL}"/>'
        f'<line x1="0" y1="0" x2="0" y2="8" stroke="{MISSING_STROKE}" stroke-width="2"/></pattern>'
    )


def _legend(entries: list[tuple[str, str]], x0: float, y0: float, max_width: float,
            size: float = 12) -> tuple[list[str], float]:
    """Legend items (label, fill) laid out left to right, wrapping; returns (markup, height)."""
    parts: list[str] = []
    x, y = x0, y0
    row_height = size + 10
    for label, fill in entries:
        item_width = 14 + 6 + text_width(label, size) + 18
        if x > x0 and x + item_width - 18 > x0 + max_width:
            x, y = x0, y + row_height
        parts.append(
            f'<g class="legend-item"><rect x="{_num(x)}" y="{_num(y)}" width="14" height="14" rx="2" '
            f'fill="{esc(fill)}" stroke="#ffffff" stroke-width="0.5"/>'
            f'<text x="{_num(x + 20)}" y="{_num(y + 11.5)}" font-size="{_num(size)}" fill="{TEXT}">'
            f'{esc(label)}</text></g>'
        )
        x += item_width
    height = (y - y0) + row_height if entries else 0
    return parts, height


def _open_svg(pid: str, width: int, height: float, title: str, description: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'aria-labelledby="{pid}-title {pid}-desc" width="{width}" height="{_num(height)}" '
        f'viewBox="0 0 {width} {_num(height)}" font-family="{esc(FONT_FAMILY)}" font-size="12">',
        f'<title id="{pid}-title">{esc(title)}</title>',
        f'<desc id="{pid}-desc">{esc(description)}</desc>',
    ]


def _describe(categories: Sequence[str], series: Mapping[str, Sequence], missing: set[int],
              unit: str, missing_label: str) -> str:
    lines = []
    for i, category in enumerate(categories):
        if i in missing:
            lines.append(f"{category}：{missing_label}")
            continue
        values = [(label, _value(values, i)) for label, values in series.items()]
        total = sum(v for _, v in values)
        shown = "，".join(f"{label} {v}" for label, v in values if v)
        lines.append(f"{category}：合计 {total}{unit}" + (f"（{shown}）" if shown else ""))
    return "；".join(lines) + "。"


def _value(values: Sequence, i: int) -> int:
    if i >= len(values) or values[i] is None:
        return 0
    return max(0, int(values[i]))


def stacked_bars(
    categories: Sequence[str],
    series: Mapping[str, Sequence[int | None]],
    *,
    title: str = "",
    missing: Iterable[int | str] = (),
    colors: Mapping[str, str] | None = None,
    width: int = 720,
    height: int = 320,
    unit: str = "",
    missing_label: str = "未审核",
    description: str | None = None,
    chart_id: str | None = None,
) -> str:
    """Vertical stacked bars: one bar per category (e.g. month), one stacked segment per series.

    ``series`` maps a legend label to one value per category (stacked bottom-up in the
    mapping's order). ``missing`` lists categories (by index or by label) that have no data
    at all — e.g. a month that was never audited: they are drawn as a full-height hatched
    grey bar labelled ``missing_label``, never as zero. A category whose values are all
    ``None`` is treated as missing too. ``colors`` maps labels to CSS colours.
    """
    categories = [str(c) for c in categories]
    n = len(categories)
    missing_idx = {m if isinstance(m, int) else categories.index(str(m))
                   for m in missing if isinstance(m, int) or str(m) in categories}
    missing_idx = {i for i in missing_idx if 0 <= i < n}
    for i in range(n):
        if series and all(i >= len(v) or v[i] is None for v in series.values()):
            missing_idx.add(i)
    title = title or "堆叠柱状图"
    pid = chart_id or _chart_id("bars", title, tuple(categories), tuple((k, tuple(v)) for k, v in series.items()))
    fills = _series_colours(series, colors)
    description = description or _describe(categories, series, missing_idx, unit, missing_label)

    margin_left, margin_right = 52, 16
    legend_entries = [(label, fills[label]) for label in series]
    if missing_idx:
        legend_entries.append((missing_label, f"url(#{pid}-hatch)"))
    legend, legend_height = _legend(legend_entries, margin_left, 8, width - margin_left - margin_right)
    plot_top = 8 + legend_height + 22  # room for totals above the tallest bar
    plot_left, plot_right = margin_left, width - margin_right
    plot_width = plot_right - plot_left

    band = plot_width / max(n, 1)
    bar_width = min(band * 0.62, 72)
    label_size = 12
    rotate = any(text_width(c, label_size) > band - 6 for c in categories)
    x_label_height = (max((text_width(c, label_size) for c in categories), default=0) * 0.6 + 18) if rotate else 26
    plot_bottom = height - x_label_height
    if plot_bottom - plot_top < 120:  # never squash the plot: grow the chart instead
        plot_bottom = plot_top + 120
        height = int(math.ceil(plot_bottom + x_label_height))
    plot_height = plot_bottom - plot_top

    totals = [sum(_value(v, i) for v in series.values()) for i in range(n)]
    top_value = max((t for i, t in enumerate(totals) if i not in missing_idx), default=0)
    axis_max, step = _nice_scale(top_value)

    def y_of(value: float) -> float:
        return plot_bottom - plot_height * value / axis_max

    out = _open_svg(pid, width, height, title, description)
    out.append(f"<defs>{_hatch_pattern(pid)}</defs>")
    out.extend(legend)
    # grid and y axis
    out.append('<g class="axis">')
    for tick in range(0, axis_max + 1, step):
        y = y_of(tick)
        out.append(f'<line x1="{plot_left}" y1="{_num(y)}" x2="{plot_right}" y2="{_num(y)}" '
                   f'stroke="{AXIS if tick == 0 else GRID}" stroke-width="1"/>')
        out.append(f'<text x="{plot_left - 8}" y="{_num(y + 4)}" text-anchor="end" fill="{MUTED}">{tick}</text>')
    if unit:
        out.append(f'<text x="{plot_left - 8}" y="{_num(plot_top - 14)}" text-anchor="end" fill="{MUTED}">'
                   f'{esc(unit)}</text>')
    out.append("</g>")

    for i, category in enumerate(categories):
        centre = plot_left + band * (i + 0.5)
        x = centre - bar_width / 2
        out.append(f'<g class="bar" data-category="{esc(category)}">')
        if i in missing_idx:
            out.append(
                f'<rect x="{_num(x)}" y="{_num(plot_top)}" width="{_num(bar_width)}" height="{_num(plot_height)}" '
                f'fill="url(#{pid}-hatch)" stroke="{MISSING_STROKE}" stroke-width="1" stroke-dasharray="4 3">'
                f'<title>{esc(category)}：{esc(missing_label)}</title></rect>'
            )
            label_w = text_width(missing_label, 12) + 10
            mid = plot_top + plot_height / 2
            out.append(f'<rect x="{_num(centre - label_w / 2)}" y="{_num(mid - 11)}" width="{_num(label_w)}" '
                       f'height="20" rx="3" fill="#ffffff" stroke="{MISSING_STROKE}" stroke-width="0.5"/>')
            out.append(f'<text class="missing" x="{_num(centre)}" y="{_num(mid + 4)}" text-anchor="middle" '
                       f'fill="{TEXT}">{esc(missing_label)}</text>')
        else:
            base = 0
            for label, values in series.items():
                value = _value(values, i)
                if not value:
                    continue
                y_top, y_bottom = y_of(base + value), y_of(base)
                out.append(
                    f'<rect x="{_num(x)}" y="{_num(y_top)}" width="{_num(bar_width)}" '
                    f'height="{_num(y_bottom - y_top)}" fill="{esc(fills[label])}" stroke="#ffffff" stroke-width="0.75">'
                    f'<title>{esc(category)} {esc(label)}：{value}{esc(unit)}</title></rect>'
                )
                base += value
            out.append(f'<text class="total" x="{_num(centre)}" y="{_num(y_of(totals[i]) - 6)}" '
                       f'text-anchor="middle" font-weight="bold" fill="{TEXT}">{totals[i]}</text>')
        if rotate:
            ly = plot_bottom + 14
            out.append(f'<text x="{_num(centre)}" y="{_num(ly)}" text-anchor="end" fill="{TEXT}" '
                       f'transform="rotate(-35 {_num(centre)} {_num(ly)})">{esc(category)}</text>')
        else:
            out.append(f'<text x="{_num(centre)}" y="{_num(plot_bottom + 18)}" text-anchor="middle" '
                       f'fill="{TEXT}">{esc(category)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def horizontal_bars(
    categories: Sequence[str],
    series: Mapping[str, Sequence[int | None]],
    *,
    title: str = "",
    colors: Mapping[str, str] | None = None,
    width: int = 720,
    unit: str = "",
    row_height: int = 28,
    max_label_width: int | None = None,
    description: str | None = None,
    chart_id: str | None = None,
) -> str:
    """Horizontal stacked bars: one row per category (e.g. department), stacked by series.

    Rows are drawn in the given order (sort before calling). Long category labels are
    shortened with "…" (the full text stays in the row's tooltip and in ``<desc>``).
    The chart's height follows from the number of rows.
    """
    categories = [str(c) for c in categories]
    n = len(categories)
    title = title or "横向堆叠条形图"
    pid = chart_id or _chart_id("hbars", title, tuple(categories), tuple((k, tuple(v)) for k, v in series.items()))
    fills = _series_colours(series, colors)
    description = description or _describe(categories, series, set(), unit, "")

    label_size = 12
    max_label_width = max_label_width or int(width * 0.28)
    label_width = min(max((text_width(c, label_size) for c in categories), default=40), max_label_width)
    plot_left = 12 + label_width + 10
    totals = [sum(_value(v, i) for v in series.values()) for i in range(n)]
    total_width = text_width(str(max(totals, default=0)) + unit, 12) + 14
    plot_right = width - max(total_width, 28)
    legend, legend_height = _legend([(label, fills[label]) for label in series], plot_left, 8,
                                    width - plot_left - 12)
    axis_top = 8 + legend_height + 6
    plot_top = axis_top + 18
    plot_width = plot_right - plot_left
    height = plot_top + max(n, 1) * row_height + 10
    axis_max, step = _nice_scale(max(totals, default=0))

    def x_of(value: float) -> float:
        return plot_left + plot_width * value / axis_max

    out = _open_svg(pid, width, height, title, description)
    out.extend(legend)
    out.append('<g class="axis">')
    for tick in range(0, axis_max + 1, step):
        x = x_of(tick)
        out.append(f'<line x1="{_num(x)}" y1="{_num(plot_top - 4)}" x2="{_num(x)}" '
                   f'y2="{_num(plot_top + max(n, 1) * row_height)}" stroke="{AXIS if tick == 0 else GRID}"/>')
        out.append(f'<text x="{_num(x)}" y="{_num(axis_top + 10)}" text-anchor="middle" fill="{MUTED}">{tick}</text>')
    out.append("</g>")
    if not n:
        out.append(f'<text x="{_num(plot_left + 8)}" y="{_num(plot_top + row_height * 0.6)}" fill="{MUTED}">无数据</text>')
    bar_height = min(row_height - 8, 20)
    for i, category in enumerate(categories):
        y = plot_top + i * row_height + (row_height - bar_height) / 2
        shown = _truncate(category, label_size, label_width)
        out.append(f'<g class="row" data-category="{esc(category)}">')
        out.append(f'<text x="{_num(plot_left - 10)}" y="{_num(y + bar_height / 2 + 4)}" text-anchor="end" '
                   f'fill="{TEXT}"><title>{esc(category)}</title>{esc(shown)}</text>')
        base = 0
        for label, values in series.items():
            value = _value(values, i)
            if not value:
                continue
            x0, x1 = x_of(base), x_of(base + value)
            out.append(f'<rect x="{_num(x0)}" y="{_num(y)}" width="{_num(x1 - x0)}" height="{_num(bar_height)}" '
                       f'fill="{esc(fills[label])}" stroke="#ffffff" stroke-width="0.75">'
                       f'<title>{esc(category)} {esc(label)}：{value}{esc(unit)}</title></rect>')
            base += value
        out.append(f'<text class="total" x="{_num(x_of(totals[i]) + 6)}" y="{_num(y + bar_height / 2 + 4)}" '
                   f'font-weight="bold" fill="{TEXT}">{totals[i]}{esc(unit)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)
