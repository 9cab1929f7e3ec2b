"""The benchmark: one command, every figure measured in the same run.

    .venv/bin/python bench/run.py                 # 100k and 1M prescriptions
    .venv/bin/python bench/run.py --sizes 100000  # just one size

For each size it generates the month's exports (cached in bench/data/), then times, each in a fresh
process on a fresh database: the raw floor (Python's csv module + executemany into empty tables,
no validation; the best of three runs), `sqlite-utils insert --csv` of the same files, and
`mengui load`, `mengui audit`, `mengui disclose` (one run each). It prints seconds, peak memory
(of the process tree) and the ratios the targets are about.
"""

from __future__ import annotations

import argparse
import os
import shutil
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


def bench(size: int, work: Path) -> dict:
    data = HERE / "data" / str(size)
    if not (data / "rx_items.csv").exists():
        # in its own process, so this one stays small (a spawned child's peak memory starts at ours)
        print(f"generating {size:,} prescriptions → {data}", flush=True)
        measure([sys.executable, str(HERE / "generate.py"), str(size), str(data)])
    rows = sum(sum(1 for _ in open(f, encoding="utf-8")) - 1 for f in data.glob("*.csv"))
    results = {"size": size, "rows": rows}
    # the floor is the best of three runs: a lucky floor only makes the ratios stricter
    results["floor"] = min(measure([sys.executable, "-c", FLOOR, str(fresh(work / "floor.db")), str(data)])
                           for _ in range(3))
    db = fresh(work / "sqlite_utils.db")
    total, peak = 0.0, 0.0
    for path in sorted(data.glob("*.csv")):
        seconds, memory = measure([str(BIN / "sqlite-utils"), "insert", str(db), path.stem, str(path), "--csv"])
        total, peak = total + seconds, max(peak, memory)
    results["sqlite-utils"] = (total, peak)
    db = fresh(work / "mengui.db")
    mengui = str(BIN / "mengui")
    results["load"] = measure([mengui, "load", str(db), str(data)])
    results["audit"] = measure([mengui, "audit", str(db), "--month", MONTH])
    results["disclose"] = measure([mengui, "disclose", str(db), "--month", MONTH, "--ladder-start", MONTH,
                                   "--format", "csv", "-o", str(work / "list.csv")])
    return results


def report(all_results: list[dict]) -> str:
    lines = ["| prescriptions | input rows | step | seconds | peak MiB | × raw floor |", "|---:|---:|---|---:|---:|---:|"]
    for r in all_results:
        floor = r["floor"][0]
        for step in ("floor", "sqlite-utils", "load", "audit", "disclose"):
            seconds, memory = r[step]
            lines.append(f"| {r['size']:,} | {r['rows']:,} | {step} | {seconds:.2f} | {memory:.0f} | {seconds / floor:.2f} |")
        both = r["load"][0] + r["audit"][0]
        lines.append(f"| {r['size']:,} | | **load + audit** | **{both:.2f}** | "
                     f"{max(r['load'][1], r['audit'][1]):.0f} | **{both / floor:.2f}** |")
    if len(all_results) > 1:
        small, big = all_results[0], all_results[-1]
        growth = (big["audit"][0] / small["audit"][0]) / (big["size"] / small["size"])
        lines.append("")
        lines.append(f"audit time grows {big['audit'][0] / small['audit'][0]:.1f}× for {big['size'] / small['size']:.0f}× "
                     f"the prescriptions: {growth:.2f} of linear (≤ 1.00 is linear or better)")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--work", default=None, help="where the benchmark databases go (default: a temp dir)")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="mengui-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"== {size:,} prescriptions", flush=True)
        results.append(bench(size, work))
        print(report(results[-1:]), flush=True)
    print()
    print(report(results))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
