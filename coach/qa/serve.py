"""`coach serve`: the trainer's workspace over a batch results database.

Pages: ``/`` the calls — search by words said, filter by agent, team, kind of finding,
review state, date and score, sort on any column, 100 to a page, the list as CSV;
``/call/<id>`` one call's report with its review (复核) and appeals (申诉) and the audit
trail; ``/agents`` per-agent figures, weekly trends and the items that cost each agent
most; ``/misfires`` how often reviewers rejected each phrase's and rule's findings;
``/appeals``; ``/users`` (admins).  Every list is SQL over the index of
`coach.qa.callindex`, so a page answers in milliseconds on 100,000 calls.

Bound to a loopback address it is one trainer's tool, as before: no login.  Bound to any
other address it is a team's: it refuses to start without accounts (`coach users add`) and
without HTTPS (``--certfile``/``--keyfile``), because passwords and customers' words would
cross the network; ``--login`` asks for accounts on loopback too (behind an HTTPS proxy).
Roles: agents see and appeal their own calls (403 otherwise), reviewers review, admins also
manage users.  Every form carries a CSRF token; `coach.qa.web` holds the checks.
"""

from __future__ import annotations

import csv
import getpass
import io
import json
import logging
import math
import os
import re
import secrets
import ssl
import sys
import threading
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote, urlencode

import sqlalchemy as sa
from markupsafe import Markup, escape

from coach.errors import CoachError
from coach.masking import mask_report, mask_text
from coach.qa import accounts, callindex, review
from coach.qa.accounts import AccountError, Role, User
from coach.qa.callindex import SORTS, CallQuery
from coach.qa.export import safe_cell
from coach.qa.findings import KIND_LABELS, SEVERITY_LABELS, describe_key
from coach.qa.review import Decision, ReviewError
from coach.qa.web import (
    COOKIE, MAX_BODY_BYTES, META_POLICY, NO_FRAMING, SOCKET_TIMEOUT_S, Request, Response, Sessions, Throttle, allowed_hosts,
    cookie_header, cross_site, host_allowed, is_loopback, tokens_match,
)
from coach.qa.workspace import Workspace, recordings
from coach.schema import report_from_dict
from coach.scorecard import Measure, Scorecard, load_scorecard
from coach.writers.audio_embed import EmbeddedAudio, browser_audio
from coach.writers.html_report import environment, render_html, report_script, script_policy
from coach.writers.terminal import clock, points

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # calls per list page
SYNC_INTERVAL_S = 15.0  # how often new batch results are looked for
MAX_QUERY_CHARS = 100
_TREND_W, _TREND_H = 200.0, 40.0
_CALL_PATH = re.compile(r"/call/([0-9]{1,18})(/[a-z]+)?")  # ASCII digits only: /call/１２ is no call
_APPEAL_PATH = re.compile(r"/appeals/([0-9]{1,18})")
_USER_PATH = re.compile(r"/users/([^/]{1,600})")  # a name of 64 characters, percent-encoded


class BadQuery(CoachError):
    """A filter in the URL or a field of a form is not a valid value (shown on the page, not a crash)."""


@dataclass(frozen=True)
class ServeOptions:
    db: str
    host: str = "127.0.0.1"
    port: int = 8765
    mask: bool = True
    login: bool = False  # accounts even on loopback (behind an HTTPS proxy)
    certfile: str | None = None
    keyfile: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    scorecard: str | None = None  # the scorecard the reviewed scores are computed on


# ----------------------------------------------------------------------------- starting
def make_server(options: ServeOptions, progress: Callable[[int, int], None] | None = None) -> ThreadingHTTPServer:
    """A server over ``options.db`` (not yet serving), its index brought up to date first.

    Refuses (CoachError) a non-loopback address without accounts or without HTTPS."""
    scorecard = load_scorecard(options.scorecard)
    ws = Workspace(options.db)
    try:
        accounts_needed = options.login or not is_loopback(options.host)
        if accounts_needed:
            _check_team_setup(options, ws)
        context = _tls(options)
        callindex.sync(ws, scorecard, progress)
        app = App(ws, scorecard, options, accounts_needed)
        handler = type("CoachHandler", (_Handler,), {"app": app})
        try:
            server = _Server((options.host, options.port), handler)
        except OSError as exc:
            raise CoachError(f"cannot listen on {options.host}:{options.port} ({exc.strerror}): "
                             "pass another --port") from None
    except BaseException:
        ws.close()
        raise
    if context:
        # The handshake happens in the request's own thread (on its first read), so a client
        # that stalls in it holds up nobody else.
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    app.port = server.server_port
    app.allowed = allowed_hosts(options.host, options.allowed_hosts)
    app.origin_scheme = "https" if context else "http"
    return server


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: tuple) -> None:
        # A client that hangs up or speaks no TLS is one line in the log, not a traceback on the console.
        log.warning("%s: %s", client_address[0], sys.exc_info()[1])


def serve(options: ServeOptions) -> None:
    reported: set[int] = set()

    def progress(done: int, total: int) -> None:
        tenth = done * 10 // total
        if tenth not in reported:  # a first start on a large database takes minutes: say how far it is
            reported.add(tenth)
            print(f"coach serve: indexing the calls for search and the figures, {done}/{total}", file=sys.stderr,
                  flush=True)

    server = make_server(options, progress)
    app: App = server.RequestHandlerClass.app
    shown = f"[{options.host}]" if ":" in options.host else options.host
    mode = (f"team login ({len(accounts.list_users(app.ws))} accounts)" if app.accounts
            else "this machine only, no login")
    readonly = f"; read-only: {app.ws.read_only_reason}" if not app.ws.writable else ""
    print(f"coach serve: {app.origin_scheme}://{shown}:{server.server_port}/ ({app.ws.where}); {mode}{readonly}; "
          "Ctrl-C stops", flush=True)
    stop = threading.Event()
    syncer = threading.Thread(target=app.keep_index_current, args=(stop,), daemon=True)
    syncer.start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
        syncer.join(timeout=5)
        app.ws.close()


def _check_team_setup(options: ServeOptions, ws: Workspace) -> None:
    where = f"--host {options.host}" if not is_loopback(options.host) else "--login"
    if not accounts.has_active_users(ws):
        raise CoachError(f"{where} shares the calls with a team, and {ws.where} has no accounts yet: "
                         f"add one first with coach users add NAME --role admin --db {ws.where}")
    if not is_loopback(options.host) and not (options.certfile and options.keyfile):
        raise CoachError(f"--host {options.host} would send passwords and customers' words over the network "
                         "unencrypted: pass --certfile CERT.pem --keyfile KEY.pem for HTTPS (README: coach serve), "
                         "or serve 127.0.0.1 behind an HTTPS proxy with --login")


def _tls(options: ServeOptions) -> ssl.SSLContext | None:
    if not (options.certfile or options.keyfile):
        return None
    if not (options.certfile and options.keyfile):
        raise CoachError("HTTPS needs both --certfile and --keyfile: pass the certificate and its private key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(options.certfile, options.keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise CoachError(f"cannot load the certificate {options.certfile} with key {options.keyfile} ({exc}): "
                         "pass a PEM certificate and its matching private key") from None
    return context


# ----------------------------------------------------------------------------- the app
@dataclass(frozen=True)
class Visitor:
    """Who is asking, and the CSRF token their forms must carry."""

    user: User | None
    csrf: str
    token: str | None = None  # the session cookie, when there is one
    new_cookie: str | None = None  # a session started by this request


class App:
    """Requests to responses; one per server, shared by its threads (everything it holds is thread-safe)."""

    def __init__(self, ws: Workspace, scorecard: Scorecard, options: ServeOptions, accounts_needed: bool):
        self.ws, self.scorecard, self.options = ws, scorecard, options
        self.accounts = accounts_needed
        self.sessions, self.throttle = Sessions(), Throttle()
        self.local_user = User(f"{getpass.getuser()}（本机）", Role.ADMIN)
        self.local_csrf = secrets.token_urlsafe(32)  # no login, no cookie: one token for this process
        self.port = options.port
        self.allowed = allowed_hosts(options.host, options.allowed_hosts)
        self.origin_scheme = "http"
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Response], str]] = [
            ("GET", re.compile(r"/"), self.list_page, "any"),
            ("GET", re.compile(r"/calls\.csv"), self.list_csv, "any"),
            ("GET", _CALL_PATH, self.call_page, "any"),
            ("POST", _CALL_PATH, self.call_action, "any"),
            ("GET", re.compile(r"/agents"), self.agents_page, "any"),
            ("GET", re.compile(r"/appeals"), self.appeals_page, "any"),
            ("POST", _APPEAL_PATH, self.answer_appeal, "review"),
            ("GET", re.compile(r"/misfires"), self.misfires_page, "review"),
            ("GET", re.compile(r"/audit\.csv"), self.audit_csv, "review"),
            ("GET", re.compile(r"/users"), self.users_page, "manage"),
            ("POST", re.compile(r"/users"), self.add_user, "manage"),
            ("POST", _USER_PATH, self.change_user, "manage"),
            ("GET", re.compile(r"/login"), self.login_page, "public"),
            ("POST", re.compile(r"/login"), self.login, "public"),
            ("POST", re.compile(r"/logout"), self.logout, "any"),
        ]

    # ------------------------------------------------------------------------- dispatch
    def handle(self, request: Request) -> Response:
        if not host_allowed(request.headers.get("host"), self.allowed, self.port):
            return self.message(HTTPStatus.MISDIRECTED_REQUEST, "地址不对",
                                "这个服务器不接受这个主机名的访问。请用启动时打印的地址打开。", None)
        visitor = self._visitor(request)
        response = self._route(request, visitor)
        if visitor.new_cookie:
            response.headers.append(("Set-Cookie", cookie_header(visitor.new_cookie)))
        return response

    def _route(self, request: Request, visitor: Visitor) -> Response:
        methods = set()
        for method, pattern, handler, permission in self._routes:
            match = pattern.fullmatch(request.path)
            if not match:
                continue
            methods.add(method)
            if method != request.method:
                continue
            if permission != "public" and visitor.user is None:
                if request.method == "GET":
                    return Response.redirect("/login?" + urlencode({"next": request.path}))
                return self.message(HTTPStatus.FORBIDDEN, "请先登录", "登录已过期，请重新登录。", visitor)
            if request.method == "POST" and not self._post_allowed(request, visitor):
                return self.message(HTTPStatus.FORBIDDEN, "请求被拒绝",
                                    "表单已过期或来自别的网站：请回到页面刷新后重试。", visitor)
            user = visitor.user
            if (permission == "review" and not user.can_review) or (permission == "manage" and not user.can_manage):
                return self.message(HTTPStatus.FORBIDDEN, "没有权限", "你的账号没有打开这个页面的权限。", visitor)
            try:
                return handler(request, visitor, *match.groups())
            except BadQuery as exc:
                return self.message(HTTPStatus.BAD_REQUEST, "输入有误", str(exc), visitor)
            except (ReviewError, AccountError) as exc:
                return self.message(HTTPStatus.CONFLICT, "没有保存", getattr(exc, "zh", str(exc)), visitor)
            except CoachError as exc:
                log.warning("%s %s: %s", request.method, request.path, exc)
                return self.message(HTTPStatus.SERVICE_UNAVAILABLE, "无法读取数据库", str(exc), visitor)
        if methods:
            return self.message(HTTPStatus.METHOD_NOT_ALLOWED, "不支持的请求", f"{request.method} {request.path}",
                                visitor)
        return self.message(HTTPStatus.NOT_FOUND, "找不到这个页面", f"没有 {request.path} 这个页面。", visitor)

    def _visitor(self, request: Request) -> Visitor:
        if not self.accounts:
            return Visitor(self.local_user, self.local_csrf)
        token = request.cookies.get(COOKIE)
        session = self.sessions.get(token)
        if session is None:
            if request.path != "/login":
                return Visitor(None, "")
            token, session = self.sessions.start(None)  # the login form's own token
            return Visitor(None, session.csrf, token, new_cookie=token)
        user = accounts.find_user(self.ws, session.user) if session.user else None
        if user is not None and user.disabled:
            self.sessions.end(token)
            return Visitor(None, "")
        return Visitor(user, session.csrf, token)

    def _post_allowed(self, request: Request, visitor: Visitor) -> bool:
        origin = f"{self.origin_scheme}://{request.headers.get('host', '')}"
        return not cross_site(request, origin) and tokens_match(request.form.get("csrf"), visitor.csrf)

    def keep_index_current(self, stop: threading.Event) -> None:
        """Pick up what batch runs add or change while the server runs."""
        while not stop.wait(SYNC_INTERVAL_S):
            try:
                callindex.sync(self.ws, self.scorecard)
            except CoachError as exc:
                log.warning("cannot update the call index: %s", exc)

    # ------------------------------------------------------------------------- pages
    def page(self, template: str, visitor: Visitor | None, title: str, status: HTTPStatus = HTTPStatus.OK,
             **values: Any) -> Response:
        user = visitor.user if visitor else None
        pending = review.count_open_appeals(self.ws) if user and user.can_review else 0
        html = environment().get_template(template).render(
            policy=META_POLICY, title=title, user=user, csrf=visitor.csrf if visitor else "",
            accounts=self.accounts, writable=self.ws.writable, pending_appeals=pending, **values)
        return Response.html(status, html)

    def message(self, status: HTTPStatus, title: str, text: str, visitor: Visitor | None) -> Response:
        return self.page("serve_message.html.j2", visitor, title, status, text=text)

    def list_page(self, request: Request, visitor: Visitor) -> Response:
        query = parse_query(request.query, visitor.user)
        page = parse_page(request.query)
        total, failed = callindex.count_calls(self.ws, query)
        pages = max(1, math.ceil(total / PAGE_SIZE))
        page = min(page, pages)  # a stale link past the end shows the last page
        rows = callindex.list_calls(self.ws, query, PAGE_SIZE, (page - 1) * PAGE_SIZE)
        found = callindex.quotes(self.ws, [r["recording_id"] for r in rows], query.q) if query.q else {}
        agents, teams = callindex.choices(self.ws, query.only_agent)
        params = query_params(query)

        def link(**change: Any) -> str:
            return "/?" + urlencode({**params, **change})

        return self.page(
            "serve_list.html.j2", visitor, "通话列表", rows=[self._row(r, found.get(r["recording_id"]), query.q) for r in rows],
            query=query, agents=agents, teams=teams, kinds=KIND_LABELS, review_states=callindex.REVIEW_STATES,
            total=total, failed=failed, page=page, pages=pages,
            previous=link(page=page - 1) if page > 1 else None, next=link(page=page + 1) if page < pages else None,
            sort_links={name: link(sort=name, dir="asc" if query.sort == name and query.descending else "desc")
                        for name in SORTS},
            csv_link="/calls.csv?" + urlencode(params), low=callindex.LOW_SCORE, fair=callindex.FAIR_SCORE)

    def list_csv(self, request: Request, visitor: Visitor) -> Response:
        query = parse_query(request.query, visitor.user)
        rows = callindex.list_calls(self.ws, query)
        found = callindex.quotes(self.ws, [r["recording_id"] for r in rows], query.q) if query.q else {}
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([label for label, _ in _CSV_COLUMNS] + (["命中的话"] if query.q else []))
        for row in rows:
            view = self._row(row, found.get(row["recording_id"]), query.q)
            cells = [get(view) for _, get in _CSV_COLUMNS]
            if query.q:
                cells.append(" / ".join(f"{hit['who']} {clock(hit['start'])} {hit['text']}" for hit in view["quotes"]))
            writer.writerow([safe_cell(c) for c in cells])
        # utf-8-sig: the BOM makes Excel read the Chinese as UTF-8.
        return Response.download(out.getvalue().encode("utf-8-sig"), f"coach-calls-{date.today()}.csv",
                                 "text/csv; charset=utf-8")

    def _row(self, row: dict[str, Any], matches: list[dict[str, Any]] | None, q: str | None) -> dict[str, Any]:
        """A list row for display: names masked, the lines that matched the search quoted around the match."""
        view = dict(row)
        view["call_id"] = self.name(row["call_id"])
        view["quotes"] = []
        for line in (matches or []) if q else []:
            text = line["text"]
            at = text.find(q)
            view["quotes"].append({"who": "坐席" if line["speaker"] == "agent" else "客户", "start": line["start"],
                                   "text": text, "before": text[:at], "hit": q, "after": text[at + len(q):]})
        return view

    def name(self, text: str) -> str:
        # TODO(issue 15): use coach.masking's function for source names once it is on this branch.
        return mask_text(text) if self.options.mask else text

    def call_page(self, request: Request, visitor: Visitor, row_id: str, action: str | None) -> Response:
        if action:
            return self.message(HTTPStatus.NOT_FOUND, "找不到这个页面", f"没有 {request.path} 这个页面。", visitor)
        row, failure = self._call(int(row_id), visitor)
        if failure:
            return failure
        shown = {"agent": row["agent_id"] or "—", "call": self.name(row["call_id"]), "team": row["team"] or "—",
                 "date": row["call_date"] or "—"}
        if row["report"] is None:
            return self.message(HTTPStatus.OK, "这通电话分析失败",
                                f"{self.name(Path(row['source']).name)}: {row['error']}", visitor)
        data = json.loads(row["report"])
        state = review.call_state(self.ws, self.scorecard, row["id"], data)
        report = replace(report_from_dict(data), source=self.name(row["source"]))
        if self.options.mask:
            report = mask_report(report)
        extra = {
            "title": self.name(Path(row["source"]).name), "meta": shown, "state": state,
            "findings": [self._finding(f, state, visitor.user) for f in state.findings],
            "user": visitor.user, "csrf": visitor.csrf, "accounts": self.accounts, "writable": self.ws.writable,
            "call_url": f"/call/{row['id']}", "kinds": KIND_LABELS, "severities": SEVERITY_LABELS,
            "pending_appeals": review.count_open_appeals(self.ws) if visitor.user.can_review else 0,
            "fmt": points,
        }
        html = render_html(report, _audio(row["source"]), back_link="/", template="serve_call.html.j2", extra=extra)
        return Response.html(HTTPStatus.OK, html, policy=_call_policy())

    def _finding(self, finding, state: review.CallState, user: User) -> dict[str, Any]:
        decided = state.reviews.get(finding.key)
        appeals = state.appeals_of(finding.key)
        open_appeal = any(a.status is review.AppealStatus.OPEN for a in appeals)
        rejected = decided is not None and decided.decision is Decision.REJECT
        mask = mask_text if self.options.mask else (lambda t: t)
        return {"f": finding, "quote": mask(finding.quote), "detail": mask(finding.detail), "review": decided,
                "appeals": appeals, "open_appeal": open_appeal, "rejected": rejected,
                "can_appeal": user.role is Role.AGENT and self.ws.writable and not rejected and not open_appeal,
                "anchor": "f-" + re.sub(r"[^0-9A-Za-z]+", "-", finding.key)}

    def _call(self, row_id: int, visitor: Visitor) -> tuple[dict[str, Any] | None, Response | None]:
        """The recording row, or the page that says why it is not shown (404, 403)."""
        with self.ws.reading() as conn:
            row = conn.execute(sa.select(recordings).where(recordings.c.id == row_id)).first()
        if row is None:
            return None, self.message(HTTPStatus.NOT_FOUND, "找不到这通电话", f"数据库里没有编号 {row_id} 的通话。",
                                      visitor)
        if not visitor.user.sees(row.agent_id):
            return None, self.message(HTTPStatus.FORBIDDEN, "没有权限",
                                      "这通电话不是你的：坐席只能查看自己的通话。", visitor)
        return row._asdict(), None

    def call_action(self, request: Request, visitor: Visitor, row_id: str, action: str | None) -> Response:
        row, failure = self._call(int(row_id), visitor)
        if failure:
            return failure
        if not self.ws.writable:
            return self.message(HTTPStatus.CONFLICT, "数据库只读", f"无法保存：{self.ws.read_only_reason}。", visitor)
        if row["report"] is None:
            raise BadQuery("这通电话分析失败，没有可复核的发现")
        data, form, user, call = json.loads(row["report"]), request.form, visitor.user, row["id"]
        key = form.get("finding", "")
        if action == "/appeal":
            if user.role is not Role.AGENT:
                return self.message(HTTPStatus.FORBIDDEN, "没有权限", "只有坐席本人可以申诉。", visitor)
            review.appeal(self.ws, self.scorecard, call, data, key, form.get("reason", ""), user.name)
        elif not user.can_review:
            return self.message(HTTPStatus.FORBIDDEN, "没有权限", "只有质检员和管理员可以复核。", visitor)
        elif action == "/review":
            decision = _choice(form.get("decision"), Decision, "复核结论")
            review.decide(self.ws, self.scorecard, call, data, key, decision, form.get("comment", ""), user.name)
        elif action == "/add":
            measure = _choice(form.get("kind"), Measure, "类别")
            review.add_finding(self.ws, self.scorecard, call, data, measure, parse_time(form.get("time", "")),
                               form.get("severity", ""), form.get("note", ""), user.name)
            key = ""
        elif action == "/remove":
            number = form.get("added", "")
            if not number.isascii() or not number.isdigit():
                raise BadQuery("要撤销的发现无效")
            review.remove_added(self.ws, self.scorecard, call, data, int(number), form.get("comment", ""), user.name)
        else:
            return self.message(HTTPStatus.NOT_FOUND, "找不到这个页面", f"没有 {request.path} 这个页面。", visitor)
        anchor = "#f-" + re.sub(r"[^0-9A-Za-z]+", "-", key) if key else "#review"
        return Response.redirect(f"/call/{call}{anchor}")

    def answer_appeal(self, request: Request, visitor: Visitor, appeal_id: str) -> Response:
        if not self.ws.writable:
            return self.message(HTTPStatus.CONFLICT, "数据库只读", f"无法保存：{self.ws.read_only_reason}。", visitor)
        appeal = review.appeal_by_id(self.ws, int(appeal_id))
        if appeal is None:
            return self.message(HTTPStatus.NOT_FOUND, "找不到这条申诉", f"没有编号 {appeal_id} 的申诉。", visitor)
        row, failure = self._call(appeal.recording_id, visitor)
        if failure:
            return failure
        verdict = request.form.get("verdict")
        if verdict not in ("accept", "reject"):
            raise BadQuery("请选择通过或驳回")
        review.answer_appeal(self.ws, self.scorecard, appeal.id, json.loads(row["report"]), verdict == "accept",
                             request.form.get("answer", ""), visitor.user.name)
        back = request.form.get("back")
        return Response.redirect("/appeals" if back == "appeals" else f"/call/{appeal.recording_id}#review")

    def agents_page(self, request: Request, visitor: Visitor) -> Response:
        user = visitor.user
        only = user.agent_id if user.role is Role.AGENT else None
        team = (request.query.get("team") or "").strip() or None
        groups = callindex.agents_overview(self.ws, team=team, only_agent=only)
        _, teams = callindex.choices(self.ws, only)
        return self.page("serve_agents.html.j2", visitor, "坐席趋势", team=team, teams=teams,
                         groups=[(g, _trend(g.weeks), urlencode({"agent": g.agent})) for g in groups])

    def misfires_page(self, request: Request, visitor: Visitor) -> Response:
        rows = callindex.misfires(self.ws)
        return self.page("serve_misfires.html.j2", visitor, "误报分析", kinds=KIND_LABELS,
                         phrases=[m for m in rows if m.measure in (Measure.FORBIDDEN, Measure.FILLER)],
                         rules=[m for m in rows if m.measure not in (Measure.FORBIDDEN, Measure.FILLER)])

    def appeals_page(self, request: Request, visitor: Visitor) -> Response:
        user = visitor.user
        mine = user.name if user.role is Role.AGENT else None
        appeals = review.open_appeals(self.ws, only_agent_user=mine)
        ids = sorted({a.recording_id for a in appeals})
        with self.ws.reading() as conn:
            calls = {r.id: r for r in conn.execute(sa.select(recordings.c.id, recordings.c.call_id,
                                                             recordings.c.agent_id)
                                                   .where(recordings.c.id.in_(ids)))} if ids else {}
        items = [{"a": a, "call": self.name(calls[a.recording_id].call_id) if a.recording_id in calls else "—",
                  "agent": calls[a.recording_id].agent_id if a.recording_id in calls else "—",
                  "finding": describe_key(a.finding_key)} for a in appeals]
        return self.page("serve_appeals.html.j2", visitor, "申诉", items=items, mine=mine is not None)

    def audit_csv(self, request: Request, visitor: Visitor) -> Response:
        out = io.StringIO()
        review.write_audit_csv(self.ws, out)
        return Response.download(out.getvalue().encode("utf-8-sig"), f"coach-audit-{date.today()}.csv",
                                 "text/csv; charset=utf-8")

    # ------------------------------------------------------------------------- accounts
    def users_page(self, request: Request, visitor: Visitor, message: str | None = None) -> Response:
        return self.page("serve_users.html.j2", visitor, "用户", users=accounts.list_users(self.ws), roles=list(Role),
                         notice=message)

    def add_user(self, request: Request, visitor: Visitor) -> Response:
        form = request.form
        role = _choice(form.get("role"), Role, "角色")
        accounts.add_user(self.ws, form.get("name", ""), role, form.get("password", ""),
                          agent_id=form.get("agent_id", "").strip() or None, actor=visitor.user.name)
        return Response.redirect("/users")

    def change_user(self, request: Request, visitor: Visitor, name: str) -> Response:
        name, form = unquote(name), request.form
        if form.get("password"):
            accounts.set_password(self.ws, name, form["password"], actor=visitor.user.name)
            self.sessions.end_user(name)
        else:
            disabled = {"on": False, "off": True}.get(form.get("state", ""))
            if name == visitor.user.name and (disabled or form.get("role") not in (None, Role.ADMIN.value)):
                raise BadQuery("不能停用自己或取消自己的管理员角色：请让另一位管理员操作")
            role = _choice(form.get("role"), Role, "角色") if form.get("role") else None
            accounts.change_user(self.ws, name, actor=visitor.user.name, role=role,
                                 agent_id=form.get("agent_id", "").strip() or None, disabled=disabled)
            if disabled:
                self.sessions.end_user(name)
        return Response.redirect("/users")

    def login_page(self, request: Request, visitor: Visitor, problem: str | None = None,
                   status: HTTPStatus = HTTPStatus.OK) -> Response:
        if not self.accounts:
            return Response.redirect("/")
        return self.page("serve_login.html.j2", visitor, "登录", status, problem=problem,
                         next=_local_path(request.query.get("next") or request.form.get("next")))

    def login(self, request: Request, visitor: Visitor) -> Response:
        if not self.accounts:
            return Response.redirect("/")
        name, password = request.form.get("name", "").strip(), request.form.get("password", "")
        keys = (name, request.client)
        if self.throttle.blocked(*keys):
            return self.login_page(request, visitor, "登录失败次数过多，请 5 分钟后再试。", HTTPStatus.TOO_MANY_REQUESTS)
        user = accounts.authenticate(self.ws, name, password)
        if user is None:
            self.throttle.failed(*keys)
            return self.login_page(request, visitor, "用户名或密码不对。", HTTPStatus.UNAUTHORIZED)
        self.sessions.end(visitor.token)  # a new session id at login: a planted cookie is worth nothing
        token, _ = self.sessions.start(user.name)
        response = Response.redirect(_local_path(request.form.get("next")))
        response.headers.append(("Set-Cookie", cookie_header(token)))
        return response

    def logout(self, request: Request, visitor: Visitor) -> Response:
        if not self.accounts:
            return Response.redirect("/")
        self.sessions.end(visitor.token)
        response = Response.redirect("/login")
        response.headers.append(("Set-Cookie", cookie_header("", max_age=0)))
        return response


_CSV_COLUMNS: tuple[tuple[str, Callable[[dict[str, Any]], Any]], ...] = (
    ("日期", lambda r: r["call_date"] or ""), ("通话", lambda r: r["call_id"]), ("坐席", lambda r: r["agent_id"] or ""),
    ("班组", lambda r: r["team"] or ""), ("时长(秒)", lambda r: r["duration_s"]),
    ("机评得分", lambda r: r["machine_score"]), ("复核后得分", lambda r: r["score"]),
    ("已复核", lambda r: "是" if r["reviewed"] else "否"), ("语速(字/分)", lambda r: r["speaking_rate"]),
    ("冷场", lambda r: r["silences"]), ("抢话", lambda r: r["interruptions"]), ("禁语", lambda r: r["forbidden_hits"]),
    ("说听比", lambda r: r["talk_listen"]), ("首次响应(秒)", lambda r: r["first_response_s"]),
    ("保持(秒)", lambda r: r["hold_s"]), ("语速差(字/分)", lambda r: r["rate_gap"]),
    ("状态", lambda r: "正常" if r["status"] == "ok" else "分析失败"), ("未评分原因", lambda r: r["not_scored"] or ""),
    ("错误", lambda r: r["error"] or ""),
)


class _Handler(BaseHTTPRequestHandler):
    app: App
    timeout = SOCKET_TIMEOUT_S

    def version_string(self) -> str:
        return "coach"  # no Python version for a scanner to match against

    def do_GET(self) -> None:  # noqa: N802 — http.server's naming
        self._answer(b"")

    def do_POST(self) -> None:  # noqa: N802
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self._write(Response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "表单太大。".encode("utf-8"),
                                 "text/plain; charset=utf-8"))
            return
        self._answer(self.rfile.read(length))

    def _answer(self, body: bytes) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = Request.parse(self.command, self.path, headers, body, self.client_address[0])
        try:
            response = self.app.handle(request)
        except Exception:  # a bug must not show a traceback to the browser, nor kill the thread silently
            log.exception("%s %s failed", self.command, self.path)
            response = Response(HTTPStatus.INTERNAL_SERVER_ERROR, "服务器内部错误。".encode("utf-8"),
                                "text/plain; charset=utf-8")
        self._write(response)

    def _write(self, response: Response) -> None:
        self._security = response.security_headers()
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def end_headers(self) -> None:
        # Here rather than in _write, so that http.server's own error pages (a malformed request
        # line, an unsupported method) carry them too.
        for name, value in getattr(self, "_security", None) or Response(HTTPStatus.OK).security_headers():
            self.send_header(name, value)
        self._security = None
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 — the base class's name
        log.info("%s %s", self.address_string(), format % args)


# ----------------------------------------------------------------------------- parsing
def parse_query(query: dict[str, str], user: User | None) -> CallQuery:
    """The list's filters and order from the URL; blanks mean no limit, anything invalid is a BadQuery."""
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

    q = text("q")
    if q and len(q) > MAX_QUERY_CHARS:
        raise BadQuery(f"搜索的话太长（{len(q)} 字）：请少于 {MAX_QUERY_CHARS} 字")
    sort = text("sort") or "date"
    if sort not in SORTS:
        raise BadQuery(f"排序列 {sort!r} 无效")
    kind = _choice(text("kind"), Measure, "发现类别") if text("kind") else None
    state = text("review")
    if state is not None and state not in callindex.REVIEW_STATES:
        raise BadQuery(f"复核状态 {state!r} 无效")
    only = user.agent_id if user is not None and user.role is Role.AGENT else None
    return CallQuery(q=q, agent=text("agent") if only is None else None, team=text("team"), kind=kind, review=state,
                     date_from=day("from"), date_to=day("to"), min_score=score("min"), max_score=score("max"),
                     sort=sort, descending=(text("dir") or "desc") != "asc", only_agent=only)


def query_params(query: CallQuery) -> dict[str, str]:
    """The URL parameters that `parse_query` reads back as ``query``."""
    values = {"q": query.q, "agent": query.agent, "team": query.team, "kind": query.kind.value if query.kind else None,
              "review": query.review, "from": query.date_from, "to": query.date_to, "min": query.min_score,
              "max": query.max_score, "sort": None if query.sort == "date" else query.sort,
              "dir": "asc" if not query.descending else None}
    return {name: f"{value:g}" if isinstance(value, float) else value
            for name, value in values.items() if value is not None}


def parse_page(query: dict[str, str]) -> int:
    value = query.get("page", "").strip() or "1"
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= 10 ** 9):
        raise BadQuery(f"页码 {value!r} 无效：请填 1 或更大的整数")
    return int(value)


def parse_time(value: str) -> float | None:
    """A moment in the call as a trainer types it: 1:05, 01:05.5 or 65 (seconds); blank for none."""
    value = value.strip()
    if not value:
        return None
    match = re.fullmatch(r"(?:([0-9]{1,3})[:：])?([0-9]{1,5}(?:\.[0-9]+)?)", value)
    if not match:
        raise BadQuery(f"时间 {value!r} 无效：请写成 分:秒，如 1:05")
    minutes, seconds = match.groups()
    return int(minutes or 0) * 60 + float(seconds)


def _choice(value: str | None, kind: type, what: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise BadQuery(f"{what} {value!r} 无效") from None


def _local_path(value: str | None) -> str:
    """Where to go after logging in: a path on this server only (never //other.site), and nothing
    that could end the Location header early (a CR or LF would start a header of the sender's)."""
    if value and re.fullmatch(r"/(?![/\\])[!-~]*", value) and "\\" not in value:
        return value
    return "/"


def _trend(weeks: tuple[callindex.Week, ...]) -> dict[str, Any] | None:
    """The weekly mean scores as an SVG line on a fixed 0–100 scale, each week numbered under its
    point (its Monday and mean in the point's tooltip).  Built here rather than in the template:
    /agents draws 200 of them, and per-value escaping in Jinja was a third of the page's time."""
    if not weeks:
        return None
    step = _TREND_W / max(len(weeks) - 1, 1)
    points, marks = [], []
    for i, w in enumerate(weeks):
        x, y = round(i * step, 1), round(_TREND_H - w.score / 100 * _TREND_H, 1)
        points.append(f"{x},{y}")
        title = escape(f"{w.label}（{w.monday:%m-%d} 起）：{w.score:.1f} 分，{w.calls} 通")
        marks.append(f'<circle class="week" cx="{x}" cy="{y}" r="2.5"><title>{title}</title></circle>'
                     f'<text x="{x}" y="52" text-anchor="middle">{escape(w.label[6:])}</text>')
    svg = (f'<svg class="trend" width="220" height="58" viewBox="-10 -4 220 58" role="img" aria-label="周趋势">'
           f'<line class="axis" x1="0" x2="{_TREND_W:g}" y1="{_TREND_H:g}" y2="{_TREND_H:g}"></line>'
           f'<polyline points="{" ".join(points)}"></polyline>{"".join(marks)}</svg>')
    return {"svg": Markup(svg), "first": f"第 {weeks[0].label[6:]} 周 {weeks[0].monday:%m-%d} 起",
            "last": f"第 {weeks[-1].label[6:]} 周" if len(weeks) > 1 else ""}


@lru_cache(maxsize=1)
def _call_policy() -> str:
    return script_policy(report_script()) + NO_FRAMING


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
