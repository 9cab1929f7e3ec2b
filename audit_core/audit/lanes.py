"""Run a month's checks on several connections at once: the audit's use of a second core.

The runner prepares the shared working tables (``audit_rx``, ``rx_codes``, ``token_map``, …) once,
in a scratch database attached as ``work``. Each *lane* is a connection of its own, run by a thread
(SQLite releases the GIL while a statement runs), which sees those tables as ``temp.audit_rx`` and
so on through TEMP views, and keeps its own ``temp.new_flags`` and ``temp.audit_items``.

One snapshot: the runner's connection and every lane begin their read transactions while a short
write lock (the *gate*) keeps any other writer from committing between them, so the preparation
and every check read the same state of the data even while a load commits beside the audit.

Scheduling: checks that declare ``uses_items`` run in ruleset order on the first lane, which builds
``audit_items`` once; every other check goes to a shared queue that all lanes (the first one when
done with its own) take from. The flags do not depend on the lane that computed them.

``MENGUI_AUDIT_LANES=1`` turns lanes off (everything on the runner's connection, as on a machine
with one core or an in-memory database); another number sets how many lanes run.
"""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
from collections import deque
from typing import Callable

from .checks import FLAG_COLUMNS, AuditContext, Check
from ..errors import MenguiError
from ..db.files import Scratch
from ..db.schema import configure, database_file

LANES_ENV = "MENGUI_AUDIT_LANES"
NEW_FLAGS = ("check_id",) + FLAG_COLUMNS


def lane_count(conn: sqlite3.Connection) -> int:
    """How many lanes an audit on ``conn`` runs: ``MENGUI_AUDIT_LANES``, else 2 with two or more
    cores; 1 (no lanes) for a database that has no file another connection could open."""
    wanted = os.environ.get(LANES_ENV, "").strip()
    if wanted:
        if not wanted.isdigit() or int(wanted) < 1:
            raise MenguiError(f"环境变量 {LANES_ENV} 应为正整数（1 表示不并行），实际为「{wanted}」")
        count = int(wanted)
    else:
        count = min(os.cpu_count() or 1, 2)
    return count if count > 1 and database_file(conn) else 1


def create_new_flags(conn: sqlite3.Connection) -> None:
    conn.execute("DROP TABLE IF EXISTS temp.new_flags")
    conn.execute(
        "CREATE TEMP TABLE new_flags (check_id TEXT, rx_id TEXT, detail TEXT, amount_fen INTEGER, "
        "limit_fen INTEGER, related_rx_id TEXT, measure REAL, evidence TEXT)"
    )


class Lanes:
    """The scratch database, the lane connections and their threads for one audit."""

    def __init__(self, conn: sqlite3.Connection, count: int):
        self.conn = conn
        self.path = database_file(conn)
        # beside the database, owner-only, removed afterwards (or by the next run after a crash)
        self.workspace = Scratch(self.path, "audit")
        self.scratch = str(self.workspace.path)
        self.lanes: list[sqlite3.Connection] = []
        self.views: list[str] = []
        try:
            self._attach(conn)
            conn.execute("PRAGMA work.journal_mode = OFF")  # scratch: nothing to recover
            conn.execute("PRAGMA work.synchronous = OFF")
            for _ in range(count):
                lane = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
                self.lanes.append(lane)
                configure(lane)
                # several connections in one process: half the usual page caches each
                lane.execute("PRAGMA cache_size = -131072")
                lane.execute("PRAGMA temp.cache_size = -65536")
                self._attach(lane)
        except BaseException:
            self.close()
            raise

    def _attach(self, conn: sqlite3.Connection) -> None:
        conn.execute("ATTACH DATABASE ? AS work", (self.scratch,))
        conn.execute("PRAGMA work.cache_size = -65536")

    def begin(self) -> None:
        """Begin a read transaction on the runner's connection and on every lane, all on one snapshot."""
        gate = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        try:
            gate.execute("PRAGMA busy_timeout = 30000")
            try:
                gate.execute("BEGIN IMMEDIATE")  # no other writer can commit until ROLLBACK below
            except sqlite3.OperationalError as ex:
                raise MenguiError(f"数据库正被其他程序长时间写入，无法开始审核（{ex}），请稍后重试") from ex
            for conn in (self.conn, *self.lanes):
                conn.execute("BEGIN")
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot starts here
            gate.execute("ROLLBACK")
        finally:
            gate.close()

    def share(self) -> None:
        """After the runner has built the working tables in ``work`` (and committed them): show each
        of them as ``temp.<name>`` on every connection, and give each lane its ``temp.new_flags``."""
        self.conn.execute("PRAGMA shrink_memory")  # the preparation's page cache: the lanes need the memory
        self.views = [row[0] for row in self.conn.execute("SELECT name FROM work.sqlite_master WHERE type = 'table'")]
        for conn in (self.conn, *self.lanes):
            for name in self.views:
                conn.execute(f"CREATE TEMP VIEW [{name}] AS SELECT * FROM work.[{name}]")
        for lane in self.lanes:
            create_new_flags(lane)

    def run(self, checks: list[Check], ctx: AuditContext,
            run_check: Callable[[AuditContext, Check], float],
            items_builder: Callable[[sqlite3.Connection, AuditContext, int], None],
            progress=None, last_seconds: dict[str, float] | None = None) -> dict[str, float]:
        """Run ``checks`` on the lanes; afterwards ``ctx.conn``'s ``temp.new_flags`` holds every
        lane's flags and ``ctx`` every note, in ruleset order. Returns each check's seconds.

        The shared queue starts with the checks that took longest last time (``last_seconds``; new
        ones first, in ruleset order), so that no lane is left with a long check at the end."""
        own = deque(c for c in checks if c.uses_items)
        last = last_seconds or {}
        shared = deque(sorted((c for c in checks if not c.uses_items), key=lambda c: -last.get(c.id, float("inf"))))
        lock = threading.Lock()
        stop = threading.Event()
        reports: queue.Queue = queue.Queue()

        def next_check(first: bool) -> Check | None:
            with lock:
                if stop.is_set():
                    return None
                if first and own:
                    return own.popleft()
                return shared.popleft() if shared else None

        def lane(index: int, conn: sqlite3.Connection) -> None:
            lane_ctx = AuditContext(conn, ctx.month, ctx.start, ctx.end, ctx.ruleset)
            lane_ctx._items_builder = lambda min_diseases: items_builder(conn, lane_ctx, min_diseases)
            try:
                while (check := next_check(index == 0)) is not None:
                    before = len(lane_ctx.notes)
                    took = run_check(lane_ctx, check)
                    reports.put(("done", check, (lane_ctx.notes[before:], took)))
            except BaseException as ex:  # reported to the runner's thread, which raises it
                reports.put(("error", None, ex))
            finally:
                reports.put(("exit", None, None))

        threads = [threading.Thread(target=lane, args=(i, c), name=f"mengui-lane-{i}", daemon=True)
                   for i, c in enumerate(self.lanes)]
        for thread in threads:
            thread.start()
        running, error, notes, seconds = len(threads), None, {}, {}
        while running:
            tag, check, payload = reports.get()
            if tag == "done":
                notes[check.id], seconds[check.id] = payload
                if progress:
                    progress(check)
            elif tag == "error":
                if error is None:  # the first error stops the others (their statements are interrupted)
                    error = payload
                    stop.set()
                    for conn in self.lanes:
                        conn.interrupt()
            else:
                running -= 1
        for thread in threads:
            thread.join()
        if error is not None:
            raise error
        for check in checks:
            for text in notes.get(check.id, []):
                ctx.note(text)
        columns = ", ".join(NEW_FLAGS)
        for conn in self.lanes:
            rows = conn.execute(f"SELECT {columns} FROM temp.new_flags ORDER BY rowid").fetchall()
            self.conn.executemany(f"INSERT INTO temp.new_flags ({columns}) VALUES ({', '.join('?' * len(NEW_FLAGS))})",
                                  rows)
        # their read locks on the scratch database would keep the runner from committing the flags
        self._close_lanes()
        return seconds

    def _close_lanes(self) -> None:
        lanes, self.lanes = self.lanes, []
        for lane in lanes:
            try:
                if lane.in_transaction:
                    lane.execute("ROLLBACK")
            finally:
                lane.close()

    def close(self) -> None:
        """End the lanes' transactions, close them, drop the views and the scratch database."""
        self._close_lanes()
        try:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            for name in self.views:
                self.conn.execute(f"DROP VIEW IF EXISTS temp.[{name}]")
            self.views = []
            if any(row[1] == "work" for row in self.conn.execute("PRAGMA database_list")):
                self.conn.execute("DETACH DATABASE work")
        finally:
            self.workspace.remove()
