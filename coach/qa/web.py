"""HTTP plumbing of `coach serve`: requests in, responses out, and the checks every request
passes — Host names (DNS rebinding), security headers, body limits, sessions, CSRF.

The standard library's ``http.server`` stays the server: one process for a team's trainers
needs no framework, and the pieces that need care come from well-kept standard modules —
``secrets`` for session and CSRF tokens, ``hmac.compare_digest`` to compare them,
``http.cookies`` for the cookie, ``ssl`` for HTTPS, ``hashlib.scrypt`` for passwords
(`coach.qa.accounts`).  What ``http.server`` leaves open is closed here: a socket timeout
(a slow client cannot hold a thread forever), a cap on request bodies, no server version in
the headers, and the same security headers on every answer, error pages included.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import socket
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from typing import Mapping
from urllib.parse import parse_qs, urlsplit

# The pages' Content-Security-Policy: no script at all, forms to this server only.  The header
# adds frame-ancestors, which browsers ignore (and complain about) in a <meta> element.
META_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'"
NO_FRAMING = "; frame-ancestors 'none'"
PAGE_POLICY = META_POLICY + NO_FRAMING
MAX_BODY_BYTES = 64 * 1024  # a form of comments; nothing here uploads files
SOCKET_TIMEOUT_S = 30  # a client that sends nothing for this long is dropped
COOKIE = "__Host-coach"  # __Host-: Secure, Path=/, no Domain — the browser enforces all three
SESSION_IDLE_S = 8 * 3600  # a working day's pause
SESSION_MAX_S = 12 * 3600  # then log in again, whatever
MAX_SESSIONS = 10_000  # anonymous sessions (a login form's token) are dropped oldest first beyond this
# Failed logins in the window after which a name (or, more, one client: an office behind one address) waits.
LOGIN_FAILURES_PER_NAME, LOGIN_FAILURES_PER_CLIENT, LOGIN_WINDOW_S = 5, 20, 300
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str]  # the last value of each parameter
    form: Mapping[str, str]  # a POST's application/x-www-form-urlencoded body
    headers: Mapping[str, str]  # lower-case names
    cookies: Mapping[str, str]
    client: str  # the peer's address

    @classmethod
    def parse(cls, method: str, target: str, headers: Mapping[str, str], body: bytes, client: str) -> Request:
        url = urlsplit(target)
        cookies: dict[str, str] = {}
        try:
            jar = SimpleCookie(headers.get("cookie", ""))
            cookies = {name: morsel.value for name, morsel in jar.items()}
        except CookieError:
            pass  # a malformed cookie header is no session, not an error page
        form = _last_values(body.decode("utf-8", "replace")) if body else {}
        return cls(method, url.path, _last_values(url.query), form, headers, cookies, client)


@dataclass
class Response:
    status: HTTPStatus
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    policy: str = PAGE_POLICY  # the Content-Security-Policy header
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def html(cls, status: HTTPStatus, page: str, policy: str = PAGE_POLICY) -> Response:
        return cls(status, page.encode("utf-8"), policy=policy)

    @classmethod
    def redirect(cls, location: str) -> Response:
        """303 See Other: after a POST, the browser GETs the page (a reload does not post again)."""
        return cls(HTTPStatus.SEE_OTHER, headers=[("Location", location)])

    @classmethod
    def download(cls, body: bytes, filename: str, content_type: str) -> Response:
        return cls(HTTPStatus.OK, body, content_type,
                   headers=[("Content-Disposition", f'attachment; filename="{filename}"')])

    def security_headers(self) -> list[tuple[str, str]]:
        """Sent with every answer: no framing, no caching of transcripts, no sniffing, no referrer."""
        return [("Content-Security-Policy", self.policy), ("X-Frame-Options", "DENY"),
                ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
                ("Referrer-Policy", "no-referrer"), ("Cross-Origin-Opener-Policy", "same-origin"),
                ("Cross-Origin-Resource-Policy", "same-origin")]


def _last_values(text: str) -> dict[str, str]:
    try:
        return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True, max_num_fields=200).items()}
    except ValueError:  # more fields than any form of ours has: treated as no fields (and refused)
        return {}


# ----------------------------------------------------------------------------- Host names
def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, extra: tuple[str, ...] = ()) -> frozenset[str]:
    """The names a browser may use for this server: what it was bound to and, for a wildcard
    address, this machine's own names and addresses; plus ``extra`` (``--allowed-host``).
    Any other Host header is refused, so a page on a domain that re-resolves to this machine
    (DNS rebinding) cannot read it."""
    names = {host.strip("[]").lower(), *_LOOPBACK_NAMES, *(h.lower() for h in extra)}
    if host in ("0.0.0.0", "::", ""):
        machine = {socket.gethostname(), socket.getfqdn()}
        names |= {n.lower() for n in machine}
        for name in machine:
            try:
                names |= {info[4][0] for info in socket.getaddrinfo(name, None)}
            except OSError:
                pass  # a name that does not resolve adds nothing
    return frozenset(names)


def host_allowed(header: str | None, allowed: frozenset[str], port: int) -> bool:
    if not header:
        return False
    url = urlsplit("//" + header.strip())
    try:
        given_port = url.port
    except ValueError:
        return False
    if (url.hostname or "").rstrip(".") not in allowed:
        return False
    return given_port == port or (given_port is None and port in (80, 443))


# ----------------------------------------------------------------------------- sessions
@dataclass
class Session:
    user: str | None  # None: not logged in yet (the login form's CSRF token lives here)
    csrf: str
    created: float
    seen: float


class Sessions:
    """Sessions kept in memory (a restart logs everyone out): the cookie holds a random token,
    the server only its SHA-256, so a memory dump does not hand out working cookies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_token: OrderedDict[str, Session] = OrderedDict()

    def start(self, user: str | None) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        session = Session(user, secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._by_token[_digest(token)] = session
            while len(self._by_token) > MAX_SESSIONS:
                self._by_token.popitem(last=False)
        return token, session

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        key, now = _digest(token), time.monotonic()
        with self._lock:
            session = self._by_token.get(key)
            if session is None:
                return None
            if now - session.seen > SESSION_IDLE_S or now - session.created > SESSION_MAX_S:
                del self._by_token[key]
                return None
            session.seen = now
            self._by_token.move_to_end(key)
            return session

    def end(self, token: str | None) -> None:
        if token:
            with self._lock:
                self._by_token.pop(_digest(token), None)

    def end_user(self, user: str) -> None:
        """Log a user out everywhere (their account was switched off or their password changed)."""
        with self._lock:
            for key in [k for k, s in self._by_token.items() if s.user == user]:
                del self._by_token[key]


def cookie_header(token: str, max_age: int | None = SESSION_MAX_S) -> str:
    value = f"{COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict"
    return value + (f"; Max-Age={max_age}" if max_age is not None else "")


def tokens_match(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def cross_site(request: Request, origin: str) -> bool:
    """A POST a browser sent from another site: told by Sec-Fetch-Site, else by Origin."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    sent = request.headers.get("origin")
    return sent is not None and sent != origin


class Throttle:
    """Failed logins per user name and per client: past the limit within LOGIN_WINDOW_S, wait
    (password guessing slows to a crawl; scrypt already makes each guess cost ~0.3 s)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def blocked(self, name: str, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            return (len(self._recent(f"name:{name}", now)) >= LOGIN_FAILURES_PER_NAME
                    or len(self._recent(f"client:{client}", now)) >= LOGIN_FAILURES_PER_CLIENT)

    def failed(self, name: str, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in (f"name:{name}", f"client:{client}"):
                self._recent(key, now).append(now)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque(maxlen=LOGIN_FAILURES_PER_CLIENT))
        self._failures.move_to_end(key)
        while len(self._failures) > MAX_SESSIONS:  # names an attacker makes up must not fill the memory
            self._failures.popitem(last=False)
        while times and now - times[0] > LOGIN_WINDOW_S:
            times.popleft()
        return times


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()
