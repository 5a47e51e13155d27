"""Recipe: the Bahasa Indonesia sentiment sample (assets/samples/sentiment-id.csv) from SmSA's train split.

300 reviews, 150 positive and 150 negative, of 8 to 40 words, drawn with a fixed seed from
IndoNLU's SmSA train file in ``../shared/data/smsa`` (its source and licence note beside it; the
project ships this sample only, never the file). Neutral rows are left out so that the sample's
labels are the English and Chinese samples', for crosslingual comparisons. SmSA's validation and
test splits are not used.

    python -m training.recipes.smsa_sample            # rewrites assets/samples/sentiment-id.csv
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

from lab.settings import ASSETS_DIR, Settings

PER_LABEL = 150
LABELS = ("positive", "negative")


def sample(train_tsv: Path, per_label: int = PER_LABEL, seed: int = 0) -> list[tuple[str, str, int]]:
    """(text, label, line number in the TSV) rows, shuffled, ``per_label`` of each label."""
    rows = []
    with open(train_tsv, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            text, _, label = line.rstrip("\n").rpartition("\t")
            if label in LABELS and 8 <= len(text.split()) <= 40:
                rows.append((text, label, number))
    rng = random.Random(seed)
    rng.shuffle(rows)
    picked = [row for label in LABELS for row in [r for r in rows if r[1] == label][:per_label]]
    rng.shuffle(picked)
    return picked


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Settings.shared_data_dir,
                        help="Folder holding smsa/train.tsv (default: ../shared/data).")
    parser.add_argument("--output", type=Path, default=ASSETS_DIR / "samples" / "sentiment-id.csv",
                        help="Where the sample goes (default: assets/samples/sentiment-id.csv).")
    args = parser.parse_args(argv)
    rows = sample(args.data_dir / "smsa" / "train.tsv")
    with open(args.output, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows((text, label) for text, label, _ in rows)
    print(f"{len(rows)} rows -> {args.output}; SmSA train lines: {sorted(n for *_, n in rows)}")


if __name__ == "__main__":
    main()
