"""Benchmark: the local emotion tagger's quality and speed.

    .venv/bin/python bench/emotion.py [--confusion]

Quality: macro-F1 and accuracy on the labelled sentence sets: ../shared/eval/emotions.jsonl
(the shared evaluation set), tests/data/emotion/dev.jsonl (written for tuning) and
tests/data/emotion/heldout.jsonl (written by someone else and never tuned on: the figure
that says whether the tagger generalises). Speed: parse + tag of each eval script after
one warm-up run, best of five, as written and with the emotion tags removed (so that
every sentence is tagged by the lexicon tagger).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETS = {
    "eval": ROOT.parent / "shared" / "eval" / "emotions.jsonl",
    "dev": ROOT / "tests" / "data" / "emotion" / "dev.jsonl",
    "heldout": ROOT / "tests" / "data" / "emotion" / "heldout.jsonl",
}
SCRIPTS = ROOT.parent / "shared" / "eval" / "scripts"
EMOTION_TAG = re.compile(r"\[(?!pause)[a-z]+(?::[0-9.]+)?\]\s*")


def main() -> None:
    sys.path.insert(0, str(ROOT))
    import dataclasses

    from models.domain import EMOTIONS
    from tasks.emotion.bayes import shipped_model
    from tasks.emotion.lexicon import LexiconTagger, classify, decide, score_sentence
    from tasks.emotion.markup import parse_script
    from tasks.emotion.metrics import f1_per_emotion, macro_f1

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--confusion", action="store_true", help="print confusion matrices")
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    args = parser.parse_args()

    def lexicon_only(text: str) -> str:
        return decide(dataclasses.replace(score_sentence(text), learned=None))[0]

    print(f"{'set':<8} {'n':>4} {'macro-F1':>9} {'accuracy':>9}   per-emotion F1"
          "   | macro-F1 of the parts: lexicon+rules alone, word classifier alone")
    for name in args.sets:
        path = SETS[name]
        if not path.exists():
            print(f"{name:<8} missing: {path}")
            continue
        rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
        gold = [row["emotion"] for row in rows]
        predicted = [classify(row["text"])[0] for row in rows]
        accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(rows)
        per = f1_per_emotion(gold, predicted)
        parts = [macro_f1(gold, [lexicon_only(row["text"]) for row in rows]),
                 macro_f1(gold, [shipped_model().predict(row["text"]) for row in rows])]
        print(f"{name:<8} {len(rows):>4} {macro_f1(gold, predicted):>9.3f} {accuracy:>9.3f}   "
              + " ".join(f"{e[:4]}={per.get(e, 0):.2f}" for e in EMOTIONS)
              + f"   | {parts[0]:.3f}  {parts[1]:.3f}")
        if args.confusion:
            print("         gold \\ predicted: " + " ".join(f"{e[:4]:>5}" for e in EMOTIONS))
            for g in EMOTIONS:
                counts = [sum(1 for a, b in zip(gold, predicted, strict=True) if a == g and b == p)
                          for p in EMOTIONS]
                print(f"         {g:<18}" + " ".join(f"{c:>5}" for c in counts))

    tagger = LexiconTagger()
    for script in sorted(SCRIPTS.glob("*.txt")):
        written = script.read_text(encoding="utf-8")
        untagged = EMOTION_TAG.sub("", written)
        for label, text in (("as written", written), ("tags removed", untagged)):
            tagger.tag(parse_script(text))  # warm-up: lexicons load, caches fill
            best = float("inf")
            for _ in range(5):
                start = time.perf_counter()
                segments = tagger.tag(parse_script(text))
                best = min(best, time.perf_counter() - start)
            sentences = sum(s.kind == "speech" for s in segments)
            print(f"{script.name:<16} {label:<13} {len(text):>7,} chars {sentences:>4} "
                  f"sentences analysed in {best * 1000:7.1f} ms "
                  f"({sentences / best:,.0f} sentences/s)")


if __name__ == "__main__":
    main()
