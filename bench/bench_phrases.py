"""Phrase matching: per-category precision and recall on labelled transcripts.

Three sets, all labelled by hand in bench/fixtures/phrases/corpus.tsv (one row per sentence:
speaker, text, the lexicon hits a trainer would mark, the look-alikes that must not count):

- clean: the labelled texts themselves (what the matcher does on a perfect transcript);
- asr-clips: every sentence spoken (voice bank / synthesised clips), packed into ~25 s mono
  sessions 3 s apart, stored as 8 kHz μ-law and transcribed by the real pipeline; the hits in
  what Whisper wrote for each sentence are scored;
- asr-calls: the 15 fixture calls of tests/fixtures/calls.py through the whole pipeline
  (crosstalk, noise, codecs); a hit must have the right phrase, the right speaker and fall on
  the clip that said it.

Per category (courtesy, forbidden, filler): true hits, false hits, misses → precision and
recall; plus substring hits (a false hit on a labelled look-alike: 请 in 申请) and hits given
to the wrong speaker.  A hit counts when its phrase is the labelled one or a shorter/longer
lexicon form of it (我无法解决 for 您的问题我无法解决).  With --bias it repeats the ASR sets
with the recogniser biased towards lexicon phrases (faster-whisper `hotwords`) and prints the
before/after with the character error rate: biasing is only worth it if it raises recall
without hurting the rest.

    .venv/bin/python bench/bench_phrases.py [--sets clean asr-clips asr-calls]
        [--bias ['core courtesy'] ['courtesy + script'] ['+ forbidden']]
    .venv/bin/python bench/bench_phrases.py --timing     # matching speed on a 10-minute call
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import soundfile as sf
from rapidfuzz.distance import Levenshtein
from scipy.signal import resample_poly

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coach import textnorm  # noqa: E402
from coach.config import AsrOptions, Options  # noqa: E402
from coach.lexicon import Category, Lexicon, load_lexicon  # noqa: E402
from coach.phrases import PhraseMatcher  # noqa: E402
from coach.pipeline import Channel, analyze  # noqa: E402
from coach.results import PhraseHit, Speaker, Utterance  # noqa: E402
from tests.fixtures.calls import BANK_DIR, SCENARIOS, render  # noqa: E402

CORPUS = ROOT / "bench" / "fixtures" / "phrases" / "corpus.tsv"
AUDIO_DIR = CORPUS.parent / "audio"
CATEGORIES = ("courtesy", "forbidden", "filler")
TARGETS = {"recall": 0.95, "precision": 0.98}  # on the ASR sets, courtesy and forbidden
CLIP_SLACK_S = 1.0  # a hit in a call belongs to a clip when it falls within this of the clip
HAN = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class Row:
    id: str
    speaker: Speaker
    text: str
    expect: tuple[tuple[str, str], ...]  # (category, phrase)
    traps: tuple[str, ...]  # phrases that occur only as look-alikes


@dataclass
class Tally:
    true: Counter = field(default_factory=Counter)
    false: Counter = field(default_factory=Counter)
    missed: Counter = field(default_factory=Counter)
    substring: int = 0
    wrong_speaker: int = 0
    errors: list[str] = field(default_factory=list)
    cer_edits: int = 0
    cer_chars: int = 0

    def precision(self, category: str) -> float | None:
        found = self.true[category] + self.false[category]
        return self.true[category] / found if found else None

    def recall(self, category: str) -> float | None:
        labelled = self.true[category] + self.missed[category]
        return self.true[category] / labelled if labelled else None


def load_corpus() -> list[Row]:
    with CORPUS.open(encoding="utf-8") as f:
        lines = [line for line in f if not line.startswith("#")]
    rows = []
    for r in csv.DictReader(lines, delimiter="\t"):
        expect = tuple(tuple(item.split(":", 1)) for item in r["expect"].split(";") if item)
        traps = tuple(item.split("@", 1)[0] for item in r["traps"].split(";") if item)
        rows.append(Row(r["id"], Speaker(r["speaker"]), r["text"], expect, traps))
    return rows


# ----------------------------------------------------------------------------- scoring
def same_phrase(found: str, labelled: str) -> bool:
    """The lexicon phrase found is the labelled one or a shorter/longer lexicon form of it:
    我无法解决 for 您的问题我无法解决 (the recogniser lost 您的问题, the forbidden words were caught)."""
    a, b = ("".join(HAN.findall(p)).replace("您", "你") for p in (found, labelled))
    return a == b or (min(len(a), len(b)) >= 2 and (a in b or b in a))


def score_sentence(hits: list[PhraseHit], row: Row, tally: Tally, where: str) -> None:
    """Pair the hits with the labels of one sentence: same category and phrase (or form of it)."""
    unclaimed = list(row.expect)
    for hit in sorted((h for h in hits if h.category in CATEGORIES), key=lambda h: (h.category, h.phrase)):
        match = next((lab for lab in unclaimed if lab == (hit.category, hit.phrase)), None) or next(
            (lab for lab in unclaimed if lab[0] == hit.category and same_phrase(hit.phrase, lab[1])), None)
        if match:
            unclaimed.remove(match)
            tally.true[hit.category] += 1
            continue
        tally.false[hit.category] += 1
        tally.substring += hit.phrase in row.traps
        tally.errors.append(f"{where}: false {hit.category} {hit.phrase} (heard {hit.heard})")
    for category, phrase in unclaimed:
        tally.missed[category] += 1
        tally.errors.append(f"{where}: missed {category} {phrase}")


@dataclass(frozen=True)
class Labelled:
    """One expected hit in a call: a corpus label placed on the clip that says it."""

    category: str
    phrase: str
    speaker: Speaker
    start: float
    end: float


def score_call(hits: list[PhraseHit], utterances, turns, rows: dict[str, Row], tally: Tally, where: str) -> None:
    """A hit is true when an unclaimed label of the same phrase and speaker lies on its clip."""
    labelled: list[Labelled] = []
    traps: list[tuple[str, float, float]] = []
    for turn in turns:
        row = rows[turn.clip.split("_")[0]]
        speaker = Speaker(turn.speaker)
        labelled += [Labelled(c, p, speaker, turn.start, turn.end) for c, p in row.expect]
        traps += [(t, turn.start, turn.end) for t in row.traps]
    claimed: set[int] = set()

    def on(hit: PhraseHit, start: float, end: float) -> bool:
        return start - CLIP_SLACK_S <= (hit.start + hit.end) / 2 <= end + CLIP_SLACK_S

    for hit in (h for h in hits if h.category in CATEGORIES):
        match = next((i for i, lab in enumerate(labelled) if i not in claimed and lab.category == hit.category
                      and same_phrase(hit.phrase, lab.phrase) and lab.speaker == hit.speaker
                      and on(hit, lab.start, lab.end)), None)
        if match is not None:
            claimed.add(match)
            tally.true[hit.category] += 1
            continue
        tally.false[hit.category] += 1
        other = any(same_phrase(hit.phrase, lab.phrase) and lab.speaker != hit.speaker
                    and on(hit, lab.start, lab.end) for lab in labelled)
        tally.wrong_speaker += other
        tally.substring += any(t == hit.phrase and on(hit, s, e) for t, s, e in traps)
        tally.errors.append(f"{where} {hit.start:6.1f}s: false {hit.category} {hit.phrase} "
                            f"({hit.speaker.value}, heard {hit.heard}){' WRONG SPEAKER' if other else ''}")
    for i, lab in enumerate(labelled):
        if i not in claimed:
            tally.missed[lab.category] += 1
            heard = "".join(u.text for u in utterances if u.speaker == lab.speaker
                            and u.start < lab.end and lab.start < u.end)
            tally.errors.append(f"{where} {lab.start:6.1f}s: missed {lab.category} {lab.phrase} "
                                f"({lab.speaker.value}) 「{heard}」")


def character_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    ref = "".join(HAN.findall(reference))
    hyp = "".join(HAN.findall(textnorm.normalise(hypothesis)))
    return Levenshtein.distance(ref, hyp), len(ref)


# ----------------------------------------------------------------------------- the sets
def run_clean(rows: list[Row], matcher: PhraseMatcher) -> Tally:
    tally = Tally()
    for row in rows:
        score_sentence(matcher.match_text(row.text, row.speaker), row, tally, row.id)
    return tally


def clip_audio_path(row: Row) -> Path:
    if row.id[0] in "pqr":
        return AUDIO_DIR / f"{row.id}.ogg"
    return BANK_DIR / (f"{row.id}_nat.flac" if row.id[0] == "a" else f"{row.id}.flac")


SESSION_S = 25.0  # clips are packed into sessions of this much audio: one Whisper window each
SESSION_GAP_S = 3.0  # silence between clips: well over the 1.0 s that merges utterances


def sessions(rows: list[Row]) -> list[list[Row]]:
    """Rows packed, one speaker per session, into runs of about SESSION_S seconds of audio."""
    packed: list[list[Row]] = []
    for speaker in Speaker:
        run, length = [], 0.0
        for row in (r for r in rows if r.speaker is speaker):
            duration = sf.info(clip_audio_path(row)).duration
            if run and length + duration > SESSION_S:
                packed.append(run)
                run, length = [], 0.0
            run.append(row)
            length += duration + SESSION_GAP_S
        if run:
            packed.append(run)
    return packed


def phone_session(rows: list[Row], out: Path) -> tuple[Path, list[tuple[Row, float, float]]]:
    """The clips as a call recorder stores them (8 kHz μ-law), SESSION_GAP_S apart; and where each lies."""
    gap = np.zeros(int(SESSION_GAP_S * 8000), np.float32)
    pieces, spans, t = [gap], [], SESSION_GAP_S
    for row in rows:
        audio, rate = sf.read(clip_audio_path(row), dtype="float32")
        narrow = resample_poly(audio, 8000, rate).astype(np.float32)
        spans.append((row, t, t + len(narrow) / 8000))
        pieces += [narrow, gap]
        t += (len(narrow) + len(gap)) / 8000
    sf.write(out, np.concatenate(pieces), 8000, subtype="ULAW")
    return out, spans


def run_asr_clips(rows: list[Row], models, work: Path, limit: int | None = None) -> Tally:
    tally = Tally()
    for n, packed in enumerate(sessions(rows)[:limit]):
        path, spans = phone_session(packed, work / f"session{n}.wav")
        report = analyze(models, path)
        heard: dict[str, list[Utterance]] = {row.id: [] for row in packed}
        for u in report.utterances:  # each utterance to the clip it overlaps most
            row = max(spans, key=lambda s: min(u.end, s[2]) - max(u.start, s[1]))[0]
            heard[row.id].append(u)
        for row in packed:
            # The session is mono (the pipeline calls its voice the agent's): score it as its speaker's.
            hits = [h for u in heard[row.id] for h in models.matcher.match_text(u.text, row.speaker)]
            text = "".join(u.text for u in heard[row.id])
            score_sentence(hits, row, tally, f"{row.id} 「{text}」")
            edits, chars = character_errors(row.text, text)
            tally.cer_edits += edits
            tally.cer_chars += chars
    return tally


def run_asr_calls(rows: list[Row], models, work: Path, limit: int | None = None) -> Tally:
    by_id = {r.id: r for r in rows}
    tally = Tally()
    for name, scenario in list(SCENARIOS.items())[:limit]:
        report = analyze(models, render(scenario, work), Channel(scenario.agent_channel))
        turns = [t for t in scenario.turns if scenario.layout == "stereo" or t.speaker == "agent"]
        score_call(list(report.phrases), report.utterances, turns, by_id, tally, name)
    return tally


# ----------------------------------------------------------------------------- biasing
CORE_COURTESY = ("您好", "请", "谢谢", "对不起", "再见", "请稍等", "让您久等了")  # the standard's 五句 + hold pair


def lexicon_hotwords(lexicon: Lexicon, with_forbidden: bool) -> str:
    """The phrases agents are scored on, as one hotword string (faster-whisper keeps ≤ 223 tokens)."""
    phrases = [e.phrase for e in lexicon.of(Category.COURTESY) if len(e.phrase) >= 2]
    phrases += [p for item in lexicon.script for p in item.need]
    if with_forbidden:
        phrases += [e.phrase for e in lexicon.of(Category.FORBIDDEN)]
    return "，".join(dict.fromkeys(phrases))


def bias_modes(lexicon: Lexicon) -> dict[str, AsrOptions]:
    base = AsrOptions()
    return {
        "none": base,
        "hotwords: core courtesy": replace(base, hotwords="，".join(CORE_COURTESY)),
        "hotwords: courtesy + script": replace(base, hotwords=lexicon_hotwords(lexicon, False)),
        "hotwords: + forbidden": replace(base, hotwords=lexicon_hotwords(lexicon, True)),
    }


# ----------------------------------------------------------------------------- output
def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:6.1%}"


def print_table(name: str, tally: Tally) -> None:
    print(f"\n{name}", flush=True)
    print(f"  {'category':<10}{'labelled':>9}{'true':>6}{'false':>7}{'missed':>8}{'precision':>11}{'recall':>9}")
    for c in CATEGORIES:
        print(f"  {c:<10}{tally.true[c] + tally.missed[c]:>9}{tally.true[c]:>6}{tally.false[c]:>7}"
              f"{tally.missed[c]:>8}{pct(tally.precision(c)):>11}{pct(tally.recall(c)):>9}")
    cer = f", character error rate {tally.cer_edits / tally.cer_chars:.1%}" if tally.cer_chars else ""
    print(f"  substring hits {tally.substring}, wrong-speaker hits {tally.wrong_speaker}{cer}")
    for line in tally.errors:
        print(f"    {line}")


def verdicts(tally: Tally) -> list[tuple[str, bool]]:
    out = []
    for c in ("courtesy", "forbidden"):
        r, p = tally.recall(c), tally.precision(c)
        out.append((f"{c} recall ≥ 95 %: {pct(r)}", r is not None and r >= TARGETS["recall"]))
        out.append((f"{c} precision ≥ 98 %: {pct(p)}", p is None or p >= TARGETS["precision"]))
    out.append((f"substring hits 0: {tally.substring}", tally.substring == 0))
    out.append((f"wrong-speaker hits 0: {tally.wrong_speaker}", tally.wrong_speaker == 0))
    return out


def summary(tally: Tally) -> dict:
    return {"per_category": {c: {"true": tally.true[c], "false": tally.false[c], "missed": tally.missed[c],
                                 "precision": tally.precision(c), "recall": tally.recall(c)} for c in CATEGORIES},
            "substring_hits": tally.substring, "wrong_speaker_hits": tally.wrong_speaker,
            "character_error_rate": tally.cer_edits / tally.cer_chars if tally.cer_chars else None,
            "errors": tally.errors}


def timing(matcher: PhraseMatcher, rows: list[Row]) -> None:
    """Match a 10-minute call's worth of agent speech (130 字/分 × 10 min ≈ 1,300 characters)."""
    texts = [r.text for r in rows]
    utterances, chars, t = [], 0, 0.0
    while chars < 1300 * 2:  # both parties: the customer's half is matched too
        text = texts[len(utterances) % len(texts)]
        utterances.append(Utterance(Speaker.AGENT if len(utterances) % 2 else Speaker.CUSTOMER, t, t + 4, text))
        chars, t = chars + len(text), t + 5
    matcher.match(utterances[:5])  # warm jieba's caches
    runs = []
    for _ in range(5):
        began = time.perf_counter()
        matcher.match(utterances)
        runs.append(time.perf_counter() - began)
    print(f"matching {len(utterances)} utterances ({chars} characters, a 10-minute call): "
          f"median {1000 * sorted(runs)[2]:.1f} ms, max {1000 * max(runs):.1f} ms over 5 runs (target < 50 ms)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["clean", "asr-clips", "asr-calls"],
                        choices=["clean", "asr-clips", "asr-calls"])
    parser.add_argument("--bias", nargs="*", metavar="MODE",
                        help="also run the ASR sets with hotword biasing: the modes named (default: all of "
                             "'core courtesy', 'courtesy + script', '+ forbidden')")
    parser.add_argument("--limit", type=int, help="only the first N sessions / calls of the ASR sets "
                        "(hotwords make decoding several times slower)")
    parser.add_argument("--timing", action="store_true", help="only time the matcher on a 10-minute call")
    parser.add_argument("--json", type=Path, default=ROOT / "out" / "bench_phrases.json")
    args = parser.parse_args()
    rows = load_corpus()
    lexicon = load_lexicon()
    matcher = PhraseMatcher(lexicon)
    if args.timing:
        timing(matcher, rows)
        return 0
    results: dict[str, dict] = {}
    ok = True
    if "clean" in args.sets:
        tally = run_clean(rows, matcher)
        print_table(f"clean transcripts ({len(rows)} labelled sentences)", tally)
        results["clean"] = summary(tally)
    asr_sets = [s for s in args.sets if s != "clean"]
    if asr_sets:
        from coach.models import Models

        work = Path(tempfile.mkdtemp(prefix="coach-phrases-"))
        modes = {name: asr for name, asr in bias_modes(lexicon).items()
                 if name == "none" or (args.bias is not None and (not args.bias or name.split(": ")[1] in args.bias))}
        for mode, asr in modes.items():
            models = Models.load(Options(asr=asr))
            for name in asr_sets:
                began = time.perf_counter()
                run = run_asr_clips if name == "asr-clips" else run_asr_calls
                tally = run(rows, models, work, args.limit)
                print_table(f"{name}, bias: {mode} ({time.perf_counter() - began:.0f} s)", tally)
                results[f"{name} | {mode}"] = summary(tally)
                if mode == "none":
                    for text, passed in verdicts(tally):
                        print(f"  {'PASS' if passed else 'FAIL'}  {text}")
                        ok &= passed
        if args.bias is not None:
            print_bias_table(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"\nwritten: {args.json}")
    return 0 if ok else 1


def print_bias_table(results: dict[str, dict]) -> None:
    print("\nASR biasing, before/after (recall / precision; CER = character error rate of the clips)")
    print(f"  {'set | bias':<48}{'courtesy':>17}{'forbidden':>17}{'filler':>17}{'CER':>7}")
    for key, value in results.items():
        if key == "clean":
            continue
        cells = [f"{pct(v['recall'])}/{pct(v['precision'])}" for v in value["per_category"].values()]
        cer = value["character_error_rate"]
        print(f"  {key:<48}" + "".join(f"{c:>17}" for c in cells) + f"{'' if cer is None else f'{cer:.1%}':>7}")


if __name__ == "__main__":
    sys.exit(main())
