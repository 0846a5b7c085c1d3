"""The call composer: its scenarios carry the labelled properties, and rendering is exact."""

from __future__ import annotations

import json

import numpy as np
import parselmouth
import pytest
import soundfile as sf

from tests.fixtures.calls import (FORMATS, RATE, SAMPLE, SAMPLE_PATH, SCENARIOS, Scenario, Turn,
                                  clip_audio, find_phrases, labels, render)

ALL_LABELS = {name: labels(scenario) for name, scenario in SCENARIOS.items()}


def _sum(key) -> int:
    return sum(key(lab) for lab in ALL_LABELS.values())


def test_phrase_matching_skips_traps_and_keeps_longest():
    assert find_phrases("申请退款以后，款项会退回。") == ([], [("请", "申请")])
    assert find_phrases("您不知道的话，可以查看短信。") == ([], [("不知道", "您不知道的话")])
    assert find_phrases("这个我也不知道。") == ([("forbidden", "不知道")], [])
    assert find_phrases("这是规定，我有什么办法。") == ([("forbidden", "这是规定我有什么办法")], [])
    assert find_phrases("好的，请稍等。请您保管好。")[0] == [("courtesy", "请稍等"), ("courtesy", "请")]


def test_set_covers_the_required_events():
    assert _sum(lambda lab: len(lab["silences"])) >= 8
    assert _sum(lambda lab: len(lab["near_silences"])) >= 4
    assert _sum(lambda lab: len(lab["interruptions"])) >= 8
    assert _sum(lambda lab: sum(b["overlaps_customer"] for b in lab["backchannels"])) >= 8
    assert _sum(lambda lab: len({p["start"] for p in lab["phrases"] if p["category"] == "forbidden"})) >= 10
    for lab in ALL_LABELS.values():
        assert all(s["duration"] > 5.0 for s in lab["silences"])
        assert all(4.0 <= s["duration"] <= 4.8 for s in lab["near_silences"])
        assert all(1.2 <= i["overlap_s"] <= 3.0 for i in lab["interruptions"])


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_shape(name):
    scenario, lab = SCENARIOS[name], ALL_LABELS[name]
    low, high = (300, 600) if name == "long_call" else (40, 120)
    assert low <= scenario.duration <= high
    assert max(t.end for t in scenario.turns) < scenario.duration
    # Ordinary turn-taking gaps stay inside 0.3–1.5 s; the long ones are the labelled events.
    speech = sorted((t for t in scenario.turns if not t.is_backchannel), key=lambda t: t.start)
    for before, after in zip(speech, speech[1:]):
        gap = after.start - before.end
        assert gap < 0 or 0.3 <= gap <= 1.5 or gap >= 4.0, (before, after)
    assert lab["utterances"] == sorted(lab["utterances"], key=lambda u: u["start"])


def test_specific_scenarios_have_their_labels():
    assert ALL_LABELS["fast_agent"]["speaking_rate"]["chars_per_min"] > 190
    assert 115 <= ALL_LABELS["clean_stereo"]["speaking_rate"]["chars_per_min"] <= 140
    assert ALL_LABELS["flat_pitch"]["pitch"]["monotone"] and not ALL_LABELS["natural_pitch"]["pitch"]["monotone"]
    assert not [p for p in ALL_LABELS["clean_no_forbidden"]["phrases"] if p["category"] == "forbidden"]
    assert {p["phrase"] for p in ALL_LABELS["clean_no_forbidden"]["phrases"]} >= {"您好", "工号", "再见"}
    assert [s["hold"] for s in ALL_LABELS["hold_call"]["silences"]] == [True]
    assert ALL_LABELS["mono_selfreview"]["interruptions"] == []
    assert not ALL_LABELS["mono_selfreview"]["interruptions_measurable"]
    assert {t["context"] for t in ALL_LABELS["bleed_20db"]["traps"]} == {"申请", "您不知道的话"}
    assert ALL_LABELS["long_call"]["duration_s"] >= 300 and len(ALL_LABELS["long_call"]["silences"]) >= 3


def test_agent_clips_merge_unless_the_customer_speaks_between():
    turns = (Turn("agent", "a02_nat", 0.0), Turn("agent", "a06_nat", 4.5),  # 0.6 s apart: merge
             Turn("customer", "c13", 10.0), Turn("agent", "a07_nat", 13.5))  # after the customer: new
    lab = labels(Scenario("merge", turns, 30.0))
    agent = [u for u in lab["utterances"] if u["speaker"] == "agent"]
    assert [(u["start"], u["text"]) for u in agent] == [
        (0.0, "请问您需要什么帮助？请问还有其他可以帮您的吗？"), (13.5, "感谢您的来电，祝您生活愉快，再见。")]


def test_silence_at_the_start_and_end_of_the_file_counts():
    lab = labels(Scenario("late", (Turn("agent", "a02_nat", 6.0),), 16.0))
    assert [(s["start"], s["last_speaker"]) for s in lab["silences"]] == [(0.0, None), (9.9, "agent")]


def test_overlap_rules():
    customer = Turn("customer", "c08", 10.0)  # 6.91 s
    cases = {  # agent turn -> counted as an interruption?
        Turn("agent", "a09_nat", 15.0): True,  # 1.91 s over the customer
        Turn("agent", "a09_nat", 16.2): False,  # only 0.71 s over
        Turn("agent", "b04", 12.0): False,  # a backchannel
        Turn("agent", "a09_nat", 9.0): False,  # the agent was first: the customer cut in
    }
    for agent, counted in cases.items():
        lab = labels(Scenario("overlap", (customer, agent), 30.0))
        assert bool(lab["interruptions"]) is counted, agent
    lab = labels(Scenario("overlap", (customer, Turn("agent", "a09_nat", 15.0)), 30.0))
    assert lab["interruptions"][0]["overlap_s"] == pytest.approx(1.91)


def test_bad_format_is_rejected():
    with pytest.raises(ValueError, match="fmt 'wma'"):
        Scenario("x", (), 10.0, fmt="wma")


def _read(path):
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    return audio, rate


def _rms(x):
    return float(np.sqrt(np.mean(x ** 2)))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("calls")
    return {name: render(SCENARIOS[name], out)
            for name in ("clean_stereo", "bleed_15db", "right_channel", "ulaw_8k", "mono_selfreview",
                         "natural_pitch", "flat_pitch", "fast_agent")}


@pytest.mark.parametrize("name", ["clean_stereo", "right_channel", "ulaw_8k", "mono_selfreview", "fast_agent"])
def test_rendered_file_matches_its_format(rendered, name):
    scenario = SCENARIOS[name]
    info = sf.info(rendered[name])
    suffix, _, subtype, rate = FORMATS[scenario.fmt]
    assert rendered[name].suffix == suffix and info.subtype == subtype and info.samplerate == rate
    assert info.channels == (1 if scenario.layout == "mono" else 2)
    assert info.duration == pytest.approx(scenario.duration, abs=0.05)
    written = json.loads(rendered[name].with_suffix(".labels.json").read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(ALL_LABELS[name]))


def _busy_fraction(x, rate):
    """Share of 50 ms frames with speech energy."""
    hop = rate // 20
    frames = x[: len(x) // hop * hop].reshape(-1, hop)
    return float(np.mean(np.sqrt(np.mean(frames ** 2, axis=1)) > 0.01))


def test_ulaw_file_really_is_8k_g711_mulaw(rendered):
    header = rendered["ulaw_8k"].read_bytes()[:64]
    fmt = header.index(b"fmt ") + 8
    format_tag, channels, rate = np.frombuffer(header[fmt:fmt + 8], "<u2", 2).tolist() + [
        int(np.frombuffer(header[fmt + 4:fmt + 8], "<u4")[0])]
    assert (format_tag, channels, rate) == (7, 2, 8000)  # WAVE_FORMAT_MULAW


@pytest.mark.parametrize("name", ["clean_stereo", "ulaw_8k"])
def test_audio_is_silent_in_silences_and_busy_in_overlaps(rendered, name):
    audio, rate = _read(rendered[name])
    lab = ALL_LABELS[name]
    assert lab["silences"] and lab["near_silences"] and lab["interruptions"] and lab["backchannels"]
    for silence in lab["silences"] + lab["near_silences"]:
        quiet = audio[int((silence["start"] + 0.05) * rate):int((silence["end"] - 0.05) * rate)]
        assert np.abs(quiet).max() < 0.01  # μ-law's smallest step is ≈ 1e-4; bleed is silent too
    for cut_in in lab["interruptions"]:
        both = audio[int(cut_in["start"] * rate):int(cut_in["end"] * rate)]
        assert _busy_fraction(both[:, 0], rate) > 0.8 and _busy_fraction(both[:, 1], rate) > 0.8
    for backchannel in lab["backchannels"]:
        span = audio[int(backchannel["start"] * rate):int(backchannel["end"] * rate)]
        assert backchannel["end"] - backchannel["start"] < 1.0
        assert _busy_fraction(span[:, 0], rate) > 0.3 and _busy_fraction(span[:, 1], rate) > 0.8


def test_bleed_and_channel_placement(rendered):
    clean, rate = _read(rendered["clean_stereo"])
    scenario = SCENARIOS["bleed_15db"]
    bled, _ = _read(rendered["bleed_15db"])
    # The customer's speech appears on the agent channel ≈ 15 dB down (band-limited a little more).
    only_customer = [t for t in scenario.turns if t.speaker == "customer"][0]
    span = slice(int((only_customer.start + 0.5) * rate), int((only_customer.start + 2.0) * rate))
    assert 20 * np.log10(_rms(bled[span, 0]) / _rms(bled[span, 1])) == pytest.approx(-15, abs=2.5)
    assert np.abs(clean[int(0.1 * rate):int(0.5 * rate)]).max() < 1e-3  # nothing before the greeting
    right, rate = _read(rendered["right_channel"])
    greeting = slice(int(1.0 * rate), int(3.0 * rate))
    assert _rms(right[greeting, 1]) > 5 * _rms(right[greeting, 0])


def test_flattened_agent_is_monotone_by_praat(rendered):
    def agent_semitone_std(path):
        audio, rate = _read(path)
        pitch = parselmouth.Sound(audio[:, 0].astype(np.float64), rate).to_pitch(
            time_step=0.01, pitch_floor=75, pitch_ceiling=500)
        f0 = pitch.selected_array["frequency"]
        f0 = f0[f0 > 0]
        return float(np.std(12 * np.log2(f0 / np.median(f0))))
    assert agent_semitone_std(rendered["flat_pitch"]) < 2.0 < agent_semitone_std(rendered["natural_pitch"])


def test_rendering_is_deterministic(tmp_path, rendered):
    # line noise is the random part: seeded by the scenario name
    first = render(SCENARIOS["line_noise"], tmp_path / "a")
    second = render(SCENARIOS["line_noise"], tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    assert first.with_suffix(".labels.json").read_text() == second.with_suffix(".labels.json").read_text()
    noise_only = _read(first)[0][: int(0.5 * RATE)]  # before the greeting
    assert 0 < np.abs(noise_only).max() < 0.05
    assert render(SCENARIOS["ulaw_8k"], tmp_path / "c").read_bytes() == rendered["ulaw_8k"].read_bytes()


def test_committed_sample_call():
    info = sf.info(SAMPLE_PATH)
    assert (info.samplerate, info.channels, info.subtype) == (8000, 2, "ULAW")
    assert 60 <= info.duration <= 90 and SAMPLE_PATH.stat().st_size < 2_000_000
    lab = labels(SAMPLE)
    assert len(lab["silences"]) == len(lab["interruptions"]) == 1
    assert sum(b["overlaps_customer"] for b in lab["backchannels"]) == 1
    assert [p["phrase"] for p in lab["phrases"] if p["category"] == "forbidden"] == ["不清楚"]
    assert "工号" in lab["utterances"][0]["text"]


def test_bank_clips_are_16k_and_labelled():
    clip = clip_audio("a01_nat")
    assert clip.ndim == 1 and len(clip) / RATE == pytest.approx(8.35, abs=0.01)


# --- the real-voice calls -------------------------------------------------------------------------

def test_real_voice_calls_pair_two_different_real_people_from_one_half():
    from tests.fixtures.calls import bank_index
    from tests.fixtures.realcalls import HELD_OUT, REAL_SCENARIOS, TUNE

    assert len(TUNE) == len(HELD_OUT) == 10
    index = bank_index()
    speakers_of = {}
    for name, scenario in REAL_SCENARIOS.items():
        by_role = {who: {index[t.clip]["speaker"] for t in scenario.turns if t.speaker == who}
                   for who in ("agent", "customer")}
        assert len(by_role["agent"]) == 1 and len(by_role["customer"]) <= 1
        assert not by_role["agent"] & by_role["customer"], name
        splits = {index[t.clip]["split"] for t in scenario.turns}
        assert splits == {"tune" if name in TUNE else "heldout"}, name
        speakers_of[name] = by_role["agent"] | by_role["customer"]
    sexes = {index[t.clip]["sex"] for s in REAL_SCENARIOS.values() for t in s.turns if t.speaker == "agent"}
    assert sexes == {"m", "f"}


def test_real_voice_calls_carry_the_mess_of_real_lines():
    from tests.fixtures.realcalls import HELD_OUT, REAL_SCENARIOS, TUNE

    for half in (TUNE, HELD_OUT):
        calls = [REAL_SCENARIOS[n] for n in half]
        every = [labels(s) for s in calls]
        assert sum(len(lab["interruptions"]) for lab in every) >= 5
        assert sum(len(lab["silences"]) for lab in every) >= 5 and sum(len(lab["near_silences"]) for lab in every) >= 3
        assert sum(len(lab["backchannels"]) for lab in every) >= 3
        # barge-ins that open with a lead-in: the utterance starts at the short cut, not the sentence
        assert any(len([t for t in s.turns if t.speaker == "agent" and t.start <= i["start"] + 0.01 < t.end]) == 1
                   and "_cut" in next(t.clip for t in s.turns if t.speaker == "agent" and t.start == i["start"])
                   for s, lab in zip(calls, every) for i in lab["interruptions"])
        assert {s.fmt for s in calls} >= {"wav16", "wav_ulaw8k", "mp3"}
        assert any(s.gains_db[0] <= -10 for s in calls) and any(s.gains_db[1] <= -10 for s in calls)
        assert any(s.noise_dbfs is not None and s.noise_dbfs >= -38 for s in calls)
        assert any(lab["pitch"]["monotone"] for lab in every) and not all(lab["pitch"]["monotone"] for lab in every)
        assert any(s.layout == "mono" for s in calls) and any(s.duration < 60 for s in calls)
