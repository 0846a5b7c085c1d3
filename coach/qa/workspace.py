"""The trainer's workspace in the results database: accounts, reviews, appeals, the audit
trail, and an index of the calls that the `coach serve` pages query.

The tables live beside `coach.qa.store`'s ``recordings`` in the same database (SQLite or
PostgreSQL), prefixed ``ws_``, with a schema version of their own (``ws_schema``): the
batch side and the workspace side change at their own pace, and neither ever writes the
other's tables.  `coach serve` never writes ``recordings``.

The index (``ws_calls``, ``ws_lines``, ``ws_findings``, ``ws_item_loss``) is a cache built
from ``recordings`` (`coach.qa.callindex`): one flat row per call plus its transcript lines,
findings and lost points, so that the list, search and per-agent pages are single SQL
queries instead of reading every report.  When the database cannot be written (a read-only
file, a PostgreSQL role without CREATE), the workspace opens it read-only — what is there is
shown, nothing can be reviewed — and the index is built in a private temporary SQLite file.
"""

from __future__ import annotations

import enum
import functools
import logging
import os
import shutil
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, make_url

from coach.errors import StoreError
from coach.qa.store import _configure_sqlite, _connect_read_only, _recordings, apply_migrations

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
recordings = _recordings  # the batch results, owned by coach.qa.store: read here, never written

_metadata = sa.MetaData()

_schema = sa.Table("ws_schema", _metadata, sa.Column("version", sa.Integer, nullable=False))

users = sa.Table(
    "ws_users", _metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("role", sa.String(10), nullable=False),  # coach.qa.accounts.Role
    sa.Column("agent_id", sa.Text),  # an agent's calls are those with this agent_id
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
)

# The current decision on each reviewed finding (the history is in ws_audit).
reviews = sa.Table(
    "ws_reviews", _metadata,
    sa.Column("recording_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("finding_key", sa.Text, primary_key=True),
    sa.Column("measure", sa.String(16), nullable=False),
    sa.Column("rule", sa.Text, nullable=False),  # the phrase or rule behind it, for the misfire figures
    sa.Column("decision", sa.String(10), nullable=False),  # coach.qa.review.Decision
    sa.Column("comment", sa.Text, nullable=False, default=""),
    sa.Column("reviewer", sa.Text, nullable=False),
    sa.Column("at", sa.Text, nullable=False),
    sa.Index("ix_ws_reviews_rule", "measure", "rule"),
)

added = sa.Table(
    "ws_added", _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("recording_id", sa.Integer, nullable=False, index=True),
    sa.Column("measure", sa.String(16), nullable=False),
    sa.Column("start", sa.Float),
    sa.Column("severity", sa.String(10), nullable=False, default=""),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("removed", sa.Boolean, nullable=False, default=False),
)

appeals = sa.Table(
    "ws_appeals", _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("recording_id", sa.Integer, nullable=False, index=True),
    sa.Column("finding_key", sa.Text, nullable=False),
    sa.Column("agent", sa.Text, nullable=False),  # the user who appealed
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),  # coach.qa.review.AppealStatus
    sa.Column("decided_by", sa.Text),
    sa.Column("decided_at", sa.Text),
    sa.Column("answer", sa.Text),
    sa.Index("ix_ws_appeals_status", "status"),
)

audit = sa.Table(
    "ws_audit", _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.Text, nullable=False),  # ISO 8601 UTC
    sa.Column("actor", sa.Text, nullable=False),  # who
    sa.Column("recording_id", sa.Integer, index=True),  # None for account changes
    sa.Column("action", sa.String(20), nullable=False),  # what, as a code (coach.qa.review.Action)
    sa.Column("target", sa.Text, nullable=False, default=""),  # the finding or the user it was about
    sa.Column("what", sa.Text, nullable=False, default=""),  # what, in words, with the score change
    sa.Column("why", sa.Text, nullable=False, default=""),  # the comment or reason given
)

# ----------------------------------------------------------------------------- the index (a cache)
calls = sa.Table(
    "ws_calls", _metadata,
    sa.Column("recording_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("analysed_at", sa.Text, nullable=False),  # with index_version: is this row current?
    sa.Column("index_version", sa.Integer, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("call_id", sa.Text, nullable=False),
    sa.Column("agent_id", sa.Text),
    sa.Column("team", sa.Text),
    sa.Column("call_date", sa.String(10)),
    sa.Column("week", sa.String(8)),  # ISO week of the call date, "2026-W45"
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("duration_s", sa.Float),
    sa.Column("speaking_rate", sa.Float),
    sa.Column("silences", sa.Integer),
    sa.Column("interruptions", sa.Integer),
    sa.Column("forbidden_hits", sa.Integer),
    sa.Column("machine_score", sa.Float),  # the report's score.total (None: not scored)
    sa.Column("score", sa.Float),  # after review where reviewed, else the machine's
    sa.Column("not_scored", sa.Text),  # why score.total is null
    sa.Column("reviewed", sa.Boolean, nullable=False, default=False),
    sa.Column("open_appeals", sa.Integer, nullable=False, default=0),
    # The QA figures of the report's "qa" (None for reports stored before it existed).
    sa.Column("talk_listen", sa.Float),
    sa.Column("turns_agent", sa.Integer),
    sa.Column("turns_customer", sa.Integer),
    sa.Column("first_response_s", sa.Float),
    sa.Column("hold_s", sa.Float),
    sa.Column("rate_gap", sa.Float),
    sa.Index("ix_ws_calls_agent_week", "agent_id", "week", "score"),  # covers the weekly trends
    # Covers the per-agent figures: /agents reads this index, not the table (5× faster on 100,000 calls).
    sa.Index("ix_ws_calls_agent_figures", "agent_id", "status", "reviewed", "score", "speaking_rate", "silences",
             "interruptions", "forbidden_hits", "talk_listen", "first_response_s", "hold_s", "rate_gap"),
    sa.Index("ix_ws_calls_date", "call_date"),
    sa.Index("ix_ws_calls_score", "score"),
    sa.Index("ix_ws_calls_team", "team"),
)

lines = sa.Table(
    "ws_lines", _metadata,
    sa.Column("recording_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("speaker", sa.String(10), nullable=False),
    sa.Column("start", sa.Float, nullable=False),
    sa.Column("text", sa.Text, nullable=False),  # masked: a search must not find what a page would hide
)

findings = sa.Table(
    "ws_findings", _metadata,
    sa.Column("recording_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("finding_key", sa.Text, primary_key=True),
    sa.Column("measure", sa.String(16), nullable=False),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("decision", sa.String(10)),  # the review's, None while unreviewed
    sa.Column("added", sa.Boolean, nullable=False),  # a reviewer's, not the machine's
    sa.Index("ix_ws_findings_measure", "measure", "recording_id"),
    sa.Index("ix_ws_findings_rule", "added", "measure", "rule", "decision"),  # covers the misfire counts
)

item_loss = sa.Table(
    "ws_item_loss", _metadata,
    sa.Column("recording_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("item", sa.Text, primary_key=True),
    sa.Column("agent_id", sa.Text),
    sa.Column("lost", sa.Float, nullable=False),  # points the item lost (after review), only when > 0
    sa.Index("ix_ws_item_loss_agent", "agent_id", "item", "lost"),  # covers the per-agent sums
)

INDEX_TABLES = (calls, lines, findings, item_loss)

# SQLite only: a full-text index of the transcript lines' character pairs, so that a search
# reads the lines that contain every pair of the words in order instead of every line
# (`coach.qa.callindex.search_text`).  Contentless: the text is in ws_lines already.  Its
# rowid is LINE_KEY × recording id + line number.
GRAMS = "ws_grams"
LINE_KEY = 100_000  # lines a call can have in the full-text index (a 3-hour call has a few thousand)
_CREATE_GRAMS = f"CREATE VIRTUAL TABLE IF NOT EXISTS {GRAMS} USING fts5(grams, content='')"


def _create_index_tables(conn: Connection, tables: tuple[sa.Table, ...]) -> None:
    for table in tables:
        table.create(conn, checkfirst=True)
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(_CREATE_GRAMS)


def _create_v1(conn: Connection) -> None:
    # The Table objects above are the newest schema; when a later version changes one,
    # replace this with v1's own DDL so that old databases pass through every step.
    _create_index_tables(conn, tuple(_metadata.sorted_tables))


_MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _create_v1}


class Workspace:
    """The workspace tables of the coach database at ``target`` (a path or URL, as `Store` takes).

    ``main`` holds the results and the workspace; ``cache`` the index — the same engine
    unless the database is read-only.  ``writable`` says whether reviews can be saved;
    ``read_only_reason`` says why not.
    """

    def __init__(self, target: str, read_only: bool = False) -> None:
        self.where = _where(target)
        self.read_only_reason: str | None = "opened read-only" if read_only else None
        self._scratch: str | None = None
        if not read_only:
            self.read_only_reason = _unwritable(target)
        self.main = _engine(target, read_only=self.read_only_reason is not None)
        try:
            with self._translate("open"):
                self._check_results()
                if self.read_only_reason is None:
                    self.read_only_reason = self._migrate_or_why_not()
                self.has_tables = self._version(self.main) == SCHEMA_VERSION
            self.cache = self.main if self.writable else self._scratch_cache()
        except BaseException:
            self.close()
            raise

    @property
    def writable(self) -> bool:
        return self.read_only_reason is None

    @property
    def dialect(self) -> str:
        return self.cache.dialect.name

    @contextmanager
    def reading(self, engine: sa.Engine | None = None) -> Iterator[Connection]:
        with self._translate("read"), (engine or self.main).connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def writing(self, engine: sa.Engine | None = None) -> Iterator[Connection]:
        """A write transaction (SQLite: BEGIN IMMEDIATE, so a busy database is waited for)."""
        engine = engine or self.main
        if engine is self.main and not self.writable:
            raise StoreError(f"cannot change the database {self.where} ({self.read_only_reason}): "
                             "open a writable copy or ask its owner for write access")
        with self._translate("write"):
            with engine.connect().execution_options(coach_write=True) as conn, conn.begin():
                yield conn

    def close(self) -> None:
        for engine in {id(e): e for e in (getattr(self, "main", None), getattr(self, "cache", None)) if e}.values():
            engine.dispose()
        if self._scratch:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------- opening
    def _check_results(self) -> None:
        with self.main.connect() as conn:
            if not sa.inspect(conn).has_table(recordings.name):
                raise StoreError(f"the database {self.where} holds no coach results (no recordings table): "
                                 "run coach batch with this --db first or pass another --db")

    def _migrate_or_why_not(self) -> str | None:
        try:
            with self.main.connect().execution_options(coach_write=True) as conn, conn.begin():
                _migrate(conn, self.where)
        except sa.exc.DBAPIError as exc:
            if not _is_permission_error(exc):
                raise
            log.warning("%s: cannot create the workspace tables (%s); opening it read-only", self.where,
                        _first_line(exc))
            return f"no permission to write ({_first_line(exc)})"
        return None

    def _scratch_cache(self) -> sa.Engine:
        """A private SQLite file for the index of a database that cannot be written."""
        self._scratch = tempfile.mkdtemp(prefix="coach-index-")  # 0700: it holds transcripts
        engine = sa.create_engine(URL.create("sqlite", database=os.path.join(self._scratch, "index.db")))
        _configure_sqlite(engine, read_only=False)
        with engine.connect() as conn, conn.begin():
            _create_index_tables(conn, INDEX_TABLES)
        return engine

    def _version(self, engine: sa.Engine) -> int:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(_schema.name):
                return 0
            return conn.execute(sa.select(sa.func.max(_schema.c.version))).scalar() or 0

    @contextmanager
    def _translate(self, action: str) -> Iterator[None]:
        try:
            yield
        except sa.exc.DBAPIError as exc:
            raise StoreError(f"cannot {action} the database {self.where} ({_first_line(exc)}): "
                             "check the file or URL and that the server is running") from None


def _migrate(conn: Connection, where: str) -> None:
    """Bring the workspace tables to SCHEMA_VERSION inside the caller's write transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(7202612)"))  # one first open at a time
    version = 0
    if sa.inspect(conn).has_table(_schema.name):
        version = conn.execute(sa.select(sa.func.max(_schema.c.version))).scalar() or 0
    if version > SCHEMA_VERSION:
        raise StoreError(f"the workspace in {where} was made by a newer coach (workspace schema {version}, "
                         f"this coach knows {SCHEMA_VERSION}): upgrade coach or pass another --db")
    apply_migrations(conn, _schema, _MIGRATIONS, version, SCHEMA_VERSION)


def _where(target: str) -> str:
    """The database as the user would write it, without a password."""
    if "://" not in target:
        return str(Path(target).expanduser().absolute())
    try:
        return make_url(target).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        raise StoreError(f"cannot parse the database URL {target!r}: "
                         "pass a file path, sqlite:///PATH or postgresql://USER@HOST/DB") from None


def _sqlite_path(target: str) -> Path | None:
    if "://" not in target:
        return Path(target).expanduser().absolute()
    url = make_url(target)
    return Path(url.database).expanduser().absolute() if url.drivername == "sqlite" and url.database else None


def _unwritable(target: str) -> str | None:
    """Why a SQLite file cannot be written (so it is opened read-only), or None."""
    path = _sqlite_path(target)
    if path is None:
        return None  # PostgreSQL: the server says, when the tables are created
    if not path.is_file():
        raise StoreError(f"cannot open the database {path} (it does not exist): "
                         "run coach batch with this --db first or pass another --db")
    if not os.access(path, os.W_OK):
        return "the file is read-only"
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return f"its directory {path.parent} is read-only"  # WAL needs <db>-wal and <db>-shm beside it
    return None


def _engine(target: str, read_only: bool) -> sa.Engine:
    path = _sqlite_path(target)
    if path is not None:
        url = URL.create("sqlite", database=str(path))
        # Read-only: SQLite's own read-only mode (immutable where not even -shm can be made), as the Store's readers.
        engine = (sa.create_engine(url, creator=functools.partial(_connect_read_only, str(path))) if read_only
                  else sa.create_engine(url))
        _configure_sqlite(engine, read_only)
        return engine
    url = make_url(target)
    if url.drivername not in ("postgresql", "postgresql+psycopg"):
        raise StoreError(f"unsupported database URL {url.render_as_string(hide_password=True)!r}: "
                         "pass a file path, sqlite:///PATH or postgresql://USER@HOST/DB")
    connect_args: dict[str, Any] = {"options": "-c default_transaction_read_only=on"} if read_only else {}
    return sa.create_engine(url.set(drivername="postgresql+psycopg"), connect_args=connect_args)


def _is_permission_error(exc: sa.exc.DBAPIError) -> bool:
    text = str(exc.orig).lower()
    return any(words in text for words in ("readonly", "read-only", "permission denied", "read only"))


def _first_line(exc: sa.exc.DBAPIError) -> str:
    lines = str(exc.orig).strip().splitlines()
    return lines[0] if lines else type(exc.orig).__name__


class Action(str, enum.Enum):
    """What an audit entry records."""

    CONFIRM = "confirm"
    REJECT = "reject"
    ADD_FINDING = "add_finding"
    REMOVE_FINDING = "remove_finding"
    APPEAL = "appeal"
    APPEAL_ACCEPTED = "appeal_accepted"
    APPEAL_REJECTED = "appeal_rejected"
    USER_ADDED = "user_added"
    USER_CHANGED = "user_changed"
    USER_PASSWORD = "user_password"

    @property
    def label(self) -> str:
        return _ACTION_LABELS[self]


_ACTION_LABELS = {
    Action.CONFIRM: "确认发现", Action.REJECT: "驳回发现", Action.ADD_FINDING: "补充漏检",
    Action.REMOVE_FINDING: "撤销补充", Action.APPEAL: "提出申诉", Action.APPEAL_ACCEPTED: "申诉通过",
    Action.APPEAL_REJECTED: "申诉驳回", Action.USER_ADDED: "添加用户", Action.USER_CHANGED: "修改用户",
    Action.USER_PASSWORD: "重设密码",
}


def record(conn: Connection, actor: str, action: Action, *, target: str = "", what: str = "", why: str = "",
           recording_id: int | None = None) -> None:
    """Add an audit entry (who, when, what, why) in the caller's transaction."""
    conn.execute(sa.insert(audit).values(at=now(), actor=actor, recording_id=recording_id, action=action.value,
                                         target=target, what=what, why=why))


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
