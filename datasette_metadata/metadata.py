"""The site's metadata: metadata.yaml (titles, descriptions, canned queries, ``allow`` blocks) for the
served database, with what plugins contribute and the committee's logins."""

from __future__ import annotations

import functools
from importlib.resources import files
from pathlib import Path

import yaml

from mengui_core.plugins import get_datasette_metadata

from .users import list_users

PLACEHOLDER = "mengui"


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



@functools.lru_cache(maxsize=1)
def public_tables() -> frozenset[str]:
    """The tables and views `mengui serve` shows anonymous visitors (``allow: true`` in metadata.yaml);
    read once, not on every permission check."""
    block = (base_metadata().get("databases") or {}).get(PLACEHOLDER) or {}
    return frozenset(name for name, table in (block.get("tables") or {}).items() if (table or {}).get("allow") is True)


