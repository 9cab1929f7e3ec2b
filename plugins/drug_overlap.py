"""Shared SQL for the drug checks: pairs of items of one patient whose supplies overlap beyond the
refill tolerance.

Item ``b`` (dated in the month, at fault) is paired with every earlier item ``a`` of the same
patient: earlier means an earlier prescription (date, time, rx_id: ``seq``), or an earlier line of
the same prescription. The *overlap* is the number of days of ``a``'s supply still ahead on ``b``'s
first day (``a.end_day - b.start_day + 1``); two items of one prescription overlap by ``a``'s whole
supply. The *tolerance* is the ruleset's ``[refill_tolerance]``: the smaller of a number of days
and a share of ``a``'s days of supply (rounded down; 0 when ``a`` has no days of supply), taken
from ``b``'s billed diseases, else ``b``'s drug class, else the default (``item_spans.tol_days`` and
``tol_bp`` hold it per item). A pair is a finding only when the overlap exceeds the tolerance;
the flag's ``measure`` is the largest *excess* (overlap − tolerance, in days) of its pairs.

The pairs are found in ``temp.item_spans``, the narrow table behind ``temp.audit_items``,
clustered by (patient, seq, line) and holding the drugs' comparison keys as integers: each item
reads only the short run of its patient's earlier items, so the work grows with the items, not
with every pair in the month. Only the pairs found are joined to ``temp.audit_items`` for their
names and dates. Not an entry point: a helper module.
"""

EARLIER = "(a.seq < b.seq OR (a.seq = b.seq AND a.line_no < b.line_no))"

# Same drug: the same first 10 characters of the national code, or, when either item has no
# code, the same generic name (compared by their integer ids in item_spans).
SAME_DRUG = """coalesce(a.code10_id = b.code10_id
                         OR ((a.code10_id IS NULL OR b.code10_id IS NULL) AND a.generic_id = b.generic_id), 0)"""

# Days of a's supply still ahead on b's first day, and the tolerance for it (item_spans rows a, b).
OVERLAP_DAYS = "(a.end_day - b.start_day + 1)"
TOLERANCE_DAYS = "(CASE WHEN a.supply > 0 THEN min(b.tol_days, a.supply * b.tol_bp / 10000) ELSE 0 END)"


def pair_detail(prefix: str = "''", verb: str = "再开") -> str:
    """SQL describing one pair in Chinese: ``a`` and ``b`` are rows of ``temp.audit_items``, ``p`` the
    pair (``overlap``, ``tolerance``, ``excess``, ``earliest``); ``prefix`` is an SQL text expression,
    ``verb`` how the later item is described (再开: the same drug again; 开: another drug)."""
    return f"""
        {prefix} || CASE WHEN a.rx_id = b.rx_id
             THEN '同一处方内开具「' || a.drug_name || '」' || coalesce('（' || a.days_supply || ' 天）', '')
                  || '与「' || b.drug_name || '」，重叠 ' || p.overlap || ' 天（可重叠 ' || p.tolerance || ' 天）'
             ELSE '提前 ' || p.overlap || ' 天{verb}「' || b.drug_name || '」：处方 ' || a.rx_id || '（' || a.rx_date
                  || '，医师 ' || a.doctor_code || '）'
                  || CASE WHEN a.drug_name = b.drug_name THEN '' ELSE '的「' || a.drug_name || '」' END
                  || CASE WHEN a.days_supply IS NULL THEN '未填用药天数（按 ' || (a.end_day - a.start_day + 1) || ' 天计）'
                          ELSE '开 ' || a.days_supply || ' 天' END
                  || '，尚余 ' || p.overlap || ' 天（可提前 ' || p.tolerance || ' 天），最早 ' || p.earliest || ' 可{verb}'
        END
    """


def pair_evidence() -> str:
    """SQL building one pair's evidence as a JSON object (the review page and the 事前 answer lay it out)."""
    return """
        json_object('rx_id', a.rx_id, 'rx_date', a.rx_date, 'doctor_code', a.doctor_code,
                    'drug_name', a.drug_name, 'later_drug_name', b.drug_name,
                    'days_supply', a.days_supply, 'days_left', p.overlap, 'tolerance_days', p.tolerance,
                    'excess_days', p.excess, 'earliest_date', CASE WHEN a.rx_id != b.rx_id THEN p.earliest END,
                    'same_prescription', json(CASE WHEN a.rx_id = b.rx_id THEN 'true' ELSE 'false' END))
    """


def flag_overlapping_pairs(ctx, label: str, same: str, pair_prefix: str = "''", verb: str = "再开") -> int:
    """Flag each in-month prescription with an earlier item of the same patient for which the SQL
    condition ``same`` (on ``item_spans`` rows ``a`` and ``b``) holds and whose supply overlaps
    beyond the refill tolerance. The measure is the largest excess in days."""
    min_diseases = ctx.param("min_diseases", 2)
    ctx.ensure_items(min_diseases)
    return ctx.add_flags(
        f"""
        WITH pairs AS MATERIALIZED (
            SELECT patient_id, b_seq, b_line, a_seq, a_line, overlap, tolerance, overlap - tolerance AS excess,
                   date(a_end + 1 - tolerance + 0.5) AS earliest
            FROM (
                SELECT b.patient_id, b.seq AS b_seq, b.line_no AS b_line, a.seq AS a_seq, a.line_no AS a_line,
                       a.end_day AS a_end, {OVERLAP_DAYS} AS overlap, {TOLERANCE_DAYS} AS tolerance
                FROM temp.item_spans AS b
                CROSS JOIN temp.item_spans AS a ON a.patient_id = b.patient_id AND a.seq <= b.seq
                WHERE b.in_month = 1 AND b.disease_count >= :min_diseases
                  AND {EARLIER} AND a.end_day >= b.start_day AND {same}
            )
            WHERE overlap > tolerance
        )
        SELECT rx_id, '患者有 ' || disease_count || ' 个门规病种，{label}：' || group_concat(piece, '；') AS detail,
               -- one max(): the bare columns come from the pair with the largest excess
               max(excess) AS measure, related AS related_rx_id, json_group_array(json(evidence)) AS evidence
        FROM (
            SELECT b.rx_id, b.disease_count, p.excess, {pair_detail(pair_prefix, verb)} AS piece, {pair_evidence()} AS evidence,
                   CASE WHEN a.rx_id != b.rx_id THEN a.rx_id ELSE b.rx_id END AS related
            FROM pairs p
            JOIN temp.audit_items b ON b.patient_id = p.patient_id AND b.seq = p.b_seq AND b.line_no = p.b_line
            JOIN temp.audit_items a ON a.patient_id = p.patient_id AND a.seq = p.a_seq AND a.line_no = p.a_line
            ORDER BY b.rx_id, p.excess DESC, p.a_seq, p.a_line, p.b_line
        )
        GROUP BY rx_id
        """,
        {"min_diseases": min_diseases},
    )
