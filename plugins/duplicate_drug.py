"""``duplicate_drug``: the same drug again while more of the earlier supply is left than a refill may have.

Same drug = the same first 10 characters of the national drug code (ignoring
dosage form, package and manufacturer), or — when either item has no code — the
same generic name. Applies to patients with at least ``min_diseases`` certified
diseases (Jinan: 2). An on-time refill (the days still in hand within the ruleset's
``[refill_tolerance]``) is not flagged; beyond it the measure is the excess in days.
The later prescription is at fault.
"""

from mengui_core import SAME_DRUG, Check, hookimpl

from .drug_overlap import flag_overlapping_pairs

CHECK_ID = "duplicate_drug"


def run(ctx):
    flag_overlapping_pairs(ctx, "重复用药", SAME_DRUG)


@hookimpl
def register_checks(register):
    register(
        Check(
            id=CHECK_ID,
            title="重复用药",
            colour="#0072B2",
            description="患有 {min_diseases} 种及以上门规病种的参保人，上次开具的同一药品（按医保药品代码前 10 位或通用名判断）"
                        "尚余天数超过续方容差（最多提前 {refill_days} 天，且不超过上次用药天数的 {refill_percent}%）时再次开具；"
                        "衡量值为超出容差的天数。按时续方不标记。",
            run=run,
            measure_text="尚余 {days_left} 天（可提前 {tolerance_days} 天），超出 {excess_days} 天",
            note_hint="例如：提前重复开药，无正当理由；或：药品遗失，病历有记载",
            uses_items=True,
            by_patient=True,
        )
    )
