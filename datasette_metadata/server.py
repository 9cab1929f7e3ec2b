"""Build the Datasette instance that ``mengui serve`` runs: metadata, templates, logins."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

import yaml

from mengui_core.errors import MenguiError
from mengui_core.plugins import get_datasette_metadata
from mengui_core.schema import connect, users_path

from .sessions import SESSION_HOURS, Site, UserStore
from .users import cookie_secret, list_users

PLACEHOLDER = "mengui"
TEMPLATES = Path(str(files("mengui_datasette") / "templates"))


def base_metadata() -> dict:
    return yaml.safe_load((files("mengui_datasette") / "metadata.yaml").read_text(encoding="utf-8"))


def _rename(value, old: str, new: str):
    """Replace ``/old/`` paths inside string values (e.g. redirects) with the real database name."""
    if isinstance(value, dict):
        return {k: _rename(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename(v, old, new) for v in value]
    if isinstance(value, str):
        return value.replace(f"/{old}/", f"/{new}/")
    return value


def build_metadata(db_path: Path, users=None) -> tuple[dict, dict[str, str]]:
    """The metadata for ``db_path`` and the environment variables holding the password hashes."""
    name = Path(db_path).stem
    metadata = base_metadata()
    databases = metadata.get("databases") or {}
    if PLACEHOLDER in databases and name != PLACEHOLDER:
        databases = {name: _rename(databases.pop(PLACEHOLDER), PLACEHOLDER, name), **databases}
    metadata["databases"] = databases
    block = databases.setdefault(name, {})
    for plugin, fragment in get_datasette_metadata():
        for section in ("tables", "queries"):
            for key, value in (fragment.get(section) or {}).items():
                value = {k: v for k, v in dict(value).items() if k not in ("allow", "allow_sql")}
                if section == "queries" and isinstance(value, dict):
                    value.setdefault("description", f"（由插件 {plugin} 提供）")
                block.setdefault(section, {})[key] = value
    env: dict[str, str] = {}
    config: dict = {"actors": {}}
    for index, user in enumerate(users if users is not None else list_users(db_path)):
        variable = f"MENGUI_PASSWORD_HASH_{index}"
        env[variable] = user.password_hash
        config[f"{user.name}_password_hash"] = {"$env": variable}
        config["actors"][user.name] = {"id": user.name, "name": user.display_name, "role": user.role}
    metadata.setdefault("plugins", {})["datasette-auth-passwords"] = config
    return metadata, env


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
