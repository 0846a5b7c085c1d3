"""`coach serve` as trainers use it: a real server process on a free port over a real
SQLite results database, read with urllib and clicked through in headless Chromium."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from coach.qa.store import Outcome, Recording, Status, Store
from coach.schema import report_to_dict
from tests.browser import chromium, console_errors
from tests.fixtures.reports import FORBIDDEN_AT, as_report, make_outcome, make_walkthrough_report
from tests.test_html import click, player_time, screenshot, stereo_call, _wait

ROOT = Path(__file__).resolve().parent.parent
# (agent, date, score): A001 improves over three weeks, B002 has one call.
CALLS = [("A001", "2026-11-02", 55.0), ("A001", "2026-11-10", 70.0), ("A001", "2026-11-17", 85.0),
         ("B002", "2026-11-12", 92.0)]


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("serve")
    path = folder / "qa.db"
    with Store(str(path)) as store:
        for i, (agent, day, score) in enumerate(CALLS):
            source = stereo_call(folder / f"call{i}.wav", 70.0) if i == 0 else folder / f"gone{i}.wav"
            report = report_to_dict(as_report(make_walkthrough_report(str(source))))
            report["score"]["total"] = score
            store.save(Outcome(Recording(str(source), f"call{i}", agent, "一组", "left", day), "c" * 64, "s" * 64,
                               Status.OK, None, report, "2026-11-20T08:00:00Z"))
        store.save(make_outcome(str(folder / "broken.wav"), failed=True, agent_id="B002", call_date="2026-11-13"))
    return path


class Server:
    def __init__(self, db: Path, *extra: str):
        self.process = subprocess.Popen([sys.executable, "-m", "coach.cli", "serve", "--db", str(db), "--port", "0",
                                         *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.banner = self.process.stdout.readline()
        match = re.search(r"http://([\d.]+):(\d+)/", self.banner)
        assert match, self.banner + self.process.stderr.read()
        self.host, self.url = match.group(1), match.group(0)

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path.lstrip("/"), timeout=30) as response:
                return response.status, response.read().decode("utf-8")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(db):
    running = Server(db)
    yield running
    running.stop()


def call_ids(page: str) -> list[str]:
    return re.findall(r'<a href="/call/\d+">([^<]+)</a>', page)


def test_binds_this_machine_only_by_default(server):
    assert server.host == "127.0.0.1"


def test_the_list_filters_by_agent_date_and_score(server):
    status, page = server.get("/")
    assert status == 200 and sorted(call_ids(page)) == ["broken", "call0", "call1", "call2", "call3"]
    assert "分析失败" in page
    assert sorted(call_ids(server.get("/?agent=A001")[1])) == ["call0", "call1", "call2"]
    assert sorted(call_ids(server.get("/?from=2026-11-10&to=2026-11-12")[1])) == ["call1", "call3"]
    assert sorted(call_ids(server.get("/?min=70&max=90")[1])) == ["call1", "call2"]
    assert call_ids(server.get("/?agent=A001&min=80")[1]) == ["call2"]
    assert call_ids(server.get("/?agent=nobody")[1]) == []


@pytest.mark.parametrize("query, message", [("?from=11/10/2026", "YYYY-MM-DD"), ("?min=abc", "0–100"),
                                            ("?max=150", "0–100")])
def test_a_bad_filter_is_a_message_not_a_crash(server, query, message):
    status, page = server.get("/" + query)
    assert status == 400 and message in page


def test_a_call_page_is_the_html_report_masked_and_escaped(server):
    first = re.search(r'<a href="(/call/\d+)">call0</a>', server.get("/")[1]).group(1)
    status, page = server.get(first)
    assert status == 200
    assert "13812345678" not in page and "138****5678" in page
    assert "&lt;script&gt;window.__pwned" in page and "<script>window.__pwned" not in page
    assert '<audio id="player"' in page and 'href="/"' in page
    gone = re.search(r'<a href="(/call/\d+)">call1</a>', server.get("/")[1]).group(1)
    assert 'id="no-audio"' in server.get(gone)[1]  # the recording was moved away: no player


def test_failed_and_unknown_calls_and_pages(server):
    broken = re.search(r'<a href="(/call/\d+)">broken</a>', server.get("/")[1]).group(1)
    status, page = server.get(broken)
    assert status == 200 and "not an audio file" in page
    assert server.get("/call/999")[0] == 404
    assert server.get("/etc/passwd")[0] == 404


def test_agents_page_shows_each_agents_weekly_trend(server):
    status, page = server.get("/agents")
    assert status == 200
    rows = re.findall(r'<a href="/\?agent=([^"]+)">', page)
    assert rows == ["A001", "B002"]
    a001 = page[page.index("agent=A001"):page.index("agent=B002")]
    # Three weeks, 55 → 70 → 85 on a 0–100 scale 32 px high: the line climbs.
    points = re.search(r'<polyline points="([^"]+)"', a001).group(1).split()
    assert [float(p.split(",")[1]) for p in points] == pytest.approx([32 - 55 * 0.32, 32 - 70 * 0.32, 32 - 85 * 0.32])
    assert "+30.0" in a001


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
        assert 'rel="prev"' not in page
        following = re.search(r'<a href="([^"]+)" rel="next">', page).group(1).replace("&amp;", "&")
        assert dict(parse_qsl(following[1:])) == {"agent": "A001", "min": "50", "page": "2"}
        second = busy.get("/" + following)[1]
        assert len(call_ids(second)) == 100 and 'rel="prev"' in second
        last = busy.get("/?agent=A001&min=50&page=3")[1]
        assert len(call_ids(last)) == 30 and 'rel="next"' not in last
        seen = call_ids(page) + call_ids(second) + call_ids(last)
        assert sorted(seen) == [f"a{i:03d}" for i in range(230)]
        assert call_ids(busy.get("/?agent=A001&min=50&page=9")[1]) == call_ids(last)  # past the end: the last
        status, message = busy.get("/?page=0")
        assert status == 400 and "页码" in message
    finally:
        busy.stop()


def test_no_mask_shows_the_numbers(db):
    unmasked = Server(db, "--no-mask")
    try:
        first = re.search(r'<a href="(/call/\d+)">call0</a>', unmasked.get("/")[1]).group(1)
        assert "13812345678" in unmasked.get(first)[1]
    finally:
        unmasked.stop()


def test_a_database_that_does_not_exist_is_one_error_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "coach.cli", "serve", "--db", str(tmp_path / "none.db")],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr


@pytest.mark.browser
def test_in_chromium_a_trainer_filters_opens_a_call_and_plays_a_forbidden_phrase(server):
    with chromium() as browser:
        browser.get(server.url + "?agent=A001")
        assert console_errors(browser) == []
        screenshot(browser, "serve-list.png")
        browser.find_element("link text", "call0").click()
        _wait(lambda: browser.find_elements("css selector", "#transcript"))
        assert console_errors(browser) == []
        click(browser, f'#transcript mark.forbidden[data-t="{FORBIDDEN_AT}"]')
        assert FORBIDDEN_AT <= _wait(lambda: player_time(browser), lambda t: t >= FORBIDDEN_AT) < FORBIDDEN_AT + 2
        browser.get(server.url + "agents")
        assert console_errors(browser) == []
        screenshot(browser, "serve-agents.png")
