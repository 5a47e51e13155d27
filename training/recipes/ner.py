"""Recipe: the embedded NER head, all-MiniLM-L6-v2 fine-tuned on CoNLL-2003 (news, PER/ORG/LOC/MISC).

    nice -n 19 python -m training.recipes.ner --output runs/recipe-ner
    nice -n 19 python -m training.recipes.ner --output runs/recipe-ner --resume
    python -m training.recipes.export ner runs/recipe-ner

Trains every encoder block and the classifier in full on CoNLL-2003 train (the word embeddings
stay as they are, so the head ships as int8 changes of the blocks). Every piece of a word learns
its tag (``B-`` on the first, ``I-`` on the rest), so each of the NER tab's aggregations rebuilds
whole words; scores read the first piece of each word. The encoder is uncased, so
each word's capital letter reaches it through the segment ids (``--word-shape``,
lab/word_shape.py). CoNLL's valid split is cut in two halves by document, fixed by the seed: the
best checkpoint is picked on one, and the other, which nothing in the run looks at before the
end, gives the reported strict entity-level P/R/F1 (seqeval's CoNLL scoring). CoNLL's test split
is not in the project and is never used. Features, loss and scoring are the Fine-tune tab's
(``training.tasks.tasks.TokenClassificationTask``), and so is the loop (``training.engine.loop``).
"""

from __future__ import annotations

import argparse
import logging
import random
from pathlib import Path

from accelerate.utils import set_seed
from transformers import AutoModelForTokenClassification, AutoTokenizer

from lab import word_shape
from lab.registry import embedded_encoder_dir
from training.data.data import DataLimits
from training.data.ner_data import TokenDataset, read_conll
from training.engine.strategies import train_in_part
from training.recipes.runner import DEFAULT_DATA_DIR, add_loop_args, evaluate_split, run_recipe, setup, write_metrics
from training.tasks.tasks import TokenClassificationTask

log = logging.getLogger("recipe.ner")

# Big enough for CoNLL's 14,040-sentence train split (the upload caps are for classroom files).
LIMITS = DataLimits(max_bytes=200 * 2**20, max_rows=2_000_000, max_text_chars=1_000_000)
# What trains in full; the word and position embeddings stay the wheel's.
TRAINED = ["classifier", "bert.encoder", "bert.embeddings.token_type_embeddings", "bert.embeddings.LayerNorm"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.recipes.ner", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="Folder holding conll2003/{train,valid}.txt.")
    p.add_argument("--no-word-shape", dest="word_shape", action="store_false",
                   help="Leave capitals out (segment ids all 0), to measure what they bring.")
    p.add_argument("--first-piece-only", dest="label_all_pieces", action="store_false",
                   help="Learn a tag on each word's first piece only; by default a word's later pieces learn "
                        "I- of its type too, so every aggregation of the NER tab groups them back into the word.")
    p.add_argument("--limit-train", type=int, default=0, help="Train on the first N sentences only (timing).")
    add_loop_args(p, epochs=3.0, batch_size=32, lr=1e-4, lora_r=0, max_length=128, evals_per_epoch=3)
    return p


def read_split(data_dir: Path, split: str, label_names=None) -> TokenDataset:
    return read_conll(data_dir / "conll2003" / f"{split}.txt", limits=LIMITS, label_names=label_names)


def documents(data: TokenDataset) -> list[list[int]]:
    """Sentence indices per document. read_conll drops the -DOCSTART- lines, so a document is
    told by its first sentence: CoNLL's news items open with an all-caps headline."""
    docs: list[list[int]] = []
    for i, words in enumerate(data.sentences):
        if not docs or (i and _starts_document(words)):
            docs.append([])
        docs[-1].append(i)
    return docs


def _starts_document(words: list[str]) -> bool:
    letters = "".join(w for w in words if w.isalpha())
    return len(letters) > 3 and letters.isupper()


def splits(data_dir: Path, seed: int) -> tuple[TokenDataset, TokenDataset, TokenDataset]:
    """(train, selection half of valid, held-out half of valid), whole documents in each half,
    rebuilt the same way by export and tests."""
    train = read_split(data_dir, "train")
    valid = read_split(data_dir, "valid", train.label_names)
    docs = documents(valid)
    if len(docs) < 2:  # a file without news headlines: sentences are the units
        docs = [[i] for i in range(len(valid))]
    random.Random(seed).shuffle(docs)
    half = len(docs) // 2
    pick = sorted(i for doc in docs[:half] for i in doc)
    held = sorted(i for doc in docs[half:] for i in doc)
    return train, valid.subset(pick), valid.subset(held)


def score(model, tokenizer, data: TokenDataset, max_length: int = 128) -> dict:
    """Strict entity-level report of ``model`` on ``data`` (first piece of each word)."""
    task = TokenClassificationTask(list(model.config.id2label.values()), word_shape=word_shape.enabled(model.config))
    return evaluate_split(task, model, tokenizer, data, max_length, 64).report


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    setup(args)

    train, dev, held_out = splits(args.data_dir, args.seed)
    if args.limit_train:
        train = train.subset(list(range(min(args.limit_train, len(train)))))
    log.info("train %d sentences, selection %d, held out %d; tags %s", len(train), len(dev), len(held_out),
             train.label_names)

    encoder = embedded_encoder_dir()
    task = TokenClassificationTask(train.label_names, label_all_pieces=args.label_all_pieces,
                                   word_shape=args.word_shape)
    set_seed(args.seed)  # the classifier's initialisation (and LoRA's, with --lora-r)
    model = AutoModelForTokenClassification.from_pretrained(
        encoder, num_labels=len(train.label_names), id2label=dict(enumerate(train.label_names)),
        label2id={n: i for i, n in enumerate(train.label_names)}, use_safetensors=True)
    if args.word_shape:
        setattr(model.config, word_shape.CONFIG_KEY, word_shape.CAPITALIZED)  # saved in config.json
    train_in_part(model, args.lora_r, TRAINED)
    result = run_recipe(task, model, train, dev, args, log)

    best = AutoModelForTokenClassification.from_pretrained(args.output / "best", use_safetensors=True)
    report = score(best, AutoTokenizer.from_pretrained(args.output / "best"), held_out, args.max_length)
    metrics = write_metrics(result, args, {
        "task": "ner", "data": "CoNLL-2003 English: ../shared/data/conll2003/{train,valid}.txt",
        "train_sentences": len(train), "dev_sentences_scored": len(dev), "held_out_sentences": len(held_out),
        "word_shape": args.word_shape, "label_all_pieces": args.label_all_pieces, "held_out": report})
    log.info("done in %.1f min: held-out entity F1 %.4f (P %.4f, R %.4f), saved %s", result.seconds / 60,
             report["f1"], report["precision"], report["recall"], args.output / "best")
    return metrics


if __name__ == "__main__":
    main()
