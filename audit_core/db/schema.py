"""The database schema, in one place: numbered migrations recorded in ``_migrations``.

Money columns end in ``_fen`` and hold integer 分. Dates are ``YYYY-MM-DD`` text.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .. import times

#: migration 8's flag_status (final verdicts after appeals); later migrations recreate it with more columns
FLAG_STATUS_8 = """
        DROP VIEW flag_status;
        CREATE VIEW flag_status AS
        SELECT f.rx_id, f.check_id, f.month, f.rx_date, f.doctor_code, f.department, f.patient_id, f.detail,
               f.amount_fen, f.limit_fen, f.related_rx_id, f.needs_review, f.run_id,
               coalesce(a.second_verdict, v.verdict) AS verdict,
               CASE WHEN a.second_verdict IS NOT NULL THEN a.second_reviewer ELSE v.reviewer END AS reviewer,
               CASE WHEN a.second_verdict IS NOT NULL THEN a.second_reviewed_at ELSE v.reviewed_at END AS reviewed_at,
               CASE WHEN a.second_verdict IS NOT NULL THEN a.second_note ELSE v.note END AS verdict_note,
               CASE WHEN f.monitoring = 1 THEN 'monitoring'
                    WHEN coalesce(a.second_verdict, v.verdict) IS NOT NULL THEN coalesce(a.second_verdict, v.verdict)
                    WHEN f.needs_review = 1 THEN 'pending'
                    ELSE 'unreasonable_unreviewed' END AS status,
               CASE WHEN f.monitoring = 1 THEN 0
                    ELSE coalesce(coalesce(a.second_verdict, v.verdict) = 'unreasonable', f.needs_review = 0) END
                   AS counts,
               f.level, f.level_rank, f.measure, f.monitoring,
               v.verdict AS first_verdict,
               a.status AS appeal_status
        FROM flags f
        LEFT JOIN verdicts v ON v.rx_id = f.rx_id AND v.check_id = f.check_id
        LEFT JOIN appeals a ON a.rx_id = f.rx_id AND a.check_id = f.check_id;
"""

#: migration 2's doctor_roster (the roster with each doctor's active revocation); 13 adds its effective date
DOCTOR_ROSTER_2 = """
        CREATE VIEW doctor_roster AS
        SELECT d.doctor_code, d.doctor_name, d.department, d.qualified,
               r.month AS revoked_month, r.revoked_at,
               CASE WHEN r.doctor_code IS NOT NULL THEN '已取消（' || r.month || ' 公示）'
                    WHEN d.qualified = 0 THEN '无定岗资格'
                    ELSE '有效' END AS qualification
        FROM doctors d
        LEFT JOIN revocations r ON r.doctor_code = d.doctor_code
             AND r.reinstated_at IS NULL AND r.withdrawn_at IS NULL
"""

#: when a trigger writes a row: ISO with its offset (UTC; readers show it in Beijing time), never the server's
#: own zone without one
RECORDED_NOW = "strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')"

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
    (
        2,
        "verdict history, flag status, disclosures with revisions, revocations",
        """
        ALTER TABLE flags ADD COLUMN needs_review INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE audit_runs ADD COLUMN ruleset_path TEXT;
        ALTER TABLE verdicts ADD COLUMN source TEXT;
        CREATE TABLE verdict_history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            rx_id TEXT NOT NULL,
            check_id TEXT NOT NULL,
            verdict TEXT NOT NULL,
            previous_verdict TEXT,
            reviewer TEXT,
            reviewed_at TEXT,
            note TEXT,
            source TEXT,
            recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now', 'localtime'))
        );
        CREATE INDEX verdict_history_flag ON verdict_history (rx_id, check_id);
        CREATE TRIGGER verdicts_history_insert AFTER INSERT ON verdicts BEGIN
            INSERT INTO verdict_history (rx_id, check_id, verdict, previous_verdict, reviewer, reviewed_at, note, source)
            VALUES (NEW.rx_id, NEW.check_id, NEW.verdict, NULL, NEW.reviewer, NEW.reviewed_at, NEW.note, NEW.source);
        END;
        CREATE TRIGGER verdicts_history_update AFTER UPDATE ON verdicts
        WHEN OLD.verdict IS NOT NEW.verdict OR OLD.note IS NOT NEW.note OR OLD.reviewer IS NOT NEW.reviewer
          OR OLD.reviewed_at IS NOT NEW.reviewed_at BEGIN
            INSERT INTO verdict_history (rx_id, check_id, verdict, previous_verdict, reviewer, reviewed_at, note, source)
            VALUES (NEW.rx_id, NEW.check_id, NEW.verdict, OLD.verdict, NEW.reviewer, NEW.reviewed_at, NEW.note, NEW.source);
        END;
        CREATE TRIGGER verdicts_never_deleted BEFORE DELETE ON verdicts BEGIN
            SELECT RAISE(ABORT, '审核结论不能删除：如需更正，请记录新的结论');
        END;
        CREATE VIEW flag_status AS
        SELECT f.rx_id, f.check_id, f.month, f.rx_date, f.doctor_code, f.department, f.patient_id, f.detail,
               f.amount_fen, f.limit_fen, f.related_rx_id, f.needs_review, f.run_id,
               v.verdict, v.reviewer, v.reviewed_at, v.note AS verdict_note,
               CASE WHEN v.verdict IS NOT NULL THEN v.verdict
                    WHEN f.needs_review = 1 THEN 'pending'
                    ELSE 'unreasonable_unreviewed' END AS status,
               coalesce(v.verdict = 'unreasonable', f.needs_review = 0) AS counts
        FROM flags f LEFT JOIN verdicts v ON v.rx_id = f.rx_id AND v.check_id = f.check_id;
        CREATE TABLE disclosure_revisions (
            month TEXT NOT NULL,
            revision INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            ladder TEXT NOT NULL,
            ruleset TEXT,
            doctors INTEGER NOT NULL,
            pending INTEGER NOT NULL,
            changes TEXT,
            PRIMARY KEY (month, revision)
        );
        CREATE TABLE disclosure_history (
            month TEXT NOT NULL,
            revision INTEGER NOT NULL,
            doctor_code TEXT NOT NULL,
            doctor_name TEXT,
            department TEXT,
            level INTEGER NOT NULL,
            action TEXT NOT NULL,
            unreasonable_count INTEGER NOT NULL,
            reasons TEXT,
            PRIMARY KEY (month, revision, doctor_code)
        );
        CREATE TABLE disclosures (
            month TEXT NOT NULL,
            doctor_code TEXT NOT NULL,
            doctor_name TEXT,
            department TEXT,
            level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 3),
            action TEXT NOT NULL CHECK (action IN ('publish_code', 'publish_name', 'revoke')),
            unreasonable_count INTEGER NOT NULL,
            reasons TEXT,
            revision INTEGER NOT NULL,
            PRIMARY KEY (month, doctor_code)
        );
        CREATE TRIGGER disclosure_history_append_only BEFORE DELETE ON disclosure_history BEGIN
            SELECT RAISE(ABORT, '已公示的名单不能删除');
        END;
        CREATE TRIGGER disclosure_history_no_update BEFORE UPDATE ON disclosure_history BEGIN
            SELECT RAISE(ABORT, '已公示的名单不能修改：请生成新的版本');
        END;
        CREATE TABLE revocations (
            doctor_code TEXT NOT NULL,
            month TEXT NOT NULL,
            revoked_at TEXT NOT NULL,
            reinstated_at TEXT,
            reinstated_note TEXT,
            withdrawn_at TEXT,
            withdrawn_note TEXT,
            PRIMARY KEY (doctor_code, month)
        );
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
""" + DOCTOR_ROSTER_2,
    ),
    (
        3,
        "check catalog, verdict guard triggers",
        """
        CREATE TABLE checks (
            check_id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            description TEXT,
            needs_review INTEGER,
            plugin TEXT
        );
        CREATE TRIGGER verdicts_valid_insert BEFORE INSERT ON verdicts BEGIN
            SELECT RAISE(ABORT, '结论应为 unreasonable（不合理）或 reasonable（合理）')
            WHERE NEW.verdict NOT IN ('unreasonable', 'reasonable');
            SELECT RAISE(ABORT, '没有这条标记：审核结论只能针对已审核出的标记（处方号与规则编号）')
            WHERE NOT EXISTS (SELECT 1 FROM flags WHERE rx_id = NEW.rx_id AND check_id = NEW.check_id);
        END;
        CREATE TRIGGER verdicts_valid_update BEFORE UPDATE OF verdict ON verdicts BEGIN
            SELECT RAISE(ABORT, '结论应为 unreasonable（不合理）或 reasonable（合理）')
            WHERE NEW.verdict NOT IN ('unreasonable', 'reasonable');
        END
        """,
    ),
    (
        4,
        "cluster prescriptions, items and certifications by their keys (WITHOUT ROWID)",
        """
        CREATE TABLE prescriptions_new (
            rx_id TEXT PRIMARY KEY, rx_date TEXT NOT NULL, rx_time TEXT, patient_id TEXT NOT NULL,
            patient_name TEXT, insurance_type TEXT, doctor_code TEXT NOT NULL, department TEXT,
            disease_codes TEXT, total_amount_fen INTEGER
        ) WITHOUT ROWID;
        INSERT INTO prescriptions_new SELECT rx_id, rx_date, rx_time, patient_id, patient_name, insurance_type,
            doctor_code, department, disease_codes, total_amount_fen FROM prescriptions;
        DROP TABLE prescriptions;
        ALTER TABLE prescriptions_new RENAME TO prescriptions;
        CREATE INDEX prescriptions_date ON prescriptions (rx_date);
        CREATE INDEX prescriptions_patient ON prescriptions (patient_id, rx_date);
        CREATE INDEX prescriptions_doctor ON prescriptions (doctor_code, rx_date);
        CREATE TABLE rx_items_new (
            rx_id TEXT NOT NULL, line_no INTEGER NOT NULL, drug_code TEXT, drug_name TEXT NOT NULL, spec TEXT,
            quantity TEXT, unit TEXT, unit_price TEXT, amount_fen INTEGER NOT NULL, days_supply INTEGER,
            PRIMARY KEY (rx_id, line_no)
        ) WITHOUT ROWID;
        INSERT INTO rx_items_new SELECT rx_id, line_no, drug_code, drug_name, spec, quantity, unit, unit_price,
            amount_fen, days_supply FROM rx_items;
        DROP TABLE rx_items;
        ALTER TABLE rx_items_new RENAME TO rx_items;
        CREATE TABLE certifications_new (
            patient_id TEXT NOT NULL, disease_code TEXT NOT NULL, disease_name TEXT,
            kind TEXT NOT NULL DEFAULT 'disease', valid_from TEXT NOT NULL, valid_to TEXT,
            PRIMARY KEY (patient_id, disease_code, valid_from)
        ) WITHOUT ROWID;
        INSERT INTO certifications_new SELECT patient_id, disease_code, disease_name, kind, valid_from, valid_to
            FROM certifications;
        DROP TABLE certifications;
        ALTER TABLE certifications_new RENAME TO certifications
        """,
    ),
    (
        5,
        "log of records replaced by corrected re-exports",
        """
        CREATE TABLE record_changes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            changed_at TEXT NOT NULL,
            table_name TEXT NOT NULL,
            record_key TEXT NOT NULL,
            old_values TEXT,
            new_values TEXT,
            file TEXT
        );
        CREATE INDEX record_changes_key ON record_changes (table_name, record_key)
        """,
    ),
    (
        6,
        "drop an index no query needs (doctor lookups go through flags)",
        """
        DROP INDEX IF EXISTS prescriptions_doctor
        """,
    ),
    (
        7,
        "warning levels and measures on flags; monitoring-only checks",
        """
        ALTER TABLE flags ADD COLUMN measure REAL;
        ALTER TABLE flags ADD COLUMN level TEXT;
        ALTER TABLE flags ADD COLUMN level_rank INTEGER;
        ALTER TABLE flags ADD COLUMN monitoring INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE checks ADD COLUMN monitoring INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX flags_month_level ON flags (month, level_rank);
        DROP VIEW flag_status;
        CREATE VIEW flag_status AS
        SELECT f.rx_id, f.check_id, f.month, f.rx_date, f.doctor_code, f.department, f.patient_id, f.detail,
               f.amount_fen, f.limit_fen, f.related_rx_id, f.needs_review, f.run_id,
               v.verdict, v.reviewer, v.reviewed_at, v.note AS verdict_note,
               CASE WHEN f.monitoring = 1 THEN 'monitoring'
                    WHEN v.verdict IS NOT NULL THEN v.verdict
                    WHEN f.needs_review = 1 THEN 'pending'
                    ELSE 'unreasonable_unreviewed' END AS status,
               CASE WHEN f.monitoring = 1 THEN 0
                    ELSE coalesce(v.verdict = 'unreasonable', f.needs_review = 0) END AS counts,
               f.level, f.level_rank, f.measure, f.monitoring
        FROM flags f LEFT JOIN verdicts v ON v.rx_id = f.rx_id AND v.check_id = f.check_id
        """,
    ),
    (
        8,
        "appeals and second review (复审); flag_status uses the final verdict; deduction attribution",
        """
        CREATE TABLE appeals (
            rx_id TEXT NOT NULL,
            check_id TEXT NOT NULL,
            first_verdict TEXT NOT NULL,
            first_reviewer TEXT,
            first_reviewed_at TEXT,
            filed_at TEXT NOT NULL,
            deadline TEXT NOT NULL,
            appellant TEXT,
            reason TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'upheld', 'overturned')),
            second_verdict TEXT CHECK (second_verdict IN ('unreasonable', 'reasonable')),
            second_reviewer TEXT,
            second_reviewed_at TEXT,
            second_note TEXT,
            source TEXT,
            recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now', 'localtime')),
            PRIMARY KEY (rx_id, check_id)
        );
        CREATE INDEX appeals_status ON appeals (status);
        CREATE TABLE appeal_reviews (
            rx_id TEXT NOT NULL,
            check_id TEXT NOT NULL,
            verdict TEXT NOT NULL,
            reviewer TEXT,
            reviewed_at TEXT NOT NULL,
            note TEXT,
            source TEXT,
            PRIMARY KEY (rx_id, check_id)
        );
        CREATE TRIGGER appeals_valid_insert BEFORE INSERT ON appeals BEGIN
            SELECT RAISE(ABORT, '该标记已经申诉过：每条标记只能申诉一次，复审结论为最终结论')
            WHERE EXISTS (SELECT 1 FROM appeals WHERE rx_id = NEW.rx_id AND check_id = NEW.check_id);
            SELECT RAISE(ABORT, '只能对药事委员会判定为不合理的标记申诉')
            WHERE NOT EXISTS (SELECT 1 FROM verdicts WHERE rx_id = NEW.rx_id AND check_id = NEW.check_id
                                                       AND verdict = 'unreasonable');
            SELECT RAISE(ABORT, '新申诉的状态应为待复审，且不能带复审结论')
            WHERE NEW.status IS NOT 'pending' OR NEW.second_verdict IS NOT NULL;
        END;
        CREATE TRIGGER appeals_never_deleted BEFORE DELETE ON appeals BEGIN
            SELECT RAISE(ABORT, '申诉记录不能删除');
        END;
        CREATE TRIGGER appeals_no_update BEFORE UPDATE ON appeals BEGIN
            SELECT RAISE(ABORT, '复审结论为最终结论，不能修改')
            WHERE OLD.status <> 'pending';
            SELECT RAISE(ABORT, '申诉记录不能修改：复审请用 mengui appeal-review 或网页上的“记录复审结论”')
            WHERE NOT EXISTS (SELECT 1 FROM appeal_reviews WHERE rx_id = OLD.rx_id AND check_id = OLD.check_id)
               OR NEW.rx_id IS NOT OLD.rx_id OR NEW.check_id IS NOT OLD.check_id
               OR NEW.first_verdict IS NOT OLD.first_verdict OR NEW.filed_at IS NOT OLD.filed_at
               OR NEW.deadline IS NOT OLD.deadline OR NEW.appellant IS NOT OLD.appellant
               OR NEW.reason IS NOT OLD.reason OR NEW.recorded_at IS NOT OLD.recorded_at;
        END;
        CREATE TRIGGER appeal_reviews_valid BEFORE INSERT ON appeal_reviews BEGIN
            SELECT RAISE(ABORT, '复审结论应为 不合理 或 合理（unreasonable / reasonable）')
            WHERE NEW.verdict NOT IN ('unreasonable', 'reasonable');
            SELECT RAISE(ABORT, '这条标记没有申诉，不能复审（复审只针对医师的申诉）')
            WHERE NOT EXISTS (SELECT 1 FROM appeals WHERE rx_id = NEW.rx_id AND check_id = NEW.check_id);
            SELECT RAISE(ABORT, '这条申诉已经复审：复审结论为最终结论，不能再次复审')
            WHERE EXISTS (SELECT 1 FROM appeals WHERE rx_id = NEW.rx_id AND check_id = NEW.check_id
                                                  AND status <> 'pending');
        END;
        CREATE TRIGGER appeal_reviews_apply AFTER INSERT ON appeal_reviews BEGIN
            UPDATE appeals SET second_verdict = NEW.verdict, second_reviewer = NEW.reviewer,
                second_reviewed_at = NEW.reviewed_at, second_note = NEW.note,
                status = CASE WHEN NEW.verdict = first_verdict THEN 'upheld' ELSE 'overturned' END
            WHERE rx_id = NEW.rx_id AND check_id = NEW.check_id;
            INSERT INTO verdict_history (rx_id, check_id, verdict, previous_verdict, reviewer, reviewed_at, note, source)
            SELECT NEW.rx_id, NEW.check_id, NEW.verdict, a.first_verdict, NEW.reviewer, NEW.reviewed_at, NEW.note,
                   '复审（' || coalesce(NEW.source, '') || '）'
            FROM appeals a WHERE a.rx_id = NEW.rx_id AND a.check_id = NEW.check_id;
        END;
        CREATE TRIGGER appeal_reviews_never_deleted BEFORE DELETE ON appeal_reviews BEGIN
            SELECT RAISE(ABORT, '复审结论不能删除');
        END;
        CREATE TRIGGER appeal_reviews_no_update BEFORE UPDATE ON appeal_reviews BEGIN
            SELECT RAISE(ABORT, '复审结论为最终结论，不能修改');
        END;
        CREATE TRIGGER verdicts_appealed_final BEFORE UPDATE OF verdict ON verdicts
        WHEN OLD.verdict IS NOT NEW.verdict
         AND EXISTS (SELECT 1 FROM appeals WHERE rx_id = OLD.rx_id AND check_id = OLD.check_id) BEGIN
            SELECT RAISE(ABORT, '该标记已有医师申诉：原结论不能再修改，以复审结论为准');
        END;
""" + FLAG_STATUS_8 + """        CREATE VIEW deduction_attribution AS
        SELECT x.deduction_id, x.rx_id, x.amount_fen, x.deduction_date, x.reason,
               p.rx_date, substr(coalesce(x.deduction_date, p.rx_date), 1, 7) AS month,
               p.doctor_code, d.doctor_name,
               coalesce(nullif(d.department, ''), p.department) AS department,
               p.rx_id IS NOT NULL AS attributed
        FROM deductions x
        LEFT JOIN prescriptions p ON p.rx_id = x.rx_id
        LEFT JOIN doctors d ON d.doctor_code = p.doctor_code
        """,
    ),
    (
        9,
        "the longest days of supply loaded, kept up by each load (how far an audit looks back)",
        """
        INSERT INTO settings (key, value)
        SELECT 'max_days_supply', max(days_supply) FROM rx_items HAVING max(days_supply) IS NOT NULL
        """,
    ),
    (
        10,
        "flag evidence (the facts behind a flag, as JSON: the earlier prescription, days left, tolerance)",
        "ALTER TABLE flags ADD COLUMN evidence TEXT;\n"
        + FLAG_STATUS_8.replace("a.status AS appeal_status\n", "a.status AS appeal_status, f.evidence\n"),
    ),
    (
        11,
        "hardening: append-only histories, note limits, login events, ladder starts per month, stale lists",
        """
        CREATE TRIGGER verdict_history_no_update BEFORE UPDATE ON verdict_history BEGIN
            SELECT RAISE(ABORT, '审核历史不能修改：如需更正，请记录新的结论');
        END;
        CREATE TRIGGER verdict_history_no_delete BEFORE DELETE ON verdict_history BEGIN
            SELECT RAISE(ABORT, '审核历史不能删除');
        END;
        CREATE TRIGGER verdicts_note_limit_insert BEFORE INSERT ON verdicts WHEN length(NEW.note) > 2000 BEGIN
            SELECT RAISE(ABORT, '审核意见不能超过 2000 个字符，请精简后重新提交');
        END;
        CREATE TRIGGER verdicts_note_limit_update BEFORE UPDATE OF note ON verdicts WHEN length(NEW.note) > 2000 BEGIN
            SELECT RAISE(ABORT, '审核意见不能超过 2000 个字符，请精简后重新提交');
        END;
        CREATE TRIGGER appeals_reason_limit BEFORE INSERT ON appeals WHEN length(NEW.reason) > 2000 BEGIN
            SELECT RAISE(ABORT, '申诉理由不能超过 2000 个字符，请精简后重新提交');
        END;
        CREATE TRIGGER appeal_reviews_note_limit BEFORE INSERT ON appeal_reviews WHEN length(NEW.note) > 2000 BEGIN
            SELECT RAISE(ABORT, '复审意见不能超过 2000 个字符，请精简后重新提交');
        END;
        CREATE TABLE login_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            username TEXT,
            address TEXT,
            outcome TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'throttled'))
        );
        CREATE INDEX login_events_user ON login_events (username, outcome, address);
        CREATE TABLE ladder_starts (
            month TEXT PRIMARY KEY,
            declared_at TEXT NOT NULL
        );
        INSERT INTO ladder_starts (month, declared_at)
        SELECT value, strftime('%Y-%m-%dT%H:%M:%S', 'now', 'localtime') FROM settings WHERE key = 'ladder_start';
        CREATE TABLE disclosure_runs (
            month TEXT PRIMARY KEY,
            computed_seq INTEGER NOT NULL,
            changed_seq INTEGER NOT NULL,
            computed_at TEXT NOT NULL
        );
        INSERT INTO disclosure_runs (month, computed_seq, changed_seq, computed_at)
        SELECT month, max(rowid), max(rowid), max(created_at) FROM disclosure_revisions GROUP BY month
        """,
    ),
    (
        12,
        "audit step timings; one index on flags by month, check and level instead of two",
        """
        ALTER TABLE audit_runs ADD COLUMN steps TEXT;
        DROP INDEX IF EXISTS flags_month_level;
        DROP INDEX IF EXISTS flags_month;
        CREATE INDEX flags_month ON flags (month, check_id, level_rank)
        """,
    ),
    (
        13,
        "publication is an act: private drafts, published revisions with who and when, revocations dated by the month",
        """
        ALTER TABLE disclosure_revisions ADD COLUMN published_at TEXT;
        ALTER TABLE disclosure_revisions ADD COLUMN published_by TEXT;
        ALTER TABLE disclosure_revisions ADD COLUMN effective_date TEXT;
        ALTER TABLE disclosure_revisions ADD COLUMN drafted_at TEXT;
        ALTER TABLE disclosure_revisions ADD COLUMN depends_on TEXT;
        UPDATE disclosure_revisions SET published_at = created_at, drafted_at = created_at,
            effective_date = date(month || '-01', '+1 month');
        ALTER TABLE revocations ADD COLUMN effective_date TEXT;
        ALTER TABLE revocations ADD COLUMN revision INTEGER;
        ALTER TABLE revocations ADD COLUMN reinstated_on TEXT;
        UPDATE revocations SET effective_date = date(month || '-01', '+1 month'),
            reinstated_on = substr(reinstated_at, 1, 10),
            revision = (SELECT max(h.revision) FROM disclosure_history h
                        WHERE h.month = revocations.month AND h.doctor_code = revocations.doctor_code
                          AND h.action = 'revoke');
        CREATE TABLE disclosure_drafts (
            month TEXT PRIMARY KEY,
            computed_at TEXT NOT NULL,
            ladder TEXT NOT NULL,
            ruleset TEXT,
            ruleset_option TEXT,
            allow_unaudited INTEGER NOT NULL DEFAULT 0,
            doctors INTEGER NOT NULL,
            pending INTEGER NOT NULL,
            appeals_pending INTEGER NOT NULL DEFAULT 0,
            depends_on TEXT,
            base_revision INTEGER,
            published_revision INTEGER,
            published_at TEXT
        );
        CREATE TABLE disclosure_draft_rows (
            month TEXT NOT NULL,
            doctor_code TEXT NOT NULL,
            doctor_name TEXT,
            department TEXT,
            level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 3),
            action TEXT NOT NULL CHECK (action IN ('publish_code', 'publish_name', 'revoke')),
            unreasonable_count INTEGER NOT NULL,
            reasons TEXT,
            PRIMARY KEY (month, doctor_code)
        );
        ALTER TABLE disclosure_runs RENAME COLUMN computed_seq TO published_seq;
        ALTER TABLE disclosure_runs RENAME COLUMN computed_at TO published_at;
        ALTER TABLE disclosure_runs ADD COLUMN depends_on TEXT;
        DROP VIEW doctor_roster;
""" + DOCTOR_ROSTER_2.replace(
            "r.month AS revoked_month, r.revoked_at,\n",
            "r.month AS revoked_month, r.revoked_at,\n"
            "               coalesce(r.effective_date, date(r.month || '-01', '+1 month')) AS effective_date,\n"),
    ),
    (
        14,
        "事前提示: the reasons doctors gave for going on after a precheck warning",
        """
        CREATE TABLE precheck_overrides (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            received_at TEXT NOT NULL,
            client TEXT,
            rx_id TEXT,
            patient_id TEXT NOT NULL,
            doctor_code TEXT NOT NULL,
            rx_date TEXT NOT NULL,
            check_id TEXT NOT NULL,
            level TEXT,
            summary TEXT,
            reason_code TEXT,
            reason TEXT NOT NULL,
            card_uuid TEXT
        );
        CREATE INDEX precheck_overrides_rx ON precheck_overrides (rx_id, check_id);
        CREATE INDEX precheck_overrides_visit ON precheck_overrides (patient_id, rx_date, doctor_code);
        CREATE TRIGGER precheck_overrides_reason_limit BEFORE INSERT ON precheck_overrides
        WHEN length(NEW.reason) > 2000 OR length(NEW.summary) > 2000 BEGIN
            SELECT RAISE(ABORT, '医师理由不能超过 2000 个字符');
        END
        """,
    ),
    (
        15,
        "the history records when it was written with its offset (UTC), whatever the server's zone",
        f"""
        DROP TRIGGER verdicts_history_insert;
        DROP TRIGGER verdicts_history_update;
        DROP TRIGGER appeal_reviews_apply;
        CREATE TRIGGER verdicts_history_insert AFTER INSERT ON verdicts BEGIN
            INSERT INTO verdict_history (rx_id, check_id, verdict, previous_verdict, reviewer, reviewed_at, note, source,
                                         recorded_at)
            VALUES (NEW.rx_id, NEW.check_id, NEW.verdict, NULL, NEW.reviewer, NEW.reviewed_at, NEW.note, NEW.source,
                    {RECORDED_NOW});
        END;
        CREATE TRIGGER verdicts_history_update AFTER UPDATE ON verdicts
        WHEN OLD.verdict IS NOT NEW.verdict OR OLD.note IS NOT NEW.note OR OLD.reviewer IS NOT NEW.reviewer
          OR OLD.reviewed_at IS NOT NEW.reviewed_at BEGIN
            INSERT INTO verdict_history (rx_id, check_id, verdict, previous_verdict, reviewer, reviewed_at, note, source,
                                         recorded_at)
            VALUES (NEW.rx_id, NEW.check_id, NEW.verdict, OLD.verdict, NEW.reviewer, NEW.reviewed_at, NEW.note, NEW.source,
                    {RECORDED_NOW});
        END;
        CREATE TRIGGER appeal_reviews_apply AFTER INSERT ON appeal_reviews BEGIN
            UPDATE appeals SET second_verdict = NEW.verdict, second_reviewer = NEW.reviewer,
                second_reviewed_at = NEW.reviewed_at, second_note = NEW.note,
                status = CASE WHEN NEW.verdict = first_verdict THEN 'upheld' ELSE 'overturned' END
            WHERE rx_id = NEW.rx_id AND check_id = NEW.check_id;
            INSERT INTO verdict_history (rx_id, check_id, verdict, previous_verdict, reviewer, reviewed_at, note, source,
                                         recorded_at)
            SELECT NEW.rx_id, NEW.check_id, NEW.verdict, a.first_verdict, NEW.reviewer, NEW.reviewed_at, NEW.note,
                   '复审（' || coalesce(NEW.source, '') || '）', {RECORDED_NOW}
            FROM appeals a WHERE a.rx_id = NEW.rx_id AND a.check_id = NEW.check_id;
        END
        """,
    ),
]


def users_path(db_path: str | Path) -> Path:
    """The committee's logins live beside the database: ``mengui.db`` → ``mengui.users.db``."""
    db_path = Path(db_path)
    return db_path.with_name(db_path.stem + ".users.db")


def database_file(conn: sqlite3.Connection) -> str:
    """The main database's file name ('' for an in-memory or temporary database)."""
    for row in conn.execute("PRAGMA database_list"):
        if row[1] == "main":
            return row[2] or ""
    return ""


def connect(path: str | Path, *, create: bool = True) -> sqlite3.Connection:
    """Open the database in WAL mode with a busy timeout, migrating it to the current schema.

    The connection is in autocommit mode (``isolation_level=None``): callers open
    explicit transactions with :func:`transaction`.
    """
    from ..errors import MenguiError
    from .files import create_private, make_private, remove_stale_scratch, with_side_files

    path = Path(path)
    if not create and not path.exists():
        raise MenguiError(f"数据库文件不存在：{path}（请先用 mengui load 导入数据）")
    if path.parent and not path.parent.exists():
        raise MenguiError(f"数据库所在目录不存在：{path.parent}")
    if not path.exists():
        create_private(path)  # patients' data: owner-only; SQLite gives -wal and -shm the same mode
    make_private(*with_side_files(path))  # an older database may have been created 0644
    remove_stale_scratch(path)  # what a crashed load or audit left beside it
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
    except sqlite3.DatabaseError as ex:
        raise MenguiError(f"{path} 不是 SQLite 数据库文件（或已损坏）") from ex
    configure(conn)
    migrate(conn)
    return conn


def configure(conn: sqlite3.Connection) -> None:
    """The settings every connection to a mengui database uses (also the audit's lanes)."""
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA temp_store = FILE")  # big TEMP tables spill to (OS-cached) files, not process memory
    conn.execute("PRAGMA cache_size = -262144")  # up to 256 MiB page cache for the database (allocated as used)
    conn.execute("PRAGMA temp.cache_size = -131072")  # and 128 MiB for TEMP tables; beyond that they spill to files


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
        # executescript, because triggers contain semicolons; one transaction per migration
        quoted = name.replace("'", "''")
        script = (
            f"BEGIN IMMEDIATE;\n{sql};\n"
            f"INSERT INTO _migrations (id, name, applied_at) VALUES ({number}, '{quoted}', '{times.now()}');\nCOMMIT;"
        )
        try:
            conn.executescript(script)
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        applied.append(number)
    return applied
