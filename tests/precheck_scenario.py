"""The hospital behind docs/precheck.md's examples (examples/precheck/*.json): patient P0001 with
高血压病 and 糖尿病 (a 300 元 cap a visit); atorvastatin for 28 days on 2026-10-02 from doctor D01;
on 2026-10-20 at 08:40 doctor D02 already wrote 120 元 of nifedipine. The documented draft (D02,
10:15 the same day: atorvastatin again and metformin, 200 元) is then over the visit's cap and a
duplicate with 10 days of atorvastatin still in hand."""

from pathlib import Path

from builders import Exports

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "precheck"
ATORVASTATIN = "XC10AAA126A001010101445"
NIFEDIPINE = "XC08CAN041A010010101445"


def scenario(directory) -> Exports:
    e = Exports(directory)
    e.doctor("D01", "王建国").doctor("D02", "李芳").doctor("D03", "赵强", qualified=False)
    e.cert("P0001", "M03900").cert("P0001", "M01600")
    e.cert("P0002", "M03900", valid_from="2024-01-01", valid_to="2026-09-30")
    e.rx("R2026100200017", "2026-10-02", "P0001", doctor="D01", codes="M03900;M01600", time="09:05:00",
         items=[("阿托伐他汀钙片", "96.00", 28, ATORVASTATIN)])
    e.rx("R2026102000012", "2026-10-20", "P0001", doctor="D02", codes="M03900", time="08:40:00",
         items=[("硝苯地平控释片", "120.00", 28, NIFEDIPINE)])
    e.rx("R2026100500003", "2026-10-05", "P0003", doctor="D01", codes="M03900", time="10:00:00",
         items=[("硝苯地平控释片", "60.00", 28, NIFEDIPINE)])
    e.cert("P0003", "M03900")
    return e
