"""`coach serve`: a small local web app over a batch results database, for trainers.

Pages: ``/`` the calls, filtered by agent, date range and score, `PAGE_SIZE` at a
time; ``/call/<id>`` one call's report (the HTML writer's page, with the recording if
its file is still readable); ``/agents`` per-agent figures and weekly score trends (`coach.qa.stats`).

Standard library ``http.server`` (threaded) is enough for a handful of trainers on one
machine; it binds 127.0.0.1 unless told otherwise, because reports hold what customers
said.  Numbers in reports are masked unless ``mask=False``.  The list pages carry no
script at all (their CSP forbids any).
"""

from __future__ import annotations

import logging
import math
import os
from datetime import date
from functools import lru_cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from coach.errors import CoachError
from coach.masking import mask_report
from coach.qa.stats import GroupBy, aggregate
from coach.qa.store import CallFilter, Status, Store
from coach.writers.audio_embed import EmbeddedAudio, browser_audio
from coach.writers.html_report import environment, render_html
from coach.schema import report_from_dict

log = logging.getLogger(__name__)

PAGE_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'"
PAGE_SIZE = 100  # calls per list page: a busy centre's database holds hundreds of thousands
_TREND_W, _TREND_H = 160.0, 32.0


class BadQuery(CoachError):
    """A filter in the URL is not a valid value (shown on the page, not a crash)."""


def make_server(db: str, host: str = "127.0.0.1", port: int = 8765, mask: bool = True) -> ThreadingHTTPServer:
    """A server over ``db`` (not yet serving); port 0 picks a free port (``server.server_port``)."""
    store = Store(db, create=False)
    handler = type("CoachHandler", (_Handler,), {"store": store, "mask": mask})
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        store.close()
        raise CoachError(f"cannot listen on {host}:{port} ({exc.strerror}): pass another --port") from None
    server.daemon_threads = True
    return server


def serve(db: str, host: str = "127.0.0.1", port: int = 8765, mask: bool = True) -> None:
    server = make_server(db, host, port, mask)
    shown_host = f"[{host}]" if ":" in host else host
    print(f"coach serve: http://{shown_host}:{server.server_port}/ ({db}); Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.RequestHandlerClass.store.close()


class _Handler(BaseHTTPRequestHandler):
    store: Store
    mask: bool
    server_version = "coach-serve"

    def do_GET(self) -> None:  # noqa: N802 — http.server's naming
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            if url.path == "/":
                self._send(HTTPStatus.OK, list_page(self.store, query))
            elif url.path == "/agents":
                self._send(HTTPStatus.OK, agents_page(self.store))
            elif url.path.startswith("/call/") and url.path[6:].isdigit():
                status, page = call_page(self.store, int(url.path[6:]), self.mask)
                self._send(status, page)
            else:
                self._send(HTTPStatus.NOT_FOUND, message_page("找不到这个页面", f"没有 {url.path} 这个页面。"))
        except BadQuery as exc:
            self._send(HTTPStatus.BAD_REQUEST, message_page("筛选条件有误", str(exc)))
        except CoachError as exc:
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, message_page("无法读取数据库", str(exc)))

    def _send(self, status: HTTPStatus, page: str) -> None:
        body = page.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 — the base class's name
        log.info("%s %s", self.address_string(), format % args)


# ----------------------------------------------------------------------------- pages
def list_page(store: Store, query: dict[str, str]) -> str:
    where, page = parse_filter(query), parse_page(query)
    total, failed = store.count(where)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(page, pages)  # a stale link past the end (calls were deleted) shows the last page
    rows = store.calls(where, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)

    def link(n: int) -> str | None:  # to page n with the same filters, if there is one
        return "?" + urlencode({**filter_query(where), "page": n}) if 1 <= n <= pages else None

    return _page("serve_list.html.j2", title="通话列表", rows=rows, agents=store.agents(), where=where,
                 ok=Status.OK, total=total, failed=failed, page=page, pages=pages,
                 previous=link(page - 1), next=link(page + 1))


def agents_page(store: Store) -> str:
    groups = aggregate(store.calls(), GroupBy.AGENT)
    return _page("serve_agents.html.j2", title="坐席趋势",
                 groups=[(g, _trend_points(g.trend), urlencode({"agent": g.key})) for g in groups])


def call_page(store: Store, row_id: int, mask: bool) -> tuple[HTTPStatus, str]:
    row = store.call(row_id)
    if row is None:
        return HTTPStatus.NOT_FOUND, message_page("找不到这通电话", f"数据库里没有编号 {row_id} 的通话。")
    if row["report"] is None:
        return HTTPStatus.OK, message_page("这通电话分析失败", f"{row['source']}: {row['error']}")
    report = report_from_dict(row["report"])
    if mask:
        report = mask_report(report)
    return HTTPStatus.OK, render_html(report, _audio(row["source"]), back_link="/")


def message_page(title: str, text: str) -> str:
    return _page("serve_message.html.j2", title=title, text=text)


def parse_filter(query: dict[str, str]) -> CallFilter:
    """The list filters from the URL; blanks mean no limit, anything invalid is a BadQuery."""
    def text(name: str) -> str | None:
        return query.get(name, "").strip() or None

    def day(name: str) -> str | None:
        value = text(name)
        try:
            return date.fromisoformat(value).isoformat() if value else None
        except ValueError:
            raise BadQuery(f"日期 {value!r} 无效：请用 YYYY-MM-DD 格式") from None

    def score(name: str) -> float | None:
        value = text(name)
        try:
            number = float(value) if value else None
        except ValueError:
            raise BadQuery(f"分数 {value!r} 无效：请填 0–100 之间的数字") from None
        if number is not None and not (0 <= number <= 100 and math.isfinite(number)):
            raise BadQuery(f"分数 {value!r} 无效：请填 0–100 之间的数字")
        return number

    return CallFilter(agent_id=text("agent"), date_from=day("from"), date_to=day("to"),
                      min_score=score("min"), max_score=score("max"))


def filter_query(where: CallFilter) -> dict[str, str]:
    """The URL parameters that `parse_filter` reads back as ``where``."""
    values = {"agent": where.agent_id, "from": where.date_from, "to": where.date_to,
              "min": where.min_score, "max": where.max_score}
    return {name: f"{value:g}" if isinstance(value, float) else value
            for name, value in values.items() if value is not None}


def parse_page(query: dict[str, str]) -> int:
    value = query.get("page", "").strip() or "1"
    if not (value.isascii() and value.isdigit() and int(value) >= 1):
        raise BadQuery(f"页码 {value!r} 无效：请填 1 或更大的整数")
    return int(value)


def _page(template: str, **values: Any) -> str:
    return environment().get_template(template).render(policy=PAGE_POLICY, **values)


def _trend_points(trend: tuple[tuple[str, float], ...]) -> str:
    """SVG polyline points of weekly mean scores on a fixed 0–100 scale (agents compare at a glance)."""
    if not trend:
        return ""
    step = _TREND_W / max(len(trend) - 1, 1)
    return " ".join(f"{i * step:.1f},{_TREND_H - score / 100 * _TREND_H:.1f}" for i, (_, score) in enumerate(trend))


def _audio(source: str) -> EmbeddedAudio | None:
    """The recording for the player, if its file is still there (re-encoded once per file version)."""
    try:
        stat = os.stat(source)
    except OSError:
        return None
    return _encoded(source, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _encoded(source: str, _mtime_ns: int, _size: int) -> EmbeddedAudio | None:
    return browser_audio(Path(source))
