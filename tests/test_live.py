"""coach live: alert rules, the session on a labelled call, and whole runs through the CLI —
from a file (--from-file) and from a real PulseAudio device (a null sink the test starts)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from types import SimpleNamespace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from coach.audio import load_audio
from coach.config import Options
from coach.lexicon import load_lexicon
from coach.live.capture import FileSource, Recorder
from coach.live.events import EventType, LiveEvent
from coach.live.session import LiveSession, LiveState, run
from coach.live.view import AlertBoard
from coach.phrases import PhraseMatcher
from coach.config import PitchOptions
from coach.results import Speaker, Word
from coach.vad import SpeechDetector
from tests.fixtures.calls import OPENING, SCENARIOS, Scenario, render, script
from tests.servers import pulseaudio_server

ROOT = Path(__file__).resolve().parent.parent
COACH = [sys.executable, "-m", "coach.cli"]
# Greeting, a forbidden 不清楚, a 6.0 s silence left by the agent, then the agent cuts in for 1.6 s.
LIVE_CALL = OPENING + [("C", "c02", 0.8), ("A", "a13", 0.6), ("A", "a08", 6.0), ("C", "c05", 0.5),
                       ("X", "a23", 1.6), ("C", "c11", 0.8)]

# An interruption is raised once the overlap reaches 1.0 s *and* the agent has said 4 syllables
# (fewer is a backchannel: DESIGN.md, `metrics.is_short`); in LIVE_CALL the agent's 谢谢您的 takes
# 1.4 s, so the alert comes ~0.5 s after the 1.0 s mark.
INTERRUPTION_WAIT_S = 0.8


def test_events_serialise_with_stream_time_type_and_figures():
    e = LiveEvent(12.345, EventType.SILENCE, 7.0, "冷场", {"duration_s": 5.3})
    assert e.to_dict() == {"t": 12.35, "type": "silence", "at": 7.0, "message": "冷场", "duration_s": 5.3}


@pytest.fixture(scope="module")
def live_call(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("live")
    turns = script(LIVE_CALL)
    path = render(Scenario("live_call", turns, max(t.end for t in turns) + 7.0, bleed_db=-20), folder)
    return path, json.loads(path.with_name("live_call.labels.json").read_text(encoding="utf-8"))


# --- the session with the real VAD and a stand-in recogniser (no Whisper) ------------------------------

class StuckRecogniser:
    """Hears 这个我不清楚 in every span, but only once `release` is set: a recogniser that has
    fallen far behind (a busy machine), with the VAD running as usual."""

    def __init__(self, released: bool = False):
        self.release = threading.Event()
        if released:
            self.release.set()

    def transcribe(self, samples, spans, decoding):
        self.release.wait(60)
        return [[Word(s.start, s.end, "这个我不清楚")] for s in spans]


@pytest.fixture(scope="module")
def parts():
    """What a session takes from the analyser, with the real VAD and lexicon."""
    return SpeechDetector(), PhraseMatcher(load_lexicon())


def stand_in(parts, recogniser) -> SimpleNamespace:
    detector, matcher = parts
    return SimpleNamespace(detector=detector, recognizer=recogniser, matcher=matcher, options=Options(),
                           pitch_options=PitchOptions())


def test_silences_and_interruptions_keep_time_while_the_recogniser_is_stuck(live_call, parts, tmp_path):
    path, labels = live_call
    recogniser = StuckRecogniser()
    events: list[LiveEvent] = []
    states: list[LiveState] = []
    source = FileSource(path, speed=50)
    session = LiveSession(stand_in(parts, recogniser), source.channels, on_event=events.append)
    run(source, session, Recorder(tmp_path / "r.wav", source.channels),
        on_state=lambda s: (states.append(s), recogniser.release.set() if s.t > labels["duration_s"] - 1 else None))

    silences = [e for e in events if e.type is EventType.SILENCE]
    assert [round(e.at) for e in silences] == [round(s["start"]) for s in labels["silences"]]
    assert all(0 <= e.t - (e.at + 5.0) <= 0.5 for e in silences)
    (interruption,) = [e for e in events if e.type is EventType.INTERRUPTION]
    assert abs(interruption.at - labels["interruptions"][0]["start"]) <= 0.3
    assert interruption.t - (interruption.at + 1.0) <= INTERRUPTION_WAIT_S
    # the rate needed no words: the audio's syllables
    assert any(s.rate_cpm for s in states)
    # the panel was told how far behind the words were, and it grew while nothing came back
    lags = [s.recognition_lag_s for s in states]
    assert max(lags) > 20 and lags.index(max(lags)) > len(lags) // 2
    # the words came in the end: phrases about speech long past are late, not fresh alerts
    phrases = [e for e in events if e.type is EventType.PHRASE]
    assert phrases and all(AlertBoard().late(e) for e in phrases)


def test_the_transcript_is_in_time_order_whenever_its_lines_arrive(live_call, parts, tmp_path):
    path, _ = live_call
    states: list[LiveState] = []
    source = FileSource(path, speed=50)
    session = LiveSession(stand_in(parts, StuckRecogniser(released=True)), source.channels)
    run(source, session, Recorder(tmp_path / "r.wav", source.channels), on_state=states.append)
    everyone = {u.speaker for s in states for u in s.transcript}
    assert everyone == {Speaker.AGENT, Speaker.CUSTOMER}  # the customer's batches arrive late, by design
    for s in states:
        starts = [u.start for u in s.transcript]
        assert starts == sorted(starts)


# --- the session on a labelled call (real VAD and model) ---------------------------------------------


@pytest.fixture(scope="module")
def models():
    from coach.models import Models

    return Models.load()


def session_events(path: Path, models, tmp_path: Path) -> dict[EventType, list[LiveEvent]]:
    """Every event of a live session over `path` (fed at 50×; clock: what was analysed), by type."""
    events: list[LiveEvent] = []
    source = FileSource(path, speed=50)
    run(source, LiveSession(models, source.channels, on_event=events.append),
        Recorder(tmp_path / f"{path.stem}.rec.wav", source.channels))
    return {kind: [e for e in events if e.type is kind] for kind in EventType}


@pytest.mark.model
def test_session_raises_each_event_once_soon_after_its_moment(live_call, models, tmp_path):
    path, labels = live_call
    by_type = session_events(path, models, tmp_path)

    silences = by_type[EventType.SILENCE]  # the agent's 6.0 s, then the 7 s after the customer's last words
    assert len(silences) == len(labels["silences"]) == 2
    for label, silence in zip(labels["silences"], silences):
        assert abs(silence.at - label["start"]) <= 0.3
        assert 0 <= silence.t - (silence.at + 5.0) <= 0.5  # on the stream clock: compute lag not counted here
        assert silence.data["last_speaker"] == label["last_speaker"] and not silence.data["hold"]

    (cut_in,) = labels["interruptions"]
    (interruption,) = by_type[EventType.INTERRUPTION]
    assert abs(interruption.at - cut_in["start"]) <= 0.3
    assert interruption.t - (interruption.at + 1.0) <= INTERRUPTION_WAIT_S

    (phrase,) = by_type[EventType.PHRASE]
    assert phrase.data["phrase"] == "不清楚" and phrase.data["suggestion"]
    assert [e.data["item"] for e in by_type[EventType.SCRIPT]] == []  # the greeting was said
    saved = sf.info(tmp_path / f"{path.stem}.rec.wav")
    assert saved.channels == 2 and abs(saved.duration - labels["duration_s"]) < 0.11


@pytest.mark.model
def test_mono_headset_session_has_no_interruptions_but_still_times_silence(live_call, models, tmp_path):
    path, labels = live_call
    left = sf.read(path, dtype="float32")[0][:, 0]
    mono = tmp_path / "headset.wav"
    sf.write(mono, left, 16000)
    by_type = session_events(mono, models, tmp_path)
    assert by_type[EventType.INTERRUPTION] == []
    silence = by_type[EventType.SILENCE][0]
    assert abs(silence.at - labels["silences"][0]["start"]) <= 0.3


@pytest.mark.model
def test_a_flat_voice_is_flagged_and_the_same_sentences_read_naturally_are_not(models, tmp_path):
    flat = session_events(render(SCENARIOS["flat_pitch"], tmp_path), models, tmp_path)
    natural = session_events(render(SCENARIOS["natural_pitch"], tmp_path), models, tmp_path)
    alerts = flat[EventType.PITCH]
    assert alerts and all(a.data["semitone_std"] < 1.5 and "平淡" in a.message for a in alerts)
    assert all(later.t - earlier.t >= 60.0 for earlier, later in zip(alerts, alerts[1:]))  # once a minute at most
    assert natural[EventType.PITCH] == []


@pytest.mark.model
def test_rushing_is_flagged_with_the_rolling_rate(models, tmp_path):
    (alert, *_) = session_events(render(SCENARIOS["fast_agent"], tmp_path), models, tmp_path)[EventType.RATE]
    assert alert.data["verdict"] == "too_fast" and alert.data["chars_per_min"] > 170
    assert "放慢" in alert.message


@pytest.mark.model
def test_a_call_opened_without_the_greeting_is_flagged_once_the_agent_has_spoken(models, tmp_path):
    no_greeting = LIVE_CALL[len(OPENING):]
    turns = script(no_greeting)
    path = render(Scenario("no_greeting", turns, max(t.end for t in turns) + 2.0, bleed_db=-20), tmp_path)
    (missing, *_) = session_events(path, models, tmp_path)[EventType.SCRIPT]
    assert missing.data["item"] == "开场问候并报工号" and missing.message.startswith("开场缺少")
    first_agent = next(t for t in turns if t.speaker == "agent")
    assert abs(missing.at - first_agent.start) <= 0.5  # it points at the agent's first words


# --- whole runs through the command line --------------------------------------------------------------

def live(*args: str, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*COACH, "live", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


@pytest.mark.model
def test_from_file_writes_events_recording_and_the_same_report_as_analyze(live_call, tmp_path):
    path, labels = live_call
    # Without --wav/--json/--events, a folder of its own under ~/coach-live, named when it ends.
    result = live("--from-file", str(path), "--speed", "20", env={**os.environ, "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    (folder,) = (tmp_path / "coach-live").iterdir()
    events, wav, report = folder / "events.jsonl", folder / "call.wav", folder / "report.json"
    assert result.stderr.splitlines()[0] == "coach live: 正在加载模型…"  # before the model loads
    assert result.stderr.splitlines()[-1] == f"saved in {folder}/: call.wav, report.json, events.jsonl"
    lines = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
    assert {"silence", "interruption", "phrase"} <= {e["type"] for e in lines}
    assert all({"t", "type", "at", "message"} <= e.keys() for e in lines)
    assert [e["t"] for e in lines] == sorted(e["t"] for e in lines)
    assert "冷场已超过 5 秒" in result.stdout  # the alert line (stdout is not a terminal here)
    assert "coach 通话报告" in result.stdout  # then the full report

    analysed = subprocess.run([*COACH, "analyze", str(wav), "--json", str(tmp_path / "a.json"), "--quiet"],
                              capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert analysed.returncode == 0, analysed.stderr
    live_report = json.loads(report.read_text(encoding="utf-8"))
    analyze_report = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    for key in ("utterances", "speaking_rate", "silences", "interruptions", "pitch", "phrases", "score"):
        assert live_report[key] == analyze_report[key], key
    # The recording is the call as coach heard it (load_audio takes the DC off with a 30 Hz high-pass).
    heard = np.stack(load_audio(path).channels, axis=1)
    assert np.allclose(sf.read(wav)[0], heard, atol=2 / 32768)


@pytest.mark.model
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_stopping_mid_call_keeps_the_recording_and_writes_the_report(live_call, tmp_path, how):
    path, _ = live_call
    wav, report = tmp_path / "s.wav", tmp_path / "s.json"
    # A shell's background job inherits SIGINT ignored, and Python keeps it ignored: undo that for the child.
    proc = subprocess.Popen([*COACH, "live", "--from-file", str(path), "--wav", str(wav), "--json", str(report)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    _wait_for_audio(wav, seconds=4.0, proc=proc)
    proc.send_signal(how)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    duration = sf.info(wav).duration
    assert 4.0 <= duration < 20.0
    assert json.loads(report.read_text(encoding="utf-8"))["duration_s"] == pytest.approx(duration, abs=0.02)


@pytest.mark.model
def test_a_killed_session_leaves_a_recording_analyze_can_read(live_call, tmp_path):
    path, _ = live_call
    wav = tmp_path / "s.wav"
    proc = subprocess.Popen([*COACH, "live", "--from-file", str(path), "--wav", str(wav)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_audio(wav, seconds=4.0, proc=proc)
    proc.kill()
    proc.wait()
    result = subprocess.run([*COACH, "analyze", str(wav), "--json", str(tmp_path / "r.json"), "--quiet"],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["duration_s"] >= 3.0


def _wait_for_audio(wav: Path, seconds: float, proc: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if sf.info(wav).duration >= seconds:
                return
        except (RuntimeError, sf.LibsndfileError):
            pass  # not created yet
        time.sleep(0.2)
    raise AssertionError(f"{wav} never reached {seconds} s (exit {proc.poll()})")


@pytest.mark.parametrize("args, message", [
    (["--from-file", "missing.wav"], "does not exist"),
    (["--from-file", "recordings/sample_call.wav", "--speed", "0"], "--speed 0.0 is not a speed"),
    (["--duration", "-3"], "--duration -3.0 is not a length"),
    (["--from-file", "recordings/sample_call.wav", "--wav", "no/such/dir/x.wav"], "the folder does not exist"),
])
def test_bad_input_is_one_error_line(args, message, tmp_path):
    result = live(*args, timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


# --- a real PortAudio device: PulseAudio's null sink -------------------------------------------------------

@pytest.fixture(scope="module")
def pulse():
    with pulseaudio_server() as env:
        yield env


@pytest.mark.pulseaudio
def test_devices_are_listed_and_an_unknown_one_is_a_clear_error(pulse):
    listed = live("--list-devices", env=pulse, timeout=60)
    assert listed.returncode == 0 and "pulse" in listed.stdout
    wrong = live("--device", "no-such-headset", "--duration", "1", env=pulse, timeout=60)
    assert wrong.returncode == 1 and "is not an input device" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1


@pytest.mark.model
@pytest.mark.pulseaudio
def test_live_captures_a_call_played_into_a_real_device(pulse, live_call, tmp_path):
    path, labels = live_call
    events, wav = tmp_path / "ev.jsonl", tmp_path / "captured.wav"
    duration = labels["duration_s"] + 6.0
    proc = subprocess.Popen([*COACH, "live", "--device", "pulse", "--channels", "2", "--duration", str(duration),
                             "--events", str(events), "--wav", str(wav), "--quiet"],
                            cwd=ROOT, env=pulse, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_audio(wav, seconds=1.0, proc=proc)  # capturing: now play the call into the sink
    played_at = sf.info(wav).duration
    player = subprocess.run(["paplay", "--device=coachsink", str(path)], env=pulse, capture_output=True, timeout=120)
    assert player.returncode == 0, player.stderr
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err

    lines = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
    silences = [e for e in lines if e["type"] == "silence"]
    interruptions = [e for e in lines if e["type"] == "interruption"]
    offset = silences[0]["at"] - labels["silences"][0]["start"]  # when playback began on the stream clock
    assert played_at - 0.5 <= offset <= played_at + 3.0
    assert abs(interruptions[0]["at"] - offset - labels["interruptions"][0]["start"]) <= 0.4
    assert any(e["type"] == "phrase" and e["phrase"] == "不清楚" for e in lines)
    captured = sf.read(wav, dtype="float32")[0]
    assert captured.shape[1] == 2 and np.abs(captured).max() > 0.05  # the call, both channels, not silence
