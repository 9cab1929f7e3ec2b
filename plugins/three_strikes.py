"""The three-strike disclosure ladder (三级公示) of the Jinan policy.

A doctor with at least one unreasonable prescription in month M has a strike in M.
Level = the number of consecutive calendar months with a strike ending at M, capped
at 3: 1 → publish the code, ``months_to_name`` (2) → publish the name, ``months_to_revoke``
(3) → revoke the 医保定岗医师 qualification. A month without a strike resets the
streak; a never-audited month refuses (unless declared); a reinstatement restarts it.
"""

from mengui_core import Ladder, LadderEntry, hookimpl

NAME = "three_strikes"
DEFAULTS = {"months_to_name": 2, "months_to_revoke": 3}


def compute(ctx):
    to_name = int(ctx.settings.get("months_to_name", DEFAULTS["months_to_name"]))
    to_revoke = int(ctx.settings.get("months_to_revoke", DEFAULTS["months_to_revoke"]))
    window = ctx.months_back(to_revoke)
    counted = ctx.require_audited(window)
    strikes = ctx.strikes(counted)
    reinstated = ctx.reinstated_months()
    entries = []
    for doctor, months in strikes.items():
        if ctx.month not in months:
            continue
        streak = 0
        for month in reversed(window):
            if month not in counted or month not in months or month <= reinstated.get(doctor, ""):
                break
            streak += 1
        if streak >= to_revoke:
            level, action = 3, "revoke"
        elif streak >= to_name:
            level, action = 2, "publish_name"
        else:
            level, action = 1, "publish_code"
        entries.append(LadderEntry(doctor, level, action, months[ctx.month]))
    return entries


@hookimpl
def register_ladders(register):
    register(
        Ladder(
            name=NAME,
            title="三级公示",
            description="首次公示医师代码；连续两个月公示医师姓名；连续三个月取消医保定岗医师资格（月数可由规则集 [ladder] 设定）。",
            policy="依据医院医保管理考核办法（门规考核）：每月对开具不合理门规处方的医师进行公示，"
            "首次公示医师代码，连续{months_to_name:cn}个月公示医师姓名，连续{months_to_revoke:cn}个月取消其医保定岗医师资格。",
            rules=["一级：首次，公示医师代码", "二级：连续{months_to_name:cn}个月，公示医师姓名",
                   "三级：连续{months_to_revoke:cn}个月，取消医保定岗医师资格",
                   "“连续”指连续的自然月份；某月无不合理处方，则重新计数。"],
            defaults=DEFAULTS,
            compute=compute,
        )
    )
