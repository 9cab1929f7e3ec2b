"""HTML pages from Jinja2 templates (``templates/`` beside this module).

The modules that make a page gather its data (SQL, masking, sums) and hand it to a template; the
templates lay it out, and all of them inline the one stylesheet, ``templates/style.css``, so every
file stands alone. Values are HTML-escaped (autoescape); characters XML forbids are dropped, so a
control character from a HIS export cannot break a page. SVG charts come in as :class:`Markup`.

Filters the templates use: ``n`` (a whole number with thousands separators, 0 for nothing),
``yuan`` (分 → 元 with two decimals) and ``minute`` (a timestamp to the minute).
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib.resources import files
from typing import Any

from markupsafe import Markup

from ..money import format_yuan
from .text import minute

__all__ = ["Markup", "render", "stylesheet"]

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def number(value: Any) -> str:
    """``1234`` → ``"1,234"``; nothing → ``"0"``."""
    return f"{int(value or 0):,}"


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    def finalize(value):
        if value is None:
            return ""
        if isinstance(value, str) and not isinstance(value, Markup):
            return _INVALID_XML.sub("", value)
        return value

    env = jinja2.Environment(
        loader=jinja2.PackageLoader(__package__, "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=finalize,
    )
    env.filters.update(n=number, yuan=format_yuan, minute=minute)
    return env


def render(template: str, **context: Any) -> str:
    """The page ``template`` (a file in ``templates/``) rendered with ``context``."""
    return _environment().get_template(template).render(**context)


def stylesheet() -> str:
    """The shared stylesheet's text, for a page that inlines it without a template of ours."""
    return (files(__package__) / "templates" / "style.css").read_text(encoding="utf-8")

