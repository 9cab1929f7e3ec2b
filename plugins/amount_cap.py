"""``amount_cap``: one prescribing event (same patient, doctor and day) over the cap.

Measure (for the ruleset's ``levels``): the percentage by which the visit exceeds its cap.
Evidence: the visit's sum (``visit_fen``), its cap (``limit_fen``), this prescription's amount
(``rx_fen``), the visit's prescriptions and disease count — the 事前 answer states from them what
the visit held before the draft and how much of the cap is left.

Ruleset parameters (``[checks.amount_cap]``): ``single_cap`` and ``multi_cap`` in 元,
optional ``insurance_types`` (only those are capped) and ``apply_to_uncertified``. Prescriptions billed under an
exempt disease are neither flagged nor counted in their visit's sum; patients with no
valid certification that day are left to the ``uncertified`` check.
"""

import json

from mengui_core import Check, hookimpl, yuan_sql

CHECK_ID = "amount_cap"


def run(ctx):
    single = ctx.fen("single_cap")
    multi = ctx.fen("multi_cap", ctx.param("single_cap"))
    types = ctx.param("insurance_types") or []
    # A city whose cap is not about 门规 certification (e.g. a residents' outpatient cap) sets
    # apply_to_uncertified = true: patients with no valid certification get the single cap.
    lowest = 0 if ctx.param("apply_to_uncertified", False) else 1
    type_filter = ""
    if types:
        type_filter = "AND insurance_type IN (SELECT value FROM json_each(:types))"
    ctx.add_flags(
        f"""
        WITH visits AS (
            SELECT patient_id, doctor_code, rx_date, sum(amount_fen) AS visit_fen, count(*) AS rx_count,
                   max(disease_count) AS disease_count,
                   CASE WHEN max(disease_count) >= 2 THEN :multi ELSE :single END AS limit_fen
            FROM temp.audit_rx
            WHERE exempt = 0 AND disease_count >= :lowest {type_filter}
            GROUP BY patient_id, doctor_code, rx_date
        )
        SELECT r.rx_id,
               CASE WHEN v.disease_count >= 2 THEN '多病种（' || v.disease_count || ' 个病种/并发症）'
                    ELSE '单病种' END
               || '患者同日同医师' ||
               CASE WHEN v.rx_count > 1 THEN '共 ' || v.rx_count || ' 张处方（分解处方合并计算）' ELSE '' END
               || '药品金额 ' || {yuan_sql('v.visit_fen')} || ' 元，超过每次限额 '
               || {yuan_sql('v.limit_fen')} || ' 元，超出 ' || {yuan_sql('v.visit_fen - v.limit_fen')} || ' 元'
               || CASE WHEN v.rx_count > 1 THEN '；本处方 ' || {yuan_sql('r.amount_fen')} || ' 元' ELSE '' END
               AS detail,
               v.visit_fen AS amount_fen, v.limit_fen,
               100.0 * (v.visit_fen - v.limit_fen) / v.limit_fen AS measure,
               json_array(json_object('visit_fen', v.visit_fen, 'limit_fen', v.limit_fen, 'rx_fen', r.amount_fen,
                                      'rx_count', v.rx_count, 'disease_count', v.disease_count)) AS evidence
        FROM visits v
        JOIN temp.audit_rx r
          ON r.patient_id = v.patient_id AND r.doctor_code = v.doctor_code AND r.rx_date = v.rx_date
        WHERE r.exempt = 0 AND v.visit_fen > v.limit_fen {type_filter.replace('insurance_type', 'r.insurance_type')}
        """,
        {"single": single, "multi": multi, "lowest": lowest, "types": json.dumps(types, ensure_ascii=False)},
    )


@hookimpl
def register_checks(register):
    register(
        Check(
            id=CHECK_ID,
            title="超限额处方",
            colour="#D55E00",
            description="同一参保人同日同医师的门规处方药品金额合计超过每次限额（单病种 {single_cap} 元、多病种或合并并发症 "
            "{multi_cap} 元），{exempt_diseases}的处方不限额、不计入合计；分解处方合并计算。",
            run=run,
            measure_text="超出限额 {measure}%",
            note_hint="例如：分解处方，规避单次限额；或：病情需要加药，病历有记载",
        )
    )
