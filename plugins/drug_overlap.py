"""Shared SQL for the drug checks: the Chinese sentence and the evidence of each pair of items whose
supplies overlap beyond the refill tolerance, found by ``ctx.item_pairs`` (see
``mengui_core.audit.pairs`` for what a pair is). Not an entry point: a helper module.
"""


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
    pairs = ctx.item_pairs(same, ctx.param("min_diseases", 2))
    return ctx.add_flags(
        f"""
        SELECT rx_id, '患者有 ' || disease_count || ' 个门规病种，{label}：' || group_concat(piece, '；') AS detail,
               -- one max(): the bare columns come from the pair with the largest excess
               max(excess) AS measure, related AS related_rx_id, json_group_array(json(evidence)) AS evidence
        FROM (
            SELECT b.rx_id, b.disease_count, p.excess, {pair_detail(pair_prefix, verb)} AS piece, {pair_evidence()} AS evidence,
                   CASE WHEN a.rx_id != b.rx_id THEN a.rx_id ELSE b.rx_id END AS related
            FROM {pairs} p
            JOIN temp.audit_items b ON b.patient_id = p.patient_id AND b.seq = p.b_seq AND b.line_no = p.b_line
            JOIN temp.audit_items a ON a.patient_id = p.patient_id AND a.seq = p.a_seq AND a.line_no = p.a_line
            ORDER BY b.rx_id, p.excess DESC, p.a_seq, p.a_line, p.b_line
        )
        GROUP BY rx_id
        """
    )
