"""Shared SQL for the drug checks: pairs of items of one patient whose supply windows overlap.

Item ``b`` (dated in the month, at fault) is paired with every earlier item ``a`` of the
same patient whose window overlaps b's: earlier means an earlier prescription (date, time,
rx_id), or an earlier line of the same prescription. Each way of pairing is its own join,
written with its join order (``CROSS JOIN`` keeps the left table outside) and the index of
``temp.audit_items`` that drives it, so the work grows with the matching pairs, not with every
pair of a patient's items. Not an entry point: a helper module.
"""

OVERLAP = "a.start_day <= b.end_day AND b.start_day <= a.end_day"
EARLIER = "(a.rx_order < b.rx_order OR (a.rx_order = b.rx_order AND a.line_no < b.line_no))"


def pairing(outer: str, inner: str, on: str, where: str = "true") -> tuple[str, str]:
    """One way of pairing items: (FROM clause, extra WHERE condition).

    ``outer`` and ``inner`` are ``"a"``/``"b"`` each optionally followed by ``INDEXED BY <index>``;
    the outer one is scanned, the inner one looked up through its index."""
    return f"temp.audit_items AS {outer} CROSS JOIN temp.audit_items AS {inner} ON {on}", where


# Same drug: the same first 10 characters of the national code, or, when either item has no
# code, the same generic name. Items without a code are few: those two joins start from them
# (the partial index) rather than from every item of the month.
SAME_DRUG_JOINS = [
    pairing("b", "a INDEXED BY audit_items_code10", "a.patient_id = b.patient_id AND a.code10 = b.code10"),
    pairing("b INDEXED BY audit_items_generic_nocode", "a INDEXED BY audit_items_generic",
            "a.patient_id = b.patient_id AND a.generic = b.generic", "b.code10 IS NULL"),
    pairing("a INDEXED BY audit_items_generic_nocode", "b INDEXED BY audit_items_generic",
            "b.patient_id = a.patient_id AND b.generic = a.generic", "a.code10 IS NULL AND b.code10 IS NOT NULL"),
]
SAME_DRUG = """coalesce(a.code10 = b.code10
                         OR ((a.code10 IS NULL OR b.code10 IS NULL) AND a.generic = b.generic), 0)"""

INDEXES = {
    "audit_items_code10": "(patient_id, code10)",
    "audit_items_generic": "(patient_id, generic)",
    "audit_items_generic_nocode": "(patient_id, generic) WHERE code10 IS NULL",
    "audit_items_effect": "(patient_id, effect_group)",
}


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


def flag_overlapping_pairs(ctx, label: str, joins: list[tuple[str, str]], pair_prefix: str = "''") -> int:
    """Flag each in-month prescription with an overlapping earlier item that one of ``joins`` pairs it with.

    ``joins`` are :func:`pairing` results: (FROM clause of ``a`` and ``b``, extra condition)."""
    min_diseases = ctx.param("min_diseases", 2)
    ctx.ensure_items(min_diseases)
    for name, columns in INDEXES.items():
        ctx.conn.execute(f"CREATE INDEX IF NOT EXISTS temp.{name} ON audit_items {columns}")
    pieces = " UNION ".join(
        f"""SELECT b.rx_id, b.disease_count, {pair_detail(pair_prefix)} AS piece,
                   CASE WHEN a.rx_id != b.rx_id THEN a.rx_id ELSE b.rx_id END AS related
            FROM {tables}
            WHERE {where} AND {OVERLAP} AND {EARLIER}
              AND b.in_month = 1 AND b.disease_count >= :min_diseases"""
        for tables, where in joins
    )
    return ctx.add_flags(
        f"""
        SELECT rx_id, '患者有 ' || max(disease_count) || ' 个门规病种，{label}：' || group_concat(piece, '；') AS detail,
               NULL AS amount_fen, NULL AS limit_fen, min(related) AS related_rx_id
        FROM ({pieces})
        GROUP BY rx_id
        """,
        {"min_diseases": min_diseases},
    )
