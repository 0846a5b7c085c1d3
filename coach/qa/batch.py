"""Batch stage: a folder or manifest of recordings → the results database.

The plan is decided against the database before any audio is decoded.  A recording is
known by its path, or, when its path has no row, by its content and call id (an archive
that moved): then its row follows it to the new path instead of a second row appearing.
A known recording is analysed again when its bytes (content hash), the settings
(options, lexicon, model, scorecard: the settings hash) or its agent channel changed;
when only its metadata changed (agent, team, date, call id, path), the row is updated
without analysis.  Each result is written in its own transaction as soon as it
arrives, so a batch killed at any moment loses only the recordings in flight, and a
rerun does exactly those.

Workers are processes that build one `Models` each (the Whisper model is loaded once
per worker): local ones from a pebble `ProcessPool`, or Ray actors on a cluster
(`--ray ADDRESS`).  Either way the results come back to this process, the only writer.
A local worker that dies (the out-of-memory killer) costs only the recording it held:
that one is recorded as failed with the reason, a new worker takes its place, and the
next run retries it.  A worker whose batch process died stops within a second.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Sequence

from pebble import ProcessExpired, ProcessPool

from coach.config import Options
from coach.errors import CoachError, ManifestError
from coach.scorecard import Scorecard, load_scorecard
from coach.qa.store import Outcome, Recording, Status, Store, Stored

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = frozenset({".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac", ".wma", ".amr", ".webm"})
MANIFEST_COLUMNS = ("path", "call_id", "agent_id", "agent_channel", "team", "date")
CHANNELS = ("left", "right")
# Content hashes that say nothing about which recording a file is: every unreadable file
# gets the first, every empty file the second.
UNREADABLE = "unreadable"
_EMPTY = hashlib.sha256(b"").hexdigest()
# The settings hash of a recording whose worker was killed: it matches no settings, so
# the next run retries it (a killed worker is no verdict on the file).
RETRY = "retry"


@dataclass(frozen=True)
class Settings:
    """What a worker needs to build its models; its hash decides what must be redone."""

    options: Options
    model_dir: str | None = None
    lexicon_dirs: tuple[str, ...] = ()
    scorecard: Scorecard = field(default_factory=load_scorecard)
    layout: str = "auto"  # coach.pipeline.LayoutChoice: what the recordings are (--layout)

    def fingerprint(self) -> str:
        from coach.lexicon import DEFAULT_LEXICON_DIR
        from coach.whisper import model_identity

        # Threads change the speed, not the result: a rerun with other --workers redoes nothing.
        options = replace(self.options, asr=replace(self.options.asr, cpu_threads=0))
        digest = hashlib.sha256(json.dumps(asdict(options), sort_keys=True, default=str).encode())
        # The scorecard as loaded, not its file: a new comment redoes nothing, a new threshold everything.
        digest.update(json.dumps(asdict(self.scorecard), sort_keys=True, default=str).encode())
        digest.update(model_identity(self.model_dir).encode())
        if self.layout != "auto":  # the databases of earlier coaches, all "auto", keep their results
            digest.update(f"layout={self.layout}".encode())
        for folder in (DEFAULT_LEXICON_DIR, *map(Path, self.lexicon_dirs)):
            for file in sorted(folder.glob("*.txt")):
                digest.update(file.name.encode() + file.read_bytes())
        return digest.hexdigest()


@dataclass(frozen=True)
class Progress:
    """Reported after every recording: the outcome and the counts so far."""

    outcome: Outcome | None  # None for the first report, before any result
    done: int  # recordings finished in this run (analysed or failed)
    total: int  # recordings this run has to do
    failed: int
    audio_s: float  # audio analysed so far in this run
    elapsed_s: float


@dataclass(frozen=True)
class Summary:
    found: int
    skipped: int  # already in the database with the same content and settings
    failed_before: int  # skipped ones that had failed
    analysed: int
    failed: int
    audio_s: float
    wall_s: float
    updated: int = 0  # rows whose metadata or path changed, updated without analysis
    duplicates: int = 0  # inputs that are another input's recording again (same bytes and call id)
    review: int = 0  # analysed calls whose voices or roles are uncertain: not scored, for a person to check

    @property
    def speed(self) -> float:
        """× real time: seconds of audio analysed per second of wall clock."""
        return self.audio_s / self.wall_s if self.wall_s else 0.0


# ----------------------------------------------------------------------------- inputs
def discover(source: str | Path, agent_channel: str = "left") -> list[Recording]:
    """The recordings a folder (searched recursively, non-audio files ignored) or a manifest names."""
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        return [Recording(source=str(p.resolve()), call_id=p.relative_to(path).with_suffix("").as_posix(),
                          agent_channel=agent_channel, call_date=_file_date(p)) for p in files]
    if path.is_file() and path.suffix.lower() == ".csv":
        return read_manifest(path, agent_channel)
    if not path.exists():
        raise ManifestError(f"{source} does not exist: give a folder of recordings or a manifest .csv")
    raise ManifestError(f"{source} is neither a folder nor a .csv manifest: give a folder of recordings "
                        f"or a manifest with columns {', '.join(MANIFEST_COLUMNS)}")


def read_manifest(path: Path, agent_channel: str = "left") -> list[Recording]:
    """Rows of path, call_id, agent_id, agent_channel, team, date (only path is required)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or "path" not in reader.fieldnames:
                raise ManifestError(f"{path}: no 'path' column in the header: the first line must name the "
                                    f"columns, e.g. {','.join(MANIFEST_COLUMNS)}")
            rows = list(reader)
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path} is not UTF-8 text ({exc.reason}): save the manifest as UTF-8 CSV") from None
    recordings: list[Recording] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        file = (row.get("path") or "").strip()
        if not file:
            raise ManifestError(f"{path}:{line}: empty path: every row needs the recording's path")
        resolved = (path.parent / file).resolve()
        if str(resolved) in seen:
            raise ManifestError(f"{path}:{line}: {file} is listed twice (first on line {seen[str(resolved)]}): "
                                "list each recording once")
        seen[str(resolved)] = line
        channel = (row.get("agent_channel") or agent_channel).strip().lower()
        if channel not in CHANNELS:
            raise ManifestError(f"{path}:{line}: agent_channel {channel!r}: use left or right")
        day = (row.get("date") or "").strip() or None
        if day:
            try:
                day = date.fromisoformat(day[:10]).isoformat()
            except ValueError:
                raise ManifestError(f"{path}:{line}: date {day!r}: use YYYY-MM-DD") from None
        recordings.append(Recording(
            source=str(resolved), call_id=(row.get("call_id") or "").strip() or Path(file).stem,
            agent_id=(row.get("agent_id") or "").strip() or None, team=(row.get("team") or "").strip() or None,
            agent_channel=channel, call_date=day or (_file_date(resolved) if resolved.exists() else None)))
    return recordings


def _file_date(path: Path) -> str:
    # Recorders name files in countless ways; the file's time is the one date every file has.
    return datetime.fromtimestamp(path.stat().st_mtime).date().isoformat()


def content_hash(path: str | Path) -> str | None:
    """sha256 of the file, or None when it cannot be read (the analysis then records why)."""
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None


@dataclass(frozen=True)
class Job:
    recording: Recording
    content_sha: str
    replaces: str | None = None  # the source of the row that is this recording's (its file moved)
    known_voice: tuple[float, ...] | None = None  # the agent's enrolled voice, when there is one


@dataclass(frozen=True)
class Plan:
    todo: list[Job]  # to analyse
    relabel: list[Job]  # analysed already, but the path or metadata changed: update the row
    skipped: int  # already in the database with the same content, settings and metadata
    skipped_failed: int  # … of which failed (a broken file stays broken until it changes)
    duplicates: list[tuple[Recording, str]]  # (input, the source of the input it repeats)
    stale: list[str]  # sources of second rows of a recording planned under another path


def plan(recordings: Sequence[Recording], known: dict[str, Stored], settings_sha: str) -> Plan:
    shas = {rec.source: content_hash(rec.source) or UNREADABLE for rec in recordings}
    inputs = set(shas)
    # Rows no input of this run owns by path, by content: where a moved recording is found.
    elsewhere: dict[str, list[Stored]] = defaultdict(list)
    for row in known.values():
        if row.recording.source not in inputs and _identifies(row.content_sha):
            elsewhere[row.content_sha].append(row)
    claimed: set[str] = set()
    first: dict[tuple[str, str], str] = {}  # (content, call id) → the input that has it
    todo: list[tuple[int, Job]] = []
    relabel, duplicates, stale = [], [], []
    skipped = skipped_failed = 0
    # Inputs with a row of their own first, so that of two copies the one on record keeps its row.
    for index, rec in sorted(enumerate(recordings), key=lambda item: item[1].source not in known):
        sha = shas[rec.source]
        if _identifies(sha):
            if (sha, rec.call_id) in first:
                duplicates.append((rec, first[sha, rec.call_id]))
                if rec.source in known:
                    stale.append(rec.source)
                continue
            first[sha, rec.call_id] = rec.source
        row = known.get(rec.source) or _moved_here(rec, elsewhere.get(sha, ()), claimed)
        if row is None:
            todo.append((index, Job(rec, sha)))
            continue
        claimed.add(row.recording.source)
        moved_from = row.recording.source if row.recording.source != rec.source else None
        if (row.content_sha, row.settings_sha, row.recording.agent_channel) != (sha, settings_sha, rec.agent_channel):
            todo.append((index, Job(rec, sha, moved_from)))
        elif row.recording != rec:
            relabel.append(Job(rec, sha, row.recording.source))
        else:
            skipped += 1
            skipped_failed += row.status is Status.FAILED
    # Second rows of a recording now on record under another path would count it twice.
    for sha, call_id in first:
        stale += [r.recording.source for r in elsewhere.get(sha, ())
                  if r.recording.call_id == call_id and r.recording.source not in claimed]
    return Plan([job for _, job in sorted(todo, key=lambda item: item[0])], relabel, skipped, skipped_failed,
                duplicates, stale)


def _identifies(sha: str) -> bool:
    return sha not in (UNREADABLE, _EMPTY)


def _moved_here(rec: Recording, candidates: Sequence[Stored], claimed: set[str]) -> Stored | None:
    """The row of ``rec`` under another path: one with its content and call id, or else the
    only row with its content, when that row's file is gone (moved and renamed)."""
    free = [row for row in candidates if row.recording.source not in claimed]
    same_call = [row for row in free if row.recording.call_id == rec.call_id]
    if same_call:
        return same_call[0]
    # Content alone is weaker evidence: two silent recordings of one length are byte-identical.
    if len(free) == 1 and not os.path.exists(free[0].recording.source):
        return free[0]
    return None


# ----------------------------------------------------------------------------- work
class Worker:
    """One analysis process's state: the models, built once."""

    def __init__(self, settings: Settings):
        from coach.models import Models

        self.settings_sha = settings.fingerprint()
        self.layout = settings.layout
        self.models = Models.load(settings.options, model_dir=settings.model_dir, lexicon_dirs=settings.lexicon_dirs,
                                  scorecard=settings.scorecard)

    def run(self, recording: Recording, content_sha: str, known_voice: tuple[float, ...] | None = None) -> Outcome:
        """Analyse one recording; with an agent id, the agent's voice print comes back for enrolment
        and `known_voice` (their enrolled voice) helps pick them on a mixed call."""
        import numpy as np

        from coach.pipeline import Channel, LayoutChoice, analyze
        from coach.schema import report_to_dict

        report, error, voiceprint = None, None, None
        try:
            analysed = analyze(self.models, recording.source, Channel(recording.agent_channel),
                               layout=LayoutChoice(self.layout),
                               known_voice=None if known_voice is None else np.asarray(known_voice),
                               enrol=recording.agent_id is not None)
            report, voiceprint = report_to_dict(analysed), analysed.agent_voiceprint
        except CoachError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 — one bad recording must not stop a night's batch
            log.exception("unexpected failure on %s", recording.source)
            error = f"unexpected {type(exc).__name__}: {exc} (please report this recording)"
        return Outcome(recording=recording, content_sha=content_sha, settings_sha=self.settings_sha,
                       status=Status.FAILED if error else Status.OK, error=error, report=report,
                       analysed_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                       voiceprint=None if error else voiceprint)


_WORKER: Worker | None = None
_WATCH_PARENT_S = 0.5


def _start_worker(settings: Settings, parent_pid: int) -> None:
    global _WORKER
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    # A worker holds ~650 MB; when the batch process dies (kill -9, a crash) nobody will ask
    # for its result, so it stops instead of analysing on as an orphan.
    threading.Thread(target=_exit_with, args=(parent_pid,), name="exit-with-parent", daemon=True).start()
    try:
        _WORKER = Worker(settings)
    except CoachError as exc:  # the model or lexicon cannot be loaded: every worker would fail alike
        print(f"error: {exc}", file=sys.stderr, flush=True)
        os._exit(1)


def _exit_with(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(_WATCH_PARENT_S)
    os._exit(1)


def _run_in_worker(recording: Recording, content_sha: str, known_voice: tuple[float, ...] | None) -> Outcome:
    assert _WORKER is not None, "worker used before _start_worker"
    return _WORKER.run(recording, content_sha, known_voice)


def killed_outcome(job: Job, exitcode: int | None) -> Outcome:
    """A failed outcome for a recording whose worker died under it; the next run retries it."""
    if exitcode == -signal.SIGKILL:
        how = "was killed (SIGKILL, most likely by the out-of-memory killer)"
    elif exitcode is not None and exitcode < 0 and -exitcode in signal.valid_signals():
        how = f"died of {signal.Signals(-exitcode).name}"
    else:
        how = f"ended with exit code {exitcode}"
    return Outcome(job.recording, job.content_sha, RETRY, Status.FAILED,
                   f"the analysis process {how} while analysing this recording: the next run retries it; "
                   "give fewer --workers if it happens again", None,
                   datetime.now(timezone.utc).isoformat(timespec="seconds"))


def threads_per_worker(workers: int, options: Options) -> int:
    """CTranslate2 threads for each worker: the cores shared out, unless the config fixes it."""
    return options.asr.cpu_threads or max(1, (os.cpu_count() or 1) // workers)


def run_local(todo: Sequence[Job], settings: Settings, workers: int) -> Iterator[Outcome]:
    # pebble rather than concurrent.futures: when a worker dies, ProcessPoolExecutor breaks the
    # whole pool (BrokenProcessPool for every recording), pebble fails that one task and starts
    # a new worker.  spawn, not fork: CTranslate2's and OpenMP's threads do not survive a fork.
    pool = ProcessPool(workers, initializer=_start_worker, initargs=(settings, os.getpid()),
                       context=multiprocessing.get_context("spawn"))
    try:
        futures = {pool.schedule(_run_in_worker, (job.recording, job.content_sha, job.known_voice)): job
                   for job in todo}
        for future in as_completed(futures):
            try:
                yield future.result()
            except ProcessExpired as exc:
                yield killed_outcome(futures[future], exc.exitcode)
            except BrokenProcessPool:
                raise CoachError("no analysis worker could start (the reason is above): fix it and rerun; "
                                 "nothing was lost") from None
    finally:
        pool.stop()
        pool.join()


def run_ray(todo: Sequence[Job], settings: Settings, workers: int,
            address: str) -> Iterator[Outcome]:
    try:
        import ray
        from ray.util import ActorPool
    except ImportError:
        raise CoachError("--ray needs Ray: install it with .venv/bin/pip install 'coach[ray]'") from None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise CoachError(f"cannot reach the Ray cluster at {address} ({exc}): start it with "
                         "'ray start --head' or check the address") from None
    try:
        actor = ray.remote(num_cpus=settings.options.asr.cpu_threads or 1)(Worker)
        pool = ActorPool([actor.remote(settings) for _ in range(workers)])
        yield from pool.map_unordered(lambda a, job: a.run.remote(job.recording, job.content_sha, job.known_voice),
                                      list(todo))
    finally:
        ray.shutdown()


def run_batch(recordings: Sequence[Recording], store: Store, settings: Settings, workers: int = 1,
              ray_address: str | None = None, progress: Callable[[Progress], None] | None = None) -> Summary:
    began = time.perf_counter()
    if workers < 1:
        raise CoachError(f"--workers {workers}: give 1 or more")
    work = plan(recordings, store.known(), settings.fingerprint())
    for job in work.relabel:
        store.relabel(job.recording, job.replaces or job.recording.source)
    for source in work.stale:
        store.remove(source)
    for rec, original in work.duplicates:
        log.warning("%s is the same recording as %s (same bytes and call id %s): counted once",
                    rec.source, original, rec.call_id)
    # Agents enrolled by earlier runs (or earlier in this database): their voice helps pick them
    # on mixed calls; the voices this run enrols serve the next run.
    voices = store.agent_voices()
    todo = [replace(job, known_voice=voices.get(job.recording.agent_id)) if job.recording.agent_id in voices else job
            for job in work.todo]
    moved = {job.recording.source: job.replaces for job in todo}
    threads = threads_per_worker(workers, settings.options)
    settings = replace(settings, options=replace(settings.options,
                                                 asr=replace(settings.options.asr, cpu_threads=threads)))
    done = failed = review = 0
    audio_s = 0.0
    if progress:
        progress(Progress(None, 0, len(todo), 0, 0.0, 0.0))
    if todo:
        outcomes = (run_ray(todo, settings, workers, ray_address) if ray_address
                    else run_local(todo, settings, workers))
        for outcome in outcomes:
            store.save(outcome, replaces=moved[outcome.recording.source])
            done += 1
            failed += outcome.status is Status.FAILED
            audio_s += outcome.report["duration_s"] if outcome.report else 0.0
            review += needs_review(outcome.report)
            if progress:
                progress(Progress(outcome, done, len(todo), failed, audio_s, time.perf_counter() - began))
    return Summary(found=len(recordings), skipped=work.skipped, failed_before=work.skipped_failed,
                   analysed=done - failed, failed=failed, audio_s=audio_s, wall_s=time.perf_counter() - began,
                   updated=len(work.relabel), duplicates=len(work.duplicates), review=review)


def needs_review(report: dict | None) -> bool:
    """The report says its voices or roles may be wrong (a mixed mono call told apart uncertainly)."""
    return bool(((report or {}).get("separation") or {}).get("review"))
