"""Rulesets: one TOML file per city (stdlib ``tomllib``), validated into a :class:`Ruleset`.

Money in a ruleset is written in 元 (a string such as ``"150.00"`` or an integer)
and held in 分. Every problem found by :func:`validate` names the key and, where it
can be found, the line of the file.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from ..errors import MenguiError
from ..money import yuan_to_fen

DEFAULT_RULESET = "jinan"
DISEASE_CODE = re.compile(r"^M\d{5}$")
ATC4 = re.compile(r"^[A-Z]\d\d[A-Z]{2}$")


class RulesetError(MenguiError):
    def __init__(self, path, problems: list[str]):
        self.path = path
        self.problems = problems
        lines = [f"规则集 {path} 有 {len(problems)} 处错误："] + [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


DEFAULT_APPEAL_DAYS = 15  # when a ruleset has no [appeals] section
MAX_APPEAL_DAYS = 365
DEFAULT_LEVELS = ["提示", "预警", "违规"]
#: keys of a ``[checks.<id>]`` section that the core reads itself (not passed to the check as params)
CORE_CHECK_KEYS = {"needs_review", "monitoring", "levels", "level", "counts_without_review_from"}
MAX_TOLERANCE_DAYS = 366
ATC_PREFIX = re.compile(r"^[A-Z](\d\d([A-Z][A-Z]?)?)?$")


@dataclass
class CheckConfig:
    needs_review: bool
    params: dict
    monitoring: bool = False  # flags are for monitoring only: they never count toward the ladder
    thresholds: list[float] | None = None  # one lower bound (inclusive) per level name, ascending
    level: str | None = None  # the level of a flag without a measure (or when no thresholds are given)
    # with needs_review = false: the level from which a flag counts without a verdict; flags below it
    # count only after a verdict of 不合理 (None: every level counts without a verdict)
    counts_from: str | None = None


@dataclass(frozen=True)
class Tolerance:
    """How early a refill may come: at most ``days`` days, and at most ``percent`` % of the earlier
    supply's days (rounded down); the smaller applies."""

    days: int = 0
    percent: float = 0

    @property
    def basis_points(self) -> int:
        """``percent`` in hundredths of a percent, for integer arithmetic in SQL."""
        return round(self.percent * 100)

    def days_for(self, days_supply: int | None) -> int:
        """The tolerance in days for an earlier supply of ``days_supply`` days (None: not recorded → 0)."""
        if not days_supply or days_supply < 0:
            return 0
        return min(self.days, days_supply * self.basis_points // 10000)


@dataclass
class RefillTolerance:
    """``[refill_tolerance]``: the overlap a refill may have with the earlier supply before the drug
    checks flag it, with overrides per drug class (ATC prefix, longest wins) and per billed disease
    (which win over the class; with several billed diseases, the largest days and percent)."""

    default: Tolerance = Tolerance()
    classes: dict[str, Tolerance] = field(default_factory=dict)
    diseases: dict[str, Tolerance] = field(default_factory=dict)

    def for_class(self, atc: str | None) -> Tolerance:
        """The tolerance for a drug of ATC class ``atc`` (the longest matching prefix, else the default)."""
        if atc:
            for length in range(len(atc), 0, -1):
                if atc[:length] in self.classes:
                    return self.classes[atc[:length]]
        return self.default

    def for_diseases(self, codes) -> Tolerance | None:
        """The override for a prescription billed under catalog ``codes``, or None."""
        found = [self.diseases[c] for c in codes if c in self.diseases]
        if not found:
            return None
        return Tolerance(max(t.days for t in found), max(t.percent for t in found))


@dataclass
class Disease:
    code: str
    name: str
    icd10: list[str] = field(default_factory=list)
    complication_of: str | None = None


@dataclass
class SameEffect:
    compare_tcm: bool = False
    not_comparable: set[str] = field(default_factory=set)
    groups: dict[str, str] = field(default_factory=dict)  # ATC class -> group name
    allowed: list[tuple[str, str, str]] = field(default_factory=list)  # (generic, generic, reason)


@dataclass
class Ruleset:
    name: str
    title: str
    version: str
    description: str
    path: Path
    default_days_supply: int
    exempt_diseases: list[str]
    checks: dict[str, CheckConfig]
    diseases: list[Disease]
    drug_classes: dict[str, dict]
    same_effect: SameEffect
    ladder: dict
    appeal_days: int = DEFAULT_APPEAL_DAYS  # a doctor may appeal a 不合理 verdict within this many days
    levels: list[str] = field(default_factory=lambda: list(DEFAULT_LEVELS))
    refill_tolerance: RefillTolerance = field(default_factory=RefillTolerance)

    def disease_name(self, code: str) -> str | None:
        return next((d.name for d in self.diseases if d.code == code), None)

    def _once(self, key: str, make):
        """``make()``, made once per ruleset: the 事前 precheck asks for these per draft."""
        found = self.__dict__.get(key)
        if found is None:
            found = self.__dict__[key] = make()
        return found

    def drug_catalog(self) -> "DrugCatalog":
        """The catalog of this ruleset's drug classes."""
        return self._once("_catalog", lambda: DrugCatalog(self.drug_classes))

    def code_prefix_rows(self) -> list[tuple[str, str]]:
        """(prefix, catalog code): every catalog code and ICD-10 prefix of a disease → its catalog code."""
        def make():
            rows = {}
            for disease in self.diseases:
                for icd in disease.icd10:
                    rows.setdefault(icd.upper(), disease.code)
            for disease in self.diseases:
                rows[disease.code] = disease.code
            return list(rows.items())
        return self._once("_code_prefixes", make)

    def effect_class_rows(self) -> list[tuple[str, str, str, int]]:
        """(ATC class, its same-effect group, the group's title, comparable): every drug class."""
        se = self.same_effect

        def title(atc):
            if atc in se.groups:
                return se.groups[atc]
            name = self.drug_classes.get(atc, {}).get("title")
            return f"{name}，{atc}" if name else atc

        return self._once("_effect_classes", lambda: [
            (atc, se.groups.get(atc, atc), title(atc), int(atc not in se.not_comparable))
            for atc in sorted(set(self.drug_classes) | set(se.groups))])

    def allowed_pair_rows(self) -> list[tuple[str, str, str]]:
        """(generic a, generic b, reason): the same-effect pairs allowed together, both ways round."""
        def make():
            pairs = {}
            for a, b, reason in self.same_effect.allowed:
                pairs[(a, b)] = reason
                pairs[(b, a)] = reason
            return [(a, b, r) for (a, b), r in pairs.items()]
        return self._once("_allowed_pairs", make)


# ---------------------------------------------------------------- drug names

DOSAGE_FORMS = sorted(
    """片 胶囊 缓释片 控释片 肠溶片 分散片 咀嚼片 泡腾片 含片 口崩片 薄膜衣片 缓释胶囊 肠溶胶囊 软胶囊
    注射液 注射剂 粉针 颗粒 颗粒剂 口服液 口服溶液 滴丸 丸 散 干混悬剂 混悬液 糖浆 滴眼液 眼膏 凝胶 乳膏 软膏
    气雾剂 吸入剂 粉吸入剂 吸入气雾剂 吸入粉雾剂 吸入溶液 喷雾剂 贴剂 栓 预混注射液 笔芯 特充""".split(),
    key=len, reverse=True,
)
SALTS = sorted(
    """苯磺酸 马来酸 盐酸 酒石酸 琥珀酸 甲磺酸 磷酸 硫酸氢 硫酸 富马酸 枸橼酸 氢溴酸 门冬氨酸 乳酸 醋酸 苯甲酸
    二甲磺酸 对甲苯磺酸 碳酸 草酸 左旋""".split(),
    key=len, reverse=True,
)


def normalise_drug_name(name: str) -> str:
    """Product name → comparable text: NFKC, no spaces, no bracketed spec/brand, no dosage form."""
    text = unicodedata.normalize("NFKC", name or "")
    text = re.sub(r"\(.*?\)|\[.*?\]|（.*?）|【.*?】", "", text)
    text = re.sub(r"\s+", "", text)
    text = re.sub(r"[\d.]+(mg|g|ml|iu|μg|ug|u|万u|%)[^\u4e00-\u9fff]*$", "", text, flags=re.I)
    for form in DOSAGE_FORMS:
        if text.endswith(form) and len(text) > len(form):
            text = text[: -len(form)]
            break
    return text


class DrugCatalog:
    """Generic name → ATC level-4 class, resolving product names with salts and dosage forms.

    A product name resolves to the *longest* catalog generic name it contains, so
    ``苯磺酸氨氯地平片`` → 氨氯地平 and ``缬沙坦氨氯地平片`` → 缬沙坦氨氯地平.
    """

    def __init__(self, drug_classes: dict[str, dict]):
        self.atc: dict[str, str] = {}
        for atc, entry in drug_classes.items():
            for drug in entry.get("drugs", []):
                self.atc[drug] = atc
        self._names = sorted(self.atc, key=len, reverse=True)
        self._resolved: dict[str, tuple[str, str | None]] = {}  # product name → (generic, ATC), as resolved

    def resolve(self, name: str) -> tuple[str, str | None]:
        """(generic name, ATC class or None). Unknown names fall back to the name without salt/form."""
        found = self._resolved.get(name)
        if found is None:
            if len(self._resolved) >= 100_000:
                self._resolved.clear()
            found = self._resolved[name] = self._resolve(name)
        return found

    def _resolve(self, name: str) -> tuple[str, str | None]:
        text = normalise_drug_name(name)
        for generic in self._names:
            if generic in text:
                return generic, self.atc[generic]
        stripped = text
        for salt in SALTS:
            if stripped.startswith(salt) and len(stripped) > len(salt):
                stripped = stripped[len(salt):]
                break
        stripped = re.sub(r"(钙|钠|钾|镁)$", "", stripped) or stripped
        return stripped, None


# ---------------------------------------------------------------- loading and validating


def _line_of(text: str, key: str) -> int | None:
    """Line number of a dotted key such as ``checks.amount_cap.single_cap`` or ``diseases[3].code``.

    Finds the longest table header the key starts with (``[checks.amount_cap]``, the
    n-th ``[[diseases]]``), then the key's own line inside that table; else the header's line.
    """
    lines = text.splitlines()
    segments: list = []
    for part in key.split("."):
        match = re.fullmatch(r"([^\[]+)(?:\[(\d+)\])?", part)
        if not match:
            return None
        segments.append(match.group(1))
        if match.group(2) is not None:
            segments.append(int(match.group(2)))
    header_line, body_start, rest = None, 0, segments
    for cut in range(len(segments), 0, -1):
        names = [x for x in segments[:cut] if isinstance(x, str)]
        index = segments[cut - 1] if isinstance(segments[cut - 1], int) else None
        if index is None and cut < len(segments) and isinstance(segments[cut], int):
            continue
        dotted = re.escape(".".join(names)).replace("\\.", r"\s*\.\s*")
        pattern = re.compile(rf"^\s*\[\[\s*{dotted}\s*\]\]" if index is not None else rf"^\s*\[\s*{dotted}\s*\]")
        seen = -1
        for number, line in enumerate(lines):
            if pattern.match(line):
                seen += 1
                if index is None or seen == index:
                    header_line, body_start, rest = number + 1, number + 1, segments[cut:]
                    break
        if header_line:
            break
    wanted = next((x for x in rest if isinstance(x, str)), None)
    if wanted:
        for number in range(body_start, len(lines)):
            if re.match(r"^\s*\[", lines[number]):
                break
            if re.match(rf"^\s*\"?{re.escape(wanted)}\"?\s*=", lines[number]):
                return number + 1
    return header_line


def resolve(name_or_path: str, installed: Mapping[str, Path]) -> Path:
    """The file of a ruleset given by name (``jinan``: one of the ``installed``) or by path (a
    ``.toml`` file, or any existing file). The one rule for ``--ruleset`` and ``extends`` alike."""
    candidate = Path(str(name_or_path))
    if candidate.suffix == ".toml" or candidate.exists():
        return candidate
    if name_or_path in installed:
        return Path(installed[name_or_path])
    names = "、".join(sorted(installed)) or "（无）"
    raise MenguiError(f"找不到规则集「{name_or_path}」。已安装的规则集：{names}；也可以给出 .toml 文件路径")


def _read(path: Path) -> tuple[str, dict]:
    """A ruleset file's text and TOML data; a located Chinese error when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as ex:
        raise MenguiError(f"规则集文件不存在：{path}") from ex
    except UnicodeDecodeError as ex:
        raise MenguiError(f"规则集 {path} 不是 UTF-8 编码") from ex
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as ex:
        raise RulesetError(path, [f"TOML 语法错误：{ex}"]) from ex


def parse_file(path: Path, known_checks: set[str] | None = None, installed: Mapping[str, Path] | None = None
               ) -> Ruleset:
    """Read and validate one ruleset file; RulesetError lists every problem. ``installed`` (name →
    path) resolves an ``extends`` by name."""
    path = Path(path)
    text, data = _read(path)
    if "extends" in data:
        data = _extend(data, path, text, installed or {})
    return build(data, path, text, known_checks)


def load(name_or_path: str | None, installed: Mapping[str, Path], known_checks: set[str] | None = None) -> Ruleset:
    """A ruleset by name or by path (:func:`resolve`), parsed and validated."""
    return parse_file(resolve(name_or_path or DEFAULT_RULESET, installed), known_checks, installed)


# Never inherited: a city names every check it runs itself.
NOT_INHERITED = {"checks", "name", "title", "version", "description", "extends"}


def _extend(data: dict, path: Path, text: str, installed: Mapping[str, Path], seen: tuple = ()) -> dict:
    """Merge a ruleset over the one it ``extends``: tables key by key, everything else replaced."""
    base_name = data["extends"]
    line = _line_of(text, "extends")
    if base_name in seen or base_name == data.get("name"):
        raise RulesetError(path, [f"第 {line} 行 extends：循环继承 {base_name}"])
    try:
        base_path = resolve(base_name, installed)
    except MenguiError as ex:
        raise RulesetError(path, [f"第 {line} 行 extends：{ex}"]) from ex
    base_text, base = _read(base_path)
    if "extends" in base:
        base = _extend(base, base_path, base_text, installed, seen + (data.get("name"),))
    merged = {k: v for k, v in base.items() if k not in NOT_INHERITED}
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "checks":
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def build(data: dict, path: Path, text: str = "", known_checks: set[str] | None = None) -> Ruleset:
    problems: list[str] = []

    def problem(key: str, message: str):
        line = _line_of(text, key)
        where = f"第 {line} 行 " if line else ""
        problems.append(f"{where}{key}：{message}")

    for key in ("name", "version"):
        if not isinstance(data.get(key), str) or not data.get(key):
            problem(key, "必填，应为字符串")
    days = data.get("default_days_supply", 1)
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        problem("default_days_supply", f"应为正整数，实际为 {days!r}")
        days = 1

    diseases: list[Disease] = []
    seen_codes: set[str] = set()
    for i, entry in enumerate(data.get("diseases", [])):
        code = entry.get("code")
        if not isinstance(code, str) or not DISEASE_CODE.match(code):
            problem(f"diseases[{i}].code", f"病种编码应为 M + 5 位数字，实际为 {code!r}")
            continue
        if code in seen_codes:
            problem(f"diseases[{i}].code", f"病种编码 {code} 重复")
        seen_codes.add(code)
        if not entry.get("name"):
            problem(f"diseases[{i}].name", f"病种 {code} 缺少名称")
        icd = entry.get("icd10", [])
        if not isinstance(icd, list) or not all(isinstance(x, str) for x in icd):
            problem(f"diseases[{i}].icd10", "应为字符串列表")
            icd = []
        diseases.append(Disease(code, entry.get("name", ""), icd, entry.get("complication_of")))
    for i, d in enumerate(diseases):
        if d.complication_of and d.complication_of not in seen_codes:
            problem(f"diseases[{i}].complication_of", f"病种 {d.code} 的 complication_of 引用了不存在的病种 {d.complication_of}")

    exempt = data.get("exempt_diseases", [])
    if not isinstance(exempt, list):
        problem("exempt_diseases", "应为病种编码列表")
        exempt = []
    for code in exempt:
        if diseases and code not in seen_codes:
            problem("exempt_diseases", f"免于限额的病种 {code} 不在病种目录中")

    drug_classes = data.get("drug_classes", {})
    seen_drugs: dict[str, str] = {}
    for atc, entry in drug_classes.items():
        if not ATC4.match(atc):
            problem(f"drug_classes.{atc}", "ATC 四级分类应为 5 位，如 C10AA")
        drugs = entry.get("drugs") if isinstance(entry, dict) else None
        if not isinstance(drugs, list) or not drugs:
            problem(f"drug_classes.{atc}.drugs", "应为非空的药品通用名列表")
            continue
        for drug in drugs:
            if drug in seen_drugs:
                problem(f"drug_classes.{atc}.drugs", f"通用名「{drug}」同时出现在 {seen_drugs[drug]} 和 {atc}")
            seen_drugs[drug] = atc

    se = data.get("same_effect", {})
    same_effect = SameEffect(compare_tcm=bool(se.get("compare_tcm", False)))
    for atc in se.get("not_comparable", []):
        if atc not in drug_classes:
            problem("same_effect.not_comparable", f"分类 {atc} 不在 drug_classes 中")
        same_effect.not_comparable.add(atc)
    for i, group in enumerate(se.get("groups", [])):
        name = group.get("name") or f"group{i}"
        for atc in group.get("classes", []):
            if atc not in drug_classes:
                problem(f"same_effect.groups[{i}]", f"分类 {atc} 不在 drug_classes 中")
            same_effect.groups[atc] = name
    for i, entry in enumerate(se.get("allowed", [])):
        drugs = entry.get("drugs", [])
        if len(drugs) != 2:
            problem(f"same_effect.allowed[{i}]", "drugs 应为两个通用名")
            continue
        for drug in drugs:
            if drug not in seen_drugs:
                problem(f"same_effect.allowed[{i}]", f"通用名「{drug}」不在药品目录中")
        same_effect.allowed.append((drugs[0], drugs[1], entry.get("reason", "")))

    level_names = _level_names(data.get("levels", {}), problem)
    checks: dict[str, CheckConfig] = {}
    raw_checks = data.get("checks", {})
    if not isinstance(raw_checks, dict) or not raw_checks:
        problem("checks", "至少需要一个 [checks.<规则编号>] 段落")
        raw_checks = {}
    for check_id, section in raw_checks.items():
        if not isinstance(section, dict):
            problem(f"checks.{check_id}", "应为表（[checks.xxx]）")
            continue
        monitoring = section.get("monitoring", False)
        if not isinstance(monitoring, bool):
            problem(f"checks.{check_id}.monitoring", "应为 true 或 false")
            monitoring = False
        review = section.get("needs_review", False if monitoring else None)
        if not isinstance(review, bool):
            problem(f"checks.{check_id}.needs_review", "必填，应为 true 或 false")
            review = True
        elif monitoring and review:
            problem(f"checks.{check_id}.needs_review", "监测规则（monitoring = true）的标记从不计入公示，"
                    "不能同时要求委员会审核（needs_review 应为 false 或省略）")
        thresholds, level = _check_levels(check_id, section, level_names, problem)
        counts_from = _counts_from(check_id, section, level_names, review, monitoring, problem)
        if known_checks is not None and check_id not in known_checks:
            problem(f"checks.{check_id}", f"没有已安装的插件提供规则 {check_id}（已注册：{'、'.join(sorted(known_checks))}）")
        params = {k: v for k, v in section.items() if k not in CORE_CHECK_KEYS}
        for key, value in params.items():
            if key.endswith("_cap") or key.endswith("_yuan"):
                try:
                    yuan_to_fen(value)
                except ValueError:
                    problem(f"checks.{check_id}.{key}", f"金额应为元，最多两位小数，如 \"150.00\"，实际为 {value!r}")
            elif key.startswith(("min_", "max_")) and (not _is_number(value) or value < 0):
                problem(f"checks.{check_id}.{key}", f"应为不小于 0 的数，实际为 {value!r}")
        _check_disease_table(check_id, params.get("diseases"), seen_codes, problem)
        checks[check_id] = CheckConfig(review and not monitoring, params, monitoring, thresholds, level, counts_from)

    refill = _refill_tolerance(data.get("refill_tolerance", {}), seen_codes, problem)

    appeals = data.get("appeals", {})
    appeal_days = DEFAULT_APPEAL_DAYS
    if not isinstance(appeals, dict):
        problem("appeals", "应为表（[appeals]），如 days = 15")
    else:
        unknown = sorted(set(appeals) - {"days"})
        if unknown:
            problem("appeals", f"不认识的设置 {'、'.join(unknown)}（只有 days：申诉期限天数）")
        value = appeals.get("days", DEFAULT_APPEAL_DAYS)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_APPEAL_DAYS:
            problem("appeals.days", f"申诉期限应为 1 到 {MAX_APPEAL_DAYS} 之间的整数天数，实际为 {value!r}")
        else:
            appeal_days = value

    if problems:
        raise RulesetError(path, problems)
    return Ruleset(
        name=data["name"], title=data.get("title", data["name"]), version=data["version"],
        description=data.get("description", ""), path=Path(path), default_days_supply=days,
        exempt_diseases=list(exempt),
        checks=checks, diseases=diseases, drug_classes=drug_classes, same_effect=same_effect,
        ladder=dict(data.get("ladder", {})), appeal_days=appeal_days,
        levels=level_names, refill_tolerance=refill,
    )


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _level_names(table, problem) -> list[str]:
    """``[levels] names = [...]``: the level names, mildest first (default 提示、预警、违规)."""
    if not isinstance(table, dict):
        problem("levels", "应为表：[levels] names = [\"提示\", \"预警\", \"违规\"]")
        return list(DEFAULT_LEVELS)
    names = table.get("names", DEFAULT_LEVELS)
    if (not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names)
            or len(set(names)) != len(names)):
        problem("levels.names", f"应为不重复、非空的级别名称列表（由轻到重），如 [\"提示\", \"预警\", \"违规\"]，实际为 {names!r}")
        return list(DEFAULT_LEVELS)
    return list(names)


def _check_levels(check_id, section, names, problem) -> tuple[list[float] | None, str | None]:
    """A check's ``levels`` (one ascending threshold per level name) and ``level`` (a fixed level name)."""
    key = f"checks.{check_id}"
    level = section.get("level")
    if level is not None and level not in names:
        problem(f"{key}.level", f"应为级别名称之一（{'、'.join(names)}），实际为 {level!r}")
        level = None
    thresholds = section.get("levels")
    if thresholds is None:
        return None, level
    expected = f"应为 {len(names)} 个递增的数值，依次为「{'」「'.join(names)}」的起点（含本数），如 [1, 10, 50]"
    if not isinstance(thresholds, list) or len(thresholds) != len(names) or not all(map(_is_number, thresholds)):
        problem(f"{key}.levels", f"{expected}，实际为 {thresholds!r}")
        return None, level
    if any(b <= a for a, b in zip(thresholds, thresholds[1:])):
        problem(f"{key}.levels", f"{expected}：后一个必须大于前一个，实际为 {thresholds!r}")
        return None, level
    return [float(t) for t in thresholds], level


def _counts_from(check_id, section, names, needs_review, monitoring, problem) -> str | None:
    """``counts_without_review_from``: the level from which flags count without a verdict."""
    key = f"checks.{check_id}.counts_without_review_from"
    value = section.get("counts_without_review_from")
    if value is None:
        return None
    if value not in names:
        problem(key, f"应为级别名称之一（{'、'.join(names)}），实际为 {value!r}")
        return None
    if monitoring or needs_review:
        problem(key, "只用于 needs_review = false 的规则：该级别及以上的标记除非被评为合理即计入，"
                     "以下的标记经委员会评为不合理后才计入"
                     + ("（监测规则从不计入）" if monitoring else "（needs_review = true 时所有标记都需审核）"))
        return None
    return value


def _tolerance(key: str, table, base: Tolerance, problem) -> Tolerance:
    """One ``{ days = …, percent = … }`` table; a key it leaves out is taken from ``base``."""
    if not isinstance(table, dict):
        problem(key, f"应为表，如 {{ days = 7, percent = 25 }}，实际为 {table!r}")
        return base
    unknown = sorted(set(table) - {"days", "percent"})
    if unknown:
        problem(key, f"不认识的设置 {'、'.join(unknown)}（只有 days：最多提前天数；percent：上次用药天数的百分比）")
    days, percent = table.get("days", base.days), table.get("percent", base.percent)
    if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= MAX_TOLERANCE_DAYS:
        problem(f"{key}.days", f"提前天数应为 0 到 {MAX_TOLERANCE_DAYS} 之间的整数，实际为 {days!r}")
        days = base.days
    if not _is_number(percent) or not 0 <= percent <= 100:
        problem(f"{key}.percent", f"应为 0 到 100 之间的数（上次用药天数的百分比，如 25），实际为 {percent!r}")
        percent = base.percent
    return Tolerance(days, percent)


def _refill_tolerance(table, catalog_codes, problem) -> RefillTolerance:
    """``[refill_tolerance]`` with its ``classes`` (ATC prefix) and ``diseases`` (disease code) overrides.
    Without the section the tolerance is 0: any overlap of supplies is flagged (the policy's letter)."""
    key = "refill_tolerance"
    if not isinstance(table, dict):
        problem(key, "应为表：[refill_tolerance] days = 7, percent = 25")
        return RefillTolerance()
    top = {k: v for k, v in table.items() if k not in ("classes", "diseases")}
    default = _tolerance(key, top, Tolerance(), problem)
    result = RefillTolerance(default)
    for part, pattern, expected in (("classes", ATC_PREFIX, "ATC 分类或其前缀，如 C10AA、C10、L04A"),
                                    ("diseases", DISEASE_CODE, "病种编码，如 M03900")):
        overrides = table.get(part, {})
        if not isinstance(overrides, dict):
            problem(f"{key}.{part}", f"应为表：{expected} = {{ days = …, percent = … }}")
            continue
        for name, value in overrides.items():
            where = f"{key}.{part}.{name}"
            if not pattern.match(name):
                problem(where, f"应为{expected}，实际为 {name!r}")
                continue
            if part == "diseases" and catalog_codes and name not in catalog_codes:
                problem(where, f"病种 {name} 不在病种目录中")
            getattr(result, part)[name] = _tolerance(where, value, default, problem)
    return result


def _check_disease_table(check_id, table, catalog_codes, problem) -> None:
    """``[checks.<id>.diseases]``: catalog code → a number (e.g. a per-disease maximum)."""
    if table is None:
        return
    key = f"checks.{check_id}.diseases"
    if not isinstance(table, dict):
        problem(key, "应为表：病种编码 = 数值")
        return
    for code, value in table.items():
        if catalog_codes and code not in catalog_codes:
            problem(f"{key}.{code}", f"病种 {code} 不在病种目录中")
        if not _is_number(value) or value <= 0:
            problem(f"{key}.{code}", f"病种 {code} 的值应为正数，实际为 {value!r}")
