"""The audit's one path: a month's checks run on one or more *lanes*, connections that each run
checks one after another; with two lanes, on two cores at once.

The runner prepares the shared working tables (``audit_rx``, ``rx_codes``, ``token_map``, …) once,
in the schema :attr:`Lanes.schema` names, then every lane runs checks from the same schedule:

* **one lane** (``MENGUI_AUDIT_LANES=1``, a machine with one core, or a database without a file such
  as ``:memory:``): the lane is the caller's connection, in the caller's thread; the working tables
  are its TEMP tables, and stay there after the audit for a look.
* **several lanes**: the working tables go to a scratch database attached as ``work``; each lane is
  a connection of its own, run by a thread (SQLite releases the GIL while a statement runs), which
  sees them as ``temp.audit_rx`` and so on through TEMP views, and keeps its own ``temp.new_flags``
  and ``temp.audit_items``. When every lane is done, each copies its flags into ``work.new_flags``
  with one INSERT … SELECT, and the runner reads them there as ``temp.new_flags``.

One snapshot: the runner's connection and every lane begin their read transactions while a short
write lock (the *gate*) keeps any other writer from committing between them, so the preparation
and every check read the same state of the data even while a load commits beside the audit.

Scheduling: checks that declare ``by_patient`` (the drug checks: a patient's flags come from that
patient's items alone) run on every lane, each over its share of the patients, with ``audit_items``
built for that share; other checks that declare ``uses_items`` run in ruleset order on the first
lane, which builds ``audit_items`` once; every other check goes to a shared queue that all lanes
take from, longest first. The flags do not depend on the lane that computed them.

``MENGUI_AUDIT_LANES`` sets how many lanes run (default: two on a machine with two or more cores).
"""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
from collections import deque
from typing import Callable

from ..db.files import Scratch
from ..db.schema import configure, database_file
from ..errors import MenguiError
from .checks import AuditContext, Check, create_new_flags

LANES_ENV = "MENGUI_AUDIT_LANES"
#: the key under which :meth:`Lanes.run` reports the seconds of building ``audit_items``
ITEMS = "audit_items"


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


class Lanes:
    """The lanes of one audit: their connections, threads and the scratch database they share."""

    def __init__(self, conn: sqlite3.Connection, count: int):
        self.conn = conn
        self.path = database_file(conn)
        self.lanes: list[sqlite3.Connection] = [conn]  # one lane: the caller's connection
        self.views: list[str] = []
        self.scratch: Scratch | None = None
        #: where the runner builds the shared working tables
        self.schema = "temp"
        if count < 2:
            return
        # beside the database, owner-only, removed afterwards (or by the next run after a crash)
        self.scratch = Scratch(self.path, "audit")
        self.schema = "work"
        self.lanes = []
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

    @property
    def threaded(self) -> bool:
        """True when the lanes are connections of their own, each run by a thread."""
        return self.scratch is not None

    def _attach(self, conn: sqlite3.Connection) -> None:
        conn.execute("ATTACH DATABASE ? AS work", (str(self.scratch.path),))
        conn.execute("PRAGMA work.cache_size = -65536")

    def begin(self) -> None:
        """Begin a read transaction on the runner's connection and on every lane, all on one snapshot."""
        if not self.threaded:
            self.conn.execute("BEGIN")
            self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot starts here
            return
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
        """After the runner has built the working tables: with several lanes, commit them and show
        each as ``temp.<name>`` on every connection. Every lane gets its empty ``temp.new_flags``."""
        if self.threaded:
            self.conn.execute("COMMIT")  # the working tables, for the lanes to read
            self.conn.execute("PRAGMA shrink_memory")  # the preparation's page cache: the lanes need the memory
            self.views = [row[0] for row in self.conn.execute("SELECT name FROM work.sqlite_master WHERE type = 'table'")]
            for conn in (self.conn, *self.lanes):
                for name in self.views:
                    conn.execute(f"CREATE TEMP VIEW [{name}] AS SELECT * FROM work.[{name}]")
        for lane in self.lanes:
            create_new_flags(lane)

    def run(self, checks: list[Check], ctx: AuditContext,
            make_context: Callable[[sqlite3.Connection, tuple[int, int]], AuditContext],
            run_check: Callable[[AuditContext, Check], float],
            progress=None, last_seconds: dict[str, float] | None = None) -> dict[str, float]:
        """Run ``checks`` on the lanes, each with the context ``make_context`` makes for its connection
        and its share (lane, lanes); afterwards ``ctx`` holds every check's notes, in ruleset order. Returns each check's seconds
        (building ``audit_items`` not included; a ``by_patient`` check's longest lane) and under
        :data:`ITEMS` the longest any lane took to build ``audit_items``.
        Call :meth:`finish` next: the flags are on the lanes until then.

        Every lane first runs the ``by_patient`` checks over its share of the patients (one lane:
        all of them), in ruleset order; then the first lane the other checks that use items; then all
        take from the shared queue, which starts with the checks that took longest last time
        (``last_seconds``; new ones first, in ruleset order), so that no lane is left with a long
        check at the end."""
        split = [c for c in checks if c.by_patient]
        own = deque(c for c in checks if c.uses_items and not c.by_patient)
        last = last_seconds or {}
        shared = deque(sorted((c for c in checks if not c.uses_items and not c.by_patient),
                              key=lambda c: -last.get(c.id, float("inf"))))
        lock = threading.Lock()
        stop = threading.Event()
        notes: dict[str, list[str]] = {}
        seconds: dict[str, float] = {}
        finished: dict[str, int] = {}  # how many lanes have run each check
        errors: list[BaseException] = []

        def next_check(first: bool) -> Check | None:
            with lock:
                if stop.is_set():
                    return None
                if first and own:
                    return own.popleft()
                return shared.popleft() if shared else None

        def report(tag: str, check: Check | None, payload) -> None:
            """What a lane reports, handled on the runner's thread."""
            if tag == "done":  # a by_patient check reports from every lane: its notes joined, its longest time
                notes.setdefault(check.id, []).extend(payload[0])
                seconds[check.id] = max(seconds.get(check.id, 0.0), payload[1])
                finished[check.id] = finished.get(check.id, 0) + 1
                if progress and finished[check.id] == (len(self.lanes) if check.by_patient else 1):
                    progress(check)
            elif tag == "items":
                seconds[ITEMS] = max(seconds.get(ITEMS, 0.0), payload)
            elif not errors:  # the first error stops the others (their statements are interrupted)
                errors.append(payload)
                stop.set()
                for conn in self.lanes:
                    if conn is not self.conn:
                        conn.interrupt()

        def lane(index: int, conn: sqlite3.Connection, send: Callable) -> None:
            lane_ctx = make_context(conn, (index, len(self.lanes)))
            mine = deque(split)
            try:
                while (check := mine.popleft() if mine and not stop.is_set() else next_check(index == 0)) is not None:
                    before, items_before = len(lane_ctx.notes), lane_ctx.items_seconds
                    took = run_check(lane_ctx, check)
                    # a check's own seconds: building audit_items is counted apart (ITEMS)
                    took = max(0.0, round(took - (lane_ctx.items_seconds - items_before), 3))
                    send("done", check, (lane_ctx.notes[before:], took))
                send("items", None, round(lane_ctx.items_seconds, 3))
            except BaseException as ex:  # raised on the runner's thread, after every lane has stopped
                send("error", None, ex)

        if self.threaded:
            reports: queue.Queue = queue.Queue()

            def threaded_lane(index: int, conn: sqlite3.Connection) -> None:
                try:
                    lane(index, conn, lambda *report_args: reports.put(report_args))
                finally:
                    reports.put(None)

            threads = [threading.Thread(target=threaded_lane, args=(i, c), name=f"mengui-lane-{i}", daemon=True)
                       for i, c in enumerate(self.lanes)]
            for thread in threads:
                thread.start()
            running = len(threads)
            while running:
                item = reports.get()
                if item is None:
                    running -= 1
                else:
                    report(*item)
            for thread in threads:
                thread.join()
        else:
            lane(0, self.conn, report)
        if errors:
            raise errors[0]
        for check in checks:
            for text in notes.get(check.id, []):
                ctx.note(text)
        return seconds

    def finish(self) -> None:
        """End every read transaction (the checks are done with the snapshot) and gather the flags on
        the runner's connection as ``temp.new_flags``. With several lanes, each lane copies its flags
        into ``work.new_flags`` in one INSERT … SELECT (no other connection holds the scratch database
        by then), then closes."""
        for conn in (self.conn, *self.lanes):
            if conn.in_transaction:
                conn.execute("COMMIT")  # it wrote TEMP tables only (the flags): they stay
        if not self.threaded:
            return
        create_new_flags(self.conn, "work")
        for lane in self.lanes:
            lane.execute("INSERT INTO work.new_flags SELECT * FROM temp.new_flags ORDER BY rowid")
        self._close_lanes()
        self.conn.execute("CREATE TEMP VIEW new_flags AS SELECT * FROM work.new_flags")
        self.views.append("new_flags")

    def _close_lanes(self) -> None:
        if not self.threaded:
            return
        lanes, self.lanes = self.lanes, []
        for lane in lanes:
            try:
                if lane.in_transaction:
                    lane.execute("ROLLBACK")
            finally:
                lane.close()

    def close(self) -> None:
        """End the transactions; with several lanes close them, drop the views and the scratch database."""
        self._close_lanes()
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        if not self.threaded:
            return
        try:
            for name in self.views:
                self.conn.execute(f"DROP VIEW IF EXISTS temp.[{name}]")
            self.views = []
            if any(row[1] == "work" for row in self.conn.execute("PRAGMA database_list")):
                self.conn.execute("DETACH DATABASE work")
        finally:
            self.scratch.remove()
