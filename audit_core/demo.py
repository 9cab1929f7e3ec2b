"""``mengui demo``: generate a hospital's months of exports, load them and audit each month."""

from __future__ import annotations

from pathlib import Path

from .demo_data import write_demo_inputs
from .loader import load_files
from .plugins import get_input_aliases
from .runner import audit_month
from .schema import connect

DEMO_LAST_MONTH = "2026-10"


def demo_months(count: int, last: str = DEMO_LAST_MONTH) -> list[str]:
    year, month = map(int, last.split("-"))
    months = []
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return months[::-1]


def run_demo(directory: Path, months: int = 3, seed: int = 20261101, echo=print, summary=None) -> dict:
    directory.mkdir(parents=True, exist_ok=True)
    inputs = directory / "inputs"
    db_path = directory / "mengui.db"
    month_list = demo_months(months)
    echo(f"生成模拟数据（{month_list[0]} 至 {month_list[-1]}，共 {months} 个月）→ {inputs}")
    manifest = write_demo_inputs(inputs, month_list, seed=seed)
    conn = connect(db_path)
    aliases = get_input_aliases()
    results = []
    for month in month_list:
        loaded = load_files(conn, [inputs / month], aliases=aliases)
        rows = sum(f.rows for f in loaded.files)
        result = audit_month(conn, month)
        results.append(result)
        echo(f"{month}：导入 {len(loaded.files)} 个文件 {rows} 行，审核处方 {result.prescriptions} 张，标记 {result.flags} 条")
    if summary:
        summary(conn, results[-1])
    echo("")
    echo(f"数据库：{db_path}")
    echo("查看结果：")
    echo(f"  sqlite3 {db_path} \"SELECT check_id, rx_id, detail FROM flags WHERE month = '{month_list[-1]}' LIMIT 10\"")
    echo(f"  datasette {db_path}      # 在浏览器中浏览 flags（标记）、prescriptions（处方）等表")
    echo(f"  mengui audit {db_path} --month {month_list[-1]}   # 重新审核某月（保留审核结论）")
    conn.close()
    return manifest

