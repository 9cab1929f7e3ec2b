"""Datasette's own pages speak Chinese through template overrides (datasette_metadata/templates/), not by
rewriting HTML: the site's ASGI guard passes page bodies through untouched, and the pages Datasette renders
(query, canned query, database, table, row, log-out, home, messages, footer) carry the templates' words."""

import asyncio
import hashlib
import json
import re
from pathlib import Path
from urllib.parse import quote_plus

import datasette
import pytest

from mengui_core.demo.story import run_demo
from mengui_datasette.server import TEMPLATES, make_datasette
from mengui_datasette.sessions import session_cookie
from mengui_datasette.users import add_user

PASSWORD = "correct-horse-9"
DEFAULT_TEMPLATES = Path(datasette.__file__).parent / "templates"


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    run = run_demo(tmp_path_factory.mktemp("templates"), months=2)
    add_user(run.db_path, "zhangwei", PASSWORD, "committee", "张伟")
    add_user(run.db_path, "it-admin", PASSWORD, "admin", "信息科")
    return make_datasette(run.db_path)


@pytest.fixture(scope="module")
def member(ds):
    site = ds._mengui_site
    return {"ds_actor": session_cookie(ds, site.users.get("zhangwei"), site.users.secret)}


@pytest.fixture(scope="module")
def admin(ds):
    """An admin keeps Datasette's own tools (SQL, row counts, table and column names); a committee member
    and the public get every page in plain Chinese (issue 17)."""
    site = ds._mengui_site
    return {"ds_actor": session_cookie(ds, site.users.get("it-admin"), site.users.secret)}


def get(ds, path, cookies=None):
    response = asyncio.run(ds.client.get(path, cookies=cookies or {}))
    assert response.status_code == 200, (path, response.status_code)
    return response.text


# ---------------------------------------------------------------- the guard changes no page


# Every fragment of Datasette 0.65's English the site used to rewrite with regular expressions.
ENGLISH_PAGE = """<!DOCTYPE html><html><head><title>mengui: SELECT 1</title></head><body>
<form class="sql"><h3>Custom SQL query returning more than 1,000 rows <span class="show-hide-sql">(<a href="/x">hide</a>)</span></h3>
<h3>Custom SQL query returning 2 rows (<a href="/y">show</a>)</h3><h3>Query parameters</h3>
<p><label for="qp1">month</label> <input type="text" id="qp1" name="month" value=""></p>
<p><label for="qp2">doctor_code</label><label for="qp3">verdict</label><label for="qp4">note</label></p>
<button id="sql-format" type="button" hidden>Format SQL</button><input type="submit" value="Run SQL">
<a href="/e" class="canned-query-edit-sql">Edit SQL</a></form>
<p class="export-links">This data as <a href="/j">json</a>, <a href="/c">CSV</a></p>
<p class="zero-results">0 results</p><p class="message-info">Query executed, 1 row affected</p>
<button class="button-as-link">Log out</button><input type="submit" value="Log out">
<footer class="ft">Powered by <a href="https://datasette.io/" title="Datasette v0.65.5">Datasette</a>
&middot; Queries took 1.234ms</footer></body></html>"""


def through_guard(ds, body: bytes, content_type: bytes, path: str = "/mengui/pending_reviews"):
    """What the site sends for a response of the app behind its ASGI middleware (mengui's guard and
    whatever else a plugin's asgi_wrapper hook adds, wrapped as Datasette wraps them): (start, body)."""
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body[:100], "more_body": True})
        await send({"type": "http.response.body", "body": body[100:]})

    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": [], "scheme": "http"}
    from datasette.plugins import pm

    wrapped = app
    for wrapper in pm.hook.asgi_wrapper(datasette=ds):
        wrapped = wrapper(wrapped)
    asyncio.run(wrapped(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_the_guard_passes_page_bodies_through_byte_for_byte(ds):
    """If HTML translation by regular expressions came back into the guard, this page would change."""
    body = ENGLISH_PAGE.encode("utf-8")
    start, sent = through_guard(ds, body, b"text/html; charset=utf-8")
    assert sent == body
    headers = dict(start["headers"])
    assert headers[b"x-frame-options"] == b"DENY" and headers[b"x-content-type-options"] == b"nosniff"
    assert headers[b"content-length"] == str(len(body)).encode()
    # JSON answers too
    answer = json.dumps({"rows": [["Log out", "Powered by"]], "message": "Query executed, 1 row affected"}).encode()
    assert through_guard(ds, answer, b"application/json")[1] == answer


def test_the_guard_still_does_what_it_is_for(ds):
    """Not translation: SQLite's English errors in Chinese, and formula-like CSV cells neutralised."""
    start, sent = through_guard(ds, b"<p class='message-error'>database is locked</p>", b"text/html; charset=utf-8")
    assert b"database is locked" not in sent and re.search("[\u4e00-\u9fff]", sent.decode("utf-8"))
    assert dict(start["headers"])[b"content-length"] == str(len(sent)).encode()
    _, csv = through_guard(ds, b"a,b\r\n=1+1,x\r\n", b"text/plain; charset=utf-8", path="/mengui/flags.csv")
    assert csv == b"a,b\r\n'=1+1,x\r\n"


# ---------------------------------------------------------------- the templates speak Chinese


ENGLISH = ("Custom SQL query", "Query parameters", "Run SQL", "Format SQL", "Edit SQL", "This data as",
           "0 results", "0 records", "Log out", "Powered by", "Queries took", "Query executed", ">hide<", ">show<",
           "Advanced export", "Next page", "rows in", "Queries</h2>", "Tables</h2>")


def english_in(html: str) -> list[str]:
    return [word for word in ENGLISH if word in html]


def test_a_canned_query_page(ds, member, admin):
    rows = len(json.loads(get(ds, "/mengui/pending_reviews.json?_shape=array", member)))
    # a committee member: what the query answers, in their words; no SQL, no "rows"
    html = get(ds, "/mengui/pending_reviews", member)
    assert not english_in(html), english_in(html)
    assert rows > 0 and f"<h3>共 {rows} 条</h3>" in html
    for words in ('<label for="qp1">月份（YYYY-MM）</label>', 'name="month"', 'value="查询"',
                  '<p class="export-links">下载：', "表格文件（CSV，可用 Excel 打开）", "退出登录", "基于 <a",
                  "查询用时 ", " 毫秒", '<title id="nav-menu-svg-title">菜单</title>'):
        assert words in html, words
    for words in ("SQL", " 行", "查询结果", "<h3>查询条件</h3>"):
        assert words not in html, words
    assert "SQL" not in get(ds, "/mengui/pending_reviews?_show_sql=1", member)
    # the browser's title is the query's title, not its SQL
    assert re.search(r"<title>(.*?)</title>", html).group(1) == "本月待审核处方"
    # an admin keeps Datasette's tools, in Chinese
    html = get(ds, "/mengui/pending_reviews", admin)
    assert not english_in(html), english_in(html)
    for words in (f"查询结果：{rows} 行", "<h3>查询条件</h3>", ">显示 SQL</a>", ">编辑 SQL</a>",
                  '<p class="export-links">导出：'):
        assert words in html, words
    assert ">隐藏 SQL</a>" in get(ds, "/mengui/pending_reviews?_show_sql=1", admin)


def test_every_canned_query_field_is_labelled_in_chinese(ds, member):
    labels = {"doctor_flags": ["医师代码或姓名", "月份（YYYY-MM）"],
              "record_verdict": ["处方号", "规则编号", "结论（不合理 / 合理）", "审核意见"]}
    for query, expected in labels.items():
        html = get(ds, f"/mengui/{query}", member)
        found = re.findall(r'<label for="qp\d+">([^<]*)</label>', html)
        assert found == expected, (query, found)
    assert 'value="提交"' in get(ds, "/mengui/record_verdict", member)  # a write query's button


def test_an_empty_answer_and_a_long_one(ds, member, admin):
    empty = get(ds, "/mengui/doctor_flags?doctor_code=nobody", member)
    assert '<p class="zero-results">没有记录</p>' in empty and not english_in(empty)
    sql = "with recursive c(x) as (select 1 union all select x + 1 from c where x < 1500) select x from c"
    long = get(ds, "/mengui?sql=" + quote_plus(sql), admin)
    assert "查询结果：超过 1,000 行" in long and ">格式化 SQL</button>" in long and not english_in(long)
    one = get(ds, "/mengui?sql=select+1", admin)
    assert "查询结果：1 行" in one


def test_the_database_page(ds, member, admin):
    # a committee member: the queries and tables by their titles, each with what it holds
    html = get(ds, "/mengui", member)
    assert not english_in(html), english_in(html)
    for words in ('<h2 id="queries">常用查询</h2>', '<h2 id="tables">数据表</h2>', ">本月待审核处方</a>",
                  ">审核标记</a>", ">门规处方</a>"):
        assert words in html, words
    for words in ("SQL", "<h3>查询</h3>", " 行", ">flags</a>", ">prescriptions</a>", "🔒"):
        assert words not in html, words
    # an admin: Datasette's database page, in Chinese
    html = get(ds, "/mengui", admin)
    assert not english_in(html), english_in(html)
    for words in ("<h3>查询</h3>", ">格式化 SQL</button>", 'value="查询"', '<h2 id="queries">常用查询</h2>',
                  '<h2 id="tables">数据表</h2>', '<h2 id="views">视图</h2>'):
        assert words in html, words


def test_a_table_page_and_a_row_page(ds, member, admin):
    html = get(ds, "/mengui/flags?_size=5", member)
    assert not english_in(html), english_in(html)
    for words in ('<p class="export-links">下载：', ">下一页</a>", "<title>审核标记</title>", ">处方号</a>",
                  ">规则编号</a>", "超限额处方"):
        assert words in html, words
    for words in (" 行", "SQL", ">rx_id", ">check_id", "高级导出", "可按列分组统计："):
        assert words not in html, words
    # small screens show each value's column label beside it: in Chinese too
    assert '.rows-and-columns td:nth-of-type(1):before { content: "详情"; }' in html  # Datasette's Link column
    assert '.rows-and-columns td:nth-of-type(2):before { content: "处方号"; }' in html
    html = get(ds, "/mengui/flags?_size=5", admin)
    assert not english_in(html), english_in(html)
    for words in ('<p class="export-links">导出：', ">高级导出</a>", "<h3>高级导出</h3>", ">下一页</a>",
                  'value="应用"', 'value="导出 CSV"', "可按列分组统计："):
        assert words in html, words
    assert re.search(r"<title>审核标记：[\d,]+ 行 sorted by rx_date descending</title>", html)
    empty = get(ds, "/mengui/flags?rx_id=nothing", member)
    assert '<p class="zero-results">没有记录</p>' in empty
    # an anonymous visitor of the raw list table is sent to the list page made for reading (issue 16)
    assert asyncio.run(ds.client.get("/mengui/disclosures")).headers["location"] == "/-/list"
    public = get(ds, "/-/list")
    assert not english_in(public) and "公示医师代码" in public
    table = get(ds, "/mengui/disclosures", member)  # the committee still sees the table
    assert not english_in(table) and '<p class="export-links">下载：' in table
    doctor = json.loads(get(ds, "/mengui/doctors.json?_shape=array&_size=1", member))[0]["doctor_code"]
    row = get(ds, f"/mengui/doctors/{doctor}", member)
    assert f"医师名册：{doctor}" in row and not english_in(row) and ">doctors<" not in row
    row = get(ds, f"/mengui/doctors/{doctor}", admin)
    assert '<p class="export-links">导出：' in row and not english_in(row)


def test_the_home_page_the_log_out_page_and_datasettes_messages(ds, member, admin):
    home = get(ds, "/")
    assert not english_in(home) and "委员登录" in home
    # the rules, in the numbers of the ruleset the newest month was audited with
    assert "审核规则" in home and "超限额处方" in home and "150.00 元" in home and "300.00 元" in home
    home = get(ds, "/", member)
    assert not english_in(home) and "个数据表" not in home and "待审核处方" in home
    home = get(ds, "/", admin)
    assert not english_in(home) and re.search(r"\d+ 个数据表", home) and "个视图" in home
    logout = get(ds, "/-/logout", member)
    assert "<h1>退出登录</h1>" in logout and 'value="退出登录"' in logout and not english_in(logout)
    # the messages Datasette writes itself: after a write query without on_success_message, after logging out
    for message, words in (("Query executed, 1 row affected", "已执行，影响 1 行"),
                           ("Query executed, 3 rows affected", "已执行，影响 3 行"),
                           ("You are now logged out", "已退出登录")):
        page = get(ds, "/", {**member, "ds_messages": ds.sign([[message, ds.INFO]], "messages")})
        assert words in page and message not in page, message


def test_the_sites_connections_speak_the_vocabulary(ds, admin):
    """prepare_connection registers mengui_core.labels' SQL functions on every connection of the site."""
    sql = "select mg_label('status', 'monitoring') as s, mg_label('appeal', 'upheld') as a, mg_yuan(123456789) as y"
    answer = json.loads(get(ds, "/mengui.json?_shape=array&sql=" + quote_plus(sql), admin))
    assert answer == [{"s": "监测（不计入）", "a": "复审维持不合理", "y": "1,234,567.89"}]


# ---------------------------------------------------------------- the overrides follow Datasette's own

# The Datasette templates (0.65.5) that datasette_metadata/templates/ overrides, as they were when the
# overrides were written. When Datasette changes one, compare our copy with the new one, then update here.
DATASETTE_TEMPLATES = {
    "base.html": "bb22df33caea147e1db3b238878f2716ab698c81be89a66d9dabd5649e899dc2",
    "_crumbs.html": "882c9d69e13363b440d4b977d432ae7287548d53e71ca199327c1acece3c9c81",
    "_footer.html": "d190d9e7dc5046c1bdfb2b738c60754143eab44fdbae2d9a74e7b8f1aa2cf44b",
    "_table.html": "f75a8872713f28fdce49b9a44a397f26ba1b5db5e82a74dda1f20ec14faaaa57",
    "_suggested_facets.html": "da43051a548a47be72a74513d45e7a4fba4fd5e89d49b29fc48b0b306000f20f",
    "_facet_results.html": "622d3c764aa14f17f07714af7bbdee5719adfbce9cce5358fd3df3e2df137f30",
    "index.html": "ed57b14bb5656bcdb133170a1d3aa2e2c71255662b1b0ecce7a86dc8a9406294",
    "database.html": "4fd5e97823bb5380b54c4f4f5285f07d1db74e366ef6225aa46dddfcf5b2c88a",
    "query.html": "bc3559df0e209da97d0bb46d0da5e36e02a9a561e4e473d1b79f62776786b435",
    "table.html": "81cec4b0f7948bf0b4756b1a0ce706ce30d5694e506fd5639f3cd08a4a8f88a9",
    "row.html": "ff5dde41541c39dd09f1dee1bbb3e4e58e8487775b17e1c9650bd558eb1b5a17",
    "logout.html": "a9ddc5d5473cf85eae77bc4f52c76fe2e77bee601e9439f95d063ded653907ed",
}


def test_every_override_names_a_datasette_template_we_compared_it_with():
    ours = {p.name for p in TEMPLATES.glob("*.html")}
    mengui_own = {"mengui_dashboard.html", "mengui_message.html", "mengui_review.html", "mengui_list.html",
                  "mengui_list_state.html", "mengui_pending.html", "mengui_doctor.html", "mengui_doctor_find.html",
                  "_mengui_macros.html", "password_login.html"}  # (the last one: datasette-auth-passwords' login page, served by mengui)
    assert ours - mengui_own == set(DATASETTE_TEMPLATES)
    changed = {name: hashlib.sha256((DEFAULT_TEMPLATES / name).read_bytes()).hexdigest()
               for name in DATASETTE_TEMPLATES}
    changed = {name: digest for name, digest in changed.items() if digest != DATASETTE_TEMPLATES[name]}
    assert not changed, ("Datasette's own templates changed: compare datasette_metadata/templates/ with them", changed)
