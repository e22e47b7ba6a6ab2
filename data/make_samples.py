"""Write the sample sentiment dataset: data/sample_sentiment.csv and data/sample_sentiment.jsonl.

What it is: a deterministic generator of a few hundred short movie-review sentences labelled
"negative" / "positive", built from phrase lists and templates (plain statements, negation,
"X, but Y" contrasts, recommendations), so examples, tests and tutorials have real files to train on
without a download. What it is not: real data; accuracies on it say nothing about real datasets.

Run from the repository root:  python data/make_samples.py  (rewrites both files identically).
"""

from __future__ import annotations

import csv
import json
import random
import sys
from pathlib import Path

SEED = 2014
PER_CLASS = 200

SUBJECTS = [
    "the film",
    "this movie",
    "the acting",
    "the script",
    "the soundtrack",
    "the ending",
    "the cast",
    "the cinematography",
    "the plot",
    "the dialogue",
    "the lead performance",
    "the story",
    "the direction",
    "the pacing",
    "the screenplay",
    "the final act",
    "the score",
    "the editing",
    "this sequel",
    "the humor",
]
NOUNS = ["film", "movie", "story", "debut", "thriller", "comedy", "drama", "sequel", "adventure", "documentary"]
INTENSIFIERS = ["", "", "really ", "truly ", "quite ", "remarkably ", "genuinely ", "surprisingly "]
WORDS = {
    "positive": [
        "wonderful",
        "moving",
        "brilliant",
        "charming",
        "gripping",
        "funny",
        "heartfelt",
        "smart",
        "delightful",
        "superb",
        "memorable",
        "touching",
        "engaging",
        "beautiful",
        "clever",
        "thrilling",
        "warm",
        "inventive",
        "powerful",
        "stunning",
    ],
    "negative": [
        "dull",
        "boring",
        "clumsy",
        "tedious",
        "predictable",
        "lifeless",
        "forgettable",
        "messy",
        "painful",
        "shallow",
        "awful",
        "flat",
        "incoherent",
        "bland",
        "lazy",
        "annoying",
        "silly",
        "pointless",
        "stale",
        "disappointing",
    ],
}
VERB_PHRASES = {
    "positive": [
        "kept me smiling from start to finish",
        "had the whole audience cheering",
        "is worth every minute",
        "left me wanting more",
        "deserves every award it gets",
        "stayed with me for days",
        "made me laugh out loud",
        "won me over completely",
        "feels fresh and alive",
        "never loses its grip on you",
    ],
    "negative": [
        "put me to sleep",
        "wastes a talented cast",
        "drags on far too long",
        "made me check my watch",
        "falls apart in the second half",
        "is a chore to sit through",
        "goes nowhere",
        "left me cold",
        "feels like a cheap copy",
        "never finds its footing",
    ],
}
VERDICTS = {
    "positive": [
        "I would recommend it to anyone.",
        "Don't miss it.",
        "Go see it.",
        "Easily one of the best this year.",
        "I loved every minute.",
        "Five stars from me.",
    ],
    "negative": [
        "I would not recommend it to anyone.",
        "Skip this one.",
        "Save your money.",
        "Easily one of the worst this year.",
        "I hated every minute.",
        "One star from me.",
    ],
}
OPENERS = ["", "", "", "Honestly, ", "In short, ", "Overall, ", "Frankly, ", "To be fair, "]


def _other(label: str) -> str:
    return "negative" if label == "positive" else "positive"


def sentence(rng: random.Random, label: str) -> str:
    """One review sentence whose sentiment is `label` (some templates use negation or contrast)."""
    subject, subject2 = rng.sample(SUBJECTS, 2)
    adj = rng.choice(WORDS[label])
    kind = rng.randrange(9)
    if kind == 0:
        s = f"{subject} is {rng.choice(INTENSIFIERS)}{adj}."
    elif kind == 1:
        s = f"{subject} {rng.choice(VERB_PHRASES[label])}."
    elif kind == 2:
        s = f"what a {adj} {rng.choice(NOUNS)}!"
    elif kind == 3:
        s = f"{subject} is {adj}, and {subject2} {rng.choice(VERB_PHRASES[label])}."
    elif kind == 4:  # negation flips an adjective of the other class
        s = f"{subject} is not {rng.choice(WORDS[_other(label)])} at all."
    elif kind == 5:  # contrast: the clause after "but" carries the sentiment
        s = f"{subject} is {rng.choice(WORDS[_other(label)])}, but {subject2} is {rng.choice(INTENSIFIERS)}{adj}."
    elif kind == 6:
        s = f"a {adj} {rng.choice(NOUNS)}. {rng.choice(VERDICTS[label])}"
    elif kind == 7:
        verb = "loved" if label == "positive" else "hated"
        s = f"I {verb} how {subject} {rng.choice(VERB_PHRASES[label])}."
    else:
        s = f"{rng.choice(VERDICTS[label])[:-1]}: {subject} is {adj}."
    opener = rng.choice(OPENERS)
    if opener and not s.startswith("I "):
        s = s[0].lower() + s[1:]
    s = opener + s
    return s[0].upper() + s[1:]


def make_rows(seed: int = SEED, per_class: int = PER_CLASS) -> list[tuple[str, str]]:
    """`per_class` distinct sentences per label, shuffled; the same seed gives the same rows."""
    rng = random.Random(seed)
    rows: list[tuple[str, str]] = []
    for label in ("negative", "positive"):
        seen: set[str] = set()
        while len(seen) < per_class:
            s = sentence(rng, label)
            if s not in seen:
                seen.add(s)
                rows.append((s, label))
    rng.shuffle(rows)
    return rows


def write(out_dir: Path) -> list[Path]:
    """Write sample_sentiment.csv and sample_sentiment.jsonl into `out_dir`; return their paths."""
    rows = make_rows()
    csv_path, jsonl_path = out_dir / "sample_sentiment.csv", out_dir / "sample_sentiment.jsonl"
    with csv_path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["text", "label"])
        w.writerows(rows)
    with jsonl_path.open("w", encoding="utf-8", newline="\n") as f:
        for text, label in rows:
            f.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
    return [csv_path, jsonl_path]


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    for p in write(target):
        print(f"wrote {p} ({p.stat().st_size:,} bytes)")
