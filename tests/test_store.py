"""The results database on a real SQLite file and a real throwaway PostgreSQL server.

The PostgreSQL cases are marked ``postgres``; they need the server binaries
(``tests/servers.py`` says how to install them) and fail, rather than skip,
without them, so that a missing install is noticed.  Deselect with -m "not postgres".
"""

import contextlib
import dataclasses
import multiprocessing
import os
import sqlite3
import stat
import subprocess
import uuid

import psycopg
import pytest

from coach.errors import StoreError
from coach.qa.store import SCHEMA_VERSION, CallFilter, Outcome, Recording, Status, Store, Stored
from tests.fixtures.reports import make_outcome
from tests.servers import postgres_server


@pytest.fixture(scope="session")
def pg_server():
    """One server for the whole session; each test gets its own database on it."""
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "results.db")
    server = request.getfixturevalue("pg_server")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server.rsplit('/', 1)[0]}/{name}"


def execute(target: str, sql: str) -> list[tuple]:
    """Raw SQL behind the store's back, with the plain driver of each database."""
    if target.startswith("postgresql://"):
        with psycopg.connect(target, autocommit=True) as conn:
            cur = conn.execute(sql)
            return cur.fetchall() if cur.description else []
    with sqlite3.connect(target) as conn:
        return conn.execute(sql).fetchall()


def test_a_new_database_is_empty_and_records_its_schema_version(target):
    with Store(target) as store:
        assert store.known() == {}
        assert list(store.recordings()) == []
    assert execute(target, "SELECT version FROM coach_schema") == [(SCHEMA_VERSION,)]


def test_a_saved_outcome_is_there_after_reopening_with_its_summary(target):
    outcome = make_outcome("/calls/张三-0001.wav")
    with Store(target) as store:
        store.save(outcome)
    with Store(target) as store:
        (row,) = store.recordings()
    assert row["report"] == outcome.report  # Chinese text intact
    assert {k: row[k] for k in ("source", "call_id", "agent_id", "team", "agent_channel", "call_date",
                                "content_sha", "settings_sha", "status", "error", "analysed_at")} == {
        "source": "/calls/张三-0001.wav", "call_id": "张三-0001", "agent_id": "A001", "team": "一组",
        "agent_channel": "left", "call_date": "2026-11-16", "content_sha": "c" * 64, "settings_sha": "s" * 64,
        "status": Status.OK, "error": None, "analysed_at": "2026-11-20T08:00:00Z"}
    # The hold is no silence, and the customer's 谢谢 is no courtesy hit of the agent.
    assert {k: row[k] for k in ("duration_s", "speaking_rate", "silences", "interruptions",
                                "courtesy_hits", "forbidden_hits", "score")} == {
        "duration_s": 120.0, "speaking_rate": 250.0, "silences": 2, "interruptions": 1,
        "courtesy_hits": 2, "forbidden_hits": 1, "score": 80.0}


def test_saving_a_source_again_replaces_its_row(target):
    with Store(target) as store:
        store.save(make_outcome("/calls/a.wav", content_sha="1" * 64))
        store.save(make_outcome("/calls/a.wav", failed=True, content_sha="2" * 64))
        rows = list(store.recordings())
    assert len(rows) == 1
    assert rows[0]["status"] is Status.FAILED
    assert rows[0]["content_sha"] == "2" * 64
    assert rows[0]["report"] is None and rows[0]["score"] is None
    assert execute(target, "SELECT count(*) FROM recordings") == [(1,)]


def test_known_gives_metadata_content_settings_and_status_per_source(target):
    with Store(target) as store:
        store.save(make_outcome("/calls/b.wav", content_sha="1" * 64, settings_sha="9" * 64))
        store.save(make_outcome("/calls/a.wav", failed=True, content_sha="2" * 64, settings_sha="9" * 64, team=None))
        assert store.known() == {
            "/calls/a.wav": Stored(Recording("/calls/a.wav", "a", "A001", None, "left", "2026-11-16"),
                                   "2" * 64, "9" * 64, Status.FAILED),
            "/calls/b.wav": Stored(Recording("/calls/b.wav", "b", "A001", "一组", "left", "2026-11-16"),
                                   "1" * 64, "9" * 64, Status.OK),
        }


def test_a_failed_outcome_keeps_its_error_and_no_figures(target):
    with Store(target) as store:
        store.save(make_outcome("/calls/broken.wav", failed=True))
        (row,) = store.recordings()
    assert row["status"] is Status.FAILED
    assert row["error"] == "not an audio file: convert it to WAV"
    assert row["report"] is None
    assert all(row[k] is None for k in ("duration_s", "speaking_rate", "silences", "interruptions",
                                        "courtesy_hits", "forbidden_hits", "score"))


def test_recordings_come_in_source_order(target):
    sources = ["/calls/b.wav", "/calls/B.wav", "/calls/a.wav", "/calls/张.wav"]
    with Store(target) as store:
        for source in sources:
            store.save(make_outcome(source))
        assert [r["source"] for r in store.recordings()] == sorted(sources)


def test_calls_filter_count_and_page_newest_first(target):
    days = ["2026-11-01", "2026-11-03", "2026-11-03", "2026-11-05", "2026-11-07", "2026-11-09", None]
    with Store(target) as store:
        for i, day in enumerate(days):
            store.save(make_outcome(f"/calls/c{i}.wav", call_date=day, score=50.0 + 5 * i, failed=i == 4,
                                    agent_id="A001" if i % 2 else "B002"))
        everything = [r["call_id"] for r in store.calls()]
        # Newest first, ties by call id, undated last.
        assert everything == ["c5", "c4", "c3", "c1", "c2", "c0", "c6"]
        pages = [[r["call_id"] for r in store.calls(limit=3, offset=n)] for n in (0, 3, 6)]
        assert pages == [everything[:3], everything[3:6], everything[6:]]
        assert store.count() == (7, 1)
        recent = CallFilter(date_from="2026-11-03")
        assert store.count(recent) == (5, 1)
        assert [r["call_id"] for r in store.calls(recent, limit=2, offset=2)] == ["c3", "c1"]
        # A failed call has no score, so a score filter leaves it out.
        assert store.count(CallFilter(agent_id="A001", min_score=55.0)) == (3, 0)


def test_a_mono_call_has_no_interruption_count(target):
    with Store(target) as store:
        store.save(make_outcome("/calls/mono.wav", agent_channel="mono"))
        (row,) = store.recordings()
    assert row["interruptions"] is None


def test_a_database_of_a_newer_schema_is_refused(target):
    Store(target).close()
    execute(target, f"UPDATE coach_schema SET version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="made by a newer coach .*upgrade coach"):
        Store(target)


def test_create_false_refuses_a_database_without_coach_results(target):
    if target.startswith("postgresql://"):  # the server's database exists, but is empty
        with pytest.raises(StoreError, match="holds no coach results"):
            Store(target, create=False)
    else:
        with pytest.raises(StoreError, match="does not exist"):
            Store(target, create=False)
    Store(target).close()
    Store(target, create=False).close()


# ---- SQLite only -------------------------------------------------------------------------

def test_sqlite_runs_in_wal_mode(tmp_path):
    Store(str(tmp_path / "r.db")).close()
    assert execute(str(tmp_path / "r.db"), "PRAGMA journal_mode") == [("wal",)]


def test_sqlite_url_is_accepted(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'r.db'}") as store:
        store.save(make_outcome("/calls/a.wav"))
    assert execute(str(tmp_path / "r.db"), "SELECT source FROM recordings") == [("/calls/a.wav",)]


def test_a_missing_directory_is_reported_with_the_path(tmp_path):
    path = tmp_path / "nowhere" / "r.db"
    with pytest.raises(StoreError, match=f"cannot write the database {path} .directory {path.parent} does not exist"):
        Store(str(path))


def test_a_read_only_file_is_reported_with_the_path(tmp_path):
    path = tmp_path / "r.db"
    Store(str(path)).close()
    path.chmod(0o444)
    if os.access(path, os.W_OK):
        pytest.skip("running as root: a read-only file is still writable")
    with pytest.raises(StoreError, match=f"cannot write the database {path} .the file is read-only"):
        Store(str(path))


def test_a_file_that_is_no_database_is_refused(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("not sqlite at all\n" * 100)
    with pytest.raises(StoreError, match=f"cannot open the database {path} .file is not a database"):
        Store(str(path))


def test_an_unreachable_postgresql_server_is_reported_without_the_password():
    with pytest.raises(StoreError, match=r"cannot open the database postgresql://coach:\*\*\*@127\.0\.0\.1:1/"
                                         r"x \(.*\): check the URL and that the server is running") as caught:
        Store("postgresql://coach:secret@127.0.0.1:1/x")
    assert "secret" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_outcome_must_match_its_status():
    recording = Recording("/calls/a.wav", "a")
    with pytest.raises(ValueError):
        Outcome(recording, "c", "s", Status.OK, None, None, "2026-11-20T08:00:00Z")
    with pytest.raises(ValueError):
        Outcome(recording, "c", "s", Status.FAILED, None, None, "2026-11-20T08:00:00Z")


def _save_many(target: str, prefix: str, count: int) -> None:
    """One batch process: open the (maybe not yet created) file and save ``count`` outcomes."""
    with Store(target) as store:
        for i in range(count):
            store.save(make_outcome(f"/calls/{prefix}-{i:03d}.wav"))


def test_two_processes_can_write_one_sqlite_file_at_once(tmp_path):
    target = str(tmp_path / "shared.db")
    # spawn, like a fresh worker process: nothing inherited from this one
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.starmap(_save_many, [(target, "a", 50), (target, "b", 50)])  # re-raises a worker's error
    with Store(target) as store:
        sources = [r["source"] for r in store.recordings()]
    assert len(sources) == len(set(sources)) == 100


# ---- corrections and moves: one row per recording, its id kept ------------------------------

def test_relabel_updates_metadata_and_path_and_keeps_the_analysis(target):
    with Store(target) as store:
        store.save(make_outcome("/old/a.wav"))
        (before,) = store.calls()
        store.relabel(Recording("/new/a.wav", "a-1", "A002", "二组", "left", "2026-11-17"), "/old/a.wav")
        (row,) = store.recordings()
        (after,) = store.calls()
    assert after["id"] == before["id"]  # links to the call stay valid
    assert (row["source"], row["call_id"], row["agent_id"], row["team"], row["call_date"]) == (
        "/new/a.wav", "a-1", "A002", "二组", "2026-11-17")
    assert row["report"]["source"] == "/new/a.wav" and row["score"] == 80.0 and row["analysed_at"] == before["analysed_at"]


def test_saving_with_replaces_moves_the_row_instead_of_adding_one(target):
    with Store(target) as store:
        store.save(make_outcome("/old/a.wav", score=50.0))
        store.save(make_outcome("/elsewhere/b.wav"))
        store.save(make_outcome("/new/a.wav", score=70.0), replaces="/old/a.wav")
        rows = {r["source"]: r["score"] for r in store.recordings()}
        store.remove("/elsewhere/b.wav")
        assert [r["source"] for r in store.recordings()] == ["/new/a.wav"]
    assert rows == {"/new/a.wav": 70.0, "/elsewhere/b.wav": 80.0}


# ---- readers: read-only, and a database only its owner can read ------------------------------

def test_a_read_only_store_reads_and_never_writes(target):
    with Store(target) as store:
        store.save(make_outcome("/calls/a.wav"))
    with Store(target, read_only=True) as store:
        assert [r["source"] for r in store.recordings()] == ["/calls/a.wav"]
        with pytest.raises(StoreError, match="cannot write the database"):
            store.save(make_outcome("/calls/b.wav"))


def test_a_read_only_store_needs_coach_results(target):
    if not target.startswith("postgresql://"):
        sqlite3.connect(target).close()
    with pytest.raises(StoreError, match="holds no coach results"):
        Store(target, read_only=True)


@contextlib.contextmanager
def read_only(*paths):
    """Make files and folders read-only for this process, root included (chattr +i), and back."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", *map(str, paths)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", *map(str, paths)], check=True)
    else:
        modes = {p: p.stat().st_mode for p in paths}
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)


def test_export_and_stats_work_on_a_read_only_sqlite_file(tmp_path):
    import sys

    folder = tmp_path / "archive"
    folder.mkdir()
    db = folder / "qa.db"
    with Store(str(db)) as store:
        store.save(make_outcome("/calls/a.wav"))
    out = tmp_path / "out"
    with read_only(db, folder):
        with Store(str(db), read_only=True) as store:
            assert len(list(store.recordings())) == 1
        for command in (["export", "--db", str(db), "--csv", str(out / "a.csv")], ["stats", "--db", str(db)]):
            done = subprocess.run([sys.executable, "-m", "coach.cli", *command], capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
        assert sorted(p.name for p in folder.iterdir()) == ["qa.db"]  # nothing written beside it
    assert (out / "a.csv").read_text(encoding="utf-8-sig").count("\n") == 2


def test_a_new_sqlite_database_is_readable_by_its_owner_only(tmp_path):
    db = tmp_path / "qa.db"
    with Store(str(db)) as store:
        store.save(make_outcome("/calls/a.wav"))
        # The WAL files hold the same transcripts until a checkpoint: they get the same mode.
        for path in (db, tmp_path / "qa.db-wal", tmp_path / "qa.db-shm"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_not_scored_call_has_no_score_and_no_score_filter_takes_it(target):
    with Store(target) as store:
        store.save(make_outcome("/calls/silent.wav", score=None))
        store.save(make_outcome("/calls/talk.wav", score=70.0))
        assert {r["source"]: r["score"] for r in store.recordings()} == {"/calls/silent.wav": None,
                                                                       "/calls/talk.wav": 70.0}
        assert store.count(CallFilter(min_score=0.0)) == (1, 0) and store.count() == (2, 0)


def test_a_version_1_database_gains_the_enrolled_voices_and_keeps_its_rows(target):
    with Store(target) as store:
        store.save(make_outcome("/calls/old.wav"))
    execute(target, "DROP TABLE agent_voices")  # what a coach of schema version 1 made
    execute(target, "UPDATE coach_schema SET version = 1")
    with Store(target) as store:
        assert [r["source"] for r in store.recordings()] == ["/calls/old.wav"]
        assert store.agent_voices() == {}
    assert execute(target, "SELECT version FROM coach_schema") == [(SCHEMA_VERSION,)]


def test_an_agents_voice_is_the_running_mean_of_their_calls_kept_unit_length(target):
    first, second = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)
    with Store(target) as store:
        store.save(dataclasses.replace(make_outcome("/calls/a.wav"), voiceprint=first))
        store.save(dataclasses.replace(make_outcome("/calls/b.wav"), voiceprint=second))
        store.save(dataclasses.replace(make_outcome("/calls/c.wav", agent_id=None), voiceprint=first))  # whose?
        store.save(make_outcome("/calls/d.wav", agent_id="A002"))  # no sure voice in this call
        voices = store.agent_voices()
    assert list(voices) == ["A001"]
    assert voices["A001"] == pytest.approx((0.707107, 0.707107, 0.0))
    assert execute(target, "SELECT calls FROM agent_voices") == [(2,)]
