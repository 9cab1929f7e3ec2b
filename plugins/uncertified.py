"""``uncertified``: a 门规 prescription for a patient with no certification valid that day."""

from mengui_core import Check, hookimpl, yuan_sql

CHECK_ID = "uncertified"


def run(ctx):
    # certified IS NULL when no certifications are loaded at all: nothing to check against
    ctx.add_flags(
        f"""
        SELECT rx_id,
               '开方当日（' || rx_date || '）参保人没有有效的门规病种认定' ||
               CASE WHEN disease_codes IS NOT NULL THEN '（处方登记病种 ' || disease_codes || '）' ELSE '' END ||
               '，处方金额 ' || {yuan_sql('amount_fen')} || ' 元' AS detail,
               amount_fen
        FROM temp.audit_rx
        WHERE certified = 0
        """
    )


@hookimpl
def register_checks(register):
    register(
        Check(
            id=CHECK_ID,
            title="无有效门规认定",
            colour="#CC79A7",
            description="开方当日参保人没有任何有效的门规病种（或并发症）认定，却按门规结算。",
            run=run,
            note_hint="例如：认定资料已补办，待医保部门审批",
        )
    )
