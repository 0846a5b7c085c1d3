"""The results database of batch QA runs: one row per recording, SQLite or PostgreSQL.

SQLAlchemy Core keeps one code path for both databases; only the upsert statement
and a few connection settings differ per dialect.  A filesystem path (or a
``sqlite:///`` URL) gives a SQLite file that several batch processes on one machine
can share; a ``postgresql://`` URL gives a server shared by several machines.

The database holds unmasked transcripts: a new SQLite file is created readable by its
owner only (0600), and readers (export, stats, serve) open it read-only, so a copy
an auditor may only read still works.
"""

from __future__ import annotations

import enum
import functools
import json
import os
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, make_url

from coach.errors import StoreError

SCHEMA_VERSION = 2
BUSY_TIMEOUT_MS = 30_000  # how long a SQLite writer waits for another process's write lock
OPEN_ATTEMPTS = 20  # tries to open a SQLite file another process is creating (≈ 10 s in all)


class Status(str, enum.Enum):
    OK = "ok"
    FAILED = "failed"


@dataclass(frozen=True)
class Recording:
    """An input of a batch, known before analysis."""

    source: str  # absolute path: the unique key of a row
    call_id: str
    agent_id: str | None = None
    team: str | None = None
    agent_channel: str = "left"  # "left" | "right"
    call_date: str | None = None  # ISO date "YYYY-MM-DD"


@dataclass(frozen=True)
class Outcome:
    """What analysing one recording gave: a report (OK) or a one-line error (FAILED)."""

    recording: Recording
    content_sha: str  # sha256 of the file bytes
    settings_sha: str  # sha256 of the options + lexicon + model that produced it
    status: Status
    error: str | None  # one line, for FAILED
    report: dict | None  # the coach.report/1 JSON dict, for OK
    analysed_at: str  # ISO 8601 UTC
    # The agent's voice print from this call (agent_id known, the agent's voice sure): enrolled.
    voiceprint: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        # A row without its report (or a failure without its reason) would silently
        # drop out of stats and exports, so refuse to build one.
        if self.status is Status.OK and (self.report is None or self.error is not None):
            raise ValueError("an ok outcome needs a report and no error")
        if self.status is Status.FAILED and (self.error is None or self.report is not None):
            raise ValueError("a failed outcome needs an error and no report")


@dataclass(frozen=True)
class Stored:
    """What the database holds about a recording: enough to decide what a rerun must do."""

    recording: Recording  # as last saved: path, call id, agent, team, channel, date
    content_sha: str
    settings_sha: str
    status: Status


@dataclass(frozen=True)
class CallFilter:
    """Which rows `Store.calls` returns; None means no limit.  Dates are ISO, inclusive."""

    agent_id: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    min_score: float | None = None
    max_score: float | None = None


_metadata = sa.MetaData()

_schema = sa.Table("coach_schema", _metadata, sa.Column("version", sa.Integer, nullable=False))

_recordings = sa.Table(
    "recordings",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source", sa.Text, nullable=False, unique=True),
    sa.Column("call_id", sa.Text, nullable=False),
    sa.Column("agent_id", sa.Text),
    sa.Column("team", sa.Text),
    sa.Column("agent_channel", sa.Text, nullable=False),
    # ISO text rather than DATE/TIMESTAMP: it sorts correctly, compares equal on
    # both databases and round-trips without driver-specific date objects.
    sa.Column("call_date", sa.String(10)),
    sa.Column("content_sha", sa.String(64), nullable=False),
    sa.Column("settings_sha", sa.String(64), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("analysed_at", sa.Text, nullable=False),
    # Summary figures copied out of the report so that stats need no JSON parsing.
    sa.Column("duration_s", sa.Float),
    sa.Column("speaking_rate", sa.Float),
    sa.Column("silences", sa.Integer),
    sa.Column("interruptions", sa.Integer),  # NULL for mono: not measurable
    sa.Column("courtesy_hits", sa.Integer),
    sa.Column("forbidden_hits", sa.Integer),
    sa.Column("score", sa.Float),
    # TEXT, not JSONB: the report is only ever stored and handed back whole (the
    # summary columns above serve every query), and TEXT keeps it byte-identical
    # and the schema the same on SQLite and PostgreSQL.
    sa.Column("report", sa.Text),
    sa.Index("ix_recordings_agent_id", "agent_id"),
    sa.Index("ix_recordings_call_date", "call_date"),
)

# Schema v2: each agent's enrolled voice (coach batch with agent_id), for picking the agent on
# later mixed mono calls.  The mean of the voice prints (CAM++, unit length) of their calls.
_agent_voices = sa.Table(
    "agent_voices",
    _metadata,
    sa.Column("agent_id", sa.Text, primary_key=True),
    sa.Column("voiceprint", sa.Text, nullable=False),  # JSON list of 192 floats
    sa.Column("calls", sa.Integer, nullable=False),  # how many calls it is the mean of
    sa.Column("updated_at", sa.Text, nullable=False),
)

_SUMMARY_COLUMNS = ("duration_s", "speaking_rate", "silences", "interruptions",
                    "courtesy_hits", "forbidden_hits", "score")


def _conditions(where: CallFilter) -> list[sa.ColumnElement[bool]]:
    r = _recordings.c
    limits = ((where.agent_id, r.agent_id.__eq__), (where.date_from, r.call_date.__ge__),
              (where.date_to, r.call_date.__le__), (where.min_score, r.score.__ge__),
              (where.max_score, r.score.__le__))
    return [compare(value) for value, compare in limits if value is not None]


def _create_v1(conn: Connection) -> None:
    # The Table objects above describe the newest schema.  When a later version
    # changes a table, replace this with v1's own DDL so that old databases still
    # pass through every step in order.
    _metadata.create_all(conn, tables=[_schema, _recordings])


def _add_agent_voices(conn: Connection) -> None:
    _agent_voices.create(conn)


# Step N brings a database from version N-1 to N; append one per new version.
_MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _create_v1, 2: _add_agent_voices}


class Store:
    """The results database at ``target``: a file path, ``sqlite:///…`` or ``postgresql://…``.

    ``create=False`` requires an existing coach database instead of creating an empty
    one; ``read_only=True`` (export, stats, serve) also opens it without writing a
    byte, so a read-only file or a user with SELECT rights alone is enough.  Create one
    Store per process (engines must not cross a fork); use it as a context manager or
    call ``close()``.
    """

    def __init__(self, target: str, create: bool = True, read_only: bool = False) -> None:
        create = create and not read_only
        url = _engine_url(target, create, read_only)
        # Where the database is, for messages: the file path, or the URL as the user
        # would write it, without the password.
        self.where = (url.database if url.get_backend_name() == "sqlite"
                      else url.set(drivername="postgresql").render_as_string(hide_password=True))
        if url.get_backend_name() == "sqlite" and read_only:
            self._engine = sa.create_engine(url, creator=functools.partial(_connect_read_only, url.database))
        else:
            self._engine = sa.create_engine(url)
        if self._engine.dialect.name == "sqlite":
            _configure_sqlite(self._engine, read_only)
        elif read_only:
            self._engine = self._engine.execution_options(postgresql_readonly=True)
        try:
            with self._translate_errors("open"):
                if read_only:
                    with self._reading() as conn:
                        _check_version(conn, self.where, migrating=False)
                else:
                    self._open_schema(create)
        except BaseException:
            self._engine.dispose()
            raise

    def _open_schema(self, create: bool) -> None:
        # Two processes creating one SQLite file race to switch it to WAL, and SQLite answers
        # the loser "database is locked" at once, without waiting out the busy timeout.
        for attempt in range(OPEN_ATTEMPTS):
            try:
                with self._engine.connect().execution_options(coach_write=True) as conn, conn.begin():
                    _migrate(conn, self.where, create)
                return
            except sa.exc.OperationalError as exc:
                if "locked" not in str(exc.orig) or attempt == OPEN_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def known(self) -> dict[str, Stored]:
        """source → what the database holds about it (enough to decide what a rerun must do)."""
        r = _recordings.c
        query = sa.select(r.source, r.call_id, r.agent_id, r.team, r.agent_channel, r.call_date,
                          r.content_sha, r.settings_sha, r.status)
        with self._reading() as conn:
            return {row.source: Stored(Recording(row.source, row.call_id, row.agent_id, row.team, row.agent_channel,
                                                 row.call_date),
                                       row.content_sha, row.settings_sha, Status(row.status))
                    for row in conn.execute(query)}

    def save(self, outcome: Outcome, replaces: str | None = None) -> None:
        """Insert or replace the row of ``outcome.recording.source``, in one transaction;
        ``replaces``: the row of that other source is this recording's (its file moved),
        so it takes the new path and the result instead of a second row appearing."""
        row: dict[str, Any] = {
            **_metadata_of(outcome.recording),
            "content_sha": outcome.content_sha, "settings_sha": outcome.settings_sha,
            "status": outcome.status.value, "error": outcome.error, "analysed_at": outcome.analysed_at,
            **_summary(outcome.report),
            "report": None if outcome.report is None else json.dumps(outcome.report, ensure_ascii=False),
        }
        insert = sqlite.insert if self._engine.dialect.name == "sqlite" else postgresql.insert
        stmt = insert(_recordings).values(row)
        # One statement, so a concurrent writer of the same source can never produce two rows.
        stmt = stmt.on_conflict_do_update(
            index_elements=[_recordings.c.source],
            set_={name: stmt.excluded[name] for name in row if name != "source"},
        )
        with self._writing("write") as conn:
            if replaces and replaces != outcome.recording.source:
                _move(conn, replaces, outcome.recording.source)
            conn.execute(stmt)
            if outcome.voiceprint is not None and outcome.recording.agent_id:
                _enrol(conn, outcome.recording.agent_id, outcome.voiceprint, outcome.analysed_at)

    def agent_voices(self) -> dict[str, tuple[float, ...]]:
        """agent id → their enrolled voice print (unit length)."""
        with self._reading() as conn:
            return {row.agent_id: tuple(json.loads(row.voiceprint))
                    for row in conn.execute(sa.select(_agent_voices.c.agent_id, _agent_voices.c.voiceprint))}

    def relabel(self, recording: Recording, previous: str) -> None:
        """The row of source ``previous`` gets ``recording``'s path and metadata (agent, team,
        date, call id), keeping its analysis: a corrected manifest or a moved archive."""
        with self._writing("write") as conn:
            if previous != recording.source:
                _move(conn, previous, recording.source)
            conn.execute(sa.update(_recordings).where(_recordings.c.source == recording.source)
                         .values(_metadata_of(recording)))

    def remove(self, source: str) -> None:
        """Delete the row of ``source`` (a stale second row of a recording kept under another path)."""
        with self._writing("write") as conn:
            conn.execute(sa.delete(_recordings).where(_recordings.c.source == source))

    def recordings(self) -> Iterator[dict[str, Any]]:
        """Every row in source order: metadata, status, error, summary columns and the report dict (or None)."""
        columns = [c for c in _recordings.c if c.name != "id"]
        order = _recordings.c.source
        if self._engine.dialect.name == "postgresql":
            # Byte order, like SQLite's default, so both databases export identically.
            order = order.collate("C")
        # yield_per streams the rows (a server-side cursor on PostgreSQL): reports are
        # tens of kB each, too many to hold for a large batch.
        query = sa.select(*columns).order_by(order).execution_options(yield_per=500)
        with self._reading() as conn:
            for row in conn.execute(query):
                item = row._asdict()
                item["status"] = Status(item["status"])
                item["report"] = None if item["report"] is None else json.loads(item["report"])
                yield item

    def calls(self, where: CallFilter = CallFilter(), limit: int | None = None,
              offset: int = 0) -> list[dict[str, Any]]:
        """Rows matching ``where`` without their reports, newest call first (for `coach serve`);
        ``limit``/``offset`` take one page of them."""
        r = _recordings.c
        query = (sa.select(*[c for c in _recordings.c if c.name != "report"]).where(*_conditions(where))
                 .order_by(r.call_date.desc().nulls_last(), r.call_id, r.id).limit(limit).offset(offset))
        with self._reading() as conn:
            return [{**row._asdict(), "status": Status(row.status)} for row in conn.execute(query)]

    def count(self, where: CallFilter = CallFilter()) -> tuple[int, int]:
        """How many rows match ``where``, and how many of those failed."""
        failed = sa.func.count().filter(_recordings.c.status != Status.OK.value)
        query = sa.select(sa.func.count(), failed).select_from(_recordings).where(*_conditions(where))
        with self._reading() as conn:
            total, failures = conn.execute(query).one()
        return total, failures

    def call(self, row_id: int) -> dict[str, Any] | None:
        """One row by its id, with its report dict (None for a failed recording), or None."""
        query = sa.select(_recordings).where(_recordings.c.id == row_id)
        with self._reading() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        item = row._asdict()
        item["status"] = Status(item["status"])
        item["report"] = None if item["report"] is None else json.loads(item["report"])
        return item

    def agents(self) -> list[str]:
        r = _recordings.c
        query = sa.select(r.agent_id).where(r.agent_id.is_not(None)).distinct().order_by(r.agent_id)
        with self._reading() as conn:
            return [row.agent_id for row in conn.execute(query)]

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _writing(self, action: str) -> Iterator[Connection]:
        """A write transaction (SQLite: BEGIN IMMEDIATE, see _configure_sqlite); driver errors → StoreError."""
        with self._translate_errors(action):
            with self._engine.connect().execution_options(coach_write=True) as conn, conn.begin():
                yield conn

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with self._translate_errors("read"):
            with self._engine.connect() as conn, conn.begin():
                yield conn

    @contextmanager
    def _translate_errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except sa.exc.DBAPIError as exc:
            lines = str(exc.orig).strip().splitlines()  # psycopg messages span several lines
            cause = lines[0] if lines else type(exc.orig).__name__
            fix = ("check the URL and that the server is running" if self._engine.dialect.name == "postgresql"
                   else "check the file or pass another --db")
            raise StoreError(f"cannot {action} the database {self.where} ({cause}): {fix}") from None


def _engine_url(target: str, create: bool, read_only: bool) -> URL:
    """The SQLAlchemy URL for ``target``, after checking a SQLite file can be used that way."""
    if "://" not in target:
        return URL.create("sqlite", database=_sqlite_file(Path(target), create, read_only))
    try:
        url = make_url(target)
    except sa.exc.ArgumentError:
        raise StoreError(f"cannot parse the database URL {target!r}: "
                         "pass a file path, sqlite:///PATH or postgresql://USER@HOST/DB") from None
    if url.drivername == "sqlite":
        if not url.database or url.database == ":memory:":
            raise StoreError(f"the database URL {target!r} names no file: pass sqlite:///PATH")
        return url.set(database=_sqlite_file(Path(url.database), create, read_only))
    if url.drivername in ("postgresql", "postgresql+psycopg"):
        return url.set(drivername="postgresql+psycopg")  # psycopg 3, not SQLAlchemy's default psycopg2
    raise StoreError(f"unsupported database URL {url.render_as_string(hide_password=True)!r}: "
                     "pass a file path, sqlite:///PATH or postgresql://USER@HOST/DB")


def _sqlite_file(path: Path, create: bool, read_only: bool) -> str:
    """The absolute path of a SQLite file that can be read (``read_only``), or created (if
    ``create``, owner-only) and written; else StoreError."""
    path = path.expanduser().absolute()
    folder = path.parent
    if not create and not path.exists():
        raise StoreError(f"cannot open the database {path} (it does not exist): "
                         "run coach batch with this --db first or pass another --db")
    if read_only:
        if path.is_dir():
            raise StoreError(f"cannot read the database {path} (it is a directory): name the file inside it")
        if not os.access(path, os.R_OK):
            raise StoreError(f"cannot read the database {path} (permission denied): "
                             "ask its owner for read access or pass another --db")
        return str(path)
    if not folder.is_dir():
        problem, fix = f"directory {folder} does not exist", "create it"
    # WAL mode writes <db>-wal and <db>-shm next to the file, so the directory
    # must be writable even when the file already exists.
    elif not os.access(folder, os.W_OK | os.X_OK):
        problem, fix = f"directory {folder} is not writable", "make it writable"
    elif path.is_dir():
        problem, fix = "it is a directory", "name a file inside it"
    elif path.exists() and not os.access(path, os.R_OK | os.W_OK):
        problem, fix = "the file is read-only", "make it writable"
    else:
        _create_private(path)
        return str(path)
    raise StoreError(f"cannot write the database {path} ({problem}): {fix} or pass another --db")


def _create_private(path: Path) -> None:
    """An empty file only its owner can read, if none is there: SQLite makes a database of it
    (and gives its -wal and -shm files the same mode); left to SQLite it would be 0644."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass  # there already, or another batch process made it a moment ago
    except OSError as exc:
        raise StoreError(f"cannot create the database {path} ({exc.strerror}): pass another --db") from None


def _connect_read_only(path: str) -> sqlite3.Connection:
    """A read-only SQLite connection that also works where nothing may be written.

    A WAL database needs its -shm file to be read; where it is absent and cannot be created
    (a read-only folder or file system), no writer can be active either, so the file is
    opened as immutable instead.
    """
    error: sqlite3.Error | None = None
    for flags in ("mode=ro", "mode=ro&immutable=1"):
        conn = sqlite3.connect(f"file:{quote(path)}?{flags}", uri=True, check_same_thread=False)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            error = exc
    assert error is not None
    raise error


def _configure_sqlite(engine: sa.Engine, read_only: bool) -> None:
    """Settings that let several processes write one SQLite file safely."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module (it would not
        # BEGIN before DDL or SELECT); the "begin" hook below emits BEGIN itself.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        # Busy timeout first: switching to WAL needs a brief lock another process may hold.
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # WAL: readers never block the writer, and a writer waits (busy timeout)
        # instead of failing while another process commits.  Setting it is a write.
        if not read_only:
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front: a deferred transaction that reads
        # first and then writes cannot wait for the lock and fails with "database
        # is locked" when another process committed in between.
        immediate = conn.get_execution_options().get("coach_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _migrate(conn: Connection, where: str, create: bool) -> None:
    """Bring the schema to SCHEMA_VERSION inside the caller's write transaction."""
    if conn.dialect.name == "postgresql":
        # Serialise concurrent first opens (transactional DDL holds the rest);
        # SQLite gets the same from BEGIN IMMEDIATE.  The key is arbitrary but fixed.
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(7202611)"))
    apply_migrations(conn, _schema, _MIGRATIONS, _check_version(conn, where, migrating=create), SCHEMA_VERSION)


def apply_migrations(conn: Connection, schema: sa.Table, migrations: dict[int, Callable[[Connection], None]],
                     version: int, newest: int) -> None:
    """Run the steps after ``version`` up to ``newest`` and record ``newest`` in ``schema`` (the
    results' tables here, the workspace's in `coach.qa.workspace`)."""
    if version == newest:
        return
    for step in range(version + 1, newest + 1):
        migrations[step](conn)
    conn.execute(sa.delete(schema))
    conn.execute(sa.insert(schema).values(version=newest))


def _check_version(conn: Connection, where: str, migrating: bool) -> int:
    """The database's schema version, when this coach can use it (``migrating``: an empty
    database will be set up; otherwise it must hold coach results)."""
    version = 0
    if sa.inspect(conn).has_table(_schema.name):
        version = conn.execute(sa.select(sa.func.max(_schema.c.version))).scalar() or 0
    if version == 0 and not migrating:
        raise StoreError(f"the database {where} holds no coach results (no coach_schema table): "
                         "run coach batch with this --db first or pass another --db")
    if version > SCHEMA_VERSION:
        raise StoreError(f"the database {where} was made by a newer coach (schema version {version}, "
                         f"this coach knows {SCHEMA_VERSION}): upgrade coach or pass another --db")
    return version


def _metadata_of(recording: Recording) -> dict[str, Any]:
    """The columns a recording's metadata fills."""
    return {"source": recording.source, "call_id": recording.call_id, "agent_id": recording.agent_id,
            "team": recording.team, "agent_channel": recording.agent_channel, "call_date": recording.call_date}


def _move(conn: Connection, old: str, new: str) -> None:
    """The row of source ``old`` becomes the row of ``new`` (keeping its id, so links to it
    stay valid), its report's ``source`` with it."""
    r = _recordings.c
    # A row already at the new path (another batch got there first) is this recording's too.
    conn.execute(sa.delete(_recordings).where(r.source == new))
    report = conn.execute(sa.select(r.report).where(r.source == old)).scalar()
    values: dict[str, Any] = {"source": new}
    if report is not None:
        values["report"] = json.dumps({**json.loads(report), "source": new}, ensure_ascii=False)
    conn.execute(sa.update(_recordings).where(r.source == old).values(values))


def _enrol(conn: Connection, agent_id: str, voiceprint: tuple[float, ...], when: str) -> None:
    """Add one call's voice print to the agent's enrolled voice: the running mean, kept unit length."""
    v = _agent_voices.c
    row = conn.execute(sa.select(v.voiceprint, v.calls).where(v.agent_id == agent_id)).first()
    calls = row.calls if row else 0
    mean = [x * calls for x in json.loads(row.voiceprint)] if row else [0.0] * len(voiceprint)
    mean = [m + x for m, x in zip(mean, voiceprint)]
    norm = sum(x * x for x in mean) ** 0.5 or 1.0
    values = {"voiceprint": json.dumps([round(x / norm, 6) for x in mean]), "calls": calls + 1, "updated_at": when}
    if row:
        conn.execute(sa.update(_agent_voices).where(v.agent_id == agent_id).values(values))
    else:
        conn.execute(sa.insert(_agent_voices).values(agent_id=agent_id, **values))


def _measurable(report: dict, metric: str) -> bool:
    """Whether the report could measure `metric` (reports before `measurable` only knew mono)."""
    if "measurable" in report:
        return report["measurable"].get(metric, {}).get("measurable", True)
    return metric != "interruption" or report.get("agent_channel") != "mono"


def _summary(report: dict | None) -> dict[str, Any]:
    """The summary columns of a coach.report/1 dict (all None for a failed recording)."""
    if report is None:
        return dict.fromkeys(_SUMMARY_COLUMNS)
    agent_phrases = [p for p in report["phrases"] if p["speaker"] == "agent"]
    return {
        "duration_s": report["duration_s"],
        "speaking_rate": report["speaking_rate"]["chars_per_min"],
        # A hold (agent asked the customer to wait) is not a dead-air problem.
        "silences": sum(1 for s in report["silences"] if not s["hold"]),
        "interruptions": len(report["interruptions"]) if _measurable(report, "interruption") else None,
        "courtesy_hits": sum(1 for p in agent_phrases if p["category"] == "courtesy"),
        "forbidden_hits": sum(1 for p in agent_phrases if p["category"] == "forbidden"),
        # None: not scored (nothing to measure); stats leave such calls out of every score figure.
        "score": (report.get("score") or {}).get("total"),
    }
