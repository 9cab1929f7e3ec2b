"""The benchmark: one command, every figure measured in the same run.

    .venv/bin/python bench/run.py                          # every profile at 100k, the realistic one at 1M too
    .venv/bin/python bench/run.py --profile flag-heavy     # one profile (at 100k)
    .venv/bin/python bench/run.py --profile classic --sizes 100000,1000000

Profiles (bench/generate.py): ``classic`` (one month, few findings), ``realistic`` (three months of
chronic patients' refills, one folder a month: the earlier two are loaded untimed, then the audited
month's load and audit are timed against the floor of that month's files) and ``flag-heavy`` (one
month, most prescriptions flagged).

For each profile and size it generates the exports (cached in bench/data/), then times, each in a
fresh process: the raw floor (Python's csv module + executemany into empty tables, no validation;
the best of three runs), optionally `sqlite-utils insert --csv` of the same files (--sqlite-utils),
and `mengui load`, `mengui audit`, `mengui disclose` (one run each), then re-audits the month on
one lane and on two. It prints seconds, peak memory (of the process tree), the ratios the targets
are about, and where the audit's time went (audit_runs.steps and each check's seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
MONTH = "2026-10"
FLOOR = r"""
import csv, sqlite3, sys
from pathlib import Path
conn = sqlite3.connect(sys.argv[1])
for path in sorted(Path(sys.argv[2]).glob("*.csv")):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = csv.reader(fh)
        header = next(rows)
        conn.execute(f"CREATE TABLE [{path.stem}] ({', '.join(f'[{h}]' for h in header)})")
        conn.executemany(f"INSERT INTO [{path.stem}] VALUES ({', '.join('?' * len(header))})", rows)
conn.commit()
"""


def _tree_rss_kib(root: int) -> int:
    """Resident memory of a process and all its descendants (the load's parse worker), in KiB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page_kib = os.sysconf("SC_PAGE_SIZE") // 1024
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)  # fields[1]: parent pid
        rss[pid] = int(fields[21]) * page_kib  # fields[21]: resident pages
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def measure(args: list[str]) -> tuple[float, float]:
    """Seconds and peak memory (MiB) of one command, run in its own process.

    Peak memory is the largest total resident size of the command's process tree (sampled every
    50 ms — each sample reads /proc, which costs the measured command a little CPU: `mengui load`
    parses in a worker process beside it), or the process's own max RSS if
    that is larger. posix_spawn, not fork, so the child does not start from this process's size.
    """
    os.sync()  # the previous step's writes reach the disk first, not during this step's fsyncs
    started = time.perf_counter()
    devnull = os.open(os.devnull, os.O_WRONLY)
    errors = tempfile.TemporaryFile()  # the command's stderr, shown if it fails
    pid = os.posix_spawn(args[0], args, dict(os.environ),
                         file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, errors.fileno(), 2)])
    peak_tree = 0
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        peak_tree = max(peak_tree, _tree_rss_kib(pid))
        time.sleep(0.05)
    os.close(devnull)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        errors.seek(0)
        tail = errors.read().decode("utf-8", "replace")[-3000:]
        raise SystemExit(f"failed ({os.waitstatus_to_exitcode(status)}): {' '.join(args)}\n{tail}")
    errors.close()
    return elapsed, max(peak_tree, usage.ru_maxrss) / 1024


def fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return path


PROFILES = ("classic", "realistic", "flag-heavy")
#: the default run: every profile at 100k, the realistic one at 1M as well
DEFAULT_PLAN = [("classic", 100_000), ("realistic", 100_000), ("flag-heavy", 100_000), ("realistic", 1_000_000)]


def dataset(profile: str, size: int) -> Path:
    """The profile's exports, generated once (in their own process, so this one stays small: a
    spawned child's peak memory starts at ours)."""
    data = HERE / "data" / f"{profile}-{size}"
    if not (data / "done").exists():
        print(f"generating {profile} {size:,} → {data}", flush=True)
        shutil.rmtree(data, ignore_errors=True)
        extra = ["--split"] if profile == "realistic" else []
        measure([sys.executable, str(HERE / "generate.py"), str(size), str(data), "--profile", profile, *extra])
        (data / "done").write_text("")
    return data


def last_run(db: Path) -> dict:
    """What the last audit recorded: its steps' seconds, each check's seconds, the flag count."""
    conn = sqlite3.connect(db)
    try:
        steps, checks, flags = conn.execute(
            "SELECT steps, checks, flag_count FROM audit_runs ORDER BY run_id DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    return {"steps": json.loads(steps), "checks": {c["id"]: c["seconds"] for c in json.loads(checks)},
            "flags": flags}


def bench(profile: str, size: int, work: Path, sqlite_utils: bool = False) -> dict:
    data = dataset(profile, size)
    month_dir = data / MONTH if (data / MONTH).is_dir() else data
    earlier = sorted(d for d in data.iterdir() if d.is_dir() and d.name < MONTH)
    rows = sum(sum(1 for _ in open(f, encoding="utf-8")) - 1 for f in month_dir.glob("*.csv"))
    results = {"profile": profile, "size": size, "rows": rows}
    # the floor is the best of three runs: a lucky floor only makes the ratios stricter
    results["floor"] = min(measure([sys.executable, "-c", FLOOR, str(fresh(work / "floor.db")), str(month_dir)])
                           for _ in range(3))
    if sqlite_utils:
        db = fresh(work / "sqlite_utils.db")
        total, peak = 0.0, 0.0
        for path in sorted(month_dir.glob("*.csv")):
            seconds, memory = measure([str(BIN / "sqlite-utils"), "insert", str(db), path.stem, str(path), "--csv"])
            total, peak = total + seconds, max(peak, memory)
        results["sqlite-utils"] = (total, peak)
    db = fresh(work / "mengui.db")
    mengui = str(BIN / "mengui")
    for folder in earlier:  # the months before, already in the hospital's database: not timed
        subprocess.run([mengui, "load", str(db), str(folder)], check=True, stdout=subprocess.DEVNULL)
    results["load"] = measure([mengui, "load", str(db), str(month_dir)])
    results["audit"] = measure([mengui, "audit", str(db), "--month", MONTH])
    results["run"] = last_run(db)
    results["disclose"] = measure([mengui, "disclose", str(db), "--month", MONTH, "--ladder-start", MONTH,
                                   "--format", "csv", "-o", str(work / "list.csv")])
    # the same month audited again (each replaces the flags the one before wrote): one lane, then two
    for lanes in (1, 2):
        os.environ["MENGUI_AUDIT_LANES"] = str(lanes)
        try:
            results[f"re-audit, {lanes} lane{'s' if lanes > 1 else ''}"] = measure(
                [mengui, "audit", str(db), "--month", MONTH])
        finally:
            del os.environ["MENGUI_AUDIT_LANES"]
    return results


STEPS = ("floor", "sqlite-utils", "load", "audit", "disclose", "re-audit, 1 lane", "re-audit, 2 lanes")


def report(all_results: list[dict]) -> str:
    lines = ["| profile | prescriptions | input rows | step | seconds | peak MiB | × raw floor |",
             "|---|---:|---:|---|---:|---:|---:|"]
    for r in all_results:
        floor = r["floor"][0]
        head = f"| {r['profile']} | {r['size']:,} | {r['rows']:,}"
        for step in STEPS:
            if step in r:
                seconds, memory = r[step]
                lines.append(f"{head} | {step} | {seconds:.2f} | {memory:.0f} | {seconds / floor:.2f} |")
        both = r["load"][0] + r["audit"][0]
        lines.append(f"{head} | **load + audit** | **{both:.2f}** | "
                     f"{max(r['load'][1], r['audit'][1]):.0f} | **{both / floor:.2f}** |")
    lines.append("")
    lines.append("Where the audit's time went (seconds; `flags` is grading and writing them, before the commit):")
    lines.append("")
    for r in all_results:
        run = r["run"]
        checks = ", ".join(f"{k} {v:.2f}" for k, v in sorted(run["checks"].items(), key=lambda kv: -(kv[1] or 0)))
        steps = ", ".join(f"{k} {v:.2f}" for k, v in run["steps"].items())
        lines.append(f"- {r['profile']} {r['size']:,}: {run['flags']:,} flags; {steps}; checks: {checks}")
    by_profile: dict[str, list[dict]] = {}
    for r in all_results:
        by_profile.setdefault(r["profile"], []).append(r)
    growth = []
    for profile, runs in by_profile.items():
        if len(runs) > 1:
            small, big = min(runs, key=lambda r: r["size"]), max(runs, key=lambda r: r["size"])
            times = big["audit"][0] / small["audit"][0]
            ratio = times / (big["size"] / small["size"])
            growth.append(f"{profile}: audit time grows {times:.1f}× for {big['size'] / small['size']:.0f}× the "
                          f"prescriptions: {ratio:.2f} of linear (≤ 1.00 is linear or better)")
    if growth:
        lines += [""] + growth
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=None,
                        help=f"comma-separated, from {', '.join(PROFILES)} (default: the whole plan below)")
    parser.add_argument("--sizes", default=None, help="comma-separated prescription counts (default 100000)")
    parser.add_argument("--sqlite-utils", action="store_true", help="also time sqlite-utils insert --csv")
    parser.add_argument("--work", default=None, help="where the benchmark databases go (default: a temp dir)")
    args = parser.parse_args()
    if args.profile is None and args.sizes is None:
        plan = DEFAULT_PLAN
    else:
        profiles = (args.profile or ",".join(PROFILES)).split(",")
        unknown = [p for p in profiles if p not in PROFILES]
        if unknown:
            parser.error(f"unknown profile {', '.join(unknown)}; choose from {', '.join(PROFILES)}")
        plan = [(p, int(s)) for p in profiles for s in (args.sizes or "100000").split(",")]
    work = Path(args.work or tempfile.mkdtemp(prefix="mengui-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for profile, size in plan:
        print(f"== {profile}, {size:,} prescriptions", flush=True)
        results.append(bench(profile, size, work, args.sqlite_utils))
        print(report(results[-1:]), flush=True)
    print()
    print(report(results))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
