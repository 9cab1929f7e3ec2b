"""One month holding every case of the Jinan policy at once: exactly the implied flags, and no others."""

MONTH = "2026-10"
AMLO_1 = "XC08CAA040A001010101234"
AMLO_2 = "XC08CAA040A001020205678"  # same first 10 characters: the same drug


def test_a_month_with_every_case_yields_exactly_the_policy_flags(exports, db_path):
    e = exports
    e.doctor("D01", "王建国").doctor("D02", "李红", "内分泌科").doctor("D03", "赵强", "肾内科")
    single = ["S1", "S2", "S3", "S4", "S5", "S6"]
    for p in single:
        e.cert(p, "M03900")
    for p in ["T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9"]:
        e.cert(p, "M03900").cert(p, "M04600")
    e.cert("C1", "M01600").cert("C1", "M01609", kind="complication")
    e.cert("X1", "M08300").cert("X2", "M00503")
    e.cert("U1", "M03900", valid_to="2026-09-30")

    # amount caps
    e.rx("A01", "2026-10-08", "S1", items=[("苯磺酸氨氯地平片", "150.00", 7)])         # at the cap: ok
    e.rx("A02", "2026-10-08", "S2", items=[("苯磺酸氨氯地平片", "150.01", 7)])         # over: flag
    e.rx("A03", "2026-10-08", "T1", codes="M03900;M04600", items=[("单硝酸异山梨酯缓释片", "300.00", 7)])  # ok
    e.rx("A04", "2026-10-08", "T2", codes="M03900;M04600", items=[("单硝酸异山梨酯缓释片", "300.01", 7)])  # flag
    e.rx("A05", "2026-10-09", "C1", codes="M01600", items=[("阿卡波糖片", "220.00", 7)])  # complication: multi cap, ok
    e.rx("A06", "2026-10-10", "S3", doctor="D01", items=[("厄贝沙坦片", "100.00", 1)])  # split visit: both flagged
    e.rx("A07", "2026-10-10", "S3", doctor="D01", items=[("阿托伐他汀钙片", "80.00", 1)])
    e.rx("A08", "2026-10-10", "S3", doctor="D02", items=[("阿卡波糖片", "100.00", 1)])  # another doctor: own visit
    e.rx("A09", "2026-10-11", "X1", codes="M08300", items=[("他克莫司胶囊", "1800.00", 28)])  # exempt
    e.rx("A10", "2026-10-11", "X2", codes="M00503", items=[("卡培他滨片", "2600.00", 14)])  # exempt
    e.rx("A11", "2026-10-12", "S4", total="90.00", items=[("苯磺酸氨氯地平片", "100.00", 7),
                                                         ("阿托伐他汀钙片", "60.00", 7)])  # items 160: flag
    e.rx("A12", "2026-10-12", "S5", total="170.00")                                   # header only: flag
    e.rx("A13", "2026-10-13", "U1", items=[("苯磺酸氨氯地平片", "400.00", 7)])         # uncertified only

    # duplicate drugs
    e.rx("D01", "2026-10-02", "T3", doctor="D01", items=[("苯磺酸氨氯地平片", "20.00", 28, AMLO_1)])
    e.rx("D02", "2026-10-11", "T3", doctor="D02", items=[("苯磺酸氨氯地平片", "22.00", 28, AMLO_2)])  # flag (later)
    e.rx("D03", "2026-10-01", "T4", items=[("阿托伐他汀钙片", "30.00", 7)])
    e.rx("D04", "2026-10-08", "T4", items=[("阿托伐他汀钙片 20mg", "30.00", 7)])          # touching: ok
    e.rx("D05", "2026-10-03", "T5", items=[("苯磺酸氨氯地平片", "15.00", 14)])
    e.rx("D06", "2026-10-09", "T5", items=[("氨氯地平片(络活喜)", "35.00", 14)])          # salt/form variant: flag
    e.rx("D07", "2026-10-03", "S6", items=[("苯磺酸氨氯地平片", "15.00", 28, AMLO_1)])
    e.rx("D08", "2026-10-09", "S6", items=[("苯磺酸氨氯地平片", "15.00", 28, AMLO_1)])    # single disease: ok

    # same-effect drugs
    e.rx("E01", "2026-10-02", "T6", doctor="D01", items=[("厄贝沙坦片", "30.00", 28)])
    e.rx("E02", "2026-10-16", "T6", doctor="D03", items=[("缬沙坦胶囊", "40.00", 28)])    # flag (later)
    e.rx("E03", "2026-10-05", "T7", items=[("阿托伐他汀钙片", "30.00", 28), ("瑞舒伐他汀钙片", "30.00", 28)])  # flag
    e.rx("E04", "2026-10-05", "T8", items=[("阿司匹林肠溶片", "10.00", 28), ("硫酸氢氯吡格雷片", "60.00", 28)])  # allowed
    e.rx("E05", "2026-10-05", "T9", items=[("盐酸贝那普利片", "20.00", 28), ("缬沙坦胶囊", "40.00", 28)])  # ACEI+ARB: flag

    flags = exports.audit(db_path, MONTH)
    assert set(flags) == {
        ("A02", "amount_cap"), ("A04", "amount_cap"), ("A06", "amount_cap"), ("A07", "amount_cap"),
        ("A11", "amount_cap"), ("A12", "amount_cap"), ("A13", "uncertified"),
        ("D02", "duplicate_drug"), ("D06", "duplicate_drug"),
        ("E02", "same_effect_drug"), ("E03", "same_effect_drug"), ("E05", "same_effect_drug"),
    }
    assert {rx: f["related_rx_id"] for (rx, check), f in flags.items() if check.endswith("_drug")} == {
        "D02": "D01", "D06": "D05", "E02": "E01", "E03": "E03", "E05": "E05"}
    assert all(f["month"] == MONTH and f["detail"] for f in flags.values())
