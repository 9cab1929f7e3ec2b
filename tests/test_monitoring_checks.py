"""The monitoring checks on realistic exports: revoked_doctor, over_supply, frequent_visits, doctor_outlier."""

import pytest

from builders import flagged
from mengui_core.db.schema import connect

MONTH = "2026-10"
WORKDAYS = ["2026-10-08", "2026-10-09", "2026-10-12", "2026-10-13", "2026-10-14", "2026-10-15", "2026-10-16",
            "2026-10-19", "2026-10-20", "2026-10-21", "2026-10-22", "2026-10-23", "2026-10-26"]


def only(tmp_path, sections: str):
    """A ruleset extending jinan that runs only the given ``[checks.*]`` sections."""
    path = tmp_path / "only.toml"
    path.write_text(f'name = "only"\nversion = "t"\nextends = "jinan"\n\n{sections}\n', encoding="utf-8")
    return path


# ---------------------------------------------------------------- revoked_doctor


def test_revoked_doctor_follows_the_effective_reinstatement_and_withdrawal_dates(exports, db_path):
    """A revocation counts from its effective date (the publisher's, or the first day of the month after the
    list's month), never from the day it was recorded; a reinstatement from its date; a withdrawn one is void."""
    e = exports
    for code in ("D07", "D08", "D09", "D11"):
        e.doctor(code, "医师" + code)
    e.doctor("D10", "进修医师", "全科医学科", qualified=False)
    e.cert("P1", "M03900")
    item = [("苯磺酸氨氯地平片", "20.00", 7)]
    e.rx("R07a", "2026-10-09", "P1", doctor="D07", items=item)   # the day before the effective date: fine
    e.rx("R07b", "2026-10-10", "P1", doctor="D07", items=item)   # the effective date: flagged
    e.rx("R07c", "2026-10-20", "P1", doctor="D07", items=item)   # flagged
    e.rx("R08a", "2026-10-11", "P1", doctor="D08", items=item)   # revoked from 2026-09-01 (August's list): flagged
    e.rx("R08b", "2026-10-12", "P1", doctor="D08", items=item)   # reinstated that day: fine
    e.rx("R09a", "2026-10-04", "P1", doctor="D09", items=item)   # a withdrawn revocation never took effect: fine
    e.rx("R09b", "2026-10-06", "P1", doctor="D09", items=item)   # fine
    e.rx("R10", "2026-10-13", "P1", doctor="D10", items=item)    # roster: qualified = 0
    e.rx("R11", "2026-10-13", "P1", doctor="D11", items=item)    # never revoked
    conn = connect(db_path)
    conn.executemany(
        "INSERT INTO revocations (doctor_code, month, revoked_at, effective_date, reinstated_at, reinstated_on, "
        "withdrawn_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        # recorded on days that must not matter (D07's list was published on the 30th, after the effective day)
        [("D07", "2026-09", "2026-10-30T09:00:00+08:00", "2026-10-10", None, None, None),
         ("D08", "2026-08", "2026-11-15T09:00:00+08:00", None, "2026-11-20T16:30:00+08:00", "2026-10-12", None),
         ("D09", "2026-09", "2026-10-02T09:00:00+08:00", "2026-10-01", None, None, "2026-10-05T11:00:00+08:00")])
    conn.close()
    flags = e.audit(db_path, MONTH)
    assert flagged(flags, "revoked_doctor") == {"R07b", "R07c", "R08a", "R10"}
    assert "自 2026-10-10 起取消（2026-09 公示名单）" in flags[("R07b", "revoked_doctor")]["detail"]
    assert "自 2026-09-01 起取消（2026-08 公示名单）" in flags[("R08a", "revoked_doctor")]["detail"]
    assert "没有医保定岗医师资格" in flags[("R10", "revoked_doctor")]["detail"]
    assert {flags[(rx, "revoked_doctor")]["level"] for rx in ("R07b", "R10")} == {"违规"}
    assert flags[("R07b", "revoked_doctor")]["needs_review"] == 1

    roster_off = only(db_path.parent, "[checks.revoked_doctor]\nneeds_review = true\nuse_roster = false\n")
    flags = e.audit(db_path, MONTH, roster_off)
    assert flagged(flags, "revoked_doctor") == {"R07b", "R07c", "R08a"}


def test_a_doctor_revoked_by_the_ladder_is_flagged_until_reinstated(exports, db_path):
    """End to end: three months of unreasonable prescriptions, the published list revokes from the first day
    of the next month, that month is flagged until the reinstatement's date. Fixed months: the result does
    not depend on the day the test runs (it once built its months from today's date)."""
    from builders import publish
    from mengui_core.publish.disclosure import reinstate
    from mengui_core.audit.runner import audit_month

    months = ["2026-01", "2026-02", "2026-03", "2026-04"]
    e = exports.doctor("D01", "王建国")
    e.cert("T1", "M03900").cert("T1", "M04600")
    for k, month in enumerate(months):
        # the same drug twice in one prescription, 28 days each (违规): counts unless ruled reasonable
        e.rx(f"X{k}", f"{month}-01", "T1", doctor="D01",
             items=[("苯磺酸氨氯地平片", "10.00", 28), ("苯磺酸氨氯地平片", "10.00", 28)])
    e.rx("LATE", f"{months[3]}-28", "T1", doctor="D01", items=[("阿托伐他汀钙片", "30.00", 7)])
    e.rx("MARCH", f"{months[2]}-31", "T1", doctor="D01", items=[("阿托伐他汀钙片", "30.00", 7)])
    e.audit(db_path, months[0])
    conn = connect(db_path)
    for month in months[:3]:
        audit_month(conn, month)
        result = publish(conn, month, start=months[0])
    assert [r.action for r in result.disclosure.rows] == ["revoke"]
    assert result.revoked == [("D01", "2026-04-01")]
    for month in months[2:]:
        audit_month(conn, month)
    found = {r[0] for r in conn.execute("SELECT rx_id FROM flags WHERE check_id = 'revoked_doctor'")}
    assert found == {"X3", "LATE"}  # April's, not March's (the list is March's)
    reinstate(conn, "D01", "已整改", "2026-04-15")
    audit_month(conn, months[3])
    found = {r[0] for r in conn.execute("SELECT rx_id FROM flags WHERE check_id = 'revoked_doctor'")}
    assert found == {"X3"}  # before the reinstatement's day only
    conn.close()


# ---------------------------------------------------------------- over_supply


def test_over_supply_uses_the_most_generous_billed_disease(exports, db_path):
    e = exports
    e.cert("P1", "M03900").cert("P2", "M08300").cert("P3", "M03900").cert("P3", "M00201")
    e.rx("O1", "2026-10-08", "P1", items=[("苯磺酸氨氯地平片", "10.00", 30)])                  # at the max: fine
    e.rx("O2", "2026-10-09", "P1", items=[("苯磺酸氨氯地平片", "10.00", 31)])                  # 1 day over
    e.rx("O3", "2026-10-08", "P2", codes="M08300", items=[("他克莫司胶囊", "1800.00", 84)])    # long-term allowance
    e.rx("O4", "2026-10-09", "P2", codes="M08300", items=[("他克莫司胶囊", "1800.00", 85)])
    e.rx("O5", "2026-10-08", "P3", codes="M03900;M00201",
         items=[("苯磺酸氨氯地平片", "10.00", 60), ("恩替卡韦片", "10.00", 60)])               # 84 days apply
    e.rx("O6", "2026-10-12", "P1", codes="M0390001", items=[("苯磺酸氨氯地平片", "10.00", 37)])  # local code
    e.rx("O7", "2026-10-13", "P1", items=[("苯磺酸氨氯地平片", "10.00", None)])                # no days: default
    e.rx("O8", "2026-10-14", "P1", items=[("酒石酸美托洛尔片", "10.00", 28),
                                          ("苯磺酸氨氯地平片", "10.00", 60)])
    flags = e.audit(db_path, MONTH)
    assert flagged(flags, "over_supply") == {"O2", "O4", "O6", "O8"}
    assert flags[("O2", "over_supply")]["detail"] == "「苯磺酸氨氯地平片」用药 31 天，超过高血压病每次最长 30 天（超出 1 天）"
    assert "器官移植抗排异治疗每次最长 84 天（超出 1 天）" in flags[("O4", "over_supply")]["detail"]
    assert "酒石酸美托洛尔片" not in flags[("O8", "over_supply")]["detail"]
    levels = {rx: (f["measure"], f["level"]) for (rx, check), f in flags.items() if check == "over_supply"}
    assert levels == {"O2": (1, "提示"), "O4": (1, "提示"), "O6": (7, "预警"), "O8": (30, "违规")}


# ---------------------------------------------------------------- frequent_visits


def test_frequent_visits_flags_the_visits_beyond_the_monthly_limit(exports, db_path):
    e = exports.doctor("D01", "王建国").doctor("D02", "李红", "内分泌科")
    item = [("苯磺酸氨氯地平片", "20.00", 7)]
    for n, day in enumerate(WORKDAYS[:8]):  # at the limit of 8: fine
        e.rx(f"A{n + 1}", day, "P8", doctor="D01", items=item)
    for n, day in enumerate(WORKDAYS[:13]):  # 13 visits, alternating doctors
        e.rx(f"B{n + 1}", day, "P13", doctor="D01" if n % 2 == 0 else "D02", items=item)
    # 8 visits, then a 9th visit split into two prescriptions: one visit, both flagged
    for n, day in enumerate(WORKDAYS[:8]):
        e.rx(f"C{n + 1}", day, "P9", doctor="D02", items=item, time="09:00")
    e.rx("C9a", WORKDAYS[8], "P9", doctor="D01", items=item, time="10:00")
    e.rx("C9b", WORKDAYS[8], "P9", doctor="D01", items=item, time="10:05")
    flags = e.audit(db_path, MONTH)
    assert flagged(flags, "frequent_visits") == {"B9", "B10", "B11", "B12", "B13", "C9a", "C9b"}
    assert flags[("B9", "frequent_visits")]["detail"] == (
        "本月第 9 次门规就诊（共 13 次，超过每月 8 次）；本月就诊医师：D01 王建国（7 次）、D02 李红（6 次）")
    levels = {rx: f["level"] for (rx, check), f in flags.items() if check == "frequent_visits"}
    assert levels == {"B9": "提示", "B10": "提示", "B11": "预警", "B12": "预警", "B13": "违规",
                      "C9a": "提示", "C9b": "提示"}
    assert all(f["monitoring"] == 1 and f["needs_review"] == 0
               for (rx, check), f in flags.items() if check == "frequent_visits")


# ---------------------------------------------------------------- doctor_outlier

OUTLIER = """[checks.doctor_outlier]
monitoring = true
min_visits = 2
min_peers = 3
min_score = 3.5
min_drug_yuan = "{drug}"
levels = [3.5, 5, 8]
"""


def department(e, visits: dict[str, list[str]], drug="苯磺酸氨氯地平片"):
    """Each doctor's visits (one prescription each, a new patient each) with the given amounts."""
    for doctor, amounts in visits.items():
        e.doctor(doctor, "医师" + doctor)
        for n, amount in enumerate(amounts):
            e.rx(f"{doctor}-{n + 1}", WORKDAYS[n], f"{doctor}P{n}", doctor=doctor, items=[(drug, amount, 7)])
    return e


@pytest.mark.parametrize("outlier, expected", [
    (["64.38", "64.38"], True),   # score 0.6745 × 10.38 ÷ 2 = 3.5007: at the threshold
    (["64.37", "64.37"], False),  # 3.4973: just below
])
def test_doctor_outlier_threshold_on_the_average_per_visit(exports, db_path, outlier, expected):
    e = department(exports, {"D1": ["50.00", "50.00"], "D2": ["52.00", "52.00"], "D3": ["54.00", "54.00"],
                             "D4": ["56.00", "56.00"], "D5": outlier})
    flags = e.audit(db_path, MONTH, only(db_path.parent, OUTLIER.format(drug="100000.00")))
    assert (flagged(flags, "doctor_outlier") == {"D5-1"}) is expected
    if expected:
        detail = flags[("D5-1", "doctor_outlier")]["detail"]
        assert detail.startswith("医师 D5 本月次均药品金额 64.38 元（就诊 2 次），心血管内科 5 名医师的中位数 54.00 元，"
                                 "中位数绝对偏差（MAD）2.00 元，稳健 z 分数")
        assert "= 3.50，达到标记界值 3.5" in detail
        assert flags[("D5-1", "doctor_outlier")]["level"] == "提示"


def test_doctor_outlier_attaches_to_the_largest_prescription_and_grades_the_score(exports, db_path):
    e = department(exports, {"D1": ["50.00", "50.00"], "D2": ["52.00", "52.00"], "D3": ["54.00", "54.00"],
                             "D4": ["56.00", "56.00"], "D5": ["90.00", "110.00"]})
    flags = e.audit(db_path, MONTH, only(db_path.parent, OUTLIER.format(drug="100000.00")))
    assert flagged(flags, "doctor_outlier") == {"D5-2"}
    flag = flags[("D5-2", "doctor_outlier")]
    assert flag["measure"] == pytest.approx(0.6745 * 46 / 2) and flag["level"] == "违规"
    assert flag["monitoring"] == 1


def test_doctor_outlier_needs_enough_peers_and_visits(exports, db_path, tmp_path):
    few = department(exports, {"D1": ["50.00", "50.00"], "D2": ["52.00", "52.00"], "D5": ["100.00", "100.00"]})
    assert not flagged(few.audit(db_path, MONTH, only(tmp_path, OUTLIER.format(drug="100000.00"))), "doctor_outlier")
    few.doctors.clear()
    enough = department(few, {"D3": ["54.00", "54.00"]})  # now three peers besides D5
    flags = enough.audit(db_path, MONTH, only(tmp_path, OUTLIER.format(drug="100000.00")))
    assert flagged(flags, "doctor_outlier") == {"D5-1"}
    # a doctor below min_visits takes no part
    strict = OUTLIER.format(drug="100000.00").replace("min_visits = 2", "min_visits = 3")
    assert not flagged(enough.audit(db_path, MONTH, only(tmp_path, strict)), "doctor_outlier")


def test_doctor_outlier_with_a_zero_mad_uses_the_mean_absolute_deviation(exports, db_path):
    e = department(exports, {"D1": ["50.00"] * 2, "D2": ["50.00"] * 2, "D3": ["50.00"] * 2, "D4": ["50.00"] * 2,
                             "D5": ["100.00"] * 2})
    flags = e.audit(db_path, MONTH, only(db_path.parent, OUTLIER.format(drug="100000.00")))
    detail = flags[("D5-1", "doctor_outlier")]["detail"]
    assert "MAD 为 0，改用平均绝对偏差 10.00 元" in detail and "= 3.99，" in detail  # 50 ÷ (1.253314 × 10)


def test_doctor_outlier_all_equal_flags_nobody(exports, db_path):
    e = department(exports, {f"D{n}": ["50.00", "50.00"] for n in range(1, 6)})
    assert not flagged(e.audit(db_path, MONTH, only(db_path.parent, OUTLIER.format(drug="0"))), "doctor_outlier")


def test_doctor_outlier_drug_volume_among_the_drugs_prescribers(exports, db_path, tmp_path):
    e = exports
    for n in range(1, 5):  # every doctor: 90 元 a visit, of which 10 元 amlodipine
        e.doctor(f"D{n}", f"医师D{n}")
        for k in range(2):
            e.rx(f"D{n}-{k + 1}", WORKDAYS[k], f"D{n}P{k}", doctor=f"D{n}",
                 items=[("苯磺酸氨氯地平片", "10.00", 7), ("阿托伐他汀钙片", "80.00", 7)])
    e.doctor("D5", "医师D5")
    e.rx("D5-1", WORKDAYS[0], "D5P0", doctor="D5", items=[("苯磺酸氨氯地平片", "80.00", 7)])
    e.rx("D5-2", WORKDAYS[1], "D5P1", doctor="D5", items=[("苯磺酸氨氯地平片", "100.00", 7)])
    flags = e.audit(db_path, MONTH, only(tmp_path, OUTLIER.format(drug="0")))
    assert flagged(flags, "doctor_outlier") == {"D5-2"}
    assert flags[("D5-2", "doctor_outlier")]["detail"].startswith(
        "医师 D5 本月「氨氯地平」开药金额 180.00 元，心血管内科 5 名开具该药的医师的中位数 20.00 元，MAD 为 0")
    # a volume below min_drug_yuan is not compared
    assert not flagged(e.audit(db_path, MONTH, only(tmp_path, OUTLIER.format(drug="200.00"))), "doctor_outlier")
