"""amount_cap under the Jinan ruleset: 150 元 single, 300 元 multi, per prescribing event."""

import sqlite3

from builders import flagged

MONTH = "2026-10"


def one_item(amount):
    return [("苯磺酸氨氯地平片", amount, 7, "")]


def test_single_disease_cap_is_inclusive(exports, db_path):
    exports.cert("P01", "M03900").cert("P02", "M03900")
    exports.rx("R01", "2026-10-08", "P01", items=one_item("150.00"))
    exports.rx("R02", "2026-10-08", "P02", items=one_item("150.01"))
    flags = exports.audit(db_path, MONTH)
    assert flagged(flags, "amount_cap") == {"R02"}
    flag = flags[("R02", "amount_cap")]
    assert (flag["amount_fen"], flag["limit_fen"]) == (15001, 15000)
    assert "超出 0.01 元" in flag["detail"] and "单病种" in flag["detail"]


def test_multi_disease_cap_is_inclusive(exports, db_path):
    for patient in ("P03", "P04"):
        exports.cert(patient, "M03900").cert(patient, "M01600")
    exports.rx("R03", "2026-10-08", "P03", codes="M03900;M01600", items=one_item("300.00"))
    exports.rx("R04", "2026-10-08", "P04", codes="M03900;M01600", items=one_item("300.01"))
    flags = exports.audit(db_path, MONTH)
    assert flagged(flags, "amount_cap") == {"R04"}
    assert flags[("R04", "amount_cap")]["limit_fen"] == 30000
    assert "多病种（2 个病种/并发症）" in flags[("R04", "amount_cap")]["detail"]


def test_complication_counts_as_second_disease(exports, db_path):
    exports.cert("P05", "M01600").cert("P05", "M01609", kind="complication")
    exports.cert("P06", "M01600")
    exports.rx("R05", "2026-10-09", "P05", codes="M01600", items=one_item("220.00"))
    exports.rx("R06", "2026-10-09", "P06", codes="M01600", items=one_item("220.00"))
    flags = exports.audit(db_path, MONTH)
    assert flagged(flags, "amount_cap") == {"R06"}


def test_split_prescriptions_are_one_visit_but_other_doctors_are_not(exports, db_path):
    exports.cert("P07", "M03900")
    exports.rx("R07A", "2026-10-12", "P07", doctor="D01", items=one_item("100.00"))
    exports.rx("R07B", "2026-10-12", "P07", doctor="D01", items=one_item("80.00"))
    exports.rx("R07C", "2026-10-12", "P07", doctor="D02", items=one_item("100.00"))
    exports.rx("R07D", "2026-10-13", "P07", doctor="D01", items=one_item("100.00"))
    flags = exports.audit(db_path, MONTH)
    assert flagged(flags, "amount_cap") == {"R07A", "R07B"}
    detail = flags[("R07B", "amount_cap")]["detail"]
    assert "共 2 张处方" in detail and "180.00" in detail and "本处方 80.00 元" in detail


def test_exempt_prescriptions_are_neither_flagged_nor_counted(exports, db_path):
    exports.cert("P08", "M08300").cert("P08", "M03900")
    exports.cert("P09", "M00503")
    exports.cert("P10", "M08300")
    exports.rx("R08A", "2026-10-14", "P08", codes="M08300", items=[("他克莫司胶囊", "1200.00", 28, "")])
    exports.rx("R08B", "2026-10-14", "P08", codes="M03900", items=one_item("250.00"))
    exports.rx("R09", "2026-10-14", "P09", codes="M00503", items=[("卡培他滨片", "2000.00", 14, "")])
    # billed under both an exempt and a non-exempt disease: still exempt
    exports.rx("R10", "2026-10-14", "P10", codes="M08300;M03900", items=[("他克莫司胶囊", "900.00", 28, "")])
    flags = exports.audit(db_path, MONTH)
    assert flagged(flags, "amount_cap") == set()


def test_local_extension_codes_match_the_catalog(exports, db_path):
    exports.cert("P11", "M0390001").cert("P11", "M03900", valid_from="2021-03-01")
    exports.rx("R11", "2026-10-15", "P11", codes="M0390001", items=one_item("160.00"))
    flags = exports.audit(db_path, MONTH)
    # the same disease certified twice (local extension and national code) is one disease
    assert flagged(flags, "amount_cap") == {"R11"}
    assert flags[("R11", "amount_cap")]["limit_fen"] == 15000


def test_item_sum_wins_over_header_total(exports, db_path):
    for patient in ("P12", "P13", "P14"):
        exports.cert(patient, "M03900")
    exports.rx("R12", "2026-10-16", "P12", total="100.00", items=[("苯磺酸氨氯地平片", "90.00", 7, ""),
                                                                  ("阿托伐他汀钙片", "70.00", 7, "")])
    exports.rx("R13", "2026-10-16", "P13", total="160.00")  # header only, no items loaded
    exports.rx("R14", "2026-10-16", "P14", total="200.00", items=one_item("120.00"))
    flags = exports.audit(db_path, MONTH)
    assert flagged(flags, "amount_cap") == {"R12", "R13"}
    assert flags[("R12", "amount_cap")]["amount_fen"] == 16000


def test_uncertified_patients_are_a_finding_not_capped(exports, db_path):
    exports.cert("P15", "M03900", valid_from="2019-01-01", valid_to="2026-09-30")
    exports.cert("P16", "M03900", valid_from="2026-10-15")
    exports.rx("R15", "2026-10-03", "P15", items=one_item("500.00"))
    exports.rx("R16A", "2026-10-10", "P16", items=one_item("100.00"))
    exports.rx("R16B", "2026-10-15", "P16", items=one_item("100.00"))
    flags = exports.audit(db_path, MONTH)
    assert set(flags) == {("R15", "uncertified"), ("R16A", "uncertified")}
    assert "没有有效的门规病种认定" in flags[("R15", "uncertified")]["detail"]


def test_without_certifications_the_count_comes_from_billed_codes(exports, db_path):
    exports.rx("R17", "2026-10-20", "P17", codes="M03900;M01600", items=one_item("250.00"))
    exports.rx("R18", "2026-10-20", "P18", codes="M03900", items=one_item("160.00"))
    exports.rx("R19", "2026-10-05", "P19", codes="M03900", items=one_item("120.00"))
    exports.rx("R19B", "2026-10-25", "P19", codes="M01600", items=one_item("250.00"))
    flags = exports.audit(db_path, MONTH)
    # P19 billed two diseases in the month, so its 250 元 visit is within the multi cap
    assert set(flags) == {("R18", "amount_cap")}
    conn = sqlite3.connect(db_path)
    notes = conn.execute("SELECT notes FROM audit_runs ORDER BY run_id DESC").fetchone()[0]
    assert "未导入门规认定数据" in notes


def test_only_the_audited_month_is_flagged(exports, db_path):
    exports.cert("P20", "M03900")
    exports.rx("R20A", "2026-09-30", "P20", items=one_item("400.00"))
    exports.rx("R20B", "2026-10-01", "P20", items=one_item("400.00"))
    exports.rx("R20C", "2026-11-01", "P20", items=one_item("400.00"))
    flags = exports.audit(db_path, MONTH)
    assert set(flags) == {("R20B", "amount_cap")}
    assert flags[("R20B", "amount_cap")]["month"] == MONTH
