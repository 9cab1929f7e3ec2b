"""Money: integer 分 inside, 元 with two decimals outside. No float ever touches an amount."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


def yuan_to_fen(value) -> int:
    """``"150.00"``, ``150`` or ``150.5`` 元 → 分, exactly; ValueError if not a whole number of 分."""
    if isinstance(value, bool):
        raise ValueError(value)
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as ex:
        raise ValueError(value) from ex
    fen = amount * 100
    if fen != fen.to_integral_value() or fen < 0:
        raise ValueError(value)
    return int(fen)


def format_yuan(fen: int | None, grouping: bool = True) -> str:
    """分 → ``"1,234.50"``-style 元 text (no float); ``grouping=False``: ``"1234.50"`` (CSV files)."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole:,}.{cents:02d}" if grouping else f"{sign}{whole}.{cents:02d}"


def yuan_sql(expr: str) -> str:
    """SQL text formatting a non-negative integer 分 expression as 元 with two decimals (no floats)."""
    return f"(({expr}) / 100) || '.' || substr('0' || (({expr}) % 100), -2)"
