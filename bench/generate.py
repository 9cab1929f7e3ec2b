"""Generate a city-sized month of 门规 exports for the benchmark.

    python bench/generate.py 100000 bench/data/100k

Writes doctors.csv, certifications.csv, prescriptions.csv and rx_items.csv for N prescriptions
(≈2.5 items each) in one month: patients with 1–3 diseases, regimens of 1–4 drugs of distinct
classes refilled without overlap, and a few percent of violations (over-cap visits, duplicate and
same-effect drugs, uncertified patients). Deterministic for a given N and seed.
"""

from __future__ import annotations

import csv
import random
import sys
import time
from pathlib import Path

from mengui_core.demo_data import DRUGS

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


def generate(n_rx: int, out: Path, seed: int = 7) -> dict:
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


USAGE = """用法：python bench/generate.py 处方张数 输出目录 [--seed 种子]

生成一个月的城市规模门规导出文件（doctors、certifications、prescriptions、rx_items 四个 CSV），
供基准测试使用；相同的处方张数与种子生成相同的文件。

  处方张数      要生成的处方张数，如 100000
  输出目录      写出 CSV 文件的目录（不存在则创建）
  --seed 种子   随机种子（默认 7）
  -h, --help    显示帮助并退出"""


def main(argv: list[str]) -> int:
    if any(arg in ("-h", "--help") for arg in argv):
        print(USAGE)
        return 0
    seed, positional, args = 7, [], iter(argv)
    for arg in args:
        if arg == "--seed":
            value = next(args, "")
            if not value.lstrip("-").isdigit():
                return _usage_error(f"--seed 应为整数（实际为「{value}」）")
            seed = int(value)
        elif arg.startswith("-"):
            return _usage_error(f"没有这个选项：{arg}")
        else:
            positional.append(arg)
    if len(positional) != 2:
        return _usage_error("需要两个参数：处方张数和输出目录")
    count, target = positional
    if not count.isdigit() or int(count) < 1:
        return _usage_error(f"处方张数应为正整数，如 100000（实际为「{count}」）")
    started = time.perf_counter()
    print(generate(int(count), Path(target), seed), f"{time.perf_counter() - started:.1f}s")
    return 0


def _usage_error(message: str) -> int:
    print(f"{USAGE.splitlines()[0]}\n错误：{message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
