"""The disclosure list's output formats: CSV contract, printable XLSX, Markdown and HTML."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser

import openpyxl
import pytest

from mengui_core.publish.disclosure import CSV_COLUMNS, DRAFT_NOTICE, Disclosure, DisclosureRow
from mengui_core.outputs.disclosure_list import (
    DEFAULT_SUFFIX,
    FORMATS,
    TABLE_HEADERS,
    render_html,
    render_markdown,
    write_csv,
    write_xlsx,
)

MONTH = "2024-05"
PENDING_NOTE = "另有 2 条标记尚待药事委员会审核，未计入本名单"
EMPTY_TEXT = "本月无不合理处方医师"


def make_disclosure(rows=None, **kwargs) -> Disclosure:
    if rows is None:
        rows = [
            DisclosureRow(MONTH, "YS0101", None, None, 1, "publish_code", 1, "超限额处方 1 张"),
            DisclosureRow(MONTH, "YS0302", "王<b>五", "心血管内科", 3, "revoke", 4,
                          "超限额处方 2 张；重复用药 2 张"),
            DisclosureRow(MONTH, "YS0203", "李建国", "内分泌科", 2, "publish_name", 2, "重复用药 2 张"),
            DisclosureRow(MONTH, "YS0099", None, None, 1, "publish_code", 3, "相同疗效药品 3 张"),
            DisclosureRow(MONTH, "YS0301", "张伟", "神经内科", 3, "revoke", 3, "超限额处方 3 张"),
        ]
    values = dict(
        month=MONTH,
        revision=2,
        rows=rows,
        pending=2,
        ladder_title="三级公示",
        policy="首次公示医师代码；连续两个月公示医师姓名；连续三个月取消医保定岗医师资格。",
        ruleset_title="济南市门规考核规则",
        created_at="2024-06-02T16:40:00",
        published_at="2024-06-03T10:15:00",
        published_by="赵主任",
        effective="2024-06-01",
        changes=["新增 YS0101（一级）"],
        # the ladder's own lines (publish/ladder.py: Ladder.explain); the lists print what they are given
        rules=["一级：首次，公示医师代码", "二级：连续两个月，公示医师姓名", "三级：连续三个月，取消医保定岗医师资格"],
    )
    values.update(kwargs)
    return Disclosure(**values)


def empty_disclosure() -> Disclosure:
    return make_disclosure(rows=[], pending=0, changes=[])


# Expected order: level descending, then doctor code.
EXPECTED_ORDER = ["YS0301", "YS0302", "YS0203", "YS0099", "YS0101"]


# --------------------------------------------------------------------------- CSV


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_header_values_and_order():
    buffer = io.StringIO(newline="")
    write_csv(make_disclosure(), buffer)
    text = buffer.getvalue()
    assert not text.startswith("\ufeff")
    header = next(csv.reader(io.StringIO(text, newline="")))
    assert header[: len(CSV_COLUMNS)] == [
        "month", "doctor_code", "doctor_name", "level", "action", "unreasonable_count",
    ]
    # after the contract's English columns, the same facts under Chinese headers
    assert header[len(CSV_COLUMNS):] == ["公示级别", "处理措施", "科室", "不合理处方原因"]

    rows = read_csv(text)
    assert [r["doctor_code"] for r in rows] == EXPECTED_ORDER
    by_code = {r["doctor_code"]: r for r in rows}
    assert by_code["YS0301"] == {
        "month": MONTH, "doctor_code": "YS0301", "doctor_name": "张伟", "level": "3", "action": "revoke",
        "unreasonable_count": "3", "公示级别": "三级", "处理措施": "取消医保定岗医师资格",
        "科室": "神经内科", "不合理处方原因": "超限额处方 3 张",
    }
    assert by_code["YS0302"]["doctor_name"] == "王<b>五"
    assert by_code["YS0203"]["level"] == "2"
    assert by_code["YS0203"]["action"] == "publish_name"
    for code in ("YS0101", "YS0099"):
        assert by_code[code]["doctor_name"] == ""
        assert by_code[code]["科室"] == ""
        assert by_code[code]["level"] == "1"
        assert by_code[code]["action"] == "publish_code"


def test_csv_never_prints_a_name_for_a_code_only_row():
    row = DisclosureRow(MONTH, "YS0500", "不应公示", "外科", 1, "publish_code", 1)
    rows = read_csv(_render("csv", make_disclosure(rows=[row])))
    assert rows[0]["doctor_name"] == "" and rows[0]["科室"] == ""


def test_a_csv_file_starts_with_a_byte_order_mark_for_excel(tmp_path):
    """Excel on a Chinese Windows PC reads a CSV without a BOM as GBK and garbles it; a stream (a program
    reading stdout) gets no BOM."""
    path = tmp_path / "list.csv"
    FORMATS["csv"](make_disclosure(), path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfmonth,doctor_code,")
    rows = read_csv(raw.decode("utf-8-sig"))
    assert [r["doctor_code"] for r in rows] == EXPECTED_ORDER
    assert rows[0]["公示级别"] == "三级"
    with pytest.raises(UnicodeDecodeError):
        raw.decode("gbk")  # what Excel would have done without the mark
    assert not _render("csv", make_disclosure()).startswith("\ufeff")


def test_csv_empty_list_is_header_only():
    text = _render("csv", empty_disclosure())
    assert read_csv(text) == []
    assert text.splitlines()[0].startswith(",".join(CSV_COLUMNS))


# --------------------------------------------------------------------------- XLSX


def sheet_rows(ws) -> list[tuple]:
    return [tuple(row) for row in ws.iter_rows(values_only=True)]


def find_row(rows, first_two):
    for index, row in enumerate(rows):
        if tuple(row[:2]) == first_two:
            return index
    raise AssertionError(f"row {first_two} not found")


def all_text(rows) -> str:
    return "\n".join(str(v) for row in rows for v in row if v is not None)


def test_xlsx_notice(tmp_path):
    path = tmp_path / "list.xlsx"
    write_xlsx(make_disclosure(), path)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["公示名单", "说明"]
    ws = wb["公示名单"]
    rows = sheet_rows(ws)

    assert ws["A1"].value == "2024 年 5 月门规不合理处方医师公示名单"
    assert ws["A1"].font.bold and ws["A1"].font.size >= 16
    assert "A1:F1" in {str(r) for r in ws.merged_cells.ranges}
    subtitle = ws["A2"].value
    for part in ("2024 年 5 月", "第 2 版", "公示时间：2024-06-03 10:15", "济南市门规考核规则"):
        assert part in subtitle
    assert DRAFT_NOTICE not in all_text(rows)  # a published list
    assert "连续三个月取消医保定岗医师资格" in ws["A3"].value

    header_index = rows.index(tuple(TABLE_HEADERS))
    assert TABLE_HEADERS == ["序号", "医师代码", "医师姓名", "科室", "不合理处方数", "原因"]
    body = rows[header_index + 1:]
    # one section per level, highest first: what the level does, its doctors, a total line
    assert body[0][0] == "三级：取消医保定岗医师资格（自 2024-06-01 起）"
    assert body[1] == (1, "YS0301", "张伟", "神经内科", 3, "超限额处方 3 张")
    assert body[2] == (2, "YS0302", "王<b>五", "心血管内科", 4, "超限额处方 2 张；重复用药 2 张")
    assert body[3][0] == "三级小计：2 名医师" and body[3][4] == 7
    assert body[4][0] == "二级：公示医师姓名"
    assert body[5] == (3, "YS0203", "李建国", "内分泌科", 2, "重复用药 2 张")
    assert body[6][0] == "二级小计：1 名医师" and body[6][4] == 2
    assert body[7][0] == "一级：公示医师代码"
    assert body[8] == (4, "YS0099", "—", "—", 3, "相同疗效药品 3 张")  # code only: no name, no department
    assert body[9] == (5, "YS0101", "—", "—", 1, "超限额处方 1 张")
    assert body[10][0] == "一级小计：2 名医师" and body[10][4] == 4
    assert body[11][0] == "合计：5 名医师" and body[11][4] == 13

    # Level-3 section heading light red, level 2 light orange; the grid on every cell.
    first = header_index + 2  # 1-based worksheet row of the first section heading
    assert ws.cell(row=first, column=1).fill.fgColor.rgb.endswith("FDE2E1")
    assert ws.cell(row=first + 4, column=1).fill.fgColor.rgb.endswith("FEEBD6")
    assert ws.cell(row=first + 1, column=1).border.left.style == "thin"

    text = all_text(rows)
    assert PENDING_NOTE in text
    assert "医保办公室" in text and "2024 年 6 月 3 日" in text  # the publication's day

    # Printable: A4 portrait, one page wide and — a short list — one page tall with its signature block;
    # the header row repeated; every doctor's row as tall as the others.
    assert ws.page_setup.orientation == "portrait"
    assert int(ws.page_setup.paperSize) == 9  # A4
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.page_setup.fitToWidth == 1
    assert ws.page_setup.fitToHeight == 1
    assert ws.print_options.horizontalCentered
    assert ws.print_title_rows.replace("$", "") == f"{header_index + 1}:{header_index + 1}"
    assert ws.print_area.replace("$", "").endswith(f"F{ws.max_row}")  # the signature is inside the print area
    doctor_rows = [header_index + 1 + n for n, row in enumerate(body, 1) if isinstance(row[0], int)]
    assert len({ws.row_dimensions[r].height for r in doctor_rows}) == 1

    explanation = all_text(sheet_rows(wb["说明"]))
    for line in ("一级：首次，公示医师代码", "二级：连续两个月，公示医师姓名", "三级：连续三个月，取消医保定岗医师资格"):
        assert line in explanation


def many_doctors(count: int) -> list[DisclosureRow]:
    rows = []
    for n in range(count):
        level = 3 if n < 2 else (2 if n < 5 else 1)
        action = {3: "revoke", 2: "publish_name", 1: "publish_code"}[level]
        rows.append(DisclosureRow(MONTH, f"YS{n:04d}", "张建国" if level > 1 else None,
                                  "心血管内科" if level > 1 else None, level, action, 1 + n % 3,
                                  "超限额处方 1 张；重复用药 1 张" if n % 2 else "超限额处方 2 张"))
    return rows


def estimated_height(ws) -> float:
    """Points the sheet's rows take (Excel's default for a row without a height)."""
    return sum(ws.row_dimensions[r].height or 15 for r in range(1, ws.max_row + 1))


def test_a_typical_month_fits_one_a4_page_and_a_long_list_runs_on(tmp_path):
    """About 20 doctors print on one A4 page with the signature block, at (nearly) full size; a long list is
    one page wide and as many pages tall as it needs, the header row repeated on each."""
    typical = tmp_path / "typical.xlsx"
    write_xlsx(make_disclosure(rows=many_doctors(20)), typical)
    ws = openpyxl.load_workbook(typical)["公示名单"]
    printable = (297 / 25.4 - ws.page_margins.top - ws.page_margins.bottom) * 72  # A4 portrait, points
    assert ws.page_setup.fitToHeight == 1 and ws.page_setup.fitToWidth == 1
    assert estimated_height(ws) <= printable / 0.9  # scaled by no more than 10 %
    widths = sum(ws.column_dimensions[c].width for c in "ABCDEF")
    assert widths * 7 * 0.75 <= (210 / 25.4 - ws.page_margins.left - ws.page_margins.right) * 72 / 0.9
    long = tmp_path / "long.xlsx"
    write_xlsx(make_disclosure(rows=many_doctors(70)), long)
    ws = openpyxl.load_workbook(long)["公示名单"]
    assert ws.page_setup.fitToHeight == 0 and ws.page_setup.fitToWidth == 1
    assert ws.print_title_rows


def test_a_draft_says_so_on_every_readable_format(tmp_path):
    draft = make_disclosure(draft=True, base_revision=1, revision=2, published_at="", published_by="")
    path = tmp_path / "draft.xlsx"
    write_xlsx(draft, path)
    text = all_text(sheet_rows(openpyxl.load_workbook(path)["公示名单"]))
    assert DRAFT_NOTICE in text and "草稿（与已公示的第 1 版不同，公示后为第 2 版）" in text
    assert "（草稿，未公示）" in text and "2024 年 6 月" not in text  # no signature date
    for name in ("md", "html"):
        rendered = _render(name, draft)
        assert DRAFT_NOTICE in rendered and "草稿，未公示" in rendered, name


def test_xlsx_keeps_formula_like_text_literal(tmp_path):
    row = DisclosureRow(MONTH, "YS0700", "赵六", "外科", 2, "publish_name", 1, "=HYPERLINK(\"x\")\x07")
    path = tmp_path / "list.xlsx"
    write_xlsx(make_disclosure(rows=[row]), path)
    ws = openpyxl.load_workbook(path)["公示名单"]
    cells = [c for r in ws.iter_rows() for c in r if c.value == "=HYPERLINK(\"x\")"]
    assert cells and cells[0].data_type == "s"


def test_xlsx_needs_a_path():
    with pytest.raises(ValueError):
        FORMATS["xlsx"](make_disclosure(), io.BytesIO())
    with pytest.raises(ValueError):
        FORMATS["xlsx"](make_disclosure(), io.StringIO())


def test_xlsx_empty_list(tmp_path):
    path = tmp_path / "empty.xlsx"
    FORMATS["xlsx"](empty_disclosure(), path)
    rows = sheet_rows(openpyxl.load_workbook(path)["公示名单"])
    assert EMPTY_TEXT in all_text(rows)
    assert "尚待药事委员会审核" not in all_text(rows)


# --------------------------------------------------------------------------- Markdown


def test_markdown():
    text = render_markdown(make_disclosure())
    assert text.startswith("# 2024 年 5 月门规不合理处方医师公示名单\n")
    assert "第 2 版" in text
    assert "> 首次公示医师代码；连续两个月公示医师姓名；连续三个月取消医保定岗医师资格。" in text
    assert "## 三级：取消医保定岗医师资格（自 2024-06-01 起）" in text
    assert "| " + " | ".join(TABLE_HEADERS) + " |" in text
    assert "| 1 | YS0301 | 张伟 | 神经内科 | 3 | 超限额处方 3 张 |" in text
    # Markdown-significant characters in data are escaped, so no HTML gets through.
    assert "| 2 | YS0302 | 王\\<b\\>五 | 心血管内科 | 4 |" in text
    assert "三级小计：2 名医师，不合理处方 7 张" in text
    assert "| 3 | YS0203 | 李建国 | 内分泌科 | 2 | 重复用药 2 张 |" in text
    assert "| 4 | YS0099 | — | — | 3 | 相同疗效药品 3 张 |" in text
    assert "| 5 | YS0101 | — | — | 1 | 超限额处方 1 张 |" in text
    assert "**合计：5 名医师，不合理处方 13 张**" in text
    assert text.index("YS0301") < text.index("YS0302") < text.index("YS0203") < text.index("YS0099")
    assert PENDING_NOTE in text
    assert "## 与上一版相比的变化" in text
    assert "- 新增 YS0101（一级）" in text


def test_markdown_pipe_in_data_does_not_break_the_table():
    row = DisclosureRow(MONTH, "YS0800", "孙|七", "外科", 2, "publish_name", 1, "a|b\nc")
    text = render_markdown(make_disclosure(rows=[row]))
    line = next(line for line in text.splitlines() if "YS0800" in line)
    assert line == "| 1 | YS0800 | 孙\\|七 | 外科 | 1 | a\\|b c |"
    assert "## 三级：取消医保定岗医师资格\n\n无。" in text  # an empty level says so (and no date)


def test_markdown_empty_list():
    text = render_markdown(empty_disclosure())
    assert EMPTY_TEXT in text
    assert "尚待" not in text
    assert "与上一版相比的变化" not in text


# --------------------------------------------------------------------------- HTML


class Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []
        self.attrs: dict[str, list[dict]] = {}

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.setdefault(tag, []).append(dict(attrs))

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> Collector:
    parser = Collector()
    parser.feed(page)
    parser.close()
    return parser


def test_html():
    page = render_html(make_disclosure())
    assert page.startswith("<!DOCTYPE html>")
    assert '<html lang="zh-CN">' in page
    assert '<meta charset="utf-8">' in page
    assert '"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei","PingFang SC",sans-serif' in page
    assert "@media print" in page and "A4" in page
    parsed = parse(page)
    # Self-contained: no scripts, no external resources.
    assert "script" not in parsed.tags and "link" not in parsed.tags and "img" not in parsed.tags
    assert "http://" not in page and "https://" not in page

    # The nasty name is escaped: text, never a <b> element.
    assert "王&lt;b&gt;五" in page
    assert "王<b>五" not in page
    assert "b" not in parsed.tags
    text = "".join(parsed.text)
    assert "王<b>五" in text

    for code in EXPECTED_ORDER:
        assert code in page
    assert [page.index(code) for code in EXPECTED_ORDER] == sorted(page.index(code) for code in EXPECTED_ORDER)
    assert all(f">{h}</th>" in page for h in TABLE_HEADERS)
    assert '<span class="badge level-3">三级</span> 取消医保定岗医师资格（自 2024-06-01 起）' in page
    assert '<span class="badge level-2">二级</span> 公示医师姓名' in page
    assert '<span class="badge level-1">一级</span> 公示医师代码' in page
    assert "三级小计：2 名医师" in text and "合计：5 名医师，不合理处方 13 张" in text
    assert "取消医保定岗医师资格" in text
    assert PENDING_NOTE in text
    assert "与上一版相比的变化" in text and "新增 YS0101（一级）" in text
    assert "2024 年 5 月门规不合理处方医师公示名单" in text


def test_html_empty_list():
    page = render_html(empty_disclosure())
    parse(page)
    assert EMPTY_TEXT in page
    assert 'colspan="6"' in page


# --------------------------------------------------------------------------- registry


def _render(name: str, disclosure: Disclosure) -> str:
    buffer = io.StringIO(newline="")
    FORMATS[name](disclosure, buffer)
    return buffer.getvalue()


def test_formats_registry(tmp_path):
    assert set(FORMATS) == set(DEFAULT_SUFFIX) == {"csv", "xlsx", "md", "html"}
    assert DEFAULT_SUFFIX == {"csv": ".csv", "xlsx": ".xlsx", "md": ".md", "html": ".html"}
    disclosure = make_disclosure()
    for name in ("csv", "md", "html"):
        path = tmp_path / f"list{DEFAULT_SUFFIX[name]}"
        FORMATS[name](disclosure, str(path))  # str paths too
        assert path.read_bytes().decode("utf-8-sig" if name == "csv" else "utf-8") == _render(name, disclosure)
    assert _render("md", disclosure) == render_markdown(disclosure)
    assert _render("html", disclosure) == render_html(disclosure)
    with pytest.raises(TypeError):
        FORMATS["md"](disclosure, io.BytesIO())


@pytest.mark.parametrize("name", ["md", "html", "xlsx"])
def test_every_readable_format_says_the_list_is_empty(tmp_path, name):
    if name == "xlsx":
        path = tmp_path / "empty.xlsx"
        FORMATS[name](empty_disclosure(), path)
        text = all_text(sheet_rows(openpyxl.load_workbook(path).active))
    else:
        text = _render(name, empty_disclosure())
    assert EMPTY_TEXT in text
