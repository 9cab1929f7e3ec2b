"""``frequent_visits``: a patient's 门规 visits in the month beyond ``max_visits``, across doctors.

A visit is one patient, one doctor, one calendar day (docs/usage.md). Visits are numbered in time
order (date, then the first prescription's time, then the doctor code); the prescriptions of every
visit numbered above ``max_visits`` are flagged. Measure: the visit's number minus ``max_visits``
(1 for the first visit over the limit). A monitoring check in the Jinan ruleset.
"""

from mengui_core import Check, hookimpl

CHECK_ID = "frequent_visits"


def run(ctx):
    ctx.add_flags(
        """
        WITH visits AS MATERIALIZED (
            SELECT patient_id, doctor_code, rx_date, min(coalesce(rx_time, '')) AS first_time
            FROM temp.audit_rx GROUP BY patient_id, doctor_code, rx_date
        ),
        busy AS (  -- patients over the limit, with their doctors
            SELECT v.patient_id, count(*) AS total
            FROM visits v GROUP BY v.patient_id HAVING count(*) > :max_visits
        ),
        doctors_seen AS (
            SELECT x.patient_id, group_concat(x.who, '、') AS doctors
            FROM (SELECT v.patient_id, v.doctor_code || coalesce(' ' || d.doctor_name, '') || '（' || count(*) || ' 次）' AS who
                  FROM visits v JOIN busy b USING (patient_id) LEFT JOIN doctors d ON d.doctor_code = v.doctor_code
                  GROUP BY v.patient_id, v.doctor_code ORDER BY v.patient_id, v.doctor_code) x
            GROUP BY x.patient_id
        ),
        numbered AS (
            SELECT v.*, b.total,
                   row_number() OVER (PARTITION BY v.patient_id ORDER BY v.rx_date, v.first_time, v.doctor_code) AS n
            FROM visits v JOIN busy b USING (patient_id)
        )
        SELECT r.rx_id,
               '本月第 ' || n.n || ' 次门规就诊（共 ' || n.total || ' 次，超过每月 ' || :max_visits || ' 次）；'
               || '本月就诊医师：' || s.doctors AS detail,
               n.n - :max_visits AS measure
        FROM numbered n
        JOIN doctors_seen s USING (patient_id)
        JOIN temp.audit_rx r ON r.patient_id = n.patient_id AND r.doctor_code = n.doctor_code AND r.rx_date = n.rx_date
        WHERE n.n > :max_visits
        """,
        {"max_visits": int(ctx.param("max_visits", 4))},
    )


@hookimpl
def register_checks(register):
    register(
        Check(
            id=CHECK_ID,
            title="频繁就诊",
            colour="#6A51A3",
            description="参保人本月门规就诊次数（同一患者、同一医师、同一天为一次，跨医师合计）超过每月 {max_visits} 次，"
            "标记超出之后每次就诊的处方。",
            run=run,
            measure_text="超过每月次数 {measure:g} 次",
            note_hint="例如：病情变化需复诊调整用药，病历有记载",
        )
    )
