"""事前提示 (DESIGN §9): the documented examples through `mengui precheck` and a real `mengui serve`,
tokens, 400s naming the field, the query plans of the patient's slice, nothing written but overrides."""

import json
import re
import sqlite3

import httpx
import pytest
from click.testing import CliRunner

from builders import loose_plugins, served
from mengui_cli.app import cli
from mengui_core.audit.runner import audit_month
from mengui_core.db.schema import connect
from mengui_core.ingest.loader import load_files
from mengui_core.errors import MenguiError
from mengui_core.precheck.draft import parse_draft
from mengui_core.precheck.evaluate import ANY_CERTIFICATION, LAST_RULESET, SLICE_QUERIES, Prechecker
from precheck_scenario import EXAMPLES, scenario

DRAFT = json.loads((EXAMPLES / "draft.json").read_text(encoding="utf-8"))
ORDER_SIGN = json.loads((EXAMPLES / "order-sign.json").read_text(encoding="utf-8"))
FEEDBACK = json.loads((EXAMPLES / "feedback.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def hospital(tmp_path_factory):
    directory = tmp_path_factory.mktemp("precheck")
    db_path = directory / "mengui.db"
    conn = connect(db_path)
    load_files(conn, [scenario(directory / "exports").write()])
    audit_month(conn, "2026-10")
    conn.close()
    return db_path


def precheck_cli(db_path, path):
    result = CliRunner().invoke(cli, ["precheck", str(db_path), str(path)])
    return result


def by_check(answer):
    return {f["check_id"]: f for f in answer["flags"]}


def test_the_documented_draft_gets_the_cap_left_and_the_earliest_refill_date(hospital):
    result = precheck_cli(hospital, EXAMPLES / "draft.json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    flags = by_check(answer)
    assert set(flags) == {"amount_cap", "duplicate_drug"}
    cap = flags["amount_cap"]
    assert cap["level"] == "提示" and cap["limit_yuan"] == "300.00" and cap["amount_yuan"] == "320.00"
    assert "此前已开 120.00 元" in cap["advice"] and "本处方 200.00 元" in cap["advice"]
    assert "尚可开 180.00 元" in cap["advice"]
    duplicate = flags["duplicate_drug"]
    assert duplicate["level"] == "提示" and duplicate["measure"] == 3
    assert "R2026100200017" in duplicate["advice"] and "尚余 10 天" in duplicate["advice"]
    assert "最早 2026-10-23 可再开" in duplicate["advice"]
    assert duplicate["related_rx_id"] == "R2026100200017"
    assert duplicate["evidence"][0]["earliest_date"] == "2026-10-23"
    assert answer["rx_id"] == "R2026102000031" and answer["ruleset"]["name"] == "jinan"
    assert [s["check_id"] for s in answer["skipped"]] == ["doctor_outlier"]  # declares whole_month


def test_a_clean_draft_gets_an_empty_list_and_exit_0(hospital, tmp_path):
    draft = dict(DRAFT, patient_id="P0003", rx_date="2026-10-30", rx_id=None,
                 items=[{"drug_name": "硝苯地平控释片", "amount": 60, "days_supply": 28, "drug_code": "XC08CAN041A010010101445"}])
    path = tmp_path / "clean.json"
    path.write_text(json.dumps(draft, ensure_ascii=False), encoding="utf-8")
    result = precheck_cli(hospital, path)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["flags"] == []


def test_an_expired_certification_and_a_revoked_roster_doctor_say_so(hospital, tmp_path):
    draft = dict(DRAFT, patient_id="P0002", doctor_code="D03", rx_id=None, disease_codes="M03900")
    path = tmp_path / "expired.json"
    path.write_text(json.dumps(draft, ensure_ascii=False), encoding="utf-8")
    answer = json.loads(precheck_cli(hospital, path).stdout)
    flags = by_check(answer)
    assert "已于 2026-09-30 到期" in flags["uncertified"]["advice"]
    assert flags["uncertified"]["level"] == "违规"
    assert "D03" in flags["revoked_doctor"]["advice"] and "定岗资格" in flags["revoked_doctor"]["advice"]


@pytest.mark.parametrize("content, expected", [
    ('{"patient_id": "P0001",\n "rx_date": }', "第 2 行第 13 列：不是有效的 JSON"),
    ('[]', "字段 (根)"),
    (json.dumps(dict(DRAFT, items=[{"drug_name": "阿托伐他汀钙片", "amount": "九十六"}]), ensure_ascii=False),
     "字段 items[0].amount（金额）"),
    (json.dumps(dict(DRAFT, rx_date="2026-13-01")), "字段 rx_date（开方日期）"),
    (json.dumps({k: v for k, v in DRAFT.items() if k != "patient_id"}), "字段 patient_id（参保人编号）不能为空"),
])
def test_a_bad_file_gets_a_located_chinese_error(hospital, tmp_path, content, expected):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    result = precheck_cli(hospital, path)
    assert result.exit_code != 0
    assert expected in result.stderr and "Traceback" not in result.output
    assert str(path) in result.stderr


def test_evaluation_reads_only_the_patients_rows_by_index(hospital):
    """Every query the slice sends to the hospital's database searches an index: a full scan of
    prescriptions or rx_items (the city's millions of rows) fails this test."""
    conn = sqlite3.connect(hospital)
    columns = {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t, _ in SLICE_QUERIES}
    params = {"patient": "P0001", "doctor": "D02", "first": "2025-10-01", "last": "2026-10-20", "rx_id": "x",
              "month": "2026-10"}
    plans = {}
    for table, sql in SLICE_QUERIES:
        text = sql.format(columns=", ".join(("i." if table == "rx_items" else "") + c for c in columns[table]))
        plans[table] = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + text, params)]
    for sql in (ANY_CERTIFICATION, LAST_RULESET):
        plans[sql] = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    scans = [f"{table}: {step}" for table, steps in plans.items() for step in steps
             if re.match(r"SCAN (prescriptions|rx_items|p|i)\b", step)]
    assert scans == [], plans
    assert any("prescriptions_patient" in step for step in plans["prescriptions"])
    assert any("SEARCH i USING" in step for step in plans["rx_items"])


def test_the_draft_sees_only_what_its_slice_holds_and_the_database_is_not_written(hospital):
    """The queries the evaluator sends are exactly the listed ones, and nothing changes in the database."""
    conn = sqlite3.connect(hospital)
    before = conn.execute("SELECT count(*), max(run_id) FROM flags").fetchone(), conn.execute(
        "SELECT count(*) FROM audit_runs").fetchone()
    prechecker = Prechecker(hospital)
    sent = []
    prechecker.source().set_trace_callback(sent.append)
    evaluation = prechecker.evaluate(parse_draft(DRAFT))
    assert {f.check_id for f in evaluation.flags} == {"amount_cap", "duplicate_drug"}
    def normal(sql):  # parameters and literals alike
        return re.sub(r"\s+", " ", re.sub(r"'[^']*'|:\w+|\?", "?", sql)).strip()

    columns = {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t, _ in SLICE_QUERIES}
    known = {normal(sql.format(columns=", ".join(("i." if t == "rx_items" else "") + c for c in columns[t])))
             for t, sql in SLICE_QUERIES} | {normal(ANY_CERTIFICATION), normal(LAST_RULESET)}
    unknown = [s for s in sent if s not in ("BEGIN", "COMMIT") and not s.startswith("PRAGMA")
               and normal(s) not in known and "FROM settings WHERE key = 'max_days_supply'" not in s]
    assert unknown == []
    prechecker.close()
    after = conn.execute("SELECT count(*), max(run_id) FROM flags").fetchone(), conn.execute(
        "SELECT count(*) FROM audit_runs").fetchone()
    assert after == before


#: the third-party plugins below end alike: their check, 大额处方, registered
REGISTER_BIG_RX = '''
@hookimpl
def register_checks(register):
    register(Check(id="big_rx", title="大额处方", description="单张处方超过 150 元", run=run))
'''


def big_rx_ruleset(tmp_path):
    """Jinan's ruleset with the third-party check 大额处方 at 预警."""
    ruleset = tmp_path / "mine.toml"
    ruleset.write_text('name = "mine"\nversion = "1"\nextends = "jinan"\n[checks.big_rx]\nneeds_review = true\n'
                       'level = "预警"\n', encoding="utf-8")
    return ruleset


def answers(evaluation):
    return sorted((f.check_id, f.level, f.detail, f.measure) for f in evaluation.flags)


def test_a_served_evaluator_keeps_its_working_tables_and_answers_as_a_fresh_one(hospital):
    """From the second draft on, the slice's TEMP schema does not change (so SQLite keeps the
    runner's statements prepared: the milliseconds of docs/precheck.md), and every answer is the
    answer a fresh evaluator gives the same draft."""
    drafts = [parse_draft(DRAFT), parse_draft({**DRAFT, "patient_id": "P0003", "rx_id": None}),
              parse_draft({**DRAFT, "items": DRAFT["items"][1:]}), parse_draft(DRAFT)]
    served_one = Prechecker(hospital)
    versions, got = [], []
    for draft in drafts:
        got.append(answers(served_one.evaluate(draft)))
        versions.append(served_one._slice().execute("PRAGMA temp.schema_version").fetchone()[0])
    assert len(set(versions[1:])) == 1, versions
    assert got == [answers(Prechecker(hospital).evaluate(d)) for d in drafts]
    assert got[0] == got[3] and got[0] != got[1]


THIRD_PARTY = '''
from mengui_core import Check, hookimpl

def run(ctx):
    ctx.add_flags("SELECT rx_id, '一次开药超过 150 元' AS detail FROM temp.audit_rx WHERE amount_fen > 15000")
''' + REGISTER_BIG_RX


OWN_TABLE = '''
import itertools
from mengui_core import Check, hookimpl

calls = itertools.count()

def run(ctx):
    # its own TEMP table, created with other SQL every time (a literal that changes)
    ctx.conn.execute("DROP TABLE IF EXISTS temp.big_ones")
    ctx.conn.execute(f"CREATE TEMP TABLE big_ones AS SELECT rx_id, {next(calls)} AS n FROM temp.audit_rx "
                     "WHERE amount_fen > 15000")
    ctx.conn.execute("CREATE INDEX temp.big_ones_rx ON big_ones (rx_id)")
    ctx.add_flags("SELECT rx_id, '一次开药超过 150 元' AS detail FROM temp.big_ones")
''' + REGISTER_BIG_RX


def test_a_third_party_check_with_its_own_tables_answers_every_draft(hospital, tmp_path):
    ruleset = big_rx_ruleset(tmp_path)
    with loose_plugins(tmp_path / "plugins", big_rx=OWN_TABLE):
        prechecker = Prechecker(hospital, str(ruleset))
        small = parse_draft({**DRAFT, "items": DRAFT["items"][:1]})  # 96 元: not a big one
        for _ in range(3):
            flags = {f.check_id: f for f in prechecker.evaluate(parse_draft(DRAFT)).flags}
            assert flags["big_rx"].detail == "一次开药超过 150 元" and flags["big_rx"].level == "预警"
            assert "big_rx" not in {f.check_id for f in prechecker.evaluate(small).flags}


FAILS_ONCE = '''
import itertools
from mengui_core import Check, hookimpl

calls = itertools.count()

def run(ctx):
    if next(calls) == 0:  # the first draft: fails after the runner has created its working tables
        raise RuntimeError("插件内部错误")
    ctx.add_flags("SELECT rx_id, '一次开药超过 150 元' AS detail FROM temp.audit_rx WHERE amount_fen > 15000")
''' + REGISTER_BIG_RX


def test_a_draft_that_fails_leaves_the_next_draft_a_sound_slice(hospital, tmp_path):
    ruleset = big_rx_ruleset(tmp_path)
    with loose_plugins(tmp_path / "plugins", big_rx=FAILS_ONCE):
        prechecker = Prechecker(hospital, str(ruleset))
        with pytest.raises(MenguiError, match="插件内部错误"):
            prechecker.evaluate(parse_draft(DRAFT))  # its CREATEs are rolled back with it
        after = answers(prechecker.evaluate(parse_draft(DRAFT)))
        assert "big_rx" in {check for check, *_ in after}
        assert answers(prechecker.evaluate(parse_draft(DRAFT))) == after


def test_a_third_party_check_works_in_the_precheck_with_no_extra_code(hospital, tmp_path):
    ruleset = big_rx_ruleset(tmp_path)
    with loose_plugins(tmp_path / "plugins", big_rx=THIRD_PARTY):
        evaluation = Prechecker(hospital, str(ruleset)).evaluate(parse_draft(DRAFT))
    flags = {f.check_id: f for f in evaluation.flags}
    assert flags["big_rx"].level == "预警" and flags["big_rx"].detail == "一次开药超过 150 元"


@pytest.fixture(scope="module")
def site(hospital):
    from mengui_datasette.tokens import add_token

    token = add_token(hospital, "his-east")
    with served(hospital) as base:
        yield base, token


def post(base, path, body, token=None, raw=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    content = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode("utf-8")
    return httpx.post(base + path, content=content, headers={**headers, "Content-Type": "application/json"},
                      timeout=30)


def test_discovery_lists_the_order_sign_service(site):
    base, _ = site
    services = httpx.get(base + "/cds-services").json()["services"]
    assert [(s["id"], s["hook"]) for s in services] == [("mengui-order-sign", "order-sign")]


@pytest.mark.parametrize("path, body", [("/-/precheck", DRAFT), ("/cds-services/mengui-order-sign", ORDER_SIGN),
                                        ("/-/precheck/feedback", {}), ("/cds-services/mengui-order-sign/feedback", FEEDBACK)])
def test_no_valid_token_is_401(site, path, body):
    base, token = site
    for headers in ({}, {"Authorization": "Bearer mgh_not-a-token"}, {"Authorization": f"Basic {token}"}):
        response = httpx.post(base + path, json=body, headers=headers, timeout=30)
        assert response.status_code == 401, (headers, response.text)
        assert "令牌" in response.json()["error"]


def test_both_shapes_answer_the_documented_examples_alike(site, hospital):
    base, token = site
    plain = post(base, "/-/precheck", DRAFT, token)
    assert plain.status_code == 200
    assert plain.json()["flags"] == json.loads(precheck_cli(hospital, EXAMPLES / "draft.json").stdout)["flags"]
    response = post(base, "/cds-services/mengui-order-sign", ORDER_SIGN, token)
    assert response.status_code == 200
    cards = response.json()["cards"]
    assert [c["source"]["topic"]["code"] for c in cards] == [f["check_id"] for f in plain.json()["flags"]]
    for card, flag in zip(cards, plain.json()["flags"]):
        assert len(card["summary"]) < 140 and flag["advice"] in card["detail"]
        assert card["indicator"] == {"提示": "info", "预警": "warning", "违规": "critical"}[flag["level"]]
        assert card["overrideReasons"] and all({"code", "display", "system"} <= set(r) for r in card["overrideReasons"])
        assert re.fullmatch(r"[0-9a-f-]{36}", card["uuid"])
    assert "尚可开 180.00 元" in cards[0]["summary"]


@pytest.mark.parametrize("body, field", [
    (dict(DRAFT, items=[]), "items"),
    (dict(DRAFT, items=[{"drug_name": "阿托伐他汀钙片", "amount": -3}]), "items[0].amount"),
    (dict(DRAFT, items=[dict(DRAFT["items"][0], days_supply="一个月")]), "items[0].days_supply"),
    (dict(DRAFT, disease_codes=5), "disease_codes"),
])
def test_bad_input_is_400_naming_the_field_in_chinese(site, body, field):
    base, token = site
    response = post(base, "/-/precheck", body, token)
    assert response.status_code == 400
    answer = response.json()
    assert answer["field"] == field and field in answer["error"] and re.search(r"[\u4e00-\u9fff]", answer["error"])


def test_bad_order_sign_and_bad_json_are_400(site):
    base, token = site
    no_amount = json.loads(json.dumps(ORDER_SIGN))
    no_amount["context"]["draftOrders"]["entry"][1]["resource"]["extension"] = []
    answer = post(base, "/cds-services/mengui-order-sign", no_amount, token)
    assert answer.status_code == 400
    assert "entry[1].resource.extension(amount)" in answer.json()["error"] and "金额" in answer.json()["error"]
    broken = post(base, "/-/precheck", None, token, raw=b'{"patient_id": "P0001", ')
    assert broken.status_code == 400 and "不是有效的 JSON" in broken.json()["error"]


def test_feedback_stores_the_override_and_a_removed_token_is_refused(site, hospital):
    from mengui_datasette.tokens import add_token, remove_token

    base, token = site
    cards = post(base, "/cds-services/mengui-order-sign", ORDER_SIGN, token).json()["cards"]
    feedback = json.loads(json.dumps(FEEDBACK))
    feedback["feedback"][0]["card"] = cards[1]["uuid"]  # the duplicate
    stored = post(base, "/cds-services/mengui-order-sign/feedback", feedback, token)
    assert stored.status_code == 200 and stored.json()["stored"] == 1
    unknown = dict(feedback, feedback=[dict(feedback["feedback"][0], card="00000000-0000-0000-0000-000000000000")])
    assert post(base, "/cds-services/mengui-order-sign/feedback", unknown, token).status_code == 404
    row = sqlite3.connect(hospital).execute(
        "SELECT rx_id, check_id, reason, reason_code, client, patient_id FROM precheck_overrides ORDER BY id DESC").fetchone()
    assert row == ("R2026102000031", "duplicate_drug", "外出或节假日，需提前备药：患者下周出差两周", "travel", "his-east", "P0001")
    other = add_token(hospital, "his-west")
    assert post(base, "/-/precheck", DRAFT, other).status_code == 200
    remove_token(hospital, "his-west")
    assert post(base, "/-/precheck", DRAFT, other).status_code == 401


def test_tokens_are_stored_hashed_owner_only_and_listed_without_the_secret(hospital, tmp_path):
    import os
    import stat

    from mengui_core.db.schema import users_path

    result = CliRunner().invoke(cli, ["tokens", "add", str(hospital), "his-north"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("mgh_") and len(token) > 40
    users = users_path(hospital)
    assert stat.S_IMODE(os.stat(users).st_mode) == 0o600
    assert token.encode() not in users.read_bytes()
    listed = CliRunner().invoke(cli, ["tokens", "list", str(hospital)])
    assert "his-north" in listed.stdout and token not in listed.stdout
    assert CliRunner().invoke(cli, ["tokens", "add", str(hospital), "his-north"]).exit_code != 0
    removed = CliRunner().invoke(cli, ["tokens", "remove", str(hospital), "his-north"])
    assert removed.exit_code == 0 and "his-north" not in CliRunner().invoke(cli, ["tokens", "list", str(hospital)]).stdout
    # the served database never holds a token
    assert "his_tokens" not in {r[0] for r in sqlite3.connect(hospital).execute("SELECT name FROM sqlite_master")}
