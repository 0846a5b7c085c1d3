"""coach batch: inputs, the resume plan, settings hashes, and whole runs with the real model
(broken files mixed in, SIGKILL in the middle, PostgreSQL, Ray)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from coach.qa.batch import Settings, content_hash, discover, needs_review, plan, read_manifest
from coach.config import Options
from coach.errors import ManifestError
from coach.qa.store import Recording, Status, Stored
from tests.fixtures.faults import (busy_folder, busy_with_b_long, coach_processes_under, rows, short_calls,
                                   start_batch, wait_until)

ROOT = Path(__file__).resolve().parent.parent
COACH = [sys.executable, "-m", "coach.cli"]


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- inputs ---------------------------------------------------------------------------------

def test_folder_is_searched_recursively_for_audio_only(tmp_path):
    for name in ("a.wav", "day2/b.MP3", "day2/deep/c.flac", "notes.txt", "day2/report.json", "d.wav.bak"):
        touch(tmp_path / name)
    found = discover(tmp_path)
    assert [r.call_id for r in found] == ["a", "day2/b", "day2/deep/c"]
    assert all(Path(r.source).is_absolute() and r.agent_channel == "left" and r.call_date for r in found)


def test_manifest_gives_ids_channel_team_and_date(tmp_path):
    touch(tmp_path / "calls" / "x.wav")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,call_id,agent_id,agent_channel,team,date\n"
                        "calls/x.wav,C-1,A007,right,北区,2026-11-20\n"
                        "calls/missing.wav,,,,,\n", encoding="utf-8")
    first, second = read_manifest(manifest)
    assert first == Recording(str((tmp_path / "calls/x.wav").resolve()), "C-1", "A007", "北区", "right", "2026-11-20")
    # A missing file is listed all the same: the batch records it as failed with the reason.
    assert (second.call_id, second.agent_id, second.agent_channel, second.call_date) == ("missing", None, "left", None)


@pytest.mark.parametrize("body, message", [
    ("file,agent\nx.wav,1\n", "no 'path' column"),
    ("path,agent_channel\nx.wav,middle\n", "m.csv:2: agent_channel 'middle'"),
    ("path\nx.wav\n./x.wav\n", "m.csv:3: ./x.wav is listed twice (first on line 2)"),
    ("path,date\nx.wav,20/11/2026\n", "date '20/11/2026': use YYYY-MM-DD"),
    ("path\n\n,\n", "empty path"),
])
def test_malformed_manifest_says_where_and_what(tmp_path, body, message):
    manifest = tmp_path / "m.csv"
    manifest.write_text(body, encoding="utf-8")
    with pytest.raises(ManifestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_manifest(manifest)


def test_input_that_is_neither_folder_nor_manifest(tmp_path):
    with pytest.raises(ManifestError, match="does not exist"):
        discover(tmp_path / "nope")
    with pytest.raises(ManifestError, match="neither a folder nor a .csv"):
        discover(touch(tmp_path / "call.wav"))


# --- the plan -------------------------------------------------------------------------------

def test_plan_redoes_only_new_changed_or_resettled_recordings(tmp_path):
    same, changed, new = (touch(tmp_path / f"{n}.wav", n.encode()) for n in ("same", "changed", "new"))
    recs = [Recording(str(p), p.stem) for p in (same, changed, new)]
    done = {str(same): Stored(recs[0], content_hash(same), "S1", Status.FAILED),
            str(changed): Stored(recs[1], "old-bytes", "S1", Status.OK)}
    work = plan(recs, done, "S1")
    assert [job.recording.call_id for job in work.todo] == ["changed", "new"]
    assert (work.skipped, work.skipped_failed) == (1, 1)
    work = plan(recs, done, "S2")  # other settings: everything again
    assert len(work.todo) == 3 and work.skipped == 0


def test_settings_hash_follows_options_and_lexicon_but_not_threads(tmp_path):
    base = Settings(Options())
    threads = Settings(replace(Options(), asr=replace(Options().asr, cpu_threads=1)))
    stricter = Settings(replace(Options(), silence=replace(Options().silence, min_s=4.0)))
    lexicon = tmp_path / "lex"
    touch(lexicon / "forbidden.txt", "没门 | suggest: 这个我帮您想办法\n".encode())
    extra = Settings(Options(), lexicon_dirs=(str(lexicon),))
    assert base.fingerprint() == threads.fingerprint()
    assert len({base.fingerprint(), stricter.fingerprint(), extra.fingerprint()}) == 3
    before = extra.fingerprint()
    touch(lexicon / "forbidden.txt", "没门 | suggest: 我帮您想办法\n".encode())
    assert extra.fingerprint() != before


def test_a_layout_given_redoes_the_calls_and_an_uncertain_separation_is_for_review():
    assert Settings(Options(), layout="mixed").fingerprint() != Settings(Options()).fingerprint()
    assert needs_review({"separation": {"voices": 2, "review": True, "uncertain": "…"}})
    assert not needs_review({"separation": {"voices": 2, "review": False}}) and not needs_review({"separation": None})
    assert not needs_review(None)  # a failed recording has no report


# --- whole runs (real model, real files, real databases) -------------------------------------

@pytest.fixture(scope="module")
def calls(tmp_path_factory) -> Path:
    """Four short stereo calls (8 kHz μ-law and 16 kHz), a broken one, an empty one and a note."""
    folder = tmp_path_factory.mktemp("calls")
    short_calls(folder)
    touch(folder / "broken.wav", b"RIFF\x10\x00\x00\x00WAVEfmt garbage")
    touch(folder / "empty.mp3", b"")
    touch(folder / "README.txt", b"not audio, ignored")
    return folder


def ok_rows(db: Path) -> list[tuple]:
    return [r for r in rows(db) if r[1] == "ok"]


def batch(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*COACH, "batch", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.mark.model
def test_batch_records_every_call_and_every_failure_then_redoes_nothing(calls, tmp_path):
    db = tmp_path / "qa.db"
    first = batch(str(calls), "--db", str(db), "--workers", "2")
    assert first.returncode == 1, first.stderr
    assert "Traceback" not in first.stderr
    assert "6 recordings: 4 analysed, 0 already done, 2 failed" in first.stdout
    result = {call_id: (status, error) for call_id, status, error, _ in rows(db)}
    assert {k: v[0] for k, v in result.items()} == {"broken": "failed", "empty": "failed", "call0": "ok",
                                                      "call1": "ok", "call2": "ok", "call3": "ok"}
    assert "empty (0 bytes)" in result["empty"][1] and "not a readable audio file" in result["broken"][1]
    assert "broken.wav" in first.stderr and "empty.mp3" in first.stderr

    again = batch(str(calls), "--db", str(db))
    assert "0 analysed, 6 already done (2 of them failed)" in again.stdout, again.stdout
    assert again.returncode == 1  # the broken files are still broken
    assert len(rows(db)) == 6

    out = tmp_path / "export"
    exported = subprocess.run([*COACH, "export", "--db", str(db), "--json", str(out / "all.json"),
                               "--csv", str(out / "all.csv")], capture_output=True, text=True, cwd=ROOT)
    assert exported.returncode == 0, exported.stderr
    recordings = json.loads((out / "all.json").read_text(encoding="utf-8"))["recordings"]
    assert [(Path(r["source"]).name, r["status"]) for r in recordings][:2] == [("broken.wav", "failed"),
                                                                               ("call0.wav", "ok")]
    assert recordings[1]["report"]["schema"] == "coach.report/1" and recordings[0]["report"] is None
    assert "不清楚" in {p["phrase"] for p in recordings[1]["report"]["phrases"]}
    stats = subprocess.run([*COACH, "stats", "--db", str(db), "--by", "day"], capture_output=True, text=True,
                           cwd=ROOT)
    assert stats.returncode == 0 and "coach stats" in stats.stdout, stats.stderr


def test_export_and_stats_of_a_missing_database_say_so(tmp_path):
    for command in (["export", "--json", str(tmp_path / "x.json")], ["stats"]):
        result = subprocess.run([*COACH, command[0], "--db", str(tmp_path / "none.db"), *command[1:]],
                                capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 1 and "does not exist" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "none.db").exists()


@pytest.mark.model
def test_sigkill_mid_batch_then_rerun_finishes_without_loss_or_duplicates(calls, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for n in range(3):  # 12 good calls: enough that the kill lands in the middle
        for i in range(4):
            shutil.copy(calls / f"call{i}.wav" if i != 3 else calls / "call3.flac",
                        folder / f"n{n}_call{i}{'.flac' if i == 3 else '.wav'}")
    db = tmp_path / "qa.db"
    proc = subprocess.Popen([*COACH, "batch", str(folder), "--db", str(db), "--workers", "1"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists() and len(ok_rows(db)) >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the batch ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the parent and its worker, as a crash or OOM kill would
    proc.wait()
    before = {r[0]: r[3] for r in rows(db)}
    assert 2 <= len(before) < 12

    rerun = batch(str(folder), "--db", str(db), "--workers", "1")
    assert rerun.returncode == 0, rerun.stderr
    assert f"{12 - len(before)} analysed, {len(before)} already done, 0 failed" in rerun.stdout
    after = rows(db)
    assert len(after) == 12 and len({r[0] for r in after}) == 12
    assert all(status == "ok" for _, status, _, _ in after)
    assert all(dict((r[0], r[3]) for r in after)[k] == v for k, v in before.items())  # not redone


@pytest.mark.parametrize("where, message", [
    ("missing/dir/qa.db", "does not exist"),
])
def test_unusable_database_path_is_one_clear_line(calls, tmp_path, where, message):
    result = batch(str(calls), "--db", str(tmp_path / where), timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_read_only_database_is_one_clear_line(calls, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "qa.db"
    sqlite3.connect(db).close()
    folder.chmod(0o555)
    db.chmod(0o444)
    try:
        if os.access(db, os.W_OK):
            pytest.skip("running as root: file permissions do not stop writes")
        result = batch(str(calls), "--db", str(db), timeout=60)
    finally:
        folder.chmod(0o755)
    assert result.returncode == 1 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr


@pytest.mark.model
@pytest.mark.postgres
def test_batch_into_postgresql(calls, tmp_path):
    from tests.servers import postgres_server

    folder = tmp_path / "two"
    folder.mkdir()
    for name in ("call0.wav", "broken.wav"):
        shutil.copy(calls / name, folder / name)
    with postgres_server() as url:
        # The server trusts 127.0.0.1, so a password in the URL is accepted and not needed.
        url = url.replace("@127.0.0.1", ":pg-s3cret@127.0.0.1")
        first = batch(str(folder), "--db", url)
        again = batch(str(folder), "--db", url)
        import psycopg

        with psycopg.connect(url) as con:
            got = con.execute("SELECT call_id, status FROM recordings ORDER BY call_id").fetchall()
    assert first.returncode == 1 and "1 analysed, 0 already done, 1 failed" in first.stdout, first.stderr
    assert "0 analysed, 2 already done" in again.stdout
    assert got == [("broken", "failed"), ("call0", "ok")]
    for run in (first, again):  # the summary and the hint at `coach export` name the database
        assert "pg-s3cret" not in run.stdout + run.stderr and ":***@127.0.0.1" in run.stdout


@pytest.mark.model
@pytest.mark.ray
def test_batch_on_a_local_ray_cluster(calls, tmp_path):
    pytest.importorskip("ray", reason="Ray is installed by 'make setup' (the test extra)")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    ray_bin = Path(sys.executable).with_name("ray")
    started = subprocess.run([str(ray_bin), "start", "--head", "--port=0", "--num-cpus=2", "--include-dashboard=false",
                              "--disable-usage-stats", "--object-store-memory=268435456"],
                             capture_output=True, text=True, env=env, timeout=120)
    assert started.returncode == 0, started.stderr
    try:
        folder = tmp_path / "two"
        folder.mkdir()
        for name in ("call0.wav", "call1.wav"):
            shutil.copy(calls / name, folder / name)
        db = tmp_path / "ray.db"
        result = batch(str(folder), "--db", str(db), "--ray", "auto", "--workers", "2")
    finally:
        subprocess.run([str(ray_bin), "stop", "--force"], capture_output=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "2 analysed" in result.stdout
    assert [r[:2] for r in rows(db)] == [("call0", "ok"), ("call1", "ok")]


# --- reruns: corrections reach the database, a moved archive keeps one row per recording ----

def test_plan_updates_corrected_metadata_and_redoes_a_corrected_channel(tmp_path):
    a, b = touch(tmp_path / "a.wav", b"aaa"), touch(tmp_path / "b.wav", b"bbb")
    on_record = [Recording(str(a), "a", "A001", "一组", "left", "2026-11-16"),
                 Recording(str(b), "b", "A001", "一组", "left", "2026-11-16")]
    known = {r.source: Stored(r, content_hash(r.source), "S1", Status.OK) for r in on_record}
    corrected = [replace(on_record[0], agent_id="A002", team="二组", call_date="2026-11-17"),
                 replace(on_record[1], agent_channel="right")]
    work = plan(corrected, known, "S1")
    assert [job.recording for job in work.relabel] == [corrected[0]]  # no analysis: the audio is the same
    assert [job.recording for job in work.todo] == [corrected[1]]  # the other party is the agent now
    assert work.skipped == 0


def test_plan_follows_a_moved_recording_by_content_and_call_id(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    on_record = [Recording(str(touch(old / f"{n}.wav", n.encode())), n) for n in ("a", "b", "c")]
    known = {r.source: Stored(r, content_hash(r.source), "S1", Status.OK) for r in on_record}
    shutil.move(old, new)
    moved = discover(new)
    work = plan(moved, known, "S1")
    assert [(job.replaces, job.recording.source) for job in work.relabel] == [
        (str(old / f"{n}.wav"), str(new / f"{n}.wav")) for n in "abc"]
    assert work.todo == [] and work.duplicates == []
    # With other settings they are analysed again, each taking over its old row.
    assert [job.replaces for job in plan(moved, known, "S2").todo] == [str(old / f"{n}.wav") for n in "abc"]


def test_plan_does_not_merge_different_calls_that_share_bytes(tmp_path):
    silent = b"RIFF....WAVE silence"
    recs = [Recording(str(touch(tmp_path / f"{n}.wav", silent)), n) for n in ("a", "b")]
    empty = [Recording(str(touch(tmp_path / f"{n}.wav", b"")), n) for n in ("e1", "e2")]
    known = {recs[0].source: Stored(recs[0], content_hash(recs[0].source), "S1", Status.OK)}
    work = plan(recs + empty, known, "S1")
    # Two call ids with equal bytes (two silent recordings) are two calls; a renamed one is
    # only taken for a moved file when the old file is gone.
    assert [job.recording.call_id for job in work.todo] == ["b", "e1", "e2"] and work.skipped == 1


def test_plan_counts_a_recording_listed_twice_once_and_drops_its_second_row(tmp_path):
    a = touch(tmp_path / "x" / "a.wav", b"aaa")
    copy = touch(tmp_path / "y" / "a.wav", b"aaa")
    recs = [Recording(str(copy), "a"), Recording(str(a), "a")]
    row_of_a = {str(a): Stored(recs[1], content_hash(a), "S1", Status.OK)}
    work = plan(recs, row_of_a, "S1")
    assert work.duplicates == [(recs[0], str(a))]  # the one on record keeps its row
    assert work.stale == [] and work.skipped == 1 and work.todo == []
    # Two rows of it already (an older coach analysed a copied archive again): one goes.
    work = plan(recs, {**row_of_a, str(copy): Stored(recs[0], content_hash(copy), "S1", Status.OK)}, "S1")
    assert work.stale == [str(a)] and work.skipped == 1


def seed(db, recordings):
    """Finished rows for ``recordings`` (real files and hashes, the real settings hash)."""
    from coach.qa.store import Store
    from tests.fixtures.reports import make_outcome

    with Store(str(db)) as store:
        for rec in recordings:
            outcome = make_outcome(rec.source, content_sha=content_hash(rec.source),
                                   settings_sha=Settings(Options()).fingerprint())
            store.save(replace(outcome, recording=rec))


def rerun(recordings, db):
    """What `coach batch` does on a rerun that needs no analysis (so no model is loaded)."""
    from coach.qa.batch import run_batch
    from coach.qa.store import Store

    with Store(str(db)) as store:
        return run_batch(recordings, store, Settings(Options())), list(store.recordings())


def test_a_rerun_with_a_corrected_manifest_updates_the_rows_without_analysis(tmp_path):
    touch(tmp_path / "calls" / "a.wav", b"aaa")
    touch(tmp_path / "calls" / "b.wav", b"bbb")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,call_id,agent_id,team,date\ncalls/a.wav,C1,A001,一组,2026-11-16\n"
                        "calls/b.wav,C2,A001,一组,2026-11-16\n", encoding="utf-8")
    seed(tmp_path / "qa.db", read_manifest(manifest))
    manifest.write_text("path,call_id,agent_id,team,date\ncalls/a.wav,C1,A009,九组,2026-11-18\n"
                        "calls/b.wav,C2,A001,一组,2026-11-16\n", encoding="utf-8")
    summary, rows = rerun(read_manifest(manifest), tmp_path / "qa.db")
    assert (summary.analysed, summary.updated, summary.skipped) == (0, 1, 1)
    assert [(r["call_id"], r["agent_id"], r["team"], r["call_date"]) for r in rows] == [
        ("C1", "A009", "九组", "2026-11-18"), ("C2", "A001", "一组", "2026-11-16")]


def test_a_moved_archive_keeps_one_row_per_recording_and_stats_count_it_once(tmp_path):
    from coach.qa.stats import GroupBy, aggregate

    old = tmp_path / "2026-11"
    for n in ("a", "b"):
        touch(old / "day1" / f"{n}.wav", n.encode())
    seed(tmp_path / "qa.db", discover(old))
    new = tmp_path / "archive" / "2026-11"
    new.parent.mkdir()
    shutil.move(old, new)
    summary, rows = rerun(discover(new), tmp_path / "qa.db")
    assert (summary.analysed, summary.updated) == (0, 2)
    assert [r["source"] for r in rows] == [str(new / "day1/a.wav"), str(new / "day1/b.wav")]
    assert [r["report"]["source"] for r in rows] == [r["source"] for r in rows]
    (group,) = aggregate(rows, GroupBy.AGENT)
    assert group.calls == 2


# --- faults: a killed worker, a killed batch process ----------------------------------------

@pytest.fixture(scope="module")
def busy(calls, tmp_path_factory) -> Path:
    return busy_folder(calls, tmp_path_factory.mktemp("busy"))


@pytest.mark.model
def test_a_killed_worker_costs_only_its_recording_and_the_batch_goes_on(busy, tmp_path):
    db = tmp_path / "qa.db"
    proc = start_batch(busy, db, tmp_path / "batch.log")
    (worker,) = busy_with_b_long(proc, db)
    os.kill(worker, signal.SIGKILL)  # what the out-of-memory killer does
    assert proc.wait(timeout=300) == 1
    output = (tmp_path / "batch.log").read_text()
    assert "Traceback" not in output and "BrokenProcessPool" not in output, output
    assert "3 recordings: 2 analysed, 0 already done, 1 failed" in output
    result = {call_id: (status, error) for call_id, status, error, _ in rows(db)}
    assert result["a"][0] == result["c"][0] == "ok"  # c.wav was analysed by a new worker
    assert result["b_long"][0] == "failed" and "killed (SIGKILL, most likely by the out-of-memory killer)" in \
        result["b_long"][1]
    assert f"failed: {busy / 'b_long.wav'}: the analysis process was killed" in output

    again = batch(str(busy), "--db", str(db), "--workers", "1")
    assert again.returncode == 0 and "1 analysed, 2 already done, 0 failed" in again.stdout, again.stdout
    assert [r[1] for r in rows(db)] == ["ok", "ok", "ok"]


@pytest.mark.model
def test_workers_stop_when_the_batch_process_is_killed(busy, tmp_path):
    db = tmp_path / "qa.db"
    proc = start_batch(busy, db, tmp_path / "batch.log")
    assert busy_with_b_long(proc, db)
    os.kill(proc.pid, signal.SIGKILL)  # the batch process alone, as a crash would end it
    proc.wait()
    # Before, the worker analysed b_long.wav to its end as an orphan holding ~650 MB.
    assert wait_until(lambda: not coach_processes_under(proc.pid), 5.0), coach_processes_under(proc.pid)


@pytest.mark.model
def test_an_agent_enrolled_from_a_stereo_call_is_picked_by_voice_on_a_later_mixed_call(tmp_path):
    """A real-voice call with no greeting: as a mixed call its roles are uncertain, unless the
    agent's voice was enrolled from a stereo call by an earlier batch with the same agent_id."""
    from tests.fixtures.calls import render
    from tests.fixtures.mixedcalls import mixed_calls, render_mono

    call = mixed_calls("tune")["mixed_rv_tune_07_clean"]
    stereo, mixed = render(call, tmp_path / "stereo"), render_mono(call, tmp_path / "mixed")
    db = tmp_path / "qa.db"
    for listed in (stereo, mixed):
        manifest = tmp_path / f"{listed.parent.name}.csv"
        manifest.write_text(f"path,agent_id\n{listed},A042\n", encoding="utf-8")
        run = batch(str(manifest), "--db", str(db), "--workers", "1")
        assert run.returncode == 0, run.stderr
    assert "marked for review" not in run.stdout, run.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT agent_id, calls FROM agent_voices").fetchall() == [("A042", 2)]
        (report,) = conn.execute("SELECT report FROM recordings WHERE source = ?", (str(mixed),)).fetchone()
    separation = json.loads(report)["separation"]
    assert separation["voices"] == 2 and "known_voice" in separation["agent_cues"] and not separation["review"]
