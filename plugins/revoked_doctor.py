"""``revoked_doctor``: a 门规 prescription written by a doctor without the 医保定岗医师 qualification.

Two sources, both read set-based:

* ``revocations`` (written when a disclosure list says ``revoke``): the qualification is gone from
  the day of ``revoked_at`` (the list's date) until the day of ``reinstated_at`` (``mengui reinstate``)
  or ``withdrawn_at`` (a later revision of the list no longer revokes), exclusive — on the day of a
  reinstatement or withdrawal the doctor may prescribe again. Dates are compared as calendar days.
* the roster (``doctors.qualified = 0``), when ``use_roster`` is true (default): the roster carries no
  dates, so it is read as it stands when the month is audited.
"""

from mengui_core import Check, hookimpl

CHECK_ID = "revoked_doctor"


def run(ctx):
    roster = ""
    if ctx.param("use_roster", True):
        roster = """
            UNION ALL
            SELECT r.rx_id, '医师名册标记医师 ' || r.doctor_code || coalesce(' ' || d.doctor_name, '')
                   || ' 没有医保定岗医师资格（定岗资格 = 0），不能开具门规处方' AS piece
            FROM temp.audit_rx r JOIN doctors d ON d.doctor_code = r.doctor_code
            WHERE d.qualified = 0"""
    ctx.add_flags(
        f"""
        SELECT rx_id, group_concat(piece, '；') AS detail
        FROM (
            SELECT r.rx_id,
                   '医师 ' || r.doctor_code || ' 的医保定岗医师资格已于 ' || substr(v.revoked_at, 1, 10)
                   || ' 取消（' || v.month || ' 三级公示），开方日 ' || r.rx_date || ' 尚未恢复' AS piece
            FROM temp.audit_rx r JOIN revocations v ON v.doctor_code = r.doctor_code
            WHERE substr(v.revoked_at, 1, 10) <= r.rx_date
              AND (v.reinstated_at IS NULL OR substr(v.reinstated_at, 1, 10) > r.rx_date)
              AND (v.withdrawn_at IS NULL OR substr(v.withdrawn_at, 1, 10) > r.rx_date)
            {roster}
        )
        GROUP BY rx_id
        """
    )


@hookimpl
def register_checks(register):
    register(
        Check(
            id=CHECK_ID,
            title="无定岗资格医师处方",
            colour="#8C564B",
            description="医保定岗医师资格已被公示名单取消（恢复之前）或医师名册标记无定岗资格的医师开具的门规处方。",
            run=run,
        )
    )
