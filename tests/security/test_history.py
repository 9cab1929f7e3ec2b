"""Issue 14, item 15: the verdict history and the appeal tables are append-only by trigger, like
``disclosure_history`` — on a new database and on one migrated from before migration 11."""

import sqlite3

import pytest

from builders import database_before, publish
from mengui_core.review.appeals import file_appeal, review_appeal
from mengui_core.ingest.loader import load_files
from mengui_core.audit.runner import audit_month
from mengui_core.db.schema import connect
from mengui_core.review.verdicts import record_verdict

EDITS = [
    ("UPDATE verdict_history SET verdict = 'reasonable'", "审核历史不能修改"),
    ("UPDATE verdict_history SET note = '改过'", "审核历史不能修改"),
    ("DELETE FROM verdict_history", "审核历史不能删除"),
    ("UPDATE appeals SET reason = '改过'", "不能修改"),
    ("UPDATE appeals SET status = 'overturned', second_verdict = 'reasonable'", "不能修改"),
    ("DELETE FROM appeals", "申诉记录不能删除"),
    ("UPDATE appeal_reviews SET verdict = 'unreasonable'", "复审结论为最终结论，不能修改"),
    ("DELETE FROM appeal_reviews", "复审结论不能删除"),
    ("DELETE FROM disclosure_history", "已公示的名单不能删除"),
]


def reviewed(exports, db_path, migrated_from=None):
    exports.doctor("D01", "王建国")
    exports.cert("P1", "M03900").cert("P2", "M03900")
    exports.rx("R1", "2026-10-08", "P1", items=[("苯磺酸氨氯地平片", "187.62", 28)])
    exports.rx("R2", "2026-10-09", "P2", items=[("苯磺酸氨氯地平片", "190.00", 28)])
    if migrated_from is not None:  # a database made by the version before migration 11
        database_before(db_path, migrated_from).close()
    conn = connect(db_path)
    load_files(conn, [exports.write()])
    audit_month(conn, "2026-10")
    record_verdict(conn, "R1", "amount_cap", "不合理", "张委员", "超限额")
    record_verdict(conn, "R2", "amount_cap", "不合理", "张委员")
    file_appeal(conn, "R1", "amount_cap", "已补充用药说明", "D01")
    review_appeal(conn, "R1", "amount_cap", "合理", "李委员", "说明属实")
    file_appeal(conn, "R2", "amount_cap", "病情需要", "D01")
    return conn


@pytest.mark.parametrize("migrated_from", [None, 9])
def test_history_and_appeals_refuse_every_edit(exports, db_path, migrated_from):
    conn = reviewed(exports, db_path, migrated_from)
    publish(conn, "2026-10", start="2026-10")  # a published list: its history rows are append-only
    before = [tuple(r) for r in conn.execute("SELECT * FROM verdict_history ORDER BY id")]
    assert len(before) == 3
    for sql, message in EDITS:
        with pytest.raises(sqlite3.DatabaseError, match=message):
            conn.execute(sql)
    assert [tuple(r) for r in conn.execute("SELECT * FROM verdict_history ORDER BY id")] == before
    assert [r[0] for r in conn.execute("SELECT status FROM appeals ORDER BY rx_id")] == ["overturned", "pending"]
    # what the program itself writes still goes in: the pending appeal's 复审 appends to the history
    review_appeal(conn, "R2", "amount_cap", "不合理", "王委员", "维持")
    assert conn.execute("SELECT count(*) FROM verdict_history").fetchone()[0] == 4
    assert [r[0] for r in conn.execute("SELECT status FROM appeals ORDER BY rx_id")] == ["overturned", "upheld"]
