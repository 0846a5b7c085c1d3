"""Frame-level speech activity: hysteresis, mask cleaning, crosstalk suppression."""

import numpy as np
import pytest

from coach.config import VadOptions
from coach.results import Span
from coach.vad import (
    FRAME, FRAME_S, SpeechDetector, clean_mask, estimate_coupling_db, extend_to_voice, frame_levels_db, hysteresis,
    mask_to_spans, noise_floor_db, noise_margin_db, own_voice_frames,
)


def test_hysteresis_starts_high_and_ends_low():
    probs = np.array([0.1, 0.6, 0.4, 0.4, 0.3, 0.45, 0.9])
    assert hysteresis(probs, VadOptions()).tolist() == [False, True, True, True, False, False, True]


def test_clean_mask_closes_short_gaps_and_drops_blips():
    mask = np.zeros(100, bool)
    mask[10:30] = True
    mask[33:50] = True  # 3-frame gap (96 ms) is closed
    mask[70:72] = True  # 64 ms blip is dropped
    spans = mask_to_spans(clean_mask(mask, VadOptions()), 100 * FRAME_S)
    assert spans == [Span(round(10 * FRAME_S, 3), round(50 * FRAME_S, 3))]


def test_frame_levels_follow_amplitude():
    x = np.concatenate([np.full(FRAME * 10, 0.1), np.full(FRAME * 10, 0.01)]).astype(np.float32)
    levels = frame_levels_db(x)
    assert levels[3] == pytest.approx(-20, abs=0.1)
    assert levels[15] == pytest.approx(-40, abs=0.1)


def test_coupling_is_the_bleed_level():
    rng = np.random.default_rng(0)
    other = rng.uniform(-30, -20, 1000)
    own = other - 18 + rng.normal(0, 1, 1000)  # bleed 18 dB down
    own[:100] = other[:100] + 3  # some real double talk
    active = np.ones(1000, bool)
    assert estimate_coupling_db(own, other, active) == pytest.approx(-18, abs=2)


def _two_party_levels():
    """Agent talks frames 0–99, customer 100–199, both (an interruption) 200–249."""
    n = 300
    quiet = -70.0
    agent = np.full(n, quiet)
    cust = np.full(n, quiet)
    agent[0:100] = -20
    cust[100:200] = -22
    agent[200:250] = -21
    cust[200:250] = -23
    # bleed: each channel carries the other 17 dB down
    agent = np.maximum(agent, np.where(np.arange(n) < 200, cust - 17, quiet))
    cust = np.maximum(cust, np.where(np.arange(n) < 200, agent - 17, quiet))
    return agent, cust


def suppressed(masks, levels):
    """What VAD keeps of silero's masks: the frames that are each channel's own voice."""
    return [m & own for m, own in zip(masks, own_voice_frames(masks, levels, margin_db=6))]


def test_bleed_is_suppressed_but_double_talk_kept():
    agent_lv, cust_lv = _two_party_levels()
    # silero hears speech wherever any voice is present, bleed included
    vad_agent = agent_lv > -60
    vad_cust = cust_lv > -60
    a, c = suppressed([vad_agent, vad_cust], [agent_lv, cust_lv])
    assert a[0:100].all() and not a[100:200].any() and a[200:250].all()
    assert c[100:200].all() and not c[0:100].any() and c[200:250].all()


def test_no_bleed_suppresses_nothing():
    agent_lv, cust_lv = _two_party_levels()
    agent_lv[100:200] = -70
    cust_lv[0:100] = -70
    vad_agent, vad_cust = agent_lv > -60, cust_lv > -60
    a, c = suppressed([vad_agent, vad_cust], [agent_lv, cust_lv])
    assert (a == vad_agent).all() and (c == vad_cust).all()


def test_silero_hears_no_speech_in_tones_and_noise():
    rng = np.random.default_rng(1)
    t = np.arange(16000 * 3) / 16000
    hum = (0.05 * np.sin(2 * np.pi * 50 * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
    masks = SpeechDetector().activity((hum,))
    assert not masks[0].any()


def test_coupling_ignores_frames_where_this_party_speaks():
    # Silero hears the agent's bleed on the customer channel as speech, so "customer active"
    # holds mostly agent speech; those frames (agent louder) must not set the coupling.
    rng = np.random.default_rng(2)
    other = rng.uniform(-30, -20, 1000)
    own = other - 25 + rng.normal(0, 1, 1000)
    own[:800] = other[:800] + 25  # agent talking, its bleed on the other channel
    assert estimate_coupling_db(own, other, np.ones(1000, bool)) == pytest.approx(-25, abs=2)


def test_span_edges_move_out_over_quiet_voice_and_short_dips_only():
    levels = np.full(60, -90.0)
    levels[10:14] = -40  # a soft onset silero scored low
    levels[14:30] = -15  # the span silero found
    levels[30:33] = -90  # a 96 ms stop closure …
    levels[33:36] = -42  # … then the trailing syllable
    levels[45:50] = -40  # a separate sound 0.3 s later: not this span
    core = np.zeros(60, bool)
    core[14:30] = True
    extended = extend_to_voice(core, levels, np.ones(60, bool), VadOptions())
    assert np.flatnonzero(extended).tolist() == list(range(10, 36))
    # frames that are the other party's bleed are never taken
    bleed = np.ones(60, bool)
    bleed[10:12] = False
    assert np.flatnonzero(extend_to_voice(core, levels, bleed, VadOptions()))[0] == 12


def test_bleed_buried_in_line_noise_suppresses_nothing():
    # The agent talks at −20 dB in frames 0–999; the customer channel carries line noise at
    # −38 ± 1 dB (the agent's bleed, −42 dB, is under it) and the customer, 10 dB quieter than
    # the agent, talks over them in frames 800–999.  Those double-talk frames are the only
    # audible ones under the agent: two voices moving independently, not a copy — not bleed.
    rng = np.random.default_rng(5)
    agent = np.full(1200, -70.0)
    agent[:1000] = -20 + rng.normal(0, 4, 1000)
    customer = -38 + rng.normal(0, 1, 1200)
    customer[800:1100] = -30 + rng.normal(0, 4, 300)
    audible = customer > -38 + 6
    assert estimate_coupling_db(customer, agent, np.arange(1200) < 1000, audible) == -100.0
    _, own = own_voice_frames([np.arange(1200) < 1000, customer > -35], [agent, customer], 6.0, [agent > -64, audible])
    assert own[800:1000][audible[800:1000]].mean() > 0.95  # the customer's audible words under the agent are kept


def test_bleed_partly_above_the_noise_is_measured_on_its_audible_peaks():
    # bleed 20 dB under a voice that swings ±6 dB, in −40 dB noise: only its peaks are audible
    rng = np.random.default_rng(9)
    agent = -20 + rng.normal(0, 6, 2000)
    customer = np.maximum(agent - 20 + rng.normal(0, 0.8, 2000), -40 + rng.normal(0, 0.5, 2000))
    audible = customer > -38
    assert audible.mean() < 0.5
    assert estimate_coupling_db(customer, agent, np.ones(2000, bool), audible) == pytest.approx(-20.5, abs=1.0)


def test_audible_bleed_is_still_measured():
    rng = np.random.default_rng(6)
    agent = -20 + rng.normal(0, 2, 1000)
    customer = agent - 18 + rng.normal(0, 1, 1000)  # bleed 18 dB down, well above a −70 dB floor
    assert estimate_coupling_db(customer, agent, np.ones(1000, bool), customer > -64) == pytest.approx(-18, abs=1)


def test_span_edges_stop_at_the_line_noise():
    # pink noise or hum at −38 dB around a span: within 30 dB of the span's peak, but no voice
    rng = np.random.default_rng(7)
    levels = -38 + rng.normal(0, 1.0, 80)
    levels[30:50] = -12
    levels[27:30] = -28  # the real soft onset
    probs = np.zeros(80)
    probs[30:50] = 0.9
    options = VadOptions()
    floor = noise_floor_db(levels, probs, options)
    assert floor == pytest.approx(-38.7, abs=1.0)
    core = probs >= options.threshold
    extended = extend_to_voice(core, levels, levels > floor + noise_margin_db(levels, probs, options), options)
    assert np.flatnonzero(extended).tolist() == list(range(27, 50))
    # with only the 30 dB rule the span walks out into the noise
    assert np.flatnonzero(extend_to_voice(core, levels, np.ones(80, bool), options))[0] < 10


def test_the_margin_over_the_noise_is_narrow_on_steady_noise_and_wide_on_wandering_noise():
    rng = np.random.default_rng(8)
    probs = np.zeros(2000)
    steady = -37 + rng.normal(0, 0.4, 2000)  # pink noise or hum, smoothed over 3 frames
    babble = -37 + rng.normal(0, 3.0, 2000)  # a room of voices
    options = VadOptions()
    assert noise_margin_db(steady, probs, options) == options.noise_margin_db
    assert 6 < noise_margin_db(babble, probs, options) <= 12
    # digital silence between the clips of a clean call is steady too
    assert noise_margin_db(np.full(2000, -100.0), probs, options) == options.noise_margin_db


def test_an_edge_stopped_by_the_noise_is_carried_along_its_slope_under_it():
    # A word rises 3 dB a frame from −49 dB (30 dB under its peak) at frame 20 to −19 at frame
    # 30, falls back the same way from frame 50 to 60; line noise sits at −37 dB, so the first
    # and last four frames of the word are under it.
    levels = np.full(80, -37.0)
    levels[20:30] = -49 + 3 * np.arange(10)
    levels[30:50] = -19.0
    levels[50:60] = -19 - 3 * np.arange(1, 11)
    levels = np.maximum(levels, -37.0)
    core = np.zeros(80, bool)
    core[30:50] = True
    allowed = levels > -35.0
    options = VadOptions()
    heard = np.flatnonzero(extend_to_voice(core, levels, allowed, options))
    assert (heard[0], heard[-1]) == (25, 54)  # what stands above the noise
    under = np.flatnonzero(extend_to_voice(core, levels, allowed, options, noise_top_db=-35.0))
    assert abs(under[0] - 20) <= 1 and abs(under[-1] - 59) <= 1  # where the word really starts and ends
    # a clean line (the noise far under the edge rule) moves nothing
    assert np.array_equal(extend_to_voice(core, levels, allowed, options, noise_top_db=-94.0),
                          extend_to_voice(core, levels, allowed, options))
