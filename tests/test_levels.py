"""Warning levels on every flag: graded from each check's measure by the ruleset, validated, stored,
shown in flag_status, Datasette, the CLI and the monthly report; monitoring flags never count."""

import asyncio
import sqlite3

import pytest

from builders import flagged, session_for
from mengui_core import plugins
from mengui_core.publish.disclosure import disclose_month
from mengui_core.outputs.report import render_month_report
from mengui_core.audit.ruleset import RulesetError
from mengui_core.db.schema import connect

MONTH = "2026-10"


def caps(exports):
    e = exports.doctor("D01", "王建国")
    for n, amount in enumerate(["150.00", "160.00", "165.00", "224.99", "225.00"]):
        e.cert(f"S{n}", "M03900")
        e.rx(f"A{n}", "2026-10-08", f"S{n}", items=[("苯磺酸氨氯地平片", amount, 7)])
    e.cert("T1", "M03900").cert("T1", "M04600")
    # one prescription holding a drug twice (28 days: 28 in hand, 7 tolerated, 21 over) and two statins
    # (7 days: 7 in hand, 1 tolerated, 6 over)
    e.rx("DUP", "2026-10-09", "T1", codes="M03900;M04600",
         items=[("苯磺酸氨氯地平片", "10.00", 28), ("苯磺酸氨氯地平片", "10.00", 28)])
    e.rx("SAME", "2026-10-09", "T1", codes="M03900;M04600",
         items=[("阿托伐他汀钙片", "30.00", 7), ("瑞舒伐他汀钙片", "30.00", 7)])
    return e


def test_jinan_grades_amount_cap_by_percentage_over_and_fixes_the_drug_checks(exports, db_path):
    flags = caps(exports).audit(db_path, MONTH)
    graded = {rx: (f["level"], f["level_rank"]) for (rx, check), f in flags.items() if check == "amount_cap"}
    assert graded == {"A1": ("提示", 1),   # 6.67 % over
                      "A2": ("预警", 2),   # exactly 10 %: thresholds are inclusive
                      "A3": ("预警", 2),   # 49.99 %
                      "A4": ("违规", 3)}   # 50 %
    assert flags[("A2", "amount_cap")]["measure"] == pytest.approx(10.0)
    # the drug checks grade the days in hand beyond the refill tolerance: 违规 counts, 提示 awaits a verdict
    dup, same = flags[("DUP", "duplicate_drug")], flags[("SAME", "same_effect_drug")]
    assert (dup["level"], dup["measure"], dup["needs_review"]) == ("违规", 21, 0)
    assert (same["level"], same["measure"], same["needs_review"]) == ("提示", 6, 1)


def test_a_ruleset_names_its_own_levels_and_ungraded_checks_get_the_most_severe(exports, db_path, tmp_path):
    path = tmp_path / "two.toml"
    path.write_text("""name = "two"
version = "1"
extends = "jinan"

[levels]
names = ["关注", "严重"]

[checks.amount_cap]
needs_review = true
single_cap = "150.00"
levels = [0, 10]

[checks.duplicate_drug]
needs_review = false
""", encoding="utf-8")
    flags = caps(exports).audit(db_path, MONTH, path)
    assert {rx: f["level"] for (rx, c), f in flags.items()} == {
        "A1": "关注", "A2": "严重", "A3": "严重", "A4": "严重", "DUP": "严重"}
    assert {f["level_rank"] for (rx, c), f in flags.items() if rx != "A1"} == {2}


def nine_visits_and_a_duplicate(exports):
    e = exports.doctor("D01", "王建国").doctor("D02", "李红")
    e.cert("P1", "M03900")
    days = ["2026-10-08", "2026-10-09", "2026-10-12", "2026-10-13", "2026-10-14", "2026-10-15", "2026-10-16",
            "2026-10-19", "2026-10-20"]
    for n, day in enumerate(days):  # nine visits with D02: the ninth is a frequent_visits flag
        e.rx(f"V{n + 1}", day, "P1", doctor="D02", items=[("苯磺酸氨氯地平片", "20.00", 7)])
    e.cert("T1", "M03900").cert("T1", "M04600")
    e.rx("DUP", "2026-10-09", "T1", doctor="D01", codes="M03900;M04600",
         items=[("苯磺酸氨氯地平片", "10.00", 28), ("苯磺酸氨氯地平片", "10.00", 28)])
    return e


def test_flag_status_shows_levels_and_monitoring_flags_never_count(exports, db_path):
    flags = nine_visits_and_a_duplicate(exports).audit(db_path, MONTH)
    assert flagged(flags, "frequent_visits") == {"V9"}
    conn = connect(db_path)
    rows = {r["rx_id"]: dict(r) for r in conn.execute(
        "SELECT rx_id, status, counts, level, level_rank, measure, monitoring FROM flag_status")}
    assert rows["V9"] == {"rx_id": "V9", "status": "monitoring", "counts": 0, "level": "提示", "level_rank": 1,
                          "measure": 1.0, "monitoring": 1}
    assert rows["DUP"]["status"] == "unreasonable_unreviewed" and rows["DUP"]["counts"] == 1
    # a committee verdict on a monitoring flag is kept, but the flag still does not count
    conn.execute("INSERT INTO verdicts (rx_id, check_id, verdict, reviewer) VALUES ('V9', 'frequent_visits', "
                 "'unreasonable', '刘敏')")
    assert conn.execute("SELECT counts FROM flag_status WHERE rx_id = 'V9'").fetchone()[0] == 0
    published = disclose_month(conn, MONTH, start=MONTH)
    assert [r.doctor_code for r in published.disclosure.rows] == ["D01"]
    assert published.disclosure.pending == 0  # monitoring flags are never waiting for a verdict
    assert conn.execute("SELECT monitoring FROM checks WHERE check_id = 'frequent_visits'").fetchone()[0] == 1
    conn.close()


def test_migrations_7_and_8_add_the_level_columns_to_an_existing_database(tmp_path):
    from mengui_core.db.schema import MIGRATIONS, migrate

    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.execute("CREATE TABLE _migrations (id INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
    for number, name, sql in MIGRATIONS[:6]:
        conn.executescript(f"BEGIN;\n{sql};\nINSERT INTO _migrations VALUES ({number}, '{name}', 'x');\nCOMMIT;")
    conn.execute("INSERT INTO flags (rx_id, check_id, month, rx_date, detail, run_id) "
                 "VALUES ('R1', 'amount_cap', '2026-09', '2026-09-01', '超限', 1)")
    assert migrate(conn)[:2] == [7, 8]
    row = conn.execute("SELECT status, counts, level, monitoring FROM flag_status").fetchone()
    assert row == ("pending", 0, None, 0)


# ---------------------------------------------------------------- validation

BAD = """name = "bad"
version = "1"

[levels]
names = ["提示", "提示"]

[checks.amount_cap]
needs_review = true
single_cap = "150.00"
levels = [10, 5, 50]
level = "严重"

[checks.frequent_visits]
monitoring = true
needs_review = true
max_visits = -1
levels = [1, 2]

[checks.over_supply]
needs_review = true
max_days = 30

[checks.over_supply.diseases]
M99999 = 60
M03900 = 0

[[diseases]]
code = "M03900"
name = "高血压病"
"""


def test_level_and_monitoring_settings_are_validated_with_lines(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(BAD, encoding="utf-8")
    with pytest.raises(RulesetError) as info:
        plugins.load_ruleset(str(path))
    problems = info.value.problems
    expected = [
        "第 5 行 levels.names：应为不重复、非空的级别名称列表",
        "第 11 行 checks.amount_cap.level：应为级别名称之一（提示、预警、违规），实际为 '严重'",
        "第 10 行 checks.amount_cap.levels：应为 3 个递增的数值，依次为「提示」「预警」「违规」的起点（含本数），"
        "如 [1, 10, 50]：后一个必须大于前一个，实际为 [10, 5, 50]",
        "第 15 行 checks.frequent_visits.needs_review：监测规则（monitoring = true）的标记从不计入公示",
        "第 17 行 checks.frequent_visits.levels：应为 3 个递增的数值",
        "第 16 行 checks.frequent_visits.max_visits：应为不小于 0 的数，实际为 -1",
        "第 24 行 checks.over_supply.diseases.M99999：病种 M99999 不在病种目录中",
        "第 25 行 checks.over_supply.diseases.M03900：病种 M03900 的值应为正数，实际为 0",
    ]
    for text in expected:
        assert any(p.startswith(text) for p in problems), (text, problems)
    assert len(problems) == len(expected)


def test_jinan_declares_the_monitoring_checks_and_levels():
    jinan = plugins.load_ruleset("jinan")
    assert jinan.levels == ["提示", "预警", "违规"]
    assert jinan.checks["frequent_visits"].monitoring and jinan.checks["doctor_outlier"].monitoring
    assert not jinan.checks["frequent_visits"].needs_review
    assert jinan.checks["revoked_doctor"].needs_review and jinan.checks["over_supply"].needs_review
    assert jinan.checks["amount_cap"].thresholds == [0, 10, 50]
    assert "levels" not in jinan.checks["amount_cap"].params


# ---------------------------------------------------------------- shown to people


@pytest.fixture
def audited(exports, db_path):
    caps(exports).audit(db_path, MONTH)
    conn = connect(db_path)
    disclose_month(conn, MONTH, start=MONTH)
    conn.close()
    return db_path


def test_datasette_facets_flags_by_level_for_the_committee_only(audited):
    from mengui_datasette.server import make_datasette

    ds = make_datasette(audited)
    committee = session_for(ds)
    response = asyncio.run(ds.client.get("/mengui/flags.json?_facet=level&_extra=facet_results", cookies=committee))
    assert response.status_code == 200
    facet = response.json()["facet_results"]
    facet = facet.get("results", facet)["level"]["results"]
    assert {r["value"]: r["count"] for r in facet} == {"提示": 2, "预警": 2, "违规": 2}
    assert asyncio.run(ds.client.get("/mengui/flags.json?_facet=level")).status_code == 403
    page = asyncio.run(ds.client.get("/-/review/A4/amount_cap", cookies=committee)).text
    assert "预警级别：<strong>违规</strong>（<span class=\"mg-measure\">超出限额 50%</span>）" in page  # in words (issue 17)
    table = asyncio.run(ds.client.get("/mengui/flag_status", cookies=committee)).text
    assert "预警级别（由轻到重：提示、预警、违规）" in table


def test_the_monthly_report_counts_flags_by_check_and_level(audited):
    conn = connect(audited)
    html = render_month_report(conn, MONTH, {"amount_cap": "超限额处方", "duplicate_drug": "重复用药",
                                             "same_effect_drug": "相同疗效药品", "frequent_visits": "频繁就诊"})
    conn.close()
    section = html[html.index('<section id="levels">'):]
    section = section[:section.index("</section>")]
    assert "各规则预警级别" in section and "<svg" in section
    row = section[section.index("<td>超限额处方</td>"):]
    row = row[:row.index("</tr>")]
    assert [cell.split(">")[-1] for cell in row.split("</td>")[1:5]] == ["1", "2", "1", "4"]
    assert "监测：监测规则的标记" in html


def test_the_committee_sees_monitoring_flags_as_such(exports, db_path):
    from mengui_datasette.server import make_datasette

    nine_visits_and_a_duplicate(exports).audit(db_path, MONTH)
    ds = make_datasette(db_path)
    committee = session_for(ds)
    page = asyncio.run(ds.client.get("/-/review/V9/frequent_visits", cookies=committee)).text
    assert "监测（不计入）" in page and "这是监测规则的标记：仅供参考，不计入不合理处方与三级公示" in page
    listing = asyncio.run(ds.client.get("/mengui/monitoring_flags.json?_shape=objects&month=2026-10",
                                        cookies=committee)).json()["rows"]
    assert [(r["处方号"], r["级别"], r["规则"]) for r in listing] == [("V9", "提示", "频繁就诊")]
    assert asyncio.run(ds.client.get("/mengui/monitoring_flags.json")).status_code == 403
