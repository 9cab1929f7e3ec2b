"""The Jinan ruleset: policy numbers, catalogs, product-name resolution, validation messages."""

import pytest

from mengui_core import plugins
from mengui_core.errors import MenguiError
from mengui_core.audit.ruleset import RulesetError
from mengui_core.money import format_yuan, yuan_to_fen


@pytest.fixture(scope="module")
def jinan():
    return plugins.load_ruleset("jinan")


def test_jinan_encodes_the_policy_numbers(jinan):
    assert yuan_to_fen(jinan.checks["amount_cap"].params["single_cap"]) == 15000
    assert yuan_to_fen(jinan.checks["amount_cap"].params["multi_cap"]) == 30000
    assert set(jinan.exempt_diseases) == {"M08300", "M00503"}
    assert jinan.checks["amount_cap"].needs_review is True
    assert jinan.checks["duplicate_drug"].needs_review is False
    assert jinan.checks["same_effect_drug"].needs_review is False
    assert jinan.default_days_supply == 1
    assert jinan.version


def test_disease_catalog_has_the_national_codes(jinan):
    codes = {d.code: d for d in jinan.diseases}
    assert len(codes) >= 45
    for code, name in [("M03900", "高血压病"), ("M01600", "糖尿病"), ("M04600", "冠心病"),
                       ("M08300", "器官移植抗排异治疗"), ("M01609", "糖尿病黄斑水肿")]:
        assert codes[code].name == name
    assert codes["M01609"].complication_of == "M01600"


@pytest.mark.parametrize(
    "product, generic, atc",
    [
        ("苯磺酸氨氯地平片", "氨氯地平", "C08CA"),
        ("马来酸左旋氨氯地平片", "左旋氨氯地平", "C08CA"),
        ("阿托伐他汀钙片", "阿托伐他汀", "C10AA"),
        ("瑞舒伐他汀钙片 10mg", "瑞舒伐他汀", "C10AA"),
        ("盐酸二甲双胍缓释片", "二甲双胍", "A10BA"),
        ("酒石酸美托洛尔片", "美托洛尔", "C07AB"),
        ("琥珀酸美托洛尔缓释片", "美托洛尔", "C07AB"),
        ("缬沙坦氨氯地平片(Ⅰ)", "缬沙坦氨氯地平", "C09DB"),
        ("硫酸氢氯吡格雷片", "氯吡格雷", "B01AC"),
        ("阿司匹林肠溶片", "阿司匹林", "B01AC"),
        ("单硝酸异山梨酯缓释片", "单硝酸异山梨酯", "C01DA"),
        ("门冬胰岛素注射液", "门冬胰岛素", "A10AB"),
        ("甘精胰岛素注射液", "甘精胰岛素", "A10AE"),
        ("恩替卡韦分散片", "恩替卡韦", "J05AF"),
        ("他克莫司胶囊", "他克莫司", "L04AD"),
    ],
)
def test_product_names_with_salts_and_dosage_forms_resolve(jinan, product, generic, atc):
    catalog = jinan.drug_catalog()
    found_generic, found_atc = catalog.resolve(product)
    assert found_atc == atc
    assert found_generic in (generic, generic.replace("左旋", "左"))


def test_unknown_names_fall_back_to_the_name_without_salt_and_form(jinan):
    assert jinan.drug_catalog().resolve("盐酸某某新药缓释片") == ("某某新药", None)


def test_money_in_rulesets_is_exact():
    assert yuan_to_fen("150.00") == 15000 and yuan_to_fen(300) == 30000 and yuan_to_fen(0.1) == 10
    with pytest.raises(ValueError):
        yuan_to_fen("150.005")
    assert format_yuan(123456) == "1,234.56" and format_yuan(5) == "0.05"


def test_validation_lists_every_problem_with_its_line(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text(
        'name = "broken"\nversion = "1"\nexempt_diseases = ["M99999"]\n\n'
        '[checks.amount_cap]\nneeds_review = "yes"\nsingle_cap = "abc"\n\n'
        '[[diseases]]\ncode = "X123"\nname = "坏编码"\n\n'
        '[[diseases]]\ncode = "M03900"\nname = "高血压病"\n',
        encoding="utf-8",
    )
    with pytest.raises(RulesetError) as info:
        plugins.load_ruleset(str(path))
    problems = info.value.problems
    assert any(p.startswith("第 10 行 diseases[0].code：病种编码应为 M + 5 位数字") for p in problems)
    assert any("第 6 行 checks.amount_cap.needs_review" in p for p in problems)
    assert any("第 7 行 checks.amount_cap.single_cap：金额应为元" in p for p in problems)
    assert any("第 3 行 exempt_diseases：免于限额的病种 M99999 不在病种目录中" in p for p in problems)


def test_unknown_ruleset_name_lists_the_installed_ones():
    with pytest.raises(MenguiError, match="已安装的规则集：jinan"):
        plugins.load_ruleset("shanghai")


def test_jinan_refill_tolerance_and_counting_by_level(jinan):
    refill = jinan.refill_tolerance
    assert (refill.default.days, refill.default.percent) == (7, 25)
    assert [refill.default.days_for(days) for days in (28, 10, 30, 60, 1, None)] == [7, 2, 7, 7, 0, 0]
    for check in ("duplicate_drug", "same_effect_drug"):
        config = jinan.checks[check]
        assert config.thresholds == [1, 7, 14] and config.counts_from == "违规" and config.needs_review is False


def test_refill_tolerance_and_counting_errors_are_located_and_in_chinese(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text(
        'name = "broken"\nversion = "1"\n\n'
        '[checks.duplicate_drug]\nneeds_review = false\ncounts_without_review_from = "严重"\n\n'   # line 6
        '[checks.amount_cap]\nneeds_review = true\ncounts_without_review_from = "违规"\n\n'      # line 10
        '[refill_tolerance]\ndays = -1\npercent = 120\nweeks = 1\n\n'                            # lines 12-15
        '[refill_tolerance.classes]\nC1 = { days = 3 }\nC08 = { days = 2.5 }\n\n'               # lines 18-19
        '[refill_tolerance.diseases]\nM99999 = { days = 3 }\n\n'                               # line 22
        '[[diseases]]\ncode = "M03900"\nname = "高血压病"\n',
        encoding="utf-8",
    )
    with pytest.raises(RulesetError) as info:
        plugins.load_ruleset(str(path))
    problems = "\n".join(info.value.problems)
    for expected in (
        "第 6 行 checks.duplicate_drug.counts_without_review_from：应为级别名称之一（提示、预警、违规），实际为 '严重'",
        "第 10 行 checks.amount_cap.counts_without_review_from：只用于 needs_review = false 的规则",
        "第 13 行 refill_tolerance.days：提前天数应为 0 到 366 之间的整数，实际为 -1",
        "第 14 行 refill_tolerance.percent：应为 0 到 100 之间的数（上次用药天数的百分比，如 25），实际为 120",
        "第 12 行 refill_tolerance：不认识的设置 weeks",
        "第 18 行 refill_tolerance.classes.C1：应为ATC 分类或其前缀",
        "第 19 行 refill_tolerance.classes.C08.days：提前天数应为 0 到 366 之间的整数，实际为 2.5",
        "第 22 行 refill_tolerance.diseases.M99999：病种 M99999 不在病种目录中",
    ):
        assert expected in problems, problems


def test_rulesets_show_explains_the_refill_tolerance_and_counting():
    from click.testing import CliRunner

    from mengui_cli.app import cli

    result = CliRunner().invoke(cli, ["rulesets", "show", "jinan"])
    assert result.exit_code == 0, result.output
    assert "续方容差（重复用药、相同疗效药品）：最多提前 7 天，且不超过上次用药天数的 25%" in result.output
    assert "违规直接计入，提示、预警需审核" in result.output
    assert "提示≥1，预警≥7，违规≥14" in result.output
