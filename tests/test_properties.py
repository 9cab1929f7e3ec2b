"""Property tests (hypothesis): valid exports round-trip; corrupted ones load correctly or are refused whole."""

import csv
import io
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mengui_core.errors import MenguiError
from mengui_core.ingest.loader import load_files
from mengui_core.db.schema import connect

HANZI = "王李张刘陈杨黄赵周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤建国秀英桂兰明华红梅志强"

row = st.fixed_dictionaries({
    "date": st.dates(min_value=__import__("datetime").date(2024, 1, 1), max_value=__import__("datetime").date(2026, 12, 31)),
    "time": st.one_of(st.none(), st.times().map(lambda t: t.replace(microsecond=0))),
    "patient": st.text("0123456789", min_size=6, max_size=18),
    "name": st.text(HANZI, min_size=2, max_size=4),
    "doctor": st.from_regex(r"[A-Z]{2}[0-9]{3,5}", fullmatch=True),
    "codes": st.lists(st.sampled_from(["M03900", "M01600", "M04600", "M0390001", "M01609"]), max_size=3, unique=True),
    "fen": st.integers(min_value=0, max_value=99_999_999),
    "style": st.sampled_from(["plain", "thousands", "yen", "fullwidth", "spaces"]),
    "date_style": st.sampled_from(["-", "/", "compact"]),
})


def money_text(fen: int, style: str) -> str:
    text = f"{fen // 100}.{fen % 100:02d}"
    if style == "thousands":
        text = f"{fen // 100:,}.{fen % 100:02d}"
    elif style == "yen":
        text = "￥" + text  # full-width yen: what GBK exports can hold
    elif style == "fullwidth":
        text = text.translate(str.maketrans("0123456789.", "０１２３４５６７８９．"))
    elif style == "spaces":
        text = f"  {text} "
    return text


def date_text(day, style: str, time) -> str:
    text = {"-": day.isoformat(), "/": f"{day.year}/{day.month}/{day.day}", "compact": day.strftime("%Y%m%d")}[style]
    return f"{text} {time.isoformat()}" if time is not None else text


def write_prescriptions(folder: Path, rows, encoding: str) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["处方号", "开方日期", "参保人编号", "姓名", "医师代码", "门规病种", "处方金额"])
    for index, r in enumerate(rows):
        writer.writerow([f"R{index:06d}", date_text(r["date"], r["date_style"], r["time"]), r["patient"], r["name"],
                         r["doctor"], ";".join(r["codes"]), money_text(r["fen"], r["style"])])
    path = folder / "prescriptions.csv"
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(row, min_size=1, max_size=25), encoding=st.sampled_from(["utf-8", "utf-8-sig", "gbk", "gb18030"]))
def test_valid_exports_round_trip(rows, encoding):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = write_prescriptions(folder, rows, encoding)
        conn = connect(folder / "m.db")
        load_files(conn, [path])
        stored = conn.execute("SELECT rx_date, rx_time, patient_id, patient_name, doctor_code, disease_codes, "
                              "total_amount_fen FROM prescriptions ORDER BY rx_id").fetchall()
        conn.close()
    expected = [(r["date"].isoformat(), r["time"].isoformat() if r["time"] is not None else None, r["patient"],
                 r["name"], r["doctor"], ";".join(r["codes"]) or None, r["fen"]) for r in rows]
    assert [tuple(s) for s in stored] == expected


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(row, min_size=2, max_size=10), data=st.data())
def test_corrupted_exports_load_correctly_or_are_refused_whole(rows, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = folder / "m.db"
        conn = connect(db)
        seed = folder / "seed"
        seed.mkdir()
        (seed / "doctors.csv").write_text("doctor_code,doctor_name\nZZ001,王建国\n", encoding="utf-8")
        load_files(conn, [seed])
        before = list(sqlite3.connect(db).iterdump())
        path = write_prescriptions(folder, rows, "utf-8")
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        target = data.draw(st.integers(min_value=1, max_value=len(lines) - 1))
        cells = next(csv.reader([lines[target]]))
        column = data.draw(st.integers(min_value=0, max_value=len(cells) - 1))
        cells[column] = data.draw(st.text(max_size=12))
        buffer = io.StringIO()
        csv.writer(buffer).writerow(cells)
        lines[target] = buffer.getvalue()
        path.write_text("".join(lines), encoding="utf-8")
        try:
            load_files(conn, [path])
        except MenguiError as error:
            assert str(error)  # a located message …
            assert list(sqlite3.connect(db).iterdump()) == before  # … and nothing written
        else:
            count = conn.execute("SELECT count(*) FROM prescriptions").fetchone()[0]
            assert count >= 1  # loaded: the corruption was still a valid value (or an ignored column)
        conn.close()
