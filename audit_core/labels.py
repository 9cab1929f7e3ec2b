"""The vocabulary: every code a person reads, with its Chinese label, in one place.

Levels of the disclosure list, its actions, the status of a flag, verdicts, appeals, certification
kinds — and a stable colour per check. The report, the lists, the CLI and the site all take their
words from here; SQL (Datasette's canned queries) reads the same words through the functions
:func:`register_sql_functions` adds to a connection.
"""

from __future__ import annotations

import hashlib
import sqlite3

from . import times
from .money import format_yuan

#: what a disclosure list does to a doctor, by level
ACTIONS = ("publish_code", "publish_name", "revoke")
ACTION_LABELS = {"publish_code": "公示医师代码", "publish_name": "公示医师姓名", "revoke": "取消医保定岗医师资格"}
LEVEL_LABELS = {1: "一级", 2: "二级", 3: "三级"}

#: a flag's status (``flag_status.status``)
STATUS_LABELS = {"pending": "待审核", "unreasonable": "不合理", "reasonable": "合理",
                 "unreasonable_unreviewed": "计入未复核", "monitoring": "监测（不计入）"}
#: what each status means, for a reader who has not met it before
STATUS_HINTS = {"pending": "须药事委员会审核后才计入", "unreasonable": "计入不合理处方",
                "reasonable": "不计入", "unreasonable_unreviewed": "无须审核即计入，委员会尚未改判",
                "monitoring": "监测规则的标记，仅供参考，从不计入不合理处方与公示名单"}

VERDICT_LABELS = {"unreasonable": "不合理", "reasonable": "合理"}
APPEAL_LABELS = {"pending": "申诉中（待复审）", "upheld": "复审维持不合理", "overturned": "复审改判合理"}
KIND_LABELS = {"disease": "病种", "complication": "并发症"}

VOCABULARY = {"action": ACTION_LABELS, "level": LEVEL_LABELS, "status": STATUS_LABELS, "verdict": VERDICT_LABELS,
              "appeal": APPEAL_LABELS, "kind": KIND_LABELS}

#: colours for checks, colour-blind safe (Okabe–Ito and friends); no greys: those mean "not audited"
CHECK_PALETTE = ("#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8C564B", "#6A51A3",
                 "#B8860B", "#1B7837", "#E7298A", "#2B8CBE", "#A63603")


def label(kind: str, key) -> str:
    """The Chinese label of ``key`` in vocabulary ``kind`` (the key itself when unknown)."""
    labels = VOCABULARY.get(kind, {})
    if kind == "level" and isinstance(key, str) and key.isdigit():
        key = int(key)
    return labels.get(key, "" if key is None else str(key))


def check_colour(check_id: str, colour: str | None = None) -> str:
    """A check's colour: the plugin's own (``Check.colour``), else one derived from its id alone, so
    the report, the dashboard and every chart give a check the same colour."""
    if colour:
        return colour
    digest = int(hashlib.sha1(check_id.encode("utf-8")).hexdigest()[:8], 16)
    return CHECK_PALETTE[digest % len(CHECK_PALETTE)]


def register_sql_functions(conn: sqlite3.Connection) -> None:
    """``mg_label(kind, key)`` and ``mg_yuan(fen)`` (元 with two decimals, grouped) in SQL, and
    ``mg_now()``: the moment of a human act as mengui records it (:func:`mengui_core.times.now`, Beijing
    time with its offset), for the canned queries that record a verdict."""
    conn.create_function("mg_label", 2, label, deterministic=True)
    conn.create_function("mg_yuan", 1, lambda fen: None if fen is None else format_yuan(int(fen)), deterministic=True)
    conn.create_function("mg_now", 0, times.now)
