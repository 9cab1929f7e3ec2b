"""What every page of the mengui site shares: which database is mengui's, who is a reviewer."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path, PurePath

from datasette.utils.asgi import Forbidden, Response

from mengui_core import times

#: the site's templates: Datasette's overridden in Chinese, and the plugin's own pages (mengui_*.html)
TEMPLATES = Path(str(files("mengui_datasette") / "templates"))
REVIEW_ROLES = ("committee", "admin")


def is_reviewer(actor) -> bool:
    return bool(actor) and actor.get("role") in REVIEW_ROLES


async def is_mengui(db) -> bool:
    """Whether a Datasette database is a mengui database (it holds flags and disclosures)."""
    return await db.table_exists("flags") and await db.table_exists("disclosures")


async def mengui_database(datasette):
    for name, db in datasette.databases.items():
        if name.startswith("_"):
            continue
        if await is_mengui(db):
            return db
    raise Forbidden("没有门规审核数据库")


def forbidden(datasette, request):
    """Where a page for reviewers sends anyone else: the login page."""
    return Response.redirect(datasette.urls.path("/-/login"))


async def rows(db, sql, params=()):
    return [dict(r) for r in (await db.execute(sql, params)).rows]


def timezone_name(datasette) -> str:
    """The zone people read times in: the metadata's ``plugins: mengui: timezone`` (Asia/Shanghai)."""
    return (datasette.plugin_config("mengui") or {}).get("timezone") or times.DEFAULT_TIMEZONE


def shown_time(datasette, value) -> str:
    """A recorded time as people read it, in the site's zone: ``2026-11-30 20:26``."""
    return times.shown(value, "", timezone_name(datasette))


def shown_source(value) -> str:
    """Where a verdict came from, for people: a file's name, never the server's path to it."""
    if not value:
        return ""
    text = str(value)
    return "网页" if text == "datasette" else ("命令行" if text == "cli" else PurePath(text.replace("\\", "/")).name)


def column_label(datasette, database: str | None, table: str | None, column: str) -> str:
    """A column's Chinese label for people: ``plugins: mengui: column_labels`` in the metadata (by column
    name, the same everywhere), else the table's description of the column up to its first clause."""
    labels = (datasette.plugin_config("mengui") or {}).get("column_labels") or {}
    if column in labels:
        return labels[column]
    if database and table:
        described = (datasette.table_metadata(database, table) or {}).get("columns") or {}
        text = str(described.get(column) or "")
        short = re.split(r"[（(，,；;：:。]", text, maxsplit=1)[0].strip()
        if short and not short[0].isdigit() and len(short) <= 12:
            return short
    return column


def title(datasette, database: str | None, table: str | None = None) -> str:
    """A database's or a table's title for people (the metadata's ``title``), else its name."""
    if table:
        return ((datasette.table_metadata(database, table) or {}).get("title") if database else None) or table
    if database:
        return (datasette.metadata(database=database) or {}).get("title") or database
    return datasette.metadata("title") or ""


def canned_query(datasette, database: str | None, name: str | None) -> dict:
    """A canned query's entry in the metadata (its title, description, …), or {}."""
    if not database or not name:
        return {}
    found = (datasette.metadata("queries", database=database) or {}).get(name)
    return found if isinstance(found, dict) else {}


def crumb(datasette, database: str | None, label: str) -> str:
    """A crumb's words: the database's or the table's title instead of its name."""
    return title(datasette, database) if label == database else title(datasette, database, label)


#: which vocabulary a column's stored codes come from (mengui_core.labels), for cells and facets
VALUE_VOCABULARY = {
    "verdict": "verdict", "previous_verdict": "verdict", "first_verdict": "verdict", "second_verdict": "verdict",
    "appeal_status": "appeal", "action": "action", "kind": "kind",
}
STATUS_VOCABULARY = {"flag_status": "status", "appeals": "appeal"}  # a ``status`` column, by table
YES_NO_COLUMNS = ("monitoring", "qualified", "needs_review", "counts", "attributed", "allow_unaudited")


def checks(datasette) -> dict:
    """The installed checks by id (asked of the plugins once per site)."""
    found = getattr(datasette, "_mengui_checks", None)
    if found is None:
        from mengui_core.plugins import get_checks

        try:
            found = get_checks()
        except Exception:  # a broken plugin does not take the site down: ids are shown as they are
            found = {}
        datasette._mengui_checks = found
    return found


def value_label(datasette, table: str | None, column: str, value) -> str | None:
    """A stored code as people read it — ``pending`` → 待审核, ``amount_cap`` → 超限额处方, 1 → 是 — or None
    when the column holds no codes (the value is shown as it is)."""
    from mengui_core.labels import label

    if value is None or value == "":
        return None
    if column == "check_id":
        check = checks(datasette).get(str(value))
        return check.title if check else None
    kind = VALUE_VOCABULARY.get(column) or (STATUS_VOCABULARY.get(table or "") if column == "status" else None)
    if kind:
        shown = label(kind, value)
        return shown if shown != value else None
    if column in YES_NO_COLUMNS and str(value) in ("0", "1"):
        return "是" if str(value) == "1" else "否"
    return None


#: what an audit run's time was spent on (``audit_runs.steps``)
STEP_LABELS = {"prepare": "准备数据", "checks": "运行规则", "items": "其中整理药品明细", "flags": "写入标记"}


def audit_run_cell(datasette, column: str, value: str) -> str:
    """An audit run's technical columns as people read them: the checks that ran by title (monitoring
    ones marked), the time each step took, the ruleset file's name (never the server's path to it), the
    plugins with their versions."""
    import json

    if column == "ruleset_path":
        return shown_source(value)
    try:
        data = json.loads(value)
    except ValueError:
        return value
    if column == "steps" and isinstance(data, dict):
        return "；".join(f"{STEP_LABELS.get(k, k)} {v:g} 秒" for k, v in data.items() if isinstance(v, (int, float)))
    if column == "checks" and isinstance(data, list):
        installed = checks(datasette)
        names = []
        for entry in data:
            if isinstance(entry, dict) and entry.get("id"):
                check = installed.get(entry["id"])
                names.append((check.title if check else entry["id"]) + ("（监测）" if entry.get("monitoring") else ""))
        return "、".join(names)
    if column == "plugins" and isinstance(data, list):
        return "、".join(f"{p.get('name')} {p.get('version') or ''}".strip() for p in data if isinstance(p, dict))
    return value
