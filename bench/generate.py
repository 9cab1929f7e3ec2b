"""Generate city-sized 门规 exports for the benchmark, in one of several month shapes (*profiles*).

    python bench/generate.py 100000 bench/data/100k                       # the classic profile
    python bench/generate.py 100000 bench/data/realistic-100k --profile realistic [--split]
    python bench/generate.py 100000 bench/data/flag-heavy-100k --profile flag-heavy

Profiles (N is the number of prescriptions in the audited month, 2026-10):

``classic``
    doctors.csv, certifications.csv, prescriptions.csv and rx_items.csv for N prescriptions
    (≈2.5 items each) in one month: patients with 1–3 diseases, regimens of 1–4 drugs of distinct
    classes refilled without overlap, and a few percent of violations (over-cap visits, duplicate and
    same-effect drugs, uncertified patients).
``realistic``
    three months (2026-08 to 2026-10, about 3N prescriptions) shaped like real chronic patients: each
    patient keeps a regimen per disease group with a regular doctor and a fixed supply (mostly 28 or 30
    days, some 14 or 7); about half the refills come a few days before the supply runs out (at most 5
    days and a fifth of the supply), the rest on the day or up to 3 days late; one visit in five is with
    another doctor of the department; now and then a drug is switched to another of its class. On top:
    2 % of refills come too early (1–13 days beyond Jinan's tolerance of 7 days and 25 %), a second doctor of
    another department prescribes the same drug with three weeks or more still in hand (0.5 % of
    October visits of multi-disease patients), 3 % over-cap visits, 5 % of items without days of supply,
    15 % without a drug code. ``manifest.json`` lists the October prescriptions of each kind. With
    ``--split``, each month's files go to a folder of their own (``2026-08/``, ``2026-09/``,
    ``2026-10/``): the benchmark loads the earlier months untimed and times what a hospital does each
    month, the load of the audited month and its audit.
``flag-heavy``
    one month of N prescriptions in which more than half are flagged: every patient has two or three
    diseases, three to six visits in the month with doctors drawn at random, and each prescription
    2–4 drugs drawn at random from the classes of the patient's diseases, with random days of supply
    (7–30) and amounts (a third of the visits over the cap): duplicate and same-effect drugs
    everywhere, many of them in both checks.

Deterministic for a given N, profile and seed.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import sys
import time
from pathlib import Path

from mengui_core.demo.data import DRUGS

MONTH = "2026-10"
DAYS = 31
DISEASE_SETS = [
    (["M03900"], 30), (["M01600"], 15), (["M04600"], 6), (["M05300"], 4),
    (["M03900", "M01600"], 20), (["M03900", "M04600"], 12), (["M01600", "M01609"], 5),
    (["M03900", "M01600", "M04600"], 8),
]
DEPARTMENTS = ["心血管内科", "内分泌科", "神经内科", "呼吸内科", "消化内科", "肾内科", "全科医学科", "老年医学科"]
CAP = {1: 15000, 2: 30000, 3: 30000}


def _pool():
    """Drugs grouped by class, so a regimen never holds two of one class unless we plant it."""
    by_class: dict[str, list] = {}
    for drug in DRUGS.values():
        if drug.atc.startswith(("L04", "L01")):  # exempt-disease drugs are not in these regimens
            continue
        by_class.setdefault(drug.atc, []).append(drug)
    return by_class


def classic(n_rx: int, out: Path, seed: int = 7) -> dict:
    """Today's profile: one month, refills without overlap, a few percent of planted violations."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    by_class = _pool()
    classes = sorted(by_class)
    weights = [w for _, w in DISEASE_SETS]
    n_doctors = max(20, n_rx // 500)
    doctors = [(f"YS{i:05d}", f"医师{i:05d}", DEPARTMENTS[i % len(DEPARTMENTS)]) for i in range(n_doctors)]
    counts = {"prescriptions": 0, "items": 0, "patients": 0, "planted_over_cap": 0, "planted_duplicates": 0}
    # Real HIS exports list prescriptions in the order they were written: one bucket per day,
    # concatenated, so rx ids (R + date + serial) rise through the files.
    buckets = {day: ([], []) for day in range(1, DAYS + 1)}
    serial = {day: 0 for day in range(1, DAYS + 1)}
    cert_rows = []
    patient = 0
    while counts["prescriptions"] < n_rx:
        patient += 1
        pid = f"3701{patient:012d}"
        diseases = rng.choices(DISEASE_SETS, weights)[0][0]
        uncertified = rng.random() < 0.005
        for code in diseases:
            kind = "complication" if code == "M01609" else "disease"
            cert_rows.append((pid, code, kind, "2021-03-01", "2026-09-30" if uncertified else ""))
        regimen = [rng.choice(by_class[c]) for c in rng.sample(classes, rng.randint(2, 5))]
        doctor = rng.choice(doctors)
        visits = rng.choice((1, 2, 2, 3, 3, 4))
        days = sorted(rng.sample(range(1, DAYS + 1), visits))
        cap = CAP[len(diseases)]
        for index, day in enumerate(days):
            if counts["prescriptions"] >= n_rx:
                break
            counts["prescriptions"] += 1
            serial[day] += 1
            rx_id = f"R{MONTH.replace('-', '')}{day:02d}{serial[day]:07d}"
            gap = (days[index + 1] - day) if index + 1 < len(days) else 28
            supply = max(1, min(gap, 28))
            items = regimen[: rng.randint(2, len(regimen))]
            if len(diseases) >= 2 and index > 0 and rng.random() < 0.02:  # a duplicate within the window
                items = items + [regimen[0]]
                counts["planted_duplicates"] += 1
            budget = cap - rng.randint(0, cap // 2)
            if rng.random() < 0.03:
                budget = cap + rng.randint(1, 8000)
                counts["planted_over_cap"] += 1
            shares = [rng.randint(1, 10) for _ in items]
            amounts = [budget * share // sum(shares) for share in shares]
            amounts[-1] += budget - sum(amounts)
            rows, item_rows = buckets[day]
            for line, (drug, fen) in enumerate(zip(items, amounts), 1):
                product = drug.products[0]
                code = product.code if rng.random() < 0.85 else ""
                days_supply = "" if rng.random() < 0.08 else supply
                money = f"{fen // 100}.{fen % 100:02d}"
                item_rows.append((rx_id, line, code, drug.name, product.spec, 1, product.unit, money, money, days_supply))
            doc = doctor if rng.random() < 0.8 else rng.choice(doctors)
            rows.append((rx_id, f"{MONTH}-{day:02d} {8 + index % 9:02d}:{rng.randint(0, 59):02d}:00", pid,
                         "", "城镇职工医疗保险", doc[0], doc[2], ";".join(diseases),
                         f"{budget // 100}.{budget % 100:02d}"))
            counts["items"] += len(items)
    with open(out / "certifications.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["patient_id", "disease_code", "kind", "valid_from", "valid_to"])
        writer.writerows(cert_rows)
    with open(out / "prescriptions.csv", "w", newline="", encoding="utf-8") as fh, \
            open(out / "rx_items.csv", "w", newline="", encoding="utf-8") as fi:
        rx_writer, item_writer = csv.writer(fh), csv.writer(fi)
        rx_writer.writerow(["rx_id", "rx_date", "patient_id", "patient_name", "insurance_type",
                            "doctor_code", "department", "disease_codes", "total_amount"])
        item_writer.writerow(["rx_id", "line_no", "drug_code", "drug_name", "spec", "quantity", "unit",
                              "unit_price", "amount", "days_supply"])
        for day in range(1, DAYS + 1):
            rows, item_rows = buckets.pop(day)
            rx_writer.writerows(sorted(rows))
            item_writer.writerows(sorted(item_rows))
    with open(out / "doctors.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["doctor_code", "doctor_name", "department", "qualified"])
        writer.writerows((code, name, dept, 1) for code, name, dept in doctors)
    counts["patients"] = patient
    return counts




# ---------------------------------------------------------------- the realistic refill rhythm

FIRST_DAY, LAST_DAY = dt.date(2026, 8, 1), dt.date(2026, 10, 31)
AUDITED = (dt.date(2026, 10, 1), LAST_DAY)
#: supply days a track keeps, with weights
SUPPLIES = [(28, 55), (30, 12), (14, 21), (7, 12)]
#: the department that treats each disease
DISEASE_DEPARTMENT = {"M03900": "心血管内科", "M04600": "心血管内科", "M01600": "内分泌科", "M01609": "内分泌科",
                      "M05300": "呼吸内科"}
#: drug classes a disease's regimen draws from (one drug per class)
DISEASE_CLASSES = {
    "M03900": ["C08CA", "C09CA", "C09AA", "C07AB", "C03BA"],
    "M04600": ["B01AC", "C10AA", "C01DA", "C01EB"],
    "M01600": ["A10BA", "A10BF", "A10BB", "A10BH", "A10BK"],
    "M01609": ["C05BX", "B03BA"],
    "M05300": ["R03BB", "R03AK", "R03DA"],
}
#: classes that may not both be in one patient's regimen (merged same-effect groups, e.g. ACEI and ARB)
EXCLUSIVE = [{"C09AA", "C09CA"}]
EARLY_SHARE, LATE_MAX = 0.5, 3
TOO_EARLY_SHARE, SECOND_DOCTOR_SHARE, SWITCH_SHARE, OVER_CAP_SHARE = 0.02, 0.005, 0.02, 0.03
NO_DAYS_SHARE, NO_CODE_SHARE = 0.05, 0.15


def _weighted(rng, pairs):
    return rng.choices([v for v, _ in pairs], [w for _, w in pairs])[0]


def _refill_offset(rng, supply: int) -> tuple[int, str]:
    """Days after the supply runs out that the patient comes back (negative: early), and the kind."""
    tolerated = min(7, supply // 4)  # Jinan's tolerance: further ahead than this is flagged
    if rng.random() < TOO_EARLY_SHARE:  # a week or two too early (stocking up before a trip): up to 13 days over
        return -rng.randint(tolerated + 1, min(tolerated + 13, supply - 1)), "early"
    early = min(5, supply // 5) if supply >= 14 else 0
    if early and rng.random() < EARLY_SHARE:
        return -rng.randint(1, early), "on_time"
    return rng.randint(0, LATE_MAX), "on_time"


def realistic(n_rx: int, out: Path, seed: int = 7, split: bool = False) -> dict:
    """Three months of a hospital whose chronic patients refill the way real ones do (see the module doc)."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    by_class: dict[str, list] = {}
    for drug in DRUGS.values():
        by_class.setdefault(drug.atc, []).append(drug)
    n_doctors = max(20, n_rx // 500)
    doctors = [(f"YS{i:05d}", f"医师{i:05d}", DEPARTMENTS[i % len(DEPARTMENTS)]) for i in range(n_doctors)]
    by_dept: dict[str, list] = {}
    for doctor in doctors:
        by_dept.setdefault(doctor[2], []).append(doctor)
    cert_rows, rx_rows, item_rows = [], [], []
    kinds: dict[str, list[str]] = {k: [] for k in ("early", "second_doctor", "switch", "over_cap", "on_time")}
    serial: dict[dt.date, int] = {}
    audited, patient = 0, 0

    def rx_id(day: dt.date) -> str:
        serial[day] = serial.get(day, 0) + 1
        return f"R{day:%Y%m%d}{serial[day]:07d}"

    def add_rx(day, pid, doctor, diseases, items, budget, quirks=True):
        """items: (drug, days_supply); returns the rx id. ``quirks``: some items lose their days of supply."""
        rid = rx_id(day)
        shares = [rng.randint(1, 10) for _ in items]
        amounts = [budget * share // sum(shares) for share in shares]
        amounts[-1] += budget - sum(amounts)
        for line, ((drug, days), fen) in enumerate(zip(items, amounts), 1):
            product = drug.products[0]
            code = "" if rng.random() < NO_CODE_SHARE else product.code
            money = f"{fen // 100}.{fen % 100:02d}"
            item_rows.append((rid, line, code, drug.name, product.spec, 1, product.unit, money, money,
                              "" if quirks and rng.random() < NO_DAYS_SHARE else days))
        rx_rows.append((rid, f"{day:%Y-%m-%d} {rng.randint(8, 16):02d}:{rng.randint(0, 59):02d}:00", pid, "",
                        "城镇职工医疗保险", doctor[0], doctor[2], ";".join(diseases),
                        f"{budget // 100}.{budget % 100:02d}"))
        return rid

    while audited < n_rx:
        patient += 1
        pid = f"3701{patient:012d}"
        diseases = _weighted(rng, DISEASE_SETS)
        uncertified = rng.random() < 0.005
        for code in diseases:
            kind = "complication" if code == "M01609" else "disease"
            cert_rows.append((pid, code, kind, "2021-03-01", "2026-07-31" if uncertified else ""))
        cap = CAP[len(diseases)]
        # one track per department: its drugs (distinct classes across the patient), doctor, supply
        tracks, used = [], set()
        for department in dict.fromkeys(DISEASE_DEPARTMENT[c] for c in diseases):
            classes = [k for c in diseases if DISEASE_DEPARTMENT[c] == department for k in DISEASE_CLASSES[c]]
            chosen = []
            for k in rng.sample(classes, len(classes)):
                if len(chosen) < 3 and k not in used and k not in chosen and not any(
                        k in group and (used | set(chosen)) & group for group in EXCLUSIVE):
                    chosen.append(k)
            chosen = chosen[:rng.randint(1, len(chosen))]
            used.update(chosen)
            supply = _weighted(rng, SUPPLIES)
            tracks.append({"drugs": [rng.choice(by_class[k]) for k in chosen], "doctor": rng.choice(by_dept[department]),
                           "department": department, "supply": supply,
                           "next": FIRST_DAY + dt.timedelta(days=rng.randint(0, supply - 1)), "timing": "on_time"})
        for track in tracks:
            while track["next"] <= LAST_DAY:
                day, supply = track["next"], track["supply"]
                in_month = day >= AUDITED[0]
                doctor = track["doctor"] if rng.random() < 0.8 else rng.choice(by_dept[track["department"]])
                tags = [track["timing"]]
                if rng.random() < SWITCH_SHARE:  # another drug of the same class, at this refill
                    index = rng.randrange(len(track["drugs"]))
                    others = [d for d in by_class[track["drugs"][index].atc] if d.key != track["drugs"][index].key]
                    if others:
                        track["drugs"][index] = rng.choice(others)
                        tags.append("switch")
                share = cap // len(tracks)
                budget = rng.randint(share * 3 // 10, share * 9 // 10)
                if rng.random() < OVER_CAP_SHARE:
                    budget = cap + rng.randint(1, 8000)
                    tags.append("over_cap")
                # now and then a second doctor of another department prescribes one of the drugs again, for a
                # week, with three weeks or more of it still in hand (this visit's days of supply all recorded)
                second = (in_month and len(diseases) >= 2 and not uncertified and supply >= 28
                          and rng.random() < SECOND_DOCTOR_SHARE
                          and day + dt.timedelta(days=supply - 21) <= LAST_DAY)
                rid = add_rx(day, pid, doctor, diseases, [(d, supply) for d in track["drugs"]], budget,
                             quirks=not second)
                if in_month:
                    audited += 1
                    for tag in tags:
                        kinds[tag].append(rid)
                if second:
                    later = day + dt.timedelta(days=rng.randint(1, supply - 21))
                    department = rng.choice([d for d in DEPARTMENTS if d != track["department"]])
                    kinds["second_doctor"].append(add_rx(
                        later, pid, rng.choice(by_dept[department]), diseases,
                        [(rng.choice(track["drugs"]), 7)], rng.randint(1000, 5000)))
                    audited += 1
                offset, track["timing"] = _refill_offset(rng, supply)
                track["next"] = day + dt.timedelta(days=supply + offset)
    if split:  # one folder a month; the roster and the certifications with the first month
        months = sorted({row[1][:7] for row in rx_rows})
        for month in months:
            folder = out / month
            folder.mkdir(exist_ok=True)
            key = "R" + month.replace("-", "")
            _write(folder, doctors if month == months[0] else None, cert_rows if month == months[0] else None,
                   sorted(r for r in rx_rows if r[1].startswith(month)),
                   sorted(r for r in item_rows if r[0].startswith(key)))
    else:
        _write(out, doctors, cert_rows, sorted(rx_rows), sorted(item_rows))
    (out / "manifest.json").write_text(json.dumps({"month": MONTH, "kinds": kinds}, ensure_ascii=False),
                                       encoding="utf-8")
    return {"prescriptions": len(rx_rows), "audited": audited, "items": len(item_rows), "patients": patient,
            **{k: len(v) for k, v in kinds.items() if k != "on_time"}}


def flag_heavy(n_rx: int, out: Path, seed: int = 7) -> dict:
    """One month where most prescriptions are flagged (see the module doc)."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    by_class: dict[str, list] = {}
    for drug in DRUGS.values():
        by_class.setdefault(drug.atc, []).append(drug)
    multi = [(d, w) for d, w in DISEASE_SETS if len(d) >= 2]
    n_doctors = max(20, n_rx // 500)
    doctors = [(f"YS{i:05d}", f"医师{i:05d}", DEPARTMENTS[i % len(DEPARTMENTS)]) for i in range(n_doctors)]
    cert_rows, rx_rows, item_rows = [], [], []
    serial: dict[int, int] = {}
    patient = 0
    while len(rx_rows) < n_rx:
        patient += 1
        pid = f"3701{patient:012d}"
        diseases = _weighted(rng, multi)
        for code in diseases:
            cert_rows.append((pid, code, "complication" if code == "M01609" else "disease", "2021-03-01", ""))
        classes = [k for c in diseases for k in DISEASE_CLASSES[c] if k in by_class]
        for day in sorted(rng.choices(range(1, DAYS + 1), k=rng.randint(3, 6))):
            if len(rx_rows) >= n_rx:
                break
            serial[day] = serial.get(day, 0) + 1
            rid = f"R{MONTH.replace('-', '')}{day:02d}{serial[day]:07d}"
            doctor = rng.choice(doctors)
            budget = rng.randint(30001, 40000) if rng.random() < 0.33 else rng.randint(3000, 28000)
            drugs = [rng.choice(by_class[rng.choice(classes)]) for _ in range(rng.randint(2, 4))]
            shares = [rng.randint(1, 10) for _ in drugs]
            amounts = [budget * share // sum(shares) for share in shares]
            amounts[-1] += budget - sum(amounts)
            for line, (drug, fen) in enumerate(zip(drugs, amounts), 1):
                product = drug.products[0]
                code = "" if rng.random() < NO_CODE_SHARE else product.code
                money = f"{fen // 100}.{fen % 100:02d}"
                item_rows.append((rid, line, code, drug.name, product.spec, 1, product.unit, money, money,
                                  rng.randint(7, 30)))
            rx_rows.append((rid, f"{MONTH}-{day:02d} {rng.randint(8, 16):02d}:{rng.randint(0, 59):02d}:00", pid, "",
                            "城镇职工医疗保险", doctor[0], doctor[2], ";".join(diseases),
                            f"{budget // 100}.{budget % 100:02d}"))
    _write(out, doctors, cert_rows, sorted(rx_rows), sorted(item_rows))
    return {"prescriptions": len(rx_rows), "items": len(item_rows), "patients": patient}


def _write(out: Path, doctors, cert_rows, rx_rows, item_rows) -> None:
    """The four files (the roster and the certifications only when given)."""
    for name, header, rows in (
            ("doctors", ["doctor_code", "doctor_name", "department", "qualified"],
             None if doctors is None else [(code, name, dept, 1) for code, name, dept in doctors]),
            ("certifications", ["patient_id", "disease_code", "kind", "valid_from", "valid_to"], cert_rows),
            ("prescriptions", ["rx_id", "rx_date", "patient_id", "patient_name", "insurance_type", "doctor_code",
                               "department", "disease_codes", "total_amount"], rx_rows),
            ("rx_items", ["rx_id", "line_no", "drug_code", "drug_name", "spec", "quantity", "unit", "unit_price",
                          "amount", "days_supply"], item_rows)):
        if rows is None:
            continue
        with open(out / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)


PROFILES = {"classic": classic, "realistic": realistic, "flag-heavy": flag_heavy}


def generate(n_rx: int, out: Path, seed: int = 7, profile: str = "classic", split: bool = False) -> dict:
    if split:
        return PROFILES[profile](n_rx, Path(out), seed, split=True)
    return PROFILES[profile](n_rx, Path(out), seed)


USAGE = """用法：python bench/generate.py 处方张数 输出目录 [--profile 数据形态] [--seed 种子]

生成城市规模的门规导出文件（doctors、certifications、prescriptions、rx_items 四个 CSV），
供基准测试使用；相同的处方张数、数据形态与种子生成相同的文件。

  处方张数              被审核月份（2026-10）的处方张数，如 100000
  输出目录              写出 CSV 文件的目录（不存在则创建）
  --profile 数据形态    classic（默认：一个月，续方不重叠）、realistic（三个月，真实的续方节奏）
                        或 flag-heavy（过半处方被标记）
  --split               与 realistic 一起用：每个月一个目录
  --seed 种子           随机种子（默认 7）
  -h, --help            显示帮助并退出"""


def main(argv: list[str]) -> int:
    if any(arg in ("-h", "--help") for arg in argv):
        print(USAGE)
        return 0
    seed, profile, split, positional, args = 7, "classic", False, [], iter(argv)
    for arg in args:
        if arg == "--split":
            split = True
            continue
        if arg == "--seed":
            value = next(args, "")
            if not value.lstrip("-").isdigit():
                return _usage_error(f"--seed 应为整数（实际为「{value}」）")
            seed = int(value)
        elif arg == "--profile":
            profile = next(args, "")
            if profile not in PROFILES:
                return _usage_error(f"--profile 应为 {'、'.join(sorted(PROFILES))} 之一（实际为「{profile}」）")
        elif arg.startswith("-"):
            return _usage_error(f"没有这个选项：{arg}")
        else:
            positional.append(arg)
    if len(positional) != 2:
        return _usage_error("需要两个参数：处方张数和输出目录")
    if split and profile != "realistic":
        return _usage_error("--split 只能与 --profile realistic 一起使用")
    count, target = positional
    if not count.isdigit() or int(count) < 1:
        return _usage_error(f"处方张数应为正整数，如 100000（实际为「{count}」）")
    started = time.perf_counter()
    print(generate(int(count), Path(target), seed, profile, split), f"{time.perf_counter() - started:.1f}s")
    return 0


def _usage_error(message: str) -> int:
    print(f"{USAGE.splitlines()[0]}\n错误：{message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
