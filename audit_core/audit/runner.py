"""Run the active ruleset's checks over one month and replace that month's flags.

Verdicts are never touched. Each run is recorded in ``audit_runs``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field

from .. import months
from ..db.schema import transaction
from ..errors import MenguiError
from ..plugins import get_checks, load_ruleset, plugin_info
from ..times import now
from .checks import AuditContext, Check, describe
from .lanes import ITEMS, Lanes, lane_count
from .ruleset import Ruleset

MAX_LOOKBACK_DAYS = 366


@dataclass
class AuditResult:
    run_id: int
    month: str
    ruleset: Ruleset
    checks: list[Check]
    prescriptions: int
    flags: int
    by_check: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    by_level: dict[str, dict[str, int]] = field(default_factory=dict)  # check id -> level name -> flags
    steps: dict[str, float] = field(default_factory=dict)  # seconds of prepare, checks, flags (audit_runs.steps)


# ---------------------------------------------------------------- shared TEMP tables


def _prepare_codes(conn: sqlite3.Connection, ruleset: Ruleset, w: str) -> None:
    """``code_prefixes``: every catalog code and ICD-10 prefix → catalog code; ``exempt_codes``."""
    conn.execute(f"CREATE TABLE {w}.code_prefixes (prefix TEXT PRIMARY KEY, code TEXT NOT NULL)")
    conn.executemany(f"INSERT INTO {w}.code_prefixes VALUES (?, ?)", ruleset.code_prefix_rows())
    conn.execute(f"CREATE TABLE {w}.exempt_codes (code TEXT PRIMARY KEY)")
    conn.executemany(f"INSERT INTO {w}.exempt_codes VALUES (?)", [(c,) for c in ruleset.exempt_diseases])


def _token_map_sql(source: str, w: str) -> str:
    """Map each distinct code in ``source`` (a SELECT of one column ``code``) to its catalog code:
    the longest matching prefix, else itself."""
    return f"""
        SELECT t.code,
               coalesce((SELECT p.code FROM {w}.code_prefixes p
                         WHERE t.code LIKE p.prefix || '%' ORDER BY length(p.prefix) DESC LIMIT 1),
                        t.code) AS catalog_code
        FROM (SELECT DISTINCT code FROM ({source})) t
    """


def _prepare_rx(conn: sqlite3.Connection, ctx: AuditContext, w: str) -> int:
    """``audit_rx``: the month's prescriptions with amount, exemption and disease count, in schema ``w``
    (``temp``, or with lanes the scratch database ``work``, with the other shared working tables).

    Built from sequential scans and GROUP BYs (no per-prescription lookups into big tables):
    a patient whose certifications all span the whole month has one disease count for it;
    only patients with a certification starting or ending inside the month are counted day by day.
    """
    params = {"start": ctx.start, "end": ctx.end}
    conn.execute(
        f"""
        CREATE TABLE {w}.month_rx AS
        SELECT rx_id, rx_date, rx_time, patient_id, doctor_code, department, insurance_type, disease_codes,
               total_amount_fen
        FROM prescriptions WHERE rx_date BETWEEN :start AND :end
        """,
        params,
    )
    # billed disease codes, one row each (most prescriptions bill one code: no JSON needed)
    conn.execute(
        f"""
        CREATE TABLE {w}.rx_codes AS
        SELECT rx_id, patient_id, disease_codes AS code FROM {w}.month_rx
        WHERE disease_codes IS NOT NULL AND disease_codes != '' AND instr(disease_codes, ';') = 0
        UNION ALL
        SELECT m.rx_id, m.patient_id, j.value
        FROM {w}.month_rx m, json_each('["' || replace(m.disease_codes, ';', '","') || '"]') j
        WHERE instr(m.disease_codes, ';') > 0
        """
    )
    conn.execute(
        f"CREATE TABLE {w}.token_map AS "
        + _token_map_sql(f"SELECT code FROM {w}.rx_codes UNION SELECT disease_code FROM certifications", w)
    )
    conn.execute(f"CREATE UNIQUE INDEX {w}.token_map_code ON token_map (code)")
    conn.execute(
        f"""
        CREATE TABLE {w}.exempt_rx AS
        SELECT DISTINCT c.rx_id FROM {w}.rx_codes c JOIN {w}.token_map t USING (code)
        WHERE t.catalog_code IN (SELECT code FROM {w}.exempt_codes)
        """
    )
    conn.execute(f"CREATE UNIQUE INDEX {w}.exempt_rx_id ON exempt_rx (rx_id)")
    has_certifications = conn.execute("SELECT EXISTS (SELECT 1 FROM certifications)").fetchone()[0]
    if has_certifications:
        conn.execute(
            f"""
            CREATE TABLE {w}.cert_month AS
            SELECT c.patient_id, t.catalog_code AS code, c.valid_from, c.valid_to
            FROM certifications c JOIN {w}.token_map t ON t.code = c.disease_code
            WHERE c.valid_from <= :end AND (c.valid_to IS NULL OR c.valid_to >= :start)
            """,
            params,
        )
        conn.execute(f"CREATE INDEX {w}.cert_month_patient ON cert_month (patient_id)")
        conn.execute(
            f"""
            CREATE TABLE {w}.patient_counts AS
            SELECT patient_id, count(DISTINCT code) AS n,
                   min(valid_from <= :start AND (valid_to IS NULL OR valid_to >= :end)) AS stable
            FROM {w}.cert_month GROUP BY patient_id
            """,
            params,
        )
        count_sql = f"""
            CASE WHEN pc.patient_id IS NULL THEN 0
                 WHEN pc.stable THEN pc.n
                 ELSE (SELECT count(DISTINCT cm.code) FROM {w}.cert_month cm
                       WHERE cm.patient_id = m.patient_id AND cm.valid_from <= m.rx_date
                         AND (cm.valid_to IS NULL OR cm.valid_to >= m.rx_date)) END"""
    else:
        ctx.note("未导入门规认定数据（certifications）：病种数按参保人本月处方登记的门规病种计算，未做「无有效认定」检查")
        conn.execute(
            f"""
            CREATE TABLE {w}.patient_counts AS
            SELECT c.patient_id, count(DISTINCT t.catalog_code) AS n, 1 AS stable
            FROM {w}.rx_codes c JOIN {w}.token_map t USING (code) GROUP BY c.patient_id
            """
        )
        count_sql = "coalesce(pc.n, 0)"
    conn.execute(f"CREATE UNIQUE INDEX {w}.patient_counts_id ON patient_counts (patient_id)")
    conn.execute(
        f"""
        CREATE TABLE {w}.audit_rx AS
        SELECT x.*, {"(x.disease_count > 0)" if has_certifications else "NULL"} AS certified
        FROM (
            SELECT m.rx_id, m.rx_date, m.rx_time, m.patient_id, m.doctor_code, m.department,
                   m.insurance_type, m.disease_codes,
                   coalesce((SELECT sum(i.amount_fen) FROM rx_items i WHERE i.rx_id = m.rx_id),
                            m.total_amount_fen, 0) AS amount_fen,
                   (m.rx_id IN (SELECT rx_id FROM {w}.exempt_rx)) AS exempt,
                   {count_sql} AS disease_count
            FROM {w}.month_rx m LEFT JOIN {w}.patient_counts pc ON pc.patient_id = m.patient_id
        ) x
        """
    )
    conn.execute(f"CREATE UNIQUE INDEX {w}.audit_rx_id ON audit_rx (rx_id)")
    # visits (patient, day, doctor) with what the visit checks add up: they read this index alone
    conn.execute(f"CREATE INDEX {w}.audit_rx_visit ON audit_rx (patient_id, rx_date, doctor_code, rx_time, "
                 f"amount_fen, exempt, disease_count, insurance_type, department)")
    return conn.execute(f"SELECT count(*) FROM {w}.audit_rx").fetchone()[0]


def lookback_days(conn: sqlite3.Connection, ruleset: Ruleset) -> int:
    """How many days before the month the drug checks look for supplies still in hand: the longest
    supply ever loaded (kept by each load in ``settings``: no scan of every item, however long the
    history), at least the ruleset's default, at most :data:`MAX_LOOKBACK_DAYS`."""
    row = conn.execute("SELECT CAST(value AS INTEGER) FROM settings WHERE key = 'max_days_supply'").fetchone()
    return min(max(row[0] if row and row[0] is not None else 1, ruleset.default_days_supply), MAX_LOOKBACK_DAYS)


def _prepare_items(ctx: AuditContext, min_diseases: int = 0) -> None:
    """``audit_items``: items whose supply window can overlap the month, with drug identity and class,
    for the patients who have a prescription in the month with at least ``min_diseases`` diseases.

    Stored narrow, as ``item_spans`` (patient, prescription order, line, product, supply window and
    integer ids of the drug's comparison keys), clustered by patient and prescription order: a check
    pairing an item with the patient's earlier items reads one short range of the key, and sorting
    1.2M items of a city's month into that order moves a quarter of the bytes the full rows would.
    ``audit_items`` is a view adding the text columns (from ``window_rx`` and ``drug_keys``).
    """
    conn, ruleset = ctx.conn, ctx.ruleset
    lookback = lookback_days(conn, ruleset)
    conn.execute("DROP VIEW IF EXISTS temp.audit_items")
    for table in ("item_spans", "drug_names", "drug_keys", "effect_classes", "allowed_pairs", "allowed_pair_ids",
                  "window_rx", "item_patients", "rx_tolerance"):
        conn.execute(f"DROP TABLE IF EXISTS temp.{table}")
    params = {"start": ctx.start, "end": ctx.end, "default_days": ruleset.default_days_supply,
              "lookback": f"-{lookback} days", "min_diseases": min_diseases}
    conn.execute(
        "CREATE TEMP TABLE item_patients AS SELECT DISTINCT patient_id FROM temp.audit_rx "
        "WHERE disease_count >= :min_diseases ORDER BY patient_id",
        params,
    )
    if ctx.items_share:  # a by_patient check on one of several lanes: this lane's share of the patients
        lane, lanes = ctx.share
        conn.execute("DELETE FROM temp.item_patients WHERE (rowid - 1) % ? != ?", (lanes, lane))
    conn.execute("CREATE UNIQUE INDEX temp.item_patients_id ON item_patients (patient_id)")
    # the refill tolerance of the month's prescriptions billed under a disease with its own tolerance
    refill = ruleset.refill_tolerance
    conn.execute("CREATE TEMP TABLE rx_tolerance (rx_id TEXT PRIMARY KEY, tol_days INTEGER, tol_bp INTEGER)")
    if refill.diseases:
        billed: dict[str, list[str]] = {}
        for rx_id, code in conn.execute(
                "SELECT c.rx_id, t.catalog_code FROM temp.rx_codes c JOIN temp.token_map t USING (code) "
                f"WHERE t.catalog_code IN ({', '.join('?' * len(refill.diseases))})", list(refill.diseases)):
            billed.setdefault(rx_id, []).append(code)
        conn.executemany("INSERT INTO temp.rx_tolerance VALUES (?, ?, ?)",
                         [(rx_id, t.days, t.basis_points)
                          for rx_id, codes in billed.items() if (t := refill.for_diseases(codes))])
    # the month's prescriptions come from audit_rx (no lookups into the big table); earlier ones,
    # whose supply may still run into the month, from prescriptions by date. ``seq`` numbers them in
    # prescription order (date, time, id).
    conn.execute(
        """
        CREATE TEMP TABLE window_rx (seq INTEGER PRIMARY KEY, rx_id TEXT, rx_date TEXT, rx_time TEXT,
                                     patient_id TEXT, doctor_code TEXT, rx_order TEXT, in_month INTEGER,
                                     start_day INTEGER, disease_count INTEGER, tol_days INTEGER, tol_bp INTEGER)
        """
    )
    window_columns = """rx_id, rx_date, rx_time, patient_id, doctor_code,
               rx_date || '|' || coalesce(rx_time, ' ') || '|' || rx_id AS rx_order,
               {in_month} AS in_month, CAST(julianday(rx_date) AS INTEGER) AS start_day, {count} AS disease_count"""
    conn.execute(
        f"""
        INSERT INTO window_rx (rx_id, rx_date, rx_time, patient_id, doctor_code, rx_order, in_month, start_day,
                               disease_count, tol_days, tol_bp)
        SELECT * FROM (
            SELECT {window_columns.format(in_month=1, count="disease_count")},
                   (SELECT t.tol_days FROM temp.rx_tolerance t WHERE t.rx_id = r.rx_id),
                   (SELECT t.tol_bp FROM temp.rx_tolerance t WHERE t.rx_id = r.rx_id)
            FROM temp.audit_rx r WHERE patient_id IN (SELECT patient_id FROM temp.item_patients)
            UNION ALL
            SELECT {window_columns.format(in_month=0, count=0)}, NULL, NULL
            FROM prescriptions
            WHERE rx_date >= date(:start, :lookback) AND rx_date < :start
              AND patient_id IN (SELECT patient_id FROM temp.item_patients)
        ) ORDER BY rx_order
        """,
        params,
    )
    conn.execute("CREATE UNIQUE INDEX temp.window_rx_id ON window_rx (rx_id)")
    # Resolve each distinct product (code + name) once — a few thousand, not millions of rows —
    # into everything the checks need about the drug, so each item costs one keyed lookup.
    catalog = ruleset.drug_catalog()
    products = conn.execute(  # CROSS JOIN: the window's items only, never a scan of every item in the database
        "SELECT DISTINCT coalesce(i.drug_code, ''), i.drug_name FROM temp.window_rx w CROSS JOIN rx_items i ON i.rx_id = w.rx_id"
    ).fetchall()
    resolved = {name: catalog.resolve(name) for name in {name for _, name in products}}
    conn.execute("CREATE TEMP TABLE drug_names (drug_code TEXT, drug_name TEXT, generic TEXT, atc TEXT)")
    conn.executemany("INSERT INTO drug_names VALUES (?, ?, ?, ?)", [(c, n, *resolved[n]) for c, n in products])
    conn.execute(
        "CREATE TEMP TABLE effect_classes (atc TEXT PRIMARY KEY, effect_group TEXT, effect_title TEXT, comparable INTEGER)"
    )
    conn.executemany("INSERT INTO effect_classes VALUES (?, ?, ?, ?)", ruleset.effect_class_rows())
    # one row per product; the comparison keys also as small integers (equal text, equal id)
    conn.execute(
        """
        CREATE TEMP TABLE drug_keys (product INTEGER PRIMARY KEY, drug_code TEXT, drug_name TEXT, code10 TEXT,
                                     generic TEXT, atc TEXT, effect_group TEXT, effect_title TEXT,
                                     comparable INTEGER, code10_id INTEGER, generic_id INTEGER, effect_id INTEGER,
                                     tol_days INTEGER, tol_bp INTEGER)
        """
    )
    conn.execute(
        """
        INSERT INTO drug_keys (drug_code, drug_name, code10, generic, atc, effect_group, effect_title, comparable)
        SELECT x.*,
               coalesce(e.effect_group, x.atc) AS effect_group,
               coalesce(e.effect_title, x.atc) AS effect_title,
               CASE WHEN x.atc IS NULL THEN 0
                    WHEN x.atc LIKE 'Z:%' THEN :compare_tcm
                    ELSE coalesce(e.comparable, 1) END AS comparable
        FROM (
            SELECT d.drug_code, d.drug_name,
                   CASE WHEN length(d.drug_code) >= 10 THEN substr(d.drug_code, 1, 10) END AS code10,
                   d.generic,
                   CASE WHEN d.drug_code GLOB 'X[A-Z][0-9][0-9][A-Z][A-Z]*' THEN substr(d.drug_code, 2, 5)
                        WHEN d.drug_code GLOB 'Z*' AND length(d.drug_code) >= 6 THEN 'Z:' || substr(d.drug_code, 2, 5)
                        ELSE d.atc END AS atc
            FROM temp.drug_names d
        ) x
        LEFT JOIN temp.effect_classes e ON e.atc = x.atc
        """,
        {"compare_tcm": int(ruleset.same_effect.compare_tcm)},
    )
    ids: list[dict] = [{}, {}, {}]  # code10, generic, effect group → the first product having it
    # and the refill tolerance of the product's drug class (a disease's own tolerance wins over it)
    conn.executemany(
        "UPDATE temp.drug_keys SET code10_id = ?, generic_id = ?, effect_id = ?, tol_days = ?, tol_bp = ? "
        "WHERE product = ?",
        [(*(None if key is None else ids[n].setdefault(key, product) for n, key in enumerate(keys)),
          (tolerance := refill.for_class(atc)).days, tolerance.basis_points, product)
         for product, atc, *keys in conn.execute(
             "SELECT product, atc, code10, generic, effect_group FROM temp.drug_keys").fetchall()],
    )
    conn.execute("CREATE UNIQUE INDEX temp.drug_keys_name ON drug_keys (drug_code, drug_name)")
    conn.execute(
        """
        CREATE TEMP TABLE item_spans (
            patient_id TEXT, seq INTEGER, line_no INTEGER, product INTEGER, start_day INTEGER, end_day INTEGER,
            in_month INTEGER, disease_count INTEGER, code10_id INTEGER, generic_id INTEGER, effect_id INTEGER,
            comparable INTEGER, supply INTEGER, tol_days INTEGER, tol_bp INTEGER,
            PRIMARY KEY (patient_id, seq, line_no)
        ) WITHOUT ROWID
        """
    )
    conn.execute(
        """
        INSERT INTO item_spans
        SELECT w.patient_id, w.seq, i.line_no, k.product, w.start_day,
               w.start_day + coalesce(i.days_supply, :default_days) - 1 AS end_day,
               w.in_month, w.disease_count, k.code10_id, k.generic_id, k.effect_id, k.comparable,
               i.days_supply, coalesce(w.tol_days, k.tol_days), coalesce(w.tol_bp, k.tol_bp)
        FROM temp.window_rx w
        CROSS JOIN rx_items i ON i.rx_id = w.rx_id  -- the window's items only (SQLite would scan them all)
        JOIN temp.drug_keys k ON k.drug_code = coalesce(i.drug_code, '') AND k.drug_name = i.drug_name
        WHERE w.in_month = 1 OR w.start_day + coalesce(i.days_supply, :default_days) - 1 >= :start_day
        ORDER BY w.patient_id, w.seq, i.line_no
        """,
        {**params, "start_day": conn.execute("SELECT CAST(julianday(?) AS INTEGER)", (ctx.start,)).fetchone()[0]},
    )
    conn.execute(
        """
        CREATE TEMP VIEW audit_items AS
        SELECT w.rx_id, s.line_no, w.rx_order, s.seq, s.patient_id, w.doctor_code, w.rx_date, w.rx_time, s.in_month,
               nullif(k.drug_code, '') AS drug_code, k.code10, k.drug_name, k.generic, k.atc, s.start_day, s.end_day,
               s.disease_count, k.effect_group, k.effect_title, k.comparable, s.supply AS days_supply
        FROM temp.item_spans s
        JOIN temp.window_rx w ON w.seq = s.seq
        JOIN temp.drug_keys k ON k.product = s.product
        """
    )
    conn.execute("CREATE TEMP TABLE allowed_pairs (a TEXT, b TEXT, reason TEXT, PRIMARY KEY (a, b))")
    conn.executemany("INSERT INTO allowed_pairs VALUES (?, ?, ?)", ruleset.allowed_pair_rows())
    conn.execute(
        """
        CREATE TEMP TABLE allowed_pair_ids AS
        SELECT DISTINCT ka.generic_id AS a, kb.generic_id AS b
        FROM temp.allowed_pairs p JOIN temp.drug_keys ka ON ka.generic = p.a JOIN temp.drug_keys kb ON kb.generic = p.b
        """
    )
    conn.execute("CREATE UNIQUE INDEX temp.allowed_pair_ids_ab ON allowed_pair_ids (a, b)")


# ---------------------------------------------------------------- the run


def ruleset_for_month(conn: sqlite3.Connection, month: str, override: str | None = None) -> Ruleset:
    """The ruleset the month was last audited with (or ``override``)."""
    if override:
        return load_ruleset(override)
    row = conn.execute(
        "SELECT ruleset, ruleset_path FROM audit_runs WHERE month = ? AND finished_at IS NOT NULL "
        "ORDER BY run_id DESC LIMIT 1", (month,)
    ).fetchone()
    if row is None:
        raise MenguiError(f"{month} 还没有审核，请先运行 mengui audit DB --month {month}")
    try:
        return load_ruleset(row["ruleset"])
    except MenguiError:
        if row["ruleset_path"]:
            return load_ruleset(row["ruleset_path"])
        raise


def active_checks(ruleset: Ruleset) -> list[Check]:
    registered = get_checks()
    missing = [c for c in ruleset.checks if c not in registered]
    if missing:
        raise MenguiError(
            f"规则集 {ruleset.name} 要求的规则 {'、'.join(missing)} 没有插件提供。"
            f"已注册的规则：{'、'.join(sorted(registered))}（用 mengui plugins 查看）"
        )
    return [registered[c] for c in ruleset.checks]


def _run_check(ctx: AuditContext, check: Check) -> float:
    """Run one check; return the seconds it took."""
    ctx.check = check
    started = time.perf_counter()
    try:
        check.run(ctx)
        return round(time.perf_counter() - started, 3)
    except MenguiError:
        raise
    except Exception as ex:
        raise MenguiError(
            f"规则 {check.id}（插件 {check.plugin}）运行出错：{type(ex).__name__}: {ex}。本月标记未作任何改动"
        ) from ex


def clear_temp(conn: sqlite3.Connection) -> None:
    """Drop what a previous audit left in this connection's TEMP schema (its working tables and
    views, a plugin's own tables): the audit owns the TEMP schema of the connection it runs on."""
    for name, kind in conn.execute("SELECT name, type FROM temp.sqlite_master WHERE type IN ('view', 'table') "
                                   "ORDER BY type = 'table'").fetchall():
        conn.execute(f"DROP {kind.upper()} IF EXISTS temp.[{name}]")


def audit_month(conn: sqlite3.Connection, month: str, ruleset_name: str | None = None,
                progress=None, lanes: int | None = None) -> AuditResult:
    """Run every check of the ruleset for ``month``; replace that month's flags atomically.

    ``lanes``: how many connections run checks at once (default :func:`lanes.lane_count`: two on a
    machine with two or more cores; 1 runs everything on ``conn``). One path either way
    (``lanes.py``): prepare the shared working tables, run the checks on the lanes, then write the
    flags and the run in one transaction."""
    start, end = months.bounds(month)
    ruleset = load_ruleset(ruleset_name, known_checks=set(get_checks()))
    checks = active_checks(ruleset)
    ctx = AuditContext(conn, month, start, end, ruleset)
    started = now()
    steps: dict[str, float] = {}
    clock = time.perf_counter()

    def step(name: str) -> None:
        nonlocal clock
        steps[name] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()

    clear_temp(conn)
    workspace = Lanes(conn, lane_count(conn) if lanes is None else lanes)
    try:
        count, seconds = run_checks(ctx, checks, workspace, progress, step)
        if ITEMS in seconds:
            steps["items"] = seconds.pop(ITEMS)  # part of the checks' time
        return _record(conn, ctx, checks, count, started, seconds, steps)
    finally:
        workspace.close()


def run_checks(ctx: AuditContext, checks: list[Check], workspace: Lanes, progress=None, step=None
               ) -> tuple[int, dict[str, float]]:
    """Prepare the working tables and run ``checks`` for ``ctx.month`` on the lanes of ``workspace``
    (made on ``ctx.conn`` after :func:`clear_temp`): afterwards the month's flags, not yet graded,
    are in ``temp.new_flags`` on ``ctx.conn`` until the workspace is closed (read them with
    :func:`graded_flags_sql`). Returns the month's prescription count and each check's seconds.
    Nothing outside TEMP (or the lanes' scratch database) is written: :func:`audit_month` stores the
    flags; the 事前 precheck (``mengui_core.precheck``) reads its draft's on a patient's slice of the data."""
    conn, month, start, end, ruleset = ctx.conn, ctx.month, ctx.start, ctx.end, ctx.ruleset
    step = step or (lambda name: None)
    # The checks read one snapshot of the data, even while a load commits beside them (lanes.py
    # explains how the lanes share it). Preparing writes only TEMP (or scratch) tables: no lock on
    # the database; the flags are written after, in one short write transaction.
    workspace.begin()
    _prepare_codes(conn, ruleset, workspace.schema)
    count = _prepare_rx(conn, ctx, workspace.schema)
    if count == 0:
        raise MenguiError(f"数据库中没有 {month} 的处方（开方日期在 {start} 至 {end}），请先用 mengui load 导入该月数据")
    workspace.share()
    step("prepare")
    seconds = workspace.run(
        checks, ctx, lambda lane, share: AuditContext(lane, month, start, end, ruleset, items_builder=_prepare_items,
                                                      share=share),
        _run_check, progress, _last_seconds(conn))
    workspace.finish()
    step("checks")
    return count, seconds


def _last_seconds(conn: sqlite3.Connection) -> dict[str, float]:
    """How long each check took in the last finished audit (``audit_runs.checks``): the lanes start
    the longest first."""
    row = conn.execute("SELECT checks FROM audit_runs WHERE finished_at IS NOT NULL ORDER BY run_id DESC LIMIT 1"
                       ).fetchone()
    try:
        return {c["id"]: float(c["seconds"]) for c in json.loads(row[0]) if "seconds" in c} if row else {}
    except (ValueError, TypeError, KeyError):
        return {}


def _record(conn: sqlite3.Connection, ctx: AuditContext, checks: list[Check], count: int,
            started: str, seconds: dict[str, float], steps: dict[str, float]) -> AuditResult:
    """Grade the month's new flags and write them (replacing the old), the run and its checks: one
    write transaction, every step one statement over all the flags (:func:`graded_flags_sql`)."""
    month, ruleset, start, end = ctx.month, ctx.ruleset, ctx.start, ctx.end
    flags_started = time.perf_counter()
    plugins = [{"name": p["name"], "version": p["version"]} for p in plugin_info()]
    check_list = [{"id": c.id, "plugin": c.plugin, "needs_review": ruleset.checks[c.id].needs_review,
                   "counts_without_review_from": ruleset.checks[c.id].counts_from,
                   "monitoring": ruleset.checks[c.id].monitoring, "seconds": seconds.get(c.id)} for c in checks]
    graded, grading = graded_flags_sql(ruleset, checks)
    with transaction(conn):
        grading_tables(conn, ruleset, checks)
        cursor = conn.execute(
            "INSERT INTO audit_runs (month, ruleset, ruleset_path, ruleset_version, checks, plugins, started_at, notes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (month, ruleset.name, str(ruleset.path), ruleset.version, json.dumps(check_list, ensure_ascii=False),
             json.dumps(plugins, ensure_ascii=False), started, "\n".join(ctx.notes) or None),
        )
        run_id = cursor.lastrowid
        conn.execute(
            "INSERT INTO checks (check_id, title, description, needs_review, plugin, monitoring) "
            "SELECT check_id, title, description, needs_review, plugin, monitoring FROM temp.check_settings WHERE true "
            "ON CONFLICT (check_id) DO UPDATE SET title = excluded.title, description = excluded.description, "
            "needs_review = excluded.needs_review, plugin = excluded.plugin, monitoring = excluded.monitoring"
        )
        conn.execute("DELETE FROM flags WHERE month = ?", (month,))
        conn.execute(
            f"""
            INSERT INTO flags (rx_id, check_id, month, rx_date, doctor_code, department, patient_id,
                               detail, amount_fen, limit_fen, related_rx_id, run_id, needs_review,
                               measure, level, level_rank, monitoring, evidence)
            SELECT f.rx_id, f.check_id, :month, r.rx_date, r.doctor_code, r.department, r.patient_id,
                   f.detail, f.amount_fen, f.limit_fen, f.related_rx_id, :run_id, f.needs_review,
                   f.measure, n.level, f.level_rank, f.monitoring, f.evidence
            FROM ({graded}) f
            JOIN temp.audit_rx r ON r.rx_id = f.rx_id
            JOIN temp.level_names n ON n.level_rank = f.level_rank
            ORDER BY f.rx_id, f.check_id  -- the primary key's order: each flag appended to it
            """,
            {"month": month, "run_id": run_id, **grading},
        )
        by_level: dict[str, dict[str, int]] = {}
        for check_id, level, n in conn.execute(
                "SELECT f.check_id, n.level, f.n FROM (SELECT check_id, level_rank, count(*) AS n FROM flags "
                "WHERE month = ? GROUP BY check_id, level_rank) f JOIN temp.level_names n USING (level_rank) "
                "ORDER BY f.check_id, f.level_rank", (month,)):
            by_level.setdefault(check_id, {})[level] = n
        by_check = {check_id: sum(levels.values()) for check_id, levels in by_level.items()}
        orphans = conn.execute(
            """
            SELECT count(*) FROM verdicts v JOIN prescriptions p ON p.rx_id = v.rx_id
            WHERE p.rx_date BETWEEN ? AND ?
              AND NOT EXISTS (SELECT 1 FROM flags f WHERE f.rx_id = v.rx_id AND f.check_id = v.check_id)
            """,
            (start, end),
        ).fetchone()[0]
        if orphans:
            ctx.note(f"{orphans} 条审核结论对应的标记在本次审核中已不存在：结论仍保留在 verdicts 表中（不计入公示）")
        total = sum(by_check.values())
        steps["flags"] = round(time.perf_counter() - flags_started, 3)  # the commit not included
        conn.execute("UPDATE audit_runs SET finished_at = ?, flag_count = ?, notes = ?, steps = ? WHERE run_id = ?",
                     (now(), total, "\n".join(ctx.notes) or None, json.dumps(steps), run_id))
    return AuditResult(run_id, month, ruleset, checks, count, total,
                       {c.id: by_check.get(c.id, 0) for c in checks}, ctx.notes, by_level, steps)


def grading_tables(conn: sqlite3.Connection, ruleset: Ruleset, checks: list[Check]) -> None:
    """The small tables :func:`graded_flags_sql` reads, each filled by one statement from JSON:
    ``check_settings``, each check's ``needs_review``, ``monitoring`` and ``counts_rank`` with its
    title, description and plugin; ``level_names``, each level rank's name."""
    settings = []
    for check in checks:
        config = ruleset.checks[check.id]
        settings.append({
            "check_id": check.id, "title": check.title, "description": describe(check, ruleset), "plugin": check.plugin,
            "needs_review": int(config.needs_review), "monitoring": int(config.monitoring),
            "counts_rank": ruleset.levels.index(config.counts_from) + 1 if config.counts_from else 0})
    for table in ("check_settings", "level_names"):
        conn.execute(f"DROP TABLE IF EXISTS temp.{table}")
    conn.execute("CREATE TEMP TABLE check_settings (check_id TEXT PRIMARY KEY, title TEXT, description TEXT, "
                 "plugin TEXT, needs_review INTEGER, monitoring INTEGER, counts_rank INTEGER)")
    conn.execute(
        "INSERT INTO temp.check_settings SELECT " + ", ".join(
            f"json_extract(value, '$.{key}')" for key in settings[0]) + " FROM json_each(?)",
        (json.dumps(settings, ensure_ascii=False),))
    conn.execute("CREATE TEMP TABLE level_names (level_rank INTEGER PRIMARY KEY, level TEXT)")
    conn.execute("INSERT INTO temp.level_names SELECT key + 1, value FROM json_each(?)",
                 (json.dumps(ruleset.levels, ensure_ascii=False),))


def graded_flags_sql(ruleset: Ruleset, checks: list[Check]) -> tuple[str, dict]:
    """SQL (and its parameters) selecting ``temp.new_flags`` (one row per prescription and check,
    merged by ``add_flags``) with each flag's warning level (``level_rank``), ``monitoring`` and
    ``needs_review``.

    A flag's level is the highest rank whose threshold (the check's ``levels``) its measure reaches;
    a measure below every threshold gets rank 1; no measure, or a check without thresholds, gets the
    fixed rank (the ruleset's ``level``, else the most severe). A flag needs a verdict
    (``needs_review``) when its check says so, or when its level is below the check's
    ``counts_without_review_from`` level (``counts_rank``; 0 when every level counts). The levels are
    one CASE over the checks' thresholds (bound as parameters), evaluated as each flag is read."""
    params: dict = {}
    branches = []
    for n, check in enumerate(checks):
        config = ruleset.checks[check.id]
        params[f"c{n}"] = check.id
        params[f"f{n}"] = ruleset.levels.index(config.level) + 1 if config.level else len(ruleset.levels)
        if config.thresholds:
            steps = []
            for rank, threshold in reversed(list(enumerate(config.thresholds, 1))):
                params[f"t{n}_{rank}"] = threshold
                steps.append(f"WHEN m.measure >= :t{n}_{rank} THEN {rank}")
            graded = f"CASE WHEN m.measure IS NULL THEN :f{n} {' '.join(steps)} ELSE 1 END"
        else:
            graded = f":f{n}"
        branches.append(f"WHEN :c{n} THEN {graded}")
    level = f"CASE m.check_id {' '.join(branches)} END" if branches else "NULL"
    return f"""
        SELECT g.*, (g.review_always OR g.level_rank < g.counts_rank) AS needs_review
        FROM (
            SELECT m.rx_id, m.check_id, m.detail, m.amount_fen, m.limit_fen, m.related_rx_id, m.measure, m.evidence,
                   s.needs_review AS review_always, s.monitoring, s.counts_rank, {level} AS level_rank
            FROM temp.new_flags m JOIN temp.check_settings s ON s.check_id = m.check_id
        ) g
    """, params


def summary_by_department(conn: sqlite3.Connection, month: str) -> list[sqlite3.Row]:
    return conn.execute(
        """
        SELECT coalesce(department, '（未填科室）') AS department, check_id, count(*) AS n
        FROM flags WHERE month = ? GROUP BY 1, 2 ORDER BY 1, 2
        """,
        (month,),
    ).fetchall()
