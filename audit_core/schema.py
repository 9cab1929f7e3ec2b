"""The database schema, in one place: numbered migrations recorded in ``_migrations``.

Money columns end in ``_fen`` and hold integer 分. Dates are ``YYYY-MM-DD`` text.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "loaded data, flags, verdicts, audit runs",
        """
        CREATE TABLE doctors (
            doctor_code TEXT PRIMARY KEY,
            doctor_name TEXT NOT NULL,
            department TEXT,
            qualified INTEGER
        );
        CREATE TABLE certifications (
            patient_id TEXT NOT NULL,
            disease_code TEXT NOT NULL,
            disease_name TEXT,
            kind TEXT NOT NULL DEFAULT 'disease',
            valid_from TEXT NOT NULL,
            valid_to TEXT,
            PRIMARY KEY (patient_id, disease_code, valid_from)
        );
        CREATE TABLE prescriptions (
            rx_id TEXT PRIMARY KEY,
            rx_date TEXT NOT NULL,
            rx_time TEXT,
            patient_id TEXT NOT NULL,
            patient_name TEXT,
            insurance_type TEXT,
            doctor_code TEXT NOT NULL,
            department TEXT,
            disease_codes TEXT,
            total_amount_fen INTEGER
        );
        CREATE INDEX prescriptions_date ON prescriptions (rx_date);
        CREATE INDEX prescriptions_patient ON prescriptions (patient_id, rx_date);
        CREATE INDEX prescriptions_doctor ON prescriptions (doctor_code, rx_date);
        CREATE TABLE rx_items (
            rx_id TEXT NOT NULL,
            line_no INTEGER NOT NULL,
            drug_code TEXT,
            drug_name TEXT NOT NULL,
            spec TEXT,
            quantity TEXT,
            unit TEXT,
            unit_price TEXT,
            amount_fen INTEGER NOT NULL,
            days_supply INTEGER,
            PRIMARY KEY (rx_id, line_no)
        );
        CREATE TABLE claims (
            claim_id TEXT PRIMARY KEY,
            rx_id TEXT NOT NULL,
            settle_date TEXT,
            total_amount_fen INTEGER,
            fund_paid_fen INTEGER,
            self_paid_fen INTEGER
        );
        CREATE INDEX claims_rx ON claims (rx_id);
        CREATE TABLE deductions (
            deduction_id TEXT PRIMARY KEY,
            rx_id TEXT NOT NULL,
            amount_fen INTEGER NOT NULL,
            deduction_date TEXT,
            reason TEXT
        );
        CREATE INDEX deductions_rx ON deductions (rx_id);
        CREATE TABLE flags (
            rx_id TEXT NOT NULL,
            check_id TEXT NOT NULL,
            month TEXT NOT NULL,
            rx_date TEXT NOT NULL,
            doctor_code TEXT,
            department TEXT,
            patient_id TEXT,
            detail TEXT NOT NULL,
            amount_fen INTEGER,
            limit_fen INTEGER,
            related_rx_id TEXT,
            run_id INTEGER NOT NULL,
            PRIMARY KEY (rx_id, check_id)
        );
        CREATE INDEX flags_month ON flags (month, check_id);
        CREATE INDEX flags_doctor ON flags (doctor_code, month);
        CREATE TABLE verdicts (
            rx_id TEXT NOT NULL,
            check_id TEXT NOT NULL,
            verdict TEXT NOT NULL CHECK (verdict IN ('unreasonable', 'reasonable')),
            reviewer TEXT,
            reviewed_at TEXT,
            note TEXT,
            PRIMARY KEY (rx_id, check_id)
        );
        CREATE TABLE audit_runs (
            run_id INTEGER PRIMARY KEY AUTOINCREMENT,
            month TEXT NOT NULL,
            ruleset TEXT NOT NULL,
            ruleset_version TEXT NOT NULL,
            checks TEXT NOT NULL,
            plugins TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            flag_count INTEGER,
            notes TEXT
        );
        CREATE INDEX audit_runs_month ON audit_runs (month);
        CREATE TABLE loads (
            load_id INTEGER PRIMARY KEY AUTOINCREMENT,
            file TEXT NOT NULL,
            kind TEXT NOT NULL,
            encoding TEXT,
            rows INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            loaded_at TEXT NOT NULL
        );
        """,
    ),
]


def now() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def connect(path: str | Path, *, create: bool = True) -> sqlite3.Connection:
    """Open the database in WAL mode with a busy timeout, migrating it to the current schema.

    The connection is in autocommit mode (``isolation_level=None``): callers open
    explicit transactions with :func:`transaction`.
    """
    from .errors import MenguiError

    path = Path(path)
    if not create and not path.exists():
        raise MenguiError(f"数据库文件不存在：{path}（请先用 mengui load 导入数据）")
    if path.parent and not path.parent.exists():
        raise MenguiError(f"数据库所在目录不存在：{path.parent}")
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("PRAGMA journal_mode = WAL")
    except sqlite3.DatabaseError as ex:
        raise MenguiError(f"{path} 不是 SQLite 数据库文件（{ex}）") from ex
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA synchronous = NORMAL")
    migrate(conn)
    return conn


class transaction:
    """``with transaction(conn):`` — BEGIN IMMEDIATE … COMMIT, ROLLBACK on any exception."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
        return False


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply the migrations not yet recorded in ``_migrations``; return their numbers."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (id INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)"
    )
    done = {row[0] for row in conn.execute("SELECT id FROM _migrations")}
    applied = []
    for number, name, sql in MIGRATIONS:
        if number in done:
            continue
        with transaction(conn):
            for statement in sql.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO _migrations (id, name, applied_at) VALUES (?, ?, ?)",
                (number, name, now()),
            )
        applied.append(number)
    return applied
