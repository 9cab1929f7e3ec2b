"""The input kinds (docs/usage.md, "Input files"): their columns, types and header aliases.

Each kind loads into the table of the same name. A column's ``type`` says how
its text is parsed (see :mod:`mengui_core.ingest.parsing`); money columns are stored
as ``<name>_fen``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "text"  # text | code | id | date | datetime | money | int | bool | decimal | codes | enum
    required: bool = False
    aliases: tuple[str, ...] = ()
    choices: dict[str, str] = field(default_factory=dict)  # enum: accepted text -> stored value
    label: str = ""  # Chinese label used in messages
    default: str | None = None  # stored when the cell is empty or the column absent

    @property
    def db_name(self) -> str:
        return f"{self.name}_fen" if self.type == "money" else self.name


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    file_stems: tuple[str, ...] = ()
    provenance: str | None = None  # a table column the loader fills with the source file's path
    # a column whose blank value means "not filled in yet": such rows are skipped and counted, not
    # refused (a review sheet comes back with verdicts on some rows only)
    skip_blank: str | None = None

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def db_columns(self) -> list[str]:
        cols = [c.db_name for c in self.columns]
        if self.name == "prescriptions":
            cols.insert(cols.index("rx_date") + 1, "rx_time")
        if self.provenance:
            cols.append(self.provenance)
        return cols


@dataclass(frozen=True)
class InputFormat:
    """A HIS vendor's export of one kind: canonical column -> the vendor's header.

    Used instead of the standard headers and aliases, so a vendor file may carry columns whose
    names mean something else in the standard (e.g. a list-price 金额 beside the paid amount).
    """

    name: str
    kind: str
    title: str
    columns: dict[str, str]
    description: str = ""
    files: tuple[str, ...] = ()  # file-name patterns (fnmatch) of this vendor's exports of ``kind``

    def matches(self, headers) -> bool:
        found = {normalise_header(h) for h in headers}
        return all(normalise_header(h) in found for h in self.columns.values())


KIND_VALUES = {"disease": "disease", "complication": "complication", "病种": "disease",
               "疾病": "disease", "并发症": "complication"}
VERDICT_VALUES = {"unreasonable": "unreasonable", "reasonable": "reasonable",
                  "不合理": "unreasonable", "合理": "reasonable"}

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in [
        Kind(
            "doctors", "医师名册",
            (
                Column("doctor_code", "id", True, ("医师代码", "医师编码", "医生编码", "医生代码", "工号"), label="医师代码"),
                Column("doctor_name", "text", True, ("医师姓名", "医生姓名", "医师名称"), label="医师姓名"),
                Column("department", "text", False, ("科室", "科室名称"), label="科室"),
                Column("qualified", "bool", False, ("定岗资格", "医保定岗", "是否定岗"), label="定岗资格"),
            ),
            ("doctor_code",), ("医师", "医师名册", "医生"),
        ),
        Kind(
            "certifications", "门规认定",
            (
                Column("patient_id", "id", True, ("参保人编号", "个人编号", "参保人员编号"), label="参保人编号"),
                Column("disease_code", "code", True, ("病种编码", "病种代码", "门规病种编码"), label="病种编码"),
                Column("disease_name", "text", False, ("病种名称",), label="病种名称"),
                Column("kind", "enum", False, ("类别", "病种类别"), KIND_VALUES, label="类别", default="disease"),
                Column("valid_from", "date", True, ("认定开始日期", "开始日期", "生效日期"), label="认定开始日期"),
                Column("valid_to", "date", False, ("认定结束日期", "结束日期", "终止日期"), label="认定结束日期"),
            ),
            ("patient_id", "disease_code", "valid_from"), ("认定", "门规认定", "病种认定"),
        ),
        Kind(
            "prescriptions", "处方",
            (
                Column("rx_id", "id", True, ("处方号", "处方编号"), label="处方号"),
                Column("rx_date", "datetime", True, ("开方日期", "处方日期", "开方时间"), label="开方日期"),
                Column("patient_id", "id", True, ("参保人编号", "个人编号", "参保人员编号"), label="参保人编号"),
                Column("patient_name", "text", False, ("姓名", "参保人姓名", "患者姓名"), label="姓名"),
                Column("insurance_type", "text", False, ("险种", "险种类型", "医保类型"), label="险种"),
                Column("doctor_code", "id", True, ("医师代码", "医师编码", "医生编码", "医生代码"), label="医师代码"),
                Column("department", "text", False, ("科室", "科室名称"), label="科室"),
                Column("disease_codes", "codes", False, ("门规病种", "病种编码", "门规病种编码"), label="门规病种"),
                Column("total_amount", "money", False, ("处方金额", "总金额", "金额"), label="处方金额"),
            ),
            ("rx_id",), ("处方", "门规处方"),
        ),
        Kind(
            "rx_items", "处方明细",
            (
                Column("rx_id", "id", True, ("处方号", "处方编号"), label="处方号"),
                Column("line_no", "int", False, ("序号", "行号", "明细序号"), label="序号"),
                Column("drug_code", "code", False, ("医保药品代码", "药品代码", "国家医保药品代码", "医保编码"), label="医保药品代码"),
                Column("drug_name", "text", True, ("药品通用名", "药品名称", "通用名"), label="药品通用名"),
                Column("spec", "text", False, ("规格",), label="规格"),
                Column("quantity", "decimal", False, ("数量",), label="数量"),
                Column("unit", "text", False, ("单位",), label="单位"),
                Column("unit_price", "decimal", False, ("单价",), label="单价"),
                Column("amount", "money", True, ("金额", "明细金额"), label="金额"),
                Column("days_supply", "int", False, ("用药天数", "天数", "给药天数"), label="用药天数"),
            ),
            ("rx_id", "line_no"), ("处方明细", "明细"),
        ),
        Kind(
            "claims", "结算",
            (
                Column("claim_id", "id", True, ("结算号", "结算编号"), label="结算号"),
                Column("rx_id", "id", True, ("处方号",), label="处方号"),
                Column("settle_date", "date", False, ("结算日期",), label="结算日期"),
                Column("total_amount", "money", False, ("总金额", "结算金额"), label="总金额"),
                Column("fund_paid", "money", False, ("统筹支付", "统筹金额", "基金支付"), label="统筹支付"),
                Column("self_paid", "money", False, ("个人支付", "个人负担"), label="个人支付"),
            ),
            ("claim_id",), ("结算", "医保结算"),
        ),
        Kind(
            "deductions", "医保扣款",
            (
                Column("deduction_id", "id", True, ("扣款编号",), label="扣款编号"),
                Column("rx_id", "id", True, ("处方号",), label="处方号"),
                Column("amount", "money", True, ("扣款金额", "金额"), label="扣款金额"),
                Column("deduction_date", "date", False, ("扣款日期",), label="扣款日期"),
                Column("reason", "text", False, ("扣款原因", "原因"), label="扣款原因"),
            ),
            ("deduction_id",), ("扣款", "医保扣款"),
        ),
        Kind(
            "verdicts", "审核结论",
            (
                Column("rx_id", "id", True, ("处方号",), label="处方号"),
                Column("check_id", "id", True, ("规则", "规则编号", "审核规则"), label="规则"),
                Column("verdict", "enum", True, ("结论", "审核结论"), VERDICT_VALUES, label="结论"),
                Column("reviewer", "text", False, ("审核人",), label="审核人"),
                Column("reviewed_at", "text", False, ("审核时间",), label="审核时间"),
                Column("note", "text", False, ("备注", "说明"), label="备注"),
            ),
            ("rx_id", "check_id"), ("审核结论", "结论"), provenance="source", skip_blank="verdict",
        ),
    ]
}

LOAD_ORDER = ["doctors", "certifications", "prescriptions", "rx_items", "claims", "deductions", "verdicts"]
# Kinds that refer to audit results, not to exported data: loaded after an audit.
AFTER_AUDIT = {"verdicts"}


def normalise_header(text: str) -> str:
    """Header text as compared: NFKC (full-width → half-width), no spaces/BOM, lower case."""
    text = unicodedata.normalize("NFKC", str(text)).replace("\ufeff", "")
    return re.sub(r"\s+", "", text).lower()


def header_map(kind: Kind, extra_aliases=()) -> dict[str, str]:
    """normalised header text -> canonical column name, for one kind."""
    mapping: dict[str, str] = {}
    for column in kind.columns:
        for text in (column.name, *column.aliases):
            mapping.setdefault(normalise_header(text), column.name)
    for kind_name, column, aliases in extra_aliases:
        if kind_name == kind.name:
            for text in aliases:
                mapping[normalise_header(text)] = column
    return mapping


def kind_from_filename(stem: str) -> str | None:
    """The kind a file's name stem names: ``prescriptions``, ``prescriptions_2026-10``, ``处方明细`` …"""
    text = normalise_header(stem)
    candidates = []
    for kind in KINDS.values():
        for name in (kind.name, *kind.file_stems):
            name = normalise_header(name)
            if text == name or re.match(re.escape(name) + r"[-_.\d]", text):
                candidates.append((len(name), kind.name))
    return max(candidates)[1] if candidates else None
