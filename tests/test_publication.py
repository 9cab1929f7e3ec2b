"""Issue 16: publication is an act. `disclose` makes a private draft, `publish` makes exactly that draft
public (a new revision, who and when); revocations take effect on the first day of the month after the
list's month (or the publisher's date), never on the day a command runs; a list file's format is its
extension's; `mengui report` rewrites the report from the database as it is."""

import asyncio
import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from builders import Exports, database_before, publish, session_for
from mengui_cli.app import cli
from mengui_core.audit.runner import audit_month
from mengui_core.db.schema import connect
from mengui_core.errors import MenguiError
from mengui_core.ingest.loader import load_files
from mengui_core.publish.disclosure import disclose_month, publish_month
from mengui_core.review.verdicts import record_verdict

MONTHS = ["2026-01", "2026-02", "2026-03", "2026-04"]
CLOCK = Path(__file__).parent / "clock"  # sitecustomize.py: another day for a whole process


def backlog(root: Path) -> Path:
    """Four months of exports: D01 writes a duplicate (违规, counts without a verdict) in January, February
    and March — March's list revokes him — and goes on prescribing on 31 March and in April; D02 writes an
    over-cap prescription in March (the committee's verdict decides)."""
    e = Exports(root)
    e.doctor("D01", "王建国").doctor("D02", "李红", "内分泌科").doctor("D09", "赵强")
    e.cert("T1", "M03900").cert("T1", "M04600").cert("T2", "M03900")
    for k, month in enumerate(MONTHS):
        e.rx(f"X{k}", f"{month}-05", "T1", doctor="D01",
             items=[("苯磺酸氨氯地平片", "10.00", 28), ("苯磺酸氨氯地平片", "10.00", 28)] if k < 3 else
             [("阿托伐他汀钙片", "30.00", 7)])
        e.rx(f"N{k}", f"{month}-20", "T2", doctor="D09", items=[("苯磺酸氨氯地平片", "20.00", 7)])
    e.rx("MARCH", "2026-03-31", "T1", doctor="D01", items=[("阿托伐他汀钙片", "30.00", 7)])
    e.rx("APRIL", "2026-04-28", "T1", doctor="D01", items=[("阿托伐他汀钙片", "30.00", 7)])
    e.rx("CAP", "2026-03-12", "T2", doctor="D02", items=[("缬沙坦胶囊", "180.00", 30)])
    return e.write()


# ---------------------------------------------------------------- the same flags and lists on any day


def run_flow(folder: Path, exports: Path, shift_days: int) -> Path:
    """The whole monthly flow through the `mengui` command, each command a process of its own whose clock
    is ``shift_days`` days from today's: load the backlog, then month by month audit, disclose, publish."""
    db = folder / "mengui.db"
    env = dict(os.environ, MENGUI_TEST_CLOCK_SHIFT_DAYS=str(shift_days),
               PYTHONPATH=os.pathsep.join([str(CLOCK), os.environ.get("PYTHONPATH", "")]))
    verdicts = folder / "verdicts.csv"
    verdicts.write_text("处方号,规则,结论,审核人,备注\nCAP,amount_cap,不合理,张委员,超量\n", encoding="utf-8")

    def mengui(*args):
        done = subprocess.run([sys.executable, "-m", "mengui_cli", *map(str, args)], env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, (args, done.stderr)
        return done

    mengui("load", db, exports)
    for n, month in enumerate(MONTHS):
        mengui("audit", db, "--month", month)
        if month == "2026-03":
            mengui("verdicts", db, verdicts)
        mengui("disclose", db, "--month", month, "-o", folder / f"draft-{month}.csv",
               *(["--ladder-start", month] if n == 0 else []))
        mengui("publish", db, "--month", month, "--by", "赵主任", "-o", folder / f"list-{month}.csv")
    return db


def facts(db: Path) -> dict:
    conn = sqlite3.connect(db)
    try:
        return {
            "flags": conn.execute("SELECT rx_id, check_id, month, level, detail FROM flags ORDER BY 1, 2").fetchall(),
            "lists": conn.execute("SELECT month, revision, doctor_code, doctor_name, department, level, action, "
                                  "unreasonable_count, reasons FROM disclosures ORDER BY 1, 3").fetchall(),
            "revocations": conn.execute("SELECT doctor_code, month, effective_date, withdrawn_at IS NULL "
                                        "FROM revocations ORDER BY 1, 2").fetchall(),
            "published": conn.execute("SELECT month, published_at FROM disclosure_revisions").fetchall(),
        }
    finally:
        conn.close()


def test_the_same_data_and_commands_on_another_day_give_the_same_flags_and_lists(tmp_path):
    """Two runs of the whole CLI flow, one today and one 250 days later (a backlog loaded long after the
    months it holds): the same flags, lists and revocation dates; only the publication times differ."""
    exports = backlog(tmp_path / "exports")
    today, later = tmp_path / "today", tmp_path / "later"
    today.mkdir()
    later.mkdir()
    first, second = facts(run_flow(today, exports, 0)), facts(run_flow(later, exports, 250))
    for key in ("flags", "lists", "revocations"):
        assert first[key] == second[key], key
    for month in MONTHS:
        assert (today / f"list-{month}.csv").read_bytes() == (later / f"list-{month}.csv").read_bytes()
        assert (today / f"draft-{month}.csv").read_bytes() == (later / f"draft-{month}.csv").read_bytes()
    # the clocks did differ: the lists were published 250 days apart
    assert {m: t[:10] for m, t in first["published"]} != {m: t[:10] for m, t in second["published"]}
    # March's list revoked D01 from 1 April: April's prescriptions are flagged, March's (even the 31st) are not
    assert first["revocations"] == [("D01", "2026-03", "2026-04-01", 1)]
    revoked = {(rx, month) for rx, check, month, *_ in first["flags"] if check == "revoked_doctor"}
    assert revoked == {("X3", "2026-04"), ("APRIL", "2026-04")}
    detail = next(d for rx, check, _, _, d in first["flags"] if rx == "APRIL" and check == "revoked_doctor")
    assert "自 2026-04-01 起取消（2026-03 公示名单）" in detail


def test_a_revocation_takes_effect_on_the_publishers_date_when_given(tmp_path, db_path):
    conn = connect(db_path)
    load_files(conn, [backlog(tmp_path / "exports")])
    for month in MONTHS[:3]:
        audit_month(conn, month)
        disclose_month(conn, month, start=MONTHS[0])
    with pytest.raises(MenguiError, match="早于 2026-04-01"):
        publish_month(conn, "2026-03", effective="2026-03-15")  # within the list's own month
    with pytest.raises(MenguiError, match="YYYY-MM-DD"):
        publish_month(conn, "2026-03", effective="15/04/2026")
    published = publish_month(conn, "2026-03", by="赵主任", effective="2026-04-20")
    assert published.revoked == [("D01", "2026-04-20")] and published.disclosure.effective == "2026-04-20"
    audit_month(conn, "2026-04")
    assert {r[0] for r in conn.execute("SELECT rx_id FROM flags WHERE check_id = 'revoked_doctor'")} == {"APRIL"}
    # publishing the same list again with another date moves the date (no new revision)
    again = publish_month(conn, "2026-03", by="赵主任", effective="2026-04-01")
    assert not again.new_revision and again.rescheduled == [("D01", "2026-04-01")]
    audit_month(conn, "2026-04")
    assert {r[0] for r in conn.execute("SELECT rx_id FROM flags WHERE check_id = 'revoked_doctor'")} == {"X3", "APRIL"}


# ---------------------------------------------------------------- drafts and sign-off


@pytest.fixture
def hospital(tmp_path, db_path):
    conn = connect(db_path)
    load_files(conn, [backlog(tmp_path / "exports")])
    for month in MONTHS:
        audit_month(conn, month)
    return conn


def test_a_draft_changes_nothing_public_and_publish_makes_exactly_it_public(hospital):
    conn = hospital
    drafted = disclose_month(conn, "2026-01", start="2026-01")
    assert drafted.disclosure.draft and drafted.published is None
    assert [r.doctor_code for r in drafted.disclosure.rows] == ["D01"]
    for table in ("disclosures", "disclosure_history", "disclosure_revisions", "revocations", "disclosure_runs"):
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
    assert conn.execute("SELECT count(*) FROM disclosure_draft_rows").fetchone()[0] == 1
    published = publish_month(conn, "2026-01", by="赵主任")
    assert published.new_revision and published.disclosure.revision == 1
    row = conn.execute("SELECT published_by, published_at, effective_date FROM disclosure_revisions").fetchone()
    assert row[0] == "赵主任" and row[1] and row[2] == "2026-02-01"
    assert [tuple(r) for r in conn.execute("SELECT doctor_code FROM disclosures")] == [("D01",)]


def test_publish_refuses_a_draft_the_verdicts_have_overtaken(hospital):
    conn = hospital
    for month in MONTHS[:2]:
        publish(conn, month, start=MONTHS[0])
    disclose_month(conn, "2026-03")
    record_verdict(conn, "CAP", "amount_cap", "不合理", "张委员")  # after the draft was made
    with pytest.raises(MenguiError) as refused:
        publish_month(conn, "2026-03", by="赵主任")
    message = str(refused.value)
    assert "现在计算的名单与草稿不同：新增 D02（一级，公示医师代码，不合理处方 1 张）" in message
    assert "请重新生成草稿（mengui disclose DB --month 2026-03）" in message
    assert conn.execute("SELECT count(*) FROM disclosures WHERE month = '2026-03'").fetchone()[0] == 0
    disclose_month(conn, "2026-03")
    assert {r.doctor_code for r in publish_month(conn, "2026-03").disclosure.rows} == {"D01", "D02"}
    with pytest.raises(MenguiError, match="2026-04 还没有名单草稿"):
        publish_month(conn, "2026-04")


def test_the_cli_says_draft_until_published(hospital, db_path, tmp_path):
    runner = CliRunner()
    drafted = runner.invoke(cli, ["disclose", str(db_path), "--month", "2026-01", "--ladder-start", "2026-01",
                                  "-o", str(tmp_path / "list.md")])
    assert drafted.exit_code == 0, drafted.stderr
    assert "2026-01 三级公示名单草稿：1 名医师（一级 1 名）" in drafted.stderr and "本月名单尚未公示" in drafted.stderr
    assert "草稿，待审定后 mengui publish：mengui publish" in drafted.stderr
    assert "草稿，待审定后 mengui publish" in (tmp_path / "list.md").read_text(encoding="utf-8")
    refused = runner.invoke(cli, ["publish", str(db_path), "--month", "2026-02"])
    assert refused.exit_code == 1 and "还没有名单草稿" in refused.stderr and "Traceback" not in refused.output
    published = runner.invoke(cli, ["publish", str(db_path), "--month", "2026-01", "--by", "赵主任"])
    assert published.exit_code == 0 and "已公示 2026-01 三级公示名单第 1 版：1 名医师（一级 1 名），公示人 赵主任" \
        in published.stderr
    again = runner.invoke(cli, ["disclose", str(db_path), "--month", "2026-01", "-o", str(tmp_path / "again.md")])
    assert "与已公示的第 1 版相同" in again.stderr and "待审定后" not in again.stderr
    assert "草稿" not in (tmp_path / "again.md").read_text(encoding="utf-8")  # the published list itself
    for month in MONTHS[1:3]:
        assert runner.invoke(cli, ["disclose", str(db_path), "--month", month]).exit_code == 0
        march = runner.invoke(cli, ["publish", str(db_path), "--month", month, "--by", "赵主任"])
    assert "取消医保定岗医师资格：D01，自 2026-04-01 起生效" in march.stderr


def test_a_report_is_rewritten_from_the_database_without_an_audit(hospital, db_path, tmp_path, monkeypatch):
    conn = hospital
    publish(conn, "2026-01", start="2026-01")
    runs = conn.execute("SELECT count(*) FROM audit_runs").fetchone()[0]
    loads = conn.execute("SELECT count(*) FROM loads").fetchone()[0]
    runner = CliRunner()
    out = tmp_path / "report.html"
    first = runner.invoke(cli, ["report", str(db_path), "--month", "2026-02", "-o", str(out)])
    assert first.exit_code == 0, first.stderr
    assert "2026-02 公示名单：尚未生成" in first.stderr and out.exists()
    disclose_month(conn, "2026-02")
    second = runner.invoke(cli, ["report", str(db_path), "--month", "2026-02", "-o", str(out)])
    assert "2026-02 公示名单：草稿，待审定后 mengui publish（尚未公示）" in second.stderr
    html = out.read_text(encoding="utf-8")
    assert "草稿，待审定后 mengui publish" in html and "D01" in html
    assert (Path(out).stat().st_mode & 0o077) == 0  # names doctors: owner-only
    publish_month(conn, "2026-02")
    monkeypatch.chdir(tmp_path)  # the default file name, in the working directory
    third = runner.invoke(cli, ["report", str(db_path), "--month", "2026-02"], catch_exceptions=False)
    assert (tmp_path / "report-2026-02.html").exists()
    assert "已公示第 1 版" in third.stderr and "注意" not in third.stderr
    # a later verdict: the list computed now differs from the published one, by content
    record_verdict(conn, "X1", "duplicate_drug", "合理", "张委员", "原药已停用")
    fourth = runner.invoke(cli, ["report", str(db_path), "--month", "2026-02", "-o", str(out)])
    assert "按当前审核结论计算的名单与已公示的名单不同：移除 D01（原为二级）" in fourth.stderr
    assert conn.execute("SELECT count(*) FROM audit_runs").fetchone()[0] == runs  # nothing audited
    assert conn.execute("SELECT count(*) FROM loads").fetchone()[0] == loads  # nothing loaded


# ---------------------------------------------------------------- list files by their extension


def test_a_lists_format_is_its_files_extension(hospital, db_path, tmp_path):
    publish(hospital, "2026-01", start="2026-01")
    runner = CliRunner()
    xlsx = tmp_path / "公示名单.xlsx"
    assert runner.invoke(cli, ["disclose", str(db_path), "--month", "2026-01", "-o", str(xlsx)]).exit_code == 0
    assert xlsx.read_bytes()[:2] == b"PK" and openpyxl.load_workbook(xlsx).sheetnames == ["公示名单", "说明"]
    html = tmp_path / "list.HTML"
    assert runner.invoke(cli, ["disclose", str(db_path), "--month", "2026-01", "-o", str(html)]).exit_code == 0
    assert html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    clash = runner.invoke(cli, ["disclose", str(db_path), "--month", "2026-01", "--format", "csv", "-o", str(xlsx)])
    assert clash.exit_code == 1 and "--format csv 与输出文件" in clash.stderr and "公示名单.csv" in clash.stderr
    unknown = runner.invoke(cli, ["disclose", str(db_path), "--month", "2026-01", "-o", str(tmp_path / "list.txt")])
    assert unknown.exit_code == 1 and "无法从输出文件" in unknown.stderr
    md = tmp_path / "扣款.md"
    assert runner.invoke(cli, ["deductions", str(db_path), "-o", str(md)]).exit_code == 0
    assert md.read_text(encoding="utf-8").startswith("# ")
    clash = runner.invoke(cli, ["deductions", str(db_path), "--format", "xlsx", "-o", str(md)])
    assert clash.exit_code == 1 and "不一致" in clash.stderr
    wrong = runner.invoke(cli, ["deductions", str(db_path), "-o", str(tmp_path / "d.html")])
    assert wrong.exit_code == 1 and "不适用" in wrong.stderr
    csv_file = tmp_path / "list.csv"
    assert runner.invoke(cli, ["disclose", str(db_path), "--month", "2026-01", "-o", str(csv_file)]).exit_code == 0
    assert csv_file.read_bytes().startswith(b"\xef\xbb\xbfmonth,doctor_code,doctor_name,level,action,")


# ---------------------------------------------------------------- nobody outside sees a draft


def test_a_draft_is_invisible_to_anonymous_visitors_until_published(hospital, db_path):
    from mengui_datasette.server import make_datasette

    conn = hospital
    publish(conn, "2026-01", start="2026-01")
    disclose_month(conn, "2026-02")  # D01 at level 2, with his name: a draft only
    ds = make_datasette(db_path)

    def anonymous(path):
        return asyncio.run(ds.client.get(path))

    paths = ["/-/list", "/-/list/2026-01", "/-/list/2026-02", "/-/list/2026-02.json", "/-/list/2026-02.csv",
             "/-/list/2026-01.json", "/-/list/2026-01.csv", "/mengui/disclosures.json", "/mengui/disclosures.csv",
             "/mengui/disclosure_drafts.json", "/mengui/disclosure_draft_rows.json", "/mengui/disclosure_draft_rows",
             "/mengui.json?sql=select+*+from+disclosure_draft_rows", "/mengui/monthly_statistics.json",
             "/mengui/disclosures.json?month=2026-02", "/"]
    for path in paths:
        page = anonymous(path)
        assert "王建国" not in page.text and 'value="2026-02"' not in page.text, path
        assert '"month": "2026-02"' not in page.text and "2026-02,D01" not in page.text, path
        if "draft" in path:
            assert page.status_code == 403, path
    assert anonymous("/-/list/2026-02").status_code == 404
    assert "2026 年 2 月" not in anonymous("/-/list").text  # no draft month in the picker either
    assert anonymous("/mengui/disclosures").headers["location"] == "/-/list"
    # the committee sees the draft next to the published list
    committee = asyncio.run(ds.client.get("/-/list/2026-02", cookies=session_for(ds))).text
    assert "名单草稿（仅药事委员会委员可见）" in committee and "王建国" in committee
    assert "草稿，待审定后 mengui publish" in committee
    home = asyncio.run(ds.client.get("/", cookies=session_for(ds))).text
    assert "待审定的名单草稿" in home and "2026-02" in home
    publish_month(conn, "2026-02", by="赵主任")
    page = anonymous("/-/list/2026-02")
    assert page.status_code == 200 and "王建国" in page.text and "第 1 版" in page.text
    listed = json.loads(anonymous("/-/list/2026-02.json").text)
    assert listed["版本"] == 1 and listed["名单"][0]["医师姓名"] == "王建国" and listed["名单"][0]["公示级别"] == "二级"
    rows = list(csv.DictReader(io.StringIO(anonymous("/-/list/2026-02.csv").text.lstrip("\ufeff"))))
    assert rows == [{"公示月份": "2026-02", "公示级别": "二级", "处理措施": "公示医师姓名", "医师代码": "D01",
                     "医师姓名": "王建国", "科室": "心血管内科", "不合理处方数": "1", "不合理处方原因": "重复用药 1 张",
                     "版本": "1", "公示日期": listed["公示日期"]}]


def test_the_public_list_page_reads_like_a_notice(hospital, db_path):
    """Sections per level with what the level does, a name only where the level publishes one, a total per
    level, the revision and the date of publication; no database words, no English, no SQL."""
    import re

    from mengui_datasette.server import make_datasette

    conn = hospital
    for month in MONTHS[:3]:
        publish(conn, month, start=MONTHS[0])
    ds = make_datasette(db_path)
    page = asyncio.run(ds.client.get("/-/list/2026-03")).text
    body = re.sub(r"<(script|style)\b.*?</\1>", "", page, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", body)
    for words in ("2026 年 3 月门规不合理处方医师公示名单", "第 1 版", "公示日期", "三级", "取消医保定岗医师资格（自 2026-04-01 起）",
                  "二级", "一级", "公示医师代码", "公示医师姓名", "三级小计：1 名医师", "合计：1 名医师"):
        assert words in text, words
    assert not re.search(r"[A-Za-z]{3,}", text.replace("CSV", "").replace("JSON", "").replace("Excel", "")), \
        re.findall(r"[A-Za-z]{3,}", text)
    for word in ("sql", "disclosures", "revision", "publish_code"):
        assert word not in body.lower().replace("/-/list", ""), word
    assert '<option value="2026-01">' in page and '<option value="2026-03" selected>' in page
    assert asyncio.run(ds.client.get("/-/list?month=2026-01")).headers["location"] == "/-/list/2026-01"
    assert asyncio.run(ds.client.get("/-/list/2026-13")).status_code == 404


# ---------------------------------------------------------------- an older database


def test_migration_13_counts_older_revisions_as_published_and_dates_their_revocations(tmp_path):
    db = tmp_path / "old.db"
    conn = database_before(db, 11)
    conn.execute("INSERT INTO disclosure_revisions VALUES ('2026-09', 1, '2026-11-20T10:00:00+08:00', "
                 "'three_strikes', 'jinan 1', 1, 0, '[]')")
    conn.execute("INSERT INTO disclosure_history VALUES ('2026-09', 1, 'D01', '王建国', NULL, 3, 'revoke', 1, '')")
    conn.execute("INSERT INTO disclosures VALUES ('2026-09', 'D01', '王建国', NULL, 3, 'revoke', 1, '', 1)")
    # revoked on the day the old `disclose` ran, in November: from now on, from 1 October
    conn.execute("INSERT INTO revocations (doctor_code, month, revoked_at) VALUES ('D01', '2026-09', "
                 "'2026-11-20T10:00:00+08:00')")
    conn.execute("INSERT INTO disclosure_runs VALUES ('2026-09', 1, 1, '2026-11-20T10:00:00+08:00')")
    conn.close()
    migrated = connect(db)
    assert 13 in {r[0] for r in migrated.execute("SELECT id FROM _migrations")}
    revision = migrated.execute("SELECT published_at, effective_date FROM disclosure_revisions").fetchone()
    assert tuple(revision) == ("2026-11-20T10:00:00+08:00", "2026-10-01")
    assert tuple(migrated.execute("SELECT effective_date, revision FROM revocations").fetchone()) == ("2026-10-01", 1)
    assert tuple(migrated.execute("SELECT month, published_seq, changed_seq FROM disclosure_runs").fetchone()) == (
        "2026-09", 1, 1)
    assert migrated.execute("SELECT effective_date FROM doctor_roster").fetchall() == []  # no doctor loaded
    assert migrated.execute("SELECT count(*) FROM disclosure_drafts").fetchone()[0] == 0
