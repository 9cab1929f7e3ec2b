"""duplicate_drug and same_effect_drug: drug identity, the refill tolerance, levels by the days in hand
beyond it, counting by level, and the later prescription at fault."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

from builders import flagged
from mengui_core.ingest.loader import load_files
from mengui_core.publish.disclosure import disclose_month
from mengui_core.audit.runner import audit_month
from mengui_core.db.schema import connect
from mengui_core.review.verdicts import record_verdict

MONTH = "2026-10"
# national drug codes: characters 1-10 = X + ATC level 4 + generic-name id
AMLODIPINE_A = "XC08CAA040A001010101234"
AMLODIPINE_B = "XC08CAA040A001020205678"  # same drug, other package and manufacturer
NIFEDIPINE = "XC08CAX065A010010100099"
JINAN = Path(__file__).parents[1] / "rulesets" / "jinan.toml"


def two_diseases(exports, *patients):
    for patient in patients:
        exports.cert(patient, "M03900").cert(patient, "M04600")


def ruleset_with(tmp_path, tolerance="", classes="", diseases="") -> Path:
    """Jinan's ruleset with other ``[refill_tolerance]`` settings (TOML lines for the table and its overrides)."""
    text = JINAN.read_text(encoding="utf-8")
    if tolerance:
        text = text.replace("[refill_tolerance]\ndays = 7\npercent = 25\n", f"[refill_tolerance]\n{tolerance}\n")
    for header, lines in (("[refill_tolerance.classes]\n", classes), ("[refill_tolerance.diseases]\n", diseases)):
        text = text.replace(header, header + lines + "\n")
    path = tmp_path / "variant.toml"
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- the details a doctor cannot argue with


def test_a_second_doctor_with_three_weeks_in_hand_is_a_violation_that_counts(exports, db_path):
    two_diseases(exports, "P01")
    exports.rx("R01", "2026-10-02", "P01", doctor="D01", items=[("苯磺酸氨氯地平片", "20.00", 28, AMLODIPINE_A)])
    exports.rx("R02", "2026-10-09", "P01", doctor="D02", items=[("苯磺酸氨氯地平片", "22.00", 28, AMLODIPINE_B)])
    flags = exports.audit(db_path, MONTH)
    assert flagged(flags, "duplicate_drug") == {"R02"}
    flag = flags[("R02", "duplicate_drug")]
    assert flag["related_rx_id"] == "R01" and flag["doctor_code"] == "D02"
    # R01 covers 10-02..10-29: 21 days still in hand on 10-09, 7 tolerated, 14 over: 违规, counts without a verdict
    assert (flag["level"], flag["measure"], flag["needs_review"]) == ("违规", 14, 0)
    assert flag["detail"] == ("患者有 2 个门规病种，重复用药：提前 21 天再开「苯磺酸氨氯地平片」：处方 R01（2026-10-02，"
                              "医师 D01）开 28 天，尚余 21 天（可提前 7 天），最早 2026-10-23 可再开")
    assert json.loads(flag["evidence"]) == [{
        "rx_id": "R01", "rx_date": "2026-10-02", "doctor_code": "D01", "drug_name": "苯磺酸氨氯地平片",
        "later_drug_name": "苯磺酸氨氯地平片", "days_supply": 28, "days_left": 21, "tolerance_days": 7,
        "excess_days": 14, "earliest_date": "2026-10-23", "same_prescription": False}]
    assert flagged(flags, "same_effect_drug") == set()  # the same drug is not also "same effect"
    conn = connect(db_path)
    assert tuple(conn.execute("SELECT status, counts FROM flag_status WHERE rx_id = 'R02'").fetchone()) \
        == ("unreasonable_unreviewed", 1)


@pytest.mark.parametrize("supply, gap, expected", [
    (28, 21, None),          # 7 days in hand = the tolerance (7 days, 25 % of 28 = 7): on time
    (28, 20, ("提示", 1)),    # 8 in hand: one day over
    (28, 15, ("提示", 6)),
    (28, 14, ("预警", 7)),
    (28, 8, ("预警", 13)),
    (28, 7, ("违规", 14)),
    (10, 8, None),           # a 10-day supply: 25 % is 2.5, rounded down to 2 days
    (10, 7, ("提示", 1)),
    (30, 23, None),          # 30 days: 25 % is 7.5, the 7 days are smaller
    (30, 22, ("提示", 1)),
    (60, 52, ("提示", 1)),    # 60 days: still at most 7 days early
])
def test_the_tolerance_is_the_smaller_of_7_days_and_a_quarter_of_the_supply(exports, db_path, supply, gap, expected):
    two_diseases(exports, "P01")
    exports.rx("R01", "2026-10-01", "P01", codes="M03900;M04600", items=[("厄贝沙坦片", "20.00", supply)])
    later = f"2026-10-{1 + gap:02d}" if gap < 31 else f"2026-11-{gap - 30:02d}"
    exports.rx("R02", later, "P01", codes="M03900;M04600", items=[("厄贝沙坦片", "20.00", supply)])
    flags = exports.audit(db_path, later[:7])
    if expected is None:
        assert flagged(flags, "duplicate_drug") == set()
    else:
        flag = flags[("R02", "duplicate_drug")]
        assert (flag["level"], flag["measure"]) == expected
        in_hand = supply - gap
        assert f"尚余 {in_hand} 天（可提前 {in_hand - expected[1]} 天）" in flag["detail"]


def test_a_supply_without_days_is_the_same_day_only_and_tolerates_nothing(exports, db_path):
    two_diseases(exports, "P03")
    exports.rx("R06", "2026-10-05", "P03", items=[("阿托伐他汀钙片", "30.00", None, "")])
    exports.rx("R07", "2026-10-06", "P03", items=[("阿托伐他汀钙片", "30.00", None, "")])
    exports.rx("R08", "2026-10-06", "P03", doctor="D02", time="15:00:00", items=[("阿托伐他汀钙片", "30.00", None, "")])
    flags = exports.audit(db_path, MONTH)
    assert flagged(flags, "duplicate_drug") == {"R08"}
    flag = flags[("R08", "duplicate_drug")]
    assert (flag["level"], flag["measure"], flag["needs_review"]) == ("提示", 1, 1)
    assert "未填用药天数（按 1 天计），尚余 1 天（可提前 0 天），最早 2026-10-07 可再开" in flag["detail"]


def test_a_tolerance_of_zero_is_the_policy_s_letter(exports, db_path, tmp_path):
    two_diseases(exports, "P01")
    exports.rx("R01", "2026-10-01", "P01", items=[("厄贝沙坦片", "20.00", 28)])
    exports.rx("R02", "2026-10-28", "P01", items=[("厄贝沙坦片", "20.00", 28)])  # one day left
    strict = ruleset_with(tmp_path, tolerance="days = 0\npercent = 25")
    flags = exports.audit(db_path, MONTH, str(strict))
    assert (flags[("R02", "duplicate_drug")]["level"], flags[("R02", "duplicate_drug")]["measure"]) == ("提示", 1)
    assert "可提前 0 天" in flags[("R02", "duplicate_drug")]["detail"]


# ---------------------------------------------------------------- overrides per class and per disease


def test_a_drug_class_and_a_billed_disease_have_their_own_tolerance(exports, db_path, tmp_path):
    two_diseases(exports, "P1", "P2", "P3")
    for patient, codes in (("P1", "M03900"), ("P2", "M04600"), ("P3", "M03900")):
        drug = "阿托伐他汀钙片" if patient == "P3" else "苯磺酸氨氯地平片"
        exports.rx(f"{patient}a", "2026-10-01", patient, codes=codes, items=[(drug, "20.00", 28)])
        exports.rx(f"{patient}b", "2026-10-24", patient, codes=codes, items=[(drug, "20.00", 28)])  # 5 in hand
    # dihydropyridines (C08CA, by the prefix C08) may come only 3 days early; a patient billed under
    # 冠心病 (M04600) may come 14 days or 50 % early, whatever the drug
    variant = ruleset_with(tmp_path, classes="C08 = { days = 3 }", diseases="M04600 = { days = 14, percent = 50 }")
    flags = exports.audit(db_path, MONTH, str(variant))
    assert flagged(flags, "duplicate_drug") == {"P1b"}
    assert flags[("P1b", "duplicate_drug")]["measure"] == 2 and "可提前 3 天" in flags[("P1b", "duplicate_drug")]["detail"]


def test_several_billed_diseases_take_the_most_generous_override(exports, db_path, tmp_path):
    two_diseases(exports, "P1")
    exports.rx("R1", "2026-10-01", "P1", codes="M03900;M04600", items=[("厄贝沙坦片", "20.00", 28)])
    exports.rx("R2", "2026-10-19", "P1", codes="M03900;M04600", items=[("厄贝沙坦片", "20.00", 28)])  # 10 in hand
    variant = ruleset_with(tmp_path, diseases="M03900 = { days = 3 }\nM04600 = { days = 9, percent = 50 }")
    flags = exports.audit(db_path, MONTH, str(variant))
    assert flags[("R2", "duplicate_drug")]["measure"] == 1 and "可提前 9 天" in flags[("R2", "duplicate_drug")]["detail"]


# ---------------------------------------------------------------- pairs


def test_two_items_of_one_prescription_overlap_by_the_whole_supply(exports, db_path):
    two_diseases(exports, "P08", "P09")
    exports.rx("R16", "2026-10-08", "P08", items=[("二甲双胍片", "10.00", 28, ""), ("盐酸二甲双胍缓释片", "20.00", 28, "")])
    exports.rx("R17", "2026-10-08", "P09", items=[("二甲双胍片", "10.00", 7, ""), ("盐酸二甲双胍缓释片", "20.00", 7, "")])
    flags = exports.audit(db_path, MONTH)
    assert flagged(flags, "duplicate_drug") == {"R16", "R17"}
    assert (flags[("R16", "duplicate_drug")]["level"], flags[("R16", "duplicate_drug")]["measure"]) == ("违规", 21)
    assert (flags[("R17", "duplicate_drug")]["level"], flags[("R17", "duplicate_drug")]["measure"]) == ("提示", 6)
    assert "同一处方内开具「二甲双胍片」（28 天）与「盐酸二甲双胍缓释片」，重叠 28 天（可重叠 7 天）" \
        in flags[("R16", "duplicate_drug")]["detail"]
    assert flags[("R16", "duplicate_drug")]["related_rx_id"] == "R16"


def test_a_switch_within_the_class_is_flagged_only_when_too_early(exports, db_path):
    two_diseases(exports, "P10", "P11")
    exports.rx("R21", "2026-10-02", "P10", doctor="D01", items=[("阿托伐他汀钙片", "30.00", 28)])
    exports.rx("R22", "2026-10-24", "P10", doctor="D02", items=[("瑞舒伐他汀钙片", "40.00", 28)])  # 7 left: on time
    exports.rx("R23", "2026-10-02", "P11", doctor="D01", items=[("厄贝沙坦片", "30.00", 28)])
    exports.rx("R24", "2026-10-16", "P11", doctor="D03", items=[("缬沙坦胶囊", "40.00", 28)])  # 14 left: 7 over
    flags = exports.audit(db_path, MONTH)
    assert flagged(flags, "same_effect_drug") == {"R24"}
    flag = flags[("R24", "same_effect_drug")]
    assert flag["related_rx_id"] == "R23" and (flag["level"], flag["measure"], flag["needs_review"]) == ("预警", 7, 1)
    assert re.search(r"相同疗效药品：同属[^：]*双重RAAS阻断）：提前 14 天开「缬沙坦胶囊」：处方 R23（2026-10-02，医师 D01）的「厄贝沙坦片」"
                     r"开 28 天，尚余 14 天（可提前 7 天），最早 2026-10-23 可开", flag["detail"])
    assert flagged(flags, "duplicate_drug") == set()


def test_a_late_month_refill_is_compared_with_last_month_s_supply(exports, db_path):
    two_diseases(exports, "P09", "P10")
    exports.rx("R17", "2026-09-25", "P09", items=[("厄贝沙坦片", "30.00", 28)])   # covers 09-25..10-22
    exports.rx("R18", "2026-10-08", "P09", items=[("厄贝沙坦片", "30.00", 28)])   # 15 left: 8 over (预警)
    exports.rx("R19", "2026-09-28", "P10", items=[("厄贝沙坦片", "30.00", 28)])   # covers 09-28..10-25
    exports.rx("R20", "2026-10-20", "P10", items=[("厄贝沙坦片", "30.00", 28)])   # 6 left: on time
    flags = exports.audit(db_path, MONTH)
    assert flagged(flags, "duplicate_drug") == {"R18"}
    assert flags[("R18", "duplicate_drug")]["related_rx_id"] == "R17"
    assert flags[("R18", "duplicate_drug")]["level"] == "预警"


def test_the_worst_pair_is_the_related_prescription_and_every_pair_is_described(exports, db_path):
    two_diseases(exports, "P1")
    exports.rx("R1", "2026-10-01", "P1", doctor="D01", items=[("厄贝沙坦片", "20.00", 28)])   # 10-01..10-28
    exports.rx("R2", "2026-10-05", "P1", doctor="D02", items=[("厄贝沙坦片", "20.00", 10)])   # 10-05..10-14
    exports.rx("R3", "2026-10-12", "P1", doctor="D03", items=[("厄贝沙坦片", "20.00", 28)])
    flags = exports.audit(db_path, MONTH)
    flag = flags[("R3", "duplicate_drug")]
    # vs R1: 17 in hand, 10 over; vs R2: 3 in hand, 2 tolerated (25 % of 10), 1 over
    assert flag["related_rx_id"] == "R1" and flag["measure"] == 10
    evidence = json.loads(flag["evidence"])
    assert [(e["rx_id"], e["days_left"], e["tolerance_days"], e["excess_days"]) for e in evidence] == [
        ("R1", 17, 7, 10), ("R2", 3, 2, 1)]
    assert flag["detail"].index("处方 R1") < flag["detail"].index("处方 R2")


# ---------------------------------------------------------------- drug identity and who is at fault


def test_salt_and_dosage_form_variants_without_codes_are_the_same_drug(exports, db_path):
    two_diseases(exports, "P04")
    exports.rx("R09", "2026-10-03", "P04", items=[("苯磺酸氨氯地平片", "15.00", 14, "")])
    exports.rx("R10", "2026-10-09", "P04", items=[("氨氯地平片(络活喜) 5mg", "35.00", 14, "")])
    flags = exports.audit(db_path, MONTH)
    assert flagged(flags, "duplicate_drug") == {"R10"}  # 8 of 14 days in hand, 3 tolerated


def test_single_disease_patients_are_not_checked(exports, db_path):
    exports.cert("P05", "M03900")
    exports.rx("R11", "2026-10-03", "P05", items=[("苯磺酸氨氯地平片", "15.00", 28, AMLODIPINE_A)])
    exports.rx("R12", "2026-10-09", "P05", items=[("苯磺酸氨氯地平片", "15.00", 28, AMLODIPINE_A),
                                                 ("硝苯地平控释片", "30.00", 28, NIFEDIPINE)])
    flags = exports.audit(db_path, MONTH)
    assert flags == {}


def test_same_day_fault_goes_to_the_later_time_then_the_larger_rx_id(exports, db_path):
    two_diseases(exports, "P06", "P07")
    exports.rx("R20", "2026-10-07", "P06", doctor="D01", time="10:30:00", items=[("阿托伐他汀钙片", "30.00", 28, "")])
    exports.rx("R13", "2026-10-07", "P06", doctor="D02", time="09:00:00", items=[("阿托伐他汀钙片", "30.00", 28, "")])
    exports.rx("R15", "2026-10-07", "P07", doctor="D01", items=[("瑞舒伐他汀钙片", "30.00", 28, "")])
    exports.rx("R14", "2026-10-07", "P07", doctor="D02", items=[("瑞舒伐他汀钙片", "30.00", 28, "")])
    flags = exports.audit(db_path, MONTH)
    assert flagged(flags, "duplicate_drug") == {"R20", "R15"}


def test_same_effect_class_comes_from_the_drug_code(exports, db_path):
    two_diseases(exports, "P12")
    # unknown brand-style names, but both codes say C08CA (different generic ids)
    exports.rx("R24", "2026-10-02", "P12", items=[("络活喜", "30.00", 28, AMLODIPINE_A)])
    exports.rx("R25", "2026-10-06", "P12", items=[("拜新同", "40.00", 28, NIFEDIPINE)])
    flags = exports.audit(db_path, MONTH)
    assert flagged(flags, "same_effect_drug") == {"R25"}


def test_merged_groups_allowed_combinations_and_heterogeneous_classes(exports, db_path):
    two_diseases(exports, "P13", "P14", "P15")
    # ACE inhibitor + ARB: merged into one group (dual RAAS blockade)
    exports.rx("R26", "2026-10-02", "P13", items=[("盐酸贝那普利片", "20.00", 28, ""), ("缬沙坦胶囊", "40.00", 28, "")])
    # aspirin + clopidogrel: same ATC class B01AC, but an allowed combination (DAPT)
    exports.rx("R27", "2026-10-02", "P14", items=[("阿司匹林肠溶片", "10.00", 28, ""), ("硫酸氢氯吡格雷片", "60.00", 28, "")])
    # ezetimibe (C10AX, "other" lipid drugs) + a statin: different classes; C10AX is not comparable anyway
    exports.rx("R28", "2026-10-02", "P15", items=[("依折麦布片", "50.00", 28, ""), ("阿托伐他汀钙片", "30.00", 28, "")])
    flags = exports.audit(db_path, MONTH)
    assert flagged(flags, "same_effect_drug") == {"R26"}


def test_a_long_supply_loaded_months_earlier_still_reaches_into_the_month(exports, db_path, tmp_path):
    from builders import Exports

    two_diseases(exports, "P20")
    exports.rx("R40", "2026-08-01", "P20", items=[("厄贝沙坦片", "90.00", 90, "")])  # covers up to 2026-10-29
    conn = connect(db_path)
    load_files(conn, [exports.write()])
    october = Exports(tmp_path / "october")
    october.rx("R41", "2026-10-20", "P20", items=[("厄贝沙坦片", "10.00", 7, "")])  # 10 in hand, 7 tolerated
    load_files(conn, [october.write()])  # a later load of short supplies keeps the longest known
    longest = "SELECT value FROM settings WHERE key = 'max_days_supply'"
    assert conn.execute(longest).fetchone()[0] == "90"
    audit_month(conn, MONTH)
    assert [tuple(r) for r in conn.execute("SELECT rx_id, related_rx_id, measure FROM flags "
                                           "WHERE check_id = 'duplicate_drug'")] == [("R41", "R40", 3)]
    # a database loaded before the longest supply was kept gets it from its items when opened
    conn.execute("DELETE FROM settings WHERE key = 'max_days_supply'")
    conn.execute("DELETE FROM _migrations WHERE id = 9")
    conn.close()
    conn = connect(db_path)
    assert conn.execute(longest).fetchone()[0] == "90"


# ---------------------------------------------------------------- counting by level


def test_a_hint_counts_only_after_unreasonable_and_a_violation_unless_reasonable(exports, db_path):
    exports.doctor("D01", "王建国").doctor("D02", "李红").doctor("D03", "赵强")
    two_diseases(exports, "P1", "P2")
    exports.rx("H1", "2026-10-01", "P1", doctor="D03", items=[("厄贝沙坦片", "20.00", 28)])
    exports.rx("H2", "2026-10-19", "P1", doctor="D01", items=[("厄贝沙坦片", "20.00", 28)])  # 10 left: 提示
    exports.rx("V1", "2026-10-01", "P2", doctor="D03", items=[("阿托伐他汀钙片", "20.00", 28)])
    exports.rx("V2", "2026-10-06", "P2", doctor="D02", items=[("阿托伐他汀钙片", "20.00", 28)])  # 23 left: 违规
    exports.audit(db_path, MONTH)
    conn = connect(db_path)

    def listed():
        published = disclose_month(conn, MONTH, start=MONTH)
        return {r.doctor_code for r in published.disclosure.rows}, published.disclosure.pending

    assert listed() == ({"D02"}, 1)  # the hint waits for the committee; the violation counts
    record_verdict(conn, "H2", "duplicate_drug", "不合理", "张委员", "无外出登记")
    record_verdict(conn, "V2", "duplicate_drug", "合理", "张委员", "原药已遗失，已报备")
    assert listed() == ({"D01"}, 0)


# ---------------------------------------------------------------- a month shaped like real patients


def _bench_generator():
    spec = importlib.util.spec_from_file_location("bench_generate", Path(__file__).parents[1] / "bench" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_month_of_real_refill_rhythm_flags_no_on_time_refill(tmp_path):
    data = tmp_path / "realistic"
    counts = _bench_generator().generate(4000, data, seed=11, profile="realistic")
    kinds = {k: set(v) for k, v in json.loads((data / "manifest.json").read_text(encoding="utf-8"))["kinds"].items()}
    assert counts["audited"] >= 4000 and kinds["early"] and kinds["second_doctor"] and kinds["switch"]
    conn = connect(tmp_path / "mengui.db")
    load_files(conn, [data])
    audit_month(conn, MONTH)
    drug = {r[0]: tuple(r[1:]) for r in conn.execute(
        "SELECT rx_id, level, needs_review FROM flags WHERE check_id IN ('duplicate_drug', 'same_effect_drug')")}
    # on-time refills (a few days early or late) and switches at them: never a drug flag
    assert not (kinds["on_time"] | kinds["switch"]) - kinds["early"] & set(drug)
    assert set(drug) <= kinds["early"] | kinds["second_doctor"]
    # a second doctor with three weeks in hand: 违规, counting without a verdict
    assert all(drug[rx] == ("违规", 0) for rx in kinds["second_doctor"])
    # refills a week or two too early are hints and warnings for the committee, not a list
    assert {drug[rx] for rx in kinds["early"] & set(drug)} <= {("提示", 1), ("预警", 1)}
    doctors = {r[0] for r in conn.execute(
        f"SELECT doctor_code FROM prescriptions WHERE rx_id IN ({','.join('?' * len(kinds['second_doctor']))})",
        sorted(kinds["second_doctor"]))}
    published = disclose_month(conn, MONTH, start=MONTH)
    assert {r.doctor_code for r in published.disclosure.rows} == doctors
