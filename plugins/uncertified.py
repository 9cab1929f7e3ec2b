"""``uncertified``: a 门规 prescription for a patient with no certification valid that day.

The detail and the evidence name the patient's latest certification that ended before that day
(``valid_to``, its disease) or the next one not yet begun (``next_from``): what a doctor can act on
(renew the certification first).
"""

from mengui_core import Check, hookimpl, yuan_sql

CHECK_ID = "uncertified"


def run(ctx):
    # certified IS NULL when no certifications are loaded at all: nothing to check against
    ctx.add_flags(
        f"""
        SELECT rx_id,
               '开方当日（' || rx_date || '）参保人没有有效的门规病种认定' ||
               CASE WHEN disease_codes IS NOT NULL THEN '（处方登记病种 ' || disease_codes || '）' ELSE '' END ||
               '，处方金额 ' || {yuan_sql('amount_fen')} || ' 元' ||
               CASE WHEN ended IS NOT NULL THEN '；最近一次认定（' || ended_code || '）已于 ' || ended || ' 到期'
                    WHEN next_from IS NOT NULL THEN '；认定自 ' || next_from || ' 起才生效'
                    ELSE '；没有任何门规认定记录' END AS detail,
               amount_fen,
               json_array(json_object('valid_to', ended, 'disease_code', ended_code, 'next_from', next_from))
                   AS evidence
        FROM (
            SELECT r.rx_id, r.rx_date, r.disease_codes, r.amount_fen,
                   (SELECT max(c.valid_to) FROM certifications c
                    WHERE c.patient_id = r.patient_id AND c.valid_to < r.rx_date) AS ended,
                   (SELECT c.disease_code FROM certifications c WHERE c.patient_id = r.patient_id
                      AND c.valid_to < r.rx_date ORDER BY c.valid_to DESC, c.disease_code LIMIT 1) AS ended_code,
                   (SELECT min(c.valid_from) FROM certifications c
                    WHERE c.patient_id = r.patient_id AND c.valid_from > r.rx_date) AS next_from
            FROM temp.audit_rx r
            WHERE r.certified = 0
        )
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
