"""The monthly report (月报) and its SVG charts, read the way the 医保办 reads them."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from mengui_core.outputs.charts import check_colours, horizontal_bars, stacked_bars
from mengui_core.plugins import get_checks
from mengui_core.outputs.report import render_month_report
from mengui_core.db.schema import connect

SVG = "{http://www.w3.org/2000/svg}"
TITLES = {
    "amount_cap": "超限额处方",
    "duplicate_drug": "重复用药",
    "same_effect_drug": "相同疗效药品",
    "uncertified": "无有效门规认定",
}
# Patients: an 18-digit identity-number-like id, and one with a name that a plugin's
# detail text quotes.
P1, P1_NAME = "370102199001011234", "张三丰"
P2, P2_NAME = "CARD-88812345", "欧阳娜娜"
P3, P3_NAME = "370181195505055678", "司马光明"
PATIENTS = [(P1, P1_NAME), (P2, P2_NAME), (P3, P3_NAME)]


def _checks(*ids_and_review):
    return json.dumps([{"id": cid, "plugin": cid, "needs_review": review} for cid, review in ids_and_review],
                      ensure_ascii=False)


JINAN_CHECKS = _checks(("amount_cap", True), ("duplicate_drug", False), ("same_effect_drug", False),
                       ("uncertified", True))


def _run(conn, month, version="2026.1", notes=None, started="2026-04-02T09:00:00+08:00"):
    cursor = conn.execute(
        "INSERT INTO audit_runs (month, ruleset, ruleset_version, checks, plugins, started_at, finished_at, "
        "flag_count, notes) VALUES (?, 'jinan', ?, ?, '[]', ?, ?, 0, ?)",
        (month, version, JINAN_CHECKS, started, started, notes),
    )
    return cursor.lastrowid


def _rx(conn, rx_id, date, patient, doctor, department, amount_fen):
    name = dict(PATIENTS)[patient]
    conn.execute(
        "INSERT INTO prescriptions (rx_id, rx_date, patient_id, patient_name, doctor_code, department, "
        "disease_codes, total_amount_fen) VALUES (?, ?, ?, ?, ?, ?, 'M03900', ?)",
        (rx_id, date, patient, name, doctor, department, amount_fen),
    )


def _flag(conn, rx_id, check_id, date, patient, doctor, department, detail, run_id, needs_review,
          amount=None, limit=None):
    conn.execute(
        "INSERT INTO flags (rx_id, check_id, month, rx_date, doctor_code, department, patient_id, detail, "
        "amount_fen, limit_fen, related_rx_id, run_id, needs_review) VALUES (?,?,?,?,?,?,?,?,?,?,NULL,?,?)",
        (rx_id, check_id, date[:7], date, doctor, department, patient, detail, amount, limit, run_id,
         needs_review),
    )


def _verdict(conn, rx_id, check_id, verdict):
    conn.execute(
        "INSERT INTO verdicts (rx_id, check_id, verdict, reviewer, reviewed_at, note) "
        "VALUES (?, ?, ?, '药事委员会', '2026-04-05', '')",
        (rx_id, check_id, verdict),
    )


@pytest.fixture
def conn(tmp_path):
    """Three audited months in the window 2025-10 … 2026-03 (2025-12, 2026-01, 2026-03);
    2026-02 has prescriptions but was never audited."""
    conn = connect(tmp_path / "r.db")
    conn.executemany(
        "INSERT INTO doctors (doctor_code, doctor_name, department, qualified) VALUES (?, ?, ?, 1)",
        [("D01", "王建国", "心血管内科"), ("D02", "李秀英", "内分泌科"), ("D03", "赵德明", "全科医学科")],
    )
    # 2025-12: one flag.
    r12 = _run(conn, "2025-12", started="2026-01-03T09:00:00+08:00")
    _rx(conn, "RX1201", "2025-12-08", P3, "D01", "心血管内科", 4000)
    _flag(conn, "RX1201", "duplicate_drug", "2025-12-08", P3, "D01", "心血管内科", "重复用药", r12, 0)
    # 2026-01: two amount_cap flags, one unflagged prescription.
    r01 = _run(conn, "2026-01", started="2026-02-03T09:00:00+08:00")
    _rx(conn, "RX0101", "2026-01-05", P1, "D01", "心血管内科", 20000)
    _rx(conn, "RX0102", "2026-01-06", P2, "D02", "内分泌科", 31000)
    _rx(conn, "RX0103", "2026-01-07", P3, "D03", "全科医学科", 5000)
    _flag(conn, "RX0101", "amount_cap", "2026-01-05", P1, "D01", "心血管内科", "超限额", r01, 1, 20000, 15000)
    _flag(conn, "RX0102", "amount_cap", "2026-01-06", P2, "D02", "内分泌科", "超限额", r01, 1, 31000, 30000)
    # 2026-02: loaded, never audited.
    _rx(conn, "RX0201", "2026-02-03", P1, "D01", "心血管内科", 90000)
    _rx(conn, "RX0202", "2026-02-04", P2, "D02", "内分泌科", 90000)

    # 2026-03: an older run, then the run that counts.
    _run(conn, "2026-03", version="2026.0", started="2026-04-01T09:00:00+08:00")
    r03 = _run(conn, "2026-03", version="2026.2", notes="未导入门规认定数据：病种数按处方登记病种计算",
               started="2026-04-02T10:30:00+08:00")
    # A split prescription: one visit (P1, D01, 2026-03-05) of two prescriptions, 1,650.00 元
    # against a 150.00 元 cap → 1,500.00 元 over, counted once.
    _rx(conn, "RX0301", "2026-03-05", P1, "D01", "心血管内科", 100000)
    _rx(conn, "RX0302", "2026-03-05", P1, "D01", "心血管内科", 65000)
    _rx(conn, "RX0303", "2026-03-10", P2, "D02", "内分泌科", 30001)
    _rx(conn, "RX0304", "2026-03-12", P2, "D02", "内分泌科", 8000)
    _rx(conn, "RX0305", "2026-03-02", P3, "D03", "全科医学科", 1008)
    _rx(conn, "RX0306", "2026-03-20", P3, "D03", "全科医学科", 3000)  # not flagged
    _rx(conn, "RX0401", "2026-04-01", P3, "D03", "全科医学科", 3000)  # next month
    visit = "单病种患者同日同医师共 2 张处方（分解处方合并计算）药品金额 1,650.00 元，超过每次限额 150.00 元"
    _flag(conn, "RX0301", "amount_cap", "2026-03-05", P1, "D01", "心血管内科", visit, r03, 1, 165000, 15000)
    _flag(conn, "RX0302", "amount_cap", "2026-03-05", P1, "D01", "心血管内科", visit, r03, 1, 165000, 15000)
    _flag(conn, "RX0301", "same_effect_drug", "2026-03-05", P1, "D01", "心血管内科",
          "相同疗效药品：阿托伐他汀钙片与瑞舒伐他汀钙片", r03, 0)
    _flag(conn, "RX0303", "amount_cap", "2026-03-10", P2, "D02", "内分泌科",
          "多病种患者药品金额 300.01 元，超过每次限额 300.00 元", r03, 1, 30001, 30000)
    _flag(conn, "RX0304", "duplicate_drug", "2026-03-12", P2, "D02", "内分泌科",
          f"重复用药：患者 {P2_NAME}（{P2}）的「二甲双胍片」", r03, 0)
    _flag(conn, "RX0305", "uncertified", "2026-03-02", P3, "D03", "全科医学科",
          f"参保人 {P3}（{P3_NAME}）在 2026-03-02 没有有效的门规病种认定", r03, 1, 1008)
    _verdict(conn, "RX0301", "amount_cap", "unreasonable")  # RX0302 of the same visit: pending
    _verdict(conn, "RX0303", "amount_cap", "reasonable")
    # The ladder's output for 2026-03.
    conn.execute("INSERT INTO disclosure_revisions (month, revision, created_at, ladder, ruleset, doctors, pending) "
                 "VALUES ('2026-03', 1, '2026-04-06T09:00:00+08:00', 'three_strike', 'jinan', 2, 2)")
    conn.executemany(
        "INSERT INTO disclosures (month, doctor_code, doctor_name, department, level, action, unreasonable_count, "
        "reasons, revision) VALUES ('2026-03', ?, ?, ?, ?, ?, ?, ?, 1)",
        [("D01", "王建国", "心血管内科", 2, "publish_name", 1, "超限额处方 1 张；相同疗效药品 1 张"),
         ("D02", None, None, 1, "publish_code", 1, "重复用药 1 张")],
    )
    yield conn
    conn.close()


# ---------------------------------------------------------------- helpers


class _Tables(HTMLParser):
    """Well-formedness check (every non-void element closed, in order) and the text of each
    table's rows, by the id of the enclosing <section>."""

    VOID = {"meta", "br", "hr", "img", "input", "link", "col", "source", "wbr", "area", "base", "embed", "track"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.section = None
        self.tables: dict[str, list[list[str]]] = {}
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.doctype = False

    def handle_decl(self, decl):
        self.doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag not in self.VOID:
            self.stack.append(tag)
        if tag == "section":
            self.section = attrs.get("id")
        if tag == "tr":
            self.row = []
        if tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()
        if tag in ("td", "th") and self.row is not None and self.cell is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        if tag == "tr" and self.row is not None:
            self.tables.setdefault(self.section, []).append(self.row)
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def parse(html_text: str) -> _Tables:
    parser = _Tables()
    parser.feed(html_text)
    parser.close()
    assert parser.doctype, "missing <!DOCTYPE html>"
    assert not parser.errors, parser.errors[:5]
    assert not parser.stack, f"unclosed: {parser.stack}"
    return parser


def kpi_cards(html_text: str) -> dict[str, str]:
    """KPI label → the card's text (value and sub-line), whitespace-collapsed."""
    cards = {}
    for block in re.findall(r'<div class="kpi[^"]*">(.*?)</div></div>', html_text, flags=re.S):
        label = re.search(r'<div class="label">(.*?)</div>', block).group(1)
        text = re.sub(r"<[^>]+>", " ", block)
        cards[label] = re.sub(r"\s+", " ", text).strip()
    return cards


def svgs(html_text: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", html_text, flags=re.S)]


def table(parser: _Tables, section: str) -> list[dict[str, str]]:
    rows = parser.tables[section]
    header, body = rows[0], rows[1:]
    return [dict(zip(header, row)) for row in body]


# ---------------------------------------------------------------- the report


def test_report_is_a_standalone_chinese_page(conn):
    html_text = render_month_report(conn, "2026-03", TITLES)
    parse(html_text)
    assert html_text.startswith("<!DOCTYPE html>")
    assert '<html lang="zh-CN">' in html_text
    assert '<meta charset="utf-8">' in html_text
    assert '"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei","PingFang SC",sans-serif' in html_text
    assert "<h1>2026 年 3 月门规处方审核月报</h1>" in html_text
    # no JavaScript, no external resources
    lowered = html_text.lower()
    for needle in ("<script", "javascript:", "onload=", "<link", "src=", "@import", "url(http", "href=\"http"):
        assert needle not in lowered, needle
    # the latest run of the month, with its notes
    assert "版本 2026.2" in html_text and "版本 2026.0" not in html_text
    assert "2026-04-02 10:30" in html_text
    assert "未导入门规认定数据：病种数按处方登记病种计算" in html_text
    assert "本月共审核 2 次" in html_text


def test_kpis(conn):
    cards = kpi_cards(render_month_report(conn, "2026-03", TITLES))
    assert cards["审核处方数"].startswith("审核处方数 6 张")  # RX0301–RX0306, not February's, not April's
    assert "标记 6 条" in cards["标记"] and "涉及处方 5 张" in cards["标记"]
    # RX0301 (不合理 verdict + a same-effect flag) and RX0304 (duplicate, counts unless ruled 合理)
    assert cards["不合理处方"].startswith("不合理处方 2 张")
    assert cards["待审核"].startswith("待审核 2 条")  # RX0302's cap flag and RX0305
    # 1,500.00 元 (one visit, two flagged prescriptions — counted once) + 0.01 元
    assert cards["超限额金额"].startswith("超限额金额 1,500.01 元"), cards["超限额金额"]
    assert "3,000.01" not in cards["超限额金额"]
    assert "2 次就诊超限" in cards["超限额金额"]
    assert "其中已判不合理 1,500.00 元" in cards["超限额金额"]
    assert cards["公示医师"].startswith("公示医师 2 人")
    assert "三级 0 · 二级 1 · 一级 1" in cards["公示医师"]


def test_per_check_table(conn):
    rows = {r["规则"]: r for r in table(parse(render_month_report(conn, "2026-03", TITLES)), "checks")}
    cap = next(v for k, v in rows.items() if k.startswith("超限额处方"))
    assert (cap["标记数"], cap["不合理"], cap["合理"], cap["待审核"], cap["计入未复核"]) == ("3", "1", "1", "1", "0")
    dup = next(v for k, v in rows.items() if k.startswith("重复用药"))
    assert (dup["标记数"], dup["计入未复核"]) == ("1", "1")
    unc = next(v for k, v in rows.items() if k.startswith("无有效门规认定"))
    assert unc["待审核"] == "1"
    total = rows["合计"]
    assert (total["标记数"], total["不合理"], total["合理"], total["待审核"], total["计入未复核"]) == \
        ("6", "1", "1", "2", "2")


def test_per_doctor_table_and_disclosure_level(conn):
    rows = table(parse(render_month_report(conn, "2026-03", TITLES)), "doctors")
    assert [r["医师代码"] for r in rows] == ["D01", "D02", "D03"]  # most flags first
    d01, d02, d03 = rows
    assert (d01["姓名"], d01["科室"], d01["标记数"], d01["不合理处方数"], d01["待审核"]) == \
        ("王建国", "心血管内科", "3", "1", "1")
    assert d01["本月公示级别"].startswith("二级")
    assert d02["本月公示级别"].startswith("一级")
    assert (d02["标记数"], d02["不合理处方数"]) == ("2", "1")
    assert d03["本月公示级别"] == "—"


def test_disclosure_summary_hides_level_1_names(conn):
    rows = table(parse(render_month_report(conn, "2026-03", TITLES)), "disclosures")
    assert [(r["级别"][:2], r["医师代码"], r["姓名"], r["不合理处方数"]) for r in rows] == [
        ("二级", "D01", "王建国", "1"),
        ("一级", "D02", "（一级不公示姓名）", "1"),
    ]


def test_pending_list_oldest_first_without_patient_identity(conn):
    html_text = render_month_report(conn, "2026-03", TITLES)
    rows = table(parse(html_text), "pending")
    assert [(r["处方号"], r["规则"], r["日期"]) for r in rows] == [
        ("RX0305", "无有效门规认定", "2026-03-02"),
        ("RX0302", "超限额处方", "2026-03-05"),
    ]
    assert rows[0]["医师"] == "D03 赵德明"
    assert "没有有效的门规病种认定" in rows[0]["原因"]
    assert "1,650.00 元" in rows[1]["原因"]
    # Patients are never identified anywhere in the report — not even inside a detail text.
    for patient_id, name in PATIENTS:
        assert patient_id not in html_text
        assert name not in html_text


def test_trend_marks_the_never_audited_month(conn):
    html_text = render_month_report(conn, "2026-03", TITLES)
    trend = svgs(html_text)[0]
    assert trend.get("role") == "img"
    assert trend.find(f"{SVG}title").text.startswith("近 6 个月")
    bars = {g.get("data-category"): g for g in trend.iter(f"{SVG}g") if g.get("class") == "bar"}
    assert list(bars) == ["2025年10月", "2025年11月", "2025年12月", "2026年1月", "2026年2月", "2026年3月"]

    def texts(g):
        return ["".join(t.itertext()) for t in g.iter(f"{SVG}text")]

    assert "未审核" in texts(bars["2026年2月"])  # never audited: not a zero bar
    assert "未审核" not in texts(bars["2026年1月"]) and "2" in texts(bars["2026年1月"])
    assert "6" in texts(bars["2026年3月"]) and "1" in texts(bars["2025年12月"])
    rows = {r["月份"]: r for r in table(parse(html_text), "trend")}
    assert rows["2026年2月"]["审核处方数"].startswith("未审核")
    assert rows["2026年1月"]["标记数"] == "2"


def test_department_chart_and_table(conn):
    html_text = render_month_report(conn, "2026-03", TITLES)
    rows = {r["科室"]: r for r in table(parse(html_text), "departments")}
    assert rows["心血管内科"]["超限额处方"] == "2" and rows["心血管内科"]["合计"] == "3"
    assert rows["内分泌科"]["重复用药"] == "1"
    chart = svgs(html_text)[1]
    assert [g.get("data-category") for g in chart.iter(f"{SVG}g") if g.get("class") == "row"] == \
        ["心血管内科", "内分泌科", "全科医学科"]
    # one colour per check, the same in both charts
    fills = {r.get("fill") for svg in svgs(html_text) for r in svg.iter(f"{SVG}rect")}
    checks = get_checks()
    assert checks["amount_cap"].colour in fills and checks["duplicate_drug"].colour in fills


def test_unknown_check_ids_fall_back_to_the_id(conn):
    html_text = render_month_report(conn, "2026-03", {"amount_cap": "超限额处方"})
    rows = {r["规则"].split()[0] if r["规则"] else "": r for r in table(parse(html_text), "checks")}
    assert any(k.startswith("uncertified") for k in rows)
    assert "超限额处方" in html_text


def test_unaudited_month_raises(conn):
    with pytest.raises(ValueError, match="尚未审核"):
        render_month_report(conn, "2026-02", TITLES)
    with pytest.raises(ValueError, match="YYYY-MM"):
        render_month_report(conn, "2026-13", TITLES)


def test_disclosure_list_not_yet_generated(conn):
    conn.execute("DELETE FROM disclosures")
    conn.execute("DELETE FROM disclosure_revisions")
    html_text = render_month_report(conn, "2026-03", TITLES)
    parse(html_text)
    assert "本月公示名单尚未生成" in html_text
    assert kpi_cards(html_text)["公示医师"].startswith("公示医师 0 人")
    rows = table(parse(html_text), "doctors")
    assert all(r["本月公示级别"] == "—" for r in rows)


def test_month_without_flags(conn):
    html_text = render_month_report(conn, "2025-12", TITLES)
    parse(html_text)
    html_text = render_month_report(conn, "2026-01", TITLES)
    assert "没有待审核的标记" not in html_text  # both January flags still await a verdict
    conn.execute("DELETE FROM flags WHERE month = '2026-01'")
    html_text = render_month_report(conn, "2026-01", TITLES)
    parse(html_text)
    assert "本月没有标记" in html_text and "没有待审核的标记" in html_text
    assert kpi_cards(html_text)["超限额金额"].startswith("超限额金额 0.00 元")


# ---------------------------------------------------------------- charts


def test_stacked_bars_valid_svg_with_missing_category():
    svg = stacked_bars(["1月", "2月", "3月"], {"超限额处方": [3, None, 0], "重复用药": [1, None, 0]},
                       title="趋势", missing=["2月"], colors={"超限额处方": "#D55E00"})
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.find(f"{SVG}title").text == "趋势"
    assert root.get("aria-labelledby").split() == [root.find(f"{SVG}title").get("id"), root.find(f"{SVG}desc").get("id")]
    bars = {g.get("data-category"): ["".join(t.itertext()) for t in g.iter(f"{SVG}text")]
            for g in root.iter(f"{SVG}g") if g.get("class") == "bar"}
    assert "未审核" in bars["2月"]
    assert "0" in bars["3月"] and "未审核" not in bars["3月"]  # audited, nothing found: a real zero
    assert "4" in bars["1月"]
    legend = ["".join(t.itertext()) for g in root.iter(f"{SVG}g") if g.get("class") == "legend-item"
              for t in g.iter(f"{SVG}text")]
    assert legend == ["超限额处方", "重复用药", "未审核"]
    assert "2月：未审核" in root.find(f"{SVG}desc").text


def test_all_none_category_counts_as_missing():
    root = ET.fromstring(stacked_bars(["a", "b"], {"x": [1, None]}, title="t"))
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "未审核" in texts


def test_chart_text_is_escaped():
    nasty = '<script>alert("x")</script> & 科室\x01'
    for svg in (
        stacked_bars([nasty, "b"], {nasty: [1, 2]}, title=nasty),
        horizontal_bars([nasty, "内科"], {nasty: [1, 2], "重复用药": [0, 3]}, title=nasty),
    ):
        assert "<script>" not in svg
        root = ET.fromstring(svg)  # valid XML despite <, &, quotes and a control character
        assert root.find(f"{SVG}title").text == '<script>alert("x")</script> & 科室'


def test_horizontal_bars_rows_and_long_labels():
    long_name = "消化内科（肝病）与感染性疾病联合门诊第二诊区"
    svg = horizontal_bars(["全科医学科", long_name], {"超限额处方": [3, 1], "重复用药": [2, 0]},
                          title="各科室", colors={"超限额处方": "#D55E00", "重复用药": "#0072B2"}, unit="条")
    root = ET.fromstring(svg)
    rows = [g for g in root.iter(f"{SVG}g") if g.get("class") == "row"]
    assert [g.get("data-category") for g in rows] == ["全科医学科", long_name]
    label = rows[1].find(f"{SVG}text")
    assert label.find(f"{SVG}title").text == long_name  # full name kept for the tooltip
    assert "".join(label.itertext()).endswith("…")
    totals = ["".join(t.itertext()) for t in root.iter(f"{SVG}text") if t.get("class") == "total"]
    assert totals == ["5条", "1条"]
    assert {r.get("fill") for r in root.iter(f"{SVG}rect")} >= {"#D55E00", "#0072B2"}


def test_empty_charts_are_still_valid():
    ET.fromstring(horizontal_bars([], {}, title="空"))
    ET.fromstring(stacked_bars([], {}, title="空"))
    ET.fromstring(stacked_bars(["1月"], {"x": [0]}, title="零"))


def test_a_check_has_one_colour_whatever_else_is_charted():
    checks = get_checks()
    builtin = {c.id: c.colour for c in checks.values()}
    assert len(set(builtin.values())) == len(builtin)  # the built-in checks are told apart
    ids = ["custom_a", "amount_cap", "custom_b", "duplicate_drug"] + [f"extra_{i}" for i in range(12)]
    colours = check_colours(ids, builtin)
    assert colours["amount_cap"] == builtin["amount_cap"] and colours["duplicate_drug"] == builtin["duplicate_drug"]
    # a check's colour depends on its id (and its plugin), never on which other checks are charted
    assert check_colours(["custom_b"], builtin)["custom_b"] == colours["custom_b"]
    assert check_colours(list(reversed(ids)), builtin) == colours
    assert check_colours(["custom_a"], {"custom_a": "#123456"}) == {"custom_a": "#123456"}
