"""Ships the Jinan ruleset (``jinan``), the default."""

from importlib.resources import files

from mengui_core import hookimpl


@hookimpl
def register_rulesets(register):
    register(files("mengui_rulesets") / "jinan.toml")
