"""The committee's Datasette: permissions, review page, verdict round trip, no patient identity for anonymous visitors."""

import asyncio
import json
import re
import sqlite3

import pytest

from mengui_core.demo.story import run_demo
from mengui_datasette.server import make_datasette
from mengui_datasette.sessions import session_cookie
from mengui_datasette.users import add_user, users_path

PASSWORD = "correct-horse-9"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    run = run_demo(tmp_path_factory.mktemp("site"), months=2)
    add_user(run.db_path, "zhangwei", PASSWORD, "committee", "张伟")
    add_user(run.db_path, "it-admin", PASSWORD, "admin", "信息科")
    return run


@pytest.fixture(scope="module")
def ds(demo):
    return make_datasette(demo.db_path)


def actor_cookie(ds, actor) -> str:
    """A session cookie for ``actor``: under `mengui serve` a real session of the user of that name
    (a self-signed one is refused), under a plain Datasette Datasette's own cookie."""
    site = getattr(ds, "_mengui_site", None)
    if site is None or site.users is None:
        return ds.sign({"a": actor}, "actor")
    return session_cookie(ds, site.users.get(actor["id"]), site.users.secret)


def get(ds, path, actor=None, **kwargs):
    cookies = {"ds_actor": actor_cookie(ds, actor)} if actor else {}
    return asyncio.run(ds.client.get(path, cookies=cookies, **kwargs))


def post(ds, path, data, cookies):
    return asyncio.run(ds.client.post(path, data=data, cookies=cookies))


COMMITTEE = {"id": "zhangwei", "name": "张伟", "role": "committee"}
ADMIN = {"id": "it-admin", "name": "信息科", "role": "admin"}


def patient_identities(db_path):
    """Every patient id and name, except names some published doctor also bears (the demo reuses names)."""
    conn = sqlite3.connect(db_path)
    rows = conn.execute("SELECT DISTINCT patient_id, patient_name FROM prescriptions").fetchall()
    doctors = {r[0] for r in conn.execute("SELECT doctor_name FROM doctors")}
    return {v for row in rows for v in row if v and v not in doctors}


PRIVATE_PATHS = [
    "/mengui/prescriptions", "/mengui/prescriptions.json", "/mengui/prescriptions.csv",
    "/mengui/flags.json", "/mengui/flag_status.json", "/mengui/certifications.json", "/mengui/rx_items.json",
    "/mengui/claims.json", "/mengui/verdicts.json", "/mengui/verdict_history.json", "/mengui/doctors.json",
    "/mengui/pending_reviews.json", "/mengui/doctor_flags.json?doctor_code=YS0104", "/mengui/over_cap.json",
    "/mengui/same_effect_pairs.json", "/mengui/ladder_state.json",
    "/mengui/deductions.json", "/mengui/deduction_attribution.json", "/mengui/deductions_by_doctor",
    "/mengui/deductions_by_doctor.json", "/mengui/deductions_by_doctor.csv?month=",
    "/mengui/appeals", "/mengui/appeals.json", "/mengui/appeal_reviews.json", "/mengui/appeals_overview",
    "/mengui/appeals_overview.json", "/mengui/record_second_review",
    "/mengui.json?sql=select+*+from+appeals", "/mengui.json?sql=select+*+from+deduction_attribution",
    "/mengui.json", "/mengui.json?sql=select+patient_id,patient_name+from+prescriptions",
    "/mengui?sql=select+*+from+prescriptions", "/mengui.db", "/-/dashboard.json",
]


@pytest.mark.parametrize("path", PRIVATE_PATHS)
def test_anonymous_visitors_cannot_reach_row_level_data(ds, path):
    response = get(ds, path)
    assert response.status_code in (302, 403, 404), (path, response.status_code)


def test_nothing_an_anonymous_visitor_can_open_contains_a_patient_identity(ds, demo):
    identities = patient_identities(demo.db_path)
    assert len(identities) > 1000
    public = ["/", "/mengui/disclosures", "/mengui/disclosures.json?_shape=array&_size=max",
              "/mengui/disclosures.csv?_size=max", "/mengui/checks.json", "/mengui/monthly_statistics.json",
              "/mengui/department_statistics.json", "/-/metadata.json", "/-/databases.json"]
    for path in public:
        response = get(ds, path)
        body = response.text
        leaked = [i for i in identities if i in body]
        assert not leaked, (path, leaked[:3])
    assert get(ds, "/mengui/disclosures.json").status_code == 200
    assert get(ds, "/mengui/monthly_statistics.json").status_code == 200


def test_password_hashes_are_never_served(ds, demo):
    hashed = sqlite3.connect(users_path(demo.db_path)).execute("SELECT password_hash FROM users").fetchone()[0]
    for actor in (None, COMMITTEE):
        for path in ("/-/metadata.json", "/-/databases.json", "/mengui.json?sql=select+name+from+sqlite_master",
                     "/-/plugins.json", "/-/settings.json"):
            assert hashed not in get(ds, path, actor).text
    assert get(ds, "/-/metadata.json").status_code == 403  # committee account names stay private too


def test_committee_members_see_everything_and_admins_alone_run_sql(ds):
    for path in ["/mengui/prescriptions.json", "/mengui/flags.json", "/mengui/pending_reviews.json", "/-/dashboard",
                 "/-/pending", "/-/doctor"]:
        assert get(ds, path, COMMITTEE).status_code == 200, path
    # arbitrary SQL is an admin's tool (issue 17): committee members read the canned queries and pages
    sql = "/mengui.json?sql=select+count(*)+from+prescriptions"
    assert get(ds, sql, COMMITTEE).status_code == 403
    assert get(ds, sql, ADMIN).status_code == 200


def test_only_committee_members_can_write(ds, demo):
    conn = sqlite3.connect(demo.db_path)
    rx_id, check_id = conn.execute("SELECT rx_id, check_id FROM flag_status WHERE status = 'pending'").fetchone()
    page = get(ds, "/mengui/record_verdict")
    assert page.status_code in (302, 403)
    token = get(ds, "/-/login").cookies.get("ds_csrftoken")
    response = post(ds, "/mengui/record_verdict",
                    {"rx_id": rx_id, "check_id": check_id, "verdict": "不合理", "note": "x", "csrftoken": token},
                    {"ds_csrftoken": token})
    assert response.status_code == 403
    assert conn.execute("SELECT count(*) FROM verdicts WHERE rx_id = ? AND check_id = ?", (rx_id, check_id)).fetchone()[0] == 0


def test_csrf_protection_stays_on(ds, demo):
    conn = sqlite3.connect(demo.db_path)
    rx_id, check_id = conn.execute("SELECT rx_id, check_id FROM flag_status WHERE status = 'pending'").fetchone()
    cookies = {"ds_actor": actor_cookie(ds, COMMITTEE)}
    response = post(ds, "/mengui/record_verdict", {"rx_id": rx_id, "check_id": check_id, "verdict": "合理"}, cookies)
    assert response.status_code == 403
    assert conn.execute("SELECT count(*) FROM verdicts WHERE rx_id = ? AND check_id = ?", (rx_id, check_id)).fetchone()[0] == 0


def test_review_round_trip_through_login_review_page_and_canned_query(ds, demo):
    # log in with the real form
    login = get(ds, "/-/login")
    assert "药事委员会委员登录" in login.text
    token = login.cookies.get("ds_csrftoken")
    bad = post(ds, "/-/login", {"username": "zhangwei", "password": "wrong", "csrftoken": token}, {"ds_csrftoken": token})
    assert "用户名或密码错误" in bad.text
    ok = post(ds, "/-/login", {"username": "zhangwei", "password": PASSWORD, "csrftoken": token}, {"ds_csrftoken": token})
    assert ok.status_code == 302
    cookies = {"ds_actor": ok.cookies.get("ds_actor"), "ds_csrftoken": token}

    conn = sqlite3.connect(demo.db_path)
    rx_id, check_id, patient = conn.execute(
        "SELECT rx_id, check_id, patient_id FROM flag_status WHERE status = 'pending' AND check_id = 'amount_cap' "
        "ORDER BY rx_id").fetchone()
    pending = asyncio.run(ds.client.get("/mengui/pending_reviews", cookies=cookies))
    assert f"/-/review/{rx_id}/{check_id}" in pending.text and "去审核" in pending.text

    page = asyncio.run(ds.client.get(f"/-/review/{rx_id}/{check_id}", cookies=cookies))
    assert page.status_code == 200
    html = page.text
    drugs = [r[0] for r in conn.execute("SELECT drug_name FROM rx_items WHERE rx_id = ?", (rx_id,))]
    assert all(drug in html for drug in drugs)                        # the prescription with its items
    assert patient in html                                           # who the patient is (committee only)
    assert "参保人门规认定" in html
    names = [r[0] for r in conn.execute(
        "SELECT disease_code FROM certifications WHERE patient_id = ?", (patient,))]
    assert names and all(code in html for code in names)              # certified diseases by code
    assert any(name in html for name in ("高血压病", "糖尿病", "冠心病"))  # ... and by name
    assert "限额" in html and "超出" in html                          # the cap and the excess
    form_token = re.search(r'name="csrftoken" value="([^"]+)"', html).group(1)

    done = asyncio.run(ds.client.post("/mengui/record_verdict", cookies=cookies, data={
        "rx_id": rx_id, "check_id": check_id, "verdict": "不合理", "note": "分解处方", "csrftoken": form_token}))
    assert done.status_code == 302
    row = conn.execute("SELECT verdict, reviewer, note, source FROM verdicts WHERE rx_id = ? AND check_id = ?",
                       (rx_id, check_id)).fetchone()
    assert row == ("unreasonable", "zhangwei", "分解处方", "datasette")
    assert conn.execute("SELECT count(*) FROM verdict_history WHERE rx_id = ? AND check_id = ?",
                        (rx_id, check_id)).fetchone()[0] == 1
    after = asyncio.run(ds.client.get(f"/-/review/{rx_id}/{check_id}", cookies=cookies))
    assert "当前结论：<strong>不合理</strong>" in after.text


def test_anonymous_review_page_redirects_to_login(ds, demo):
    rx_id, check_id = sqlite3.connect(demo.db_path).execute("SELECT rx_id, check_id FROM flags").fetchone()
    response = get(ds, f"/-/review/{rx_id}/{check_id}")
    assert response.status_code == 302 and response.headers["location"].endswith("/-/login")


def test_duplicate_review_page_shows_the_other_prescription(ds, demo):
    conn = sqlite3.connect(demo.db_path)
    rx_id, related = conn.execute(
        "SELECT rx_id, related_rx_id FROM flags WHERE check_id = 'duplicate_drug' AND related_rx_id != rx_id").fetchone()
    html = get(ds, f"/-/review/{rx_id}/duplicate_drug", COMMITTEE).text
    assert "在先处方" in html and related in html
    # the days still in hand, the tolerance, the excess and the earliest on-time date, laid out
    evidence = json.loads(conn.execute("SELECT evidence FROM flags WHERE rx_id = ? AND check_id = 'duplicate_drug'",
                                       (rx_id,)).fetchone()[0])
    first = evidence[0]
    table = html[html.index('class="mg mg-overlaps"'):]
    table = table[:table.index("</table>")]
    for text in ("尚余天数", "可提前（容差）", "最早可再开", f"<strong>{first['days_left']} 天</strong>",
                 f"{first['tolerance_days']} 天", f"{first['excess_days']} 天", first["earliest_date"], first["rx_id"]):
        assert text in table, text


def legend_colours(html: str) -> dict[str, str]:
    """label → fill of every chart legend entry on a page."""
    return dict((label, fill) for fill, label in re.findall(
        r'<g class="legend-item"><rect [^>]*fill="([^"]+)"[^>]*/><text [^>]*>([^<]+)</text></g>', html))


def test_the_report_and_the_dashboard_give_each_check_one_colour(ds, demo):
    from mengui_core.db.schema import connect
    from mengui_core.outputs.report import render_month_report
    from mengui_core.plugins import get_checks

    titles = {c.id: c.title for c in get_checks().values()}
    conn = connect(demo.db_path)
    report = legend_colours(render_month_report(conn, demo.months[-1], titles))
    conn.close()
    dashboard = legend_colours(get(ds, "/-/dashboard", COMMITTEE).text)
    shared = set(report) & set(dashboard) & set(titles.values())
    assert len(shared) >= 4, (report, dashboard)
    assert {t: report[t] for t in shared} == {t: dashboard[t] for t in shared}
    # and each check its own: the built-in checks' colours are told apart
    assert len({report[t] for t in shared}) == len(shared)


def test_dashboard_draws_charts_for_the_committee(ds):
    html = get(ds, "/-/dashboard", COMMITTEE).text
    assert html.count("<svg") >= 2 and "公示阶梯现状" in html
    assert "一级" in html and "公示医师代码" in html


def test_the_committee_pages_speak_chinese(ds):
    html = get(ds, "/mengui/pending_reviews", COMMITTEE).text
    for english in ("Run SQL", "Query parameters", "This data as", "Custom SQL query", "Log out", "Powered by"):
        assert english not in html, english
    assert "退出登录" in html and "基于" in html and "SQL" not in html
    assert ">月份（YYYY-MM）</label>" in html and 'name="month"' in html


def test_committee_sees_deductions_per_doctor(ds, demo):
    page = get(ds, "/mengui/deductions_by_doctor?month=", COMMITTEE)
    assert page.status_code == 200
    assert "医保扣款（按开方医师）" in page.text and "合计" in page.text and "未归属" in page.text
    rows = get(ds, "/mengui/deductions_by_doctor.json?month=&_shape=array", COMMITTEE).json()
    total = sqlite3.connect(demo.db_path).execute("SELECT sum(amount_fen) FROM deductions").fetchone()[0]
    assert rows[-1]["医师代码"] == "合计" and rows[-1]["金额（元）"] == f"{total // 100}.{total % 100:02d}"
    assert get(ds, "/mengui/deduction_attribution.json", COMMITTEE).status_code == 200


def test_anonymous_visitors_see_nothing_of_appeals_or_deductions(ds, demo):
    conn = sqlite3.connect(demo.db_path)
    reasons = [r[0] for r in conn.execute("SELECT reason FROM appeals")]
    assert reasons
    for path in ("/", "/mengui", "/mengui/disclosures", "/mengui/disclosures.json?_shape=array&_size=max",
                 "/mengui/monthly_statistics.json", "/mengui/department_statistics.json", "/-/databases.json"):
        body = get(ds, path).text
        assert not any(reason in body for reason in reasons), path
        assert "申诉" not in body and "扣款" not in body, path
    token = get(ds, "/-/login").cookies.get("ds_csrftoken")
    rx_id, check_id = conn.execute("SELECT rx_id, check_id FROM appeals WHERE status = 'pending'").fetchone()
    response = post(ds, "/mengui/record_second_review",
                    {"rx_id": rx_id, "check_id": check_id, "verdict": "合理", "csrftoken": token},
                    {"ds_csrftoken": token})
    assert response.status_code == 403
    assert conn.execute("SELECT status FROM appeals WHERE rx_id = ?", (rx_id,)).fetchone()[0] == "pending"


def test_committee_sees_appeals_and_records_the_second_review(ds, demo):
    conn = sqlite3.connect(demo.db_path)
    overview = get(ds, "/mengui/appeals_overview?month=", COMMITTEE)
    assert overview.status_code == 200
    assert 'class="mg-appeal-pending"' in overview.text  # pending appeals are highlighted
    assert "复审改判合理" in overview.text  # (复审维持不合理: below, once the pending appeal is upheld)
    assert overview.text.index("申诉中（待复审）") < overview.text.index("复审改判合理")  # pending first

    # an overturned appeal: the review page shows the first verdict, the appeal and the 复审, and no form
    rx_done, check_done, first_reviewer = conn.execute(
        "SELECT rx_id, check_id, first_reviewer FROM appeals WHERE status = 'overturned'").fetchone()
    html = get(ds, f"/-/review/{rx_done}/{check_done}", COMMITTEE).text
    assert "最终结论（复审）：<strong>合理</strong>" in html and "复审改判合理" in html
    assert "复审：合理" in html and first_reviewer in html and "审核历史" in html
    assert "record_second_review" not in html and "record_verdict" not in html

    # the pending one: the 复审 form, posted as the logged-in member
    rx_id, check_id = conn.execute("SELECT rx_id, check_id FROM appeals WHERE status = 'pending'").fetchone()
    login = get(ds, "/-/login")
    token = login.cookies.get("ds_csrftoken")
    ok = post(ds, "/-/login", {"username": "zhangwei", "password": PASSWORD, "csrftoken": token},
              {"ds_csrftoken": token})
    cookies = {"ds_actor": ok.cookies.get("ds_actor"), "ds_csrftoken": token}
    page = asyncio.run(ds.client.get(f"/-/review/{rx_id}/{check_id}", cookies=cookies))
    assert "申诉中（待复审）" in page.text and "/record_second_review" in page.text
    form_token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
    done = asyncio.run(ds.client.post("/mengui/record_second_review", cookies=cookies, data={
        "rx_id": rx_id, "check_id": check_id, "verdict": "不合理", "note": "维持", "csrftoken": form_token}))
    assert done.status_code == 302
    row = conn.execute("SELECT status, second_verdict, second_reviewer, second_note FROM appeals WHERE rx_id = ?",
                       (rx_id,)).fetchone()
    assert row == ("upheld", "unreasonable", "zhangwei", "维持")
    assert "复审维持不合理" in get(ds, "/mengui/appeals_overview?month=", COMMITTEE).text
    history = conn.execute("SELECT verdict, previous_verdict, reviewer FROM verdict_history "
                           "WHERE rx_id = ? AND check_id = ? ORDER BY id", (rx_id, check_id)).fetchall()
    assert history[-1] == ("unreasonable", "unreasonable", "zhangwei") and len(history) >= 2
    # a second 复审 is refused with the trigger's Chinese message, and nothing changes
    again = asyncio.run(ds.client.post("/mengui/record_second_review", cookies=cookies, data={
        "rx_id": rx_id, "check_id": check_id, "verdict": "合理", "note": "", "csrftoken": form_token, "_json": "1"}))
    assert again.json()["ok"] is False and "不能再次复审" in again.json()["message"]
    # a 复审 of a flag nobody appealed is refused too
    other = conn.execute("SELECT rx_id, check_id FROM flags WHERE rx_id NOT IN (SELECT rx_id FROM appeals)").fetchone()
    refused = asyncio.run(ds.client.post("/mengui/record_second_review", cookies=cookies, data={
        "rx_id": other[0], "check_id": other[1], "verdict": "合理", "note": "", "csrftoken": form_token, "_json": "1"}))
    assert refused.json()["ok"] is False and "没有申诉" in refused.json()["message"]
    assert conn.execute("SELECT status FROM appeals WHERE rx_id = ?", (rx_id,)).fetchone()[0] == "upheld"


def test_a_plain_datasette_keeps_patient_identity_from_anonymous_visitors(demo):
    """`datasette mengui.db` without mengui's metadata: the plugin still guards the data."""
    from datasette.app import Datasette

    from mengui_datasette.server import ensure_plugins

    ensure_plugins()  # what Datasette's entry points do outside the tests
    plain = Datasette([str(demo.db_path)])
    for path in ("/mengui/prescriptions.json", "/mengui/flags.json", "/mengui/certifications.json",
                 "/mengui.json?sql=select+patient_id,patient_name+from+prescriptions", "/mengui.db"):
        assert get(plain, path).status_code == 403, path
    listed = get(plain, "/mengui/disclosures.json?_shape=array")
    assert listed.status_code == 200 and listed.json()
    identities = patient_identities(demo.db_path)
    for path in ("/", "/mengui", "/mengui/disclosures"):
        page = get(plain, path, follow_redirects=True)  # the raw list table: to the list page (/-/list)
        assert page.status_code == 200 and not [i for i in identities if i in page.text], path
    # a committee member who signs in sees everything, as under `mengui serve`
    assert get(plain, "/mengui/prescriptions.json", actor=COMMITTEE).status_code == 200


def test_times_show_in_beijing_sources_as_file_names_and_logins_as_names(ds, demo, tmp_path):
    conn = sqlite3.connect(demo.db_path)
    rx_id, check_id = conn.execute("SELECT rx_id, check_id FROM flag_status WHERE status = 'pending' "
                                   "ORDER BY rx_id").fetchone()
    with conn:
        conn.execute("INSERT INTO verdicts (rx_id, check_id, verdict, reviewer, reviewed_at, note, source) "
                     "VALUES (?, ?, 'reasonable', 'zhangwei', '2026-11-30T12:26:36+00:00', '有说明', ?)",
                     (rx_id, check_id, str(tmp_path / "secret" / "committee" / "verdicts-2026-10.csv")))
    page = get(ds, f"/-/review/{rx_id}/{check_id}", COMMITTEE).text
    assert "2026-11-30 20:26" in page and "12:26" not in page          # 20:26 Beijing time, not UTC
    assert "张伟" in page and "verdicts-2026-10.csv" in page and str(tmp_path) not in page
    table = get(ds, f"/mengui/verdicts?rx_id={rx_id}", COMMITTEE).text
    assert "2026-11-30 20:26" in table and str(tmp_path) not in table and "张伟" in table
