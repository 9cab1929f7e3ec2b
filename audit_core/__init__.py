"""mengui-audit: audit outpatient 门规 prescriptions with pluggy check plugins on SQLite.

This namespace is everything a plugin author needs, in one import::

    from mengui_core import hookimpl, Check

    @hookimpl
    def register_checks(register):
        register(Check(id="weekend_rx", title="周末处方", description="周末开具的门规处方", run=run))

The stages live in sub-packages named for the data flow: ``ingest`` (files → tables), ``audit``
(tables → flags), ``review`` (flags → verdicts), ``publish`` (verdicts → lists), ``outputs``
(lists and reports for people); docs/architecture.md draws it.
"""

from .audit.checks import AuditContext, Check
from .audit.pairs import SAME_DRUG
from .errors import MenguiError
from .hookspecs import hookimpl
from .ingest.inputs import InputFormat
from .money import format_yuan, yuan_sql, yuan_to_fen
from .publish.ladder import Ladder, LadderContext, LadderEntry, LadderError

__version__ = "0.1.0"
__all__ = ["AuditContext", "Check", "InputFormat", "Ladder", "LadderContext", "LadderEntry", "LadderError",
           "MenguiError", "SAME_DRUG", "__version__", "format_yuan", "hookimpl", "yuan_sql", "yuan_to_fen"]
