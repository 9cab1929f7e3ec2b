"""Deterministic sample HIS/claims exports for a mid-size Jinan hospital.

``write_demo_inputs(out_dir, months)`` writes one folder per month with the
five input files of docs/usage.md ("Input files") (doctors, certifications, prescriptions,
rx_items, claims), the way a hospital's HIS and the insurance settlement
system would export them:

* ``doctors.csv`` / ``rx_items.csv`` / ``claims.csv`` — canonical English
  headers, UTF-8;
* ``certifications.csv`` — Chinese headers, UTF-8 with BOM;
* ``prescriptions.csv`` — Chinese headers, GBK.

``doctors.csv`` and ``certifications.csv`` are the full roster and are
byte-identical in every month folder (a re-export: loading them again must
change nothing).

The "normal" data obeys the Jinan rules: every prescribing event stays within
its cap, and patients come back for their refills the way chronic patients do:
about half a few days before the last supply runs out (at most a fifth of it
and never more than 5 days early: an on-time refill under Jinan's tolerance of
7 days and 25 %), the others on the day or a few days late; now and then
another doctor of the department is on duty, and now and then the patient is
switched to another drug of the same class at a refill.  No patient holds two
drugs of one therapeutic group otherwise.  On top of it, each month gets a set of *planted*
cases — violations and look-alike edge cases that must **not** be flagged —
listed in the returned manifest so tests can compare an audit's flags with
the truth.  Planted cases use their own patients, so they never interact
with the normal data or with each other.  The cases of the monitoring checks
(``revoked_doctor``, ``over_supply``, ``frequent_visits``, ``doctor_outlier``)
use two extra roster doctors (a 进修医师 without the 定岗 qualification, a
high-cost cardiologist).

*Repeat offenders* (:func:`offender_schedule`) keep the three-strike ladder busy: three roles
(a duplicate drug, two same-effect drugs across prescriptions, two statins in one prescription),
each played by one doctor after another for up to three months in a row (Jinan's
``months_to_revoke``). The phases are staggered so that the last month lists one offender at each
level (三级, 二级, 一级). A doctor whose third month is inside the demo is revoked by that month's
published list, effective the first day of the next month; from that day he writes no 门规
prescription (his patients see colleagues), so nobody revoked keeps prescribing unflagged.

Realistic quirks that loaders and checks must cope with: ~15 % of items have
no national drug code (old HIS records, only the name identifies the drug),
~10 % have no ``days_supply``, a few prescriptions bill a local extension of
a disease code (``M0390001`` for ``M03900``), the same drug appears from
several manufacturers (codes differ only after character 10), and patients
sometimes switch manufacturer or drug at a refill.

Everything comes from one ``random.Random(seed)``: the same seed and months
give byte-identical files.  Money is integer 分 throughout.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import pathlib
import random
import re
from dataclasses import dataclass, field

from importlib.resources import files

from .. import months as month_names
from ..audit.ruleset import parse_file
from ..money import yuan_to_fen
from ..db.files import open_private
from ..money import format_yuan

__all__ = ["write_demo_inputs", "build_demo_data", "DRUGS", "DISEASES", "EXEMPT_DISEASES"]

# ---------------------------------------------------------------------------
# Reference tables
# ---------------------------------------------------------------------------

#: department -> number of doctors (40 in all)
DEPARTMENTS: list[tuple[str, int]] = [
    ("心血管内科", 7),
    ("内分泌科", 6),
    ("神经内科", 5),
    ("呼吸内科", 4),
    ("消化内科(肝病)", 4),
    ("肾内科", 4),
    ("肿瘤科", 4),
    ("全科医学科", 6),
]

#: code -> (name, kind). Kind is "disease" or "complication".
DISEASES: dict[str, tuple[str, str]] = {
    "M03900": ("高血压病", "disease"),
    "M01600": ("糖尿病", "disease"),
    "M04600": ("冠心病", "disease"),
    "M04803": ("脑血管疾病后遗症", "disease"),
    "M05300": ("慢性阻塞性肺疾病", "disease"),
    "M00201": ("慢性乙型肝炎", "disease"),
    "M06201": ("肝硬化（失代偿期）", "disease"),
    "M07803": ("慢性肾功能不全（血透）", "disease"),
    "M00503": ("恶性肿瘤放、化、介入或核素治疗", "disease"),
    "M08300": ("器官移植抗排异治疗", "disease"),
    "M01609": ("糖尿病黄斑水肿", "complication"),
}

#: The hospital works under the Jinan ruleset: its numbers come from the ruleset file itself.
JINAN = parse_file(pathlib.Path(str(files("mengui_rulesets") / "jinan.toml")))
#: not capped (Jinan: anti-rejection after transplant and cancer chemotherapy)
EXEMPT_DISEASES: tuple[str, ...] = tuple(JINAN.exempt_diseases)
SINGLE_CAP_FEN = yuan_to_fen(JINAN.checks["amount_cap"].params["single_cap"])
MULTI_CAP_FEN = yuan_to_fen(JINAN.checks["amount_cap"].params["multi_cap"])
#: days of supply per item, in general and for the diseases with their own maximum
MAX_DAYS = JINAN.checks["over_supply"].params["max_days"]
LONG_RX_DAYS = JINAN.checks["over_supply"].params["diseases"]["M00201"]
#: 门规 visits a month before frequent_visits flags
MAX_VISITS = JINAN.checks["frequent_visits"].params["max_visits"]

#: disease -> [(department, weight)] of the doctors who usually treat it
DISEASE_DEPARTMENTS: dict[str, list[tuple[str, int]]] = {
    "M03900": [("心血管内科", 7), ("全科医学科", 3)],
    "M01600": [("内分泌科", 75), ("全科医学科", 25)],
    "M01609": [("内分泌科", 1)],
    "M04600": [("心血管内科", 85), ("全科医学科", 15)],
    "M04803": [("神经内科", 85), ("全科医学科", 15)],
    "M05300": [("呼吸内科", 85), ("全科医学科", 15)],
    "M00201": [("消化内科(肝病)", 1)],
    "M06201": [("消化内科(肝病)", 1)],
    "M07803": [("肾内科", 1)],
    "M00503": [("肿瘤科", 1)],
    "M08300": [("肾内科", 1)],
}

#: how many patients have which diseases (55 % one, 35 % two, 10 % three)
SINGLE_DISEASES: list[tuple[tuple[str, ...], int]] = [
    (("M03900",), 35), (("M01600",), 22), (("M04600",), 10), (("M04803",), 8),
    (("M05300",), 7), (("M00201",), 6), (("M06201",), 3), (("M07803",), 3),
    (("M00503",), 4), (("M08300",), 2),
]
DISEASE_PAIRS: list[tuple[tuple[str, ...], int]] = [
    (("M03900", "M01600"), 30), (("M03900", "M04600"), 25), (("M01600", "M01609"), 10),
    (("M03900", "M04803"), 12), (("M01600", "M04600"), 8), (("M03900", "M07803"), 5),
    (("M00201", "M06201"), 5), (("M03900", "M05300"), 5), (("M08300", "M03900"), 3),
    (("M00503", "M03900"), 3), (("M00503", "M01600"), 2),
]
DISEASE_TRIPLES: list[tuple[tuple[str, ...], int]] = [
    (("M03900", "M01600", "M04600"), 35), (("M03900", "M01600", "M01609"), 20),
    (("M03900", "M04600", "M04803"), 20), (("M03900", "M07803", "M01600"), 10),
    (("M03900", "M01600", "M04803"), 15),
]
DISEASE_COUNT_WEIGHTS = [(SINGLE_DISEASES, 55), (DISEASE_PAIRS, 35), (DISEASE_TRIPLES, 10)]

#: (insurance type, weight, fund share range in ‰)
INSURANCE_TYPES: list[tuple[str, int, tuple[int, int]]] = [
    ("城镇职工医疗保险", 60, (850, 900)),
    ("城镇居民医疗保险", 22, (700, 750)),
    ("优抚对象医疗保险", 4, (850, 900)),
    ("省直企业医疗保险", 6, (880, 900)),
    ("新型农村合作医疗", 6, (700, 720)),
    ("离休", 2, (900, 900)),
]

#: dosage form -> 4-character form code used in characters 11-14 of a drug code
FORM_CODES = {
    "片剂": "A001", "胶囊": "A003", "软胶囊": "A004", "缓释片": "A005",
    "控释片": "A006", "肠溶片": "A007", "注射液": "A026", "吸入剂": "A027",
}


@dataclass(frozen=True)
class Product:
    """One manufacturer's package of a drug, with the hospital's price."""

    spec: str
    unit: str
    price_fen: int
    days: int  # days of therapy one unit (box, pen, bottle) covers at the usual dose
    mfr: str  # 4-digit manufacturer code (characters 20-23 of the drug code)
    weight: int  # how often the hospital dispenses this product
    code: str = ""  # full 23-character national drug code, filled in by _catalog


@dataclass(frozen=True)
class Drug:
    """A drug (characters 1-10 of the national code) and its products."""

    key: str
    name: str  # product generic name with salt and dosage form, as HIS prints it
    generic: str  # generic name without salt or form
    atc: str  # ATC level-4 class
    gid: str  # generic-name id: pinyin initial + 3-digit serial
    form: str
    products: tuple[Product, ...]

    @property
    def prefix(self) -> str:
        """Characters 1-10 of the national drug code: the same drug."""
        return "X" + self.atc + self.gid


# key, name, generic, ATC, generic id, form, products (spec, unit, 分, days/unit, mfr, weight)
_DRUG_ROWS = [
    ("amlodipine", "苯磺酸氨氯地平片", "氨氯地平", "C08CA", "A040", "片剂", [
        ("5mg*28片", "盒", 420, 28, "3104", 6), ("5mg*7片", "盒", 2480, 7, "0012", 2),
        ("5mg*14片", "盒", 266, 14, "5527", 3)]),
    ("nifedipine", "硝苯地平控释片", "硝苯地平", "C08CA", "X036", "控释片", [
        ("30mg*7片", "盒", 3262, 7, "0021", 3), ("30mg*12片", "盒", 1250, 12, "4410", 4)]),
    ("nimodipine", "尼莫地平片", "尼莫地平", "C08CA", "N006", "片剂", [
        ("30mg*20片", "盒", 480, 6, "2217", 1)]),
    ("irbesartan", "厄贝沙坦片", "厄贝沙坦", "C09CA", "E002", "片剂", [
        ("0.15g*28片", "盒", 588, 28, "3618", 5), ("0.15g*7片", "盒", 2806, 7, "0033", 2)]),
    ("valsartan", "缬沙坦胶囊", "缬沙坦", "C09CA", "X054", "胶囊", [
        ("80mg*28粒", "盒", 840, 28, "2905", 4), ("80mg*7粒", "盒", 2100, 7, "0041", 2)]),
    ("benazepril", "盐酸贝那普利片", "贝那普利", "C09AA", "B012", "片剂", [
        ("10mg*28片", "盒", 980, 28, "3301", 3), ("10mg*14片", "盒", 2960, 14, "0042", 1)]),
    ("metoprolol", "酒石酸美托洛尔片", "美托洛尔", "C07AB", "M018", "片剂", [
        ("25mg*20片", "盒", 390, 10, "0057", 4), ("25mg*60片", "瓶", 960, 30, "1876", 2)]),
    ("hydrochlorothiazide", "氢氯噻嗪片", "氢氯噻嗪", "C03AA", "Q008", "片剂", [
        ("25mg*100片", "瓶", 300, 100, "1502", 1)]),
    ("indapamide", "吲达帕胺片", "吲达帕胺", "C03BA", "Y045", "片剂", [
        ("2.5mg*30片", "盒", 450, 30, "2716", 1)]),
    ("atorvastatin", "阿托伐他汀钙片", "阿托伐他汀", "C10AA", "A191", "片剂", [
        ("20mg*28片", "盒", 336, 28, "4022", 6), ("20mg*7片", "盒", 1980, 7, "0061", 2)]),
    ("rosuvastatin", "瑞舒伐他汀钙片", "瑞舒伐他汀", "C10AA", "R011", "片剂", [
        ("10mg*28片", "盒", 560, 28, "3837", 5), ("10mg*7片", "盒", 2390, 7, "0074", 1)]),
    ("ezetimibe", "依折麦布片", "依折麦布", "C10AX", "Y211", "片剂", [
        ("10mg*10片", "盒", 780, 10, "4519", 3), ("10mg*10片", "盒", 2260, 10, "0083", 1)]),
    ("metformin", "盐酸二甲双胍片", "二甲双胍", "A10BA", "E015", "片剂", [
        ("0.5g*60片", "盒", 240, 30, "2133", 6), ("0.5g*20片", "盒", 298, 10, "0095", 2)]),
    ("acarbose", "阿卡波糖片", "阿卡波糖", "A10BF", "A021", "片剂", [
        ("50mg*30片", "盒", 540, 10, "3925", 4), ("50mg*30片", "盒", 1470, 10, "0102", 2)]),
    ("glimepiride", "格列美脲片", "格列美脲", "A10BB", "G038", "片剂", [
        ("2mg*15片", "盒", 150, 15, "2650", 4), ("2mg*15片", "盒", 1860, 15, "0118", 1)]),
    ("sitagliptin", "磷酸西格列汀片", "西格列汀", "A10BH", "X221", "片剂", [
        ("100mg*28片", "盒", 1330, 28, "4703", 3), ("100mg*7片", "盒", 2100, 7, "0125", 1)]),
    ("dapagliflozin", "达格列净片", "达格列净", "A10BK", "D235", "片剂", [
        ("10mg*28片", "盒", 1820, 28, "4811", 3), ("10mg*14片", "盒", 6104, 14, "0131", 1)]),
    ("insulin_aspart", "门冬胰岛素注射液", "门冬胰岛素", "A10AB", "M061", "注射液", [
        ("3ml:300单位(笔芯)", "支", 6850, 15, "0147", 2), ("3ml:300单位(笔芯)", "支", 6000, 15, "5209", 2)]),
    ("insulin_glargine", "甘精胰岛素注射液", "甘精胰岛素", "A10AE", "G110", "注射液", [
        ("3ml:300单位(预填充)", "支", 7190, 20, "0156", 2), ("3ml:300单位(预填充)", "支", 6420, 20, "5214", 3)]),
    ("mecobalamin", "甲钴胺片", "甲钴胺", "B03BA", "J078", "片剂", [
        ("0.5mg*60片", "盒", 1200, 20, "3342", 3), ("0.5mg*20片", "盒", 1730, 6, "0163", 1)]),
    ("calcium_dobesilate", "羟苯磺酸钙胶囊", "羟苯磺酸钙", "C05BX", "Q041", "胶囊", [
        ("0.5g*20粒", "盒", 1100, 10, "2958", 3), ("0.25g*20粒", "盒", 2950, 5, "0172", 1)]),
    ("aspirin", "阿司匹林肠溶片", "阿司匹林", "B01AC", "A019", "肠溶片", [
        ("100mg*30片", "盒", 1540, 30, "0188", 3), ("100mg*30片", "盒", 450, 30, "1620", 4)]),
    ("clopidogrel", "硫酸氢氯吡格雷片", "氯吡格雷", "B01AC", "L067", "片剂", [
        ("75mg*28片", "盒", 1120, 28, "4236", 4), ("75mg*7片", "盒", 2600, 7, "0194", 1)]),
    ("isosorbide_mononitrate", "单硝酸异山梨酯缓释片", "单硝酸异山梨酯", "C01DA", "D026", "缓释片", [
        ("40mg*24片", "盒", 1200, 24, "2471", 3), ("60mg*7片", "盒", 2420, 7, "0203", 1)]),
    ("trimetazidine", "盐酸曲美他嗪片", "曲美他嗪", "C01EB", "Q012", "片剂", [
        ("20mg*30片", "盒", 450, 10, "3590", 3), ("20mg*30片", "盒", 2990, 10, "0219", 1)]),
    ("citicoline", "胞磷胆碱钠胶囊", "胞磷胆碱", "N06BX", "B047", "胶囊", [
        ("0.1g*24粒", "盒", 1980, 8, "3067", 1)]),
    ("tiotropium", "噻托溴铵粉吸入剂", "噻托溴铵", "R03BB", "S168", "吸入剂", [
        ("18μg*30粒", "盒", 2980, 30, "4148", 3), ("18μg*10粒", "盒", 4580, 10, "0225", 1)]),
    ("salmeterol_fluticasone", "沙美特罗替卡松粉吸入剂", "沙美特罗替卡松", "R03AK", "S060", "吸入剂", [
        ("50μg/250μg*60吸", "支", 5880, 30, "4925", 3), ("50μg/250μg*60吸", "支", 13520, 30, "0238", 1)]),
    ("theophylline", "茶碱缓释片", "茶碱", "R03DA", "C029", "缓释片", [
        ("0.1g*24片", "盒", 520, 12, "1733", 1)]),
    ("acetylcysteine", "乙酰半胱氨酸泡腾片", "乙酰半胱氨酸", "R05CB", "Y072", "片剂", [
        ("0.6g*10片", "盒", 1900, 10, "0241", 1)]),
    ("entecavir", "恩替卡韦片", "恩替卡韦", "J05AF", "E043", "片剂", [
        ("0.5mg*28片", "盒", 560, 28, "3789", 5), ("0.5mg*7片", "盒", 4800, 7, "0256", 1)]),
    ("tenofovir", "富马酸替诺福韦二吡呋酯片", "替诺福韦二吡呋酯", "J05AF", "T150", "片剂", [
        ("300mg*30片", "瓶", 1530, 30, "4364", 3), ("300mg*30片", "瓶", 4320, 30, "0262", 1)]),
    ("spironolactone", "螺内酯片", "螺内酯", "C03DA", "L093", "片剂", [
        ("20mg*100片", "瓶", 500, 50, "1428", 1)]),
    ("furosemide", "呋塞米片", "呋塞米", "C03CA", "F020", "片剂", [
        ("20mg*100片", "瓶", 320, 100, "1395", 1)]),
    ("propranolol", "盐酸普萘洛尔片", "普萘洛尔", "C07AA", "P034", "片剂", [
        ("10mg*100片", "瓶", 800, 33, "1561", 1)]),
    ("sevelamer", "碳酸司维拉姆片", "司维拉姆", "V03AE", "S212", "片剂", [
        ("0.8g*36片", "盒", 1620, 12, "4687", 3), ("0.8g*30片", "盒", 3600, 10, "0277", 1)]),
    ("calcitriol", "骨化三醇软胶囊", "骨化三醇", "A11CC", "G053", "软胶囊", [
        ("0.25μg*20粒", "盒", 1100, 20, "3452", 2), ("0.25μg*10粒", "盒", 2400, 10, "0283", 1)]),
    ("ferrous_succinate", "琥珀酸亚铁片", "琥珀酸亚铁", "B03AA", "H015", "片剂", [
        ("0.1g*24片", "盒", 1050, 8, "2594", 1)]),
    ("tacrolimus", "他克莫司胶囊", "他克莫司", "L04AD", "T092", "胶囊", [
        ("1mg*50粒", "盒", 58900, 25, "0291", 1), ("1mg*50粒", "盒", 40000, 25, "4057", 2),
        ("0.5mg*50粒", "盒", 31500, 12, "0291", 1)]),
    ("mycophenolate", "吗替麦考酚酯胶囊", "吗替麦考酚酯", "L04AA", "M058", "胶囊", [
        ("0.25g*40粒", "盒", 12800, 10, "0304", 1), ("0.25g*40粒", "盒", 5260, 10, "3971", 2)]),
    ("prednisone", "醋酸泼尼松片", "泼尼松", "H02AB", "P008", "片剂", [
        ("5mg*100片", "瓶", 820, 50, "1287", 1)]),
    ("capecitabine", "卡培他滨片", "卡培他滨", "L01BC", "K012", "片剂", [
        ("0.5g*12片", "盒", 1600, 2, "4473", 3), ("0.5g*12片", "盒", 9850, 2, "0317", 1)]),
    ("letrozole", "来曲唑片", "来曲唑", "L02BG", "L104", "片剂", [
        ("2.5mg*30片", "盒", 1800, 30, "3725", 3), ("2.5mg*10片", "盒", 2000, 10, "0326", 1)]),
]

#: ATC classes that the generator never lets overlap in one patient, beyond
#: "same ATC class": rulesets may merge these (dual RAAS blockade, thiazides,
#: insulins), so the normal data stays clean under any of them.
CONFLICT_GROUP_MERGES = {
    "C09AA": "RAAS", "C09CA": "RAAS", "C03AA": "THIAZIDE", "C03BA": "THIAZIDE",
    "A10AB": "INSULIN", "A10AE": "INSULIN",
}

#: disease -> slots; each slot (probability, [(drug key, weight), ...]) adds
#: at most one drug of its alternatives to a patient's regimen.
REGIMENS: dict[str, list[tuple[float, list[tuple[str, int]]]]] = {
    "M03900": [
        (0.8, [("amlodipine", 6), ("nifedipine", 4)]),
        (0.7, [("irbesartan", 4), ("valsartan", 4), ("benazepril", 2)]),
        (0.4, [("metoprolol", 1)]),
        (0.25, [("hydrochlorothiazide", 1), ("indapamide", 1)]),
    ],
    "M01600": [
        (0.8, [("metformin", 1)]),
        (0.7, [("acarbose", 3), ("glimepiride", 2), ("sitagliptin", 2), ("dapagliflozin", 2)]),
        (0.25, [("insulin_glargine", 3), ("insulin_aspart", 2)]),
        (0.4, [("mecobalamin", 1)]),
    ],
    "M01609": [
        (1.0, [("calcium_dobesilate", 1)]),
        (0.4, [("mecobalamin", 1)]),
    ],
    "M04600": [
        (0.9, [("aspirin", 7), ("clopidogrel", 3)]),
        (0.85, [("atorvastatin", 5), ("rosuvastatin", 5)]),
        (0.5, [("metoprolol", 1)]),
        (0.4, [("isosorbide_mononitrate", 1)]),
        (0.3, [("trimetazidine", 1)]),
        (0.12, [("ezetimibe", 1)]),
    ],
    "M04803": [
        (0.85, [("aspirin", 6), ("clopidogrel", 4)]),
        (0.75, [("atorvastatin", 5), ("rosuvastatin", 5)]),
        (0.35, [("mecobalamin", 1)]),
        (0.3, [("citicoline", 1)]),
        (0.15, [("nimodipine", 1)]),
    ],
    "M05300": [
        (0.7, [("tiotropium", 1)]),
        (0.6, [("salmeterol_fluticasone", 1)]),
        (0.35, [("theophylline", 1)]),
        (0.35, [("acetylcysteine", 1)]),
    ],
    "M00201": [
        (1.0, [("entecavir", 7), ("tenofovir", 3)]),
    ],
    "M06201": [
        (0.7, [("entecavir", 7), ("tenofovir", 3)]),
        (0.85, [("spironolactone", 1)]),
        (0.65, [("furosemide", 1)]),
        (0.45, [("propranolol", 1)]),
    ],
    "M07803": [
        (0.85, [("sevelamer", 1)]),
        (0.7, [("calcitriol", 1)]),
        (0.55, [("ferrous_succinate", 1)]),
    ],
    "M08300": [
        (1.0, [("tacrolimus", 1)]),
        (0.9, [("mycophenolate", 1)]),
        (0.6, [("prednisone", 1)]),
    ],
    "M00503": [
        (1.0, [("capecitabine", 6), ("letrozole", 4)]),
    ],
}

#: days of supply a doctor writes for a normal refill
SUPPLY_DAYS: list[tuple[int, int]] = [(7, 22), (14, 42), (28, 26), (30, 10)]
#: days a patient comes back after the supply has run out (when not early)
REFILL_DELAYS: list[tuple[int, int]] = [(0, 30), (1, 25), (2, 15), (3, 12), (5, 8), (8, 6), (12, 4)]
#: share of refills that come a few days before the supply runs out
EARLY_SHARE = 0.5
#: an early refill comes at most this many days, and at most this share of the supply, before it runs out
EARLY_MAX_DAYS, EARLY_MAX_SHARE = 5, 0.2


def _refill_offset(rng: random.Random, days: int) -> int:
    """Days after the supply of ``days`` days runs out that the patient comes back (negative: early).
    A patient with a week's supply comes back when it runs out, or later."""
    early = min(EARLY_MAX_DAYS, int(days * EARLY_MAX_SHARE)) if days >= 14 else 0
    if early and rng.random() < EARLY_SHARE:
        return -rng.randint(1, early)
    return _weighted(rng, REFILL_DELAYS)

#: the simulation starts this many days before the first month, so that the
#: first month already has the steady-state mix of refills
WARMUP_DAYS = 35

#: fixed-date public holidays (month, day) on which no outpatient 门规 clinic runs
HOLIDAYS = {(1, 1), (5, 1), (5, 2), (5, 3), (5, 4), (5, 5),
            (10, 1), (10, 2), (10, 3), (10, 4), (10, 5), (10, 6), (10, 7)}

#: 济南 districts for 参保人编号 prefixes
DISTRICTS = ["370102", "370103", "370104", "370105", "370112", "370113", "370114", "370181"]

SURNAMES: list[tuple[str, int]] = [
    ("王", 90), ("张", 80), ("李", 80), ("刘", 60), ("孙", 35), ("徐", 25), ("陈", 25),
    ("杨", 25), ("赵", 25), ("马", 20), ("高", 20), ("于", 18), ("郭", 15), ("董", 12),
    ("田", 10), ("韩", 10), ("宋", 10), ("吕", 8), ("魏", 8), ("孔", 6), ("周", 8),
    ("吴", 6), ("朱", 8), ("曹", 6), ("崔", 8), ("姜", 8), ("侯", 5), ("邢", 4),
    ("鲁", 4), ("毕", 4), ("石", 5), ("任", 5), ("冯", 5), ("袁", 4), ("程", 5),
    ("庞", 3), ("谭", 3), ("尹", 4), ("牛", 4), ("丁", 4), ("焦", 3), ("房", 3),
]
GIVEN_NAMES: list[str] = [
    "秀英", "桂兰", "玉兰", "淑珍", "秀兰", "凤英", "玉珍", "桂英", "秀珍", "淑英",
    "建国", "建华", "国强", "志强", "卫东", "建军", "国华", "德胜", "立新", "振华",
    "庆华", "爱华", "红梅", "丽娟", "春梅", "海燕", "玉梅", "金凤", "素芳", "瑞芝",
    "明", "军", "红", "伟", "静", "敏", "强", "勇", "丽", "霞", "涛", "斌", "平",
    "文杰", "宏伟", "海军", "继峰", "士杰", "传胜", "广才", "成林", "玉山", "庆祥",
    "兆亮", "德明", "凤琴", "翠花", "秀云", "美玲", "永刚", "长青", "学文", "洪波",
]


def _catalog(rows) -> dict[str, Drug]:
    """Build the drug table and each product's 23-character national code."""
    drugs: dict[str, Drug] = {}
    prefixes: dict[str, str] = {}
    for key, name, generic, atc, gid, form, products in rows:
        built = []
        for index, (spec, unit, price, days, mfr, weight) in enumerate(products):
            pack = re.search(r"\*(\d+)", spec)
            spec_code = f"{index + 1:02d}{int(pack.group(1)) if pack else 1:03d}"
            code = "X" + atc + gid + FORM_CODES[form] + spec_code + mfr
            assert len(code) == 23, code
            built.append(Product(spec, unit, price, days, mfr, weight, code))
        drug = Drug(key, name, generic, atc, gid, form, tuple(built))
        assert drug.prefix not in prefixes, (key, prefixes.get(drug.prefix))
        prefixes[drug.prefix] = key
        drugs[key] = drug
    return drugs


DRUGS: dict[str, Drug] = _catalog(_DRUG_ROWS)


def conflict_group(drug_key: str) -> str:
    """The therapeutic group the generator keeps one drug of per patient."""
    atc = DRUGS[drug_key].atc
    return CONFLICT_GROUP_MERGES.get(atc, atc)


# ---------------------------------------------------------------------------
# Data model
# ---------------------------------------------------------------------------

@dataclass
class Doctor:
    code: str
    name: str
    department: str
    qualified: bool = True  # holds the 医保定岗医师 qualification (doctors.csv ``qualified``)


@dataclass
class Certification:
    patient_id: str
    disease_code: str
    valid_from: dt.date
    valid_to: dt.date | None

    def valid_on(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


@dataclass
class Track:
    """One certified disease of a patient: its regimen, doctor and refill date."""

    disease: str
    drugs: list[str]
    doctor: Doctor
    next_visit: dt.date
    slots: list[list[tuple[str, int]]] = field(default_factory=list)


@dataclass
class Patient:
    patient_id: str
    name: str
    insurance: str
    certifications: list[Certification] = field(default_factory=list)
    tracks: list[Track] = field(default_factory=list)
    products: dict[str, int] = field(default_factory=dict)  # drug key -> product index

    def disease_count(self, day: dt.date) -> int:
        return len({c.disease_code for c in self.certifications if c.valid_on(day)})

    def cap_fen(self, day: dt.date) -> int:
        return MULTI_CAP_FEN if self.disease_count(day) >= 2 else SINGLE_CAP_FEN


@dataclass
class Item:
    drug_code: str
    drug_name: str
    spec: str
    quantity: int
    unit: str
    unit_price_fen: int
    days_supply: int | None

    @property
    def amount_fen(self) -> int:
        return self.quantity * self.unit_price_fen


@dataclass
class Prescription:
    when: dt.datetime
    patient: Patient
    doctor: Doctor
    disease_codes: list[str]
    items: list[Item]
    seq: int = 0  # creation order, breaks ties between equal times
    rx_id: str = ""
    settle_minutes: int = 5
    fund_permille: int = 850

    @property
    def amount_fen(self) -> int:
        return sum(item.amount_fen for item in self.items)


@dataclass
class DemoData:
    months: list[str]
    doctors: list[Doctor]
    patients: list[Patient]
    prescriptions: list[Prescription]
    planted: dict[str, list[dict]]
    repeat_offenders: list[str]
    offenders: list["Offender"] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

def _weighted(rng: random.Random, pairs):
    """Pick one value from [(value, weight), ...]."""
    values = [v for v, _ in pairs]
    weights = [w for _, w in pairs]
    return rng.choices(values, weights=weights, k=1)[0]


def _month_bounds(month: str) -> tuple[dt.date, dt.date]:
    return tuple(dt.date.fromisoformat(day) for day in month_names.bounds(month))


def _is_workday(day: dt.date) -> bool:
    return day.weekday() < 5 and (day.month, day.day) not in HOLIDAYS


def _next_workday(day: dt.date) -> dt.date:
    while not _is_workday(day):
        day += dt.timedelta(days=1)
    return day


def _workdays(first: dt.date, last: dt.date) -> list[dt.date]:
    """Working days from ``first`` to ``last`` inclusive."""
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)
            if _is_workday(first + dt.timedelta(days=i))]


def _clinic_time(rng: random.Random, day: dt.date) -> dt.datetime:
    """A time in clinic hours: 08:00-11:59 or 13:30-17:25."""
    if rng.random() < 0.65:
        seconds = rng.randrange(8 * 3600, 12 * 3600)
    else:
        seconds = rng.randrange(13 * 3600 + 1800, 17 * 3600 + 1500)
    return dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds)


def _validate_months(months: list[str]) -> list[str]:
    if not months:
        raise ValueError("months must not be empty")
    for month in months:
        month_names.parse(month)
    if list(months) != month_names.span(months[0], months[-1]):
        raise ValueError("months must be consecutive, e.g. ['2026-08', '2026-09']")
    return list(months)


# ---------------------------------------------------------------------------
# People
# ---------------------------------------------------------------------------

def _person_name(rng: random.Random) -> str:
    return _weighted(rng, SURNAMES) + rng.choice(GIVEN_NAMES)


def _make_doctors(rng: random.Random) -> list[Doctor]:
    doctors = []
    for dept_index, (department, count) in enumerate(DEPARTMENTS):
        serials = sorted(rng.sample(range(1, 60), count))
        for serial in serials:
            code = f"YS{(dept_index + 1) * 100 + serial:04d}"
            doctors.append(Doctor(code, _person_name(rng), department))
    return doctors


class _IdPool:
    """Unique 参保人编号: district prefix + 12 digits."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: set[str] = set()

    def new(self) -> str:
        while True:
            pid = self.rng.choice(DISTRICTS) + f"{self.rng.randrange(10**11, 10**12):012d}"
            if pid not in self.used:
                self.used.add(pid)
                return pid


def _new_patient(rng: random.Random, ids: _IdPool) -> Patient:
    insurance = _weighted(rng, [(name, w) for name, w, _ in INSURANCE_TYPES])
    return Patient(ids.new(), _person_name(rng), insurance)


def _certify(rng: random.Random, patient: Patient, codes, first: dt.date, last: dt.date) -> None:
    """Certifications valid over the whole generated span."""
    for code in codes:
        valid_from = first - dt.timedelta(days=rng.randint(120, 3650))
        valid_to = None
        if code in EXEMPT_DISEASES or rng.random() < 0.1:
            valid_to = last + dt.timedelta(days=rng.randint(45, 900))
        patient.certifications.append(Certification(patient.patient_id, code, valid_from, valid_to))


def _add_expired_certification(rng: random.Random, patient: Patient, first: dt.date) -> None:
    """An old certification of another disease that ended before the span."""
    held = {c.disease_code for c in patient.certifications}
    candidates = [code for code in ("M00503", "M05300", "M00201", "M04803") if code not in held]
    code = rng.choice(candidates)
    valid_to = first - dt.timedelta(days=rng.randint(30, 900))
    valid_from = valid_to - dt.timedelta(days=rng.randint(365, 1460))
    patient.certifications.append(Certification(patient.patient_id, code, valid_from, valid_to))


# ---------------------------------------------------------------------------
# Regimens and prescriptions
# ---------------------------------------------------------------------------

def _pick_product(rng: random.Random, drug_key: str) -> int:
    products = DRUGS[drug_key].products
    return _weighted(rng, [(i, p.weight) for i, p in enumerate(products)])


def _quantity(product: Product, days: int) -> int:
    return max(1, math.ceil(days / product.days))


def _min_cost(patient: Patient, drug_key: str) -> int:
    product = DRUGS[drug_key].products[patient.products[drug_key]]
    return _quantity(product, 7) * product.price_fen


def _build_regimens(rng: random.Random, patient: Patient, codes, doctors_by_dept,
                    first: dt.date) -> None:
    """One track per disease; one drug per conflict group across the patient."""
    used_groups: list[str] = []
    cap = MULTI_CAP_FEN if len(codes) >= 2 else SINGLE_CAP_FEN
    track_doctor: dict[str, Doctor] = {}
    for code in codes:
        drugs, slots = [], []
        for probability, alternatives in REGIMENS[code]:
            if rng.random() >= probability and drugs:
                continue
            choices = [(k, w) for k, w in alternatives if conflict_group(k) not in used_groups]
            if not choices:
                continue
            key = _weighted(rng, choices)
            drugs.append(key)
            slots.append(alternatives)
            used_groups.append(conflict_group(key))
            patient.products[key] = _pick_product(rng, key)
        if not drugs:
            continue
        department = _weighted(rng, DISEASE_DEPARTMENTS[code])
        doctor = track_doctor.get(department) or rng.choice(doctors_by_dept[department])
        track_doctor[department] = doctor
        start = first + dt.timedelta(days=rng.randint(0, 27))
        patient.tracks.append(Track(code, drugs, doctor, _next_workday(start), slots))
    _fit_regimens_to_cap(patient, cap)


def _fit_regimens_to_cap(patient: Patient, cap: int) -> None:
    """Drop pricey optional drugs until a 7-day refill of everything fits 85 % of the cap."""
    capped = [t for t in patient.tracks if t.disease not in EXEMPT_DISEASES]
    while sum(_min_cost(patient, k) for t in capped for k in t.drugs) > cap * 85 // 100:
        optional = [(t, k) for t in capped for k in t.drugs if len(t.drugs) > 1]
        if not optional:
            for track in capped:  # last resort: the cheapest product of everything
                for key in track.drugs:
                    products = DRUGS[key].products
                    patient.products[key] = min(range(len(products)), key=lambda i: products[i].price_fen)
            break
        track, key = max(optional, key=lambda tk: _min_cost(patient, tk[1]))
        index = track.drugs.index(key)
        del track.drugs[index], track.slots[index]


def _make_item(rng: random.Random, patient: Patient, drug_key: str, days: int,
               *, quirks: bool = True) -> Item:
    """A prescription line for ``days`` of therapy with the patient's product."""
    drug = DRUGS[drug_key]
    product = drug.products[patient.products[drug_key]]
    code = product.code
    days_supply: int | None = days
    if quirks:
        if rng.random() < 0.15:
            code = ""
        if rng.random() < 0.10:
            days_supply = None
    return Item(code, drug.name, product.spec, _quantity(product, days), product.unit,
                product.price_fen, days_supply)


def _maybe_switch(rng: random.Random, patient: Patient, track: Track) -> None:
    """At a refill, sometimes change manufacturer or switch to a same-slot drug."""
    for index, key in enumerate(track.drugs):
        roll = rng.random()
        if roll < 0.03 and len(DRUGS[key].products) > 1:
            patient.products[key] = _pick_product(rng, key)
        elif roll < 0.045:
            others_groups = [conflict_group(k) for t in patient.tracks for k in t.drugs if k != key]
            choices = [(k, w) for k, w in track.slots[index]
                       if k != key and conflict_group(k) not in others_groups]
            if choices:
                new_key = _weighted(rng, choices)
                track.drugs[index] = new_key
                patient.products.setdefault(new_key, _pick_product(rng, new_key))


def _track_cost(patient: Patient, track: Track, days: int) -> int:
    total = 0
    for key in track.drugs:
        product = DRUGS[key].products[patient.products[key]]
        total += _quantity(product, days) * product.price_fen
    return total


def _choose_days(rng: random.Random, patient: Patient, tracks: list[Track], cap: int) -> list[int]:
    """Supply days per track so the capped tracks of one visit fit the cap."""
    options = [d for d, _ in SUPPLY_DAYS]
    days = [_weighted(rng, SUPPLY_DAYS) for _ in tracks]
    capped = [i for i, t in enumerate(tracks) if t.disease not in EXEMPT_DISEASES]
    while sum(_track_cost(patient, tracks[i], days[i]) for i in capped) > cap:
        shrinkable = [i for i in capped if days[i] > options[0]]
        if not shrinkable:
            break
        i = max(shrinkable, key=lambda j: _track_cost(patient, tracks[j], days[j]))
        days[i] = max(d for d in options if d < days[i])
    while sum(_track_cost(patient, tracks[i], days[i]) for i in capped) > cap:
        i = max(capped, key=lambda j: _track_cost(patient, tracks[j], days[j]))
        track = tracks[i]
        if len(track.drugs) == 1:  # cannot happen with _fit_regimens_to_cap; stay safe
            capped.remove(i)
            track.drugs = []
            continue
        worst = max(track.drugs, key=lambda k: _min_cost(patient, k))
        index = track.drugs.index(worst)
        del track.drugs[index], track.slots[index]
    return days


def _billed_codes(rng: random.Random, tracks: list[Track]) -> list[str]:
    codes = [t.disease for t in tracks]
    if len(codes) == 1 and codes[0] not in EXEMPT_DISEASES and rng.random() < 0.02:
        return [codes[0] + "01"]  # a local extension of the national code
    return codes


class _RxFactory:
    """Creates prescriptions with a global creation sequence and claim details."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.seq = 0
        self.all: list[Prescription] = []

    def new(self, when, patient, doctor, codes, items) -> Prescription:
        self.seq += 1
        low, high = next(r for name, _, r in INSURANCE_TYPES if name == patient.insurance)
        rx = Prescription(when, patient, doctor, list(codes), items, self.seq,
                          settle_minutes=self.rng.randint(1, 20),
                          fund_permille=self.rng.randint(low, high))
        self.all.append(rx)
        return rx


def _visit(rng: random.Random, factory: _RxFactory, patient: Patient, doctor: Doctor,
           tracks: list[Track], day: dt.date) -> None:
    """One prescribing event: the tracks due with this doctor today."""
    for track in tracks:
        _maybe_switch(rng, patient, track)
    days = _choose_days(rng, patient, tracks, patient.cap_fen(day))
    when = _clinic_time(rng, day)
    groups: list[tuple[list[Track], list[int]]] = []
    mergeable = [i for i, t in enumerate(tracks) if t.disease not in EXEMPT_DISEASES and t.drugs]
    merged = len(mergeable) > 1 and rng.random() < 0.15
    if merged:
        groups.append(([tracks[i] for i in mergeable], [days[i] for i in mergeable]))
    for i, track in enumerate(tracks):
        if track.drugs and not (merged and i in mergeable):
            groups.append(([track], [days[i]]))
    for group_tracks, group_days in groups:
        items = [_make_item(rng, patient, key, d)
                 for track, d in zip(group_tracks, group_days) for key in track.drugs]
        injections = [it for it in items if it.unit == "支" and "注射液" in it.drug_name]
        parts = [items]
        if injections and len(injections) < len(items) and rng.random() < 0.6:
            parts = [[it for it in items if not any(it is inj for inj in injections)], injections]
        for part in parts:
            factory.new(when, patient, doctor, _billed_codes(rng, group_tracks), part)
            when += dt.timedelta(seconds=rng.randint(20, 150))
    for track, d in zip(tracks, days):
        track.next_visit = _next_workday(day + dt.timedelta(days=d + _refill_offset(rng, d)))


def _simulate(rng: random.Random, factory: _RxFactory, patients: list[Patient],
              doctors_by_dept: dict[str, list[Doctor]], first: dt.date, last: dt.date,
              revoked: dict[str, dt.date] | None = None) -> None:
    """Walk the working days; each due track brings its patient to a doctor. A doctor whose 定岗
    qualification is revoked (``revoked``: code → the day it takes effect) sees no 门规 patient from
    that day: his patients move to a colleague of the department for good."""
    revoked = revoked or {}

    def on_duty(department: str, day: dt.date) -> list[Doctor]:
        return [d for d in doctors_by_dept[department] if d.code not in revoked or day < revoked[d.code]]

    day = first
    while day <= last:
        if _is_workday(day):
            for patient in patients:
                due = [t for t in patient.tracks if t.next_visit == day and t.drugs]
                by_doctor: dict[str, tuple[Doctor, list[Track]]] = {}
                for track in due:
                    if track.doctor.code in revoked and day >= revoked[track.doctor.code]:
                        track.doctor = rng.choice(on_duty(track.doctor.department, day))
                    doctor = track.doctor
                    if rng.random() < 0.2:  # the usual doctor is not on duty
                        doctor = rng.choice(on_duty(doctor.department, day))
                    by_doctor.setdefault(doctor.code, (doctor, []))[1].append(track)
                for doctor, tracks in by_doctor.values():
                    _visit(rng, factory, patient, doctor, tracks, day)
        day += dt.timedelta(days=1)


# ---------------------------------------------------------------------------
# Planted cases
# ---------------------------------------------------------------------------

class _DoctorPool:
    """Hands out 'one-off' offenders so each appears in as few months as possible: a doctor of last
    month only when no other doctor of the departments is free, and never one of the last two months
    (``TERM`` - 1 months running): a one-off offender's streak never reaches a revocation, which only the
    scheduled repeat offenders' do (:func:`offender_schedule`)."""

    def __init__(self, rng: random.Random, doctors: list[Doctor], exclude: list[str]):
        self.rng = rng
        self.doctors = [d for d in doctors if d.code not in exclude]
        self.queue: list[Doctor] = []
        self.history: list[set[str]] = []  # the codes taken in each month so far, the current one last

    def new_month(self) -> None:
        self.history.append(set())

    def _streak(self, code: str) -> int:
        """The months running, up to last month, in which ``code`` was taken."""
        streak = 0
        for taken in reversed(self.history[:-1]):
            if code not in taken:
                break
            streak += 1
        return streak

    def take(self, departments: list[str]) -> Doctor:
        if not self.history:
            self.new_month()
        for allowed in (0, TERM - 2):  # first nobody of last month, then nobody about to reach TERM
            for _ in range(2):
                for index, doctor in enumerate(self.queue):
                    if doctor.department in departments and self._streak(doctor.code) <= allowed:
                        self.history[-1].add(doctor.code)
                        return self.queue.pop(index)
                self.queue = self.queue + self.rng.sample(self.doctors, len(self.doctors))
        raise ValueError(f"no doctor in {departments} free of a {TERM - 1}-month streak")


@dataclass
class Offender:
    """One doctor's term in a repeat offender's role: the months (indexes into the demo's months) with a
    planted violation, and — when the term is a full ``TERM`` inside the demo — the month whose list
    revokes him and the day that takes effect."""

    role: str
    doctor: Doctor
    months: list[int]
    revoked_in: int | None = None
    effective: dt.date | None = None


#: the repeat offenders' roles, in the order of the level they reach in the demo's last month (3, 2, 1)
OFFENDER_ROLES = ("duplicate", "same_effect_cross", "same_effect_in_rx")
#: consecutive months with an unreasonable prescription that revoke a qualification (Jinan's ladder)
TERM = int(JINAN.ladder.get("months_to_revoke", 3))


def offender_schedule(rng: random.Random, doctors_by_dept: dict[str, list[Doctor]], months: list[str]
                      ) -> list[Offender]:
    """Who plays each repeat offender's role in which month. Role ``i`` runs in terms of ``TERM``
    months, phased so that in the last month its doctor is in month ``TERM - i`` of his term: the last
    month's list shows the three levels. Each term is a new doctor (a revoked one has stopped
    prescribing), taken round the departments in turn so none of them runs short of doctors."""
    last = len(months) - 1
    departments = [name for name, _ in DEPARTMENTS]
    rng.shuffle(departments)
    used: set[str] = set()
    schedule: list[Offender] = []
    turn = 0
    for level, role in zip(range(TERM, 0, -1), OFFENDER_ROLES):
        phase = (level - 1 - last) % TERM
        term = 0
        while TERM * term - phase <= last:
            start, end = max(0, TERM * term - phase), min(last, TERM * term + TERM - 1 - phase)
            department = departments[turn % len(departments)]
            turn += 1
            doctor = rng.choice([d for d in doctors_by_dept[department] if d.code not in used])
            used.add(doctor.code)
            offender = Offender(role, doctor, list(range(start, end + 1)))
            if len(offender.months) == TERM:
                offender.revoked_in = end
                offender.effective = _month_bounds(month_names.following(months[end]))[0]
            schedule.append(offender)
            term += 1
    return schedule


class _Planter:
    """Builds one month's planted cases on dedicated patients."""

    def __init__(self, rng, factory, ids, doctors_by_dept, offenders, pool, patients, first, last,
                 month_index=0, month_count=1):
        self.month_index = month_index
        self.month_count = month_count
        self.rng = rng
        self.factory = factory
        self.ids = ids
        self.by_dept = doctors_by_dept
        self.offenders = offenders  # role -> this month's Doctor
        self.reserved: set[str] = set()  # every repeat offender of the demo: never picked for anything else
        self.pool = pool
        self.patients = patients
        self.first = first
        self.last = last
        self.cases: list[dict] = []

    # -- helpers --------------------------------------------------------
    def patient(self, codes, certified=True) -> Patient:
        patient = _new_patient(self.rng, self.ids)
        if certified:
            _certify(self.rng, patient, codes, self.first, self.last)
        self.patients.append(patient)
        return patient

    def other_doctor(self, department: str, avoid: list[Doctor]) -> Doctor:
        codes = {d.code for d in avoid} | {d.code for d in self.offenders.values()} | self.reserved
        return self.rng.choice([d for d in self.by_dept[department] if d.code not in codes])

    def item(self, patient, key, days, product=None, name=None, with_code=True) -> Item:
        if product is not None:
            patient.products[key] = product
        patient.products.setdefault(key, _pick_product(self.rng, key))
        item = _make_item(self.rng, patient, key, days, quirks=False)
        if name:
            item.drug_name = name
        if not with_code:
            item.drug_code = ""
        return item

    def items_for(self, patient, keys, target_fen) -> list[Item]:
        """Items of ``keys`` summing to exactly ``target_fen``.

        Uses each drug's priciest (originator) product. The last drug's line (1-4
        units) absorbs the remainder, so its price stays close to the list price.
        """
        for key in keys:
            products = DRUGS[key].products
            patient.products[key] = max(range(len(products)), key=lambda i: products[i].price_fen)
        last = DRUGS[keys[-1]].products[patient.products[keys[-1]]]
        budget = target_fen - last.price_fen
        items: list[Item] = []
        for key in keys[:-1]:
            for days in (28, 14, 7):
                item = _make_item(self.rng, patient, key, days, quirks=False)
                if sum(i.amount_fen for i in items) + item.amount_fen <= budget:
                    items.append(item)
                    break
        for item in items:  # absorb the remainder with extra boxes, within reason
            while (item.quantity < 8
                   and sum(i.amount_fen for i in items) + item.unit_price_fen <= budget):
                item.quantity += 1
        rest = target_fen - sum(i.amount_fen for i in items)
        quantity = min((q for q in range(1, 5) if rest % q == 0),
                       key=lambda q: abs(rest // q - last.price_fen))
        drug = DRUGS[keys[-1]]
        items.append(Item(last.code, drug.name, last.spec, quantity, last.unit, rest // quantity,
                          min(30, quantity * last.days)))
        return items

    def rx(self, patient, doctor, day, codes, items, when=None) -> Prescription:
        return self.factory.new(when or _clinic_time(self.rng, day), patient, doctor, codes, items)

    def record(self, case, about, flagged, rxs, context=(), note="", level=None) -> None:
        """Note a case; prescriptions become rx ids once ids are assigned. ``level``: the warning level
        the flag must have (drug checks: by the days in hand beyond Jinan's refill tolerance)."""
        self.cases.append({
            "case": case,
            "check_id": about if flagged else None,
            "about": about,
            "level": level,
            "rx_ids": rxs,  # Prescription objects until ids are assigned
            "context_rx_ids": list(context),
            "doctor_codes": sorted({rx.doctor.code for rx in rxs}),
            "patient_id": rxs[0].patient.patient_id,
            "note": note,
        })

    def day(self) -> dt.date:
        return self.rng.choice(_workdays(self.first, self.last))

    def day_pair(self, offsets) -> tuple[dt.date, dt.date]:
        """Two working days ``offset`` apart, preferring the first offset listed."""
        days = _workdays(self.first, self.last)
        for offset in offsets:
            pairs = [(d, d + dt.timedelta(days=offset)) for d in days
                     if d + dt.timedelta(days=offset) in days]
            if pairs:
                return self.rng.choice(pairs)
        raise ValueError("month too short for planted cases")

    # -- amount caps ------------------------------------------------------
    def cap_case(self, case, codes, billed, target, keys, flagged, doctor, note):
        patient = self.patient(codes)
        day = self.day()
        rx = self.rx(patient, doctor, day, billed, self.items_for(patient, keys, target))
        self.record(case, "amount_cap", flagged, [rx], note=note)

    def amount_caps(self) -> None:
        cardio = ["心血管内科", "全科医学科"]
        endo = ["内分泌科", "全科医学科"]
        self.cap_case("single_over", ["M03900"], ["M03900"], SINGLE_CAP_FEN + 1,
                      ["amlodipine", "metoprolol", "irbesartan"], True, self.pool.take(cardio),
                      "single-disease patient, one visit at 150.01 元 > 150 元")
        self.cap_case("boundary_ok", ["M01600"], ["M01600"], SINGLE_CAP_FEN,
                      ["metformin", "acarbose", "insulin_glargine"], False,
                      self.other_doctor("内分泌科", []),
                      "single-disease patient, one visit at exactly 150.00 元 (inclusive cap)")
        self.cap_case("multi_over", ["M03900", "M01600"], ["M03900", "M01600"], MULTI_CAP_FEN + 1,
                      ["valsartan", "metformin", "dapagliflozin", "insulin_aspart"], True,
                      self.pool.take(endo), "two diseases, one visit at 300.01 元 > 300 元")
        self.cap_case("boundary_ok", ["M03900", "M04600"], ["M03900", "M04600"], MULTI_CAP_FEN,
                      ["nifedipine", "rosuvastatin", "clopidogrel", "trimetazidine"], False,
                      self.other_doctor("心血管内科", []),
                      "two diseases, one visit at exactly 300.00 元 (inclusive cap)")
        self.cap_case("complication_multi_ok", ["M01600", "M01609"], ["M01600", "M01609"], 22000,
                      ["metformin", "sitagliptin", "calcium_dobesilate"], False,
                      self.other_doctor("内分泌科", []),
                      "糖尿病 + complication 糖尿病黄斑水肿 (M01609) count as 2: multi cap 300 元 applies to 220.00 元")
        # split visit: 100 + 80 for a single-disease patient, same doctor, same day
        patient = self.patient(["M03900"])
        doctor = self.pool.take(cardio)
        day = self.day()
        when = _clinic_time(self.rng, day)
        first = self.rx(patient, doctor, day, ["M03900"],
                        self.items_for(patient, ["amlodipine", "irbesartan"], 10000), when)
        second = self.rx(patient, doctor, day, ["M03900"],
                         self.items_for(patient, ["metoprolol", "indapamide"], 8000),
                         when + dt.timedelta(minutes=self.rng.randint(2, 9)))
        self.record("split_visit", "amount_cap", True, [first, second],
                    note="single disease, two prescriptions 100.00 + 80.00 元 by the same doctor on the "
                         "same day: the visit is 180.00 元 > 150 元, both are flagged (分解处方)")
        # exempt prescription plus a normal one on the same day
        patient = self.patient(["M08300", "M03900"])
        doctor = self.other_doctor("肾内科", [])
        day = self.day()
        when = _clinic_time(self.rng, day)
        exempt = self.rx(patient, doctor, day, ["M08300"],
                         [self.item(patient, "tacrolimus", 25, product=1)], when)
        exempt.items[0].quantity = 2
        exempt.items[0].days_supply = 50
        normal = self.rx(patient, doctor, day, ["M03900"],
                         self.items_for(patient, ["amlodipine", "valsartan"], 10000),
                         when + dt.timedelta(minutes=self.rng.randint(1, 6)))
        self.record("exempt_ok", "amount_cap", False, [normal, exempt],
                    note="他克莫司 800.00 元 billed under exempt M08300 plus a 100.00 元 normal prescription "
                         "the same visit: the exempt one is neither flagged nor counted, so 100 ≤ 300")

    def extra_over_caps(self) -> None:
        """A varying number of ordinary over-cap visits, so months differ as real ones do."""
        cardio = ["心血管内科", "全科医学科"]
        endo = ["内分泌科", "全科医学科"]
        for _ in range(self.rng.choice([0, 1, 2, 3, 5, 8, 11])):
            if self.rng.random() < 0.6:
                target = SINGLE_CAP_FEN + self.rng.randint(500, 9000)
                self.cap_case("extra_over", ["M03900"], ["M03900"], target,
                              ["amlodipine", "metoprolol", "irbesartan"], True, self.pool.take(cardio),
                              "single-disease visit over 150 元")
            else:
                target = MULTI_CAP_FEN + self.rng.randint(500, 12000)
                self.cap_case("extra_over", ["M03900", "M01600"], ["M03900", "M01600"], target,
                              ["valsartan", "metformin", "dapagliflozin", "insulin_aspart"], True,
                              self.pool.take(endo), "two-disease visit over 300 元")

    # -- duplicates ---------------------------------------------------------
    def duplicates(self) -> None:
        # same drug, different manufacturer, overlapping, by the repeat offender
        patient = self.patient(["M03900", "M04600"])
        later_doctor = self.offenders["duplicate"]
        earlier_doctor = self.other_doctor(later_doctor.department, [later_doctor])
        d1, d2 = self.day_pair([7, 6, 5, 4])
        a = self.rx(patient, earlier_doctor, d1, ["M03900"],
                    [self.item(patient, "amlodipine", 28, product=0),
                     self.item(patient, "aspirin", 28)])
        b = self.rx(patient, later_doctor, d2, ["M03900", "M04600"],
                    [self.item(patient, "amlodipine", 28, product=2),
                     self.item(patient, "atorvastatin", 28)])
        self.record("duplicate_code", "duplicate_drug", True, [b], [a],
                    f"苯磺酸氨氯地平片 28 days from {d1}, again {(d2 - d1).days} days later by another doctor from "
                    f"another manufacturer (code differs only after character 10): {28 - (d2 - d1).days} days still "
                    "in hand, 14 or more beyond the 7 tolerated (违规); the later prescription is at fault",
                    level="违规")
        # same drug known only by name (no codes); the later name carries the strength
        patient = self.patient(["M04803", "M03900"])
        doctor = self.pool.take(["神经内科", "全科医学科", "心血管内科"])
        earlier_doctor = self.other_doctor("神经内科", [doctor])
        d1, d2 = self.day_pair([6, 5, 7, 4])
        a = self.rx(patient, earlier_doctor, d1, ["M04803"],
                    [self.item(patient, "atorvastatin", 28, with_code=False),
                     self.item(patient, "clopidogrel", 28)])
        b = self.rx(patient, doctor, d2, ["M04803"],
                    [self.item(patient, "atorvastatin", 28, name="阿托伐他汀钙片 20mg", with_code=False)])
        self.record("duplicate_name", "duplicate_drug", True, [b], [a],
                    "阿托伐他汀钙片 vs '阿托伐他汀钙片 20mg', both without drug code, 21 or more of 28 days in "
                    "hand (违规): the same generic name once the strength is stripped; later prescription at fault",
                    level="违规")
        # touching windows: day 1..7 then from day 8 — not a duplicate
        patient = self.patient(["M03900", "M01600"])
        doctor = self.other_doctor("内分泌科", [])
        d1, d2 = self.day_pair([7, 14])
        a = self.rx(patient, doctor, d1, ["M01600"], [self.item(patient, "metformin", (d2 - d1).days)])
        b = self.rx(patient, doctor, d2, ["M01600"], [self.item(patient, "metformin", 14)])
        self.record("touching_ok", "duplicate_drug", False, [b], [a],
                    f"盐酸二甲双胍片 with days_supply {(d2 - d1).days} from {d1}, next from {d2}: windows "
                    "touch but do not overlap")
        self.refills()
        # single-disease patient: duplicates are not checked
        patient = self.patient(["M03900"])
        doctor1 = self.other_doctor("心血管内科", [])
        doctor2 = self.other_doctor("心血管内科", [doctor1])
        d1, d2 = self.day_pair([10, 9, 11, 8, 12, 7])
        a = self.rx(patient, doctor1, d1, ["M03900"], [self.item(patient, "amlodipine", 28, product=0)])
        b = self.rx(patient, doctor2, d2, ["M03900"], [self.item(patient, "amlodipine", 28, product=0)])
        self.record("single_disease_ok", "duplicate_drug", False, [b], [a],
                    "overlapping 苯磺酸氨氯地平片 for a patient with a single disease: below the "
                    "2-disease threshold, not a duplicate_drug finding")

    def refills(self) -> None:
        """Refills around Jinan's tolerance (7 days, 25 % of the earlier supply)."""
        patient = self.patient(["M03900", "M04600"])
        doctor = self.other_doctor("心血管内科", [])
        d1, d2 = self.day_pair([23, 22, 21])  # 5-7 days in hand: 7 is exactly the tolerance
        a = self.rx(patient, doctor, d1, ["M03900"], [self.item(patient, "amlodipine", 28, product=0)])
        b = self.rx(patient, doctor, d2, ["M03900"], [self.item(patient, "amlodipine", 28, product=0)])
        self.record("early_refill_ok", "duplicate_drug", False, [b], [a],
                    f"苯磺酸氨氯地平片 28 days from {d1}, refilled {(d2 - d1).days} days later with "
                    f"{28 - (d2 - d1).days} days in hand: an on-time refill (up to 7 days early), not flagged")
        patient = self.patient(["M03900", "M01600"])
        doctor = self.other_doctor("内分泌科", [])
        d1, d2 = self.day_pair([18, 17, 19])
        a = self.rx(patient, doctor, d1, ["M01600"], [self.item(patient, "metformin", 28, product=0)])
        b = self.rx(patient, doctor, d2, ["M01600"], [self.item(patient, "metformin", 28, product=0)])
        self.record("early_refill_hint", "duplicate_drug", True, [b], [a],
                    f"盐酸二甲双胍片 28 days from {d1}, refilled {(d2 - d1).days} days later with "
                    f"{28 - (d2 - d1).days} days in hand: 2-4 days beyond the 7 tolerated (提示; counts only if "
                    "the committee rules it 不合理)", level="提示")
        patient = self.patient(["M04600", "M03900"])
        doctor = self.other_doctor("心血管内科", [])
        d1, d2 = self.day_pair([24, 23, 22, 21])
        a = self.rx(patient, doctor, d1, ["M04600"], [self.item(patient, "atorvastatin", 28)])
        b = self.rx(patient, doctor, d2, ["M04600"], [self.item(patient, "rosuvastatin", 28)])
        self.record("switch_on_time_ok", "same_effect_drug", False, [b], [a],
                    f"阿托伐他汀钙片 28 days from {d1}, switched to 瑞舒伐他汀钙片 (same class C10AA) "
                    f"{(d2 - d1).days} days later, at an on-time refill: not flagged")
        patient = self.patient(["M04803", "M03900"])
        doctor = self.other_doctor("神经内科", [])
        d1, d2 = self.day_pair([14, 13, 12])
        a = self.rx(patient, doctor, d1, ["M04803"], [self.item(patient, "rosuvastatin", 28)])
        b = self.rx(patient, doctor, d2, ["M04803"], [self.item(patient, "atorvastatin", 28)])
        self.record("switch_early", "same_effect_drug", True, [b], [a],
                    f"瑞舒伐他汀钙片 28 days from {d1}, switched to 阿托伐他汀钙片 {(d2 - d1).days} days later "
                    f"with {28 - (d2 - d1).days} days of the first in hand: 7-9 days beyond the tolerance (预警)",
                    level="预警")

    # -- same-effect drugs --------------------------------------------------
    def same_effect(self) -> None:
        # two ARBs (C09CA) in overlapping windows, the later by a repeat offender
        patient = self.patient(["M03900", "M01600"])
        later_doctor = self.offenders["same_effect_cross"]
        earlier_doctor = self.other_doctor("心血管内科", [later_doctor])
        d1, d2 = self.day_pair([6, 5, 7, 4])
        a = self.rx(patient, earlier_doctor, d1, ["M03900"],
                    [self.item(patient, "irbesartan", 28), self.item(patient, "amlodipine", 28)])
        b = self.rx(patient, later_doctor, d2, ["M03900", "M01600"],
                    [self.item(patient, "valsartan", 28), self.item(patient, "metformin", 28)])
        self.record("same_effect_cross_rx", "same_effect_drug", True, [b], [a],
                    "厄贝沙坦片 then 缬沙坦胶囊 (both C09CA) with 21 or more of 28 days of 厄贝沙坦 in hand (违规); "
                    "later prescription at fault", level="违规")
        # two statins in one prescription, by a repeat offender
        patient = self.patient(["M01600", "M04600"])
        doctor = self.offenders["same_effect_in_rx"]
        day = self.day()
        rx = self.rx(patient, doctor, day, ["M01600", "M04600"],
                     [self.item(patient, "metformin", 28), self.item(patient, "atorvastatin", 28),
                      self.item(patient, "rosuvastatin", 28)])
        self.record("same_effect_in_rx", "same_effect_drug", True, [rx],
                    note="阿托伐他汀钙片 + 瑞舒伐他汀钙片 (both C10AA, 28 days each) in one prescription: they "
                         "overlap by the whole supply, 21 days beyond the 7 tolerated (违规)", level="违规")
        # dual antiplatelet therapy: an allowed combination
        patient = self.patient(["M03900", "M04600"])
        doctor = self.other_doctor("心血管内科", [])
        day = self.day()
        rx = self.rx(patient, doctor, day, ["M04600"],
                     [self.item(patient, "aspirin", 28), self.item(patient, "clopidogrel", 28),
                      self.item(patient, "rosuvastatin", 28)])
        self.record("allowed_combo_ok", "same_effect_drug", False, [rx],
                    note="阿司匹林肠溶片 + 硫酸氢氯吡格雷片 (both B01AC): dual antiplatelet therapy is an "
                         "allowed combination")

    # -- certification ------------------------------------------------------
    def uncertified(self) -> None:
        patient = self.patient(["M03900"], certified=False)
        valid_to = self.first - dt.timedelta(days=self.rng.randint(15, 120))
        valid_from = valid_to - dt.timedelta(days=self.rng.randint(700, 2000))
        patient.certifications.append(Certification(patient.patient_id, "M03900", valid_from, valid_to))
        doctor = self.pool.take(["心血管内科", "全科医学科"])
        day = self.day()
        rx = self.rx(patient, doctor, day, ["M03900"],
                     [self.item(patient, "amlodipine", 28), self.item(patient, "irbesartan", 28)])
        self.record("uncertified", "uncertified", True, [rx],
                    note=f"the patient's only certification (M03900) ended {valid_to}, before this month")

    # -- monitoring checks ---------------------------------------------------------------------
    def unqualified_doctor(self, doctor: Doctor) -> None:
        patient = self.patient(["M03900"])
        rx = self.rx(patient, doctor, self.day(), ["M03900"],
                     [self.item(patient, "amlodipine", 28, product=0), self.item(patient, "metoprolol", 28)])
        self.record("unqualified_doctor", "revoked_doctor", True, [rx],
                    note=f"{doctor.code} is a 进修医师 marked qualified = 0 in the roster: no 门规 prescribing")

    def over_supply(self) -> None:
        doctor = self.pool.take(["心血管内科", "全科医学科"])  # ruled 不合理: a strike, so a one-off offender
        patient = self.patient(["M03900"])
        rx = self.rx(patient, doctor, self.day(), ["M03900"],
                     [self.item(patient, "amlodipine", 2 * MAX_DAYS, product=0)])
        self.record("over_supply_far", "over_supply", True, [rx],
                    note=f"苯磺酸氨氯地平片 for {2 * MAX_DAYS} days under 高血压病 (max {MAX_DAYS}): {MAX_DAYS} days over")
        doctor = self.other_doctor("内分泌科", [])
        patient = self.patient(["M01600"])
        rx = self.rx(patient, doctor, self.day(), ["M01600"], [self.item(patient, "metformin", MAX_DAYS + 15, product=0)])
        self.record("over_supply_some", "over_supply", True, [rx],
                    note=f"盐酸二甲双胍片 for {MAX_DAYS + 15} days under 糖尿病 (max {MAX_DAYS}): 15 days over")
        doctor = self.other_doctor("消化内科(肝病)", [])
        patient = self.patient(["M00201"])
        rx = self.rx(patient, doctor, self.day(), ["M00201"],
                     [self.item(patient, "entecavir", LONG_RX_DAYS, product=0)])
        self.record("long_rx_ok", "over_supply", False, [rx],
                    note=f"恩替卡韦片 for {LONG_RX_DAYS} days under 慢性乙型肝炎: exactly the disease's maximum")
        patient = self.patient(["M03900", "M00201"])
        rx = self.rx(patient, doctor, self.day(), ["M03900", "M00201"],
                     [self.item(patient, "amlodipine", 56, product=0), self.item(patient, "entecavir", 56, product=0)])
        self.record("multi_disease_long_ok", "over_supply", False, [rx],
                    note=f"56 days of 苯磺酸氨氯地平片 billed under 高血压病 and 慢性乙型肝炎: the most generous "
                         f"allowance ({LONG_RX_DAYS} days) applies")

    def frequent_visits(self, visits: int = MAX_VISITS + 3, limit: int = MAX_VISITS) -> None:
        patient = self.patient(["M03900"])
        avoid = {d.code for d in self.offenders.values()} | self.reserved
        doctors = self.rng.sample([d for d in self.by_dept["心血管内科"] if d.code not in avoid], 3)
        days = sorted(self.rng.sample(_workdays(self.first, self.last), visits))
        rxs = [self.rx(patient, doctors[n % 3], day, ["M03900"], [self.item(patient, "amlodipine", 7, product=1)])
               for n, day in enumerate(days)]
        self.record("frequent_visits", "frequent_visits", True, rxs[limit:], rxs[:limit],
                    note=f"{visits} visits with three cardiologists in the month: visits {limit + 1}-{visits} are "
                         f"over the limit of {limit}")

    def doctor_outlier(self, doctor: Doctor, visits: int = 24) -> None:
        rxs = []
        for n in range(visits):
            patient = self.patient(["M03900"])
            days = 28 if n == 0 else 21  # the first is the doctor's largest prescription of the month
            rxs.append(self.rx(patient, doctor, self.day(), ["M03900"],
                               [self.item(patient, "nifedipine", days, product=0)]))
        self.record("doctor_outlier", "doctor_outlier", True, rxs[:1], rxs[1:],
                    note=f"{doctor.code} writes {visits} visits of 硝苯地平控释片 at about 98-130 元 each, far above "
                         "the cardiology median per visit; the finding is attached to the largest prescription")


# ---------------------------------------------------------------------------
# Assembly
# ---------------------------------------------------------------------------

def _assign_ids(prescriptions: list[Prescription]) -> list[Prescription]:
    """R + YYYYMMDD + per-day serial, in time order (ties: creation order)."""
    ordered = sorted(prescriptions, key=lambda rx: (rx.when, rx.seq))
    serial_by_day: dict[dt.date, int] = {}
    for rx in ordered:
        day = rx.when.date()
        serial_by_day[day] = serial_by_day.get(day, 0) + 1
        rx.rx_id = f"R{day:%Y%m%d}{serial_by_day[day]:05d}"
    return ordered


#: doctors only the monitoring cases use: a 进修医师 without the 定岗 qualification and a high-cost cardiologist
EXTRA_DOCTORS = [Doctor("YS0899", "孟凡超", "全科医学科", qualified=False), Doctor("YS0199", "韩立军", "心血管内科")]


def build_demo_data(months: list[str], seed: int = 20261101, n_patients: int = 600) -> DemoData:
    """Generate everything in memory (no I/O); ``write_demo_inputs`` writes it."""
    months = _validate_months(months)
    rng = random.Random(seed)
    first, _ = _month_bounds(months[0])
    _, last = _month_bounds(months[-1])
    doctors = _make_doctors(rng)
    by_dept: dict[str, list[Doctor]] = {}
    for doctor in doctors:
        by_dept.setdefault(doctor.department, []).append(doctor)

    ids = _IdPool(rng)
    patients: list[Patient] = []
    for _ in range(n_patients):
        patient = _new_patient(rng, ids)
        table = _weighted(rng, DISEASE_COUNT_WEIGHTS)
        codes = list(_weighted(rng, table))
        _certify(rng, patient, codes, first, last)
        if rng.random() < 0.06:
            _add_expired_certification(rng, patient, first)
        _build_regimens(rng, patient, codes, by_dept, first - dt.timedelta(days=WARMUP_DAYS))
        patients.append(patient)

    schedule = offender_schedule(rng, by_dept, months)
    revoked = {o.doctor.code: o.effective for o in schedule if o.effective is not None}
    factory = _RxFactory(rng)
    _simulate(rng, factory, patients, by_dept, first - dt.timedelta(days=WARMUP_DAYS), last, revoked)
    factory.all = [rx for rx in factory.all if rx.when.date() >= first]  # drop the warm-up

    reserved = {o.doctor.code for o in schedule}
    pool = _DoctorPool(rng, doctors, sorted(reserved))
    unqualified, outlier = EXTRA_DOCTORS
    doctors.extend(EXTRA_DOCTORS)  # on the roster, but only the monitoring cases below use them
    planted: dict[str, list[dict]] = {}
    for index, month in enumerate(months):
        m_first, m_last = _month_bounds(month)
        offenders = {o.role: o.doctor for o in schedule if index in o.months}
        pool.new_month()
        planter = _Planter(rng, factory, ids, by_dept, offenders, pool, patients, m_first, m_last,
                           index, len(months))
        planter.reserved = reserved
        planter.amount_caps()
        planter.extra_over_caps()
        planter.duplicates()
        planter.same_effect()
        planter.uncertified()
        planter.unqualified_doctor(unqualified)
        planter.over_supply()
        planter.frequent_visits()
        planter.doctor_outlier(outlier)
        planted[month] = planter.cases

    prescriptions = _assign_ids(factory.all)
    for cases in planted.values():
        for case in cases:
            case["rx_ids"] = [rx.rx_id for rx in case["rx_ids"]]
            case["context_rx_ids"] = [rx.rx_id for rx in case["context_rx_ids"]]
    return DemoData(months, doctors, patients, prescriptions, planted,
                    list(dict.fromkeys(o.doctor.code for o in schedule)), schedule)


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

def _csv_bytes(header: list[str], rows, encoding: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def _doctor_rows(data: DemoData):
    return [[d.code, d.name, d.department, "1" if d.qualified else "0"] for d in data.doctors]


def _certification_rows(data: DemoData):
    rows = []
    for patient in data.patients:
        for cert in patient.certifications:
            name, kind = DISEASES[cert.disease_code]
            rows.append([cert.patient_id, cert.disease_code, name, kind, f"{cert.valid_from:%Y-%m-%d}",
                         f"{cert.valid_to:%Y-%m-%d}" if cert.valid_to else ""])
    return rows


def _month_files(data: DemoData, month: str) -> dict[str, bytes]:
    rxs = [rx for rx in data.prescriptions if f"{rx.when:%Y-%m}" == month]
    files = {
        "doctors.csv": _csv_bytes(["doctor_code", "doctor_name", "department", "qualified"],
                                  _doctor_rows(data), "utf-8"),
        "certifications.csv": _csv_bytes(
            ["参保人编号", "病种编码", "病种名称", "类别", "认定开始日期", "认定结束日期"],
            _certification_rows(data), "utf-8-sig"),
        "prescriptions.csv": _csv_bytes(
            ["处方号", "开方日期", "参保人编号", "姓名", "险种", "医师代码", "科室", "门规病种", "处方金额"],
            [[rx.rx_id, f"{rx.when:%Y-%m-%d %H:%M:%S}", rx.patient.patient_id, rx.patient.name,
              rx.patient.insurance, rx.doctor.code, rx.doctor.department, ";".join(rx.disease_codes),
              format_yuan(rx.amount_fen, grouping=False)] for rx in rxs], "gbk"),
        "rx_items.csv": _csv_bytes(
            ["rx_id", "line_no", "drug_code", "drug_name", "spec", "quantity", "unit", "unit_price",
             "amount", "days_supply"],
            [[rx.rx_id, str(n), it.drug_code, it.drug_name, it.spec, str(it.quantity), it.unit,
              format_yuan(it.unit_price_fen, grouping=False), format_yuan(it.amount_fen, grouping=False),
              "" if it.days_supply is None else str(it.days_supply)]
             for rx in rxs for n, it in enumerate(rx.items, start=1)], "utf-8"),
        "claims.csv": _csv_bytes(
            ["claim_id", "rx_id", "settle_date", "total_amount", "fund_paid", "self_paid"],
            [_claim_row(rx) for rx in rxs], "utf-8"),
    }
    return files


def _claim_row(rx: Prescription) -> list[str]:
    total = rx.amount_fen
    fund = total * rx.fund_permille // 1000
    settled = rx.when + dt.timedelta(minutes=rx.settle_minutes)
    return ["C" + rx.rx_id[1:], rx.rx_id, f"{settled:%Y-%m-%d %H:%M:%S}", format_yuan(total, grouping=False),
            format_yuan(fund, grouping=False), format_yuan(total - fund, grouping=False)]


DEDUCTION_REASONS = {
    "amount_cap": "门规处方超出单次开药限额，扣除超限部分",
    "duplicate_drug": "多病种患者重复开药，扣除重复药品费用",
    "same_effect_drug": "多病种患者开具相同疗效药品，扣除重复部分费用",
    "uncertified": "无有效门规认定按门规病种结算，扣除处方费用",
    "revoked_doctor": "医师医保定岗资格已取消仍开具门规处方，扣除处方费用",
    "over_supply": "门规处方用药天数超过规定，扣除超量部分费用",
}


def _deductions(data: DemoData, seed: int) -> dict[str, list[list[str]]]:
    """The city insurance office's deductions (医保扣款), by the month of the deduction date.

    The office audits after settlement: it deducts for a sample of the month's findings in
    the next month (the last month's within the month), the over-cap part of an over-cap
    visit, the duplicated drug of a duplicate, the whole prescription of an uncertified
    patient. Two deductions name prescriptions the hospital's export does not contain
    (written before the HIS migration), so they cannot be attributed to a doctor.
    """
    rng = random.Random(f"{seed}-deductions")  # its own stream: the prescriptions stay as they were
    by_id = {rx.rx_id: rx for rx in data.prescriptions}
    rows: dict[str, list[list[str]]] = {month: [] for month in data.months}
    serial = 0

    def add(month_index: int, rx_id: str, fen: int, reason: str) -> None:
        nonlocal serial
        later = month_index + 1 < len(data.months)
        month = data.months[month_index + 1 if later else month_index]
        first, last = _month_bounds(month)
        days = _workdays(first + dt.timedelta(days=7), first + dt.timedelta(days=20)) if later else \
            _workdays(last - dt.timedelta(days=5), last)
        serial += 1
        rows[month].append([f"KK{month.replace('-', '')}{serial:04d}", rx_id, format_yuan(fen, grouping=False),
                            f"{rng.choice(days):%Y-%m-%d}", reason])

    for index, month in enumerate(data.months):
        # the office deducts for violations, not for what the hospital merely monitors
        cases = [c for c in data.planted[month] if c["check_id"] in DEDUCTION_REASONS]
        for case in rng.sample(cases, min(len(cases), rng.randint(5, 8))):
            rxs = [by_id[rx_id] for rx_id in case["rx_ids"]]
            check = case["check_id"]
            if check == "amount_cap":
                visit = sum(rx.amount_fen for rx in rxs)
                fen, target = visit - rxs[0].patient.cap_fen(rxs[0].when.date()), max(rxs, key=lambda r: r.amount_fen)
            elif check in ("uncertified", "revoked_doctor"):
                fen, target = rxs[-1].amount_fen, rxs[-1]
            else:
                fen, target = rxs[-1].items[-1].amount_fen, rxs[-1]
            if fen > 0:
                add(index, target.rx_id, fen, DEDUCTION_REASONS[check])
        if index in (0, len(data.months) // 2):  # the first and the middle month (one month: that one)
            first, _ = _month_bounds(data.months[0])
            old = first - dt.timedelta(days=rng.randint(40, 70))
            add(index, f"R{old:%Y%m%d}{rng.randint(1, 400):05d}", rng.randint(2000, 16000),
                DEDUCTION_REASONS["amount_cap"])
    return rows


def write_demo_inputs(out_dir: pathlib.Path, months: list[str], seed: int = 20261101) -> dict:
    """Write one folder per month: out_dir/<YYYY-MM>/{doctors.csv, certifications.csv,
    prescriptions.csv, rx_items.csv, claims.csv, deductions.csv}.

    Returns a manifest::

        {"seed": ..., "repeat_offenders": [doctor codes of the repeat offenders' roles],
         "offenders": [{"role", "doctor_code", "months": [months with a violation], "revoked_in":
                        the month whose list revokes him or None, "effective": "YYYY-MM-DD" or None}],
         "months": {month: {"dir": ..., "files": [paths], "prescriptions": n, "items": n,
                            "claims": n, "patients": n, "planted": [case, ...]}}}

    Each planted case is ``{"case", "check_id", "about", "rx_ids", "context_rx_ids",
    "doctor_codes", "patient_id", "note"}``: ``check_id`` is the check that must flag
    exactly ``rx_ids`` (``None`` for look-alike cases that must *not* be flagged;
    ``about`` then names the check they exercise), ``context_rx_ids`` are the earlier
    prescriptions a finding refers to (never flagged themselves). ``deductions`` are the
    rows of the month's ``deductions.csv`` (deduction id, rx id, 元, date, reason); the ones
    whose rx id is in no month's prescriptions are the unattributable ones.
    """
    out_dir = pathlib.Path(out_dir)
    data = build_demo_data(months, seed)
    manifest: dict = {"seed": seed, "repeat_offenders": data.repeat_offenders, "months": {}, "offenders": [
        {"role": o.role, "doctor_code": o.doctor.code, "months": [data.months[i] for i in o.months],
         "revoked_in": data.months[o.revoked_in] if o.revoked_in is not None else None,
         "effective": o.effective.isoformat() if o.effective else None} for o in data.offenders]}
    deductions = _deductions(data, seed)
    for month in data.months:
        folder = out_dir / month
        folder.mkdir(parents=True, exist_ok=True)
        files = _month_files(data, month)
        if deductions[month]:
            files["deductions.csv"] = _csv_bytes(["扣款编号", "处方号", "扣款金额", "扣款日期", "扣款原因"],
                                                 deductions[month], "utf-8-sig")
        for name, content in files.items():
            with open_private(folder / name, "wb") as fh:  # patients' data, even made up: owner-only
                fh.write(content)
        rxs = [rx for rx in data.prescriptions if f"{rx.when:%Y-%m}" == month]
        manifest["months"][month] = {
            "dir": str(folder),
            "files": [str(folder / name) for name in files],
            "prescriptions": len(rxs),
            "items": sum(len(rx.items) for rx in rxs),
            "claims": len(rxs),
            "patients": len({rx.patient.patient_id for rx in rxs}),
            "planted": data.planted[month],
            "deductions": deductions[month],
        }
    return manifest
