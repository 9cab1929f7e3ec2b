"""What every page of the mengui site shares: which database is mengui's, who is a reviewer."""

from __future__ import annotations

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
