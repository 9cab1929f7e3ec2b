"""Shared SQL for the drug checks: pairs of items of one patient whose supply windows overlap.

Item ``b`` (dated in the month, at fault) is paired with every earlier item ``a`` of the
same patient whose window overlaps b's: earlier means an earlier prescription (date, time,
rx_id), or an earlier line of the same prescription. ``temp.audit_items`` is clustered by
(patient, prescription order, line), so each item reads only the short run of its patient's
earlier items: the work grows with the items, not with every pair in the month.
Not an entry point: a helper module.
"""

OVERLAP = "a.start_day <= b.end_day AND b.start_day <= a.end_day"
EARLIER = "(a.rx_order < b.rx_order OR (a.rx_order = b.rx_order AND a.line_no < b.line_no))"

# Same drug: the same first 10 characters of the national code, or, when either item has no
# code, the same generic name.
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


def flag_overlapping_pairs(ctx, label: str, same: str, pair_prefix: str = "''") -> int:
    """Flag each in-month prescription with an overlapping earlier item of the same patient for
    which the SQL condition ``same`` (on items ``a`` and ``b``) holds."""
    min_diseases = ctx.param("min_diseases", 2)
    ctx.ensure_items(min_diseases)
    return ctx.add_flags(
        f"""
        SELECT rx_id, '患者有 ' || max(disease_count) || ' 个门规病种，{label}：' || group_concat(piece, '；') AS detail,
               NULL AS amount_fen, NULL AS limit_fen, min(related) AS related_rx_id
        FROM (
            SELECT b.rx_id, b.disease_count, {pair_detail(pair_prefix)} AS piece,
                   CASE WHEN a.rx_id != b.rx_id THEN a.rx_id ELSE b.rx_id END AS related
            FROM temp.audit_items AS b
            CROSS JOIN temp.audit_items AS a ON a.patient_id = b.patient_id AND a.rx_order <= b.rx_order
            WHERE b.in_month = 1 AND b.disease_count >= :min_diseases
              AND {EARLIER} AND {OVERLAP} AND {same}
        )
        GROUP BY rx_id
        """,
        {"min_diseases": min_diseases},
    )
