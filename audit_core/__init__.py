"""mengui-audit core: hook specifications, plugin manager, schema, loader, rulesets and the audit runner."""

from .hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "__version__"]
