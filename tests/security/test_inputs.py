"""Issue 14, items 4 (at load), 5, 6, 12, 14: input that must be refused is refused — with a
Chinese message naming the file, line, column and value, a non-zero exit, nothing written — and
hostile files fail fast in little memory, never with a traceback."""

import os
import resource
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from mengui_cli.app import cli
from mengui_core.ingest.loader import load_files
from mengui_core.audit.runner import audit_month
from mengui_core.db.schema import connect
from mengui_core.review.verdicts import record_verdict

REPO = Path(__file__).resolve().parents[2]


def dump(db_path):
    conn = sqlite3.connect(db_path)
    lines = [line for line in conn.iterdump() if "_migrations" not in line]
    conn.close()
    return lines


def load(db_path, *paths):
    result = CliRunner().invoke(cli, ["load", str(db_path), *map(str, paths)])
    assert "Traceback" not in result.output + result.stderr, result.stderr
    return result


def refused(db_path, path: Path, text: str) -> str:
    """Write ``text`` to ``path``, load it: refused (exit 1); the messages."""
    path.write_text(text, encoding="utf-8")
    result = load(db_path, path)
    assert result.exit_code == 1
    return result.stderr


def mengui(*args, timeout=60):
    """The real command in its own process: (exit code, stderr, seconds, peak memory of the process in MB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "mengui_cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)
    seconds = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far, in KB
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stderr, seconds, (peak if peak > before else 0) / 1024


@pytest.fixture
def base_db(exports, db_path):
    """A month with a genuine over-cap visit of 187.62 元 ruled 不合理."""
    exports.doctor("D01", "王建国")
    exports.cert("P1", "M03900")
    exports.rx("R1", "2026-10-08", "P1", items=[("苯磺酸氨氯地平片", "120.00", 28)])
    exports.rx("R2", "2026-10-08", "P1", items=[("阿托伐他汀钙片", "67.62", 28)])
    conn = connect(db_path)
    load_files(conn, [exports.write()])
    audit_month(conn, "2026-10")
    record_verdict(conn, "R2", "amount_cap", "不合理", "张委员")
    conn.close()
    return db_path


# ---------------------------------------------------------------- item 5: negative amounts


def test_a_negative_amount_is_refused_and_the_over_cap_flag_keeps_its_verdict(base_db, tmp_path):
    before = dump(base_db)
    offset = tmp_path / "prescriptions.csv"
    stderr = refused(base_db, offset, "rx_id,rx_date,patient_id,doctor_code,disease_codes,total_amount\n"
                     "R3,2026-10-08,P1,D01,M03900,-40.00\n")
    assert f"{offset}，第 2 行，列「total_amount」：值「-40.00」" in stderr
    assert "金额不能为负数" in stderr and "替换旧记录" in stderr
    assert dump(base_db) == before
    conn = connect(base_db)
    audit_month(conn, "2026-10")
    flag = conn.execute("SELECT amount_fen, limit_fen FROM flags WHERE rx_id = 'R2' AND check_id = 'amount_cap'").fetchone()
    assert tuple(flag) == (18762, 15000)
    assert conn.execute("SELECT status FROM flag_status WHERE rx_id = 'R2' AND check_id = 'amount_cap'").fetchone()[0] \
        == "unreasonable"


def test_every_money_column_refuses_negative_amounts(db_path, tmp_path):
    items = tmp_path / "rx_items.csv"
    items.write_text("rx_id,drug_name,amount\nR1,阿司匹林肠溶片,-1.50\n", encoding="utf-8")
    deductions = tmp_path / "deductions.csv"
    deductions.write_text("deduction_id,rx_id,amount\nK1,R1,-30\n", encoding="utf-8")
    result = load(db_path, items, deductions)
    assert result.exit_code == 1
    assert "列「amount」：值「-1.50」" in result.stderr and "列「amount」：值「-30」" in result.stderr


# ---------------------------------------------------------------- items 4 and 14: values refused at load


def test_names_that_start_like_a_formula_are_refused(db_path, tmp_path):
    stderr = refused(db_path, tmp_path / "doctors.csv", "doctor_code,doctor_name\nD01,=cmd|' /C calc'!A0李秀珍\n"
                     "D02,+李红\nD03,@孙丽\nD04,-赵强\nD05,王建国\n")
    for line, value in ((2, "=cmd|' /C calc'!A0李秀珍"), (3, "+李红"), (4, "@孙丽"), (5, "-赵强")):
        assert f"第 {line} 行，列「doctor_name」：值「{value}」 —— 不能以 =、+、-、@ 开头" in stderr
    assert "第 6 行" not in stderr
    assert not connect(db_path).execute("SELECT count(*) FROM doctors").fetchone()[0]


def test_nul_bytes_and_overlong_ids_are_refused(db_path, tmp_path):
    rx = tmp_path / "prescriptions.csv"
    long_id = "R" * 100_000
    rx.write_bytes(("rx_id,rx_date,patient_id,patient_name,doctor_code\n"
                    "R1,2026-10-08,P1,张\x00三,D01\n"
                    f"{long_id},2026-10-08,P2,李四,D01\n").encode("utf-8"))
    result = load(db_path, rx)
    assert result.exit_code == 1
    assert "第 2 行，列「patient_name」：值「张\\0三」 —— 含有 NUL 空字符" in result.stderr
    assert "第 3 行，列「rx_id」：值「RRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRR……（共 100,000 个字符）」 —— 过长：不能超过 64 个字符" \
        in result.stderr
    assert len(result.stderr) < 5_000  # the message names the value, it does not print it whole
    assert not connect(db_path).execute("SELECT count(*) FROM prescriptions").fetchone()[0]


def test_a_csv_with_100k_columns_is_refused_at_once_in_little_memory(db_path, tmp_path):
    wide = tmp_path / "prescriptions.csv"
    columns = ["rx_id", "rx_date", "patient_id", "doctor_code"] + [f"col{i}" for i in range(100_000)]
    wide.write_text(",".join(columns) + "\n" + ",".join(["R1", "2026-10-08", "P1", "D01"] + [""] * 100_000) + "\n",
                    encoding="utf-8")
    assert wide.stat().st_size > 800_000
    code, stderr, seconds, peak_mb = mengui("load", db_path, wide)
    assert code == 1 and "表头有 100,004 列，超过上限 1,000 列" in stderr and str(wide) in stderr
    assert seconds < 10 and peak_mb < 400, (seconds, peak_mb)


def _xlsx(path: Path, rows, extra_sheet_xml: str = "", dimension: str | None = None) -> Path:
    """A real workbook (openpyxl), then its sheet XML given extra rows before ``</sheetData>``."""
    wb = openpyxl.Workbook()
    for row in rows:
        wb.active.append(row)
    plain = path.with_suffix(".plain.xlsx")
    wb.save(plain)
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode("utf-8").replace("</sheetData>", extra_sheet_xml + "</sheetData>")
                if dimension:
                    text = text.replace('<dimension ref="A1:C2"/>', f'<dimension ref="{dimension}"/>')
                data = text.encode("utf-8")
            dst.writestr(item, data)
    plain.unlink()
    return path


HEADER = ["doctor_code", "doctor_name", "department"]


def test_the_5_kb_xlsx_bomb_fails_fast_in_constant_memory(db_path, tmp_path):
    bomb = _xlsx(tmp_path / "doctors.xlsx", [HEADER, ["D01", "王建国", "心内科"]],
                 '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>',
                 dimension="A1:XFD1048576")
    assert bomb.stat().st_size < 10_000
    code, stderr, seconds, peak_mb = mengui("load", db_path, bomb)
    assert code == 1 and str(bomb) in stderr
    assert "连续空行" in stderr or "列，超过上限" in stderr, stderr
    assert seconds < 5 and peak_mb < 400, (seconds, peak_mb)
    assert not connect(db_path).execute("SELECT count(*) FROM doctors").fetchone()[0]


def test_an_xlsx_with_2_million_empty_rows_fails_fast(db_path, tmp_path):
    empty_rows = "".join(f'<row r="{n}"/>' for n in range(3, 2_000_003))
    padded = _xlsx(tmp_path / "doctors.xlsx", [HEADER, ["D01", "王建国", "心内科"]], empty_rows)
    code, stderr, seconds, peak_mb = mengui("load", db_path, padded)
    assert code == 1 and "第 3 行起有超过 10,000 行连续空行" in stderr, stderr
    assert seconds < 10 and peak_mb < 400, (seconds, peak_mb)


def test_an_xlsx_loads_as_before_with_empty_rows_skipped_and_lines_counted(db_path, tmp_path):
    sheet = _xlsx(tmp_path / "doctors.xlsx", [HEADER, ["D01", "王建国", "心内科"], [None, None, None],
                                               ["D02", "@李红", "内分泌科"], [1234, 12.5, None]])
    result = load(db_path, sheet)
    assert result.exit_code == 1
    assert "第 4 行，列「doctor_name」：值「@李红」" in result.stderr  # the real row, after the empty one
    assert "第 5 行，列「doctor_code」" not in result.stderr  # 1234 reads as text "1234"


def test_a_huge_cell_in_an_xlsx_is_refused(db_path, tmp_path):
    huge = '<row r="3"><c r="B3" t="inlineStr"><is><t>' + "王" * 40_000 + "</t></is></c></row>"
    sheet = _xlsx(tmp_path / "doctors.xlsx", [HEADER, ["D01", "王建国", "心内科"]], huge)
    result = load(db_path, sheet)
    assert result.exit_code == 1 and "第 3 行第 2 列：单元格有 40,000 个字符，超过上限 32,767" in result.stderr


# ---------------------------------------------------------------- item 12: clear messages, never a traceback


def test_an_absurd_amount_gets_a_chinese_message(db_path, tmp_path):
    stderr = refused(db_path, tmp_path / "rx_items.csv", "rx_id,drug_name,amount,days_supply\n"
                     "R1,阿司匹林肠溶片,99999999999999999999999.99,99999999999999999999\n")
    assert "第 2 行，列「amount」：值「99999999999999999999999.99」 —— 金额过大" in stderr
    assert "第 2 行，列「days_supply」：值「99999999999999999999」 —— 应为非负整数" in stderr


def test_a_dangling_symlink_gets_a_chinese_message(db_path, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    link = folder / "prescriptions.csv"
    link.symlink_to(tmp_path / "gone.csv")
    for target in (link, folder):
        result = load(db_path, target)
        assert result.exit_code == 1
        assert f"{link} 是一个链接，但它指向的文件不存在" in result.stderr


def test_a_10_mb_cell_names_its_line(db_path, tmp_path):
    doctors = tmp_path / "doctors.csv"
    doctors.write_text("doctor_code,doctor_name\nD01,王建国\nD02,\"" + "长" * 3_500_000 + "\"\n", encoding="utf-8")
    result = load(db_path, doctors)
    assert result.exit_code == 1
    assert f"{doctors}，第 3 行：有一个值超过 1 MB" in result.stderr, result.stderr[:500]
    assert "straddl" not in result.stderr


def test_a_csv_renamed_xlsx_says_so(db_path, tmp_path):
    stderr = refused(db_path, tmp_path / "doctors.xlsx", "doctor_code,doctor_name\nD01,王建国\n")
    assert "无法读取 Excel 文件：不是 .xlsx 格式（内容是文本，看起来是 CSV 文件：请把扩展名改为 .csv）" in stderr
    assert "cannot be determined" not in stderr


def test_the_bench_generator_explains_itself(tmp_path):
    script = REPO / "bench" / "generate.py"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    helped = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, env=env)
    assert helped.returncode == 0 and "用法" in helped.stdout and "Traceback" not in helped.stderr
    wrong = subprocess.run([sys.executable, str(script), "很多", str(tmp_path)], capture_output=True, text=True,
                           env=env)
    assert wrong.returncode == 2 and "处方张数" in wrong.stderr and "Traceback" not in wrong.stderr
