"""Issue 15: the outputs speak the ruleset's numbers, the core none of its own. A month audited with the
Guangzhou example's ruleset (residents: 40 元 a visit, 300 元 a month) gives a list — in every format —
and a monthly report that state Guangzhou's caps and nowhere Jinan's 150."""

import csv
import importlib
import re
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from mengui_cli.app import cli

SAMPLE = Path(__file__).parents[1] / "examples" / "mengui-guangzhou" / "sample" / "2026-10"
MONTH = "2026-10"
PER_VISIT = "每次限额（单病种 40.00 元、多病种或合并并发症 40.00 元）"  # amount_cap, in Guangzhou's numbers
PER_MONTH = "每月 300.00 元"  # monthly_cap


class _Text(HTMLParser):
    """The text a reader sees (SVG titles and labels included), without the stylesheet."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.in_style = False

    def handle_starttag(self, tag, attrs):
        self.in_style = tag == "style"

    def handle_endtag(self, tag):
        self.in_style = False

    def handle_data(self, data):
        if not self.in_style:
            self.parts.append(data)


def html_text(path: Path) -> str:
    parser = _Text()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return "\n".join(parser.parts)


def xlsx_text(path: Path) -> str:
    workbook = openpyxl.load_workbook(path)
    return "\n".join(str(value) for sheet in workbook.worksheets
                     for row in sheet.iter_rows(values_only=True) for value in row if value is not None)


@pytest.fixture
def outputs(clean_pm, tmp_path):
    """The monthly job on the Guangzhou example's month, its plugin registered as its entry point would."""
    clean_pm.register(importlib.import_module("mengui_guangzhou.plugin"), name="guangzhou")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", str(tmp_path / "gz.db"), "--month", MONTH, str(SAMPLE),
                                      "--ruleset", "guangzhou", "--ladder-start", MONTH, "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def no_150(text: str) -> None:
    assert not re.search(r"(?<![\d.])150(?![\d])", text), [line for line in text.splitlines() if "150" in line]


@pytest.mark.parametrize("fmt", ["xlsx", "md", "html"])
def test_the_list_states_guangzhou_s_caps(outputs, fmt):
    path = outputs / f"disclosure-{MONTH}.{fmt}"
    text = {"xlsx": xlsx_text, "html": html_text}.get(fmt, lambda p: p.read_text(encoding="utf-8"))(path)
    assert PER_VISIT in text and PER_MONTH in text
    assert "超限额处方" in text and "月度超限额" in text  # the checks that count, by their titles
    assert "广州" in text  # the ruleset's title
    no_150(text)


def test_the_list_as_csv_is_data_without_jinan_s_numbers(outputs):
    with open(outputs / f"disclosure-{MONTH}.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["doctor_code"], r["不合理处方原因"]) for r in rows} == {("GZ001", "超限额处方 1 张"), ("GZ003", "月度超限额 2 张")}
    no_150((outputs / f"disclosure-{MONTH}.csv").read_text(encoding="utf-8"))


def test_the_report_states_guangzhou_s_caps_and_the_money_over_them(outputs):
    text = html_text(outputs / f"report-{MONTH}.html")
    assert PER_VISIT in text and PER_MONTH in text
    no_150(text)
    # The money over a cap comes from every flag that carries a limit, a visit counted once and never
    # for more than its own amount: 3.50 (GZ001, over 40) + 5.00 (GZ002's split visit, ruled 合理)
    # + 12.00 (GZ003's eighth visit takes the month to 312.00) + 39.00 (the ninth visit, all over 300).
    kpi = re.sub(r"\s+", " ", text[text.index("超限额金额"):text.index("公示医师")])
    assert "超限额金额 59.50 元" in kpi and "4 次就诊超限" in kpi
    assert "其中已判不合理 54.50 元，待审核 0.00 元" in kpi
