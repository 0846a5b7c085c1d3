"""`coach serve` as trainers and their teams use it: a real server process on a free port over
a real results database, read over HTTP and HTTPS and clicked through in headless Chromium.

The team's calls are tests/fixtures/teamdb.py's: three agents in two teams, known findings.
Tests that change the database (reviews, appeals, accounts) get a database of their own."""

from __future__ import annotations

import csv
import http.client
import io
import re
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import pytest

from coach.qa.store import Store
from tests.browser import chromium, console_errors
from tests.fixtures.reports import FORBIDDEN_AT, make_outcome
from tests.fixtures.teamdb import CUSTOMER_UNSURE, UNSURE_LINE, build_team_db
from tests.servers import postgres_server, self_signed_certificate
from tests.test_html import SCREENSHOTS, click, player_time, screenshot, stereo_call, _wait

ROOT = Path(__file__).resolve().parent.parent
PASSWORDS = {"lead": "head-of-qa-2026", "wang": "review-password-2", "A001": "agent-password-3",
             "A002": "agent-password-4"}
ROLES = {"lead": "admin", "wang": "reviewer", "A001": "agent", "A002": "agent"}


def coach(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coach.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          input=stdin, timeout=120)


def team_db(folder: Path, with_accounts: bool = False) -> Path:
    path = folder / "qa.db"
    build_team_db(str(path), folder, stereo_call(folder / "a001-1102.wav", 70.0))
    if with_accounts:
        for name, password in PASSWORDS.items():
            result = coach("users", "add", name, "--role", ROLES[name], "--db", str(path), "--password-stdin",
                           stdin=password + "\n")
            assert result.returncode == 0, result.stderr
    return path


class Server:
    """`coach serve` in a process of its own; ``request`` speaks HTTP(S) to it with a cookie jar."""

    def __init__(self, db: str | Path, *extra: str):
        self.process = subprocess.Popen([sys.executable, "-m", "coach.cli", "serve", "--db", str(db), "--port", "0",
                                         *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.banner = self.process.stdout.readline()
        match = re.search(r"(https?)://([\d.]+):(\d+)/", self.banner)
        assert match, self.banner + self.process.stderr.read()
        self.scheme, self.host, self.port = match.group(1), match.group(2), int(match.group(3))
        self.url = f"{self.scheme}://127.0.0.1:{self.port}/"
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
        if self.scheme == "https":
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30,
                                               context=ssl._create_unverified_context())
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = {"Host": f"127.0.0.1:{self.port}", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, quote(path, safe="/?=&%:+-"), body=body, headers=sent)
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                cookie, _, attributes = value.partition(";")
                key, _, token = cookie.partition("=")
                if "Max-Age=0" in attributes:
                    self.cookies.pop(key, None)
                else:
                    self.cookies[key] = token
        conn.close()
        return response.status, text, {k.lower(): v for k, v in response.getheaders()}

    def get(self, path: str) -> tuple[int, str]:
        status, text, _ = self.request("GET", path)
        return status, text

    def post(self, path: str, form: dict[str, str], **headers: str) -> tuple[int, str, dict[str, str]]:
        return self.request("POST", path, form, headers)

    def csrf(self, path: str = "/") -> str:
        return re.search(r'name="csrf" value="([^"]+)"', self.get(path)[1]).group(1)

    def login(self, name: str) -> None:
        self.cookies.clear()
        token = self.csrf("/login")
        status, _, headers = self.post("/login", {"csrf": token, "name": name, "password": PASSWORDS[name]})
        assert status == 303, status

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    return team_db(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def server(db):
    running = Server(db)
    yield running
    running.stop()


@pytest.fixture
def own_db(tmp_path) -> Path:
    return team_db(tmp_path)


def call_ids(page: str) -> list[str]:
    return re.findall(r'<a href="/call/\d+">([^<]+)</a>', page)


def link_to(page: str, call_id: str) -> str:
    return re.search(rf'<a href="(/call/\d+)">{re.escape(call_id)}</a>', page).group(1)


# ----------------------------------------------------------------------------- one trainer, this machine
def test_binds_this_machine_only_and_asks_no_login(server):
    assert server.host == "127.0.0.1" and "no login" in server.banner
    assert server.get("/")[0] == 200


def test_the_list_filters_by_agent_team_date_score_and_kind_of_finding(server):
    status, page = server.get("/")
    assert status == 200 and len(call_ids(page)) == 7 and "分析失败" in page
    assert sorted(call_ids(server.get("/?agent=A001")[1])) == ["a001-1102", "a001-1110", "a001-1117"]
    assert sorted(call_ids(server.get("/?team=二组")[1])) == ["b001-1113", "b001-1116", "broken"]
    assert sorted(call_ids(server.get("/?from=2026-11-10&to=2026-11-12")[1])) == ["a001-1110", "a002-1112"]
    assert call_ids(server.get("/?min=90")[1]) == ["a001-1117"]
    assert "a001-1117" not in call_ids(server.get("/?kind=forbidden")[1])
    assert sorted(call_ids(server.get("/?kind=silence")[1])) == ["a001-1102", "a002-1112", "b001-1113", "b001-1116"]
    assert call_ids(server.get("/?agent=nobody")[1]) == []


def test_search_finds_what_either_party_said_and_quotes_the_line(server):
    page = server.get("/?" + urlencode({"q": "不清楚"}))[1]
    assert call_ids(page) == ["a002-1112"]
    quotes = re.findall(r'<div class="quote"><span class="who">(\S+) ([\d:.]+)</span> (.*?)</div>', page)
    assert [(who, text.replace("<mark>", "").replace("</mark>", "")) for who, _, text in quotes] == [
        ("客户", CUSTOMER_UNSURE), ("坐席", UNSURE_LINE)]
    assert "<mark>不清楚</mark>" in page
    markup = server.get("/?" + urlencode({"q": "<script>"}))[1]
    assert sorted(call_ids(markup)) == ["a001-1102", "a001-1110", "a001-1117", "b001-1113", "b001-1116"]
    assert "<mark>&lt;script&gt;</mark>window" in markup and "<script>window" not in markup
    assert call_ids(server.get("/?" + urlencode({"q": "13812345678"}))[1]) == []  # numbers stay masked


def test_every_column_sorts_and_low_scores_are_coloured(server):
    ascending = server.get("/?sort=score&dir=asc")[1]
    scores = [float(s) for s in re.findall(r'<td class="num score \w+">([\d.]+)', ascending)]
    assert scores == sorted(scores) and len(scores) == 5
    assert server.get("/?sort=call&dir=asc")[1].index("a001-1102") < server.get("/?sort=call&dir=asc")[1].index("b001")
    for column in ("date", "call", "agent", "team", "duration", "score", "machine", "rate", "silences",
                   "interruptions", "forbidden", "talk", "first", "hold", "appeals"):
        assert server.get(f"/?sort={column}")[0] == 200
    assert server.get("/?sort=report")[0] == 400
    assert '<td class="num score low">52.7' in ascending and '<td class="num score fair">60.7' in ascending
    assert '<td class="num score good">95' in ascending
    assert 'class="num score none"><span title="未检测到坐席语音">未评分' in ascending


def test_the_list_downloads_as_csv_with_the_same_filters(server):
    status, text, headers = server.request("GET", "/calls.csv?" + urlencode({"q": "不清楚"}))
    assert status == 200 and headers["content-type"].startswith("text/csv") and "attachment" in \
        headers["content-disposition"]
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["日期", "通话", "坐席"] and rows[0][-1] == "命中的话"
    assert len(rows) == 2 and rows[1][1] == "a002-1112" and UNSURE_LINE in rows[1][-1]
    everything = list(csv.reader(io.StringIO(server.request("GET", "/calls.csv")[1].lstrip("\ufeff"))))
    assert len(everything) == 8


def test_csv_cells_a_spreadsheet_would_run_are_neutralised(tmp_path):
    path = tmp_path / "qa.db"
    with Store(str(path)) as store:
        store.save(make_outcome("/calls/=HYPERLINK(1).wav", agent_id="@A001"))
        store.save(make_outcome("/calls/13812345678-0101.wav", call_date="2026-11-01"))
    local = Server(path)
    try:
        rows = list(csv.reader(io.StringIO(local.request("GET", "/calls.csv")[1].lstrip("\ufeff"))))
        assert rows[1][1] == "'=HYPERLINK(1)" and rows[1][2] == "'@A001"
        assert rows[2][1] == "138****5678-0101"  # a customer's number in a file name is masked too
        listing = local.get("/")[1]
        assert "13812345678" not in listing and "138****5678-0101" in listing
        assert "13812345678" not in local.get(link_to(listing, "138****5678-0101"))[1]
    finally:
        local.stop()


def test_a_call_page_shows_who_when_the_qa_figures_masked_and_escaped(server):
    listing = server.get("/")[1]
    status, page = server.get(link_to(listing, "a001-1102"))
    assert status == 200
    meta = re.search(r'<div class="meta" id="call-meta">(.*?)</div>', page, re.S).group(1)
    assert all(text in meta for text in ("A001", "a001-1102", "一组", "2026-11-02"))
    qa = re.search(r'<div class="meta" id="qa">(.*?)</div>', page, re.S).group(1)
    assert "1.25" in qa and "坐席 5 / 客户 3" in qa and "0.5 秒" in qa and "+12 字/分" in qa
    assert "13812345678" not in page and "138****5678" in page
    assert "&lt;script&gt;window.__pwned" in page and "<script>window.__pwned" not in page
    assert '<audio id="player"' in page
    old = server.get(link_to(listing, "b001-1113"))[1]
    assert re.search(r'id="qa">\s*<span><b>说听比</b>—', old)  # stored before the QA figures: shown as —
    silent = server.get(link_to(listing, "b001-1116"))[1]
    assert re.search(r'id="score"[^>]*>\s*未评分', silent)


def test_failed_unknown_and_odd_calls_are_pages_never_tracebacks(server):
    status, page = server.get(link_to(server.get("/")[1], "broken"))
    assert status == 200 and "not an audio file" in page
    for path in ("/call/999", "/call/99999999999999999999999999", "/call/１２", "/call/-1", "/call/1x",
                 "/call/1/edit", "/call/", "/etc/passwd", "/call/%00"):
        status, page = server.get(path)
        assert status == 404 and "Traceback" not in page, path


def test_every_answer_carries_the_security_headers_and_no_python_version(server):
    for method, path in (("GET", "/"), ("GET", "/call/1"), ("GET", "/nothing"), ("PUT", "/"), ("GET", "/calls.csv")):
        status, _, headers = server.request(method, path)
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
        assert headers["x-content-type-options"] == "nosniff"
        assert "python" not in headers["server"].lower(), headers["server"]
    assert "script-src 'sha256-" in server.request("GET", "/call/1")[2]["content-security-policy"]


def test_a_page_asked_for_under_another_host_name_is_refused(server):
    # A page on evil.example whose name re-resolves to 127.0.0.1 (DNS rebinding) sends Host: evil.example.
    for host in (f"evil.example:{server.port}", "evil.example", f"127.0.0.1:{server.port + 1}", ""):
        status, page, _ = server.request("GET", "/", headers={"Host": host})
        assert status == 421 and "a001" not in page, host
    assert server.request("GET", "/", headers={"Host": f"localhost:{server.port}"})[0] == 200


def test_agents_page_shows_weekly_trends_with_week_labels_and_costly_items(server):
    status, page = server.get("/agents")
    assert status == 200
    assert re.findall(r'<a href="/\?agent=([^"]+)">', page) == ["A001", "A002", "B001"]
    a001 = page[page.index('data-agent="A001"'):page.index('data-agent="A002"')]
    # Weekly means 60.7 → 68.2 → 95 on a fixed 0–100 scale 40 px high: the line climbs.
    points = re.search(r'<polyline points="([^"]+)"', a001).group(1).split()
    assert [float(p.split(",")[1]) for p in points] == pytest.approx([40 - 60.7 * 0.4, 40 - 68.2 * 0.4, 40 - 95 * 0.4],
                                                                    abs=0.06)
    assert re.findall(r'<text [^>]*>(\d+)</text>', a001) == ["45", "46", "47"] and "11-02 起" in a001
    assert "+34.3" in a001 and "服务禁语" in a001.split('class="costly"')[1][:40]
    b001 = page[page.index('data-agent="B001"'):]
    assert "未评分 1" in b001 and "失败 1" in b001 and ">52.7<" in b001  # the unscored call is out of the mean


def test_a_post_without_its_csrf_token_or_from_another_site_is_refused(own_db):
    local = Server(own_db)
    try:
        call = link_to(local.get("/")[1], "a001-1102")
        form = {"finding": "forbidden@50.00", "decision": "reject", "comment": "x"}
        assert local.post(call + "/review", form)[0] == 403
        assert local.post(call + "/review", {**form, "csrf": "guessed"})[0] == 403
        token = local.csrf(call)
        assert local.post(call + "/review", {**form, "csrf": token}, Origin="https://evil.example")[0] == 403
        assert local.post(call + "/review", {**form, "csrf": token}, **{"Sec-Fetch-Site": "cross-site"})[0] == 403
        assert "复核记录" in local.get(call)[1] and "驳回发现" not in local.get(call)[1]  # nothing was saved
        status, _, headers = local.post(call + "/review", {**form, "csrf": token})
        assert status == 303 and headers["location"].startswith(call)
        page = local.get(call)[1]
        assert "驳回发现" in page and re.search(r'id="reviewed-score">65\.7<', page)
    finally:
        local.stop()


def test_a_team_address_without_accounts_or_https_is_refused(own_db, tmp_path):
    result = coach("serve", "--db", str(own_db), "--host", "0.0.0.0", "--port", "0")
    assert result.returncode == 1 and "no accounts" in result.stderr and "coach users add" in result.stderr
    assert coach("users", "add", "lead", "--role", "admin", "--db", str(own_db), "--password-stdin",
                 stdin="head-of-qa-2026\n").returncode == 0
    result = coach("serve", "--db", str(own_db), "--host", "0.0.0.0", "--port", "0")
    assert result.returncode == 1 and "--certfile" in result.stderr and "Traceback" not in result.stderr
    assert coach("serve", "--db", str(own_db), "--login", "--port", "0", "--certfile", str(tmp_path / "none.pem"),
                 "--keyfile", str(tmp_path / "none.pem")).stderr.startswith("error: cannot load the certificate")


@pytest.mark.postgres
def test_over_postgresql_the_password_is_never_printed(tmp_path):
    with postgres_server() as url:
        build_team_db(url, tmp_path)
        with_password = url.replace("@", ":s3cret-pw@", 1)  # trust authentication: any password works
        served = Server(with_password)
        try:
            assert "s3cret-pw" not in served.banner and "***" in served.banner
            assert len(call_ids(served.get("/")[1])) == 7
            token = served.csrf("/call/1")
            assert served.post("/call/1/review", {"csrf": token, "finding": "rate", "decision": "confirm"})[0] == 303
            assert "确认发现" in served.get("/call/1")[1]
        finally:
            served.stop()
        assert "s3cret-pw" not in served.process.stderr.read()


def test_a_database_that_does_not_exist_is_one_error_line(tmp_path):
    result = coach("serve", "--db", str(tmp_path / "none.db"))
    assert result.returncode == 1 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_a_long_list_comes_in_pages_that_keep_the_filter(tmp_path):
    path = tmp_path / "busy.db"
    with Store(str(path)) as store:  # 230 calls of A001 on 23 days, 10 of B002
        for i in range(230):
            store.save(make_outcome(f"/calls/a{i:03d}.wav", call_date=f"2026-10-{1 + i // 10:02d}", score=60.0))
        for i in range(10):
            store.save(make_outcome(f"/calls/b{i:03d}.wav", agent_id="B002", call_date="2026-10-15"))
    busy = Server(path)
    try:
        page = busy.get("/?agent=A001&min=50")[1]
        assert len(call_ids(page)) == 100 and "230 通电话" in page and "第 1/3 页" in page
        following = re.search(r'<a href="([^"]+)" rel="next">', page).group(1).replace("&amp;", "&")
        assert dict(p.split("=") for p in urlsplit(following).query.split("&")) == \
            {"agent": "A001", "min": "50", "page": "2"}
        last = busy.get("/?agent=A001&min=50&page=3")[1]
        assert len(call_ids(last)) == 30 and 'rel="next"' not in last
        assert call_ids(busy.get("/?agent=A001&min=50&page=9")[1]) == call_ids(last)
        assert busy.get("/?page=0")[0] == 400
    finally:
        busy.stop()


# ----------------------------------------------------------------------------- a team, over HTTPS
@pytest.fixture(scope="module")
def team(tmp_path_factory):
    folder = tmp_path_factory.mktemp("team")
    cert, key = self_signed_certificate(folder)
    running = Server(team_db(folder, with_accounts=True), "--host", "0.0.0.0", "--certfile", str(cert),
                     "--keyfile", str(key))
    yield running
    running.stop()


def test_a_team_server_speaks_https_and_asks_everyone_to_log_in(team):
    assert team.scheme == "https" and "team login (4 accounts)" in team.banner
    team.cookies.clear()
    status, _, headers = team.request("GET", "/agents")
    assert status == 303 and headers["location"] == "/login?next=%2Fagents"
    status, page, headers = team.request("GET", "/login")
    cookie = headers["set-cookie"]
    assert status == 200 and cookie.startswith("__Host-coach=")
    assert all(flag in cookie for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"))
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    status, page, _ = team.post("/login", {"csrf": token, "name": "wang", "password": "wrong-password"})
    assert status == 401 and "用户名或密码不对" in page
    status, _, _ = team.post("/login", {"name": "wang", "password": PASSWORDS["wang"]})
    assert status == 403  # the login form has its CSRF token too
    team.login("wang")
    assert team.get("/agents")[0] == 200 and team.get("/users")[0] == 403
    for sneaky in ("//evil.example/", "/x\r\nSet-Cookie: planted=1", "https://evil.example/"):
        team.cookies.clear()
        token = team.csrf("/login")
        status, _, headers = team.post("/login", {"csrf": token, "name": "wang", "password": PASSWORDS["wang"],
                                                  "next": sneaky})
        assert status == 303 and headers["location"] == "/" and "planted" not in str(headers), sneaky


def test_agents_see_and_appeal_only_their_own_calls(team):
    team.login("A002")
    page = team.get("/")[1]
    assert call_ids(page) == ["a002-1112"] and 'name="agent"' not in page
    team.login("wang")
    others = link_to(team.get("/")[1], "a001-1117")
    team.login("A002")
    status, page = team.get(others)
    assert status == 403 and "不是你的" in page
    assert team.post(others + "/appeal", {"csrf": team.csrf(), "finding": "rate", "reason": "x"})[0] == 403
    assert team.get("/calls.csv")[1].count("\n") == 2  # the header and their one call
    assert team.get("/misfires")[0] == 403 and team.get("/audit.csv")[0] == 403
    own = link_to(team.get("/")[1], "a002-1112")
    assert team.post(own + "/review", {"csrf": team.csrf(own), "finding": "rate", "decision": "reject"})[0] == 403


def test_a_client_that_speaks_no_tls_or_hangs_up_is_one_log_line_and_serving_goes_on(tmp_path):
    cert, key = self_signed_certificate(tmp_path)
    running = Server(team_db(tmp_path, with_accounts=True), "--host", "0.0.0.0", "--certfile", str(cert),
                     "--keyfile", str(key))
    try:
        plain = http.client.HTTPConnection("127.0.0.1", running.port, timeout=30)
        with pytest.raises(OSError):  # plain HTTP to the HTTPS port: the server hangs up
            plain.request("GET", "/", headers={"Host": f"127.0.0.1:{running.port}"})
            plain.getresponse()
        socket.create_connection(("127.0.0.1", running.port), timeout=30).close()  # connects and hangs up
        assert running.get("/login")[0] == 200
    finally:
        running.stop()
    errors = running.process.stderr.read()
    assert "Traceback" not in errors and "Exception occurred" not in errors, errors
    assert re.search(r"^warning: 127\.0\.0\.1: .*HTTP_REQUEST", errors, re.M), errors


def test_repeated_wrong_passwords_make_a_name_wait(team):
    team.cookies.clear()
    for _ in range(5):
        status = team.post("/login", {"csrf": team.csrf("/login"), "name": "ghost", "password": "guess-123456"})[0]
        assert status == 401
    status, page, _ = team.post("/login", {"csrf": team.csrf("/login"), "name": "ghost", "password": "x"})
    assert status == 429 and "5 分钟" in page
    team.login("wang")  # other names from the same office still get in


def test_an_admin_adds_and_switches_off_users(team):
    team.login("lead")
    token = team.csrf("/users")
    assert team.post("/users", {"csrf": token, "name": "zhao", "role": "agent", "agent_id": "B001",
                                "password": "third-agent-pw-9"})[0] == 303
    assert team.post("/users", {"csrf": token, "name": "qian", "role": "agent", "password": "short"})[0] == 409
    assert 'data-user="zhao"' in team.get("/users")[1]
    admin = dict(team.cookies)
    PASSWORDS["zhao"] = "third-agent-pw-9"
    team.login("zhao")
    assert call_ids(team.get("/")[1]) == ["broken", "b001-1116", "b001-1113"]
    zhao = dict(team.cookies)
    team.cookies = admin
    assert team.post("/users/zhao", {"csrf": token, "role": "agent", "agent_id": "B001", "state": "off"})[0] == 303
    team.cookies = zhao
    assert team.request("GET", "/")[0] == 303  # switched off: logged out at once
    team.cookies = admin
    audit = team.get("/audit.csv")[1]
    assert "添加用户" in audit and "zhao" in audit and "third-agent-pw-9" not in audit


# ----------------------------------------------------------------------------- in Chromium
SCREENSHOT_FLAGS = ("--ignore-certificate-errors",)


def log_in(browser, team, name: str) -> None:
    browser.delete_all_cookies()
    browser.get(team.url + "login")
    browser.find_element("name", "name").send_keys(name)
    browser.find_element("name", "password").send_keys(PASSWORDS[name])
    browser.find_element("css selector", "#login button").click()
    _wait(lambda: browser.find_elements("css selector", "nav.site"))


def finding_row(browser, key: str):
    return browser.find_element("css selector", f'tr.finding[data-key="{key}"]')


def text_of(browser, selector: str) -> str:
    """The element's text, or "" while the page is being replaced (a form was just sent)."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    try:
        return browser.find_element("css selector", selector).text
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


@pytest.mark.browser
def test_in_chromium_a_reviewer_rejects_a_forbidden_phrase_and_sees_score_and_audit(team):
    with chromium(*SCREENSHOT_FLAGS) as browser:
        browser.get(team.url)
        _wait(lambda: browser.find_elements("id", "login"))
        screenshot(browser, "serve-login.png")
        log_in(browser, team, "wang")
        browser.find_element("link text", "a001-1102").click()
        _wait(lambda: browser.find_elements("id", "findings"))
        assert console_errors(browser) == []
        assert browser.find_element("id", "score").text.startswith("60.7")
        screenshot(browser, "serve-call-before-review.png")
        row = finding_row(browser, "forbidden@50.00")
        row.find_element("name", "comment").send_keys("客户原话，坐席在复述")
        click(browser, 'tr.finding[data-key="forbidden@50.00"] button.reject')
        _wait(lambda: "已驳回" in text_of(browser, 'tr.finding[data-key="forbidden@50.00"]'))
        assert browser.find_element("id", "score").text.startswith("65.7")
        assert "机评 60.7" in browser.find_element("id", "machine-score").text
        audit = browser.find_element("id", "audit").text
        assert "wang" in audit and "驳回发现" in audit and "60.7 → 65.7" in audit and "客户原话，坐席在复述" in audit
        assert console_errors(browser) == []
        screenshot(browser, "serve-call-after-review.png")


@pytest.mark.browser
def test_in_chromium_the_agent_appeals_and_sees_it_decided(team):
    with chromium(*SCREENSHOT_FLAGS) as browser:
        log_in(browser, team, "A001")
        browser.find_element("link text", "a001-1110").click()
        _wait(lambda: browser.find_elements("id", "findings"))
        row = finding_row(browser, "interruption@41.00")
        row.find_element("name", "reason").send_keys("客户已经说完了，我才开口")
        click(browser, 'tr.finding[data-key="interruption@41.00"] .appeal-form button')
        _wait(lambda: "待处理" in text_of(browser, 'tr.finding[data-key="interruption@41.00"]'))
        screenshot(browser, "serve-call-agent-appealed.png")
        score_before = browser.find_element("id", "score").text

        log_in(browser, team, "wang")
        browser.get(team.url + "appeals")
        assert "客户已经说完了" in browser.find_element("id", "appeals").text
        screenshot(browser, "serve-appeals.png")
        browser.find_element("css selector", "#appeals input[name=answer]").send_keys("重听录音，确实没有抢话")
        click(browser, '#appeals button[value="accept"]')
        _wait(lambda: "没有待处理的申诉" in text_of(browser, "#appeals"))

        log_in(browser, team, "A001")
        browser.get(team.url + "appeals")
        assert "已通过" in browser.find_element("id", "appeals").text
        browser.find_element("css selector", "#appeals a").click()
        _wait(lambda: browser.find_elements("id", "findings"))
        row = finding_row(browser, "interruption@41.00")
        assert "已通过" in row.text and "重听录音" in row.text and "已驳回" in row.text
        assert float(browser.find_element("id", "score").text.split("/")[0]) == float(score_before.split("/")[0]) + 7.5
        assert console_errors(browser) == []
        screenshot(browser, "serve-call-agent-decided.png")


@pytest.mark.browser
def test_in_chromium_an_agent_cannot_open_another_agents_call(team):
    with chromium(*SCREENSHOT_FLAGS) as browser:
        log_in(browser, team, "wang")
        others = browser.find_element("link text", "a002-1112").get_attribute("href")
        log_in(browser, team, "A001")
        assert "a002-1112" not in browser.page_source
        browser.get(others)
        assert "没有权限" in browser.find_element("tag name", "h2").text
        assert "不是你的" in browser.find_element("id", "message").text
        screenshot(browser, "serve-forbidden.png")


@pytest.mark.browser
def test_in_chromium_a_form_without_its_csrf_token_is_refused(team):
    with chromium(*SCREENSHOT_FLAGS) as browser:
        log_in(browser, team, "wang")
        browser.find_element("link text", "a001-1117").click()
        _wait(lambda: browser.find_elements("id", "add-finding"))
        form = browser.find_element("id", "add-finding")
        browser.execute_script("arguments[0].querySelector('input[name=csrf]').remove()", form)
        form.find_element("name", "time").send_keys("0:12")
        form.find_element("name", "note").send_keys("这里冷场了")
        click(browser, "#add-finding button")
        _wait(lambda: browser.find_elements("id", "message"))
        assert browser.find_element("tag name", "h2").text == "请求被拒绝"
        browser.back()
        browser.refresh()
        _wait(lambda: browser.find_elements("id", "audit") or browser.find_elements("id", "review"))
        assert "补充漏检" not in browser.find_element("id", "review").text.split("复核记录")[1]


@pytest.mark.browser
def test_in_chromium_search_finds_the_call_and_quotes_the_line_and_every_page_is_seen(team):
    with chromium(*SCREENSHOT_FLAGS) as browser:
        log_in(browser, team, "lead")
        search = browser.find_element("name", "q")
        search.send_keys("不清楚")
        click(browser, "#filters button[type=submit]")
        _wait(lambda: "q=" in browser.current_url)
        rows = browser.find_elements("css selector", "#calls tbody tr")
        assert len(rows) == 1 and "a002-1112" in rows[0].text and UNSURE_LINE in rows[0].text
        assert rows[0].find_element("tag name", "mark").text == "不清楚"
        screenshot(browser, "serve-search.png")
        for page, name in (("", "serve-list.png"), ("?sort=score&dir=asc", "serve-list-by-score.png"),
                           ("agents", "serve-agents.png"), ("misfires", "serve-misfires.png"),
                           ("users", "serve-users.png")):
            browser.get(team.url + page)
            assert console_errors(browser) == [], page
            screenshot(browser, name)
        browser.get(team.url + "agents")
        trend = browser.find_element("css selector", 'tr[data-agent="A001"]')
        labels = [t.text for t in trend.find_elements("css selector", "svg.trend text")]
        assert labels == ["45", "46", "47"] and "第 45 周 11-02 起" in trend.text
        assert all((SCREENSHOTS / n).stat().st_size > 10_000 for n in ("serve-agents.png", "serve-search.png"))


@pytest.mark.browser
def test_in_chromium_a_trainer_filters_opens_a_call_and_plays_a_forbidden_phrase(server):
    with chromium() as browser:
        browser.get(server.url + "?agent=A001")
        assert console_errors(browser) == []
        browser.find_element("link text", "a001-1102").click()
        _wait(lambda: browser.find_elements("css selector", "#transcript"))
        assert console_errors(browser) == []
        click(browser, f'#transcript mark.forbidden[data-t="{FORBIDDEN_AT}"]')
        assert FORBIDDEN_AT <= _wait(lambda: player_time(browser), lambda t: t >= FORBIDDEN_AT) < FORBIDDEN_AT + 2
        click(browser, 'tr.finding[data-key="silence@26.00"] span[data-t]')  # a finding's time plays too
        assert 26.0 <= _wait(lambda: player_time(browser), lambda t: 26.0 <= t < 27.5) < 28.0
