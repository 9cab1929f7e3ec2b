"""Load HIS / claims exports (CSV in UTF-8, UTF-8-BOM, GBK, GB18030, or XLSX) into SQLite.

A load is atomic and idempotent:

1. every file is parsed in chunks and validated column by column (vectorised,
   no per-row Python), and the good rows go into TEMP staging tables, which
   take no lock on the database;
2. if any file has any problem, an :class:`InputError` lists them all (file,
   line, column, value, what was expected) and nothing is written;
3. otherwise one short ``BEGIN IMMEDIATE`` transaction merges the staging
   tables: new records are inserted, corrected re-exports replace the old
   record (for ``rx_items``: a prescription's whole item list), identical
   records are left alone, and each file is logged in ``loads``.
"""

from __future__ import annotations

import codecs
import csv
import fnmatch
import functools
import hashlib
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError, MenguiError, Problem
from ..db.files import Scratch
from .inputs import KINDS, LOAD_ORDER, Kind, header_map, kind_from_filename, normalise_header
from .parsing import column_problems, display_value, expected_text, parse_column
from ..db.schema import database_file, transaction
from ..times import now

CHUNK_ROWS = 20_000
MAX_PROBLEMS = 1_000
SUFFIXES = {".csv", ".txt", ".xlsx", ".xlsm"}
MAX_COLUMNS = 1_000  # an export has dozens; a file with more is damaged or made to exhaust memory
MAX_CELL_CHARS = 32_767  # Excel's own limit for one cell
MAX_XLSX_ROWS = 1_048_576  # Excel's own limit for one sheet
MAX_EMPTY_RUN = 10_000  # consecutive empty rows (a sheet padded out, or one cell at XFD1048576)
MAX_XLSX_PART_BYTES = 512 << 20  # one part of the XLSX package, uncompressed


@dataclass
class FileReport:
    file: str
    kind: str
    encoding: str
    rows: int = 0
    input_format: str | None = None  # the vendor mapping used, if any
    sha256: str | None = None  # of the file's bytes, recorded in ``loads``
    max_days_supply: int | None = None  # items: the longest days of supply in the file
    skipped: int = 0  # rows left blank where the kind allows it (a verdict not written in), not loaded


@dataclass
class TableChange:
    """What a load did to one table: records new, replaced by a corrected re-export, or identical."""

    table: str
    inserted: int = 0
    replaced: int = 0
    unchanged: int = 0


@dataclass
class LoadResult:
    files: list[FileReport]
    tables: list[TableChange]
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)  # conflicts between files: loaded, but worth a look


ProgressCallback = Callable[[int], None]


# ---------------------------------------------------------------- finding files


def _kind_of(path: Path, formats) -> str | None:
    found = kind_from_filename(path.stem)
    if found:
        return found
    for fmt in (formats or {}).values():
        if any(fnmatch.fnmatch(path.name, pattern) for pattern in fmt.files):
            return fmt.kind
    return None


def _readable(path: Path) -> None:
    """A file to load must be a regular file (a link must point to one)."""
    if path.is_file():
        return
    if path.is_symlink():
        raise MenguiError(f"{path} 是一个链接，但它指向的文件不存在：{os.readlink(path)}")
    if not path.exists():
        raise MenguiError(f"文件不存在：{path}")
    raise MenguiError(f"{path} 不是普通文件，不能导入")


def plan(paths: Iterable[str | Path], kind: str | None = None, formats=None) -> list[tuple[Path, str]]:
    """Expand directories and give each file its kind, in load order."""
    if kind is not None and kind not in KINDS:
        raise MenguiError(f"未知的文件类型 --kind {kind}，可选：{'、'.join(KINDS)}")
    planned: list[tuple[Path, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for file in sorted(path.iterdir()):
                if file.suffix.lower() in SUFFIXES and not file.name.startswith((".", "~$")):
                    found = kind or _kind_of(file, formats)
                    if found:
                        _readable(file)
                        planned.append((file, found))
            continue
        _readable(path)
        if path.suffix.lower() == ".xls":
            raise MenguiError(f"{path}：不支持旧版 .xls 格式，请在 Excel 中另存为 .xlsx 或 CSV")
        found = kind or _kind_of(path, formats)
        if not found:
            names = "、".join(KINDS)
            raise MenguiError(
                f"无法从文件名判断 {path} 的数据类型：文件名应为 {names} 之一（如 prescriptions.csv），"
                f"或用 --kind 指定"
            )
        planned.append((path, found))
    seen = set()
    unique = []
    for path, found in planned:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((path, found))
    if not unique:
        raise MenguiError("没有找到可导入的文件（支持 .csv / .xlsx，文件名如 prescriptions.csv）")
    return sorted(unique, key=lambda pf: LOAD_ORDER.index(pf[1]))


# ---------------------------------------------------------------- reading


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) if the whole file decodes as UTF-8, else GB18030 (a superset of GBK)."""
    with open(path, "rb") as fh:
        head = fh.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while block := fh.read(1 << 20):
                decoder.decode(block)
            decoder.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            pass
    return "gb18030"


CSV_BLOCK_BYTES = 2 << 20  # the CSV reader's block: about 20,000 item rows per batch


class _CountingReader:
    """A binary file that counts the bytes read through it (for the progress bar). Arrow reads
    ahead on a thread of its own: the count is reported from the reading loop, never from here."""

    def __init__(self, fh):
        self.fh, self.count, self.closed = fh, 0, False

    def read(self, size=-1):
        block = self.fh.read(size)
        self.count += len(block)
        return block

    def readable(self):
        return True


def _undecodable(path: Path, encoding: str, ex: UnicodeDecodeError) -> MenguiError:
    return MenguiError(f"{path}：文件编码无法识别（按 {encoding} 读取失败：{ex.reason}），请另存为 UTF-8 或 GBK")


def _csv_header(path: Path, encoding: str) -> list[str]:
    try:
        with open(path, newline="", encoding=encoding) as fh:
            header = next(csv.reader(fh), None)
    except UnicodeDecodeError as ex:
        raise _undecodable(path, encoding, ex) from ex
    except csv.Error as ex:
        raise MenguiError(f"{path}：CSV 表头格式错误，无法解析（引号不成对，或文件已损坏）") from ex
    if not header or all(not h.strip() for h in header):
        raise MenguiError(f"{path}：文件为空，没有表头")
    if len(header) > MAX_COLUMNS:
        raise MenguiError(f"{path}：表头有 {len(header):,} 列，超过上限 {MAX_COLUMNS:,} 列（文件可能已损坏或不是 HIS 导出）")
    return header


def _oversized_value(path: Path, encoding: str) -> MenguiError:
    """Arrow refuses a value longer than its block without saying where: find the line here."""
    limit = CSV_BLOCK_BYTES // 2
    old_limit = csv.field_size_limit()
    csv.field_size_limit(limit)
    line = None
    try:
        with open(path, newline="", encoding=encoding, errors="replace") as fh:
            reader = csv.reader(fh)
            try:
                for _ in reader:
                    pass
            except csv.Error:
                line = reader.line_num
    finally:
        csv.field_size_limit(old_limit)
    where = f"，第 {line} 行" if line else ""
    return MenguiError(f"{path}{where}：有一个值超过 {limit >> 20} MB（某个值缺少结束引号，或文件已损坏），请检查后重新导出")


def _read_csv(path: Path, encoding: str, progress: ProgressCallback | None) -> Iterator[tuple[pa.RecordBatch, int]]:
    """Arrow's streaming CSV reader, every column as text (no type guessing: 0001 stays 0001)."""
    import pyarrow.csv as pa_csv

    header = _csv_header(path, encoding)
    ragged: list = []

    def on_ragged_row(row) -> str:  # a row whose field count differs from the header's
        ragged.append(row)
        return "skip"

    def raise_ragged():
        row = ragged[0]
        if row.actual_columns > row.expected_columns:
            why = f"有 {row.actual_columns} 列，而表头只有 {row.expected_columns} 列（可能是某个值里含有未加引号的逗号）"
        else:
            why = f"只有 {row.actual_columns} 列，而表头有 {row.expected_columns} 列（该行数据不完整）"
        raise MenguiError(f"{path}，第 {row.number} 行：{why}")

    with open(path, "rb") as fh:
        counting, reported = _CountingReader(fh), 0

        def report_progress():
            nonlocal reported
            count = counting.count  # read once: Arrow's read-ahead thread may add to it meanwhile
            if progress and count > reported:
                progress(count - reported)
                reported = count

        try:
            reader = pa_csv.open_csv(
                counting,
                read_options=pa_csv.ReadOptions(use_threads=False, block_size=CSV_BLOCK_BYTES,
                                                encoding="utf8" if encoding in ("utf-8", "utf-8-sig") else encoding),
                parse_options=pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_ragged_row),
                convert_options=pa_csv.ConvertOptions(column_types={h: pa.string() for h in header},
                                                      strings_can_be_null=False, quoted_strings_can_be_null=False),
            )
            first = 2
            for batch in reader:
                if ragged:
                    raise_ragged()
                report_progress()
                if batch.num_rows:
                    yield batch, first
                    first += batch.num_rows
            if ragged:
                raise_ragged()
            if first == 2:  # a header and no rows: still a file of its kind (its columns are checked)
                yield pa.RecordBatch.from_arrays([pa.array([], pa.string())] * len(header), names=header), first
            report_progress()
        except UnicodeDecodeError as ex:
            raise _undecodable(path, encoding, ex) from ex
        except pa.ArrowInvalid as ex:
            if "straddl" in str(ex):
                raise _oversized_value(path, encoding) from ex
            raise MenguiError(f"{path}：CSV 格式错误，无法解析（引号不成对，或文件已损坏）") from ex


def _xlsx_text(value) -> str:
    """A cell as text, the way the loader always read XLSX (pandas with ``dtype=str``): integral
    numbers without ``.0``, dates as ``YYYY-MM-DD HH:MM:SS``."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _xlsx_headers(path: Path, row: tuple) -> list[str]:
    names, seen = [], {}
    for index, value in enumerate(row):
        name = _xlsx_text(value).strip() or f"Unnamed: {index}"
        if name in seen:  # as pandas did: a repeated header gets .1, .2, …
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        names.append(name)
    if not any(_xlsx_text(v).strip() for v in row):
        raise MenguiError(f"{path}：第 1 行（表头）为空：表头应在工作表的第 1 行")
    return names


def _open_workbook(path: Path):
    """The workbook in openpyxl's read-only (streaming) mode, after checks that a damaged or hostile
    file fails fast with a Chinese message instead of taking the machine's memory."""
    import zipfile

    import openpyxl

    if not zipfile.is_zipfile(path):
        with open(path, "rb") as fh:
            head = fh.read(4096)
        try:
            text = head.decode("utf-8") if head else ""
        except UnicodeDecodeError:
            try:
                text = head.decode("gb18030")
            except UnicodeDecodeError:
                text = ""
        looks = "内容是文本，看起来是 CSV 文件：请把扩展名改为 .csv" if text and ("," in text or "\t" in text) \
            else "文件已损坏，或是其他格式（旧版 .xls 请在 Excel 中另存为 .xlsx）"
        raise MenguiError(f"{path}：无法读取 Excel 文件：不是 .xlsx 格式（{looks}）")
    try:
        with zipfile.ZipFile(path) as archive:
            too_big = [i.filename for i in archive.infolist() if i.file_size > MAX_XLSX_PART_BYTES]
        if too_big:
            raise MenguiError(f"{path}：无法读取 Excel 文件：其中的 {too_big[0]} 解压后超过 "
                              f"{MAX_XLSX_PART_BYTES >> 20} MB，文件可能已损坏；请另存为 CSV 后导入")
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except MenguiError:
        raise
    except Exception as ex:  # openpyxl raises many types for damaged files
        raise MenguiError(f"{path}：无法读取 Excel 文件（文件已损坏或不是 Excel 工作簿：{type(ex).__name__}）") from ex


def _read_xlsx(path: Path, progress: ProgressCallback | None, sheet=None) -> Iterator[tuple[pa.RecordBatch, int]]:
    """The sheet's rows in batches, streamed (openpyxl read-only: constant memory), header in row 1.
    Empty rows are skipped (the next batch starts at the right line number); limits on rows,
    columns and cell size give a clear message, never a machine out of memory."""
    wb = _open_workbook(path)
    try:
        names = wb.sheetnames
        if sheet in (None, ""):
            ws = wb.worksheets[0]
        elif str(sheet).isdigit() and 1 <= int(sheet) <= len(names):
            ws = wb.worksheets[int(sheet) - 1]
        elif str(sheet) in names:
            ws = wb[str(sheet)]
        else:
            raise MenguiError(f"{path}：没有工作表「{sheet}」（工作表有：{'、'.join(names)}）")
        ws.reset_dimensions()  # the declared size may be a lie (A1:XFD1048576): read what is there
        headers: list[str] | None = None
        batch: list[list[str]] = []
        first = empty_run = 0

        def flush():
            columns = list(zip(*batch)) if batch else [()] * len(headers)
            arrays = [pa.array(list(c), type=pa.string()) for c in columns]
            return pa.RecordBatch.from_arrays(arrays, names=headers), first or 2

        for line, row in enumerate(ws.iter_rows(values_only=True), 1):
            if line > MAX_XLSX_ROWS:
                raise MenguiError(f"{path}：工作表超过 Excel 的最大行数 {MAX_XLSX_ROWS:,} 行，文件已损坏")
            if len(row) > MAX_COLUMNS and any(v is not None for v in row[MAX_COLUMNS:]):
                far = max(i for i, v in enumerate(row) if v is not None) + 1
                raise MenguiError(f"{path}，第 {line} 行：有 {far:,} 列，超过上限 {MAX_COLUMNS:,} 列"
                                  "（文件可能已损坏，或在很远的单元格里有内容）")
            cells = [_xlsx_text(v) for v in row[:MAX_COLUMNS]]
            for column, text in enumerate(cells, 1):
                if len(text) > MAX_CELL_CHARS:
                    raise MenguiError(f"{path}，第 {line} 行第 {column} 列：单元格有 {len(text):,} 个字符，"
                                      f"超过上限 {MAX_CELL_CHARS:,}（Excel 单元格的最大长度）")
            if headers is None:
                headers = _xlsx_headers(path, row[:MAX_COLUMNS])
                continue
            if not any(c.strip() for c in cells):
                empty_run += 1
                if empty_run > MAX_EMPTY_RUN:
                    raise MenguiError(f"{path}：第 {line - empty_run + 1} 行起有超过 {MAX_EMPTY_RUN:,} 行连续空行"
                                      "（工作表被空行填充，或在很远的单元格里有内容）：请在 Excel 中删除多余的行后另存")
                if batch:
                    yield flush()
                    batch = []
                continue
            empty_run = 0
            if not batch:
                first = line
            width = len(headers)
            batch.append((cells + [""] * width)[:width])
            if len(batch) >= CHUNK_ROWS:
                yield flush()
                batch = []
        if headers is None:
            raise MenguiError(f"{path}：文件为空，没有表头")
        if batch or first == 0:
            yield flush()
    finally:
        wb.close()
    if progress:
        progress(path.stat().st_size)


# ---------------------------------------------------------------- validating


def _choose_format(path: Path, kind: Kind, headers: list[str], formats, chosen: str | None):
    """The vendor format to read this file with: the one named, else one whose columns all appear."""
    formats = formats or {}
    if chosen:
        if chosen not in formats:
            names = "、".join(sorted(formats)) or "（无）"
            raise MenguiError(f"没有名为 {chosen} 的导入格式；已注册：{names}")
        fmt = formats[chosen]
        if fmt.kind != kind.name:
            raise MenguiError(f"{path}：导入格式 {chosen} 用于{KINDS[fmt.kind].label}，不是{kind.label}")
        return fmt
    candidates = [f for f in formats.values() if f.kind == kind.name and f.matches(headers)]
    return max(candidates, key=lambda f: len(f.columns)) if candidates else None


def _map_headers(path: Path, kind: Kind, headers: list[str], aliases, fmt=None) -> dict[str, str]:
    if fmt is not None:
        mapping = {normalise_header(header): canonical for canonical, header in fmt.columns.items()}
    else:
        mapping = header_map(kind, aliases)
    found: dict[str, str] = {}
    for header in headers:
        canonical = mapping.get(normalise_header(header))
        if canonical is None:
            continue  # unknown extra columns are ignored
        if canonical in found.values():
            other = next(h for h, c in found.items() if c == canonical)
            raise MenguiError(f"{path}：列「{other}」和列「{header}」都对应 {canonical}，请删除其中一列")
        found[header] = canonical
    missing = [c for c in kind.columns if c.required and c.name not in found.values()]
    if missing:
        wanted = "、".join(f"{c.name}（{c.label}）" for c in missing)
        via = f"（按导入格式 {fmt.name} 读取）" if fmt is not None else ""
        raise MenguiError(
            f"{path}：缺少必需的列 {wanted}{via}。文件的表头是：{'、'.join(map(str, headers))}"
        )
    return found


def _without_blank(frame: pa.RecordBatch, first_line: int, headers: dict[str, str], column: str
                   ) -> tuple[pa.RecordBatch, np.ndarray, int]:
    """The chunk's rows whose ``column`` is filled in, their line numbers, and how many were blank."""
    header = next(h for h, c in headers.items() if c == column)
    text = pc.utf8_trim_whitespace(frame.column(header))
    filled = np.asarray(pc.fill_null(pc.not_equal(text, ""), False).to_numpy(zero_copy_only=False))
    lines = np.arange(first_line, first_line + frame.num_rows)[filled]
    return frame.filter(pa.array(filled)), lines, int((~filled).sum())


def _validate_chunk(path, kind: Kind, frame: pa.RecordBatch, first_line: int, headers: dict[str, str],
                    problems: list[Problem], lines: np.ndarray | None = None) -> tuple[pa.RecordBatch, int]:
    """Parse one chunk (text columns); append its problems; return (the values in db order plus
    ``_line``, problem count). ``lines``: the rows' line numbers when some rows were left out."""
    by_canonical = {c: h for h, c in headers.items()}
    size = frame.num_rows
    if lines is None:
        lines = np.arange(first_line, first_line + size)
    values: dict[str, pa.Array] = {}
    count = 0
    empty = pa.array([""] * size, type=pa.string())
    for column in kind.columns:
        header = by_canonical.get(column.name)
        raw = frame.column(header) if header is not None else empty
        parsed, bad = parse_column(column, raw)
        if column.type == "datetime":
            parsed, values["rx_time"] = parsed
        elif column.default is not None:
            parsed = pc.if_else(pc.and_(pc.is_null(parsed), pa.array(~bad)), pa.scalar(column.default), parsed)
        values[column.db_name] = parsed
        missing = ~bad & np.asarray(parsed.is_null().to_numpy(zero_copy_only=False)) if column.required \
            else np.zeros(size, dtype=bool)
        found = column_problems(column, raw, parsed, bad) if header is not None else [(bad, expected_text(column))]
        for mask, expected in (*found, (missing, "必填，不能为空")):
            if mask.any():
                count += int(mask.sum())
                room = MAX_PROBLEMS - len(problems)
                if room > 0:
                    where = np.flatnonzero(mask)[:room]
                    texts = raw.take(pa.array(where)).to_pylist() if header is not None else [""] * len(where)
                    for line, value in zip(lines[where].tolist(), texts):
                        problems.append(Problem(str(path), int(line), header or column.name, display_value(value),
                                                expected))
    if kind.provenance:
        values[kind.provenance] = pa.array([str(path)] * size, type=pa.string())
    columns = [values[name] for name in kind.db_columns]
    columns.append(pa.array(lines))
    return pa.RecordBatch.from_arrays(columns, names=[*kind.db_columns, "_line"]), count


# ---------------------------------------------------------------- staging and merging


def _quote(text: str) -> str:
    """An SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _stage_table(kind: Kind) -> str:
    return f"stage_{kind.name}"


STAGING = "staging"  # the attached scratch database holding the staged rows


def _open_staging(conn: sqlite3.Connection) -> Scratch | None:
    """Staged rows go to a private scratch database beside the database (owner-only, deleted once
    detached, or by the next run after a crash): ending a load of millions of rows costs no
    page-by-page DROP TABLE. An in-memory database stages in SQLite's own temporary database."""
    _drop_stages(conn)
    path = database_file(conn)
    scratch = Scratch(path, "load") if path else None
    conn.execute("ATTACH DATABASE ? AS " + STAGING, (str(scratch.path) if scratch else "",))
    conn.execute(f"PRAGMA {STAGING}.cache_size = -131072")
    conn.execute(f"PRAGMA {STAGING}.journal_mode = OFF")  # scratch: nothing to recover
    conn.execute(f"PRAGMA {STAGING}.synchronous = OFF")
    return scratch


def _create_stage(conn: sqlite3.Connection, kind: Kind) -> None:
    cols = ", ".join(f"[{c}]" for c in kind.db_columns)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {STAGING}.{_stage_table(kind)} ({cols}, _file, _line)")


def _drop_stages(conn: sqlite3.Connection, scratch: Scratch | None = None) -> None:
    try:
        if any(row[1] == STAGING for row in conn.execute("PRAGMA database_list")):
            conn.execute(f"DETACH DATABASE {STAGING}")
    finally:
        if scratch is not None:
            scratch.remove()


def _has_repeated_keys(conn: sqlite3.Connection, kind: Kind) -> bool:
    key = ", ".join(kind.key)
    return conn.execute(f"SELECT 1 FROM {_stage_table(kind)} GROUP BY {key} HAVING count(*) > 1 LIMIT 1").fetchone() is not None


def _repeats(conn: sqlite3.Connection, kinds: Iterable[Kind]) -> tuple[set[str], list[Problem]]:
    """The kinds whose staged records give a key more than once, and the conflicts among them."""
    repeated: set[str] = set()
    problems: list[Problem] = []
    for kind in kinds:
        if _has_repeated_keys(conn, kind):
            repeated.add(kind.name)
            problems.extend(_conflicts(conn, kind))
    return repeated, problems


def _conflicts(conn: sqlite3.Connection, kind: Kind) -> list[Problem]:
    """Records with one key but different content within this load (call only when keys repeat)."""
    stage = _stage_table(kind)
    key = ", ".join(kind.key)
    content = ", ".join(f"[{c}]" for c in kind.db_columns if c != kind.provenance)
    rows = conn.execute(
        f"""
        SELECT {key}, group_concat(_file || ' 第 ' || _line || ' 行', '；') AS places
        FROM {stage}
        WHERE ({key}) IN (
            SELECT {key} FROM {stage} GROUP BY {key}
            HAVING count(DISTINCT json_array({content})) > 1
        )
        GROUP BY {key} LIMIT 100
        """
    ).fetchall()
    problems = []
    for row in rows:
        ident = "/".join(str(row[k]) for k in kind.key)
        problems.append(
            Problem(row["places"].split("；")[0].split(" 第 ")[0], None, "/".join(kind.key), ident,
                    f"同一{kind.label}记录出现多次且内容不同（{row['places']}），请只保留正确的一行")
        )
    return problems


def _stamp_review_times(conn: sqlite3.Connection) -> None:
    """Verdicts without a review time get the time they were loaded — or keep the earlier one when
    the same verdict is loaded again, so a reload changes nothing."""
    conn.execute(
        """
        UPDATE stage_verdicts SET reviewed_at = coalesce(
            (SELECT v.reviewed_at FROM verdicts v
             WHERE v.rx_id = stage_verdicts.rx_id AND v.check_id = stage_verdicts.check_id
               AND v.verdict = stage_verdicts.verdict AND v.note IS stage_verdicts.note
               AND v.reviewer IS stage_verdicts.reviewer), ?)
        WHERE reviewed_at IS NULL
        """,
        (now(),),
    )


def _check_titles_to_ids(conn: sqlite3.Connection) -> None:
    """A verdict's 规则 may name the check by its Chinese title (as the review sheet prints it)."""
    conn.execute(
        """
        UPDATE stage_verdicts SET check_id = (SELECT c.check_id FROM checks c WHERE c.title = stage_verdicts.check_id)
        WHERE check_id NOT IN (SELECT check_id FROM checks)
          AND (SELECT count(*) FROM checks c WHERE c.title = stage_verdicts.check_id) = 1
        """
    )


def _unknown_flags(conn: sqlite3.Connection) -> list[Problem]:
    """Verdicts must judge a flag that exists."""
    rows = conn.execute(
        """
        SELECT s._file, s._line, s.rx_id, s.check_id,
               (SELECT group_concat(f.check_id, '、') FROM flags f WHERE f.rx_id = s.rx_id) AS flagged
        FROM stage_verdicts s
        WHERE NOT EXISTS (SELECT 1 FROM flags f WHERE f.rx_id = s.rx_id AND f.check_id = s.check_id)
        ORDER BY s._file, s._line LIMIT ?
        """,
        (MAX_PROBLEMS,),
    ).fetchall()
    problems = []
    for row in rows:
        if row["flagged"]:
            expected = f"处方 {row['rx_id']} 没有规则 {row['check_id']} 的标记（该处方被标记的规则：{row['flagged']}）"
        else:
            expected = f"处方 {row['rx_id']} 没有任何标记：审核结论只能针对已审核出的标记（请先运行 mengui audit）"
        problems.append(Problem(row["_file"], row["_line"], "rx_id/check_id", f"{row['rx_id']}/{row['check_id']}", expected))
    return problems


def _number_items(conn: sqlite3.Connection) -> None:
    """Items without line_no get their order within the prescription."""
    if not conn.execute("SELECT EXISTS (SELECT 1 FROM stage_rx_items WHERE line_no IS NULL)").fetchone()[0]:
        return
    conn.execute(
        """
        UPDATE stage_rx_items SET line_no = numbered.n
        FROM (SELECT rowid AS rid,
                     ROW_NUMBER() OVER (PARTITION BY rx_id ORDER BY _file, _line) AS n
              FROM stage_rx_items) AS numbered
        WHERE stage_rx_items.rowid = numbered.rid AND stage_rx_items.line_no IS NULL
        """
    )


def _is_fresh(conn: sqlite3.Connection, kind: Kind) -> bool:
    """True when no staged record is in the table yet (the usual case: a new month's export)."""
    stage = _stage_table(kind)
    if kind.name == "rx_items":
        sql = "SELECT EXISTS (SELECT 1 FROM stage_rx_items s WHERE EXISTS (SELECT 1 FROM rx_items i WHERE i.rx_id = s.rx_id))"
    else:
        match = " AND ".join(f"t.{k} IS s.{k}" for k in kind.key)
        sql = f"SELECT EXISTS (SELECT 1 FROM {stage} s WHERE EXISTS (SELECT 1 FROM {kind.name} t WHERE {match}))"
    return not conn.execute(sql).fetchone()[0]


class _KeysRepeat(Exception):
    """The staged records give some key more than once (found by the table's key constraint)."""


def _insert_fresh(conn: sqlite3.Connection, kind: Kind, repeated: bool | None) -> int:
    """Insert every staged record of a fresh load. ``repeated=None``: not checked yet — insert as is,
    and let the table's key constraint say whether a key repeats (raises :class:`_KeysRepeat`,
    having undone the insert); that spares a GROUP BY over every staged row in the usual case."""
    cols = ", ".join(f"[{c}]" for c in kind.db_columns)
    distinct = "DISTINCT" if repeated else ""
    sql = f"INSERT INTO {kind.name} ({cols}) SELECT {distinct} {cols} FROM {_stage_table(kind)}"
    if repeated is not None:
        return conn.execute(sql).rowcount
    conn.execute("SAVEPOINT fresh_insert")
    try:
        inserted = conn.execute(sql).rowcount
    except sqlite3.IntegrityError as ex:
        conn.execute("ROLLBACK TO fresh_insert")
        conn.execute("RELEASE fresh_insert")
        if "UNIQUE" in str(ex):
            raise _KeysRepeat from ex
        raise
    conn.execute("RELEASE fresh_insert")
    return inserted


def _merge(conn: sqlite3.Connection, kind: Kind, fresh: bool, repeated: bool | None) -> tuple[int, int, int]:
    """Merge a staging table into its table; return (inserted, replaced, unchanged).
    ``repeated=None``: keys not checked yet (see :func:`_insert_fresh`)."""
    stage = _stage_table(kind)
    cols = ", ".join(f"[{c}]" for c in kind.db_columns)
    key = ", ".join(kind.key)
    if fresh:  # nothing of this load is in the table yet: insert straight away
        return _insert_fresh(conn, kind, repeated), 0, 0
    if kind.name == "rx_items":
        # A re-exported prescription replaces its whole item list.
        conn.execute(
            f"""CREATE TEMP TABLE changed_rx AS
            SELECT rx_id FROM (SELECT {cols} FROM stage_rx_items
                               EXCEPT SELECT {cols} FROM rx_items WHERE rx_id IN (SELECT rx_id FROM stage_rx_items))
            UNION
            SELECT rx_id FROM (SELECT {cols} FROM rx_items WHERE rx_id IN (SELECT rx_id FROM stage_rx_items)
                               EXCEPT SELECT {cols} FROM stage_rx_items)"""
        )
        counts = conn.execute(
            """SELECT count(*),
                      count(*) FILTER (WHERE c.rx_id IS NOT NULL AND NOT old.has_items),
                      count(*) FILTER (WHERE c.rx_id IS NOT NULL AND old.has_items)
               FROM (SELECT DISTINCT rx_id, line_no FROM stage_rx_items) s
               LEFT JOIN changed_rx c USING (rx_id)
               LEFT JOIN (SELECT rx_id, EXISTS (SELECT 1 FROM rx_items i WHERE i.rx_id = x.rx_id) AS has_items
                          FROM changed_rx x) old USING (rx_id)"""
        ).fetchone()
        if conn.execute("SELECT EXISTS (SELECT 1 FROM changed_rx)").fetchone()[0]:
            conn.execute(
                f"""
                INSERT INTO record_changes (changed_at, table_name, record_key, old_values, new_values, file)
                SELECT :now, 'rx_items', c.rx_id,
                       (SELECT json_group_array(json_array({cols})) FROM rx_items WHERE rx_id = c.rx_id),
                       (SELECT json_group_array(json_array({cols})) FROM stage_rx_items WHERE rx_id = c.rx_id),
                       (SELECT min(_file) FROM stage_rx_items WHERE rx_id = c.rx_id)
                FROM changed_rx c WHERE EXISTS (SELECT 1 FROM rx_items i WHERE i.rx_id = c.rx_id)
                """,
                {"now": now()},
            )
        conn.execute("DELETE FROM rx_items WHERE rx_id IN (SELECT rx_id FROM changed_rx)")
        conn.execute(
            f"INSERT INTO rx_items ({cols}) SELECT DISTINCT {cols} FROM stage_rx_items "
            f"WHERE rx_id IN (SELECT rx_id FROM changed_rx)"
        )
        conn.execute("DROP TABLE temp.changed_rx")
        total, inserted, replaced = counts
        return inserted, replaced, total - inserted - replaced
    conn.execute(f"CREATE TEMP TABLE changed AS SELECT {cols} FROM {stage} EXCEPT SELECT {cols} FROM {kind.name}")
    replaced = conn.execute(
        f"SELECT count(*) FROM changed WHERE ({key}) IN (SELECT {key} FROM {kind.name})"
    ).fetchone()[0]
    changed = conn.execute("SELECT count(*) FROM changed").fetchone()[0]
    total = conn.execute(f"SELECT count(*) FROM (SELECT DISTINCT {key} FROM {stage})").fetchone()[0]
    key_text = " || '/' || ".join(f"c.{k}" for k in kind.key)
    join = " AND ".join(f"t.{k} = c.{k}" for k in kind.key)
    if replaced:
        conn.execute(
            f"""
        INSERT INTO record_changes (changed_at, table_name, record_key, old_values, new_values, file)
        SELECT :now, '{kind.name}', {key_text},
               json_array({", ".join(f"t.[{col}]" for col in kind.db_columns)}),
               json_array({", ".join(f"c.[{col}]" for col in kind.db_columns)}), NULL
        FROM changed c JOIN {kind.name} t ON {join}
        """,
            {"now": now()},
        )
    updates = ", ".join(f"[{c}] = excluded.[{c}]" for c in kind.db_columns if c not in kind.key)
    conn.execute(
        f"INSERT INTO {kind.name} ({cols}) SELECT {cols} FROM changed WHERE true "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
    )
    conn.execute("DROP TABLE temp.changed")
    return changed - replaced, replaced, total - changed


def _merge_kind(conn: sqlite3.Connection, spec: Kind, kinds_used: list[Kind],
                repeated: set[str] | None) -> tuple[int, int, int]:
    """Merge one kind inside the load's write transaction, checking its keys first if not done yet."""
    fresh = _is_fresh(conn, spec)
    try:
        if repeated is None:
            if fresh:
                try:
                    return _merge(conn, spec, fresh, None)
                except _KeysRepeat:
                    pass
            found, conflicts = _repeats(conn, [spec])
            if conflicts:  # list the conflicts of every kind, then undo the whole load
                raise InputError(_repeats(conn, kinds_used)[1])
            return _merge(conn, spec, fresh, bool(found))
        return _merge(conn, spec, fresh, spec.name in repeated)
    except sqlite3.IntegrityError as ex:  # a guard in the schema refused the data
        raise MenguiError(f"{spec.label}数据无法写入（{ex}），本次未写入任何数据") from ex


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


REFERENCES = [  # (kind, column, referenced kind, its key, what to say)
    ("rx_items", "rx_id", "prescriptions", "rx_id", "处方明细对应的处方不存在"),
    ("claims", "rx_id", "prescriptions", "rx_id", "结算记录对应的处方不存在"),
    ("deductions", "rx_id", "prescriptions", "rx_id", "扣款记录对应的处方不存在"),
    ("prescriptions", "doctor_code", "doctors", "doctor_code", "处方的医师不在医师名册中"),
]


def _cross_file_warnings(conn: sqlite3.Connection, kinds_used: list[Kind], merged: bool) -> list[str]:
    """Records that refer to a prescription or doctor found neither in this load nor in the database.

    After the merge (``merged``) the referenced table holds both, and its key index answers each
    lookup; before it (a dry run) the staged keys are added to the comparison."""
    used = {k.name for k in kinds_used}
    warnings = []
    for kind, column, target, key, text in REFERENCES:
        if kind not in used:
            continue
        if target not in used and not conn.execute(f"SELECT EXISTS (SELECT 1 FROM {target})").fetchone()[0]:
            continue  # that kind was never loaded: nothing to compare with
        missing = f"NOT EXISTS (SELECT 1 FROM {target} t WHERE t.{key} = s.{column})"
        if target in used and not merged:
            missing += f" AND {column} NOT IN (SELECT {key} FROM {_stage_table(KINDS[target])})"
        rows = conn.execute(
            f"SELECT {column}, min(_file), min(_line), count(*) FROM {_stage_table(KINDS[kind])} s "
            f"WHERE {missing} GROUP BY {column} ORDER BY 2, 3"
        ).fetchall()
        if rows:
            examples = "；".join(f"{r[1]} 第 {r[2]} 行 {r[0]}" for r in rows[:5])
            more = f" 等 {len(rows)} 个" if len(rows) > 5 else ""
            warnings.append(f"{text}：{examples}{more}（已导入，请核对是否缺少{KINDS[target].label}文件）")
    return warnings


def _parse_files(planned, aliases, formats, input_format, progress, problems, files, state, encoding_override=None,
                 sheet=None) -> Iterator[tuple[str, str, pa.RecordBatch]]:
    """Read and validate every file, yielding (kind, file, values) chunk by chunk while no problem is found."""
    for path, kind_name in planned:
        spec = KINDS[kind_name]
        if path.suffix.lower() in {".xlsx", ".xlsm"}:
            encoding, chunks = "xlsx", _read_xlsx(path, progress, sheet)
        else:
            encoding = encoding_override or detect_encoding(path)
            chunks = _read_csv(path, encoding, progress)
        report = FileReport(str(path), kind_name, encoding)
        headers = None
        for frame, first_line in chunks:
            if headers is None:
                fmt = _choose_format(path, spec, frame.schema.names, formats, input_format)
                report.input_format = fmt.name if fmt else None
                headers = _map_headers(path, spec, frame.schema.names, aliases, fmt)
            lines = None
            if spec.skip_blank and spec.skip_blank in headers.values():
                frame, lines, skipped = _without_blank(frame, first_line, headers, spec.skip_blank)
                report.skipped += skipped
            batch, bad = _validate_chunk(path, spec, frame, first_line, headers, problems, lines)
            state["problems"] += bad
            report.rows += frame.num_rows
            if "days_supply" in batch.schema.names:
                longest = pc.max(batch.column("days_supply")).as_py()
                if longest is not None and (report.max_days_supply or 0) < longest:
                    report.max_days_supply = longest
            if state["problems"] == 0:
                yield kind_name, str(path), batch
        if headers is None:
            raise MenguiError(f"{path}：文件为空，没有表头")
        report.sha256 = _sha256(path)  # in the parse worker, beside the inserts
        files.append(report)


# ---------------------------------------------------------------- the parse worker
#
# Reading and validating (Arrow's CSV reader and compute kernels) and SQLite's executemany into the
# staging tables each take one core. On a machine with more than one, a forked worker process
# parses while this process inserts: Arrow batches cross a pipe (compact IPC buffers), and only
# this process turns them into Python values for SQLite. A thread would not do: SQLite releases
# the GIL on every row, so the two threads convoy and were measured many times slower.

PARSE_WORKER = True  # tests turn it off to check both paths give the same database


def _use_worker() -> bool:
    import multiprocessing
    import sys

    return (PARSE_WORKER and sys.platform == "linux" and (os.cpu_count() or 1) > 1
            and "fork" in multiprocessing.get_all_start_methods())


def die_with_parent(parent: int) -> None:
    """In a forked child: be killed when the parent dies, however it dies (Linux ``prctl``
    ``PR_SET_PDEATHSIG``), and leave at once if it is already gone."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux's C library: the parent's own cleanup remains
        pass
    if os.getppid() != parent:
        os._exit(1)


def _worker(parent, receive, send, planned, aliases, formats, input_format, encoding, sheet) -> None:
    """The forked parse worker: runs :func:`_parse_files` and sends what it finds, message by message."""
    die_with_parent(parent)
    # The read end came along with the fork. Held here, it would keep the pipe open after the parent
    # died, and the worker would wait forever for room in it.
    receive.close()
    problems: list[Problem] = []
    files: list[FileReport] = []
    state = {"problems": 0}
    try:
        for message in _parse_files(planned, aliases, formats, input_format, lambda n: send.send(("progress", n)),
                                    problems, files, state, encoding, sheet):
            send.send(("chunk", *message))
        send.send(("end", problems, state["problems"], files))
    except MenguiError as ex:
        send.send(("error", ex))
    except BaseException:  # a bug: its traceback goes to the parent, which raises it
        import traceback

        send.send(("crash", traceback.format_exc()))
    finally:
        send.close()


@functools.cache
def _warm_conversions() -> None:
    """pyarrow's first conversion of a Python value imports pandas (a third of a second). Done once
    in this process, every worker forked after it starts warm; the first one warms itself meanwhile."""
    pa.scalar("")


def _parsed_in_worker(planned, aliases, formats, input_format, progress, problems, files, state, encoding, sheet):
    """Like :func:`_parse_files`, with the parsing done in a forked worker process."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    worker = context.Process(target=_worker, daemon=True, name="mengui-parse",
                             args=(os.getpid(), receive, send, planned, aliases, formats, input_format, encoding, sheet))
    worker.start()
    send.close()
    _warm_conversions()  # while the worker starts: later workers forked from here inherit it
    try:
        while True:
            try:
                message = receive.recv()
            except EOFError:
                raise RuntimeError(f"读取文件的子进程意外退出（退出码 {worker.exitcode}）") from None
            tag = message[0]
            if tag == "chunk":
                yield message[1:]
            elif tag == "progress":
                if progress:
                    progress(message[1])
            elif tag == "end":
                problems.extend(message[1])
                state["problems"] += message[2]
                files.extend(message[3])
                return
            elif tag == "error":
                raise message[1]
            else:
                raise RuntimeError(f"读取文件的子进程出错：\n{message[1]}")
    finally:
        receive.close()
        if worker.is_alive():
            worker.terminate()
        worker.join()


def _staging_rows(batch: pa.RecordBatch) -> Iterator[tuple]:
    return zip(*(column.to_pylist() for column in batch.columns))


def load_files(
    conn: sqlite3.Connection,
    paths: Iterable[str | Path],
    *,
    kind: str | None = None,
    aliases=(),
    formats=None,
    input_format: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
    progress: ProgressCallback | None = None,
    dry_run: bool = False,
) -> LoadResult:
    """Validate and load files; all or nothing. ``progress`` receives the bytes read."""
    planned = plan(paths, kind, formats)
    problems: list[Problem] = []
    problem_count = 0
    files: list[FileReport] = []
    kinds_used: list[Kind] = []
    scratch = _open_staging(conn)
    try:
        kinds_used = [KINDS[k] for k in LOAD_ORDER if any(k == kind_name for _, kind_name in planned)]
        for spec in kinds_used:
            _create_stage(conn, spec)
        state = {"problems": 0}
        if encoding:
            try:
                encoding = codecs.lookup(encoding).name
            except LookupError as ex:
                raise MenguiError(f"未知的编码 --encoding {encoding}（可用 utf-8、utf-8-sig、gbk、gb18030）") from ex
        parse = _parsed_in_worker if _use_worker() else _parse_files
        parsed = parse(planned, aliases, formats, input_format, progress, problems, files, state, encoding, sheet)
        # One transaction for the staging writes (the scratch database only: no lock on the database
        # itself); in autocommit mode every staged row would be its own transaction on the scratch file.
        conn.execute("BEGIN")
        try:
            for kind_name, file, batch in parsed:
                if state["problems"] == 0:
                    spec = KINDS[kind_name]
                    values = ", ".join("?" * len(spec.db_columns))
                    conn.executemany(
                        f"INSERT INTO {_stage_table(spec)} VALUES ({values}, {_quote(file)}, ?)", _staging_rows(batch)
                    )
        finally:
            conn.execute("COMMIT")
        problem_count = state["problems"]
        repeated: set[str] | None = None  # kinds whose staged records give a key more than once; None: not checked
        if problem_count == 0:
            if any(k.name == "rx_items" for k in kinds_used):
                _number_items(conn)
            if any(k.name == "verdicts" for k in kinds_used):
                _check_titles_to_ids(conn)
                _stamp_review_times(conn)
                problems.extend(_unknown_flags(conn))
            if dry_run or problems:  # list every problem now; otherwise a fresh insert finds repeats itself
                repeated, conflicts = _repeats(conn, kinds_used)
                problems.extend(conflicts)
            problem_count = len(problems)
        if problem_count:
            raise InputError(problems, total=problem_count)
        if dry_run:
            return LoadResult(files, [], dry_run=True, warnings=_cross_file_warnings(conn, kinds_used, merged=False))
        tables = []
        with transaction(conn):
            for spec in kinds_used:
                tables.append(TableChange(spec.name, *_merge_kind(conn, spec, kinds_used, repeated)))
            for report in files:
                conn.execute(
                    "INSERT INTO loads (file, kind, encoding, rows, sha256, loaded_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (report.file, report.kind, report.encoding, report.rows, report.sha256, now()),
                )
            longest = max((r.max_days_supply for r in files if r.max_days_supply is not None), default=None)
            if longest is not None:  # the audit looks back this far for supplies reaching into a month
                conn.execute(
                    "INSERT INTO settings (key, value) VALUES ('max_days_supply', ?) ON CONFLICT (key) "
                    "DO UPDATE SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
                    (longest,),
                )
            warnings = _cross_file_warnings(conn, kinds_used, merged=True)
        return LoadResult(files, tables, warnings=warnings)
    finally:
        _drop_stages(conn, scratch)
