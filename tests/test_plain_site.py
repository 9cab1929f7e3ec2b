"""Issue 17: no page a committee member or the public can reach shows database words — no SQL, no row
counts, no English table names, no "Log in". Crawled as an anonymous visitor and as a member, from the home
page and the committee's own pages, following every link of the site."""

import asyncio
import re
import sqlite3
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest

from mengui_core.demo.story import run_demo
from mengui_datasette.server import make_datasette
from mengui_datasette.sessions import session_cookie
from mengui_datasette.users import add_user

PASSWORD = "correct-horse-9"
MAX_PAGES = 400
# what is never a page to read: downloads, logging out, Datasette's raw views of itself
SKIP = re.compile(r"(\.(csv|json|xlsx|db)(\?|$))|^/-/(logout|static|static-plugins)|[?&]_(sort|sort_desc|facet_size|next)=")


class Text(HTMLParser):
    """A page's visible text (no scripts or styles) and its links."""

    def __init__(self):
        super().__init__()
        self.parts, self.links, self.hidden = [], [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.hidden += 1
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links.append(href)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    run = run_demo(tmp_path_factory.mktemp("plain"), months=2)
    add_user(run.db_path, "zhangwei", PASSWORD, "committee", "张伟")
    ds = make_datasette(run.db_path)
    conn = sqlite3.connect(run.db_path)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")]
    flag = conn.execute("SELECT rx_id, check_id, doctor_code FROM flags ORDER BY rx_id LIMIT 1").fetchone()
    conn.close()
    return ds, tables, flag


def crawl(ds, cookies, seeds):
    """Every page of the site reachable from ``seeds``: {path: visible text}."""
    seen, queue, pages = set(), list(seeds), {}

    async def fetch(path):
        return await ds.client.get(path, cookies=cookies)

    while queue and len(pages) < MAX_PAGES:
        path = queue.pop(0)
        if path in seen or SKIP.search(path):
            continue
        seen.add(path)
        response = asyncio.run(fetch(path))
        if response.status_code in (301, 302):
            target = urlsplit(response.headers["location"])
            queue.append(target.path + (f"?{target.query}" if target.query else ""))
            continue
        if "text/html" not in response.headers.get("content-type", ""):
            continue
        parser = Text()
        parser.feed(response.text)
        pages[path] = " ".join(parser.parts)
        for link in parser.links:
            link = urldefrag(urljoin("http://localhost" + path, link))[0]
            parts = urlsplit(link)
            if parts.netloc == "localhost":
                queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return pages


def database_words(text: str, tables: list[str]) -> list[str]:
    found = [w for w in ("SQL", "rows", "行数", "Log in", "Log out", "Link", "🔒") if w in text]
    found += re.findall(r"[\d,]+ 行(?!为|政)", text)
    # a table's name as a word (a file named after one, verdicts-2026-10.csv, is the file's name)
    found += [t for t in tables if re.search(rf"(?<![A-Za-z_./-]){re.escape(t)}(?![A-Za-z_./-])", text)]
    return found


def test_anonymous_visitors_read_no_database_words(site):
    ds, tables, _ = site
    pages = crawl(ds, {}, ["/", "/-/list", "/mengui/monthly_statistics", "/mengui/department_statistics",
                           "/mengui/checks", "/-/login"])
    assert len(pages) >= 6 and "/-/list" in pages
    problems = {path: words for path, text in pages.items() if (words := database_words(text, tables))}
    assert not problems, problems
    assert "委员登录" in pages["/"]


def test_committee_members_read_no_database_words(site):
    ds, tables, (rx_id, check_id, doctor) = site
    site_state = ds._mengui_site
    cookies = {"ds_actor": session_cookie(ds, site_state.users.get("zhangwei"), site_state.users.secret)}
    pages = crawl(ds, cookies, ["/", "/-/pending", f"/-/review/{rx_id}/{check_id}", f"/-/doctor/{doctor}",
                                "/-/doctor", "/-/dashboard", "/-/list", "/mengui"])
    # the crawl reached the committee's pages, Datasette's database, table, row and query pages
    for path in ("/-/pending", "/mengui", "/mengui/flags", "/mengui/pending_reviews", "/mengui/record_verdict"):
        assert path in pages, path
    assert any(p.startswith("/-/review/") for p in pages) and any(p.startswith("/-/doctor/") for p in pages)
    assert any(re.match(r"^/mengui/doctors/[^/?]+$", p) for p in pages), "a row page"
    assert len(pages) > 60
    problems = {path: words for path, text in pages.items() if (words := database_words(text, tables))}
    assert not problems, problems
