"""``doctor_outlier``: a doctor whose month is far above the peers of the same department.

Two values per doctor and month are compared with the doctor's department:

* ``avg``: the average drug amount per visit (visit = patient + doctor + day, docs/usage.md);
* ``drug``: the amount of one drug (generic name, resolved with the ruleset's catalog as for
  ``temp.audit_items``) the doctor prescribed, from the month's items; compared among the
  department's doctors who prescribed that drug.

The statistic is robust: the median and the MAD (median absolute deviation) of the department's
values, including the doctor's own, and the modified z-score ``0.6745 × (x − median) ÷ MAD``
(Iglewicz & Hoaglin). When MAD = 0 (at least half of the peers have the same value) the score uses
the mean absolute deviation instead, ``(x − median) ÷ (1.253314 × MeanAD)``; when that is 0 too, all
values are equal and nobody is an outlier. Only doctors with at least ``min_visits`` visits take part,
and only departments (per drug: prescribers) with at least ``min_peers`` other such doctors are
compared; a drug finding also needs at least ``min_drug_yuan`` 元 of that drug in the month (small
volumes vary too much from doctor to doctor to mean anything). A doctor with a score of ``min_score`` or more gets one flag per finding, attached to the
doctor's highest-amount prescription of the month (for a drug: the prescription with most of that
drug). Medians come from window functions. Measure: the score. A monitoring check in Jinan.
"""

from mengui_core import Check, hookimpl, yuan_sql

CHECK_ID = "doctor_outlier"


def _yuan(expr: str) -> str:
    return yuan_sql(f"CAST(round({expr}) AS INTEGER)")


STATISTICS = """
    eligible AS (
        SELECT v.* FROM doctor_values v JOIN doctor_visits d USING (doctor_code) WHERE d.n_visits >= :min_visits
    ),
    ranked AS (
        SELECT e.*, row_number() OVER (PARTITION BY kind, item, department ORDER BY value) AS rn,
               count(*) OVER (PARTITION BY kind, item, department) AS cnt
        FROM eligible e
    ),
    medians AS (
        SELECT kind, item, department, avg(value) AS median FROM ranked
        WHERE cnt > :min_peers AND rn IN ((cnt + 1) / 2, (cnt + 2) / 2) GROUP BY 1, 2, 3
    ),
    deviations AS (
        SELECT r.*, m.median, abs(r.value - m.median) AS dev,
               row_number() OVER (PARTITION BY r.kind, r.item, r.department ORDER BY abs(r.value - m.median)) AS dn
        FROM ranked r JOIN medians m USING (kind, item, department)
    ),
    spread AS (
        SELECT kind, item, department,
               avg(CASE WHEN dn IN ((cnt + 1) / 2, (cnt + 2) / 2) THEN dev END) AS mad,
               avg(dev) AS mean_ad
        FROM deviations GROUP BY 1, 2, 3
    ),
    scored AS (
        SELECT d.*, s.mad, s.mean_ad,
               CASE WHEN s.mad > 0 THEN 0.6745 * (d.value - d.median) / s.mad
                    WHEN s.mean_ad > 0 THEN (d.value - d.median) / (1.253314 * s.mean_ad) END AS score
        FROM deviations d JOIN spread s USING (kind, item, department)
    )
"""


def _doctor_drugs(ctx) -> None:
    """``temp.outlier_drugs``: each doctor's month amount per product name, in one pass over the items,
    and ``temp.outlier_generics``: the generic name of each of those names (resolved once per name with
    the ruleset's catalog, as ``audit_items`` does)."""
    conn = ctx.conn
    for table in ("outlier_drugs", "outlier_generics"):
        conn.execute(f"DROP TABLE IF EXISTS temp.{table}")
    conn.execute("""
        CREATE TEMP TABLE outlier_drugs AS
        SELECT r.doctor_code, i.drug_name, sum(i.amount_fen) AS fen
        FROM temp.audit_rx r CROSS JOIN rx_items i ON i.rx_id = r.rx_id  -- the month's items, not every item
        GROUP BY r.doctor_code, i.drug_name""")
    catalog = ctx.ruleset.drug_catalog()
    names = [row[0] for row in conn.execute("SELECT DISTINCT drug_name FROM temp.outlier_drugs")]
    conn.execute("CREATE TEMP TABLE outlier_generics (drug_name TEXT PRIMARY KEY, generic TEXT)")
    conn.executemany("INSERT INTO outlier_generics VALUES (?, ?)", [(n, catalog.resolve(n)[0]) for n in names])


def run(ctx):
    _doctor_drugs(ctx)
    ctx.add_flags(
        f"""
        WITH doctor_visits AS MATERIALIZED (  -- the roster's department, looked up per doctor (not per visit)
            SELECT g.doctor_code, g.n_visits, g.avg_fen, coalesce(d.department, g.department) AS department
            FROM (SELECT v.doctor_code, count(*) AS n_visits, avg(v.fen) AS avg_fen, max(v.department) AS department
                  FROM (SELECT doctor_code, max(department) AS department, sum(amount_fen) AS fen
                        FROM temp.audit_rx GROUP BY patient_id, rx_date, doctor_code) v
                  GROUP BY v.doctor_code) g
            LEFT JOIN doctors d ON d.doctor_code = g.doctor_code
        ),
        doctor_values AS (
            SELECT 'avg' AS kind, '' AS item, doctor_code, department, avg_fen AS value FROM doctor_visits
            UNION ALL
            SELECT 'drug', x.generic, x.doctor_code, dv.department, x.fen
            FROM (SELECT o.doctor_code, g.generic, sum(o.fen) AS fen
                  FROM temp.outlier_drugs o JOIN temp.outlier_generics g ON g.drug_name = o.drug_name
                  GROUP BY o.doctor_code, g.generic) x
            JOIN doctor_visits dv USING (doctor_code)
        ),
        {STATISTICS},
        findings AS MATERIALIZED (
            SELECT s.*, dv.n_visits FROM scored s JOIN doctor_visits dv USING (doctor_code)
            WHERE s.score >= :min_score AND (s.kind = 'avg' OR s.value >= :min_drug_fen)
        ),
        largest AS (  -- the doctor's largest prescription of the month (for a drug: with most of it)
            SELECT 'avg' AS kind, '' AS item, doctor_code, rx_id,
                   row_number() OVER (PARTITION BY doctor_code ORDER BY amount_fen DESC, rx_id) AS k
            FROM temp.audit_rx WHERE doctor_code IN (SELECT doctor_code FROM findings WHERE kind = 'avg')
            UNION ALL
            SELECT 'drug', x.generic, x.doctor_code, x.rx_id,
                   row_number() OVER (PARTITION BY x.doctor_code, x.generic ORDER BY x.fen DESC, x.rx_id)
            FROM (SELECT r.rx_id, r.doctor_code, g.generic, sum(i.amount_fen) AS fen
                  FROM (SELECT rx_id, doctor_code FROM temp.audit_rx
                        WHERE doctor_code IN (SELECT doctor_code FROM findings WHERE kind = 'drug')) r
                  CROSS JOIN rx_items i ON i.rx_id = r.rx_id  -- the month's few prescriptions first
                  JOIN temp.outlier_generics g ON g.drug_name = i.drug_name
                  WHERE EXISTS (SELECT 1 FROM findings f
                                WHERE f.kind = 'drug' AND f.doctor_code = r.doctor_code AND f.item = g.generic)
                  GROUP BY r.rx_id, g.generic) x
        )
        SELECT l.rx_id,
               '医师 ' || f.doctor_code || ' 本月'
               || CASE WHEN f.kind = 'avg' THEN '次均药品金额 ' || {_yuan('f.value')} || ' 元（就诊 ' || f.n_visits || ' 次）'
                       ELSE '「' || f.item || '」开药金额 ' || {_yuan('f.value')} || ' 元' END
               || '，' || coalesce(f.department, '未填科室') || ' ' || f.cnt || ' 名'
               || CASE WHEN f.kind = 'drug' THEN '开具该药的' ELSE '' END
               || '医师的中位数 ' || {_yuan('f.median')} || ' 元，'
               || CASE WHEN f.mad > 0
                       THEN '中位数绝对偏差（MAD）' || {_yuan('f.mad')} || ' 元，稳健 z 分数 = 0.6745 ×（医师值 − 中位数）÷ MAD = '
                       ELSE 'MAD 为 0，改用平均绝对偏差 ' || {_yuan('f.mean_ad')}
                            || ' 元，z 分数 =（医师值 − 中位数）÷（1.2533 × 平均绝对偏差）= ' END
               || printf('%.2f', f.score) || '，达到标记界值 ' || :min_score
               || CASE WHEN f.kind = 'avg' THEN '（附于该医师本月金额最高的处方）'
                       ELSE '（附于该医师本月该药金额最高的处方）' END AS detail,
               CAST(round(f.value) AS INTEGER) AS amount_fen,
               f.score AS measure
        FROM findings f
        JOIN largest l ON l.kind = f.kind AND l.item = f.item AND l.doctor_code = f.doctor_code AND l.k = 1
        """,
        {"min_visits": int(ctx.param("min_visits", 20)), "min_peers": int(ctx.param("min_peers", 3)),
         "min_score": float(ctx.param("min_score", 3.5)), "min_drug_fen": ctx.fen("min_drug_yuan", "0")},
    )


@hookimpl
def register_checks(register):
    register(
        Check(
            id=CHECK_ID,
            title="医师用药异常",
            colour="#B8860B",
            description="医师本月次均药品金额、或某一药品（通用名）的开药金额远高于同科室医师"
            "（稳健 z 分数 = 0.6745 ×（医师值 − 科室中位数）÷ 中位数绝对偏差，达到 {min_score} 即标记）。",
            run=run,
            measure_text="稳健 z 分数 {measure:.2f}（越大越异常）",
            note_hint="例如：该医师接诊重症患者较多，用药金额高有依据",
            whole_month=True,  # compares a department's doctors: the 事前 precheck skips it
        )
    )
