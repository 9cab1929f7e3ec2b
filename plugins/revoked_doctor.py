"""``revoked_doctor``: a 门规 prescription written by a doctor without the 医保定岗医师 qualification.

Two sources, both read set-based:

* ``revocations`` (written when a published list says ``revoke``): the qualification is gone from its
  ``effective_date`` — the first day of the month after the list's month, or the date the publisher gave
  (``mengui publish --effective``), never the day a command ran — until the day of ``reinstated_on``
  (``mengui reinstate --date``), exclusive: on the day of a reinstatement the doctor may prescribe again.
  A revocation a later revision of the list no longer makes (``withdrawn_at``) is void: it never took
  effect. So the same data and commands give the same flags whatever day they run.
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
                   '医师 ' || r.doctor_code || ' 的医保定岗医师资格自 ' || v.effective
                   || ' 起取消（' || v.month || ' 公示名单），开方日 ' || r.rx_date || ' 尚未恢复' AS piece
            FROM temp.audit_rx r JOIN (
                SELECT doctor_code, month,
                       coalesce(effective_date, date(month || '-01', '+1 month')) AS effective,
                       coalesce(reinstated_on, substr(reinstated_at, 1, 10)) AS reinstated
                FROM revocations WHERE withdrawn_at IS NULL) v ON v.doctor_code = r.doctor_code
            WHERE v.effective <= r.rx_date
              AND (v.reinstated IS NULL OR v.reinstated > r.rx_date)
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
            description="医保定岗医师资格已被公示名单取消（自生效日起、恢复之前）或医师名册标记无定岗资格的医师开具的门规处方。",
            run=run,
            note_hint="例如：资格恢复后名册未及时更新",
        )
    )
