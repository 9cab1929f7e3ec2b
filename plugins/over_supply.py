"""``over_supply``: an item's days of supply beyond the maximum for the prescription's disease.

Ruleset parameters (``[checks.over_supply]``): ``max_days`` (the default maximum) and a table
``[checks.over_supply.diseases]`` of catalog code → maximum days. A prescription's allowance is
the most generous among its billed diseases (billed codes map to catalog codes as for the disease
count: ``temp.rx_codes`` + ``temp.token_map``); a prescription with no billed catalog disease gets
``max_days``. Items without ``days_supply`` cover the ruleset's default and are not checked.
Measure: the largest number of days beyond the allowance among the prescription's items.
"""

import json

from mengui_core import Check, hookimpl

CHECK_ID = "over_supply"


def run(ctx):
    max_days = int(ctx.param("max_days", 30))
    per_disease = {code: int(days) for code, days in (ctx.param("diseases") or {}).items()}
    lowest = min([max_days, *per_disease.values()])
    ctx.add_flags(
        """
        WITH candidates AS (  -- items long enough to exceed at least the smallest allowance
            SELECT i.rx_id, i.drug_name, i.days_supply
            FROM temp.audit_rx r CROSS JOIN rx_items i ON i.rx_id = r.rx_id  -- the month's items, not every item
            WHERE i.days_supply > :lowest
        ),
        allowance AS (  -- the most generous billed disease (SQLite takes the bare column from the max row)
            SELECT x.rx_id, max(x.days) AS max_days, x.catalog_code AS basis
            FROM (
                SELECT r.rx_id, t.catalog_code,
                       coalesce(json_extract(:per_disease, '$.' || t.catalog_code), :max_days) AS days
                FROM (SELECT DISTINCT rx_id FROM candidates) r
                LEFT JOIN temp.rx_codes c ON c.rx_id = r.rx_id
                LEFT JOIN temp.token_map t ON t.code = c.code
            ) x
            GROUP BY x.rx_id
        )
        SELECT c.rx_id,
               group_concat('「' || c.drug_name || '」用药 ' || c.days_supply || ' 天，超过'
                            || coalesce(json_extract(:names, '$.' || a.basis), '门规病种')
                            || '每次最长 ' || a.max_days || ' 天（超出 ' || (c.days_supply - a.max_days) || ' 天）',
                            '；') AS detail,
               max(c.days_supply - a.max_days) AS measure
        FROM candidates c JOIN allowance a ON a.rx_id = c.rx_id
        WHERE c.days_supply > a.max_days
        GROUP BY c.rx_id
        """,
        {"max_days": max_days, "lowest": lowest, "per_disease": json.dumps(per_disease),
         "names": json.dumps({d.code: d.name for d in ctx.ruleset.diseases}, ensure_ascii=False)},
    )


@hookimpl
def register_checks(register):
    register(
        Check(
            id=CHECK_ID,
            title="超长用药天数",
            colour="#56B4E9",
            description="处方中单个药品的用药天数超过所登记门规病种允许的每次最长天数（一般 {max_days} 天，部分病种另有规定；"
                        "多个病种取最长者）。",
            run=run,
            measure_text="超过最长用药天数 {measure:g} 天",
            note_hint="例如：长期外出带药，病历有记载",
        )
    )
