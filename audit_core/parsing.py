"""Vectorised parsers for input columns (pandas string Series in, Python values out).

Each parser takes the raw text Series (empty string for an empty cell) and
returns ``(values, bad)``: an object Series of parsed values (``None`` where
empty) and a boolean Series marking cells that could not be parsed. Nothing
here loops over rows in Python.
"""

from __future__ import annotations

import pandas as pd

# 2026-10-03, 2026/10/3, 2026.10.03, 20261003, each optionally with a time.
_DATE = (
    r"^(?P<y>\d{4})(?:[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})|(?P<m2>\d{2})(?P<d2>\d{2}))"
    r"(?:[ T]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?)?$"
)
_MONEY = r"^(?P<sign>-?)(?P<int>\d+)(?:\.(?P<frac>\d{1,2})0*)?$"
_INT = r"^[+]?\d+(?:\.0+)?$"
_DECIMAL = r"^-?\d+(?:\.\d+)?$"

EXPECTED = {
    "date": "应为日期，如 2026-10-03、2026/10/03 或 20261003",
    "datetime": "应为日期（可带时间），如 2026-10-03 09:30:00",
    "money": "应为金额（元），最多两位小数，如 123.45",
    "int": "应为非负整数",
    "decimal": "应为数字，如 2 或 0.35",
    "bool": "应为 1/0、是/否",
    "codes": "应为以分号分隔的病种编码，如 M03900;M01600",
}

BOOL_VALUES = {"1": 1, "0": 0, "是": 1, "否": 0, "y": 1, "n": 0, "yes": 1, "no": 0,
               "true": 1, "false": 0, "有": 1, "无": 0}


def _obj(series: pd.Series) -> pd.Series:
    return series.astype(object)


def clean_numeric_text(raw: pd.Series) -> pd.Series:
    """Full-width digits → ASCII, drop spaces, ¥/元 and thousands separators."""
    text = raw.str.normalize("NFKC").str.strip()
    return text.str.replace(r"[\s,¥￥]|元$", "", regex=True)


def parse_text(raw: pd.Series):
    text = raw.str.strip()
    return _obj(text).where(text != "", None), pd.Series(False, index=raw.index)


def parse_id(raw: pd.Series):
    text = raw.str.normalize("NFKC").str.strip()
    return _obj(text).where(text != "", None), pd.Series(False, index=raw.index)


def parse_code(raw: pd.Series):
    text = raw.str.normalize("NFKC").str.strip().str.upper()
    return _obj(text).where(text != "", None), pd.Series(False, index=raw.index)


def parse_codes(raw: pd.Series):
    text = raw.str.normalize("NFKC").str.upper().str.replace(r"[;,，；、|\s]+", ";", regex=True)
    text = text.str.strip(";")
    bad = (text != "") & ~text.str.fullmatch(r"[A-Z0-9.\-]+(?:;[A-Z0-9.\-]+)*")
    return _obj(text).where(text != "", None), bad


def parse_date(raw: pd.Series, with_time: bool = False):
    text = raw.str.normalize("NFKC").str.strip()
    empty = text == ""
    parts = text.str.extract(_DATE)
    month = parts["m"].fillna(parts["m2"])
    day = parts["d"].fillna(parts["d2"])
    iso = parts["y"] + "-" + month.str.zfill(2) + "-" + day.str.zfill(2)
    real = pd.to_datetime(iso, format="%Y-%m-%d", errors="coerce")
    bad = ~empty & real.isna()
    values = _obj(iso).where(~empty & ~bad, None)
    if not with_time:
        return values, bad
    time = parts["H"].str.zfill(2) + ":" + parts["M"] + ":" + parts["S"].fillna("00")
    bad_time = time.notna() & ((parts["H"].astype(float) > 23) | (parts["M"].astype(float) > 59))
    times = _obj(time).where(time.notna() & ~bad & ~bad_time, None)
    return (values, times), bad | bad_time


def parse_money(raw: pd.Series):
    """元 text → integer 分, exactly: no float ever touches the amount."""
    text = clean_numeric_text(raw)
    empty = text == ""
    parts = text.str.extract(_MONEY)
    bad = ~empty & parts["int"].isna()
    ok = ~empty & ~bad
    whole = pd.to_numeric(parts["int"].where(ok, "0"), errors="coerce").fillna(0).astype("int64")
    frac = pd.to_numeric(parts["frac"].fillna("").str.ljust(2, "0").where(ok, "0"),
                         errors="coerce").fillna(0).astype("int64")
    fen = (whole * 100 + frac) * parts["sign"].map({"-": -1}).fillna(1).astype("int64")
    return _obj(fen).where(ok, None), bad


def parse_int(raw: pd.Series):
    text = clean_numeric_text(raw)
    empty = text == ""
    bad = ~empty & ~text.str.fullmatch(_INT).fillna(False).astype(bool)
    ok = ~empty & ~bad
    values = pd.to_numeric(text.where(ok, "0").str.replace(r"\.0+$", "", regex=True)).astype("int64")
    return _obj(values).where(ok, None), bad


def parse_decimal(raw: pd.Series):
    text = clean_numeric_text(raw)
    empty = text == ""
    bad = ~empty & ~text.str.fullmatch(_DECIMAL).fillna(False).astype(bool)
    return _obj(text).where(~empty & ~bad, None), bad


def parse_bool(raw: pd.Series):
    text = raw.str.normalize("NFKC").str.strip().str.lower()
    mapped = text.map(BOOL_VALUES)
    empty = text == ""
    bad = ~empty & mapped.isna()
    ints = mapped.fillna(-1).astype("int64")
    return _obj(ints).where(~empty & ~bad, None), bad


def parse_enum(raw: pd.Series, choices: dict[str, str]):
    text = raw.str.normalize("NFKC").str.strip()
    lookup = {k.lower(): v for k, v in choices.items()}
    mapped = text.str.lower().map(lookup)
    empty = text == ""
    bad = ~empty & mapped.isna()
    return _obj(mapped).where(~empty & ~bad, None), bad


def expected_text(column) -> str:
    if column.type == "enum":
        return "应为以下之一：" + "、".join(column.choices)
    return EXPECTED.get(column.type, "格式不正确")


PARSERS = {
    "text": parse_text,
    "id": parse_id,
    "code": parse_code,
    "codes": parse_codes,
    "date": parse_date,
    "datetime": lambda raw: parse_date(raw, with_time=True),
    "money": parse_money,
    "int": parse_int,
    "decimal": parse_decimal,
    "bool": parse_bool,
}


def parse_column(column, raw: pd.Series):
    """Parse one column's raw text by ``column.type``."""
    if column.type == "enum":
        return parse_enum(raw, column.choices)
    return PARSERS[column.type](raw)
