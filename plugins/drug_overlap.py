"""Shared SQL for the drug checks: pairs of items of one patient whose supply windows overlap.

Item ``b`` (dated in the month, at fault) is paired with every earlier item ``a`` of the
same patient whose window overlaps b's: earlier means an earlier prescription (date, time,
rx_id: ``seq``), or an earlier line of the same prescription. The pairs are found in
``temp.item_spans``, the narrow table behind ``temp.audit_items``, clustered by (patient, seq,
line) and holding the drugs' comparison keys as integers: each item reads only the short run of
its patient's earlier items, so the work grows with the items, not with every pair in the month.
Only the pairs found are joined to ``temp.audit_items`` for their names and dates.
Not an entry point: a helper module.
"""

OVERLAP = "a.start_day <= b.end_day AND b.start_day <= a.end_day"
EARLIER = "(a.seq < b.seq OR (a.seq = b.seq AND a.line_no < b.line_no))"

# Same drug: the same first 10 characters of the national code, or, when either item has no
# code, the same generic name (compared by their integer ids in item_spans).
SAME_DRUG = """coalesce(a.code10_id = b.code10_id
                         OR ((a.code10_id IS NULL OR b.code10_id IS NULL) AND a.generic_id = b.generic_id), 0)"""


def pair_detail(prefix: str = "''") -> str:
    """SQL describing one pair (``a`` earlier, ``b`` at fault: rows of ``temp.audit_items``) in Chinese;
    ``prefix`` is an SQL text expression."""
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
    which the SQL condition ``same`` (on ``item_spans`` rows ``a`` and ``b``) holds."""
    min_diseases = ctx.param("min_diseases", 2)
    ctx.ensure_items(min_diseases)
    return ctx.add_flags(
        f"""
        WITH pairs AS MATERIALIZED (
            SELECT b.patient_id, b.seq AS b_seq, b.line_no AS b_line, a.seq AS a_seq, a.line_no AS a_line
            FROM temp.item_spans AS b
            CROSS JOIN temp.item_spans AS a ON a.patient_id = b.patient_id AND a.seq <= b.seq
            WHERE b.in_month = 1 AND b.disease_count >= :min_diseases
              AND {EARLIER} AND {OVERLAP} AND {same}
        )
        SELECT rx_id, '患者有 ' || max(disease_count) || ' 个门规病种，{label}：' || group_concat(piece, '；') AS detail,
               NULL AS amount_fen, NULL AS limit_fen, min(related) AS related_rx_id
        FROM (
            SELECT b.rx_id, b.disease_count, {pair_detail(pair_prefix)} AS piece,
                   CASE WHEN a.rx_id != b.rx_id THEN a.rx_id ELSE b.rx_id END AS related
            FROM pairs p
            JOIN temp.audit_items b ON b.patient_id = p.patient_id AND b.seq = p.b_seq AND b.line_no = p.b_line
            JOIN temp.audit_items a ON a.patient_id = p.patient_id AND a.seq = p.a_seq AND a.line_no = p.a_line
        )
        GROUP BY rx_id
        """,
        {"min_diseases": min_diseases},
    )
