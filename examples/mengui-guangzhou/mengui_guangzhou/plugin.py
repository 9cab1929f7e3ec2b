"""The Guangzhou plugin: the ``monthly_cap`` check, the ``guangzhou`` ruleset, and Datasette metadata."""

import json
from importlib.resources import files

from mengui_core import Check, hookimpl, yuan_sql


def monthly_cap(ctx):
    """Flag the visit that takes a patient's month over the cap, and every later visit that month.

    A visit is one patient, one doctor, one day (as for amount_cap). Visits are ordered by day,
    then by the time of their first prescription, then by doctor; the running sum decides.
    """
    cap = ctx.fen("monthly_cap")
    types = ctx.param("insurance_types") or []
    ctx.add_flags(
        f"""
        WITH visits AS (
            SELECT patient_id, doctor_code, rx_date, min(coalesce(rx_time, '')) AS first_time,
                   sum(amount_fen) AS visit_fen
            FROM temp.audit_rx
            WHERE exempt = 0
              AND (json_array_length(:types) = 0 OR insurance_type IN (SELECT value FROM json_each(:types)))
            GROUP BY patient_id, doctor_code, rx_date
        ),
        running AS (
            SELECT *, sum(visit_fen) OVER (
                PARTITION BY patient_id ORDER BY rx_date, first_time, doctor_code
                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS month_fen
            FROM visits
        )
        SELECT r.rx_id,
               '本月累计门诊用药 ' || {yuan_sql('v.month_fen')} || ' 元（含本次就诊 ' || {yuan_sql('v.visit_fen')}
               || ' 元），超过每月限额 ' || {yuan_sql(':cap')} || ' 元' AS detail,
               v.month_fen AS amount_fen, :cap AS limit_fen
        FROM running v
        JOIN temp.audit_rx r
          ON r.patient_id = v.patient_id AND r.doctor_code = v.doctor_code AND r.rx_date = v.rx_date
        WHERE v.month_fen > :cap AND r.exempt = 0
        """,
        {"cap": cap, "types": json.dumps(types, ensure_ascii=False)},
    )


@hookimpl
def register_checks(register):
    register(Check(
        id="monthly_cap",
        title="月度超限额",
        description="城乡居民同一参保人当月门诊用药累计超过每月 {monthly_cap} 元：标记越过限额的那次就诊及当月之后的每次就诊。",
        run=monthly_cap,
        colour="#E69F00",
        note_hint="例如：当月病情加重，加药有病历记载",
    ))


@hookimpl
def register_rulesets(register):
    register(files("mengui_guangzhou") / "guangzhou.toml")


@hookimpl
def register_datasette_metadata(register):
    register({"queries": {"monthly_cap_flags": {
        "title": "月度超限额明细",
        "description": "当月累计门诊用药超过每月限额的就诊（月份留空为最近审核的月份）。",
        "hide_sql": True,
        "sql": """
            SELECT f.rx_id AS 处方号, f.rx_date AS 开方日期, f.doctor_code AS 医师代码, f.department AS 科室,
                   mg_yuan(f.amount_fen) AS "当月累计（元）",
                   mg_yuan(f.limit_fen) AS "每月限额（元）", f.detail AS 原因,
                   '/-/review/' || f.rx_id || '/' || f.check_id AS 审核
            FROM flags f
            WHERE f.check_id = 'monthly_cap'
              AND f.month = coalesce(nullif(:month, ''), (SELECT max(month) FROM audit_runs))
            ORDER BY f.rx_date, f.rx_id""",
    }}})
