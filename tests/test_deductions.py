"""Deductions (医保扣款) per prescribing doctor: attribution, month filter, exact money, the CSV contract, XLSX/MD."""

import csv
import io

import openpyxl
import pytest
from click.testing import CliRunner

from mengui_cli.app import cli
from mengui_core.outputs.deduction_list import CSV_COLUMNS, render_markdown, write_xlsx
from mengui_core.publish.deductions import summarise
from mengui_core.ingest.loader import load_files
from mengui_core.db.schema import connect


@pytest.fixture
def hospital(exports, db_path):
    """Three doctors on the roster, one prescriber who is not, and the office's deductions over two months."""
    exports.doctor("D01", "王建国", "心血管内科").doctor("D02", "李秀英", "内分泌科").doctor("D03", "张伟", "全科医学科")
    exports.rx("R1", "2026-09-03", "P0001", doctor="D01", total="180.00")
    exports.rx("R2", "2026-09-10", "P0002", doctor="D01", total="210.00")
    exports.rx("R3", "2026-09-12", "P0003", doctor="D02", total="160.00")
    exports.rx("R4", "2026-10-08", "P0004", doctor="D02", total="155.00")
    exports.rx("R5", "2026-09-20", "P0005", doctor="D99", total="170.00")  # a visiting doctor, not on the roster
    exports.deduction("K1", "R1", "0.10", "2026-10-15", "超限额 30 元中的部分")
    exports.deduction("K2", "R2", "0.20", "2026-10-15", "超限额")
    exports.deduction("K3", "R2", "60.00", "2026-10-16", "重复用药")
    exports.deduction("K4", "R3", "10.00", "2026-11-05", "超限额")
    exports.deduction("K5", "R4", "5.00", "", "超限额（无扣款日期：按开方月份 2026-10）")
    exports.deduction("K6", "R5", "20.00", "2026-10-20", "超限额")
    exports.deduction("K7", "R8888", "33.33", "2026-10-21", "处方不在本院导出中")
    exports.deduction("K8", "R9999", "1.00", "", "既无日期也无处方")
    conn = connect(db_path)
    load_files(conn, [exports.write()])
    return conn


def by_code(summary):
    return {d.doctor_code: d for d in summary.doctors}


def test_every_deduction_goes_to_the_prescribing_doctor_or_is_reported_unattributed(hospital):
    summary = summarise(hospital)
    doctors = by_code(summary)
    assert set(doctors) == {"D01", "D02", "D99"}
    assert (doctors["D01"].count, doctors["D01"].total_fen, doctors["D01"].prescriptions) == (3, 6030, 2)
    assert doctors["D01"].doctor_name == "王建国" and doctors["D01"].department == "心血管内科"
    assert doctors["D99"].doctor_name is None  # attributed by code even though the roster lacks the doctor
    assert sorted(u.deduction_id for u in summary.unattributed) == ["K7", "K8"]
    # nothing is dropped: the sum over doctors and unattributed equals the deductions table
    assert summary.total_fen == hospital.execute("SELECT sum(amount_fen) FROM deductions").fetchone()[0]
    assert summary.count == 8
    assert any("未能归属" in note and "R8888" in note for note in summary.notes())


def test_month_is_the_deduction_date_else_the_prescription_date(hospital):
    october = summarise(hospital, "2026-10")
    doctors = by_code(october)
    assert (doctors["D01"].count, doctors["D01"].total_fen) == (3, 6030)  # R1/R2 are September prescriptions
    assert (doctors["D02"].count, doctors["D02"].total_fen) == (1, 500)  # K5: no date, R4 dated 2026-10
    assert "D03" not in doctors
    assert [u.deduction_id for u in october.unattributed] == ["K7"]
    assert october.undated_unattributed == 1  # K8 cannot be placed in any month, and the notes say so
    assert any("无法确定月份" in n for n in october.notes())
    november = summarise(hospital, "2026-11")
    assert [(d.doctor_code, d.total_fen) for d in november.doctors] == [("D02", 1000)]
    assert summarise(hospital, "2026-08").count == 0


def test_money_is_exact(hospital):
    # 0.10 + 0.20 must be 0.30 (and 0.10 + 0.20 + 60.00 = 60.30), never 0.30000000000000004
    hospital.execute("DELETE FROM deductions WHERE deduction_id = 'K3'")
    text = CliRunner().invoke(cli, ["deductions", str(hospital_path(hospital)), "--month", "2026-10",
                                    "--format", "csv"]).stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["doctor_code"]: r["total_yuan"] for r in rows}["D01"] == "0.30"


def hospital_path(conn):
    return conn.execute("PRAGMA database_list").fetchone()[2]


def test_csv_contract_columns_first_and_in_order(hospital):
    result = CliRunner().invoke(cli, ["deductions", hospital_path(hospital), "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][:4] == CSV_COLUMNS == ["doctor_code", "doctor_name", "count", "total_yuan"]
    body = {r[0]: r for r in rows[1:]}
    assert body["D01"][1:4] == ["王建国", "3", "60.30"]
    assert body["D99"][1] == "" and "名册中无此医师" in body["D99"][-1]
    assert body[""][2:4] == ["2", "34.33"] and "R8888" in body[""][-1]  # the unattributed row
    assert all(len(r[3].split(".")[1]) == 2 for r in rows[1:])


def test_cli_table_xlsx_and_markdown(hospital, tmp_path):
    db = hospital_path(hospital)
    shown = CliRunner().invoke(cli, ["deductions", db, "--month", "2026-10"])
    assert shown.exit_code == 0
    assert "2026 年 10 月医保扣款" in shown.output and "王建国" in shown.output and "合计" in shown.output
    assert "未能归属" in shown.output and "R8888" in shown.output

    out = tmp_path / "扣款.xlsx"
    result = CliRunner().invoke(cli, ["deductions", db, "--month", "2026-10", "--format", "xlsx", "-o", str(out)])
    assert result.exit_code == 0, result.output
    ws = openpyxl.load_workbook(out).active
    assert int(ws.page_setup.paperSize) == 9 and ws.page_setup.orientation == "portrait"  # A4
    values = list(ws.iter_rows(values_only=True))
    header = next(r for r in values if r[0] == "序号")
    assert header[1:3] == ("医师代码", "医师姓名")
    total = next(r for r in values if r[1] == "合计")
    assert total[4] == 6 and f"{total[5]:.2f}" == "118.63"  # 60.30 + 5.00 + 20.00 + 33.33 (unattributed)

    # every row as tall as its wrapped text (Excel does not grow a row it did not lay out): the
    # unattributed row's 医师姓名 wraps to two lines, D01's one-line row does not
    rows = {ws.cell(row=r, column=2).value: r for r in range(1, ws.max_row + 1)}
    one_line, wrapped = (ws.row_dimensions[rows[code]].height for code in ("D01", "—"))
    assert one_line and wrapped and wrapped >= 2 * one_line - 6
    assert ws.print_title_rows and ws.page_setup.fitToWidth == 1

    md = render_markdown(summarise(hospital, "2026-10"))
    assert "| 序号 | 医师代码 | 医师姓名 |" in md and "| 60.30 |" in md and "合计" in md and "未能归属" in md
    write_xlsx(summarise(hospital, "2026-12"), tmp_path / "empty.xlsx")  # an empty month still prints


def test_bad_month_is_a_chinese_error_without_traceback(hospital):
    result = CliRunner().invoke(cli, ["deductions", hospital_path(hospital), "--month", "2026-13"])
    assert result.exit_code != 0
    assert "月份格式应为 YYYY-MM" in result.output and "Traceback" not in result.output


def test_monthly_run_writes_the_deductions_and_the_report_shows_them(tmp_path):
    from builders import Exports

    e = Exports(tmp_path / "2026-10")
    e.doctor("D01", "王建国").cert("P1", "M03900")
    e.rx("R1", "2026-10-15", "P1", doctor="D01", items=[("苯磺酸氨氯地平片", "170.00", 30)])
    e.deduction("K1", "R1", "20.00", "2026-10-28", "超出单次开药限额").deduction("K2", "R404", "7.50", "2026-10-29")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", str(tmp_path / "m.db"), "--month", "2026-10", str(e.write()),
                                      "-o", str(out), "--ladder-start", "2026-10"])
    assert result.exit_code == 0, result.output
    assert "医保扣款 2 笔共 27.50 元" in result.output and "未能归属" in result.output and "R404" in result.output
    with open(out / "deductions-2026-10.csv", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:4] == CSV_COLUMNS and rows[1][:4] == ["D01", "王建国", "1", "20.00"] and rows[2][3] == "7.50"
    report = (out / "report-2026-10.html").read_text(encoding="utf-8")
    assert 'id="deductions"' in report and "王建国" in report and "27.50" in report and "未能归属" in report
    # a month without deductions writes no deductions file
    assert not (out / "deductions-2026-09.csv").exists()


def test_demo_deductions_are_realistic(tmp_path):
    from mengui_core.demo.data import write_demo_inputs

    months = ["2026-08", "2026-09", "2026-10"]
    manifest = write_demo_inputs(tmp_path / "inputs", months, seed=7)
    conn = connect(tmp_path / "demo.db")
    for month in months:
        load_files(conn, [tmp_path / "inputs" / month])
    summary = summarise(conn)
    rows = [row for m in months for row in manifest["months"][m]["deductions"]]
    assert 12 <= summary.count == len(rows) <= 40
    assert len(summary.unattributed) == 2 and len(summary.doctors) >= 8
    assert all(d.doctor_name for d in summary.doctors)  # the rest all reach a doctor on the roster
    for month in months:  # each deduction is filed in the folder of its own month
        assert all(row[3].startswith(month) for row in manifest["months"][month]["deductions"])
