"""duplicate_drug and same_effect_drug: supply windows, drug identity, fault on the later prescription."""

from builders import flagged

MONTH = "2026-10"
# national drug codes: characters 1-10 = X + ATC level 4 + generic-name id
AMLODIPINE_A = "XC08CAA040A001010101234"
AMLODIPINE_B = "XC08CAA040A001020205678"  # same drug, other package and manufacturer
NIFEDIPINE = "XC08CAX065A010010100099"


def two_diseases(exports, *patients):
    for patient in patients:
        exports.cert(patient, "M03900").cert(patient, "M04600")


def test_overlapping_supply_of_the_same_drug_flags_the_later_prescription(exports, db_path):
    two_diseases(exports, "P01")
    exports.rx("R01", "2026-10-02", "P01", doctor="D01", items=[("苯磺酸氨氯地平片", "20.00", 28, AMLODIPINE_A)])
    exports.rx("R02", "2026-10-11", "P01", doctor="D02", items=[("苯磺酸氨氯地平片", "22.00", 28, AMLODIPINE_B)])
    flags = exports.audit(db_path, MONTH)
    assert flagged(flags, "duplicate_drug") == {"R02"}
    flag = flags[("R02", "duplicate_drug")]
    assert flag["related_rx_id"] == "R01" and flag["doctor_code"] == "D02"
    assert "R01" in flag["detail"] and "用药时间重叠" in flag["detail"]
    assert flagged(flags, "same_effect_drug") == set()  # the same drug is not also "same effect"


def test_touching_windows_are_not_duplicates(exports, db_path):
    two_diseases(exports, "P02")
    exports.rx("R03", "2026-10-01", "P02", items=[("苯磺酸氨氯地平片", "5.00", 7, AMLODIPINE_A)])
    exports.rx("R04", "2026-10-08", "P02", items=[("苯磺酸氨氯地平片", "5.00", 7, AMLODIPINE_A)])
    exports.rx("R05", "2026-10-14", "P02", items=[("苯磺酸氨氯地平片", "5.00", 7, AMLODIPINE_A)])
    flags = exports.audit(db_path, MONTH)
    # R03 covers 1..7, R04 8..14, R05 14..20: only R05 overlaps (day 14)
    assert flagged(flags, "duplicate_drug") == {"R05"}


def test_missing_days_supply_means_the_same_day_only(exports, db_path):
    two_diseases(exports, "P03")
    exports.rx("R06", "2026-10-05", "P03", items=[("阿托伐他汀钙片", "30.00", None, "")])
    exports.rx("R07", "2026-10-06", "P03", items=[("阿托伐他汀钙片", "30.00", None, "")])
    exports.rx("R08", "2026-10-06", "P03", doctor="D02", time="15:00:00", items=[("阿托伐他汀钙片", "30.00", None, "")])
    flags = exports.audit(db_path, MONTH)
    assert flagged(flags, "duplicate_drug") == {"R08"}


def test_salt_and_dosage_form_variants_without_codes_are_the_same_drug(exports, db_path):
    two_diseases(exports, "P04")
    exports.rx("R09", "2026-10-03", "P04", items=[("苯磺酸氨氯地平片", "15.00", 14, "")])
    exports.rx("R10", "2026-10-09", "P04", items=[("氨氯地平片(络活喜) 5mg", "35.00", 14, "")])
    flags = exports.audit(db_path, MONTH)
    assert flagged(flags, "duplicate_drug") == {"R10"}


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


def test_duplicate_within_one_prescription(exports, db_path):
    two_diseases(exports, "P08")
    exports.rx("R16", "2026-10-08", "P08", items=[("二甲双胍片", "10.00", 28, ""), ("盐酸二甲双胍缓释片", "20.00", 28, "")])
    flags = exports.audit(db_path, MONTH)
    assert flagged(flags, "duplicate_drug") == {"R16"}
    assert "同一处方内" in flags[("R16", "duplicate_drug")]["detail"]


def test_supply_from_last_month_reaches_into_this_month(exports, db_path):
    two_diseases(exports, "P09")
    exports.rx("R17", "2026-09-20", "P09", items=[("厄贝沙坦片", "30.00", 28, "")])
    exports.rx("R18", "2026-10-10", "P09", items=[("厄贝沙坦片", "30.00", 28, "")])
    exports.rx("R19", "2026-09-25", "P09", items=[("厄贝沙坦片", "30.00", 28, "")])  # September's own problem
    flags = exports.audit(db_path, MONTH)
    assert flagged(flags, "duplicate_drug") == {"R18"}


def test_same_effect_drugs_of_one_class(exports, db_path):
    two_diseases(exports, "P10", "P11")
    exports.rx("R21", "2026-10-02", "P10", doctor="D01", items=[("厄贝沙坦片", "30.00", 28, "")])
    exports.rx("R22", "2026-10-16", "P10", doctor="D02", items=[("缬沙坦胶囊", "40.00", 28, "")])
    exports.rx("R23", "2026-10-05", "P11", items=[("阿托伐他汀钙片", "30.00", 28, ""), ("瑞舒伐他汀钙片", "30.00", 28, "")])
    flags = exports.audit(db_path, MONTH)
    assert flagged(flags, "same_effect_drug") == {"R22", "R23"}
    assert flags[("R22", "same_effect_drug")]["related_rx_id"] == "R21"
    assert flagged(flags, "duplicate_drug") == set()


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
    from mengui_core.loader import load_files
    from mengui_core.runner import audit_month
    from mengui_core.schema import connect

    two_diseases(exports, "P20")
    exports.rx("R40", "2026-08-01", "P20", items=[("厄贝沙坦片", "90.00", 90, "")])  # covers up to 2026-10-29
    conn = connect(db_path)
    load_files(conn, [exports.write()])
    october = Exports(tmp_path / "october")
    october.rx("R41", "2026-10-20", "P20", items=[("厄贝沙坦片", "10.00", 7, "")])
    load_files(conn, [october.write()])  # a later load of short supplies keeps the longest known
    longest = "SELECT value FROM settings WHERE key = 'max_days_supply'"
    assert conn.execute(longest).fetchone()[0] == "90"
    audit_month(conn, MONTH)
    assert [tuple(r) for r in conn.execute("SELECT rx_id, related_rx_id FROM flags WHERE check_id = 'duplicate_drug'")] \
        == [("R41", "R40")]
    # a database loaded before the longest supply was kept gets it from its items when opened
    conn.execute("DELETE FROM settings WHERE key = 'max_days_supply'")
    conn.execute("DELETE FROM _migrations WHERE id = 9")
    conn.close()
    conn = connect(db_path)
    assert conn.execute(longest).fetchone()[0] == "90"
