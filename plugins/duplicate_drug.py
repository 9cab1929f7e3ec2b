"""``duplicate_drug``: the same drug again while an earlier supply still covers the day.

Same drug = the same first 10 characters of the national drug code (ignoring
dosage form, package and manufacturer), or — when either item has no code — the
same generic name. Applies to patients with at least ``min_diseases`` certified
diseases (Jinan: 2). The later prescription is at fault.
"""

from mengui_core import hookimpl
from mengui_core.checks import Check

CHECK_ID = "duplicate_drug"

# The overlap join shared with same_effect_drug: item b (in the month, at fault) against an
# earlier item a of the same patient whose supply window overlaps b's.
PAIRS = """
    FROM temp.audit_items b
    JOIN temp.audit_items a
      ON a.patient_id = b.patient_id
     AND a.start_day <= b.end_day AND b.start_day <= a.end_day
     AND (a.rx_seq < b.rx_seq OR (a.rx_seq = b.rx_seq AND a.line_no < b.line_no))
    WHERE b.in_month = 1 AND b.disease_count >= :min_diseases
"""

SAME_DRUG = """coalesce(a.code10 = b.code10
                         OR ((a.code10 IS NULL OR b.code10 IS NULL) AND a.generic = b.generic), 0)"""


def pair_detail(prefix: str = "''") -> str:
    """SQL describing one pair (a earlier, b at fault) in Chinese; ``prefix`` is an SQL text expression."""
    return f"""
        {prefix} || CASE WHEN a.rx_id = b.rx_id
             THEN '同一处方内开具「' || a.drug_name || '」与「' || b.drug_name || '」'
             ELSE '「' || b.drug_name || '」（' || b.rx_date || ' 起 ' || (b.end_day - b.start_day + 1)
                  || ' 天）与处方 ' || a.rx_id || '（' || a.rx_date || '，医师 ' || a.doctor_code || '）的「'
                  || a.drug_name || '」（' || (a.end_day - a.start_day + 1) || ' 天）用药时间重叠'
        END
    """


def run(ctx):
    ctx.ensure_items()
    ctx.add_flags(
        f"""
        SELECT b.rx_id,
               '患者有 ' || max(b.disease_count) || ' 个门规病种，重复用药：' ||
               group_concat({pair_detail()}, '；') AS detail,
               NULL AS amount_fen, NULL AS limit_fen,
               min(CASE WHEN a.rx_id != b.rx_id THEN a.rx_id ELSE b.rx_id END) AS related_rx_id
        {PAIRS} AND {SAME_DRUG}
        GROUP BY b.rx_id
        """,
        {"min_diseases": ctx.param("min_diseases", 2)},
    )


@hookimpl
def register_checks(register):
    register(
        Check(
            id=CHECK_ID,
            title="重复用药",
            description="患有两种及以上门规病种的参保人，在已开药品的用药周期内再次开具同一药品（按医保药品代码前 10 位或通用名判断）。",
            run=run,
        )
    )
