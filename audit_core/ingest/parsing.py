"""Vectorised parsers for input columns: Arrow compute kernels (C++), no Python loop over rows.

Each parser takes the raw text of one column (an Arrow string array, empty string for an empty
cell) and returns ``(values, bad)``: a :class:`pyarrow.Array` of parsed values (null where
empty) and a numpy boolean array marking cells that could not be parsed.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# 2026-10-03, 2026/10/3, 2026.10.03, 20261003, each optionally with a time.
_DATE = (
    r"^(?P<y>\d{4})(?:[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})|(?P<m2>\d{2})(?P<d2>\d{2}))"
    r"(?:[ T]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?)?$"
)
# at most 8 digits of 元 (99,999,999.99) and 9 of an integer: Arrow's int64 never overflows
_MONEY = r"^(?P<sign>-?)(?P<int>\d{1,8})(?:\.(?P<frac>\d{1,2})0*)?$"
_INT = r"^\+?\d{1,9}(?:\.0+)?$"
_DECIMAL = r"^-?\d+(?:\.\d+)?$"
_CODES = r"^[A-Z0-9.\-]+(?:;[A-Z0-9.\-]+)*$"

EXPECTED = {
    "date": "应为日期，如 2026-10-03、2026/10/03 或 20261003",
    "datetime": "应为日期（可带时间），如 2026-10-03 09:30:00",
    "money": "应为金额（元），最多两位小数，如 123.45",
    "int": "应为非负整数（不超过 9 位）",
    "decimal": "应为数字，如 2 或 0.35",
    "bool": "应为 1/0、是/否",
    "codes": "应为以分号分隔的病种编码，如 M03900;M01600",
}

BOOL_VALUES = {"1": 1, "0": 0, "是": 1, "否": 0, "y": 1, "n": 0, "yes": 1, "no": 0,
               "true": 1, "false": 0, "有": 1, "无": 0}


def _arrow(raw: pa.Array) -> pa.Array:
    """A column's text as an Arrow string array, empty string for a missing cell."""
    return pc.fill_null(raw if pa.types.is_string(raw.type) else raw.cast(pa.string()), "")


def _mask(array) -> np.ndarray:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def _nullify_empty(array: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(array, ""), pa.scalar(None, array.type), array)


def _nfkc(array: pa.Array) -> pa.Array:
    """Full-width forms to ASCII; skipped when the column is all ASCII already (the usual case)."""
    if pc.all(pc.string_is_ascii(array)).as_py() is not False:
        return array
    return pc.utf8_normalize(array, form="NFKC")


def _none_bad(array) -> np.ndarray:
    return np.zeros(len(array), dtype=bool)


def _normalised(raw: pa.Array) -> pa.Array:
    """The column's text with full-width forms folded to ASCII and outer white space removed."""
    return pc.utf8_trim_whitespace(_nfkc(_arrow(raw)))


def clean_numeric_text(text: pa.Array) -> pa.Array:
    """Normalised text without spaces, ¥/元 or thousands separators."""
    return pc.replace_substring_regex(text, r"[\s,¥￥]|元$", "")


def parse_text(raw: pa.Array):
    text = pc.utf8_trim_whitespace(_arrow(raw))
    return _nullify_empty(text), _none_bad(text)


def parse_id(raw: pa.Array):
    text = _normalised(raw)
    return _nullify_empty(text), _none_bad(text)


def parse_code(raw: pa.Array):
    text = pc.utf8_upper(_normalised(raw))
    return _nullify_empty(text), _none_bad(text)


def parse_codes(raw: pa.Array):
    text = pc.utf8_upper(_nfkc(_arrow(raw)))
    text = pc.replace_substring_regex(text, r"[;,，；、|\s]+", ";")
    text = pc.utf8_trim(text, characters=";")
    bad = _mask(pc.and_(pc.not_equal(text, ""), pc.invert(pc.match_substring_regex(text, _CODES))))
    return _nullify_empty(text), bad


_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
_ISO_DATETIME = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"


def _iso_dates(text: pa.Array, empty: pa.Array, with_time: bool):
    """The usual export: every value of the chunk exactly ``YYYY-MM-DD`` (a datetime column: all
    ``YYYY-MM-DD HH:MM:SS``) or empty. Parses those with a few cheap kernels, to the same result as
    the general path below; returns None when the chunk is not all in that shape."""
    for pattern, has_time in ((_ISO_DATETIME, True), (_ISO_DATE, False)) if with_time else ((_ISO_DATE, False),):
        if pc.all(pc.or_(empty, pc.match_substring_regex(text, pattern))).as_py() is not False:
            break
    else:
        return None
    text = pc.if_else(empty, "2000-01-01 00:00:00" if has_time else "2000-01-01", text)
    day = pc.utf8_slice_codeunits(text, 0, 10)
    parsed = pc.strptime(day, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls 2026-02-30 over to 2026-03-02: a real date keeps its day of the month
    real = pc.fill_null(pc.equal(pc.day(parsed), pc.cast(pc.utf8_slice_codeunits(text, 8, 10), pa.int64())), False)
    ok = pc.and_(real, pc.invert(empty))
    bad = pc.and_(pc.invert(empty), pc.invert(real))
    if not with_time:
        return pc.if_else(ok, day, pa.scalar(None, pa.string())), _mask(bad)
    if has_time:
        hour = pc.cast(pc.utf8_slice_codeunits(text, 11, 13), pa.int64())
        minute = pc.cast(pc.utf8_slice_codeunits(text, 14, 16), pa.int64())
        bad_time = pc.and_(ok, pc.or_(pc.greater(hour, 23), pc.greater(minute, 59)))
        ok = pc.and_(ok, pc.invert(bad_time))
        times = pc.if_else(ok, pc.utf8_slice_codeunits(text, 11, 19), pa.scalar(None, pa.string()))
        bad = pc.or_(bad, bad_time)
    else:
        times = pa.nulls(len(text), pa.string())
    return (pc.if_else(ok, day, pa.scalar(None, pa.string())), times), _mask(bad)


def parse_date(raw: pa.Array, with_time: bool = False):
    text = _normalised(raw)
    empty = pc.equal(text, "")
    fast = _iso_dates(text, empty, with_time)
    if fast is not None:
        return fast
    parts = pc.extract_regex(text, _DATE)
    matched = pc.is_valid(parts)
    field = lambda name: pc.fill_null(pc.struct_field(parts, name), "")  # noqa: E731
    month = pc.if_else(pc.equal(field("m"), ""), field("m2"), field("m"))
    day = pc.if_else(pc.equal(field("d"), ""), field("d2"), field("d"))
    iso = pc.binary_join_element_wise(field("y"), pc.utf8_lpad(month, 2, "0"), pc.utf8_lpad(day, 2, "0"), "-")
    parsed = pc.strptime(iso, format="%Y-%m-%d", unit="s", error_is_null=True)
    real = pc.equal(pc.fill_null(pc.strftime(parsed, format="%Y-%m-%d"), ""), iso)  # 2026-02-30 is not a date
    ok = pc.and_(matched, real)
    # Excel date serials (days since 1899-12-30), e.g. 45568 for 2024-10-03, from XLSX cells saved as numbers
    serial = pc.and_(pc.invert(matched), pc.match_substring_regex(text, r"^\d{5}(?:\.\d+)?$"))
    if pc.any(serial).as_py():
        days = pc.cast(pc.if_else(serial, pc.replace_substring_regex(text, r"\..*$", ""), "0"), pa.int64())
        epoch_days = pc.cast(pc.cast(pc.subtract(days, 25569), pa.int32()), pa.date32())
        iso = pc.if_else(serial, pc.strftime(epoch_days, format="%Y-%m-%d"), iso)
        ok = pc.or_(ok, serial)
    bad = pc.and_(pc.invert(empty), pc.invert(ok))
    values = pc.if_else(ok, iso, pa.scalar(None, pa.string()))
    if not with_time:
        return values, _mask(bad)
    hour = field("H")
    has_time = pc.and_(ok, pc.not_equal(hour, ""))
    seconds = pc.if_else(pc.equal(field("S"), ""), "00", field("S"))
    time = pc.binary_join_element_wise(pc.utf8_lpad(hour, 2, "0"), field("M"), seconds, ":")
    hour_number = pc.cast(pc.if_else(has_time, hour, "0"), pa.int64())
    minute_number = pc.cast(pc.if_else(has_time, field("M"), "0"), pa.int64())
    bad_time = pc.and_(has_time, pc.or_(pc.greater(hour_number, 23), pc.greater(minute_number, 59)))
    times = pc.if_else(pc.and_(has_time, pc.invert(bad_time)), time, pa.scalar(None, pa.string()))
    values = pc.if_else(bad_time, pa.scalar(None, pa.string()), values)
    return (values, times), _mask(pc.or_(bad, bad_time))


_THOUSANDS = r"^[-¥￥\s]*\d{1,3}(?:,\d{3})+(?:\.\d+)?\s*元?$"


def parse_money(raw: pa.Array):
    """元 text → integer 分, exactly: no float ever touches the amount."""
    original = _normalised(raw)
    misgrouped = pc.and_(pc.match_substring(original, ","), pc.invert(pc.match_substring_regex(original, _THOUSANDS)))
    text = pc.if_else(misgrouped, "x", clean_numeric_text(original))
    empty = pc.equal(text, "")
    parts = pc.extract_regex(text, _MONEY)
    ok = pc.is_valid(parts)
    whole = pc.cast(pc.if_else(ok, pc.struct_field(parts, "int"), "0"), pa.int64())
    frac = pc.cast(pc.if_else(ok, pc.utf8_rpad(pc.struct_field(parts, "frac"), 2, "0"), "0"), pa.int64())
    sign = pc.if_else(pc.equal(pc.if_else(ok, pc.struct_field(parts, "sign"), ""), "-"), -1, 1)
    fen = pc.multiply(pc.add(pc.multiply(whole, 100), frac), sign)
    values = pc.if_else(ok, fen, pa.scalar(None, pa.int64()))
    return values, _mask(pc.and_(pc.invert(empty), pc.invert(ok)))


def parse_int(raw: pa.Array):
    text = clean_numeric_text(_normalised(raw))
    empty = pc.equal(text, "")
    ok = pc.match_substring_regex(text, _INT)
    digits = pc.replace_substring_regex(text, r"^\+|\.0+$", "")
    values = pc.if_else(ok, pc.cast(pc.if_else(ok, digits, "0"), pa.int64()), pa.scalar(None, pa.int64()))
    return values, _mask(pc.and_(pc.invert(empty), pc.invert(ok)))


def parse_decimal(raw: pa.Array):
    text = clean_numeric_text(_normalised(raw))
    empty = pc.equal(text, "")
    ok = pc.match_substring_regex(text, _DECIMAL)
    return pc.if_else(ok, text, pa.scalar(None, pa.string())), _mask(pc.and_(pc.invert(empty), pc.invert(ok)))


def _lookup(text: pa.Array, mapping: dict, value_type):
    keys = list(mapping)
    index = pc.index_in(text, value_set=pa.array(keys, type=pa.string()))
    values = pc.take(pa.array([mapping[k] for k in keys], type=value_type), index)
    empty = pc.equal(text, "")
    bad = pc.and_(pc.invert(empty), pc.is_null(index))
    return values, _mask(bad)


def parse_bool(raw: pa.Array):
    text = pc.utf8_lower(_normalised(raw))
    return _lookup(text, BOOL_VALUES, pa.int64())


def parse_enum(raw: pa.Array, choices: dict[str, str]):
    text = pc.utf8_lower(_normalised(raw))
    return _lookup(text, {k.lower(): v for k, v in choices.items()}, pa.string())


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


# ---------------------------------------------------------------- values refused whatever the type

MAX_ID_CHARS = 64  # ids and codes: a prescription number, a doctor code, a drug code
MAX_CODES_CHARS = 256  # a prescription's list of disease codes
MAX_TEXT_CHARS = 2000  # names, notes, reasons (the committee's notes have the same limit)
NEGATIVE_MONEY = ("金额不能为负数：HIS 的冲销、退费行不能用负数抵消。如需更正，请重新导出更正后的记录"
                  "（处方号等编号相同的新记录会替换旧记录）")
FORMULA_TEXT = "不能以 =、+、-、@ 开头（电子表格会把它当作公式执行），请在 HIS 中更正后重新导出"
NUL_TEXT = "含有 NUL 空字符（\\0）：文件可能已损坏或不是文本导出，请重新导出"
MONEY_TOO_LARGE = "金额过大：应不超过 99,999,999.99 元"


def _formula_checked(column) -> bool:
    """Columns a person's or a code's name goes in: text there must not start like a formula."""
    return column.type in ("id", "code") or column.name.endswith("_name") or \
        column.name in ("department", "insurance_type", "reviewer")


def max_chars(column) -> int:
    return {"id": MAX_ID_CHARS, "code": MAX_ID_CHARS, "codes": MAX_CODES_CHARS}.get(column.type, MAX_TEXT_CHARS)


def column_problems(column, raw: pa.Array, parsed, bad: np.ndarray) -> list[tuple[np.ndarray, str]]:
    """What is wrong with each cell of a column, as ``(mask, expected)`` pairs: values that do not
    parse, and values that parse but must be refused all the same (NUL characters, overlong text,
    formula-like names, negative or absurd amounts)."""
    text = _arrow(raw)
    nul = _mask(pc.match_substring(text, "\x00"))
    limit = max_chars(column)
    long = _mask(pc.greater(pc.utf8_length(text), limit)) & ~nul
    found = [(nul, NUL_TEXT), (long, f"过长：不能超过 {limit:,} 个字符")]
    bad = bad & ~nul & ~long
    if column.type == "money":
        huge = _mask(pc.match_substring_regex(clean_numeric_text(_normalised(raw)), r"^-?\d{9,}(?:\.\d*)?$")) & bad
        negative = _mask(pc.less(parsed, 0)) & ~nul & ~long
        found += [(huge, MONEY_TOO_LARGE), (negative, NEGATIVE_MONEY)]
        bad = bad & ~huge
    elif _formula_checked(column):
        formula = _mask(pc.match_substring_regex(parsed, r"^[=+\-@]")) & ~nul & ~long
        found.append((formula, FORMULA_TEXT))
    return [(bad, expected_text(column))] + found


def display_value(value) -> str | None:
    """A cell's text as a message shows it: NUL visible, a very long value cut short."""
    if not isinstance(value, str):
        return value
    shown = value.replace("\x00", "\\0")
    if len(shown) > 60:
        shown = f"{shown[:40]}……（共 {len(value):,} 个字符）"
    return shown


def parse_column(column, raw: pa.Array):
    """Parse one column's raw text by ``column.type``."""
    if column.type == "enum":
        return parse_enum(raw, column.choices)
    return PARSERS[column.type](raw)
