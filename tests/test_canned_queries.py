"""The Datasette metadata (datasette_metadata/metadata.yaml): canned queries, labels, permissions.

Every canned query is run with sqlite3 against a real demo database (two months,
generated, loaded, audited, reviewed and disclosed), and the permission structure is
checked both in the YAML and in an in-process Datasette.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from mengui_core.demo.story import run_demo
from mengui_core.labels import register_sql_functions

METADATA_PATH = Path(__file__).resolve().parents[1] / "datasette_metadata" / "metadata.yaml"
DB_KEY = "mengui"
COMMITTEE = {"role": ["committee", "admin"]}
ADMIN_ONLY = {"role": "admin"}
PUBLIC = {"disclosures", "checks", "monthly_statistics", "department_statistics"}
PUBLIC_QUERIES = {"monthly_statistics", "department_statistics"}
HIDDEN = {"settings", "_migrations", "loads"}
# the site says what the report says (mengui_core.labels.STATUS_LABELS): 监测（不计入）, not the site-only 监测
STATUS_LABELS = {"待审核", "不合理", "合理", "计入未复核", "监测（不计入）"}
STATUS_LABEL = {"pending": "待审核", "unreasonable_unreviewed": "计入未复核"}
REVIEW_PATH = re.compile(r"^/-/review/[^/]+/[a-z0-9_]+$")
YUAN = re.compile(r"^-?\d{1,3}(,\d{3})*\.\d{2}$")  # mg_yuan: 元 with two decimals, grouped (1,234.50)
CJK = re.compile(r"[\u4e00-\u9fff]")
MONEY_WORDS = ("金额", "限额", "超出", "扣款", "支付")

# The Chinese output columns each canned query must return.
EXPECTED_COLUMNS = {
    "pending_reviews": ["处方号", "规则", "级别", "开方日期", "医师代码", "医师姓名", "科室", "原因",
                        "金额（元）", "限额（元）", "超出（元）", "状态", "审核"],
    "doctor_flags": ["月份", "处方号", "开方日期", "规则", "级别", "医师代码", "医师姓名", "科室", "原因",
                     "金额（元）", "限额（元）", "超出（元）", "状态", "计为不合理处方", "审核意见",
                     "审核人", "审核时间", "审核"],
    "same_effect_pairs": ["标记处方", "开方日期", "医师代码", "医师姓名", "药品", "在先处方", "在先开方日期",
                          "在先医师代码", "在先医师姓名", "在先处方药品", "规则", "原因", "状态", "审核"],
    "over_cap": ["处方号", "开方日期", "医师代码", "医师姓名", "科室", "本处方金额（元）", "就诊药品金额（元）",
                 "限额（元）", "超出（元）", "状态", "审核意见", "审核"],
    "monthly_statistics": ["月份", "审核处方数", "标记数", "被标记处方数", "不合理处方数", "不合理处方占比",
                           "待审核数", "公示医师数", "一级公示代码", "二级公示姓名", "三级取消资格"],
    "department_statistics": ["月份", "科室", "规则", "标记数", "不合理处方数", "判定不合理", "判定合理",
                              "待审核", "计入未复核", "涉及医师数"],
    "appeals_overview": ["月份", "处方号", "规则", "医师代码", "医师姓名", "申诉状态", "原审核人", "原结论日期",
                         "申诉日期", "申诉期限", "申诉人", "申诉理由", "复审人", "复审时间", "复审意见", "审核"],
    "deductions_by_doctor": ["医师代码", "医师姓名", "科室", "笔数", "金额（元）", "涉及处方数", "所属月份",
                             "未归属明细"],
    "monitoring_flags": ["级别", "规则", "处方号", "开方日期", "医师代码", "医师姓名", "科室", "原因", "审核"],
    "ladder_state": ["公示月份", "医师代码", "医师姓名", "是否公示姓名", "科室", "公示级别", "处理",
                     "不合理处方数", "原因", "上月级别", "有效的资格取消"],
}


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    run = run_demo(tmp_path_factory.mktemp("d"), months=2)
    return Path(run.db_path)


@pytest.fixture(scope="module")
def metadata() -> dict:
    with open(METADATA_PATH, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def database(metadata) -> dict:
    return metadata["databases"][DB_KEY]


@pytest.fixture(scope="module")
def queries(database) -> dict:
    return database["queries"]


@pytest.fixture
def conn(demo_db):
    connection = sqlite3.connect(demo_db, isolation_level=None)
    connection.row_factory = sqlite3.Row
    register_sql_functions(connection)  # mg_label, mg_yuan: what the site's prepare_connection adds
    yield connection
    connection.close()


@pytest.fixture
def writable_db(demo_db, tmp_path) -> Path:
    """A private copy of the demo database, for tests that really write."""
    copy = tmp_path / "mengui.db"
    src = sqlite3.connect(demo_db)
    dst = sqlite3.connect(copy)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return copy



def _metadata_for_params() -> list[str]:
    with open(METADATA_PATH, encoding="utf-8") as fh:
        return list(yaml.safe_load(fh)["databases"][DB_KEY]["queries"])


ALL_QUERIES = _metadata_for_params()
WRITE_QUERIES = {"record_verdict", "record_second_review"}
READ_QUERIES = [n for n in ALL_QUERIES if n not in WRITE_QUERIES]


def latest_month(conn) -> str:
    return conn.execute("SELECT max(month) FROM audit_runs").fetchone()[0]


def real_values(conn) -> dict:
    """Realistic parameter values taken from the demo database."""
    month = latest_month(conn)
    doctor = conn.execute(
        "SELECT doctor_code FROM flags WHERE month = ? GROUP BY doctor_code ORDER BY count(*) DESC, doctor_code LIMIT 1",
        (month,),
    ).fetchone()[0]
    flag = conn.execute(
        "SELECT rx_id, check_id FROM flag_status WHERE month = ? ORDER BY status = 'pending' DESC, rx_id LIMIT 1",
        (month,),
    ).fetchone()
    return {
        "month": month,
        "doctor_code": doctor,
        "rx_id": flag["rx_id"],
        "check_id": flag["check_id"],
        "verdict": "不合理",
        "note": "测试：分解处方规避限额",
        "_actor_id": "committee-tester",
    }


def bind(sql: str, values: dict, *, empty_optional: bool = False) -> dict:
    """Bind every named parameter the SQL uses; optional ones empty when asked."""
    required = {"doctor_code", "rx_id", "check_id", "verdict", "_actor_id"}
    params = {}
    for name in set(re.findall(r":(\w+)", sql)):
        if empty_optional and name not in required:
            params[name] = ""
        else:
            assert name in values, f"no realistic test value for parameter :{name}"
            params[name] = values[name]
    return params


def run(conn, sql: str, params: dict):
    cur = conn.execute(sql, params)
    columns = [d[0] for d in cur.description] if cur.description else []
    return columns, [tuple(r) for r in cur.fetchall()]


def run_rolled_back(conn, sql: str, params: dict):
    conn.execute("BEGIN")
    try:
        return run(conn, sql, params)
    finally:
        conn.execute("ROLLBACK")


def record(db: Path, sql: str, **params):
    connection = sqlite3.connect(db, isolation_level=None)
    register_sql_functions(connection)  # mg_now, as the site's prepare_connection adds it
    try:
        connection.execute(sql, params)
    finally:
        connection.close()


def yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:,.2f}"


def all_allows(metadata):
    """(kind, name, allow) for every allow block in the metadata."""
    out = []
    if "allow" in metadata:
        out.append(("instance", None, metadata["allow"]))
    for db_name, db in (metadata.get("databases") or {}).items():
        if "allow" in db:
            out.append(("database", db_name, db["allow"]))
        for name, table in (db.get("tables") or {}).items():
            if isinstance(table, dict) and "allow" in table:
                out.append(("table", name, table["allow"]))
        for name, query in (db.get("queries") or {}).items():
            if isinstance(query, dict) and "allow" in query:
                out.append(("query", name, query["allow"]))
    return out


# ---------------------------------------------------------------- every canned query runs


def test_every_query_is_tested(queries):
    assert set(queries) == set(EXPECTED_COLUMNS) | WRITE_QUERIES


@pytest.mark.parametrize("name", ALL_QUERIES)
def test_query_has_chinese_title_and_description(queries, name):
    query = queries[name]
    assert CJK.search(query.get("title") or ""), name
    assert CJK.search(query.get("description") or ""), name
    # params lists every form field (magic parameters excepted), so Datasette blanks missing ones
    used = {p for p in re.findall(r":(\w+)", query["sql"]) if not p.startswith("_")}
    assert set(query.get("params") or []) == used, name


@pytest.mark.parametrize("name", ALL_QUERIES)
def test_query_runs_with_real_values(conn, queries, name):
    query = queries[name]
    values = real_values(conn)
    if name == "record_second_review":  # a 复审 needs a pending appeal: the demo leaves one
        values.update(dict(conn.execute(
            "SELECT rx_id, check_id FROM appeals WHERE status = 'pending' ORDER BY rx_id LIMIT 1").fetchone()))
    params = bind(query["sql"], values)
    if query.get("write"):
        columns, rows = run_rolled_back(conn, query["sql"], params)
        assert columns == [] and rows == []
        return
    columns, rows = run(conn, query["sql"], params)
    assert rows, f"{name} returned no rows for {params}"
    assert columns == EXPECTED_COLUMNS[name]
    for column in columns:
        assert CJK.search(column), f"{name}: column {column!r} is not Chinese"
    if "审核" in columns:
        index = columns.index("审核")
        for row in rows:
            assert REVIEW_PATH.match(row[index]), row[index]


@pytest.mark.parametrize("name", READ_QUERIES)
def test_query_runs_with_empty_optional_parameters(conn, queries, name):
    """Left empty, :month means the latest audited month (or every month where documented)."""
    sql = queries[name]["sql"]
    params = bind(sql, real_values(conn), empty_optional=True)
    columns, rows = run(conn, sql, params)
    assert columns == EXPECTED_COLUMNS[name]
    assert rows, f"{name} returned no rows with empty optional parameters"


def test_pending_reviews_lists_exactly_the_flags_awaiting_a_verdict(conn, queries):
    """Issue 17: every flag the committee has not ruled on (待审核, and 计入未复核: counted unless ruled 合理),
    monitoring flags aside — the same list as the pending page and the review sheet."""
    month = latest_month(conn)
    sql = queries["pending_reviews"]["sql"]
    columns, rows = run(conn, sql, {"month": ""})
    expected = conn.execute(
        "SELECT rx_id, check_id, amount_fen, limit_fen, status FROM flag_status WHERE month = ? "
        "AND verdict IS NULL AND NOT monitoring", (month,),
    ).fetchall()
    assert expected, "the demo leaves pending reviews in its last month"
    assert {e["status"] for e in expected} == {"pending", "unreasonable_unreviewed"}
    got = {(r[columns.index("处方号")], r[columns.index("审核")].rsplit("/", 1)[1]): r for r in rows}
    assert set(got) == {(e["rx_id"], e["check_id"]) for e in expected}
    for e in expected:
        row = got[(e["rx_id"], e["check_id"])]
        assert row[columns.index("审核")] == f"/-/review/{e['rx_id']}/{e['check_id']}"
        if e["amount_fen"] is not None:
            assert row[columns.index("金额（元）")] == yuan(e["amount_fen"])
        if e["limit_fen"] is not None:
            assert row[columns.index("限额（元）")] == yuan(e["limit_fen"])
        title = conn.execute("SELECT title FROM checks WHERE check_id = ?", (e["check_id"],)).fetchone()[0]
        assert row[columns.index("规则")] == title
        assert row[columns.index("状态")] == STATUS_LABEL[e["status"]]
    dates = [r[columns.index("开方日期")] for r in rows]
    assert dates == sorted(dates), "oldest first"
    # "全部" lists the pending flags of every month
    _, everything = run(conn, sql, {"month": "全部"})
    total = conn.execute("SELECT count(*) FROM flag_status WHERE verdict IS NULL AND NOT monitoring").fetchone()[0]
    assert len(everything) == total


def test_doctor_flags_lists_every_flag_of_the_doctor(conn, queries):
    sql = queries["doctor_flags"]["sql"]
    doctor = conn.execute(
        "SELECT doctor_code FROM flags GROUP BY doctor_code HAVING count(DISTINCT month) > 1 OR count(*) > 1 "
        "ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()[0]
    columns, rows = run(conn, sql, {"doctor_code": doctor, "month": ""})
    expected = conn.execute("SELECT count(*) FROM flags WHERE doctor_code = ?", (doctor,)).fetchone()[0]
    assert len(rows) == expected
    assert {r[columns.index("医师代码")] for r in rows} == {doctor}
    assert {r[columns.index("状态")] for r in rows} <= STATUS_LABELS
    # the month narrows it down
    month = rows[0][columns.index("月份")]
    _, in_month = run(conn, sql, {"doctor_code": doctor, "month": month})
    assert 0 < len(in_month) <= len(rows)
    assert all(r[0] == month for r in in_month)
    # a doctor's name works too
    name = conn.execute("SELECT doctor_name FROM doctors WHERE doctor_code = ?", (doctor,)).fetchone()[0]
    _, by_name = run(conn, sql, {"doctor_code": name, "month": ""})
    assert {r[columns.index("医师代码")] for r in by_name} >= {doctor}
    # verdict notes and reviewers are shown
    reviewed = conn.execute(
        "SELECT f.doctor_code, v.rx_id, v.reviewer, v.note FROM verdicts v JOIN flags f USING (rx_id, check_id) "
        "WHERE NOT EXISTS (SELECT 1 FROM appeal_reviews a WHERE a.rx_id = v.rx_id AND a.check_id = v.check_id) LIMIT 1"
    ).fetchone()
    columns, rows = run(conn, sql, {"doctor_code": reviewed["doctor_code"], "month": ""})
    row = next(r for r in rows if r[columns.index("处方号")] == reviewed["rx_id"])
    assert row[columns.index("审核人")] == reviewed["reviewer"]
    assert row[columns.index("审核意见")] == reviewed["note"]
    # after an appeal, the 复审 is the verdict shown (final), and it decides whether the prescription counts
    second = conn.execute("SELECT a.*, f.doctor_code FROM appeals a JOIN flags f USING (rx_id, check_id) "
                          "WHERE a.status = 'overturned'").fetchone()
    columns, rows = run(conn, sql, {"doctor_code": second["doctor_code"], "month": ""})
    row = next(r for r in rows if r[columns.index("处方号")] == second["rx_id"])
    assert (row[columns.index("状态")], row[columns.index("计为不合理处方")]) == ("合理", "否")
    assert (row[columns.index("审核人")], row[columns.index("审核意见")]) == (second["second_reviewer"],
                                                                         second["second_note"])
    # no doctor, no rows
    assert run(conn, sql, {"doctor_code": "", "month": ""})[1] == []


def test_same_effect_pairs_shows_both_prescriptions(conn, queries):
    sql = queries["same_effect_pairs"]["sql"]
    for month in [r[0] for r in conn.execute("SELECT DISTINCT month FROM audit_runs")]:
        columns, rows = run(conn, sql, {"month": month})
        expected = conn.execute(
            "SELECT count(*) FROM flags WHERE month = ? AND check_id IN ('duplicate_drug', 'same_effect_drug')",
            (month,),
        ).fetchone()[0]
        assert len(rows) == expected
        for row in rows:
            rec = dict(zip(columns, row))
            related = conn.execute(
                "SELECT related_rx_id FROM flags WHERE rx_id = ? AND check_id IN ('duplicate_drug', 'same_effect_drug')",
                (rec["标记处方"],),
            ).fetchone()[0]
            assert rec["在先处方"] == related
            for rx, drugs_col, date_col, doctor_col in (
                (rec["标记处方"], "药品", "开方日期", "医师代码"),
                (rec["在先处方"], "在先处方药品", "在先开方日期", "在先医师代码"),
            ):
                p = conn.execute("SELECT rx_date, doctor_code FROM prescriptions WHERE rx_id = ?", (rx,)).fetchone()
                assert (rec[date_col], rec[doctor_col]) == (p["rx_date"], p["doctor_code"])
                drugs = [r[0] for r in conn.execute(
                    "SELECT drug_name FROM rx_items WHERE rx_id = ? ORDER BY line_no", (rx,))]
                assert rec[drugs_col] == "、".join(drugs)
            assert rec["规则"] in {"重复用药", "相同疗效药品"}


def test_over_cap_in_yuan_ordered_by_excess(conn, queries):
    sql = queries["over_cap"]["sql"]
    month = latest_month(conn)
    columns, rows = run(conn, sql, {"month": month})
    flags = {r["rx_id"]: r for r in conn.execute(
        "SELECT rx_id, amount_fen, limit_fen FROM flags WHERE month = ? AND check_id = 'amount_cap'", (month,))}
    assert {r[0] for r in rows} == set(flags)
    excess = []
    for row in rows:
        rec = dict(zip(columns, row))
        flag = flags[rec["处方号"]]
        assert rec["就诊药品金额（元）"] == yuan(flag["amount_fen"])
        assert rec["限额（元）"] == yuan(flag["limit_fen"])
        assert rec["超出（元）"] == yuan(flag["amount_fen"] - flag["limit_fen"])
        assert rec["状态"] in STATUS_LABELS
        items = conn.execute("SELECT sum(amount_fen) FROM rx_items WHERE rx_id = ?", (rec["处方号"],)).fetchone()[0]
        assert rec["本处方金额（元）"] == yuan(items)
        excess.append(flag["amount_fen"] - flag["limit_fen"])
    assert excess == sorted(excess, reverse=True)


def test_monthly_statistics_match_the_database(conn, queries):
    columns, rows = run(conn, queries["monthly_statistics"]["sql"], {"month": ""})
    months = [r[0] for r in conn.execute("SELECT DISTINCT month FROM audit_runs ORDER BY month DESC")]
    assert [r[0] for r in rows] == months
    for row in rows:
        rec = dict(zip(columns, row))
        m = rec["月份"]
        assert rec["审核处方数"] == conn.execute(
            "SELECT count(*) FROM prescriptions WHERE substr(rx_date, 1, 7) = ?", (m,)).fetchone()[0]
        assert rec["标记数"] == conn.execute("SELECT count(*) FROM flags WHERE month = ?", (m,)).fetchone()[0]
        assert rec["不合理处方数"] == conn.execute(
            "SELECT count(DISTINCT rx_id) FROM flag_status WHERE month = ? AND counts", (m,)).fetchone()[0]
        assert rec["待审核数"] == conn.execute(
            "SELECT count(*) FROM flag_status WHERE month = ? AND status = 'pending'", (m,)).fetchone()[0]
        assert rec["公示医师数"] == conn.execute(
            "SELECT count(*) FROM disclosures WHERE month = ?", (m,)).fetchone()[0]
    _, one = run(conn, queries["monthly_statistics"]["sql"], {"month": months[-1]})
    assert [r[0] for r in one] == [months[-1]]


def test_department_statistics_totals(conn, queries):
    month = latest_month(conn)
    columns, rows = run(conn, queries["department_statistics"]["sql"], {"month": month})
    records = [dict(zip(columns, r)) for r in rows]
    assert all(r["月份"] == month for r in records)
    totals = [r for r in records if r["规则"] == "（合计）"]
    assert sum(r["标记数"] for r in totals) == conn.execute(
        "SELECT count(*) FROM flags WHERE month = ?", (month,)).fetchone()[0]
    titles = {r[0] for r in conn.execute("SELECT title FROM checks")} | {"（合计）"}
    assert {r["规则"] for r in records} <= titles
    for total in totals:
        parts = [r for r in records if r["科室"] == total["科室"] and r["规则"] != "（合计）"]
        assert sum(r["标记数"] for r in parts) == total["标记数"]


def test_ladder_state_lists_the_latest_disclosure_and_active_revocations(conn, queries):
    sql = queries["ladder_state"]["sql"]
    month = conn.execute("SELECT max(month) FROM disclosures").fetchone()[0]
    columns, rows = run(conn, sql, {"month": ""})
    listed = {r[0] for r in conn.execute("SELECT doctor_code FROM disclosures WHERE month = ?", (month,))}
    assert {r[columns.index("医师代码")] for r in rows} == listed
    assert {r[columns.index("公示月份")] for r in rows} == {month}
    for row in rows:
        rec = dict(zip(columns, row))
        assert rec["公示级别"] in {"一级", "二级", "三级"}
        assert rec["处理"] in {"公示医师代码", "公示医师姓名", "取消医保定岗医师资格"}
        assert rec["医师姓名"], "the committee sees every name"
    levels = [r[columns.index("公示级别")] for r in rows]
    order = {"三级": 0, "二级": 1, "一级": 2}
    assert [order[x] for x in levels] == sorted(order[x] for x in levels)
    # active revocations are shown, including a revoked doctor not on this month's list;
    # reinstated or withdrawn revocations are not
    on_list = sorted(listed)[0]
    off_list = conn.execute(
        "SELECT doctor_code FROM doctors WHERE doctor_code NOT IN (SELECT doctor_code FROM disclosures WHERE month = ?) "
        "ORDER BY doctor_code LIMIT 2", (month,)).fetchall()
    conn.execute("BEGIN")
    try:
        conn.execute("INSERT INTO revocations (doctor_code, month, revoked_at) VALUES (?, '2026-01', '2026-02-03T10:00:00')",
                     (on_list,))
        conn.execute("INSERT INTO revocations (doctor_code, month, revoked_at) VALUES (?, '2026-02', '2026-03-03T10:00:00')",
                     (off_list[0][0],))
        conn.execute("INSERT INTO revocations (doctor_code, month, revoked_at, reinstated_at) "
                     "VALUES (?, '2026-02', '2026-03-03T10:00:00', '2026-04-01')", (off_list[1][0],))
        columns, rows = run(conn, sql, {"month": ""})
    finally:
        conn.execute("ROLLBACK")
    by_doctor = {r[columns.index("医师代码")]: dict(zip(columns, r)) for r in rows}
    assert "2026-01" in by_doctor[on_list]["有效的资格取消"]
    assert "2026-02" in by_doctor[off_list[0][0]]["有效的资格取消"]
    assert by_doctor[off_list[0][0]]["公示级别"] is None
    assert off_list[1][0] not in by_doctor


# ---------------------------------------------------------------- record_verdict


def test_record_verdict_is_a_committee_write_query(queries):
    query = queries["record_verdict"]
    assert query["write"] is True
    assert query["allow"] == COMMITTEE
    assert query["params"] == ["rx_id", "check_id", "verdict", "note"]
    assert ":_actor_id" in query["sql"]
    assert query["on_success_message"] == "已记录审核结论"
    redirect = query.get("on_success_redirect")
    assert redirect is None or not redirect.startswith("/"), "relative, so it follows the database name"


def test_record_verdict_inserts_with_the_actor_as_reviewer(demo_db, writable_db, queries):
    sql = queries["record_verdict"]["sql"]
    db = sqlite3.connect(demo_db)
    flag = db.execute(
        "SELECT rx_id, check_id FROM flag_status WHERE status = 'pending' ORDER BY rx_id LIMIT 1").fetchone()
    db.close()
    assert flag, "the demo leaves pending reviews"
    rx_id, check_id = flag
    record(writable_db, sql, rx_id=rx_id, check_id=check_id, verdict="不合理", note="分解处方", _actor_id="zhang")
    conn = sqlite3.connect(writable_db)
    row = conn.execute(
        "SELECT verdict, reviewer, reviewed_at, note, source FROM verdicts WHERE rx_id = ? AND check_id = ?",
        (rx_id, check_id)).fetchone()
    assert row[0] == "unreasonable"
    assert row[1] == "zhang"
    # recorded with its offset, in Beijing time, whatever the server's zone (issue 17)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00", row[2])
    assert row[3] == "分解处方"
    assert row[4] == "datasette"
    assert conn.execute("SELECT status, counts FROM flag_status WHERE rx_id = ? AND check_id = ?",
                        (rx_id, check_id)).fetchone() == ("unreasonable", 1)
    conn.close()

    # recording again updates the verdict; the history keeps both
    record(writable_db, sql, rx_id=f" {rx_id} ", check_id=check_id, verdict="合理", note="", _actor_id="li")
    conn = sqlite3.connect(writable_db)
    assert conn.execute("SELECT verdict, reviewer, note FROM verdicts WHERE rx_id = ? AND check_id = ?",
                        (rx_id, check_id)).fetchone() == ("reasonable", "li", None)
    history = conn.execute(
        "SELECT verdict, previous_verdict, reviewer FROM verdict_history WHERE rx_id = ? AND check_id = ? ORDER BY id",
        (rx_id, check_id)).fetchall()
    assert history[-2:] == [("unreasonable", None, "zhang"), ("reasonable", "unreasonable", "li")]
    conn.close()

    # English values are accepted too
    for value, stored in (("unreasonable", "unreasonable"), ("Reasonable", "reasonable")):
        record(writable_db, sql, rx_id=rx_id, check_id=check_id, verdict=value, note="x", _actor_id="wang")
        conn = sqlite3.connect(writable_db)
        assert conn.execute("SELECT verdict FROM verdicts WHERE rx_id = ? AND check_id = ?",
                            (rx_id, check_id)).fetchone()[0] == stored
        conn.close()


def test_record_verdict_refuses_unknown_flags_and_bad_verdicts(demo_db, writable_db, queries):
    sql = queries["record_verdict"]["sql"]
    db = sqlite3.connect(demo_db)
    rx_id, check_id = db.execute("SELECT rx_id, check_id FROM flags ORDER BY rx_id LIMIT 1").fetchone()
    other_rx = db.execute("SELECT rx_id FROM prescriptions WHERE rx_id NOT IN (SELECT rx_id FROM flags) LIMIT 1"
                          ).fetchone()[0]
    db.close()
    count_before = sqlite3.connect(writable_db).execute("SELECT count(*) FROM verdicts").fetchone()[0]

    with pytest.raises(sqlite3.Error, match="没有这条标记"):
        record(writable_db, sql, rx_id="R0000000000000", check_id="amount_cap", verdict="不合理", note="",
               _actor_id="zhang")
    with pytest.raises(sqlite3.Error, match="没有这条标记"):
        record(writable_db, sql, rx_id=other_rx, check_id="amount_cap", verdict="合理", note="", _actor_id="zhang")
    for bad in ("不确定", "", "yes"):
        with pytest.raises(sqlite3.Error, match="结论应为"):
            record(writable_db, sql, rx_id=rx_id, check_id=check_id, verdict=bad, note="", _actor_id="zhang")

    assert sqlite3.connect(writable_db).execute("SELECT count(*) FROM verdicts").fetchone()[0] == count_before


# ---------------------------------------------------------------- privacy of public queries


def patient_identities(conn) -> tuple[set[str], set[str]]:
    ids = {r[0] for r in conn.execute("SELECT DISTINCT patient_id FROM prescriptions") if r[0]}
    names = {r[0] for r in conn.execute("SELECT DISTINCT patient_name FROM prescriptions") if r[0]}
    return ids, names


@pytest.mark.parametrize("name", sorted(PUBLIC_QUERIES))
def test_public_queries_show_no_patient(conn, queries, name):
    sql = queries[name]["sql"]
    assert "patient_" not in sql, "a public query must not even read patient columns"
    assert "detail" not in sql, "flag details are row-level text"
    ids, names = patient_identities(conn)
    months = [r[0] for r in conn.execute("SELECT DISTINCT month FROM audit_runs")] + [""]
    for month in months:
        columns, rows = run(conn, sql, bind(sql, {"month": month}))
        for row in rows:
            for column, value in zip(columns, row):
                text = str(value) if value is not None else ""
                assert text not in names, f"{name}.{column} shows a patient name"
                assert not any(pid in text for pid in ids), f"{name}.{column} shows a patient id"
                assert not re.fullmatch(r"R\d{10,}", text), f"{name}.{column} shows a prescription id"


@pytest.mark.parametrize("table", ["disclosures", "checks"])
def test_public_tables_have_no_patient_data(conn, table):
    columns = [r[1] for r in conn.execute(f"PRAGMA table_info([{table}])")]
    assert not [c for c in columns if c.startswith("patient") or c == "rx_id"]
    ids, names = patient_identities(conn)
    for row in conn.execute(f"SELECT * FROM [{table}]"):
        for column, value in zip(columns, row):
            text = str(value) if value is not None else ""
            assert not any(pid in text for pid in ids), f"{table}.{column} shows a patient id"
            # doctor names legitimately appear on the disclosure list and may equal a patient's name
            if column != "doctor_name":
                assert text not in names, f"{table}.{column} shows a patient name"


# ---------------------------------------------------------------- labels for every table and view


def test_every_table_and_view_is_described(conn, database):
    tables = database["tables"]
    objects = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    missing = [name for name in objects if name not in tables]
    assert not missing, f"tables without metadata: {missing}"
    stale = [name for name in tables if name not in objects]
    assert not stale, f"metadata for tables that do not exist: {stale}"
    for name in objects:
        meta = tables[name]
        assert CJK.search(meta.get("title") or ""), f"{name}: no Chinese title"
        assert CJK.search(meta.get("description") or ""), f"{name}: no Chinese description"
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info([{name}])")]
        described = meta.get("columns") or {}
        undescribed = [c for c in columns if not CJK.search(str(described.get(c) or ""))]
        assert not undescribed, f"{name}: columns without a Chinese description: {undescribed}"
        assert not set(described) - set(columns), f"{name}: descriptions of unknown columns"
        for key in ("sort", "sort_desc", "label_column"):
            if key in meta:
                assert meta[key] in columns, f"{name}: {key} {meta[key]!r} is not a column"
        for facet in meta.get("facets") or []:
            assert facet in columns, f"{name}: facet {facet!r} is not a column"


def test_hidden_and_labelled_tables(database):
    tables = database["tables"]
    assert {name for name, meta in tables.items() if meta.get("hidden")} == HIDDEN
    assert tables["doctors"]["label_column"] == "doctor_name"
    assert set(tables["flags"]["facets"]) >= {"month", "check_id", "department", "doctor_code"}
    assert set(tables["flag_status"]["facets"]) >= {"month", "check_id", "status", "department"}
    assert set(tables["disclosures"]["facets"]) >= {"month", "level", "action"}
    assert set(tables["verdicts"]["facets"]) >= {"verdict", "reviewer"}


def test_top_level_is_chinese(metadata):
    assert metadata["title"] == "门规处方审核"
    assert CJK.search(metadata["description_html"])
    assert set(metadata["databases"]) == {DB_KEY}


def test_canned_queries_do_not_shadow_tables(conn, queries):
    objects = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    assert not set(queries) & objects


# ---------------------------------------------------------------- money is shown in 元


@pytest.mark.parametrize("name", READ_QUERIES)
def test_money_is_shown_in_yuan(conn, queries, name):
    sql = queries[name]["sql"]
    columns, rows = run(conn, sql, bind(sql, real_values(conn), empty_optional=name != "doctor_flags"))
    for index, column in enumerate(columns):
        assert not column.endswith("_fen") and "分" not in column, f"{name}: {column} shows 分"
        if any(word in column for word in MONEY_WORDS):
            assert "元" in column, f"{name}: money column {column} does not say 元"
        if "元" in column:
            for row in rows:
                assert row[index] is None or YUAN.match(row[index]), f"{name}.{column} = {row[index]!r}"
    # every *_fen column the SQL selects goes through mg_yuan (integer 分 → 元), never through floats
    assert not re.search(r"/\s*100\.0", sql), f"{name}: money divided as a float"
    for match in re.finditer(r"mg_yuan\((.*?)\)\s*(?:END\s+)?AS\s+\"?([^\s,\"]+)", sql):
        assert "元" in match.group(2), match.group(0)
    fen_aliases = re.findall(r"\b\w+_fen\s+AS\s+\"?([^\s,\"]+)", sql)
    assert not fen_aliases, f"{name}: raw 分 columns {fen_aliases}"


# ---------------------------------------------------------------- one vocabulary


@pytest.mark.parametrize("name", READ_QUERIES)
def test_read_queries_take_their_words_from_the_vocabulary(queries, name):
    """No read query spells a label of mengui_core.labels itself: mg_label says it, as the report does."""
    from mengui_core import labels

    sql = queries[name]["sql"]
    for vocabulary in (labels.STATUS_LABELS, labels.APPEAL_LABELS, labels.ACTION_LABELS, labels.LEVEL_LABELS,
                       labels.VERDICT_LABELS):
        for word in vocabulary.values():
            assert f"'{word}'" not in sql, f"{name} spells {word!r}: use mg_label"
        assert not re.search(r"WHEN\s+'(%s)'" % "|".join(map(str, vocabulary)), sql), name


# ---------------------------------------------------------------- permissions


def test_database_is_private_by_default(metadata, database):
    assert database["allow"] == COMMITTEE
    assert database["allow_sql"] == {"role": ["admin"]}, "arbitrary SQL is an admin's tool (issue 17)"
    assert metadata.get("allow") in (None, COMMITTEE) and "allow_sql" not in metadata


def test_only_disclosures_checks_and_statistics_are_public(metadata):
    allows = all_allows(metadata)
    public = {name for kind, name, allow in allows if allow is True}
    assert public == PUBLIC
    # the login records are narrower still: admins only
    assert {name for kind, name, allow in allows if allow == ADMIN_ONLY} == {"login_events"}
    for kind, name, allow in allows:
        assert allow is True or allow in (COMMITTEE, ADMIN_ONLY), f"{kind} {name}: unexpected allow block {allow!r}"
        if allow is True:
            assert kind in ("table", "query")
    for name, table in metadata["databases"][DB_KEY]["tables"].items():
        assert "allow_sql" not in table, name


def test_public_things_are_exactly_the_aggregates(queries):
    for name, query in queries.items():
        if query.get("allow") is True:
            assert name in PUBLIC_QUERIES
            assert not query.get("write")


# ---------------------------------------------------------------- in a real (in-process) Datasette


def _datasette(db_path: Path, metadata: dict):
    from datasette.app import Datasette

    from mengui_datasette.server import ensure_plugins

    ensure_plugins()  # the canned queries call mengui's SQL functions (mg_label, mg_yuan), as with `datasette`
    ds = Datasette([str(db_path)], metadata=metadata)
    asyncio.run(ds.invoke_startup())
    return ds


def _get(ds, path, actor=None):
    cookies = {"ds_actor": ds.sign({"a": actor}, "actor")} if actor else {}
    return asyncio.run(ds.client.get(path, cookies=cookies))


def test_datasette_permissions(demo_db, metadata):
    assert Path(demo_db).stem == DB_KEY
    ds = _datasette(demo_db, metadata)
    anonymous = {
        "/mengui/disclosures.json": 200,
        "/mengui/checks.json": 200,
        "/mengui/monthly_statistics.json": 200,
        "/mengui/department_statistics.json": 200,
        "/mengui/flags.json": 403,
        "/mengui/flag_status.json": 403,
        "/mengui/prescriptions.json": 403,
        "/mengui/prescriptions.csv": 403,
        "/mengui/certifications.json": 403,
        "/mengui/doctors.json": 403,
        "/mengui/verdicts.json": 403,
        "/mengui/pending_reviews.json": 403,
        "/mengui/doctor_flags.json?doctor_code=YS0104": 403,
        "/mengui/ladder_state.json": 403,
        "/mengui/record_verdict": 403,
        "/mengui.json?sql=select+1": 403,
        "/mengui/disclosures.json?_where=1%3D1": 403,
        "/mengui.db": 403,
        "/mengui": 403,
    }
    for path, status in anonymous.items():
        assert _get(ds, path).status_code == status, path
    committee = {"id": "zhang", "role": "committee"}
    for path in ("/mengui/flags.json", "/mengui/pending_reviews.json", "/mengui/ladder_state.json",
                 "/mengui/record_verdict"):
        assert _get(ds, path, committee).status_code == 200, path
    # arbitrary SQL: an admin's, not a committee member's (issue 17)
    assert _get(ds, "/mengui.json?sql=select+1", committee).status_code == 403
    assert _get(ds, "/mengui.json?sql=select+1", {"id": "root", "role": "admin"}).status_code == 200
    # someone logged in without a committee role sees only the public part
    assert _get(ds, "/mengui/flags.json", {"id": "visitor"}).status_code == 403
    data = _get(ds, "/mengui/monthly_statistics.json?_shape=objects").json()
    assert data["rows"] and "审核处方数" in data["rows"][0]


def test_datasette_records_a_verdict_as_the_logged_in_actor(writable_db, metadata):
    conn = sqlite3.connect(writable_db)
    rx_id, check_id = conn.execute(
        "SELECT rx_id, check_id FROM flag_status WHERE status = 'pending' ORDER BY rx_id LIMIT 1").fetchone()
    conn.close()
    ds = _datasette(writable_db, metadata)
    actor = {"id": "zhang", "role": "committee"}
    cookies = {"ds_actor": ds.sign({"a": actor}, "actor")}

    async def post(form, cookies):
        page = await ds.client.get("/mengui/record_verdict", cookies=cookies)
        token = page.cookies.get("ds_csrftoken")
        if token:
            cookies = dict(cookies, ds_csrftoken=token)
            form = dict(form, csrftoken=token)
        return await ds.client.post("/mengui/record_verdict", data=form, cookies=cookies)

    form = {"rx_id": rx_id, "check_id": check_id, "verdict": "不合理", "note": "网页记录", "_json": "1"}
    # anonymous visitors cannot write
    assert asyncio.run(post(form, {})).status_code == 403
    response = asyncio.run(post(form, cookies))
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert response.json()["message"] == "已记录审核结论"
    conn = sqlite3.connect(writable_db)
    assert conn.execute("SELECT verdict, reviewer, note, source FROM verdicts WHERE rx_id = ? AND check_id = ?",
                        (rx_id, check_id)).fetchone() == ("unreasonable", "zhang", "网页记录", "datasette")
    conn.close()
    # a flag that does not exist: the trigger's Chinese message reaches the user
    bad = dict(form, rx_id="R0000000000000")
    response = asyncio.run(post(bad, cookies))
    assert response.json()["ok"] is False
    assert "没有这条标记" in response.json()["message"]
