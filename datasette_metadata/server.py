"""Build the Datasette instance that ``mengui serve`` runs: metadata, templates, logins."""

from __future__ import annotations

import os
from pathlib import Path

from mengui_core.db.schema import connect, users_path
from mengui_core.errors import MenguiError

from .metadata import PLACEHOLDER, base_metadata, build_metadata  # noqa: F401 (the site's metadata, re-exported)
from .sessions import SESSION_HOURS, Site, UserStore
from .site import TEMPLATES  # noqa: F401 (where the site's templates are; Datasette's template_dir)
from .users import cookie_secret


def ensure_plugins() -> None:
    """The Datasette plugins mengui needs, registered even where entry points are not loaded
    (Datasette skips them under pytest, as mengui does)."""
    import datasette_auth_passwords
    from datasette.plugins import pm

    from . import datasette_plugin

    for module, name in ((datasette_auth_passwords, "datasette_auth_passwords"), (datasette_plugin, "mengui")):
        if not pm.is_registered(module):
            pm.register(module, name=name)


def make_datasette(db_path: str | Path, session_hours: float = SESSION_HOURS):
    """A configured :class:`datasette.app.Datasette` for the mengui database at ``db_path``.

    Never with ``crossdb``: its ``_memory`` database would attach this one and answer SQL about it."""
    from datasette.app import Datasette

    ensure_plugins()

    db_path = Path(db_path)
    if not db_path.exists():
        raise MenguiError(f"数据库文件不存在：{db_path}")
    connect(db_path).close()  # migrate to the current schema before serving
    metadata, env = build_metadata(db_path)
    os.environ.update(env)
    datasette = Datasette(
        files=[str(db_path)],
        metadata=metadata,
        template_dir=str(TEMPLATES),
        secret=cookie_secret(db_path),
        crossdb=False,
        settings={"allow_download": False, "default_page_size": 50, "sql_time_limit_ms": 3000,
                  "facet_time_limit_ms": 500},
    )
    datasette._mengui_site = Site(UserStore(users_path(db_path)), session_hours)
    return datasette


def serve(db_path, host: str = "127.0.0.1", port: int = 8001,
          session_hours: float = SESSION_HOURS) -> None:  # pragma: no cover - blocking
    import uvicorn

    datasette = make_datasette(db_path, session_hours)
    uvicorn.run(datasette.app(), host=host, port=port, log_level="warning")
