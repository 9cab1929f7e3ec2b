"""The 事前 service under load, over loopback HTTP against a real `mengui serve` (issue 19).

    python bench/precheck.py bench/data/precheck-1m.db                       # the table of bench/README.md
    python bench/precheck.py DB --clients 20 --requests 20000 --rate 100     # one setting
    python bench/precheck.py DB --memory-requests 100000                     # memory over 100,000 requests

DB is a mengui database with its months audited (the bench's: the realistic profile's three months,
``bench/generate.py 1000000 DIR --profile realistic --split``, each folder loaded with ``mengui load``
and 2026-10 audited). Drafts are the audited month's own prescriptions, drawn at random, each sent
with its prescription number (the draft replaces the stored prescription in its slice: the work of
a real draft with the patient's whole history).

How the clients are driven (both are reported):

* **closed loop**: ``--clients`` connections (HTTP/1.1 keep-alive), each sending its next request as
  soon as the previous answer arrives — the server's saturation: latency = clients ÷ throughput;
* **open loop**: requests arrive at ``--rate`` per second (Poisson), spread over the same
  connections; each latency is measured from the request's *scheduled* time, so a server that falls
  behind is charged for the wait (no coordinated omission).

Meanwhile a logged-in committee member opens the review page and the pending-reviews list in turn;
their latencies are reported. The server's resident memory (``/proc/PID/status`` VmRSS) is sampled
every 10,000 requests of the memory run. Everything runs on this machine (2 cores): the clients
take CPU from the server, as a HIS on the same host would not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def drafts(db: Path, month: str, count: int, seed: int = 19) -> list[bytes]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    ids = [r[0] for r in conn.execute("SELECT rx_id FROM prescriptions WHERE rx_date BETWEEN ? AND ?",
                                      (month + "-01", month + "-31"))]
    rng = random.Random(seed)
    rng.shuffle(ids)
    out = []
    for rx_id in ids:
        if len(out) >= count:
            break
        rx = conn.execute("SELECT * FROM prescriptions WHERE rx_id = ?", (rx_id,)).fetchone()
        items = conn.execute("SELECT * FROM rx_items WHERE rx_id = ? ORDER BY line_no", (rx["rx_id"],)).fetchall()
        if not items:
            continue
        body = {"patient_id": rx["patient_id"], "doctor_code": rx["doctor_code"], "rx_id": rx["rx_id"],
                "rx_date": rx["rx_date"] + (f" {rx['rx_time']}" if rx["rx_time"] else ""),
                "disease_codes": rx["disease_codes"] or "", "insurance_type": rx["insurance_type"],
                "items": [{"drug_code": i["drug_code"], "drug_name": i["drug_name"], "quantity": i["quantity"],
                           "amount": yuan(i["amount_fen"]), "days_supply": i["days_supply"]} for i in items]}
        out.append(json.dumps(body, ensure_ascii=False).encode("utf-8"))
    return out


def request_bytes(path: str, body: bytes, token: str, port: int) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


async def exchange(reader, writer, payload: bytes) -> int:
    writer.write(payload)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def load(port: int, token: str, bodies: list[bytes], clients: int, requests: int, rate: float | None,
               committee: "Committee | None", on_progress=None) -> dict:
    """Send ``requests`` drafts over ``clients`` keep-alive connections (closed loop, or open loop at ``rate``)."""
    latencies: list[float] = []
    errors = 0
    sent = 0
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue | None = asyncio.Queue() if rate else None

    async def client(index: int):
        nonlocal sent, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                if queue is not None:
                    scheduled = await queue.get()
                    if scheduled is None:
                        return
                    body = bodies[len(latencies) % len(bodies)]
                else:
                    if sent >= requests:
                        return
                    sent += 1
                    scheduled = loop.time()
                    body = bodies[(sent * 7919) % len(bodies)]
                payload = request_bytes("/-/precheck", body, token, port)
                try:
                    status = await exchange(reader, writer, payload)
                except (asyncio.IncompleteReadError, ConnectionError):  # the server closed an idle connection
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    status = await exchange(reader, writer, payload)
                latencies.append(loop.time() - scheduled)
                errors += status != 200
                if on_progress and len(latencies) % 10_000 == 0:
                    on_progress(len(latencies))
        finally:
            writer.close()

    started = loop.time()
    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    side = asyncio.create_task(committee.browse()) if committee else None
    if queue is not None:
        rng = random.Random(7)
        at = loop.time()
        for _ in range(requests):
            at += rng.expovariate(rate)
            delay = at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            queue.put_nowait(at)
        for _ in tasks:
            queue.put_nowait(None)
    await asyncio.gather(*tasks)
    elapsed = loop.time() - started
    if side:
        committee.stop = True
        await side
    ms = [x * 1000 for x in latencies]
    return {"requests": len(ms), "errors": errors, "seconds": round(elapsed, 1),
            "throughput": round(len(ms) / elapsed, 1), "p50": round(percentile(ms, 50), 1),
            "p90": round(percentile(ms, 90), 1), "p99": round(percentile(ms, 99), 1), "max": round(max(ms), 1)}


class Committee:
    """A logged-in committee member opening the review page and the pending list in turn."""

    def __init__(self, base: str, cookies: dict, pages: list[str]):
        import httpx

        self.client = httpx.AsyncClient(base_url=base, cookies=cookies, timeout=60)
        self.pages = pages
        self.latencies: dict[str, list[float]] = {p: [] for p in pages}
        self.stop = False
        self.failures = 0

    async def browse(self):
        while not self.stop:
            for page in self.pages:
                started = time.perf_counter()
                response = await self.client.get(page)
                self.latencies[page].append((time.perf_counter() - started) * 1000)
                self.failures += response.status_code != 200
                await asyncio.sleep(0.5)

    def report(self) -> dict:
        return {p: {"n": len(v), "p50": round(statistics.median(v), 1), "max": round(max(v), 1),
                    "failed": self.failures} for p, v in self.latencies.items() if v}


def login(base: str, name: str, password: str) -> dict:
    import httpx

    client = httpx.Client(base_url=base, timeout=60)
    client.get("/-/login")
    client.post("/-/login", data={"username": name, "password": password, "csrftoken": client.cookies["ds_csrftoken"]})
    return dict(client.cookies)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("--month", default="2026-10")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rate", type=float, action="append", help="open loop at this many requests a second "
                        "(repeatable); without it: closed loop, then open loop at 50 and 100 per second")
    parser.add_argument("--memory-requests", type=int, default=0, help="then this many more requests (closed loop) "
                        "with the server's memory sampled every 10,000")
    parser.add_argument("--drafts", type=int, default=5000)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from mengui_datasette.tokens import add_token, remove_token
    from mengui_datasette.users import add_user, remove_user

    db = args.db
    bodies = drafts(db, args.month, args.drafts)
    name = f"bench-{os.getpid()}"
    token = add_token(db, name)
    add_user(db, name, "bench-password-19", "committee")
    conn = sqlite3.connect(db)
    flagged = conn.execute("SELECT rx_id, check_id FROM flags WHERE month = ? LIMIT 1", (args.month,)).fetchone()
    conn.close()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "mengui_cli", "serve", str(db), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        cookies = login(base, name, "bench-password-19")
        # the review page, the home page, the public list; the month's big list pages (pending_reviews:
        # 0.8 s on the 1M month with no load at all) are timed idle below, not under load
        pages = [f"/-/review/{flagged[0]}/{flagged[1]}", "/", f"/{db.stem}/disclosures"]
        print(f"database {db} ({db.stat().st_size / 2**20:.0f} MiB), {len(bodies)} distinct drafts of {args.month}, "
              f"server pid {server.pid}, {os.cpu_count()} cores", flush=True)
        asyncio.run(load(port, token, bodies, args.clients, 500, None, None))  # warm-up: every thread's connections
        idle = {}
        for page in pages + [f"/{db.stem}/pending_reviews", "/-/dashboard"]:
            import httpx

            with httpx.Client(base_url=base, cookies=cookies, timeout=60) as browser:
                browser.get(page)
                started = time.perf_counter()
                status = browser.get(page).status_code
                idle[_page_name(page)] = (round((time.perf_counter() - started) * 1000, 1), status)
        print("committee pages with no load (ms, status):", idle, flush=True)
        settings = [("closed loop", None)] + [(f"open loop, {r:g}/s", r) for r in (args.rate or [50, 100])]
        print("| clients | driven | requests | errors | req/s | p50 ms | p90 ms | p99 ms | max ms | committee pages p50 / max ms |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for label, rate in settings:
            committee = Committee(base, cookies, pages)
            result = asyncio.run(_with_committee(port, token, bodies, args.clients, args.requests, rate, committee))
            pages_text = "; ".join(f"{_page_name(p)} {v['p50']} / {v['max']} (n={v['n']})"
                                   for p, v in result.pop("committee").items())
            print(f"| {args.clients} | {label} | {result['requests']:,} | {result['errors']} | {result['throughput']} | "
                  f"{result['p50']} | {result['p90']} | {result['p99']} | {result['max']} | {pages_text} |", flush=True)
        if args.memory_requests:
            samples = [(0, rss_mib(server.pid))]
            result = asyncio.run(load(port, token, bodies, args.clients, args.memory_requests, None, None,
                                      on_progress=lambda n: samples.append((n, rss_mib(server.pid)))))
            print(f"\nmemory over {result['requests']:,} requests (closed loop, {args.clients} clients, "
                  f"p50 {result['p50']} ms, p99 {result['p99']} ms, errors {result['errors']}):")
            print("| requests | server RSS MiB |\n|---:|---:|")
            for n, mib in samples:
                print(f"| {n:,} | {mib:.1f} |")
    finally:
        server.terminate()
        server.wait(timeout=30)
        remove_token(db, name)
        remove_user(db, name)
    return 0


def _page_name(path: str) -> str:
    return "review" if path.startswith("/-/review") else "home" if path == "/" else path.rsplit("/", 1)[-1]


async def _with_committee(port, token, bodies, clients, requests, rate, committee):
    result = await load(port, token, bodies, clients, requests, rate, committee)
    result["committee"] = committee.report()
    await committee.client.aclose()
    return result


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
