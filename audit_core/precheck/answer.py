"""What the 事前 service answers: the flags as JSON (the plain endpoint, ``mengui precheck``) and as
CDS Hooks 2.0 cards (``order-sign``), each with a Chinese sentence a doctor can act on.

The sentence (``advice``) is built from the flag's evidence, whatever check raised it:

* a cap (evidence with ``visit_fen`` and ``limit_fen``): what the visit held before this
  prescription, this prescription, the sum, the cap and what is left of it;
* a supply still in hand (``days_left``): the earlier prescription, the days in hand, the tolerance
  and the earliest on-time date;
* a certification (``valid_to`` / ``next_from``): when it ended or when it begins;
* anything else (a revoked qualification states its date in its detail): the check's own detail.
"""

from __future__ import annotations

import uuid

from ..money import format_yuan
from .evaluate import DRAFT_ID, Evaluation, Flag

INDICATORS = {"提示": "info", "预警": "warning", "违规": "critical"}
SUMMARY_LIMIT = 139  # CDS Hooks: a summary under 140 characters
#: the code system of the override reasons on every card, and of a card's topic (the check)
REASON_SYSTEM = "https://mengui-audit.cn/cds/override-reason"
TOPIC_SYSTEM = "https://mengui-audit.cn/cds/check"
OVERRIDE_REASONS = [
    {"system": REASON_SYSTEM, "code": "clinical-need", "display": "病情需要，已在病历中说明"},
    {"system": REASON_SYSTEM, "code": "dose-change", "display": "调整剂量或换药，原处方已停用"},
    {"system": REASON_SYSTEM, "code": "travel", "display": "外出或节假日，需提前备药"},
    {"system": REASON_SYSTEM, "code": "lost", "display": "药品遗失或损坏"},
    {"system": REASON_SYSTEM, "code": "data-error", "display": "提示所依据的数据有误"},
    {"system": REASON_SYSTEM, "code": "other", "display": "其他（请在备注中说明）"},
]


def indicator(flag: Flag, levels: list[str]) -> str:
    """提示 → info, 预警 → warning, 违规 → critical; a ruleset's own level names by their rank
    (the lowest info, the highest critical); monitoring flags are information."""
    if flag.monitoring:
        return "info"
    if flag.level in INDICATORS:
        return INDICATORS[flag.level]
    rank = flag.level_rank or len(levels)
    return "info" if rank <= 1 else "critical" if rank >= len(levels) else "warning"


def _yuan(fen) -> str:
    return format_yuan(int(fen)) + " 元"


def advice(flag: Flag) -> str:
    """The flag in one Chinese sentence with the numbers a doctor acts on (see the module)."""
    facts = [e for e in flag.evidence if isinstance(e, dict)]
    cap = next((e for e in facts if "visit_fen" in e and "limit_fen" in e), None)
    if cap is not None:
        visit, limit, this = int(cap["visit_fen"]), int(cap["limit_fen"]), int(cap.get("rx_fen") or 0)
        before = visit - this
        left = max(limit - before, 0)
        head = (f"本次就诊（同日同医师）此前已开 {_yuan(before)}，" if before > 0 else "本次就诊")
        return (f"{head}本处方 {_yuan(this)}，合计 {_yuan(visit)}，超过每次限额 {_yuan(limit)}"
                f"（超出 {_yuan(visit - limit)}）；本次就诊尚可开 {_yuan(left)}")
    overlaps = sorted((e for e in facts if "days_left" in e), key=lambda e: -(e.get("excess_days") or 0))
    if overlaps:
        e = overlaps[0]
        more = f"（另有 {len(overlaps) - 1} 项）" if len(overlaps) > 1 else ""
        if e.get("same_prescription"):
            return (f"本处方内「{e.get('drug_name')}」与「{e.get('later_drug_name')}」重复，重叠 {e.get('days_left')} 天"
                    f"（可重叠 {e.get('tolerance_days')} 天）{more}")
        drug = e.get("drug_name")
        later = e.get("later_drug_name")
        what = f"「{drug}」" if drug == later or not later else f"「{drug}」（本处方「{later}」同类）"
        supply = f"开 {e['days_supply']} 天" if e.get("days_supply") is not None else "未填用药天数"
        return (f"{what}：处方 {e.get('rx_id')}（{e.get('rx_date')}，医师 {e.get('doctor_code')}）{supply}，"
                f"尚余 {e.get('days_left')} 天（可提前 {e.get('tolerance_days')} 天），最早 {e.get('earliest_date')} 可再开{more}")
    cert = next((e for e in facts if "valid_to" in e or "next_from" in e), None)
    if cert is not None:
        if cert.get("valid_to"):
            code = f"（{cert['disease_code']}）" if cert.get("disease_code") else ""
            return f"参保人的门规认定{code}已于 {cert['valid_to']} 到期，开方日没有有效认定：请先办理认定（复审）"
        if cert.get("next_from"):
            return f"参保人的门规认定自 {cert['next_from']} 起才生效，开方日没有有效认定"
        return "参保人没有任何门规认定记录，不能按门规开方"
    return flag.detail


def summary(flag: Flag) -> str:
    """``标题（级别）：advice``, cut to under 140 characters."""
    level = "监测" if flag.monitoring else (flag.level or "")
    text = f"{flag.title}（{level}）：{advice(flag)}" if level else f"{flag.title}：{advice(flag)}"
    return text if len(text) <= SUMMARY_LIMIT else text[:SUMMARY_LIMIT - 1] + "…"


def flag_json(flag: Flag) -> dict:
    out = {"check_id": flag.check_id, "title": flag.title, "level": flag.level, "level_rank": flag.level_rank,
           "monitoring": flag.monitoring, "counts_without_review": not flag.needs_review and not flag.monitoring,
           "advice": advice(flag), "detail": flag.detail, "measure": flag.measure}
    if flag.amount_fen is not None:
        out["amount_yuan"] = format_yuan(flag.amount_fen, grouping=False)
    if flag.limit_fen is not None:
        out["limit_yuan"] = format_yuan(flag.limit_fen, grouping=False)
    if flag.related_rx_id:
        out["related_rx_id"] = flag.related_rx_id
    out["evidence"] = flag.evidence
    return out


def answer_json(evaluation: Evaluation) -> dict:
    """The plain answer (DESIGN §9): ``flags`` (empty when nothing would be flagged) and what judged them."""
    draft = evaluation.draft
    ruleset = evaluation.ruleset
    return {
        "flags": [flag_json(f) for f in evaluation.flags],
        "rx_id": None if evaluation.rx_id == DRAFT_ID else evaluation.rx_id,
        "rx_date": draft.rx_date,
        "month": draft.month,
        "amount_yuan": format_yuan(draft.amount_fen, grouping=False),
        "ruleset": {"name": ruleset.name, "title": ruleset.title, "version": ruleset.version},
        "checked": [c.id for c in evaluation.checks],
        "skipped": [{"check_id": c.id, "title": c.title, "reason": "需要全月数据（与同科室医师比较），只在月度审核中运行"}
                    for c in evaluation.skipped],
        "elapsed_ms": round(evaluation.seconds * 1000, 2),
    }


def cards(evaluation: Evaluation) -> list[dict]:
    """CDS Hooks 2.0 cards, one per flag, the most severe first."""
    ruleset = evaluation.ruleset
    label = f"门规处方事前提示（mengui-audit · 规则集 {ruleset.name} {ruleset.version}）"
    out = []
    for flag in evaluation.flags:
        lines = [f"**{flag.title}**（{'监测，仅供参考' if flag.monitoring else flag.level}）", "", advice(flag), "",
                 f"月度审核将记录的理由：{flag.detail}"]
        if not flag.monitoring:
            lines += ["", "如确需继续开具，请选择理由：理由将随处方记录，供药事委员会审核时参考。"]
        out.append({
            "uuid": str(uuid.uuid4()),
            "summary": summary(flag),
            "indicator": indicator(flag, ruleset.levels),
            "detail": "\n".join(lines),
            "source": {"label": label, "topic": {"system": TOPIC_SYSTEM, "code": flag.check_id, "display": flag.title}},
            "overrideReasons": OVERRIDE_REASONS,
        })
    return out
