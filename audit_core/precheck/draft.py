"""The draft prescription the HIS sends before issuing it (DESIGN §9), read and validated.

A draft is our canonical column names as JSON::

    {"patient_id": "P0001", "doctor_code": "D01", "rx_date": "2026-10-08 09:30",
     "disease_codes": ["M03900", "M01600"], "insurance_type": "城镇职工医疗保险", "rx_id": "R1",
     "items": [{"drug_code": "XC10AAA…", "drug_name": "阿托伐他汀钙片", "quantity": 2,
                "amount": "56.80", "days_supply": 28}]}

Every problem is a :class:`DraftError` whose Chinese message names the field (``items[2].amount``),
so an integrator can fix the request; the HTTP service answers it with 400.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from ..errors import MenguiError
from ..money import format_yuan, yuan_to_fen

#: the draft's fields and what people call them (for the messages)
FIELDS = {"patient_id": "参保人编号", "doctor_code": "医师代码", "rx_date": "开方日期", "disease_codes": "门规病种",
          "insurance_type": "险种", "rx_id": "处方号", "department": "科室", "items": "药品明细",
          "total_amount": "处方金额"}
ITEM_FIELDS = {"drug_code": "医保药品代码", "drug_name": "药品通用名", "quantity": "数量", "amount": "金额",
               "days_supply": "用药天数", "spec": "规格", "unit": "单位", "unit_price": "单价"}
MAX_ITEMS = 200
MAX_TEXT = 200
_DATE = re.compile(r"^(\d{4})[-/]?(\d{1,2})[-/]?(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?"
                   r"(?:Z|[+-]\d{2}:?\d{2})?$")
#: a draft without a time of day is taken as written after every prescription already stored for that day
LATE_TIME = "23:59:59"


class DraftError(MenguiError):
    """A draft that cannot be evaluated: ``field`` is where (``items[2].amount``), the message says what
    was expected, in Chinese."""

    def __init__(self, field_path: str, expected: str, value=None):
        self.field = field_path
        self.expected = expected
        label = _label(field_path)
        shown = "" if value is None else f"，实际为「{_short(value)}」"
        super().__init__(f"字段 {field_path}{f'（{label}）' if label else ''}{expected}{shown}")


def _label(path: str) -> str:
    name = path.rsplit(".", 1)[-1].split("[", 1)[0]
    if path.startswith("items[") and "." in path:
        return ITEM_FIELDS.get(name, "")
    return FIELDS.get(name, "") if "." not in path else ""


def _short(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:40] + "…"


@dataclass
class DraftItem:
    line_no: int
    drug_name: str
    amount_fen: int
    drug_code: str | None = None
    quantity: str | None = None
    days_supply: int | None = None
    spec: str | None = None
    unit: str | None = None
    unit_price: str | None = None


@dataclass
class Draft:
    patient_id: str
    doctor_code: str
    rx_date: str  # YYYY-MM-DD
    rx_time: str | None  # HH:MM:SS as sent, or None
    disease_codes: list[str]
    items: list[DraftItem]
    insurance_type: str | None = None
    rx_id: str | None = None
    department: str | None = None
    total_amount_fen: int | None = None  # the header amount (used only when there are no items)
    extra: dict = field(default_factory=dict)

    @property
    def month(self) -> str:
        return self.rx_date[:7]

    @property
    def amount_fen(self) -> int:
        return sum(i.amount_fen for i in self.items) if self.items else (self.total_amount_fen or 0)

    def as_json(self) -> dict:
        """The draft in the contract's shape (amounts as 元 text): what ``mengui precheck`` reads."""
        out = {"patient_id": self.patient_id, "doctor_code": self.doctor_code,
               "rx_date": self.rx_date + (f" {self.rx_time}" if self.rx_time else ""),
               "disease_codes": list(self.disease_codes),
               "items": [{k: v for k, v in (("drug_code", i.drug_code), ("drug_name", i.drug_name),
                                            ("quantity", i.quantity), ("amount", format_yuan(i.amount_fen, False)),
                                            ("days_supply", i.days_supply)) if v is not None}
                         for i in self.items]}
        for key in ("insurance_type", "rx_id", "department"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out


def parse_json_text(text: str | bytes, source: str = "请求体") -> object:
    """JSON text → value; a located Chinese error (line and column) when it is not JSON."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as ex:
            raise MenguiError(f"{source}不是 UTF-8 编码的文本（第 {ex.start + 1} 个字节无法解码）") from ex
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise MenguiError(f"{source}为空：应为一个 JSON 对象（处方草稿）")
    try:
        return json.loads(text)
    except json.JSONDecodeError as ex:
        raise MenguiError(f"{source}第 {ex.lineno} 行第 {ex.colno} 列：不是有效的 JSON（{_json_reason(ex.msg)}）") from ex


def _json_reason(msg: str) -> str:
    reasons = {"Expecting value": "此处应为一个值", "Expecting property name enclosed in double quotes": "字段名应使用双引号",
               "Expecting ',' delimiter": "此处缺少逗号", "Expecting ':' delimiter": "此处缺少冒号",
               "Extra data": "JSON 结束后还有多余内容", "Unterminated string starting at": "字符串没有结束引号",
               "Invalid control character at": "字符串中有控制字符"}
    for english, chinese in reasons.items():
        if msg.startswith(english):
            return chinese
    return msg


def _text(value, path: str, required: bool, limit: int = MAX_TEXT) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise DraftError(path, "不能为空")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DraftError(path, "应为文本", value)
    text = str(value).strip()
    if len(text) > limit:
        raise DraftError(path, f"不能超过 {limit} 个字符", value)
    return text


def _date(value, path: str) -> tuple[str, str | None]:
    if not isinstance(value, str) or not value.strip():
        raise DraftError(path, "应为日期文本 YYYY-MM-DD（可带时间，如 2026-10-08 09:30）", value)
    match = _DATE.match(value.strip())
    if not match:
        raise DraftError(path, "应为日期 YYYY-MM-DD（可带时间，如 2026-10-08 09:30）", value)
    y, m, d, hh, mm, ss = match.groups()
    import datetime as dt

    try:
        day = dt.date(int(y), int(m), int(d))
    except ValueError as ex:
        raise DraftError(path, "不是有效的日期", value) from ex
    when = None
    if hh is not None:
        if int(hh) > 23 or int(mm) > 59 or int(ss or 0) > 59:
            raise DraftError(path, "的时间无效", value)
        when = f"{int(hh):02d}:{mm}:{ss or '00'}"
    return day.isoformat(), when


def _money(value, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or (isinstance(value, str) and not value.strip()):
        raise DraftError(path, "应为金额（元，最多两位小数，文本或数字）", value)
    try:
        return yuan_to_fen(str(value).strip().replace(",", ""))
    except ValueError as ex:
        raise DraftError(path, "应为不小于 0 的金额（元，最多两位小数）", value) from ex


def _days(value, path: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise DraftError(path, "应为正整数（天）", value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or not 1 <= value <= 366:
        raise DraftError(path, "应为 1–366 之间的整数（天）", value)
    return value


def parse_draft(data: object) -> Draft:
    """A decoded JSON value → :class:`Draft`; :class:`DraftError` names the first wrong field."""
    if not isinstance(data, dict):
        raise DraftError("(根)", "应为一个 JSON 对象（处方草稿）", data)
    rx_date, rx_time = _date(data.get("rx_date"), "rx_date")
    codes = data.get("disease_codes")
    if codes is None or codes == "":
        codes = []
    elif isinstance(codes, str):
        codes = [c.strip() for c in codes.split(";") if c.strip()]
    elif isinstance(codes, list):
        for n, code in enumerate(codes):
            if not isinstance(code, str) or not code.strip():
                raise DraftError(f"disease_codes[{n}]", "应为病种编码文本（如 M03900）", code)
        codes = [c.strip() for c in codes]
    else:
        raise DraftError("disease_codes", "应为病种编码的列表，或以分号分隔的文本", codes)
    items = data.get("items")
    if not isinstance(items, list) or not items:
        raise DraftError("items", "应为非空的药品明细列表", items)
    if len(items) > MAX_ITEMS:
        raise DraftError("items", f"不能超过 {MAX_ITEMS} 条")
    parsed = []
    for n, item in enumerate(items):
        where = f"items[{n}]"
        if not isinstance(item, dict):
            raise DraftError(where, "应为一个对象（药品明细）", item)
        if "amount" not in item:
            raise DraftError(f"{where}.amount", "不能缺少（本条药品金额，元）")
        quantity = item.get("quantity")
        if quantity is not None and (isinstance(quantity, bool) or not isinstance(quantity, (str, int, float))):
            raise DraftError(f"{where}.quantity", "应为数量（文本或数字）", quantity)
        parsed.append(DraftItem(
            line_no=n + 1,
            drug_name=_text(item.get("drug_name"), f"{where}.drug_name", True),
            amount_fen=_money(item.get("amount"), f"{where}.amount"),
            drug_code=_text(item.get("drug_code"), f"{where}.drug_code", False, 60),
            quantity=None if quantity is None else str(quantity),
            days_supply=_days(item.get("days_supply"), f"{where}.days_supply"),
            spec=_text(item.get("spec"), f"{where}.spec", False),
            unit=_text(item.get("unit"), f"{where}.unit", False),
            unit_price=None if item.get("unit_price") is None else str(item.get("unit_price")),
        ))
    total = data.get("total_amount")
    return Draft(
        patient_id=_text(data.get("patient_id"), "patient_id", True, 64),
        doctor_code=_text(data.get("doctor_code"), "doctor_code", True, 64),
        rx_date=rx_date, rx_time=rx_time, disease_codes=codes, items=parsed,
        insurance_type=_text(data.get("insurance_type"), "insurance_type", False),
        rx_id=_text(data.get("rx_id"), "rx_id", False, 64),
        department=_text(data.get("department"), "department", False),
        total_amount_fen=None if total in (None, "") else _money(total, "total_amount"),
    )
