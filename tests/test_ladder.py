"""The three-strike disclosure ladder, verdicts and the published list, month by month."""

import csv
import io
import sqlite3

import pytest
from click.testing import CliRunner

from builders import publish
from mengui_cli.app import cli
from mengui_core.errors import InputError, MenguiError
from mengui_core.ingest.loader import load_files
from mengui_core.publish.disclosure import disclose_month, reinstate
from mengui_core.audit.runner import audit_month
from mengui_core.db.schema import connect
from mengui_core.review.verdicts import history, record_verdict

MONTHS = ["2026-07", "2026-08", "2026-09", "2026-10"]


def q(conn, sql):
    return [tuple(row) for row in conn.execute(sql)]


class Hospital:
    """Months of exports in which chosen doctors commit chosen violations."""

    def __init__(self, exports, db_path):
        self.e = exports
        self.db_path = db_path
        self.serial = 0
        for code, name in [("D01", "王建国"), ("D02", "李红"), ("D03", "赵强"), ("D04", "孙丽")]:
            exports.doctor(code, name)

    def _patient(self, diseases):
        self.serial += 1
        patient = f"P{self.serial:04d}"
        for code in diseases:
            self.e.cert(patient, code)
        return patient

    def duplicate(self, month, doctor):
        """A duplicate drug (counts unless ruled 合理) by ``doctor``; returns the flagged rx id."""
        patient = self._patient(["M03900", "M04600"])
        first, later = f"R{month}-{self.serial}A", f"R{month}-{self.serial}B"
        self.e.rx(first, f"{month}-03", patient, doctor="D99", items=[("苯磺酸氨氯地平片", "20.00", 28)])
        self.e.rx(later, f"{month}-10", patient, doctor=doctor, items=[("苯磺酸氨氯地平片", "20.00", 28)])
        return later

    def over_cap(self, month, doctor):
        """An over-cap prescription (counts only when ruled 不合理); returns its rx id."""
        patient = self._patient(["M03900"])
        rx = f"R{month}-{self.serial}C"
        self.e.rx(rx, f"{month}-12", patient, doctor=doctor, items=[("苯磺酸氨氯地平片", "180.00", 7)])
        return rx

    def clean(self, month):
        patient = self._patient(["M03900"])
        self.e.rx(f"R{month}-{self.serial}N", f"{month}-15", patient, items=[("苯磺酸氨氯地平片", "20.00", 7)])

    def load_and_audit(self, months=MONTHS):
        for month in MONTHS:
            self.clean(month)  # every month has data to audit
        conn = connect(self.db_path)
        load_files(conn, [self.e.write()])
        for month in months:
            audit_month(conn, month)
        return conn


def levels(published):
    return {(r.doctor_code, r.level, r.action, r.doctor_name) for r in published.disclosure.rows}


def test_one_two_three_months_publish_code_then_name_then_revoke(exports, db_path):
    h = Hospital(exports, db_path)
    for month in MONTHS[1:]:
        h.duplicate(month, "D01")
    conn = h.load_and_audit()
    first = publish(conn, "2026-08", start="2026-08")
    assert levels(first) == {("D01", 1, "publish_code", None)}
    assert levels(publish(conn, "2026-09")) == {("D01", 2, "publish_name", "王建国")}
    third = publish(conn, "2026-10")
    assert levels(third) == {("D01", 3, "revoke", "王建国")}
    assert third.disclosure.rows[0].reasons == "重复用药 1 张"
    roster = dict(conn.execute("SELECT doctor_code, qualification FROM doctor_roster").fetchall())
    assert roster["D01"] == "已取消（2026-10 公示）" and roster["D02"] == "有效"
    # the public table never holds a level-1 name
    assert q(conn, "SELECT doctor_name FROM disclosures WHERE month = '2026-08'") == [(None,)]


def test_a_clean_month_resets_the_streak(exports, db_path):
    h = Hospital(exports, db_path)
    h.duplicate("2026-07", "D02")
    h.duplicate("2026-08", "D02")
    h.duplicate("2026-10", "D02")  # September audited and clean
    conn = h.load_and_audit()
    disclose_month(conn, "2026-07", start="2026-07")
    assert levels(disclose_month(conn, "2026-08")) == {("D02", 2, "publish_name", "李红")}
    assert levels(disclose_month(conn, "2026-09")) == set()
    assert levels(disclose_month(conn, "2026-10")) == {("D02", 1, "publish_code", None)}


def test_pending_and_reasonable_flags_do_not_count(exports, db_path):
    h = Hospital(exports, db_path)
    capped = h.over_cap("2026-10", "D03")
    dup = h.duplicate("2026-10", "D04")
    conn = h.load_and_audit(["2026-10"])
    published = publish(conn, "2026-10", start="2026-10")
    assert levels(published) == {("D04", 1, "publish_code", None)}  # counts without review
    assert published.disclosure.pending == 1                          # the cap flag awaits review
    with pytest.raises(MenguiError, match="还有 1 条标记待药事委员会审核"):
        disclose_month(conn, "2026-10", require_reviewed=True)

    record_verdict(conn, capped, "amount_cap", "不合理", "张委员", "无特殊理由")
    record_verdict(conn, dup, "duplicate_drug", "合理", "张委员", "原药已停用，更换厂家")
    second = publish(conn, "2026-10", require_reviewed=True)
    assert levels(second) == {("D03", 1, "publish_code", None)}
    assert second.disclosure.revision == 2
    assert second.disclosure.changes == ["新增 D03（一级，公示医师代码，不合理处方 1 张）", "移除 D04（原为一级）"]
    # the first revision is kept, append-only
    assert q(conn, "SELECT revision, doctor_code FROM disclosure_history ORDER BY revision") == [
        (1, "D04"), (2, "D03")]
    with pytest.raises(sqlite3.DatabaseError, match="不能删除"):
        conn.execute("DELETE FROM disclosure_history")


def test_an_unaudited_earlier_month_is_refused_unless_declared(exports, db_path):
    h = Hospital(exports, db_path)
    h.duplicate("2026-10", "D01")
    conn = h.load_and_audit(["2026-08", "2026-10"])
    with pytest.raises(MenguiError, match="2026-09 从未审核，不能当作没有不合理处方"):
        disclose_month(conn, "2026-10")
    with pytest.raises(MenguiError, match="2026-11 还没有审核"):
        disclose_month(conn, "2026-11", start="2026-11")
    assert levels(disclose_month(conn, "2026-10", allow_unaudited=True)) == {("D01", 1, "publish_code", None)}
    # a declared start is remembered
    assert levels(disclose_month(conn, "2026-10", start="2026-10")) == {("D01", 1, "publish_code", None)}
    assert conn.execute("SELECT value FROM settings WHERE key = 'ladder_start'").fetchone()[0] == "2026-10"


def test_rerunning_an_earlier_month_changes_the_later_list_and_says_so(exports, db_path):
    h = Hospital(exports, db_path)
    h.duplicate("2026-08", "D01")
    september = h.duplicate("2026-09", "D01")
    h.duplicate("2026-10", "D01")
    conn = h.load_and_audit()
    for month in MONTHS[1:]:
        result = publish(conn, month, start="2026-08" if month == "2026-08" else None)
    assert levels(result) == {("D01", 3, "revoke", "王建国")}
    again = publish(conn, "2026-10")
    assert not again.new_revision and again.disclosure.revision == 1  # same list, same revision

    # the committee later rules September's duplicate reasonable: October falls back to level 1
    record_verdict(conn, september, "duplicate_drug", "reasonable", "李委员", "复核：原处方已作废")
    publish(conn, "2026-09")
    changed = publish(conn, "2026-10")
    assert changed.new_revision and changed.disclosure.revision == 2
    assert changed.disclosure.changes == ["D01 级别由三级变为一级（公示医师代码）"]
    assert conn.execute("SELECT withdrawn_note FROM revocations WHERE doctor_code = 'D01'").fetchone()[0] == \
        "2026-10 公示名单第 2 版不再取消其资格"
    roster = dict(conn.execute("SELECT doctor_code, qualification FROM doctor_roster").fetchall())
    assert roster["D01"] == "有效"


def test_a_revoked_doctor_stays_revoked_until_reinstated(exports, db_path):
    h = Hospital(exports, db_path)
    for month in MONTHS:
        h.duplicate(month, "D01")
    conn = h.load_and_audit(MONTHS[:3])
    publish(conn, "2026-07", start="2026-07")
    publish(conn, "2026-08")
    assert levels(publish(conn, "2026-09")) == {("D01", 3, "revoke", "王建国")}
    roster = dict(conn.execute("SELECT doctor_code, qualification FROM doctor_roster").fetchall())
    assert roster["D01"] == "已取消（2026-09 公示）"
    assert reinstate(conn, "D01", "院发〔2026〕12 号", "2026-10-08") == "2026-09"
    with pytest.raises(MenguiError, match="没有被取消定岗资格"):
        reinstate(conn, "D01", None)
    # after reinstatement the streak starts again
    audit_month(conn, "2026-10")
    assert levels(disclose_month(conn, "2026-10")) == {("D01", 1, "publish_code", None)}


def test_verdict_history_keeps_every_change_and_verdicts_are_never_deleted(exports, db_path):
    h = Hospital(exports, db_path)
    rx = h.over_cap("2026-10", "D03")
    conn = h.load_and_audit(["2026-10"])
    record_verdict(conn, rx, "amount_cap", "不合理", "张委员", "超量")
    changed = record_verdict(conn, rx, "amount_cap", "合理", "李委员", "复核：慢病长处方")
    assert changed.previous == "unreasonable"
    assert [(r["verdict"], r["previous_verdict"], r["reviewer"]) for r in history(conn, rx, "amount_cap")] == [
        ("unreasonable", None, "张委员"), ("reasonable", "unreasonable", "李委员")]
    with pytest.raises(sqlite3.DatabaseError, match="审核结论不能删除"):
        conn.execute("DELETE FROM verdicts")
    audit_month(conn, "2026-10")  # a re-audit keeps the verdict
    assert q(conn, "SELECT verdict FROM verdicts") == [("reasonable",)]
    with pytest.raises(MenguiError, match="没有规则 duplicate_drug 的标记.*amount_cap"):
        record_verdict(conn, rx, "duplicate_drug", "不合理")
    with pytest.raises(MenguiError, match="审核结论「也许」无效"):
        record_verdict(conn, rx, "amount_cap", "也许")


def test_verdict_files_in_chinese_are_imported_and_unknown_flags_are_named(exports, db_path, tmp_path):
    h = Hospital(exports, db_path)
    a = h.over_cap("2026-10", "D03")
    b = h.duplicate("2026-10", "D04")
    conn = h.load_and_audit(["2026-10"])
    good = tmp_path / "verdicts.csv"
    good.write_text(f"处方号,规则,结论,审核人,备注\n{a},amount_cap,不合理,张委员,超量\n{b},duplicate_drug,合理,张委员,\n",
                    encoding="gbk")
    result = load_files(conn, [good])
    assert result.tables[0].inserted == 2
    assert dict(conn.execute("SELECT rx_id, verdict FROM verdicts").fetchall()) == {a: "unreasonable", b: "reasonable"}
    assert load_files(conn, [good]).tables[0].unchanged == 2  # reloading changes nothing
    assert conn.execute("SELECT count(*) FROM verdict_history").fetchone()[0] == 2

    bad = tmp_path / "verdicts_bad.csv"
    bad.write_text(f"rx_id,check_id,verdict\n{a},amount_cap,reasonable\nR-NOPE,amount_cap,unreasonable\n"
                   f"{a},duplicate_drug,unreasonable\n{a},amount_cap,maybe\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_files(conn, [bad])
    message = str(info.value)
    assert "第 5 行，列「verdict」：值「maybe」" in message
    with pytest.raises(InputError) as info:
        load_files(conn, [_without_line(bad, 5)])
    message = str(info.value)
    assert "第 3 行，列「rx_id/check_id」：值「R-NOPE/amount_cap」 —— 处方 R-NOPE 没有任何标记" in message
    assert f"第 4 行，列「rx_id/check_id」：值「{a}/duplicate_drug」 —— 处方 {a} 没有规则 duplicate_drug 的标记" in message
    assert dict(conn.execute("SELECT rx_id, verdict FROM verdicts").fetchall()) == {a: "unreasonable", b: "reasonable"}


def _without_line(path, line):
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    out = path.with_name("verdicts_bad2.csv")
    out.write_text("".join(lines[: line - 1] + lines[line:]), encoding="utf-8")
    return out


def test_cli_disclose_writes_the_contract_csv_and_an_xlsx(exports, db_path, tmp_path):
    h = Hospital(exports, db_path)
    for month in MONTHS[1:]:
        h.duplicate(month, "D01")
    h.duplicate("2026-10", "D02")
    h.load_and_audit().close()
    runner = CliRunner()
    first = runner.invoke(cli, ["disclose", str(db_path), "--month", "2026-08"])
    assert first.exit_code == 1 and "2026-06 从未审核" in first.stderr and "--ladder-start" in first.stderr
    assert runner.invoke(cli, ["disclose", str(db_path), "--month", "2026-08", "--ladder-start", "2026-08"]).exit_code == 0
    assert runner.invoke(cli, ["disclose", str(db_path), "--month", "2026-09"]).exit_code == 0
    result = runner.invoke(cli, ["disclose", str(db_path), "--month", "2026-10", "--format", "csv"])
    assert result.exit_code == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][:6] == ["month", "doctor_code", "doctor_name", "level", "action", "unreasonable_count"]
    assert [r[:6] for r in rows[1:]] == [["2026-10", "D01", "王建国", "3", "revoke", "1"],
                                         ["2026-10", "D02", "", "1", "publish_code", "1"]]
    assert "三级 1 名，一级 1 名" in result.stderr
    xlsx = tmp_path / "list.xlsx"
    assert runner.invoke(cli, ["disclose", str(db_path), "--month", "2026-10", "--format", "xlsx", "-o", str(xlsx)]).exit_code == 0
    import openpyxl
    cells = [c for row in openpyxl.load_workbook(xlsx).active.iter_rows(values_only=True) for c in row if c]
    assert "D01" in cells and "王建国" in cells
    assert any(str(c).startswith("三级：取消医保定岗医师资格") for c in cells)


def test_cli_review_records_and_reports_the_earlier_verdict(exports, db_path):
    h = Hospital(exports, db_path)
    rx = h.over_cap("2026-10", "D03")
    h.load_and_audit(["2026-10"]).close()
    runner = CliRunner()
    out = runner.invoke(cli, ["review", str(db_path), "--rx", rx, "--check", "amount_cap", "--verdict", "不合理",
                              "--reviewer", "张委员", "--note", "超量"])
    assert out.exit_code == 0 and f"已记录：处方 {rx} 规则 amount_cap → 不合理（审核人 张委员）" in out.output
    out = runner.invoke(cli, ["review", str(db_path), "--rx", rx, "--check", "amount_cap", "--verdict", "reasonable"])
    assert out.exit_code == 0 and "原结论「不合理」已保留在审核历史中" in out.output
    out = runner.invoke(cli, ["review", str(db_path), "--rx", "NOPE", "--check", "amount_cap", "--verdict", "合理"])
    assert out.exit_code == 1 and "处方 NOPE 没有任何标记" in out.stderr
