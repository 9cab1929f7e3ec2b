"""``duplicate_drug``: the same drug again while an earlier supply still covers the day.

Same drug = the same first 10 characters of the national drug code (ignoring
dosage form, package and manufacturer), or — when either item has no code — the
same generic name. Applies to patients with at least ``min_diseases`` certified
diseases (Jinan: 2). The later prescription is at fault.
"""

from mengui_core import hookimpl
from mengui_core.checks import Check

from .drug_overlap import SAME_DRUG, flag_overlapping_pairs

CHECK_ID = "duplicate_drug"


def run(ctx):
    flag_overlapping_pairs(ctx, "重复用药", SAME_DRUG)


@hookimpl
def register_checks(register):
    register(
        Check(
            id=CHECK_ID,
            title="重复用药",
            description="患有两种及以上门规病种的参保人，在已开药品的用药周期内再次开具同一药品（按医保药品代码前 10 位或通用名判断）。",
            run=run,
            uses_items=True,
        )
    )
