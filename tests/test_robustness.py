"""Messy exports, reruns and corrections: nothing lost, nothing half-written, every problem located."""

import datetime as dt
import sqlite3
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from mengui_cli.app import cli
from mengui_core.ingest.loader import load_files
from mengui_core.audit.runner import audit_month
from mengui_core.db.schema import connect

BROKEN = Path(__file__).parent / "broken"

# every file of the corpus, the message it must produce (file, line, column, value, what was expected)
CORPUS = {
    "rx_items_bad_money.csv": ["第 2 行，列「amount」：值「12.345」 —— 应为金额（元），最多两位小数",
                               "第 3 行，列「amount」：值「abc」", "第 4 行，列「amount」：值「1,2,3」"],
    "prescriptions_bad_dates.csv": ["第 2 行，列「开方日期」：值「2026-02-30」", "第 3 行，列「开方日期」：值「2026/13/01」",
                                    "第 4 行，列「开方日期」：值「2026-10-03 25:61」"],
    "rx_items_missing_amount.csv": ["缺少必需的列 amount（金额）", "表头是：处方号、药品通用名、用药天数"],
    "doctors_empty.csv": ["文件为空，没有表头"],
    "rx_items_extra_fields.csv": ["第 3 行：有 4 列，而表头只有 3 列"],
    "doctors_conflict.csv": ["D01", "同一医师名册记录出现多次且内容不同", "第 2 行", "第 3 行"],
    "prescriptions_missing_values.csv": ["第 2 行，列「patient_id」", "第 3 行，列「rx_id」", "必填，不能为空"],
    "certifications_bad_kind.csv": ["第 2 行，列「类别」：值「慢性病」 —— 应为以下之一：disease、complication、病种"],
    "prescriptions_bad_codes.csv": ["第 2 行，列「disease_codes」：值「M03900/高血压」"],
    "rx_items_bad_days.csv": ["第 2 行，列「days_supply」：值「-7」 —— 应为非负整数", "第 3 行，列「days_supply」：值「一周」"],
    "claims_bad_encoding.csv": ["文件编码无法识别"],
    "rx_items_not_excel.xlsx": ["无法读取 Excel 文件"],
}


def dump(db_path):
    conn = sqlite3.connect(db_path)
    lines = list(conn.iterdump())
    conn.close()
    return lines


@pytest.fixture
def loaded_db(exports, db_path):
    exports.doctor("D01", "王建国")
    exports.cert("P1", "M03900")
    exports.rx("R0", "2026-10-02", "P1", items=[("苯磺酸氨氯地平片", "20.00", 28)])
    load_files(connect(db_path), [exports.write()])
    return db_path


def test_the_corpus_lists_every_broken_file():
    assert sorted(p.name for p in BROKEN.iterdir()) == sorted(CORPUS)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_each_broken_file_is_rejected_precisely_and_changes_nothing(loaded_db, name):
    before = dump(loaded_db)
    result = CliRunner().invoke(cli, ["load", str(loaded_db), str(BROKEN / name)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output + result.stderr
    for fragment in CORPUS[name]:
        assert fragment in result.stderr, (name, fragment, result.stderr)
    assert str(BROKEN / name) in result.stderr
    assert dump(loaded_db) == before


def test_dry_run_validates_without_writing(loaded_db, tmp_path):
    good = tmp_path / "doctors.csv"
    good.write_text("doctor_code,doctor_name\nD02,李红\n", encoding="utf-8")
    before = dump(loaded_db)
    result = CliRunner().invoke(cli, ["load", str(loaded_db), str(good), "--dry-run"])
    assert result.exit_code == 0 and "检查通过" in result.output
    assert dump(loaded_db) == before


def test_encoding_override_and_unknown_encoding(tmp_path, db_path):
    path = tmp_path / "doctors.csv"
    path.write_bytes("医师代码,医师姓名\nD01,王建国\n".encode("gbk"))
    assert CliRunner().invoke(cli, ["load", str(db_path), str(path), "--encoding", "gbk"]).exit_code == 0
    assert sqlite3.connect(db_path).execute("SELECT doctor_name FROM doctors").fetchone() == ("王建国",)
    result = CliRunner().invoke(cli, ["load", str(db_path), str(path), "--encoding", "klingon"])
    assert result.exit_code == 1 and "未知的编码 --encoding klingon" in result.stderr


def test_xlsx_sheet_choice_and_excel_date_serials(tmp_path, db_path):
    book = openpyxl.Workbook()
    book.active.title = "说明"
    book.active.append(["本文件第二个工作表是处方"])
    sheet = book.create_sheet("处方")
    sheet.append(["处方号", "开方日期", "参保人编号", "医师代码", "处方金额"])
    sheet.append(["R1", 46298, "P1", "D1", 88.5])  # Excel stores 2026-10-03 as 46298
    sheet.append(["R2", dt.datetime(2026, 10, 4, 9, 30), "P1", "D1", "１２０．００"])  # full-width digits
    book.save(tmp_path / "prescriptions.xlsx")
    result = CliRunner().invoke(cli, ["load", str(db_path), str(tmp_path / "prescriptions.xlsx"), "--sheet", "处方"])
    assert result.exit_code == 0, result.stderr
    rows = sqlite3.connect(db_path).execute(
        "SELECT rx_id, rx_date, rx_time, total_amount_fen FROM prescriptions ORDER BY rx_id").fetchall()
    assert rows == [("R1", "2026-10-03", None, 8850), ("R2", "2026-10-04", "09:30:00", 12000)]
    missing = CliRunner().invoke(cli, ["load", str(db_path), str(tmp_path / "prescriptions.xlsx"), "--sheet", "药品"])
    assert missing.exit_code == 1 and "没有工作表「药品」" in missing.stderr


def test_conflicts_between_files_are_reported(tmp_path, db_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "doctors.csv").write_text("doctor_code,doctor_name\nD01,王建国\n", encoding="utf-8")
    (folder / "prescriptions.csv").write_text("rx_id,rx_date,patient_id,doctor_code\nR1,2026-10-03,P1,D01\n"
                                              "R2,2026-10-03,P2,D77\n", encoding="utf-8")
    (folder / "rx_items.csv").write_text("rx_id,drug_name,amount\nR1,苯磺酸氨氯地平片,10.00\nR9,阿托伐他汀钙片,5.00\n",
                                         encoding="utf-8")
    result = CliRunner().invoke(cli, ["load", str(db_path), str(folder)])
    assert result.exit_code == 0
    assert "处方明细对应的处方不存在" in result.stderr and "第 3 行 R9" in result.stderr
    assert "处方的医师不在医师名册中" in result.stderr and "D77" in result.stderr


def test_corrections_are_logged_and_reruns_change_nothing(exports, db_path, tmp_path):
    exports.cert("P1", "M03900")
    exports.rx("R1", "2026-10-03", "P1", total="100.00", items=[("苯磺酸氨氯地平片", "100.00", 7)])
    folder = exports.write()
    conn = connect(db_path)
    load_files(conn, [folder])
    snapshot = dump(db_path)
    again = load_files(conn, [folder])
    assert all(t.inserted == t.replaced == 0 for t in again.tables)
    assert [l for l in dump(db_path) if "loads" not in l] == [l for l in snapshot if "loads" not in l]
    corrected = tmp_path / "corrected"
    corrected.mkdir()
    (corrected / "prescriptions.csv").write_text(
        "rx_id,rx_date,patient_id,doctor_code,total_amount\nR1,2026-10-03,P1,D01,160.00\n", encoding="utf-8")
    (corrected / "rx_items.csv").write_text("rx_id,drug_name,amount\nR1,苯磺酸氨氯地平片,160.00\n", encoding="utf-8")
    load_files(conn, [corrected])
    changes = conn.execute("SELECT table_name, record_key, old_values, new_values FROM record_changes ORDER BY id").fetchall()
    assert [(c[0], c[1]) for c in changes] == [("prescriptions", "R1"), ("rx_items", "R1")]
    assert "10000" in changes[0][2] and "16000" in changes[0][3]


def test_a_verdict_whose_flag_disappears_is_kept_and_reported(exports, db_path, tmp_path):
    exports.cert("P1", "M03900")
    exports.rx("R1", "2026-10-03", "P1", items=[("苯磺酸氨氯地平片", "180.00", 7)])
    conn = connect(db_path)
    load_files(conn, [exports.write()])
    audit_month(conn, "2026-10")
    conn.execute("INSERT INTO verdicts (rx_id, check_id, verdict, reviewer) VALUES ('R1', 'amount_cap', 'unreasonable', '张委员')")
    fixed = tmp_path / "fixed"
    fixed.mkdir()
    (fixed / "rx_items.csv").write_text("rx_id,line_no,drug_name,amount\nR1,1,苯磺酸氨氯地平片,120.00\n", encoding="utf-8")
    load_files(conn, [fixed])
    result = audit_month(conn, "2026-10")
    assert result.flags == 0
    assert any("1 条审核结论对应的标记在本次审核中已不存在" in note for note in result.notes)
    assert conn.execute("SELECT verdict FROM verdicts WHERE rx_id = 'R1'").fetchone()[0] == "unreasonable"


def test_backup_is_a_consistent_copy_and_never_overwrites(loaded_db, tmp_path):
    target = tmp_path / "backup" / "copy.db"
    target.parent.mkdir()
    result = CliRunner().invoke(cli, ["backup", str(loaded_db), str(target)])
    assert result.exit_code == 0 and "已备份" in result.output and "恢复方法" in result.output
    copy = sqlite3.connect(target)
    assert copy.execute("SELECT count(*) FROM prescriptions").fetchone() == (1,)
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    again = CliRunner().invoke(cli, ["backup", str(loaded_db), str(target)])
    assert again.exit_code == 1 and "备份文件已存在" in again.stderr
