"""Voice separation stage: who speaks when on one channel that may carry both parties.

Many call-centre recorders write one mixed channel, and a headset self-review is one channel
too: the stage decides which of the two a mono recording is, and for a mixed call splits
the speech between the two voices.

1. The speech spans from the voice activity stage are cut into windows of `window_s`
   (`hop_s` apart; a span shorter than a window is one window of its own length, a span
   shorter than `min_span_s` gets no window and takes the voice of the speech nearest to it).
2. Each window becomes a CAM++ voice print (`coach.campplus`).
3. The prints are split two ways: spectral clustering (the Fiedler vector of the pruned
   cosine-affinity graph, split in two by 1-D 2-means: deterministic, no random start) and,
   as a second start, the split around the two prints least alike; each refined by moving
   every print to the nearer of the two centres, and the split with the larger contrast kept.
4. One voice or two: the contrast of the split — the mean cosine between windows of the same
   cluster minus that between windows of different clusters.  One person's speech split in two
   has a small contrast (at most 0.22 on the tune half of the real-voice bank, noise and 8 kHz
   μ-law included; 0.25 held out), two people's a large one (0.36 and up; 0.47 held out); the
   cosine between the two centres alone overlapped (bench/README.md).  The line is `two_voices_contrast`, set on the tune half;
   a second "voice" with under `min_voice_share` or `min_voice_s` of the speech is a cough or
   a noise, not a customer.
5. Who speaks when: every 32 ms frame of speech gets the mean of (cosine to voice A − cosine
   to voice B) over the windows covering it, and goes to the voice it leans to.

Confidence: how far the two-way decision is from its line (full beyond `decision_band`),
times, for two voices, the share of the speech that leans clearly (`clear_margin`) to one
of them.  Overlapping speech (both talking at once) is not detected: each frame goes to one
voice, so interruptions are not measured on a mixed call (`coach.pipeline` says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.linalg import eigh

from coach.audio import SAMPLE_RATE
from coach.campplus import CamPlusPlus, fbank
from coach.config import SeparationOptions
from coach.results import Span
from coach.vad import FRAME_S, mask_to_spans

_REFINE_ROUNDS = 10
_NEIGHBOURS_SHARE = 0.3  # each print keeps its strongest links to this share of the others …
_MIN_NEIGHBOURS = 5  # … and at least this many
ENROL_MAX_WINDOWS = 40  # a voice print for enrolment is the mean of at most this many windows


@dataclass(frozen=True)
class Voices:
    """The voices `VoiceSeparator.separate` found on one channel."""

    spans: tuple[tuple[Span, ...], ...]  # each voice's speech, voices in the order they first speak
    prints: np.ndarray  # (voices × 192) each voice's centre, unit length
    similarity: float | None  # cosine between the two clusters' centres (None: under two windows of speech)
    contrast: float | None  # what decides one voice or two (`contrast`); two at `threshold` or more
    confidence: float  # 0–1: the decision's distance from its line × the share of clearly assigned speech
    threshold: float

    @property
    def count(self) -> int:
        return len(self.spans)


class VoiceSeparator:
    """Holds CAM++ (loaded once per process) and tells the voices on one channel apart."""

    def __init__(self, weights: str | Path | None = None):
        self.model = CamPlusPlus(weights)

    def separate(self, samples: np.ndarray, speech: Sequence[Span], options: SeparationOptions,
                 voices: int | None = None) -> Voices:
        """The voices in `speech` (spans of `samples`): decided from the audio, or `voices` (1 or 2) if given."""
        cut = windows(speech, options)
        return assign(self.embed(samples, cut), cut, speech, len(samples) / SAMPLE_RATE, options, voices)

    def voiceprint(self, samples: np.ndarray, speech: Sequence[Span], options: SeparationOptions) -> np.ndarray | None:
        """One voice print (unit length) of the speaker of `speech`: the mean over at most
        `ENROL_MAX_WINDOWS` of its windows, spread over the call; None with no window of speech."""
        cut = windows(speech, options)
        if not cut:
            return None
        cut = [cut[i] for i in np.linspace(0, len(cut) - 1, min(len(cut), ENROL_MAX_WINDOWS)).round().astype(int)]
        return _unit(self.embed(samples, cut).mean(axis=0))

    def embed(self, samples: np.ndarray, cut: Sequence[Span]) -> np.ndarray:
        """The voice print of each window (n × 192); windows of one length run as one batch."""
        prints = np.zeros((len(cut), 192), np.float32)
        by_length: dict[int, list[int]] = {}
        for i, window in enumerate(cut):
            by_length.setdefault(int(round(window.duration * SAMPLE_RATE)), []).append(i)
        for length, members in by_length.items():
            feats = []
            for i in members:
                first = int(round(cut[i].start * SAMPLE_RATE))
                f = fbank(samples[first:first + length])
                feats.append(f - f.mean(axis=0))
            prints[members] = self.model.embed(np.stack(feats))
        return prints


def assign(prints: np.ndarray, cut: Sequence[Span], speech: Sequence[Span], duration: float,
           options: SeparationOptions, voices: int | None = None) -> Voices:
    """One voice or two from the windows' voice prints, and for two, each one's speech."""
    labels = split_two(prints)
    centres = _centres(prints, labels)
    everything = _centres(prints, np.zeros(len(prints), int), 1)
    if centres is None:  # under two windows of speech: nothing to tell apart
        return Voices((tuple(speech),), np.zeros((0, prints.shape[1])) if everything is None else everything,
                      None, None, 1.0, options.two_voices_contrast)
    similarity = float(centres[0] @ centres[1])
    gap = contrast(prints, labels)
    decided = min(1.0, abs(gap - options.two_voices_contrast) / options.decision_band) if options.decision_band else 1.0
    seconds = np.array([sum(w.duration for w, label in zip(cut, labels) if label == k) for k in (0, 1)])
    two = (gap >= options.two_voices_contrast and seconds.min() >= options.min_voice_share * seconds.sum()
           and seconds.min() >= options.min_voice_s)
    if voices is not None:
        two = voices == 2
    if not two:
        return Voices((tuple(speech),), everything, round(similarity, 3), round(gap, 3), round(decided, 3),
                      options.two_voices_contrast)
    lean = frame_lean(prints @ centres[0] - prints @ centres[1], cut, speech, duration)
    speaking = ~np.isnan(lean)
    clear = float(np.mean(np.abs(lean[speaking]) >= options.clear_margin)) if speaking.any() else 0.0
    per_voice = [tuple(mask_to_spans(speaking & (lean >= 0), duration)),
                 tuple(mask_to_spans(speaking & (lean < 0), duration))]
    order = sorted((0, 1), key=lambda k: per_voice[k][0].start if per_voice[k] else duration)
    return Voices(tuple(per_voice[k] for k in order), centres[order], round(similarity, 3), round(gap, 3),
                  round(decided * clear, 3), options.two_voices_contrast)


def contrast(prints: np.ndarray, labels: np.ndarray) -> float:
    """How much more alike the windows of one cluster are to each other than to the other
    cluster's: the mean cosine within clusters minus the mean cosine between them.  One person
    split in two has a small contrast; two people a large one.  (From the clusters' sums of
    unit vectors: the sum of all pairwise cosines of a set is |sum|² − n.)"""
    sums = [prints[labels == k].sum(axis=0) for k in (0, 1)]
    sizes = [int((labels == k).sum()) for k in (0, 1)]
    pairs = sum(n * (n - 1) for n in sizes)
    within = sum(float(s @ s) - n for s, n in zip(sums, sizes)) / pairs if pairs else 1.0
    between = float(sums[0] @ sums[1]) / (sizes[0] * sizes[1])
    return within - between


def windows(speech: Sequence[Span], options: SeparationOptions) -> list[Span]:
    """Windows of `window_s` spread evenly over each span, about `hop_s` apart; a span shorter
    than a window is one window; one shorter than `min_span_s` none."""
    cut = []
    for span in speech:
        if span.duration < options.min_span_s:
            continue
        if span.duration <= options.window_s:
            cut.append(span)
            continue
        count = int(np.ceil((span.duration - options.window_s) / options.hop_s)) + 1
        cut += [Span(round(s, 3), round(s + options.window_s, 3))
                for s in np.linspace(span.start, span.end - options.window_s, count)]
    return cut


def split_two(prints: np.ndarray) -> np.ndarray:
    """Cluster labels (0/1) splitting voice prints two ways, each start refined on the centres:
    the spectral split, and the split around the two prints least alike; the one with the larger
    `contrast` wins (the spectral split alone, on few prints, sometimes cut one voice's
    stretch of similar windows off instead of the other voice)."""
    if len(prints) < 2:
        return np.zeros(len(prints), int)
    similarity = prints @ prints.T
    first, second = np.unravel_index(np.argmin(similarity), similarity.shape)
    around = (similarity[second] > similarity[first]).astype(int)
    candidates = [_refined(prints, start) for start in (_spectral(similarity), around)]
    return max(candidates, key=lambda labels: contrast(prints, labels) if labels.min() != labels.max() else -np.inf)


def _spectral(similarity: np.ndarray) -> np.ndarray:
    """The two-way spectral cut of the pruned cosine-affinity graph."""
    n = len(similarity)
    affinity = np.clip(similarity, 0, None)
    keep = min(n - 1, max(_MIN_NEIGHBOURS, int(round(_NEIGHBOURS_SHARE * n))))
    weakest = np.argsort(affinity, axis=1)[:, : n - keep - 1]  # all but the strongest links (and itself)
    np.put_along_axis(affinity, weakest, 0.0, axis=1)
    affinity = (affinity + affinity.T) / 2
    np.fill_diagonal(affinity, 0.0)
    laplacian = np.diag(affinity.sum(axis=1)) - affinity
    _, vectors = eigh(laplacian, subset_by_index=[1, 1])
    return _two_means(vectors[:, 0])


def _refined(prints: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each print moved to the nearer of the two centres, until nothing moves (spherical k-means)."""
    for _ in range(_REFINE_ROUNDS):
        centres = _centres(prints, labels)
        if centres is None:
            break
        moved = np.argmax(prints @ centres.T, axis=1)
        if np.array_equal(moved, labels):
            break
        labels = moved
    return labels


def _two_means(values: np.ndarray) -> np.ndarray:
    """0/1 labels splitting 1-D values into a low and a high group (Lloyd's 2-means from the
    extremes).  Not the sign: when the two voices share no link at all, the graph falls in two
    pieces and the Fiedler vector may be one-signed, a step between two levels."""
    low, high = float(values.min()), float(values.max())
    labels = np.zeros(len(values), int)
    for _ in range(50):
        moved = (np.abs(values - high) < np.abs(values - low)).astype(int)
        if moved.all() or not moved.any() or np.array_equal(moved, labels):
            return moved
        labels = moved
        low, high = float(values[labels == 0].mean()), float(values[labels == 1].mean())
    return labels


def frame_lean(margins: np.ndarray, cut: Sequence[Span], speech: Sequence[Span], duration: float) -> np.ndarray:
    """Per 32 ms frame: NaN where nobody speaks; elsewhere the mean margin (cosine to voice A −
    cosine to voice B) of the windows covering the frame, or of the nearest covered frame."""
    count = int(np.ceil(duration / FRAME_S))
    sums, covered = np.zeros(count), np.zeros(count)
    for window, margin in zip(cut, margins):
        first, last = int(window.start / FRAME_S), int(np.ceil(window.end / FRAME_S))
        sums[first:last] += margin
        covered[first:last] += 1
    talking = np.zeros(count, bool)
    for span in speech:
        talking[int(round(span.start / FRAME_S)):int(round(span.end / FRAME_S))] = True
    lean = np.full(count, np.nan)
    known = np.flatnonzero(covered)
    if not known.size:
        return lean
    lean[known] = sums[known] / covered[known]
    gaps = np.flatnonzero(talking & (covered == 0))
    if gaps.size:
        right = np.clip(np.searchsorted(known, gaps), 0, known.size - 1)
        left = np.clip(right - 1, 0, known.size - 1)
        nearest = np.where(np.abs(known[left] - gaps) <= np.abs(known[right] - gaps), known[left], known[right])
        lean[gaps] = lean[nearest]
    lean[~talking] = np.nan
    return lean


def _centres(prints: np.ndarray, labels: np.ndarray, clusters: int = 2) -> np.ndarray | None:
    """The centre (unit length) of each of `clusters` clusters; None when one of them is empty."""
    groups = [prints[labels == k] for k in range(clusters)]
    if any(len(g) == 0 for g in groups):
        return None
    return np.stack([_unit(g.mean(axis=0)) for g in groups])


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)
