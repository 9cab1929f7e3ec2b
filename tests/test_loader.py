"""Loading HIS exports: encodings, Chinese headers, XLSX, validation errors, idempotency."""

import datetime as dt
import pathlib
import sqlite3
import threading

import openpyxl
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mengui_core.errors import InputError, MenguiError
from mengui_core.ingest.loader import load_files
from mengui_core.ingest.parsing import parse_date
from mengui_core.db.schema import connect

RX_CN = "处方号,开方日期,参保人编号,姓名,险种,医师代码,科室,门规病种,处方金额\n"


def write(path, text, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def table(db_path, sql):
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def dump(db_path):
    """Everything users see, without the load log."""
    conn = sqlite3.connect(db_path)
    lines = [line for line in conn.iterdump() if "INTO \"loads\"" not in line and "sqlite_sequence" not in line]
    conn.close()
    return lines


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_chinese_exports_in_every_encoding(tmp_path, db_path, encoding):
    name = "王䶮" if encoding == "gb18030" else "王建国"  # 䶮 exists in GB18030 but not in GBK
    body = RX_CN + f"R001,2026/10/03 08:30,3701001,{name},城镇职工医疗保险,D01,心血管内科,M03900；M01600,\"1,234.50\"\n"
    path = write(tmp_path / "prescriptions.csv", body, encoding)
    result = load_files(connect(db_path), [path])
    assert result.files[0].rows == 1
    assert table(db_path, "SELECT rx_id, rx_date, rx_time, patient_name, disease_codes, total_amount_fen FROM prescriptions") == [
        ("R001", "2026-10-03", "08:30:00", name, "M03900;M01600", 123450)
    ]


def test_xlsx_with_chinese_headers_excel_dates_and_numbers(tmp_path, db_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["处方号", "序号", "医保药品代码", "药品通用名", "规格", "数量", "单位", "单价", "金额", "用药天数", "备注"])
    sheet.append(["R001", 1, "XC08CAA040A001010101234", "苯磺酸氨氯地平片", "5mg*28片", 2, "盒", 12.5, 25, 28, "门诊"])
    sheet.append(["R001", 2, None, "阿托伐他汀钙片", "20mg*7片", 1, "盒", 30.15, 30.15, None, None])
    book.save(tmp_path / "rx_items.xlsx")
    sheet2 = openpyxl.Workbook()
    s2 = sheet2.active
    s2.append(["参保人编号", "病种编码", "病种名称", "类别", "认定开始日期", "认定结束日期"])
    s2.append(["3701001", "M01609", "糖尿病黄斑水肿", "并发症", dt.datetime(2024, 3, 1), None])
    sheet2.save(tmp_path / "certifications.xlsx")
    load_files(connect(db_path), [tmp_path / "rx_items.xlsx", tmp_path / "certifications.xlsx"])
    assert table(db_path, "SELECT rx_id, line_no, drug_code, amount_fen, days_supply, unit_price FROM rx_items ORDER BY line_no") == [
        ("R001", 1, "XC08CAA040A001010101234", 2500, 28, "12.5"),
        ("R001", 2, None, 3015, None, "30.15"),
    ]
    assert table(db_path, "SELECT disease_code, kind, valid_from, valid_to FROM certifications") == [
        ("M01609", "complication", "2024-03-01", None)
    ]


def test_a_broken_row_is_named_and_nothing_is_written(tmp_path, db_path):
    good = write(tmp_path / "first" / "prescriptions.csv",
                 RX_CN + "R001,2026-10-03,3701001,张三,城镇职工医疗保险,D01,心血管内科,M03900,100.00\n")
    load_files(connect(db_path), [good])
    before = dump(db_path)
    doctors = write(tmp_path / "second" / "doctors.csv", "doctor_code,doctor_name\nD01,王医生\n")
    broken = write(
        tmp_path / "second" / "prescriptions.csv",
        RX_CN
        + "R001,2026-10-03,3701001,张三,城镇职工医疗保险,D01,心血管内科,M03900,90.00\n"
        + "R002,2026-10-04,3701002,李四,城镇职工医疗保险,D01,心血管内科,M03900,12.3.4\n"
        + "R003,2026-13-01,3701003,赵五,城镇职工医疗保险,D01,心血管内科,M03900,12.345\n"
        + "R004,2026-10-05,,孙六,城镇职工医疗保险,D01,心血管内科,M03900,10\n",
    )
    with pytest.raises(InputError) as info:
        load_files(connect(db_path), [doctors, broken])
    message = str(info.value)
    assert "输入文件有 4 处错误" in message
    assert f"{broken}，第 3 行，列「处方金额」：值「12.3.4」" in message
    assert "第 4 行，列「开方日期」：值「2026-13-01」" in message
    assert "第 4 行，列「处方金额」：值「12.345」" in message  # more than 2 decimals is not rounded
    assert "第 5 行，列「参保人编号」" in message and "必填" in message
    assert dump(db_path) == before  # not even the valid doctors file or the corrected R001


def test_missing_required_column_names_it(tmp_path, db_path):
    path = write(tmp_path / "rx_items.csv", "处方号,药品通用名\nR001,苯磺酸氨氯地平片\n")
    with pytest.raises(MenguiError, match=r"缺少必需的列 amount（金额）.*表头是：处方号、药品通用名"):
        load_files(connect(db_path), [path])


def test_unknown_file_kind_is_an_error(tmp_path, db_path):
    path = write(tmp_path / "export_2026.csv", "a,b\n1,2\n")
    with pytest.raises(MenguiError, match="无法从文件名判断"):
        load_files(connect(db_path), [path])


def test_loading_twice_changes_nothing(tmp_path, db_path):
    write(tmp_path / "in" / "prescriptions.csv",
          RX_CN + "R001,20261003,3701001,张三,城镇职工医疗保险,D01,心血管内科,M03900,100\n")
    write(tmp_path / "in" / "rx_items.csv",
          "rx_id,drug_name,amount,days_supply,extra_vendor_column\nR001,苯磺酸氨氯地平片,60,28,x\nR001,阿托伐他汀钙片,40,28,y\n")
    first = load_files(connect(db_path), [tmp_path / "in"])
    assert [(t.table, t.inserted) for t in first.tables] == [("prescriptions", 1), ("rx_items", 2)]
    snapshot = dump(db_path)
    second = load_files(connect(db_path), [tmp_path / "in"])
    assert [(t.table, t.inserted, t.replaced, t.unchanged) for t in second.tables] == [
        ("prescriptions", 0, 0, 1), ("rx_items", 0, 0, 2)]
    assert dump(db_path) == snapshot


def test_a_corrected_re_export_replaces_the_record_and_its_items(tmp_path, db_path):
    write(tmp_path / "v1" / "prescriptions.csv",
          RX_CN + "R001,2026-10-03,3701001,张三,城镇职工医疗保险,D01,心血管内科,M03900,100\n"
          + "R002,2026-10-03,3701002,李四,城镇职工医疗保险,D01,心血管内科,M03900,50\n")
    write(tmp_path / "v1" / "rx_items.csv",
          "rx_id,line_no,drug_name,amount\nR001,1,苯磺酸氨氯地平片,60\nR001,2,阿托伐他汀钙片,40\nR002,1,二甲双胍片,50\n")
    write(tmp_path / "v2" / "prescriptions.csv",
          RX_CN + "R001,2026-10-03,3701001,张三,城镇职工医疗保险,D01,心血管内科,M03900,60\n")
    write(tmp_path / "v2" / "rx_items.csv", "rx_id,line_no,drug_name,amount\nR001,1,苯磺酸氨氯地平片,60\n")
    load_files(connect(db_path), [tmp_path / "v1"])
    result = load_files(connect(db_path), [tmp_path / "v2"])
    assert [(t.table, t.inserted, t.replaced, t.unchanged) for t in result.tables] == [
        ("prescriptions", 0, 1, 0), ("rx_items", 0, 1, 0)]
    assert table(db_path, "SELECT rx_id, total_amount_fen FROM prescriptions ORDER BY rx_id") == [("R001", 6000), ("R002", 5000)]
    assert table(db_path, "SELECT rx_id, line_no, drug_name FROM rx_items ORDER BY rx_id, line_no") == [
        ("R001", 1, "苯磺酸氨氯地平片"), ("R002", 1, "二甲双胍片")]


def test_one_record_with_two_contents_in_a_load_is_a_conflict(tmp_path, db_path):
    write(tmp_path / "a" / "doctors.csv", "医师代码,医师姓名,科室\nD01,王建国,心血管内科\n")
    write(tmp_path / "b" / "doctors.csv", "医师代码,医师姓名,科室\nD01,王建国,心血管内科\nD02,李红,内分泌科\n")
    # identical repeats across files are fine
    load_files(connect(db_path), [tmp_path / "a", tmp_path / "b"])
    assert table(db_path, "SELECT count(*) FROM doctors") == [(2,)]
    write(tmp_path / "c" / "doctors.csv", "医师代码,医师姓名,科室\nD03,张伟,肾内科\nD03,张玮,肾内科\n")
    with pytest.raises(InputError, match=r"D03.*内容不同.*第 2 行.*第 3 行"):
        load_files(connect(db_path), [tmp_path / "c"])
    assert table(db_path, "SELECT count(*) FROM doctors") == [(2,)]


def test_the_database_is_in_wal_mode(tmp_path, db_path):
    connect(db_path)
    assert table(db_path, "PRAGMA journal_mode") == [("wal",)]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "文件为空，没有表头"),
        ("rx_id,drug_name,amount\nR1,苯磺酸氨氯地平片,1.00\nR2,阿托伐他汀钙片,2.00,7\n".encode(), "第 3 行：有 4 列，而表头只有 3 列"),
        (b"\xff\xfe\x00\x01\x80\x80", "文件编码无法识别"),
        ("rx_id,drug_name,amount\nR1,苯磺酸氨氯地平片,1.00\nR2,阿托伐他汀钙片\n".encode(), "第 3 行：只有 2 列，而表头有 3 列"),
    ],
)
def test_malformed_csv_files_get_a_located_message(tmp_path, db_path, content, message):
    path = tmp_path / "rx_items.csv"
    path.write_bytes(content)
    with pytest.raises(MenguiError, match=message):
        load_files(connect(db_path), [path])
    assert table(db_path, "SELECT count(*) FROM rx_items") == [(0,)]


def test_optional_columns_take_their_defaults(tmp_path, db_path):
    path = write(tmp_path / "certifications.csv", "参保人编号,病种编码,认定开始日期\n3701001,M03900,2020-01-01\n")
    load_files(connect(db_path), [path])
    assert table(db_path, "SELECT patient_id, disease_code, kind FROM certifications") == [("3701001", "M03900", "disease")]


def _data(db_path):
    """The dump without the times the migrations were applied at."""
    return [line for line in dump(db_path) if '"_migrations"' not in line]


def _load_both_ways(monkeypatch, tmp_path, paths):
    """Load ``paths`` into two fresh databases, with and without the parse worker process."""
    import mengui_core.ingest.loader as loader

    outcomes = []
    for worker in (True, False):
        monkeypatch.setattr(loader, "PARSE_WORKER", worker)
        db = tmp_path / f"worker-{worker}.db"
        read: list[tuple[int, int]] = []
        try:
            result = load_files(connect(db), paths, progress=lambda n: read.append((n, threading.get_ident())))
            # the progress bar: every byte, reported on the loading thread (Arrow reads ahead on its own)
            assert {thread for _, thread in read} == {threading.get_ident()}
            outcomes.append((_data(db), [(t.table, t.inserted) for t in result.tables], result.warnings,
                             sum(n for n, _ in read)))
        except MenguiError as ex:
            outcomes.append((_data(db), str(ex)))
    return outcomes


def test_the_parse_worker_loads_exactly_what_parsing_in_process_loads(monkeypatch, tmp_path):
    from mengui_core.demo.data import write_demo_inputs
    from mengui_core.ingest.loader import _use_worker

    manifest = write_demo_inputs(tmp_path / "exports", ["2026-09", "2026-10"])
    paths = [pathlib.Path(m["dir"]) for m in manifest["months"].values()]
    # small reading blocks: each file is read in many, as a city's files are (Arrow reads ahead on a
    # thread of its own; the worker's messages must still reach this process whole and in order)
    monkeypatch.setattr("mengui_core.ingest.loader.CSV_BLOCK_BYTES", 4096)
    with_worker, in_process = _load_both_ways(monkeypatch, tmp_path, paths)
    assert with_worker == in_process
    assert dict(with_worker[1])["rx_items"] == sum(m["items"] for m in manifest["months"].values())
    assert with_worker[3] == sum(f.stat().st_size for path in paths for f in path.glob("*.csv"))  # the progress bar
    monkeypatch.setattr("mengui_core.ingest.loader.PARSE_WORKER", True)
    assert _use_worker()  # this machine has more than one core: the first load above used the worker


def test_the_parse_worker_reports_bad_files_like_parsing_in_process(monkeypatch, tmp_path):
    broken = pathlib.Path(__file__).parent / "broken"
    for name in ("rx_items_bad_money.csv", "claims_bad_encoding.csv", "doctors_empty.csv"):
        with_worker, in_process = _load_both_ways(monkeypatch, tmp_path, [broken / name])
        assert with_worker == in_process
        assert "第" in with_worker[1] or "文件" in with_worker[1]


def test_a_quoted_value_may_span_lines(tmp_path, db_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "prescriptions.csv").write_text(
        "rx_id,rx_date,patient_id,doctor_code,department\n"
        'R1,2026-10-03,P1,D01,"心血管\n内科"\nR2,2026-10-04,P1,D01,内分泌科\n', encoding="utf-8")
    load_files(connect(db_path), [folder])
    assert table(db_path, "SELECT rx_id, department FROM prescriptions ORDER BY 1") == [
        ("R1", "心血管\n内科"), ("R2", "内分泌科")]


@given(st.lists(st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{2}:[0-9]{2}:[0-9]{2})?\Z"), min_size=1, max_size=30),
       st.booleans())
def test_the_iso_date_shortcut_agrees_with_the_general_date_parser(values, with_time):
    """A chunk all in YYYY-MM-DD[ HH:MM:SS] takes a shortcut; one other-style value sends the same
    values down the general path. Both give the same dates, times and refusals (2026-02-30, 25:00)."""
    column = pa.array(values + [""])
    general = pa.array(values + ["2026/1/1"])  # not ISO: the whole chunk takes the general path
    (fast, slow) = (parse_date(column, with_time), parse_date(general, with_time))
    n = len(values)
    if with_time:
        assert fast[0][0].to_pylist()[:n] == slow[0][0].to_pylist()[:n]
        assert fast[0][1].to_pylist()[:n] == slow[0][1].to_pylist()[:n]
    else:
        assert fast[0].to_pylist()[:n] == slow[0].to_pylist()[:n]
    assert fast[1].tolist()[:n] == slow[1].tolist()[:n]


def test_a_file_with_only_its_header_loads_nothing_and_still_has_its_columns_checked(tmp_path, db_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "prescriptions.csv").write_text("rx_id,rx_date,patient_id,doctor_code\nR1,2026-10-03,P1,D01\n",
                                              encoding="utf-8")
    (folder / "certifications.csv").write_text("参保人编号,病种编码,认定开始日期\n", encoding="utf-8")
    result = load_files(connect(db_path), [folder])
    assert {t.table: t.inserted for t in result.tables} == {"certifications": 0, "prescriptions": 1}
    (folder / "certifications.csv").write_text("参保人编号,认定开始日期\n", encoding="utf-8")
    with pytest.raises(MenguiError, match="缺少必需的列 disease_code"):
        load_files(connect(db_path), [folder])
