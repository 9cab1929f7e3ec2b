"""The one plugin manager.

Built-in plugins (``mengui_plugins.*``) are declared in this distribution's
``mengui`` entry-point group and load exactly like third-party plugins.

* ``MENGUI_LOAD_PLUGINS`` — comma-separated distribution names: load only the
  entry points of those distributions (plus this one). An empty string loads
  only the built-ins.
* Under pytest (``sys._called_from_test``) only this distribution's entry
  points load (plus those ``MENGUI_LOAD_PLUGINS`` names), so a developer's
  installed plugins never change test results.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from importlib import metadata
from pathlib import Path

import pluggy

from . import hookspecs
from .audit import ruleset as ruleset_module
from .audit.checks import Check
from .audit.ruleset import Ruleset
from .errors import MenguiError
from .ingest.inputs import KINDS, InputFormat
from .publish.ladder import Ladder

DISTRIBUTION = "mengui-audit"
GROUP = "mengui"
CHECK_ID = re.compile(r"[a-z][a-z0-9_]*")

pm = pluggy.PluginManager("mengui")
pm.add_hookspecs(hookspecs)

_loaded = False
_distributions: dict[str, metadata.Distribution] = {}


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-")


def _wanted_distributions() -> set[str] | None:
    """Distribution names whose entry points load; None means all of them.

    Under pytest only this distribution loads, plus any named in ``MENGUI_LOAD_PLUGINS``
    (so a plugin's own tests can load it through its real entry points)."""
    env = os.environ.get("MENGUI_LOAD_PLUGINS")
    if env is None and not hasattr(sys, "_called_from_test"):
        return None
    return {DISTRIBUTION} | {_normalise(n.strip()) for n in (env or "").split(",") if n.strip()}


def load_plugins() -> None:
    """Register entry-point plugins once per process, then check hook names."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    wanted = _wanted_distributions()
    for ep in sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name):
        dist = _normalise(ep.dist.name) if ep.dist else ""
        if wanted is not None and dist not in wanted:
            continue
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as ex:  # a broken installed plugin must say which one it is
            raise MenguiError(f"无法加载插件 {ep.name}（{ep.value}，来自 {dist}）：{type(ex).__name__}: {ex}") from ex
        pm.register(plugin, name=ep.name)
        _distributions[ep.name] = ep.dist
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as ex:
        raise MenguiError(f"插件实现了不存在的钩子：{ex}") from ex


def load_plugins_dir(directory: str | os.PathLike) -> list[str]:
    """Register every loose ``*.py`` file in ``directory`` as a plugin (like datasette's --plugins-dir)."""
    path = Path(directory)
    if not path.is_dir():
        raise MenguiError(f"插件目录不存在：{path}")
    names = []
    for file in sorted(path.glob("*.py")):
        name = f"plugins_dir.{file.stem}"
        if pm.get_plugin(name) is not None:
            continue
        spec = importlib.util.spec_from_file_location(name, file)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as ex:  # a broken plugin file is the user's to fix
            raise MenguiError(f"无法加载插件文件 {file}：{type(ex).__name__}: {ex}") from ex
        pm.register(module, name=name)
        names.append(name)
        try:
            pm.check_pending()
        except pluggy.PluginValidationError as ex:
            pm.unregister(name=name)
            raise MenguiError(f"插件文件 {file} 无效：{ex}") from ex
    return names


def plugin_info() -> list[dict]:
    """One dict per registered plugin: name, version, hooks it implements."""
    load_plugins()
    rows = []
    for plugin in pm.get_plugins():
        name = pm.get_name(plugin)
        dist = _distributions.get(name)
        rows.append(
            {
                "name": name,
                "distribution": dist.metadata["Name"] if dist else None,
                "version": dist.version if dist else None,
                "hooks": sorted(h.name for h in pm.get_hookcallers(plugin) or []),
            }
        )
    return sorted(rows, key=lambda r: r["name"])


def _plugin_named(module: str | None) -> str | None:
    """The name under which the plugin module ``module`` is registered, if it is one."""
    for name, plugin in pm.list_name_plugin():
        if getattr(plugin, "__name__", None) == module:
            return name
    return None


def _plugin_of(obj) -> str | None:
    """The registered plugin that defines ``obj`` (a function), if any."""
    return _plugin_named(getattr(obj, "__module__", None))


def _call(hook, doing: str, **kwargs) -> None:
    """Call a register-style hook the way pluggy does (every implementation, in pluggy's order); an
    error raised inside a plugin names that plugin."""
    load_plugins()
    try:
        hook(**kwargs)
    except MenguiError:
        raise
    except Exception as ex:
        modules = {getattr(plugin, "__name__", None): name for name, plugin in pm.list_name_plugin()}
        culprit, tb = None, ex.__traceback__
        while tb is not None:  # the innermost frame that belongs to a plugin
            culprit = modules.get(tb.tb_frame.f_globals.get("__name__"), culprit)
            tb = tb.tb_next
        raise MenguiError(f"插件 {culprit or '（未知）'} {doing}时出错：{type(ex).__name__}: {ex}") from ex


def get_checks() -> dict[str, Check]:
    """All registered checks by id. Two plugins claiming one id is an error."""
    checks: dict[str, Check] = {}

    def register(check):
        owner = _plugin_of(getattr(check, "run", None)) or "（未知）"
        if not isinstance(check, Check):
            raise MenguiError(f"插件 {owner} 注册的不是 Check 对象：{check!r}")
        if not CHECK_ID.fullmatch(check.id or ""):
            raise MenguiError(f"插件 {owner} 的规则编号「{check.id}」无效：应为小写字母、数字和下划线，如 amount_cap")
        if check.id in checks:
            raise MenguiError(f"规则编号 {check.id} 重复注册：插件 {checks[check.id].plugin} 与 {owner}")
        check.plugin = owner
        checks[check.id] = check

    _call(pm.hook.register_checks, "注册规则", register=register)
    return checks


def get_ruleset_paths() -> dict[str, Path]:
    """Ruleset files contributed by plugins, keyed by file stem (the ruleset name)."""
    paths: dict[str, Path] = {}

    def register(path):
        path = Path(path)
        paths[path.stem] = path

    _call(pm.hook.register_rulesets, "提供规则集", register=register)
    return paths


def load_ruleset(name_or_path: str | None = None, known_checks: set[str] | None = None) -> Ruleset:
    """A ruleset by name (one that a plugin ships: ``jinan`` by default) or by TOML file path."""
    return ruleset_module.load(name_or_path, get_ruleset_paths(), known_checks)


def get_input_aliases() -> list[tuple[str, str, list[str]]]:
    """Header aliases contributed by plugins: (kind, canonical column, aliases)."""
    aliases = []

    def register(kind, column, names):
        aliases.append((kind, column, [names] if isinstance(names, str) else list(names)))

    _call(pm.hook.register_input_aliases, "提供表头别名", register=register)
    return aliases


def get_ladders() -> dict[str, Ladder]:
    """Disclosure ladders by name."""
    ladders: dict[str, Ladder] = {}

    def register(ladder):
        owner = _plugin_of(getattr(ladder, "compute", None)) or "（未知）"
        if not isinstance(ladder, Ladder):
            raise MenguiError(f"插件 {owner} 注册的不是 Ladder 对象：{ladder!r}")
        if ladder.name in ladders:
            raise MenguiError(f"公示办法 {ladder.name} 重复注册：插件 {ladders[ladder.name].plugin} 与 {owner}")
        ladder.plugin = owner
        ladders[ladder.name] = ladder

    _call(pm.hook.register_ladders, "注册公示办法", register=register)
    return ladders


def get_datasette_metadata() -> list[tuple[str, dict]]:
    """(plugin name, metadata fragment) pairs contributed for the mengui database."""
    fragments = []

    def register(fragment):
        caller = sys._getframe(1).f_globals.get("__name__")  # the hook implementation that registers
        fragments.append((_plugin_named(caller) or "（未知）", fragment))

    _call(pm.hook.register_datasette_metadata, "提供 Datasette 元数据", register=register)
    return fragments


def get_input_formats() -> dict[str, InputFormat]:
    """Vendor column mappings by name."""
    formats: dict[str, InputFormat] = {}

    def register(fmt):
        if not isinstance(fmt, InputFormat):
            raise MenguiError(f"注册的导入格式不是 InputFormat 对象：{fmt!r}")
        if fmt.kind not in KINDS:
            raise MenguiError(f"导入格式 {fmt.name} 的类型 {fmt.kind} 无效")
        unknown = set(fmt.columns) - {c.name for c in KINDS[fmt.kind].columns}
        if unknown:
            raise MenguiError(f"导入格式 {fmt.name} 映射了不存在的列：{'、'.join(sorted(unknown))}")
        formats[fmt.name] = fmt

    _call(pm.hook.register_input_formats, "注册导入格式", register=register)
    return formats


def input_options() -> dict:
    """What plugins contribute to reading files: keyword arguments for ``loader.load_files``."""
    return {"aliases": get_input_aliases(), "formats": get_input_formats()}
