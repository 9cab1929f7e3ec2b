"""The slice's connection: a TEMP schema that stays the same from one draft to the next.

The runner builds its working tables afresh for every audit (``DROP TABLE IF EXISTS temp.x``, then
``CREATE TEMP TABLE x AS SELECT …``, indexes, views). On a month that costs nothing; on a draft's
slice of a few dozen rows it is most of the time: every CREATE and DROP changes the TEMP schema,
and SQLite then prepares every statement again (about 90 a draft).

:class:`SliceConnection` keeps the runner's statements as they are and keeps the schema instead.
A TEMP object the runner drops is only emptied, and hidden; when the runner creates it again with
the very same SQL, it is filled again (``INSERT INTO x SELECT …`` for ``CREATE … AS SELECT …``),
and an index created again with the same SQL is already there. The schema does not change from the
second draft on, so SQLite keeps every statement prepared (the connection caches them). A CREATE
with other SQL than last time really drops and creates, as does anything else: a third-party
check's own DDL works as it does in the monthly audit, only not faster.

Used for the slice only (:mod:`.evaluate`): a failed draft discards the connection, because a
rolled-back CREATE or DROP would leave what is tracked here out of step with the schema.
"""

from __future__ import annotations

import re
import sqlite3

#: CREATE [TEMP] TABLE|VIEW|[UNIQUE] INDEX [temp.]name rest — in the TEMP schema only
CREATE = re.compile(r"\s*CREATE\s+(TEMP\s+|TEMPORARY\s+)?(TABLE|VIEW|UNIQUE\s+INDEX|INDEX)\s+"
                    r"(temp\.)?\[?(\w+)\]?\s+(.*)", re.IGNORECASE | re.DOTALL)
DROP = re.compile(r"\s*DROP\s+(TABLE|VIEW)\s+IF\s+EXISTS\s+temp\.\[?(\w+)\]?\s*;?\s*", re.IGNORECASE)
AS_SELECT = re.compile(r"AS\s+(.*)", re.IGNORECASE | re.DOTALL)
INDEX_ON = re.compile(r"ON\s+\[?(\w+)\]?", re.IGNORECASE)


class SliceConnection(sqlite3.Connection):
    """A connection whose TEMP tables, views and indexes survive the runner's DROP and CREATE (see
    the module's docstring). Only :meth:`execute` is watched: DDL never goes through ``executemany``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("cached_statements", 512)
        super().__init__(*args, **kwargs)
        #: TEMP tables and views in the schema: name → (kind, the SQL that created it)
        self._kept: dict[str, tuple[str, str]] = {}
        #: of those, the ones the runner has not dropped (a query may read them)
        self._live: set[str] = set()
        #: TEMP indexes: name → (table, the SQL that created it)
        self._indexes: dict[str, tuple[str, str]] = {}

    def execute(self, sql, parameters=(), /):
        if sql.lstrip()[:4].upper() not in ("CREA", "DROP"):
            return super().execute(sql, parameters)
        drop = DROP.fullmatch(sql)
        if drop:
            return self._drop(drop.group(1).lower(), drop.group(2), sql, parameters)
        create = CREATE.fullmatch(sql)
        if create and (create.group(1) or create.group(3)) and create.group(4).upper() != "IF":
            kind = " ".join(create.group(2).lower().split())
            name, rest = create.group(4), create.group(5)
            if kind.endswith("index"):
                return self._create_index(name, rest, sql, parameters)
            return self._create(kind, name, rest, sql, parameters)
        return super().execute(sql, parameters)

    # ------------------------------------------------------------------ tables and views

    def _drop(self, kind: str, name: str, sql: str, parameters):
        kept = self._kept.get(name)
        if kept is None or kept[0] != kind:
            return super().execute(sql, parameters)  # not one of ours: as written
        if name in self._live:
            self._live.discard(name)
            if kind == "table":
                return super().execute(f"DELETE FROM temp.[{name}]")
        return super().execute("SELECT 0 WHERE 0")

    def _create(self, kind: str, name: str, rest: str, sql: str, parameters):
        kept = self._kept.get(name)
        if kept is not None and name not in self._live:
            if kept == (kind, sql):
                self._live.add(name)
                filled = AS_SELECT.fullmatch(rest) if kind == "table" else None
                if filled:
                    return super().execute(f"INSERT INTO temp.[{name}] {filled.group(1)}", parameters)
                return super().execute("SELECT 0 WHERE 0")
            self._forget(name)
            super().execute(f"DROP {kept[0].upper()} temp.[{name}]")  # other SQL this time: really anew
        cursor = super().execute(sql, parameters)  # a live one raises "already exists", as it should
        self._kept[name] = (kind, sql)
        self._live.add(name)
        return cursor

    def _forget(self, name: str) -> None:
        self._kept.pop(name, None)
        self._live.discard(name)
        for index, (table, _) in list(self._indexes.items()):
            if table == name:
                del self._indexes[index]

    # ------------------------------------------------------------------ indexes

    def _create_index(self, name: str, rest: str, sql: str, parameters):
        kept = self._indexes.get(name)
        if kept is not None and kept[1] == sql and kept[0] in self._kept:
            return super().execute("SELECT 0 WHERE 0")  # its table was kept: so was the index
        table = INDEX_ON.match(rest)
        if kept is not None:
            super().execute(f"DROP INDEX IF EXISTS temp.[{name}]")
            del self._indexes[name]
        cursor = super().execute(sql, parameters)
        if table:
            self._indexes[name] = (table.group(1), sql)
        return cursor
