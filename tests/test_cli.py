"""The `coach analyze` command end to end, run as a real subprocess.

The bad-input contract (README, "Analysing calls"): every anticipated failure is
one `error: …` line on stderr that names the file and says what to do, a
non-zero exit code and never a traceback; with several calls the good ones are
still analysed.  Truncated and silent recordings are not failures.

Every `analyze` run loads the models (Whisper, ~3 s) before it opens
the first file, so cases share a few multi-file invocations.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
VOICEBANK = ROOT / "tests" / "data" / "voicebank"
SR = 16_000
TIMEOUT_S = 300


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONUTF8": "1", "PYTHONIOENCODING": "utf-8"}


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "coach.cli", *map(str, args)]


def coach(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd(*args), cwd=ROOT, env=_env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, encoding="utf-8", timeout=TIMEOUT_S)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def assert_clean_failure(result: subprocess.CompletedProcess, *names: str) -> str:
    """Non-zero exit, no traceback, last stderr line an `error: …` naming `names`; returns it."""
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines, "nothing on stderr"
    last = lines[-1]
    assert last.startswith("error: "), result.stderr
    for name in names:
        assert name in last, result.stderr
    # "<what is wrong>: <what to do>"
    assert re.match(r"error: .+: \S", last), last
    return last


def voice(name: str) -> np.ndarray:
    x, sr = sf.read(VOICEBANK / f"{name}.flac", dtype="float32")
    assert sr == SR and x.ndim == 1
    return x


def tone(seconds: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def read_report(path: Path) -> dict:
    assert path.is_file(), f"no JSON report at {path}"
    report = json.loads(path.read_text(encoding="utf-8"))
    assert report["schema"] == "coach.report/1"
    return report


# --- single-file bad inputs -------------------------------------------------------------

def _empty(p: Path) -> None:
    p.write_bytes(b"")


def _not_audio(p: Path) -> None:
    p.write_text("这不是音频，只是一个改了扩展名的文本文件。\n" * 40, encoding="utf-8")


def _corrupt_header(p: Path) -> None:
    sf.write(p, tone(1.0), SR, subtype="PCM_16")
    data = bytearray(p.read_bytes())
    data[:44] = bytes((i * 37 + 11) % 256 for i in range(44))  # RIFF/WAVE/fmt/data headers → garbage
    p.write_bytes(bytes(data))


def _too_short(p: Path) -> None:
    sf.write(p, tone(0.05), SR, subtype="PCM_16")


def _missing(p: Path) -> None:
    pass


def _folder(p: Path) -> None:
    p.mkdir()
    sf.write(p / "inside.wav", tone(1.0), SR)


def _unreadable(p: Path) -> None:
    sf.write(p, tone(1.0), SR, subtype="PCM_16")
    p.chmod(0)


def _named_pipe(p: Path) -> None:
    os.mkfifo(p)  # reading it waited for a writer for ever


def _header_1hz(p: Path) -> None:
    """2 KB of samples under a header that says 1 Hz: 1000 s, had it been believed."""
    fmt = struct.pack("<HHIIHH", 1, 1, 1, 2, 2, 16)
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", 2000) + b"\x01\x02" * 1000
    p.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def _mostly_nan(p: Path) -> None:
    x = tone(1.0)
    x[: int(len(x) * 0.7)] = np.nan
    sf.write(p, x, SR, subtype="FLOAT")


BAD_INPUTS = {
    # case: (maker, a fragment of the reason, a fragment of the advice)
    "empty": (_empty, "empty (0 bytes)", "re-export"),
    "not_audio": (_not_audio, "not a readable audio file", "give a WAV"),
    "corrupt_header": (_corrupt_header, "not a readable audio file", "give a WAV"),
    "too_short": (_too_short, "only 50 ms long", "at least 100 ms"),
    "missing": (_missing, "does not exist", "check the path"),
    "folder": (_folder, "is a folder", "give the audio files"),
    "unreadable": (_unreadable, "not readable", "permissions"),
    "named_pipe": (_named_pipe, "is a named pipe, not a file", "give a saved recording"),
    "header_1hz": (_header_1hz, "claims a sample rate of 1 Hz", "re-export"),
    "mostly_nan": (_mostly_nan, "(70%) that are not numbers (NaN or infinite)", "re-export"),
}
_ROOT_USER = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Every bad input and one good call in one invocation (the model loads once)."""
    folder = tmp_path_factory.mktemp("batch")
    bad = {}
    for case, (make, _, _) in BAD_INPUTS.items():
        if case == "unreadable" and _ROOT_USER:
            continue
        bad[case] = folder / f"{case}.wav"
        make(bad[case])
    good = VOICEBANK / "a02_nat.flac"
    out = folder / "reports"
    calls = [*bad.values(), good]
    calls.insert(len(calls) // 2, calls.pop())  # bad files before and after the good one
    result = coach("analyze", *calls, "--json", out, "--quiet")
    yield {"result": result, "bad": bad, "good": good, "out": out, "n": len(calls)}
    if "unreadable" in bad:
        bad["unreadable"].chmod(0o600)


@pytest.mark.model
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_error_line_naming_the_file(batch, case):
    if case == "unreadable" and _ROOT_USER:
        pytest.skip("root reads any file")
    result, path = batch["result"], batch["bad"][case]
    _, reason, advice = BAD_INPUTS[case]
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    mine = [line for line in result.stderr.splitlines() if str(path) in line]
    assert len(mine) == 1, result.stderr
    assert mine[0].startswith(f"error: {path} "), mine[0]
    assert re.match(r"error: .+: \S", mine[0]), mine[0]  # "<what is wrong>: <what to do>"
    assert reason in mine[0] and advice in mine[0], mine[0]


@pytest.mark.model
def test_good_call_is_still_analysed_next_to_bad_ones(batch):
    result, good, out = batch["result"], batch["good"], batch["out"]
    n_bad = len(batch["bad"])
    errors = error_lines(result.stderr)
    assert len(errors) == n_bad + 1, result.stderr
    assert not any(str(good) in e for e in errors), result.stderr
    assert errors[-1] == f"error: {n_bad} of {batch['n']} recordings could not be analysed or written (see above)"
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # --quiet

    assert sorted(p.name for p in out.iterdir()) == ["a02_nat.json"]
    report = read_report(out / "a02_nat.json")
    assert report["source"] == str(good)
    assert report["layout"] == "mono"
    assert any("帮助" in u["text"] for u in report["utterances"]), report["utterances"]
    assert report["speaking_rate"]["chars"] > 0


@pytest.mark.model
@pytest.mark.parametrize("case", ["missing", "corrupt_header"])
def test_single_bad_call_is_all_stderr_says(tmp_path, case):
    make, reason, advice = BAD_INPUTS[case]
    path = tmp_path / "call.wav"
    make(path)
    result = coach("analyze", path)
    last = assert_clean_failure(result, str(path), reason, advice)
    assert result.stderr.strip().splitlines() == [last]
    assert result.stdout == ""


# --- not failures: truncated, silent; channel roles -------------------------------------

def _stereo_call(path: Path) -> None:
    """The agent's sentence on the left channel, the right channel silent."""
    speech = voice("a02_nat")
    sf.write(path, np.stack([speech, np.zeros_like(speech)], axis=1), SR, subtype="PCM_16")


@pytest.fixture(scope="module")
def ok_run(tmp_path_factory):
    """Truncated, silent and a stereo call in one invocation (agent on the left)."""
    folder = tmp_path_factory.mktemp("ok")
    full = folder / "full.wav"
    sf.write(full, voice("a02_nat"), SR, subtype="PCM_16")
    truncated = folder / "truncated.wav"
    data = full.read_bytes()
    truncated.write_bytes(data[: int(len(data) * 0.7)])
    silent = folder / "silent.wav"
    sf.write(silent, np.zeros((5 * SR, 2), np.float32), SR, subtype="PCM_16")
    call = folder / "call.wav"
    _stereo_call(call)
    out = folder / "reports"
    result = coach("analyze", truncated, silent, call, "--json", out, "--quiet")
    return {"result": result, "out": out, "truncated": truncated, "silent": silent, "call": call}


@pytest.mark.model
def test_truncated_and_silent_calls_are_not_errors(ok_run):
    result = ok_run["result"]
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert error_lines(result.stderr) == []


@pytest.mark.model
def test_truncated_wav_is_analysed_with_a_warning(ok_run):
    warnings = [line for line in ok_run["result"].stderr.splitlines() if line.startswith("warning: ")]
    assert any(str(ok_run["truncated"]) in w and "truncated" in w for w in warnings), ok_run["result"].stderr
    report = read_report(ok_run["out"] / "truncated.json")
    assert report["duration_s"] == pytest.approx(3.9 * 0.7, abs=0.1)
    assert any("截断" in note for note in report["notes"]), report["notes"]
    assert report["utterances"], "the part that decodes is still analysed"


@pytest.mark.model
def test_silent_stereo_gives_a_report_that_says_no_speech(ok_run):
    report = read_report(ok_run["out"] / "silent.json")
    assert report["duration_s"] == pytest.approx(5.0, abs=0.05)
    assert report["layout"] == "stereo"
    assert report["utterances"] == []
    rate = report["speaking_rate"]
    assert rate["verdict"] == "no_speech"
    assert rate["chars"] == 0
    assert any("未检测到坐席语音" in note for note in report["notes"]), report["notes"]
    # Nothing the agent said can be scored: the call is set aside, not given a number.
    assert report["score"]["total"] is None and report["score"]["not_scored"], report["score"]


@pytest.mark.model
def test_agent_channel_right_swaps_roles(ok_run, tmp_path):
    left = read_report(ok_run["out"] / "call.json")
    assert left["layout"] == "stereo" and left["agent_channel"] == "left"
    assert {u["speaker"] for u in left["utterances"]} == {"agent"}
    assert any("帮助" in u["text"] for u in left["utterances"]), left["utterances"]
    assert left["speaking_rate"]["chars"] > 0

    out = tmp_path / "right.json"
    result = coach("analyze", ok_run["call"], "--agent-channel", "right", "--json", out, "--quiet")
    assert result.returncode == 0, result.stderr
    right = read_report(out)
    assert right["layout"] == "stereo" and right["agent_channel"] == "right"
    assert {u["speaker"] for u in right["utterances"]} == {"customer"}
    assert any("帮助" in u["text"] for u in right["utterances"]), right["utterances"]
    assert right["speaking_rate"]["verdict"] == "no_speech"
    assert any("未检测到坐席语音" in note for note in right["notes"]), right["notes"]


# --- bad options (fail before any model is loaded) --------------------------------------

def test_unknown_config_key_is_one_error_line(tmp_path):
    config = tmp_path / "coach.toml"
    config.write_text("[rate]\ntarget_mni = 110\n", encoding="utf-8")
    call = tmp_path / "call.wav"
    sf.write(call, tone(1.0), SR)
    result = coach("analyze", call, "--config", config)
    last = assert_clean_failure(result, str(config), "rate.target_mni")
    assert "target_min" in last  # the valid keys are listed
    assert result.stderr.strip().splitlines() == [last]


def test_empty_model_dir_is_one_error_line(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    call = tmp_path / "call.wav"
    sf.write(call, tone(1.0), SR)
    result = coach("analyze", call, "--model", model)
    last = assert_clean_failure(result, str(model), "model.bin")
    assert "--model" in last or "make setup" in last
    assert result.stderr.strip().splitlines() == [last]


def test_calls_with_the_same_name_get_separate_reports():
    from coach.writers.base import report_names
    assert report_names(["a/call.wav", "b/call.wav", "call.flac", "x.mp3"], ".json") == {
        "a/call.wav": "call.json", "b/call.wav": "call-2.json", "call.flac": "call-3.json", "x.mp3": "x.json"}


@pytest.mark.parametrize("no_mask", [False, True])
def test_reports_mask_personal_numbers_unless_told_not_to(tmp_path, monkeypatch, capsys, no_mask):
    """Wiring, not recognition: the analyzer is replaced by one returning a transcript with a
    customer's phone and ID-card numbers (whisper base misrecognises read-out digits too often
    for a spoken fixture to pin this down; tests/test_masking.py covers the patterns)."""
    import coach.models
    import coach.pipeline
    from coach.cli import main
    from tests.fixtures.reports import as_report, make_walkthrough_report

    monkeypatch.setattr(coach.models.Models, "load", classmethod(lambda cls, *args, **kwargs: None))
    monkeypatch.setattr(coach.pipeline, "analyze",
                        lambda models, path, channel, progress=None, **_: as_report(make_walkthrough_report(str(path))))
    call = tmp_path / "call.wav"
    sf.write(call, np.zeros((SR, 2), np.float32), SR)
    args = ["analyze", str(call), "--json", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html")]
    assert main(args + ["--no-mask"] * no_mask) == 0
    printed = capsys.readouterr().out
    assert ("一零五一九四九一二三一" in printed) is no_mask  # the interruption's quote of the customer
    for text in ((tmp_path / "r.json").read_text("utf-8"), (tmp_path / "r.html").read_text("utf-8")):
        assert ("13812345678" in text) is no_mask
        assert ("138****5678" in text) is not no_mask
