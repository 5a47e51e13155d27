"""Recipe: the embedded NER head, LoRA on all-MiniLM-L6-v2, trained on WikiANN English.

    nice -n 19 python -m training.recipes.ner --output runs/recipe-ner
    nice -n 19 python -m training.recipes.ner --output runs/recipe-ner --resume
    python -m training.recipes.export ner runs/recipe-ner

Trains on WikiANN's train split (PER/ORG/LOC, IOB2), picks the best checkpoint on a fixed
sample of its dev split, and reports strict entity-level P/R/F1 (seqeval's CoNLL scoring) on
the whole test split, which nothing in the run looks at before the end. Features, loss and
scoring are the Fine-tune tab's (``training.tasks.TokenClassificationTask``); the loop is
``training.recipes.runner``.
"""

from __future__ import annotations

import argparse
import logging
import random
from pathlib import Path

from accelerate.utils import set_seed
from transformers import AutoModelForTokenClassification, AutoTokenizer

from lab.registry import embedded_encoder_dir
from training.data import DataLimits
from training.ner_data import TokenDataset, read_conll
from training.recipes.common import DEFAULT_DATA_DIR, write_json
from training.recipes.runner import add_loop_args, evaluate_split, outcome_metrics, setup, train_lora
from training.tasks import TokenClassificationTask

log = logging.getLogger("recipe.ner")

# Big enough for WikiANN's 20,000-sentence splits (the upload caps are for classroom files).
LIMITS = DataLimits(max_bytes=200 * 2**20, max_rows=2_000_000, max_text_chars=1_000_000)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.recipes.ner", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="Folder holding wikiann_en/{train,dev,test}.")
    p.add_argument("--dev-sample", type=int, default=2000,
                   help="Dev sentences scored at each evaluation (a fixed random sample; 0 = all).")
    p.add_argument("--limit-train", type=int, default=0, help="Train on the first N sentences only (timing).")
    add_loop_args(p, epochs=2.0, batch_size=32, lr=1e-3, lora_r=16, max_length=128, evals_per_epoch=4)
    return p


def read_split(data_dir: Path, split: str, label_names=None) -> TokenDataset:
    return read_conll(data_dir / "wikiann_en" / split, strip_prefix="en:", limits=LIMITS, label_names=label_names)


def splits(data_dir: Path, dev_sample: int, seed: int) -> tuple[TokenDataset, TokenDataset, TokenDataset]:
    """(train, dev sample, test): the recipe's data, rebuilt the same way by export and tests."""
    train = read_split(data_dir, "train")
    dev = read_split(data_dir, "dev", train.label_names)
    if dev_sample and dev_sample < len(dev):
        dev = dev.subset(sorted(random.Random(seed).sample(range(len(dev)), dev_sample)))
    return train, dev, read_split(data_dir, "test", train.label_names)


def score(model, tokenizer, data: TokenDataset, max_length: int = 128) -> dict:
    """Strict entity-level report of ``model`` on ``data`` (first piece of each word)."""
    task = TokenClassificationTask(list(model.config.id2label.values()))
    return evaluate_split(task, model, tokenizer, data, max_length, 64).report


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    setup(args)

    train, dev, test = splits(args.data_dir, args.dev_sample, args.seed)
    if args.limit_train:
        train = train.subset(list(range(min(args.limit_train, len(train)))))
    log.info("train %d sentences, dev sample %d, test %d; tags %s", len(train), len(dev), len(test), train.label_names)

    encoder = embedded_encoder_dir()
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    task = TokenClassificationTask(train.label_names)
    train_feats = task.features(train, tokenizer, args.max_length, None, training=True)
    dev_feats = task.features(dev, tokenizer, args.max_length, None, training=False)

    set_seed(args.seed)  # the classifier's initialisation, then LoRA's A matrices
    model = AutoModelForTokenClassification.from_pretrained(
        encoder, num_labels=len(train.label_names), id2label=dict(enumerate(train.label_names)),
        label2id={n: i for i, n in enumerate(train.label_names)}, use_safetensors=True)
    outcome = train_lora(task, model, tokenizer, train_feats, dev_feats, dev, ["classifier"], args, log)

    merged = outcome.merged
    merged.save_pretrained(args.output / "best")
    tokenizer.save_pretrained(args.output / "best")
    report = score(merged, tokenizer, test, args.max_length)
    metrics = {
        "task": "ner", "data": "WikiANN (PAN-X) English: ../shared/data/wikiann_en/{train,dev,test}",
        "train_sentences": len(train), "dev_sentences_scored": len(dev), "test_sentences": len(test),
        "test": report, **outcome_metrics(outcome, args),
    }
    write_json(args.output / "metrics.json", metrics)
    log.info("done in %.1f min: test entity F1 %.4f (P %.4f, R %.4f), saved %s", outcome.seconds / 60,
             report["f1"], report["precision"], report["recall"], args.output / "best")
    return metrics


if __name__ == "__main__":
    main()
