"""``same_effect_drug``: two different drugs of the same therapeutic class with overlapping supply.

The overlap is judged like a refill (``[refill_tolerance]``): a switch to another drug of the
class once the earlier supply is nearly used up is not flagged; beyond the tolerance the measure is
the excess in days.

The class is the ATC level-4 code (from the national drug code, else the
ruleset's drug catalog), merged into the ruleset's same-effect groups; classes
marked ``not_comparable`` and the ruleset's ``allowed`` combinations are skipped.
"""

from mengui_core import SAME_DRUG, Check, hookimpl

from .drug_overlap import flag_overlapping_pairs

CHECK_ID = "same_effect_drug"

SAME_EFFECT = f"""
    a.effect_id = b.effect_id
    AND a.comparable = 1 AND b.comparable = 1
    AND NOT {SAME_DRUG}
    AND NOT EXISTS (SELECT 1 FROM temp.allowed_pair_ids ap WHERE ap.a = a.generic_id AND ap.b = b.generic_id)
"""


def run(ctx):
    flag_overlapping_pairs(ctx, "相同疗效药品", SAME_EFFECT, "'同属' || b.effect_title || '：'", verb="开")


@hookimpl
def register_checks(register):
    register(
        Check(
            id=CHECK_ID,
            title="相同疗效药品",
            colour="#009E73",
            description="患有 {min_diseases} 种及以上门规病种的参保人，上次开具的药品尚余天数超过续方容差（最多提前 "
                        "{refill_days} 天，且不超过上次用药天数的 {refill_percent}%）时，又被开具同一治疗类别（ATC 四级或规则集"
                        "合并的类别）的不同药品；衡量值为超出容差的天数。",
            run=run,
            measure_text="原药尚余 {days_left} 天（可提前 {tolerance_days} 天），超出 {excess_days} 天",
            note_hint="例如：原药未用完即换同类药，无正当理由；或：原药不良反应换药，病历有记载",
            uses_items=True,
            by_patient=True,
        )
    )
