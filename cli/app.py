"""The ``mengui`` command line. Thin: parse options, call ``mengui_core``, print in Chinese."""

from __future__ import annotations

import getpass
import json
import re
import sqlite3
import sys
from pathlib import Path

import click

from mengui_core import __version__
from mengui_core import plugins as plugin_manager
from mengui_core import months
from mengui_core.audit import ruleset as rulesets_module
from mengui_core.labels import APPEAL_LABELS, LEVEL_LABELS, VERDICT_LABELS
from mengui_core.times import minute
from mengui_core.errors import MenguiError, os_message, sqlite_message
from mengui_core.ingest.inputs import KINDS
from mengui_core.audit.runner import audit_month, summary_by_department
from mengui_core.db.files import open_private
from mengui_core.db.schema import connect

from .output import table


class UserFacingError(click.ClickException):
    exit_code = 1

    def show(self, file=None):
        click.echo(f"错误：{self.message}", err=True)


USAGE_MESSAGES = [  # click's own usage errors, in the clerk's language
    (r"Missing option '(.+?)'.*", r"缺少选项 \1"),
    (r"Missing argument '(.+?)'.*", r"缺少参数 \1"),
    (r"No such option:? '?([^'\s]+?)'?\.?(?: Did you mean (\S+?)\?)?$", r"没有这个选项：\1"),
    (r"No such command '(.+?)'.*", r"没有这个命令：\1（用 mengui --help 查看全部命令）"),
    (r"Invalid value for '(.+?)': (.*)", r"选项 \1 的取值无效：\2"),
    (r"Got unexpected extra arguments? \((.*)\)", r"多余的参数：\1"),
    (r"Option '(.+?)' requires an argument\.", r"选项 \1 需要一个值"),
    (r"(File|Path|Directory) '(.+?)' does not exist\.", r"\2 不存在"),
    (r"'(.+?)' is not one of (.+)\.", r"「\1」不是可选值（可选：\2）"),
    (r"'(.+?)' is not a valid integer\.", r"「\1」不是整数"),
]


class ChineseHelp:
    """The built-in --help option, described in Chinese."""

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = "显示帮助并退出"
        return option


class Command(ChineseHelp, click.Command):
    pass


class Group(ChineseHelp, click.Group):
    """Turns every user error into a Chinese message and a non-zero exit, never a traceback."""

    command_class = Command
    group_class = type  # subgroups are of this class too

    def main(self, *args, **kwargs):
        kwargs["standalone_mode"] = False
        try:
            super().main(*args, **kwargs)
        except click.UsageError as ex:
            message = ex.format_message()
            for pattern, replacement in USAGE_MESSAGES:
                message = re.sub(pattern, replacement, message)
            if ex.ctx is not None:
                click.echo(ex.ctx.get_usage(), err=True)
                click.echo(f"（用 {ex.ctx.command_path} --help 查看帮助）", err=True)
            click.echo(f"错误：{message}", err=True)
            sys.exit(2)
        except click.ClickException as ex:
            ex.show()
            sys.exit(ex.exit_code)
        except click.Abort:
            click.echo("已取消。", err=True)
            sys.exit(1)
        sys.exit(0)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MenguiError as ex:
            raise UserFacingError(str(ex)) from ex
        except sqlite3.DatabaseError as ex:
            raise UserFacingError(sqlite_message(ex)) from ex
        except OSError as ex:
            raise UserFacingError(os_message(ex)) from ex


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", message="mengui-audit %(version)s", help="显示版本并退出")
@click.option("--plugins-dir", type=click.Path(file_okay=False, exists=True), envvar="MENGUI_PLUGINS_DIR",
              help="从此目录加载未打包的 .py 插件（也可用环境变量 MENGUI_PLUGINS_DIR）")
def cli(plugins_dir):
    """门规处方审核工具：导入处方数据、按规则集审核、输出公示名单。"""
    plugin_manager.load_plugins()
    if plugins_dir:
        plugin_manager.load_plugins_dir(plugins_dir)


# ---------------------------------------------------------------- load


@cli.command()
@click.argument("db", type=click.Path(dir_okay=False))
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--kind", type=click.Choice(list(KINDS)), help="指定文件类型（默认按文件名判断）")
@click.option("--input-format", default=None, help="按插件提供的 HIS 导入格式读取（默认按表头自动识别）")
@click.option("--encoding", default=None, help="CSV 文件编码（默认自动识别 UTF-8 / GBK / GB18030）")
@click.option("--sheet", default=None, help="Excel 工作表名称或序号（默认第一个）")
@click.option("--dry-run", is_flag=True, help="只检查文件，不写入数据库")
def load(db, paths, kind, input_format, encoding, sheet, dry_run):
    """导入 CSV / XLSX 文件或整个目录到数据库 DB。"""
    from mengui_core.ingest.loader import load_files, plan

    options = plugin_manager.input_options()
    planned = plan(paths, kind, options["formats"])
    total = sum(p.stat().st_size for p, _ in planned)
    conn = connect(db)
    with click.progressbar(length=total, label="读取并校验文件", file=sys.stderr, show_eta=False,
                           hidden=not sys.stderr.isatty()) as bar:
        result = load_files(conn, [p for p, _ in planned], kind=kind, input_format=input_format, encoding=encoding,
                            sheet=sheet, progress=bar.update, dry_run=dry_run, **options)
    encodings = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8（带 BOM）", "gb18030": "GBK/GB18030", "xlsx": "Excel"}
    rows = [[f.file, KINDS[f.kind].label, encodings.get(f.encoding, f.encoding), f.input_format or "标准", f.rows]
            for f in result.files]
    click.echo(table(["文件", "类型", "编码", "格式", "行数"], rows, right={4}))
    for warning in result.warnings:
        click.echo(f"注意：{warning}", err=True)
    if dry_run:
        click.echo(f"\n检查通过：{len(result.files)} 个文件均无错误（--dry-run，未写入数据库）。")
        return
    click.echo()
    changes = [[KINDS[t.table].label + f"（{t.table}）", t.inserted, t.replaced, t.unchanged] for t in result.tables]
    click.echo(table(["数据表", "新增", "更新", "未变"], changes, right={1, 2, 3}))
    click.echo(f"\n导入完成：{db}")


# ---------------------------------------------------------------- audit


@cli.command()
@click.argument("db", type=click.Path(dir_okay=False))
@click.option("--month", required=True, help="审核月份，格式 YYYY-MM")
@click.option("--ruleset", "ruleset_name", default=None, help="规则集名称或 .toml 路径（默认 jinan）")
def audit(db, month, ruleset_name):
    """按规则集审核某月处方，重新生成该月的标记（保留审核结论）。"""
    conn = connect(db, create=False)
    click.echo(f"正在审核 {month} ……", err=True)
    result = audit_month(conn, month, ruleset_name,
                         progress=lambda check: click.echo(f"  ✓ {check.title}（{check.id}）", err=True))
    print_audit_summary(conn, result)


def counting(config, names) -> str:
    """How a check's flags count toward the ladder, in the clerk's words (``names``: the level names)."""
    if config.monitoring:
        return "监测（不计入）"
    if config.needs_review:
        return "需审核"
    if config.counts_from:
        cut = names.index(config.counts_from)
        return f"{'、'.join(names[cut:])}直接计入，{'、'.join(names[:cut])}需审核"
    return "直接计入"


def tolerance_text(tolerance) -> str:
    """``最多提前 7 天，且不超过上次用药天数的 25%`` (or 不允许提前 for a tolerance of 0)."""
    if not tolerance.days or not tolerance.percent:
        return "不允许提前（任何重叠都标记）"
    return f"最多提前 {tolerance.days} 天，且不超过上次用药天数的 {tolerance.percent:g}%（两者取小，向下取整）"


def level_text(config, names) -> str:
    """A check's warning levels, e.g. ``提示≥0，预警≥10，违规≥50`` or ``违规``."""
    if config.thresholds:
        return "，".join(f"{name}≥{t:g}" for name, t in zip(names, config.thresholds))
    return config.level or names[-1]


def print_audit_summary(conn, result) -> None:
    rs = result.ruleset
    click.echo(f"\n{result.month} 审核完成（规则集 {rs.name} {rs.version}，运行编号 {result.run_id}）")
    click.echo(f"审核处方 {result.prescriptions} 张，标记 {result.flags} 条。\n")
    levels = rs.levels
    rows = [[c.title, c.id, counting(rs.checks[c.id], levels)]
            + [result.by_level.get(c.id, {}).get(name, 0) for name in levels] + [result.by_check.get(c.id, 0)]
            for c in result.checks]
    click.echo(table(["规则", "编号", "认定方式"] + levels + ["标记数"], rows,
                     right=set(range(3, len(levels) + 4))))
    dept = summary_by_department(conn, result.month)
    if dept:
        titles = {c.id: c.title for c in result.checks}
        ids = [c.id for c in result.checks]
        by_dept: dict[str, dict] = {}
        for row in dept:
            by_dept.setdefault(row["department"], {})[row["check_id"]] = row["n"]
        rows = [[d] + [counts.get(i, 0) for i in ids] + [sum(counts.values())] for d, counts in sorted(by_dept.items())]
        click.echo("\n按科室：")
        click.echo(table(["科室"] + [titles[i] for i in ids] + ["合计"], rows, right=set(range(1, len(ids) + 2))))
    for note in result.notes:
        click.echo(f"\n注意：{note}")


# ---------------------------------------------------------------- verdicts


def flag_options(verdict_help: str | None = None, reviewer_help: str = "", note_help: str = ""):
    """DB, --rx and --check; with ``verdict_help`` also --verdict, --reviewer and --note."""

    def decorate(func):
        if verdict_help:
            func = click.option("--note", default=None, help=note_help)(func)
            func = click.option("--reviewer", default=None, help=reviewer_help)(func)
            func = click.option("--verdict", required=True, help=verdict_help)(func)
        func = click.option("--check", "check_id", required=True, help="规则编号，如 amount_cap")(func)
        func = click.option("--rx", "rx_id", required=True, help="处方号")(func)
        return click.argument("db", type=click.Path(dir_okay=False))(func)

    return decorate


@cli.command()
@flag_options("不合理 / 合理（或 unreasonable / reasonable）", "审核人（默认当前登录用户）", "备注")
def review(db, rx_id, check_id, verdict, reviewer, note):
    """记录药事委员会对一条标记的审核结论。"""
    from mengui_core.review.verdicts import record_verdict

    conn = connect(db, create=False)
    reviewer = reviewer or getpass.getuser()
    recorded = record_verdict(conn, rx_id, check_id, verdict, reviewer, note)
    text = f"已记录：处方 {rx_id} 规则 {check_id} → {VERDICT_LABELS[recorded.verdict]}（审核人 {reviewer}）"
    if recorded.previous and recorded.previous != recorded.verdict:
        text += f"；原结论「{VERDICT_LABELS[recorded.previous]}」已保留在审核历史中"
    click.echo(text)


@cli.command("verdicts")
@click.argument("db", type=click.Path(dir_okay=False))
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def verdicts_command(db, file):
    """从文件导入审核结论（列：处方号、规则、结论、审核人、审核时间、备注）。"""
    from mengui_core.ingest.loader import load_files

    conn = connect(db, create=False)
    result = load_files(conn, [file], kind="verdicts", **plugin_manager.input_options())
    change = result.tables[0]
    skipped = sum(f.skipped for f in result.files)
    click.echo(f"已导入 {result.files[0].rows} 条审核结论：新增 {change.inserted}，更改 {change.replaced}，"
               f"未变 {change.unchanged}（更改前的结论保留在 verdict_history 中）"
               + (f"；另有 {skipped} 行未填结论，已跳过" if skipped else ""))


@cli.command("review-sheet")
@click.argument("db", type=click.Path(dir_okay=False))
@click.option("--month", required=True, help="月份 YYYY-MM")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "html"]), default=None,
              help="输出格式（默认按 -o 的扩展名；都没有时为 xlsx）")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="输出文件：.xlsx（填好后可用 mengui verdicts 导入）或 .html（在浏览器中打印）；"
                   "默认 review-sheet-YYYY-MM.xlsx")
def review_sheet(db, month, fmt, output):
    """生成某月待审核标记的审核清单，供药事委员会开会时打印、填写，填好的 XLSX 可直接导入。"""
    from mengui_core.outputs.review_sheet import build, render_html, write_xlsx
    from mengui_core.outputs.text import choose_format

    fmt = choose_format(output, fmt, ("xlsx", "html"), default="xlsx")
    path = Path(output or f"review-sheet-{month}.{fmt}")
    conn = connect(db, create=False)
    sheet = build(conn, month)
    if fmt == "xlsx":
        write_xlsx(sheet, path)
    else:
        with open_private(path, "w", encoding="utf-8") as fh:
            fh.write(render_html(sheet))
    click.echo(f"{month} 待审核标记 {len(sheet.rows)} 条，审核清单已写出：{path}")
    if fmt == "xlsx":
        click.echo(f"填好「结论」「审核人」后导入：mengui verdicts {db} {path}")


# ---------------------------------------------------------------- appeals (申诉与复审)


@cli.command()
@flag_options()
@click.option("--reason", required=True, help="申诉理由")
@click.option("--appellant", default=None, help="申诉人（默认为开方医师代码）")
@click.option("--date", "filed", default=None, metavar="YYYY-MM-DD", help="申诉日期（默认今天）")
def appeal(db, rx_id, check_id, reason, appellant, filed):
    """记录医师对一条“不合理”结论的申诉（须在规则集规定的期限内）。"""
    from mengui_core.review.appeals import file_appeal, parse_date

    conn = connect(db, create=False)
    recorded = file_appeal(conn, rx_id, check_id, reason, appellant, parse_date(filed))
    click.echo(f"已记录申诉：处方 {rx_id} 规则 {check_id}（申诉人 {recorded.appellant}，{recorded.filed_at}，"
               f"期限至 {recorded.deadline}）。复审前原结论“不合理”仍计入公示；"
               f"请药事委员会复审：mengui appeal-review {db} --rx {rx_id} --check {check_id} --verdict 合理|不合理")


@cli.command("appeal-review")
@flag_options("复审结论：不合理 / 合理（为最终结论）", "复审人（默认当前登录用户）", "复审意见")
def appeal_review(db, rx_id, check_id, verdict, reviewer, note):
    """记录药事委员会对一条申诉的复审结论（最终结论）。"""
    from mengui_core.review.appeals import review_appeal

    conn = connect(db, create=False)
    reviewed = review_appeal(conn, rx_id, check_id, verdict, reviewer or getpass.getuser(), note)
    a = reviewed.appeal
    click.echo(f"已记录复审：处方 {rx_id} 规则 {check_id} → {a.status_label}（复审人 {a.second_reviewer}）；"
               "原结论与复审均保留在审核历史中")
    if a.status == "overturned" and reviewed.redisclose:
        months = "、".join(reviewed.redisclose)
        click.echo(f"该处方不再计为不合理处方。已公示的 {months} 名单可能随之变化，请按月份顺序重新生成草稿："
                   f"mengui disclose {db} --month {reviewed.redisclose[0]}，审定后 mengui publish（变化时产生新版本）")


@cli.command("appeals")
@click.argument("db", type=click.Path(dir_okay=False))
@click.option("--month", default=None, help="只列出该月（标记所在月份）的申诉，格式 YYYY-MM")
def appeals_command(db, month):
    """列出申诉及复审结果（申诉中的在前）。"""
    from mengui_core.review.appeals import list_appeals

    if month:
        months.check(month)
    conn = connect(db, create=False)
    rows = [[r["month"] or "—", r["rx_id"], r["title"], f"{r['doctor_code'] or ''} {r['doctor_name'] or ''}".strip(),
             r["filed_at"], r["deadline"], APPEAL_LABELS.get(r["status"], r["status"]), r["second_reviewer"] or "",
             r["reason"]] for r in list_appeals(conn, month)]
    if not rows:
        click.echo(f"{month + ' ' if month else ''}没有申诉。")
        return
    click.echo(table(["月份", "处方号", "规则", "医师", "申诉日期", "期限", "状态", "复审人", "申诉理由"], rows))
    pending = sum(1 for r in rows if r[6] == APPEAL_LABELS["pending"])
    click.echo(f"\n共 {len(rows)} 条申诉，其中申诉中（待复审）{pending} 条；复审前原结论仍计入公示。")


# ---------------------------------------------------------------- deductions (医保扣款)


@cli.command()
@click.argument("db", type=click.Path(dir_okay=False))
@click.option("--month", default=None, help="月份 YYYY-MM（按扣款日期；扣款无日期时按开方日期），默认全部月份")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx", "md"]), default=None,
              help="输出格式（默认按 -o 文件的扩展名；不写文件时在屏幕上显示表格）")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="输出文件，扩展名决定格式：.csv .xlsx .md")
def deductions(db, month, fmt, output):
    """医保扣款按开方医师汇总（开方医师全额承担）。"""
    from mengui_core.outputs.deduction_list import FORMATS, write_text
    from mengui_core.publish.deductions import summarise, yuan

    from mengui_core.outputs.text import choose_format

    fmt = choose_format(output, fmt, FORMATS, default=None)
    if fmt == "xlsx" and not output:
        output = f"deductions-{month or 'all'}.xlsx"
    conn = connect(db, create=False)
    summary = summarise(conn, month)
    if output:
        FORMATS[fmt](summary, Path(output))
    elif fmt:
        FORMATS[fmt](summary, sys.stdout)
    else:
        write_text(summary, sys.stdout)
        return
    click.echo(f"{summary.title}：{len(summary.doctors)} 名医师，{summary.count} 笔，共 {yuan(summary.total_fen)} 元", err=True)
    for note in summary.notes():
        click.echo(f"注意：{note}", err=True)
    if output:
        click.echo(f"已写出：{output}", err=True)


# ---------------------------------------------------------------- disclosure


def ladder_options(func):
    func = click.option("--require-reviewed", is_flag=True, help="仍有待审核的标记时报错，不生成名单")(func)
    func = click.option("--allow-unaudited", is_flag=True, help="把从未审核的前几个月视为没有不合理处方")(func)
    func = click.option("--ladder-start", default=None, metavar="YYYY-MM",
                        help="三级公示从该月起算（之前的月份不计；记入数据库，以后无需再给）")(func)
    return func


def level_counts(rows) -> str:
    """``三级 1 名，一级 2 名`` (nothing when the list is empty)."""
    by_level: dict[int, int] = {}
    for row in rows:
        by_level[row.level] = by_level.get(row.level, 0) + 1
    return "，".join(f"{LEVEL_LABELS[l]} {n} 名" for l, n in sorted(by_level.items(), reverse=True))


def print_pending(d) -> None:
    if d.pending:
        click.echo(f"  另有 {d.pending} 条标记待药事委员会审核，未计入本名单", err=True)
    if d.appeals_pending:
        click.echo(f"  其中 {d.appeals_pending} 条不合理结论申诉中（待复审），复审前按原结论计入", err=True)


def print_draft(drafted, db: str = "DB") -> None:
    """What ``disclose`` (and ``run``) did: a draft, stored, nothing public changed."""
    d = drafted.disclosure
    counts = level_counts(d.rows)
    click.echo(f"{d.month} {drafted.ladder.title}名单草稿：{len(d.rows)} 名医师" + (f"（{counts}）" if counts else ""),
               err=True)
    print_pending(d)
    if d.base_revision is None:
        click.echo("  本月名单尚未公示", err=True)
    elif not d.differs:
        click.echo(f"  与已公示的第 {d.base_revision} 版相同", err=True)
    else:
        click.echo(f"  与已公示的第 {d.base_revision} 版不同：", err=True)
        for change in d.changes:
            click.echo(f"    - {change}", err=True)
        if drafted.dependents:
            click.echo(f"  公示后，依赖本月的 {'、'.join(drafted.dependents)} 的名单须按月份顺序重新生成并公示", err=True)
    if d.differs:
        from mengui_core.publish.disclosure import DRAFT_NOTICE

        click.echo(f"{DRAFT_NOTICE}：mengui publish {db} --month {d.month} --by 审定人", err=True)
    print_stale(drafted.stale)


def print_published(published) -> None:
    """What ``publish`` did."""
    d = published.disclosure
    counts = level_counts(d.rows)
    who = f"，公示人 {d.published_by}" if d.published_by else ""
    if published.new_revision:
        click.echo(f"已公示 {d.month} {published.ladder.title}名单第 {d.revision} 版：{len(d.rows)} 名医师"
                   + (f"（{counts}）" if counts else "") + f"{who}，{minute(d.published_at)}", err=True)
        if d.changes:
            click.echo("  与上一版相比：", err=True)
            for change in d.changes:
                click.echo(f"    - {change}", err=True)
    else:
        click.echo(f"{d.month} 名单草稿与已公示的第 {d.revision} 版相同：未产生新版本（已确认）", err=True)
    print_pending(d)
    for doctor, effective in published.revoked:
        click.echo(f"  取消医保定岗医师资格：{doctor}，自 {effective} 起生效", err=True)
    for doctor, effective in published.rescheduled:
        click.echo(f"  取消医保定岗医师资格的生效日期改为：{doctor}，自 {effective} 起", err=True)
    for doctor in published.withdrawn:
        click.echo(f"  撤销取消资格：{doctor}（本版不再取消其资格，原取消视为未生效）", err=True)
    print_stale(published.stale)


def print_stale(stale: dict[str, list[str]]) -> None:
    """Later published months whose lists an earlier month's new revision has made out of date."""
    if not stale:
        return
    causes = "；".join(f"{month} 公示后 {'、'.join(earlier)} 的名单有变化" for month, earlier in stale.items())
    click.echo(f"注意：{'、'.join(stale)} 的公示名单已过时（{causes}），请按月份顺序重新生成并公示："
               f"mengui disclose DB --month {next(iter(stale))}，审定后 mengui publish", err=True)


def list_output(output, fmt, month, default_stem, formats):
    """(path or None, format): ``-o``'s extension chooses the format; ``--format`` must agree with it."""
    from mengui_core.outputs.text import choose_format

    fmt = choose_format(output, fmt, formats)
    if fmt == "xlsx" and not output:
        output = f"{default_stem}-{month}.xlsx"
    return output, fmt


@cli.command()
@click.argument("db", type=click.Path(dir_okay=False))
@click.option("--month", required=True, help="公示月份，格式 YYYY-MM")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx", "md", "html"]), default=None,
              help="输出格式（默认按 -o 文件的扩展名；输出到屏幕时为 csv）")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="输出文件，扩展名决定格式：.csv .xlsx .md .html（默认输出到屏幕）")
@click.option("--ruleset", "ruleset_name", default=None, help="规则集（默认用该月审核时的规则集）")
@ladder_options
def disclose(db, month, fmt, output, ruleset_name, ladder_start, allow_unaudited, require_reviewed):
    """计算某月的公示名单，保存为草稿并写出（公开内容不变；审定后用 mengui publish 公示）。"""
    from mengui_core.outputs.disclosure_list import FORMATS
    from mengui_core.publish.disclosure import disclose_month

    output, fmt = list_output(output, fmt, month, "disclosure", FORMATS)
    conn = connect(db, create=False)
    drafted = disclose_month(conn, month, ruleset=ruleset_name, start=ladder_start,
                             allow_unaudited=allow_unaudited, require_reviewed=require_reviewed)
    print_draft(drafted, db)
    shown = drafted.current  # the draft, or the published list when they are the same
    if output:
        FORMATS[fmt](shown, Path(output))
        click.echo(f"已写出{'草稿' if shown.draft else f'已公示的第 {shown.revision} 版'}：{output}", err=True)
    else:
        FORMATS[fmt](shown, sys.stdout)


@cli.command()
@click.argument("db", type=click.Path(dir_okay=False))
@click.option("--month", required=True, help="公示月份，格式 YYYY-MM")
@click.option("--by", "by", default=None, help="审定（公示）人，记入版本记录（默认当前登录用户）")
@click.option("--effective", default=None, metavar="YYYY-MM-DD",
              help="取消定岗资格的生效日期（默认为名单月份的下一个月的 1 日）")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx", "md", "html"]), default=None,
              help="同时写出公示的名单的格式（默认按 -o 文件的扩展名）")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="同时把公示的名单写到此文件（扩展名决定格式）")
def publish(db, month, by, effective, fmt, output):
    """公示某月的名单草稿（与已公示版本不同时产生新版本），记录公示人和时间；取消资格自生效日期起生效。"""
    from mengui_core.outputs.disclosure_list import FORMATS
    from mengui_core.publish.disclosure import publish_month

    months.check(month)
    if output or fmt:
        output, fmt = list_output(output, fmt, month, "disclosure", FORMATS)
    conn = connect(db, create=False)
    published = publish_month(conn, month, by=by or getpass.getuser(), effective=effective)
    print_published(published)
    if output:
        FORMATS[fmt](published.disclosure, Path(output))
        click.echo(f"已写出：{output}", err=True)
    elif fmt:
        FORMATS[fmt](published.disclosure, sys.stdout)


@cli.command()
@click.argument("db", type=click.Path(dir_okay=False))
@click.option("--month", required=True, help="月份，格式 YYYY-MM")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="月报文件（HTML，默认 report-YYYY-MM.html）")
def report(db, month, output):
    """按数据库现状重新写出某月的审核月报（不导入、不审核）。"""
    from mengui_core.outputs.report import write_month_report

    months.check(month)
    conn = connect(db, create=False)
    path = Path(output or f"report-{month}.html")
    state = write_month_report(conn, month, path)
    for line in state:
        click.echo(line, err=True)
    click.echo(f"已写出：{path}", err=True)


def print_deductions_line(conn, month: str) -> None:
    """One line on the month's deductions (and the unattributed ones), when there are any."""
    from mengui_core.publish.deductions import summarise, yuan

    summary = summarise(conn, month)
    if summary.count:
        click.echo(f"\n{month} 医保扣款 {summary.count} 笔共 {yuan(summary.total_fen)} 元，"
                   f"归属 {len(summary.doctors)} 名开方医师（明细：mengui deductions --month {month}）")
    for note in summary.notes():
        click.echo(f"注意：{note}")


@cli.command()
@click.argument("db", type=click.Path(dir_okay=False))
@click.argument("doctor_code")
@click.option("--note", default=None, help="恢复资格的依据，如文件号")
@click.option("--date", "on", default=None, metavar="YYYY-MM-DD", help="恢复资格的日期（默认今天；补录时请写明）")
def reinstate(db, doctor_code, note, on):
    """恢复被取消医保定岗资格的医师（名册恢复后使用）。"""
    from mengui_core.publish.disclosure import reinstate as reinstate_doctor

    conn = connect(db, create=False)
    month = reinstate_doctor(conn, doctor_code, note, on)
    day = conn.execute("SELECT reinstated_on FROM revocations WHERE doctor_code = ? AND month = ?",
                       (doctor_code, month)).fetchone()[0]
    click.echo(f"已恢复医师 {doctor_code} 的定岗资格（{month} 公示取消），自 {day} 起可开具门规处方；"
               "此后的公示级别重新起算")


@cli.command("run")
@click.argument("db", type=click.Path(dir_okay=False))
@click.option("--month", required=True, help="月份，格式 YYYY-MM")
@click.argument("input_dir", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), default=None,
              help="名单与月报的输出目录（默认 ./mengui-YYYY-MM）")
@click.option("--ruleset", "ruleset_name", default=None, help="规则集名称或 .toml 路径（默认 jinan）")
@ladder_options
def run_command(db, month, input_dir, output_dir, ruleset_name, ladder_start, allow_unaudited, require_reviewed):
    """每月作业：导入、审核、导入审核结论、生成公示名单与月报。"""
    from mengui_core.ingest.loader import plan
    from mengui_core.monthly import run_month

    out = Path(output_dir or f"mengui-{month}")
    conn = connect(db)
    total = sum(p.stat().st_size for p, _ in plan([input_dir], formats=plugin_manager.get_input_formats()))
    with click.progressbar(length=total, label="导入数据", file=sys.stderr, show_eta=False,
                           hidden=not sys.stderr.isatty()) as bar:
        result = run_month(conn, month, Path(input_dir), out, ruleset=ruleset_name, start=ladder_start,
                           allow_unaudited=allow_unaudited, require_reviewed=require_reviewed,
                           progress=bar.update, on_step=lambda text: None)
    rows = sum(f.rows for f in result.loaded.files)
    click.echo(f"导入 {len(result.loaded.files)} 个文件 {rows} 行")
    print_audit_summary(conn, result.audited)
    if result.verdicts:
        change = result.verdicts.tables[0]
        click.echo(f"\n导入审核结论：新增 {change.inserted}，更改 {change.replaced}，未变 {change.unchanged}")
    click.echo()
    print_draft(result.drafted, db)
    print_deductions_line(conn, month)
    click.echo("\n已写出：")
    for path in result.files:
        click.echo(f"  {path}")


# ---------------------------------------------------------------- Datasette


@cli.command()
@click.argument("db", type=click.Path(dir_okay=False, exists=True))
@click.option("--host", default="127.0.0.1", show_default=True, help="监听地址（默认仅本机）")
@click.option("--port", default=8001, show_default=True, type=int, help="端口")
@click.option("--session-hours", default=8.0, show_default=True, type=click.FloatRange(min=0.01, max=24 * 30),
              help="登录有效时长（小时），到期须重新登录")
def serve(db, host, port, session_hours):
    """用 Datasette 发布数据库：委员登录审核，公众只见公示名单与统计。"""
    from mengui_datasette.server import serve as run_server
    from mengui_datasette.users import list_users

    users = list_users(db)
    click.echo(f"门规审核网站：http://{host}:{port}/   （按 Ctrl+C 停止）", err=True)
    if not users:
        click.echo(f"注意：还没有委员账号，请先运行 mengui users add {db} 用户名 --role committee", err=True)
    else:
        click.echo(f"委员账号 {len(users)} 个；登录地址 http://{host}:{port}/-/login", err=True)
    run_server(Path(db), host=host, port=port, session_hours=session_hours)


@cli.group()
def users():
    """管理药事委员会委员的登录账号（密码加密保存在 DB 旁的 .users.db 文件中）。"""


@users.command("add")
@click.argument("db", type=click.Path(dir_okay=False, exists=True))
@click.argument("name")
@click.option("--role", type=click.Choice(["committee", "admin"]), default="committee", show_default=True,
              help="角色：committee 药事委员会委员，admin 管理员")
@click.option("--display-name", default=None, help="显示姓名，如 张委员")
@click.option("--password-stdin", is_flag=True, help="从标准输入读取密码（用于脚本）")
@click.option("--replace", is_flag=True, help="用户已存在时重设密码")
def users_add(db, name, role, display_name, password_stdin, replace):
    """创建一个登录账号。"""
    from mengui_datasette.users import ROLES, add_user, users_path

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("密码", hide_input=True, confirmation_prompt="再次输入密码")
    user = add_user(db, name, password, role, display_name, replace=replace)
    click.echo(f"已创建账号 {user.name}（{ROLES[user.role]}，显示为 {user.display_name}），保存在 {users_path(db)}")


@users.command("list")
@click.argument("db", type=click.Path(dir_okay=False, exists=True))
def users_list(db):
    """列出登录账号（不显示密码）。"""
    from mengui_datasette.users import ROLES, list_users

    rows = [[u.name, u.display_name, ROLES.get(u.role, u.role), "已停用" if u.disabled else "正常", u.created_at]
            for u in list_users(db)]
    click.echo(table(["用户名", "显示姓名", "角色", "状态", "创建时间"], rows) if rows else "还没有账号。")


@users.command("remove")
@click.argument("db", type=click.Path(dir_okay=False, exists=True))
@click.argument("name")
def users_remove(db, name):
    """删除一个登录账号（其登录立即失效）。"""
    from mengui_datasette.users import remove_user

    remove_user(db, name)
    click.echo(f"已删除账号 {name}；该账号已登录的会话立即失效")


def _switch_command(command: str, disabled: bool, help_text: str, done: str):
    """``mengui users disable`` / ``enable``: the same command, the other way round."""

    @users.command(command, help=help_text)
    @click.argument("db", type=click.Path(dir_okay=False, exists=True))
    @click.argument("name")
    def switch(db, name):
        from mengui_datasette.users import set_disabled

        set_disabled(db, name, disabled)
        click.echo(done.format(name=name))

    return switch


users_disable = _switch_command("disable", True, "停用一个登录账号（其登录立即失效，可用 enable 恢复）。",
                                "已停用账号 {name}；该账号已登录的会话立即失效")
users_enable = _switch_command("enable", False, "恢复一个被停用的登录账号（停用前的登录不会恢复）。", "已恢复账号 {name}")


@users.command("rotate-secret")
@click.argument("db", type=click.Path(dir_okay=False, exists=True))
def users_rotate_secret(db):
    """更换签名密钥：所有已登录的会话立即失效，全部委员须重新登录。"""
    from mengui_datasette.users import rotate_secret

    rotate_secret(db)
    click.echo("已更换签名密钥：所有已登录的会话立即失效。请重新启动 mengui serve，使新登录也用新密钥签名。")


@cli.command()
@click.argument("db", type=click.Path(dir_okay=False, exists=True))
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--ruleset", "ruleset_name", default=None,
              help="规则集（默认用该月最近一次审核时的规则集，未审核过则用默认规则集）")
def precheck(db, file, ruleset_name):
    """事前提示：按月度审核的同一套规则检查一张草稿处方（JSON 文件，格式见 docs/precheck.md），输出 JSON。

    无论是否有提示，退出码都是 0；文件有误时给出出错的位置（行、列或字段）并以非零退出。"""
    from mengui_core.precheck.answer import answer_json
    from mengui_core.precheck.draft import parse_draft, parse_json_text
    from mengui_core.precheck.evaluate import Prechecker

    path = Path(file)
    try:
        raw = path.read_bytes()
    except OSError as ex:
        raise MenguiError(f"无法读取 {file}：{os_message(ex)}") from ex
    try:
        draft = parse_draft(parse_json_text(raw, source=f"文件 {file} "))
    except MenguiError as ex:
        text = str(ex)
        raise MenguiError(text if text.startswith("文件") else f"文件 {file}：{text}") from ex
    connect(db).close()  # the schema this version reads (the check itself never writes the database)
    prechecker = Prechecker(db, ruleset_name)
    try:
        answer = answer_json(prechecker.evaluate(draft))
    finally:
        prechecker.close()
    click.echo(json.dumps(answer, ensure_ascii=False, indent=2))


@cli.group()
def tokens():
    """管理调用事前提示服务的 HIS 令牌（每个 HIS 一个；只保存哈希值，在 DB 旁的 .users.db 文件中）。"""


@tokens.command("add")
@click.argument("db", type=click.Path(dir_okay=False, exists=True))
@click.argument("name")
def tokens_add(db, name):
    """为一个 HIS 生成令牌（只显示这一次，请立即交给 HIS 厂商保存）。"""
    from mengui_datasette.tokens import add_token

    token = add_token(db, name)
    click.echo(token)
    click.echo(f"已为 {name} 生成令牌（只显示这一次）。HIS 调用时在请求头中加入：Authorization: Bearer <令牌>", err=True)


@tokens.command("list")
@click.argument("db", type=click.Path(dir_okay=False, exists=True))
def tokens_list(db):
    """列出令牌（只显示名称、开头几个字符和创建时间）。"""
    from mengui_datasette.tokens import list_tokens

    rows = [[t.name, t.prefix + "…", t.created_at] for t in list_tokens(db)]
    click.echo(table(["名称", "令牌开头", "创建时间"], rows) if rows else "还没有令牌。")


@tokens.command("remove")
@click.argument("db", type=click.Path(dir_okay=False, exists=True))
@click.argument("name")
def tokens_remove(db, name):
    """删除一个 HIS 的令牌（立即失效，无需重启 mengui serve）。"""
    from mengui_datasette.tokens import remove_token

    remove_token(db, name)
    click.echo(f"已删除令牌 {name}；使用它的请求将被拒绝（401）")


@cli.command()
@click.argument("db", type=click.Path(dir_okay=False, exists=True))
@click.argument("file", type=click.Path(dir_okay=False))
def backup(db, file):
    """在线备份数据库（SQLite 备份接口，可在 mengui serve 运行时进行），连同委员账号文件。"""
    from mengui_core.db.backup import backup_database

    written = backup_database(Path(db), Path(file))
    for path, pages in written:
        click.echo(f"已备份：{path}（{pages} 页）")
    click.echo("恢复方法：停止 mengui serve，把备份文件复制回原数据库路径（账号文件同理），再启动。")


# ---------------------------------------------------------------- plugins and rulesets


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出")
def plugins(as_json):
    """列出已注册的插件、它们提供的规则和规则集。"""
    info = plugin_manager.plugin_info()
    checks = plugin_manager.get_checks()
    sets = plugin_manager.get_ruleset_paths()
    for row in info:
        row["checks"] = sorted(c.id for c in checks.values() if c.plugin == row["name"])
    if as_json:
        click.echo(json.dumps({"plugins": info, "rulesets": {k: str(v) for k, v in sets.items()}},
                              ensure_ascii=False, indent=2))
        return
    rows = [[r["name"], r["distribution"] or "（插件目录）", r["version"] or "", "、".join(r["checks"]) or "-",
             "、".join(h.replace("register_", "") for h in r["hooks"])] for r in info]
    click.echo(table(["插件", "发行包", "版本", "提供的规则", "实现的钩子"], rows))
    click.echo("\n规则：")
    click.echo(table(["编号", "名称", "插件"], [[c.id, c.title, c.plugin] for c in checks.values()]))
    click.echo("\n规则集：" + "、".join(sorted(sets)))


@cli.group(invoke_without_command=True)
@click.pass_context
def rulesets(ctx):
    """列出、查看、校验规则集。"""
    if ctx.invoked_subcommand is None:
        ctx.invoke(rulesets_list)


@rulesets.command("list")
def rulesets_list():
    """列出已安装的规则集。"""
    rows = []
    installed = plugin_manager.get_ruleset_paths()
    for name, path in sorted(installed.items()):
        rs = rulesets_module.parse_file(path, installed=installed)
        rows.append([name, rs.version, rs.title, "、".join(rs.checks)])
    click.echo(table(["名称", "版本", "标题", "启用的规则"], rows))


@rulesets.command("show")
@click.argument("name", default=rulesets_module.DEFAULT_RULESET)
def rulesets_show(name):
    """显示一个规则集的要点（名称或 .toml 路径）。"""
    from mengui_core.money import format_yuan, yuan_to_fen

    rs = plugin_manager.load_ruleset(name)
    click.echo(f"{rs.title}\n名称 {rs.name}  版本 {rs.version}  文件 {rs.path}")
    if rs.description:
        click.echo(rs.description)
    registered = plugin_manager.get_checks()
    rows = []
    for check_id, cfg in rs.checks.items():
        params = []
        for key, value in cfg.params.items():
            if key.endswith("_cap") or key.endswith("_yuan"):
                value = format_yuan(yuan_to_fen(value)) + " 元"
            elif isinstance(value, dict):
                value = "、".join(f"{k}:{v}" for k, v in value.items())
            params.append(f"{key}={value}")
        title = registered[check_id].title if check_id in registered else "（未安装）"
        rows.append([check_id, title, counting(cfg, rs.levels), level_text(cfg, rs.levels), "，".join(params)])
    click.echo()
    click.echo(table(["规则", "名称", "认定方式", "预警级别", "参数"], rows))
    exempt = "、".join(f"{c} {rs.disease_name(c) or ''}".strip() for c in rs.exempt_diseases)
    click.echo(f"\n免于限额的病种：{exempt or '无'}")
    click.echo(f"缺省用药天数：{rs.default_days_supply} 天")
    refill = rs.refill_tolerance
    click.echo(f"续方容差（重复用药、相同疗效药品）：{tolerance_text(refill.default)}；尚余天数在容差以内的不标记，"
               "超出容差的天数为衡量值")
    for title, overrides in (("药品分类", refill.classes), ("病种", refill.diseases)):
        for key, tolerance in overrides.items():
            name = rs.disease_name(key) if title == "病种" else rs.drug_classes.get(key, {}).get("title")
            click.echo(f"  按{title} {key}{f' {name}' if name else ''}：{tolerance_text(tolerance)}")
    click.echo(f"病种目录 {len(rs.diseases)} 个（其中并发症 {sum(1 for d in rs.diseases if d.complication_of)} 个），"
               f"药品分类 {len(rs.drug_classes)} 类、通用名 {sum(len(c['drugs']) for c in rs.drug_classes.values())} 个，"
               f"同效合并组 {len(set(rs.same_effect.groups.values()))} 个，允许联用 {len(rs.same_effect.allowed)} 组")


@rulesets.command("validate")
@click.argument("file", type=click.Path(dir_okay=False))
def rulesets_validate(file):
    """校验规则集文件，列出每一处错误。"""
    rs = rulesets_module.parse_file(Path(file), known_checks=set(plugin_manager.get_checks()),
                                    installed=plugin_manager.get_ruleset_paths())
    click.echo(f"规则集 {rs.name}（版本 {rs.version}）校验通过：{len(rs.checks)} 条规则，{len(rs.diseases)} 个病种。")


# ---------------------------------------------------------------- demo


@cli.command()
@click.argument("directory", default="mengui-demo", type=click.Path(file_okay=False))
@click.option("--months", default=6, show_default=True, type=click.IntRange(1, 12), help="生成几个月的数据")
@click.option("--seed", default=20261101, show_default=True, help="随机种子（相同种子生成相同数据）")
def demo(directory, months, seed):
    """生成一家医院的模拟数据，导入并逐月审核，然后说明如何查看结果。"""
    from mengui_core.demo.story import demo_months, run_demo

    month_list = demo_months(months)
    click.echo(f"生成模拟数据：一家医院 {month_list[0]} 至 {month_list[-1]} 共 {months} 个月的 HIS 与医保结算导出文件")
    last = {}

    def on_month(step):
        rows = sum(f.rows for f in step.loaded.files)
        d = step.published.disclosure
        levels = "，".join(f"{LEVEL_LABELS[l]} {sum(1 for r in d.rows if r.level == l)} 名"
                          for l in (3, 2, 1) if any(r.level == l for r in d.rows)) or "无"
        revoked = "；".join(f"{doctor} 自 {day} 起取消定岗资格" for doctor, day in step.published.revoked)
        click.echo(f"{step.month}：导入 {rows} 行，审核处方 {step.audited.prescriptions} 张，标记 {step.audited.flags} 条，"
                   f"委员会审核 {step.verdicts} 条，公示 {len(d.rows)} 名医师（{levels}）"
                   + (f"，{revoked}" if revoked else ""))
        last["step"] = step

    run = run_demo(Path(directory), months=months, seed=seed, on_month=on_month)
    step = last["step"]
    conn = connect(run.db_path)
    print_audit_summary(conn, step.audited)
    conn.close()
    print_demo_appeals(run)
    click.echo()
    d = run.published.disclosure
    counts = level_counts(d.rows)
    click.echo(f"{d.month} {run.published.ladder.title}名单已公示第 {d.revision} 版（公示人 {d.published_by}，"
               f"{minute(d.published_at)}）：{len(d.rows)} 名医师" + (f"（{counts}）" if counts else ""), err=True)
    print_pending(d)
    for row in run.published.disclosure.rows:
        click.echo(f"    {row.level_label}  {row.doctor_code}  {row.doctor_name or '（不公示姓名）'}  "
                   f"{row.action_label}  不合理处方 {row.unreasonable_count} 张（{row.reasons}）", err=True)
    month = run.months[-1]
    print_demo_deductions(run, month)
    click.echo(f"\n输入文件：{run.directory / 'inputs'}（每月一个目录，处方文件为 GBK 编码、中文表头）")
    click.echo(f"委员会审核结论：{run.directory / 'committee'}")
    click.echo(f"数据库：{run.db_path}")
    click.echo("公示名单与月报：")
    for path in run.outputs:
        click.echo(f"  {path}")
    click.echo("下一步：")
    click.echo(f"  {command('mengui')} users add {run.db_path} 委员账号 --role committee")
    click.echo(f"  {command('mengui')} serve {run.db_path}")
    click.echo("      创建药事委员会委员账号，再启动审核网站：委员登录后审核标记、查看申诉与扣款；未登录只见公示名单与统计")
    click.echo(f"  {command('mengui')} disclose {run.db_path} --month {month} -o 公示名单.xlsx")
    click.echo("      重新生成公示名单草稿（不改变已公示的名单）；审定后 mengui publish 公示（有变化时产生新版本）")
    click.echo(f"  {command('mengui')} report {run.db_path} --month {month}")
    click.echo("      按数据库现状重新写出月报（不导入、不审核）")
    click.echo(f"  {command('mengui')} review {run.db_path} --rx 处方号 --check amount_cap --verdict 不合理")
    click.echo("      记录一条审核结论")
    click.echo(f"  {command('mengui')} appeals {run.db_path}")
    click.echo("      查看医师申诉；复审用 mengui appeal-review（复审结论为最终结论）")


def print_demo_appeals(run) -> None:

    if not run.appeals:
        return
    click.echo("\n医师申诉与药事委员会复审：")
    for appeal in run.appeals:
        click.echo(f"  {appeal.month} 处方 {appeal.rx_id}（{appeal.check_id}，医师 {appeal.doctor_code}）："
                   f"{APPEAL_LABELS[appeal.status]}")
        for published in appeal.revisions:
            d = published.disclosure
            if published.new_revision:
                click.echo(f"    → {d.month} 公示名单第 {d.revision} 版：{'；'.join(d.changes) or '无变化'}")


def print_demo_deductions(run, month: str) -> None:
    from mengui_core.publish.deductions import summarise, yuan

    conn = connect(run.db_path)
    summary, everything = summarise(conn, month), summarise(conn)
    conn.close()
    if not everything.count:
        return
    top = summary.doctors[0] if summary.doctors else None
    click.echo(f"\n医保扣款（开方医师全额承担）：{month} {summary.count} 笔共 {yuan(summary.total_fen)} 元，"
               f"由 {len(summary.doctors)} 名医师承担"
               + (f"（最多：{top.doctor_code} {top.doctor_name or ''} {yuan(top.total_fen)} 元）" if top else ""))
    click.echo(f"  全部月份 {everything.count} 笔共 {yuan(everything.total_fen)} 元，{len(everything.doctors)} 名医师")
    for note in everything.notes():
        click.echo(f"  注意：{note}")
    click.echo(f"  按医师汇总：{command('mengui')} deductions {run.db_path} [--month {month}] [-o 扣款.xlsx]")


def command(name: str) -> str:
    """How to type an installed console script: its bare name if it is on PATH, else its path."""
    import shutil

    here = Path(sys.executable).parent / name
    found = shutil.which(name)
    if found and Path(found).resolve() == here.resolve():
        return name
    if here.exists():
        try:
            return str(here.relative_to(Path.cwd()))
        except ValueError:
            return str(here)
    return name


def main():
    """The ``mengui`` command: library-wide SQLite settings first (before any connection), then the CLI."""
    from mengui_core.db.sqlite_library import disable_memory_statistics

    disable_memory_statistics()
    cli(prog_name="mengui")
