"""Evaluate a draft prescription with the month's own checks, on the patient's slice of the data.

No rule is implemented twice: the draft is added as a prescription to a small in-memory database
with the mengui schema (built once per process by the same migrations, then cloned with
``serialize``/``deserialize`` for every draft) that holds what the checks can see of this patient —

* the patient's certifications (and, when the hospital's database holds certifications at all, a
  placeholder of no patient, so the runner's "no certifications loaded" fallback answers as it
  would on the whole database);
* the patient's prescriptions from the runner's look-back before the month
  (:func:`~mengui_core.audit.runner.lookback_days`) up to the draft's day, with their items —
  every supply window or visit the draft can touch;
* the doctors of those prescriptions and of the draft, and their revocations; ``settings``.

Then the real runner (:func:`~mengui_core.audit.runner.run_checks`, one lane) runs the active
ruleset's checks for the draft's month there, the flags are graded by the runner's own SQL
(:func:`~mengui_core.audit.runner.graded_flags_sql`), and those of the draft are the answer. A
check that declares ``whole_month`` (it compares a department's doctors) is skipped and named in
the answer. The hospital's database is only read, on a ``query_only`` connection, through the
queries in :data:`SLICE_QUERIES`: each reads by index the patient's or the doctors' rows
(tests/test_precheck.py checks their query plans).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from .. import months
from ..db.schema import migrate
from ..errors import MenguiError
from ..plugins import get_checks, load_ruleset
from ..audit.checks import AuditContext, Check
from ..audit.lanes import Lanes
from ..audit.ruleset import Ruleset
from ..audit.runner import (active_checks, clear_temp, graded_flags_sql, grading_tables, lookback_days,
                            run_checks)
from .draft import LATE_TIME, Draft
from .slice import SliceConnection

#: the id a draft without ``rx_id`` gets in its slice: "~" sorts after every letter and digit, so
#: among prescriptions of the same day and time the draft is the latest, as a new prescription is
DRAFT_ID = "~draft"
#: the certification that tells the runner certifications are loaded (patient '' exists in no file)
PLACEHOLDER_CERT = {"patient_id": "", "disease_code": "-", "kind": "disease", "valid_from": "0000-01-01",
                    "valid_to": "0000-01-01"}

#: how the slice is read from the hospital's database: (slice table, query). Parameters: :patient,
#: :first (the look-back's first day), :last (the draft's day), :doctor, :rx_id (the draft's id: a
#: stored prescription with that id is replaced by the draft). ``{columns}`` is the table's columns.
SLICE_QUERIES = (
    ("certifications", "SELECT {columns} FROM certifications WHERE patient_id = :patient"),
    ("prescriptions", "SELECT {columns} FROM prescriptions WHERE patient_id = :patient "
                      "AND rx_date BETWEEN :first AND :last AND rx_id != :rx_id"),
    ("rx_items", "SELECT {columns} FROM prescriptions p CROSS JOIN rx_items i ON i.rx_id = p.rx_id "
                 "WHERE p.patient_id = :patient AND p.rx_date BETWEEN :first AND :last AND p.rx_id != :rx_id"),
    ("doctors", "SELECT {columns} FROM doctors WHERE doctor_code = :doctor OR doctor_code IN "
                "(SELECT doctor_code FROM prescriptions WHERE patient_id = :patient AND rx_date BETWEEN :first AND :last)"),
    ("revocations", "SELECT {columns} FROM revocations WHERE doctor_code = :doctor OR doctor_code IN "
                    "(SELECT doctor_code FROM prescriptions WHERE patient_id = :patient AND rx_date BETWEEN :first AND :last)"),
    ("settings", "SELECT {columns} FROM settings"),
)
#: is there any certification at all (one row read)
ANY_CERTIFICATION = "SELECT EXISTS (SELECT 1 FROM certifications)"
#: the ruleset of the draft's month's last audit, else of the last audit of any month
LAST_RULESET = ("SELECT ruleset, ruleset_path FROM audit_runs WHERE finished_at IS NOT NULL "
                "ORDER BY month = :month DESC, run_id DESC LIMIT 1")


@dataclass
class Flag:
    """One flag the month's audit would raise on the draft, as the runner grades it."""

    check_id: str
    title: str
    level: str | None
    level_rank: int | None
    monitoring: bool
    needs_review: bool
    detail: str
    measure: float | None = None
    amount_fen: int | None = None
    limit_fen: int | None = None
    related_rx_id: str | None = None
    evidence: list = field(default_factory=list)


@dataclass
class Evaluation:
    draft: Draft
    rx_id: str  # the draft's id in its slice (its own, or DRAFT_ID)
    ruleset: Ruleset
    checks: list[Check]  # evaluated
    skipped: list[Check]  # declared whole_month
    flags: list[Flag]
    seconds: float


class Prechecker:
    """Evaluates drafts against one hospital database. Thread-safe: every thread gets its own
    connections (a read-only one to the database, an in-memory one for the slice)."""

    def __init__(self, db_path: str | Path, ruleset_name: str | None = None):
        self.db_path = Path(db_path)
        if not self.db_path.exists():
            raise MenguiError(f"数据库文件不存在：{self.db_path}")
        self.ruleset_name = ruleset_name
        self._local = threading.local()
        self._lock = threading.Lock()
        self._template: bytes | None = None
        self._columns: dict[str, list[str]] = {}
        self._rulesets: dict[str, tuple[Ruleset, list[Check], list[Check]]] = {}

    # ------------------------------------------------------------ connections

    def _template_bytes(self) -> bytes:
        """The empty mengui schema, migrated once per process, as bytes to clone."""
        with self._lock:
            if self._template is None:
                conn = sqlite3.connect(":memory:", isolation_level=None)
                try:
                    migrate(conn)
                    for table, _ in SLICE_QUERIES:
                        self._columns[table] = [r[1] for r in conn.execute(f"PRAGMA table_info([{table}])")]
                    self._template = conn.serialize()
                finally:
                    conn.close()
            return self._template

    def source(self) -> sqlite3.Connection:
        """This thread's read-only connection to the hospital's database."""
        conn = getattr(self._local, "source", None)
        if conn is None:
            conn = sqlite3.connect(self.db_path, isolation_level=None, timeout=30, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA query_only = 1")  # this service never writes the hospital's data
            conn.execute("PRAGMA cache_size = -16384")
            self._local.source = conn
        return conn

    def _slice(self) -> sqlite3.Connection:
        """This thread's slice connection, emptied: the mengui schema cloned once (``deserialize``
        of the migrated template), then only its rows deleted between drafts, so SQLite parses the
        schema once per thread; the runner's TEMP tables are emptied the same way
        (:class:`~.slice.SliceConnection`), so its statements stay prepared from draft to draft."""
        conn = getattr(self._local, "slice", None)
        if conn is None:
            template = self._template_bytes()
            conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False,
                                   factory=SliceConnection)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA temp_store = MEMORY")
            conn.deserialize(template)
            self._local.slice = conn
        else:
            clear_temp(conn)
            conn.execute("BEGIN")
            for table, _ in SLICE_QUERIES:
                conn.execute(f"DELETE FROM [{table}]")
            conn.execute("COMMIT")
        return conn

    def close(self) -> None:
        for name in ("source", "slice"):
            conn = getattr(self._local, name, None)
            if conn is not None:
                conn.close()
                setattr(self._local, name, None)

    # ------------------------------------------------------------ the ruleset

    def ruleset_for(self, month: str, source: sqlite3.Connection) -> tuple[Ruleset, list[Check], list[Check]]:
        """The ruleset (and its checks: evaluated, skipped) a draft of ``month`` is judged by: the one
        given, else the one the month (else the latest month) was last audited with, else the default."""
        name = self.ruleset_name
        path = None
        if name is None:
            row = source.execute(LAST_RULESET, {"month": month}).fetchone()
            if row is not None:
                name, path = row["ruleset"], row["ruleset_path"]
        key = f"{name}|{path}"
        found = self._rulesets.get(key)
        if found is None:
            known = set(get_checks())
            try:
                ruleset = load_ruleset(name, known_checks=known)
            except MenguiError:
                if not path:
                    raise
                ruleset = load_ruleset(path, known_checks=known)
            checks = active_checks(ruleset)
            found = (ruleset, [c for c in checks if not c.whole_month], [c for c in checks if c.whole_month])
            with self._lock:
                self._rulesets[key] = found
        return found

    # ------------------------------------------------------------ evaluation

    def evaluate(self, draft: Draft) -> Evaluation:
        started = time.perf_counter()
        try:
            rx_id, ruleset, checks, skipped, rows = self._run(self._slice(), draft)
        except BaseException:
            # a rolled-back CREATE or DROP leaves the slice's schema unknown: the next draft gets a new one
            conn, self._local.slice = getattr(self._local, "slice", None), None
            if conn is not None:
                conn.close()
            raise
        titles = {c.id: c.title for c in checks}
        order = {c.id: n for n, c in enumerate(checks)}
        flags = [Flag(check_id=r["check_id"], title=titles.get(r["check_id"], r["check_id"]), level=r["level"],
                      level_rank=r["level_rank"], monitoring=bool(r["monitoring"]), needs_review=bool(r["needs_review"]),
                      detail=r["detail"], measure=r["measure"], amount_fen=r["amount_fen"], limit_fen=r["limit_fen"],
                      related_rx_id=None if r["related_rx_id"] == rx_id else r["related_rx_id"],
                      evidence=_evidence(r["evidence"]))
                 for r in sorted(rows, key=lambda r: (-(r["level_rank"] or 0), order.get(r["check_id"], 99)))]
        return Evaluation(draft, rx_id, ruleset, checks, skipped, flags, time.perf_counter() - started)

    def _run(self, conn: sqlite3.Connection, draft: Draft):
        """Fill the slice, run the checks there, return the draft's graded flags."""
        source = self.source()
        rx_id = draft.rx_id or DRAFT_ID
        month = draft.month
        start, end = months.bounds(month)
        source.execute("BEGIN")  # one snapshot of the hospital's data for the whole slice
        try:
            ruleset, checks, skipped = self.ruleset_for(month, source)
            first = (date.fromisoformat(start) - timedelta(days=lookback_days(source, ruleset))).isoformat()
            params = {"patient": draft.patient_id, "doctor": draft.doctor_code, "first": first,
                      "last": draft.rx_date, "rx_id": rx_id}
            conn.execute("BEGIN")
            for table, sql in SLICE_QUERIES:
                columns = self._columns[table]
                prefix = "i." if table == "rx_items" else ""
                rows = source.execute(sql.format(columns=", ".join(prefix + c for c in columns)), params).fetchall()
                if rows:
                    conn.executemany(f"INSERT OR IGNORE INTO [{table}] ({', '.join(columns)}) "
                                     f"VALUES ({', '.join('?' * len(columns))})", rows)
            if source.execute(ANY_CERTIFICATION).fetchone()[0]:
                conn.execute("INSERT OR IGNORE INTO certifications (patient_id, disease_code, kind, valid_from, valid_to) "
                             "VALUES (:patient_id, :disease_code, :kind, :valid_from, :valid_to)", PLACEHOLDER_CERT)
        finally:
            source.execute("COMMIT")
        _insert_draft(conn, draft, rx_id)
        conn.execute("COMMIT")
        ctx = AuditContext(conn, month, start, end, ruleset)
        workspace = Lanes(conn, 1)
        try:
            run_checks(ctx, checks, workspace)
            grading_tables(conn, ruleset, checks)
            graded, grading = graded_flags_sql(ruleset, checks)
            rows = conn.execute(
                f"SELECT f.*, n.level FROM ({graded}) f JOIN temp.level_names n ON n.level_rank = f.level_rank "
                "WHERE f.rx_id = :draft_rx", {**grading, "draft_rx": rx_id}).fetchall()
        finally:
            workspace.close()
        return rx_id, ruleset, checks, skipped, rows


def _evidence(text: str | None) -> list:
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return value if isinstance(value, list) else [value]


def _insert_draft(conn: sqlite3.Connection, draft: Draft, rx_id: str) -> None:
    """The draft as a prescription of the slice (a draft without a time of day is the day's latest)."""
    conn.execute(
        "INSERT OR REPLACE INTO prescriptions (rx_id, rx_date, rx_time, patient_id, insurance_type, doctor_code, "
        "department, disease_codes, total_amount_fen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (rx_id, draft.rx_date, draft.rx_time or LATE_TIME, draft.patient_id, draft.insurance_type, draft.doctor_code,
         draft.department, ";".join(draft.disease_codes) or None,
         draft.amount_fen if draft.total_amount_fen is None else draft.total_amount_fen))
    conn.executemany(
        "INSERT OR REPLACE INTO rx_items (rx_id, line_no, drug_code, drug_name, spec, quantity, unit, unit_price, "
        "amount_fen, days_supply) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(rx_id, i.line_no, i.drug_code, i.drug_name, i.spec, i.quantity, i.unit, i.unit_price, i.amount_fen,
          i.days_supply) for i in draft.items])
