"""Hook specifications for mengui plugins.

Every hook takes a ``register`` callback, in the style of ``llm``: a plugin calls
it once per thing it contributes. Implement them with::

    from mengui_core import hookimpl

    @hookimpl
    def register_checks(register):
        register(Check(id="my_check", title="……", description="……", run=run))
"""

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("mengui")
hookimpl = HookimplMarker("mengui")


@hookspec
def register_checks(register):
    """Contribute audit checks: call ``register(check)`` with a :class:`mengui_core.audit.checks.Check`."""


@hookspec
def register_rulesets(register):
    """Contribute rulesets: call ``register(path)`` with the path of a ruleset TOML file."""


@hookspec
def register_input_aliases(register):
    """Contribute header aliases for an input kind: call ``register(kind, column, aliases)``,
    e.g. ``register("prescriptions", "rx_id", ["门诊处方号"])``."""


@hookspec
def register_ladders(register):
    """Contribute disclosure ladders: call ``register(ladder)`` with a :class:`mengui_core.publish.ladder.Ladder`.
    The ruleset's ``[ladder] name`` chooses which one publishes the monthly list."""


@hookspec
def register_datasette_metadata(register):
    """Contribute Datasette metadata for the mengui database: call ``register(fragment)`` with a dict
    such as ``{"queries": {...}, "tables": {...}}``. Contributions are always private to logged-in
    reviewers: any ``allow`` they carry is ignored."""


@hookspec
def register_input_formats(register):
    """Contribute a whole column mapping for one HIS vendor's export: call ``register(fmt)`` with a
    :class:`mengui_core.ingest.inputs.InputFormat`. A file whose headers contain all of the format's
    columns is read with that mapping alone (or choose it with ``mengui load --input-format``)."""
