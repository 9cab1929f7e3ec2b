"""Pairs of a patient's items whose supplies overlap beyond the refill tolerance: what the drug
checks flag, ready for any check that compares a patient's drugs (``AuditContext.item_pairs``).

Item ``b`` (dated in the month, at fault) is paired with every earlier item ``a`` of the same
patient: earlier means an earlier prescription (date, time, rx_id: ``seq``), or an earlier line of
the same prescription. The *overlap* is the number of days of ``a``'s supply still ahead on ``b``'s
first day (``a.end_day - b.start_day + 1``); two items of one prescription overlap by ``a``'s whole
supply. The *tolerance* is the ruleset's ``[refill_tolerance]``: the smaller of a number of days
and a share of ``a``'s days of supply (rounded down; 0 when ``a`` has no days of supply), taken
from ``b``'s billed diseases, else ``b``'s drug class, else the default (``item_spans.tol_days`` and
``tol_bp`` hold it per item). A pair is kept only when the overlap exceeds the tolerance.

The pairs are found in ``temp.item_spans``, the narrow table behind ``temp.audit_items``,
clustered by (patient, seq, line) and holding the drugs' comparison keys as integers: each item
reads only the short run of its patient's earlier items, so the work grows with the items, not with
every pair in the month. The query-planner hints that keep it so (``CROSS JOIN`` fixes the join
order, ``MATERIALIZED`` the pairs) live here, not in the checks.
"""

from __future__ import annotations

EARLIER = "(a.seq < b.seq OR (a.seq = b.seq AND a.line_no < b.line_no))"

#: the same drug: the same first 10 characters of the national code, or, when either item has no code,
#: the same generic name (compared by their integer ids in ``item_spans``)
SAME_DRUG = """coalesce(a.code10_id = b.code10_id
                         OR ((a.code10_id IS NULL OR b.code10_id IS NULL) AND a.generic_id = b.generic_id), 0)"""

#: days of a's supply still ahead on b's first day, and the tolerance for it (``item_spans`` rows a, b)
OVERLAP_DAYS = "(a.end_day - b.start_day + 1)"
TOLERANCE_DAYS = "(CASE WHEN a.supply > 0 THEN min(b.tol_days, a.supply * b.tol_bp / 10000) ELSE 0 END)"

#: the columns of the table :func:`create_pairs` makes
PAIR_COLUMNS = ("patient_id", "b_seq", "b_line", "a_seq", "a_line", "overlap", "tolerance", "excess", "earliest")


def create_pairs(conn, table: str, same: str, min_diseases: int, params: dict | None = None) -> None:
    """``temp.<table>``: one row per pair (``b`` in the month, its patient with at least
    ``min_diseases`` diseases, ``a`` earlier) for which the SQL condition ``same`` holds on the
    ``item_spans`` rows ``a`` and ``b`` and whose supplies overlap beyond the tolerance."""
    conn.execute(f"DROP TABLE IF EXISTS temp.[{table}]")
    # the same CREATE whatever ``same`` is (the columns as CREATE … AS SELECT would declare them),
    # then the pairs: a connection that keeps its TEMP schema (the 事前 slice) keeps this table
    conn.execute(f"CREATE TEMP TABLE [{table}] (patient_id TEXT, b_seq INTEGER, b_line INTEGER, a_seq INTEGER, "
                 f"a_line INTEGER, overlap, tolerance, excess, earliest)")
    conn.execute(
        f"""
        INSERT INTO temp.[{table}]
        SELECT patient_id, b_seq, b_line, a_seq, a_line, overlap, tolerance, overlap - tolerance AS excess,
               date(a_end + 1 - tolerance + 0.5) AS earliest
        FROM (
            SELECT b.patient_id, b.seq AS b_seq, b.line_no AS b_line, a.seq AS a_seq, a.line_no AS a_line,
                   a.end_day AS a_end, {OVERLAP_DAYS} AS overlap, {TOLERANCE_DAYS} AS tolerance
            FROM temp.item_spans AS b
            CROSS JOIN temp.item_spans AS a ON a.patient_id = b.patient_id AND a.seq <= b.seq
            WHERE b.in_month = 1 AND b.disease_count >= :min_diseases
              AND {EARLIER} AND a.end_day >= b.start_day AND ({same})
        )
        WHERE overlap > tolerance
        """,
        {**(params or {}), "min_diseases": min_diseases},
    )
