"""Recipe: the embedded extractive-QA head, LoRA on all-MiniLM-L6-v2, trained on SQuAD v1.1 articles.

    nice -n 19 python -m training.recipes.qa --output runs/recipe-qa
    nice -n 19 python -m training.recipes.qa --output runs/recipe-qa --resume
    python -m training.recipes.export qa runs/recipe-qa

The SQuAD file in ../shared/data holds dev articles 0-35. They are split by article, never by
question, so no paragraph is both trained on and scored: the last ``--test-articles`` are the
test set (scored once, at the end), the ``--dev-articles`` before them pick the best checkpoint,
and the rest train. Windows, loss and post-processing (best start/end span across a question's
windows, offsets back to characters, SQuAD-normalised EM/F1 against every gold answer) are the
QA tab's and the Fine-tune tab's own (``training.tasks.tasks.QuestionAnsweringTask``, ``lab.qa``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from accelerate.utils import set_seed
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from lab.options import QA_MAX_LENGTH, QA_STRIDE
from lab.registry import embedded_encoder_dir
from training.data.data import DataLimits
from training.data.qa_data import QAExample, read_squad
from training.engine.strategies import train_in_part
from training.recipes.runner import DEFAULT_DATA_DIR, add_loop_args, evaluate_split, run_recipe, setup, write_metrics
from training.tasks.tasks import QuestionAnsweringTask

log = logging.getLogger("recipe.qa")

SQUAD_FILE = "squad/squad-v1.1-dev-articles-00-35.json"
LIMITS = DataLimits(max_bytes=200 * 2**20, max_rows=2_000_000, max_text_chars=1_000_000)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.recipes.qa", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help=f"Folder holding {SQUAD_FILE}.")
    p.add_argument("--test-articles", type=int, default=6, help="The last N articles: the test set.")
    p.add_argument("--dev-articles", type=int, default=2, help="The N articles before them: model selection.")
    p.add_argument("--stride", type=int, default=QA_STRIDE, help="Tokens consecutive windows of a context share.")
    p.add_argument("--full-blocks", default="",
                   help="Encoder blocks trained in full beside the LoRA adapters, e.g. '3,4,5' (shipped as int8 "
                        "changes, ~1.8 MB a block); '' trains LoRA only.")
    p.add_argument("--limit-train", type=int, default=0, help="Train on the first N questions only (timing).")
    # The QA tab's windows by default: the head learns to read a context as the tab will show it one.
    add_loop_args(p, epochs=2.0, batch_size=16, lr=8e-4, lora_r=16, max_length=QA_MAX_LENGTH, evals_per_epoch=3)
    return p


def splits(data_dir: Path, dev_articles: int, test_articles: int) -> tuple[list[QAExample], ...]:
    """(train, dev, test) questions, split by article in file order."""
    examples = read_squad(data_dir / SQUAD_FILE, LIMITS)
    titles = list(dict.fromkeys(e.title for e in examples))  # file order
    test_titles = set(titles[len(titles) - test_articles:])
    dev_titles = set(titles[len(titles) - test_articles - dev_articles:len(titles) - test_articles])
    train = [e for e in examples if e.title not in test_titles | dev_titles]
    return train, [e for e in examples if e.title in dev_titles], [e for e in examples if e.title in test_titles]


def score(model, tokenizer, data: list[QAExample], max_length: int = QA_MAX_LENGTH, stride: int = QA_STRIDE) -> dict:
    """SQuAD EM/F1 of ``model`` on ``data`` (overall and per article), by default with the QA tab's windows."""
    return evaluate_split(QuestionAnsweringTask(stride), model, tokenizer, data, max_length, 32).report


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    setup(args)

    train, dev, test = splits(args.data_dir, args.dev_articles, args.test_articles)
    if args.limit_train:
        train = train[:args.limit_train]
    log.info("questions: train %d, dev %d (%s), test %d (%s)", len(train), len(dev),
             ", ".join(dict.fromkeys(e.title for e in dev)), len(test), ", ".join(dict.fromkeys(e.title for e in test)))

    encoder = embedded_encoder_dir()
    set_seed(args.seed)  # qa_outputs' initialisation, then LoRA's A matrices
    model = AutoModelForQuestionAnswering.from_pretrained(encoder, use_safetensors=True)
    blocks = [f"bert.encoder.layer.{int(b)}" for b in args.full_blocks.split(",") if b.strip()]
    train_in_part(model, args.lora_r, ["qa_outputs", *blocks])
    # No dev articles: the final run on every article, with a schedule a run that held some out chose.
    task = QuestionAnsweringTask(args.stride)
    result = run_recipe(task, model, train, dev or None, args, log)

    best = AutoModelForQuestionAnswering.from_pretrained(args.output / "best", use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(args.output / "best")
    # The test articles with the training windows, then as the QA tab reads them (its windows).
    report = score(best, tokenizer, test, args.max_length, args.stride) if test else None
    tab_windows = (args.max_length, args.stride) == (QA_MAX_LENGTH, QA_STRIDE)
    tab_report = report if tab_windows else score(best, tokenizer, test) if test else None
    metrics = write_metrics(result, args, {
        "task": "qa", "data": f"SQuAD v1.1 dev articles 0-35: ../shared/data/{SQUAD_FILE}",
        "train_questions": len(train), "train_windows": result.extra["train_rows"], "dev_questions": len(dev),
        "test_questions": len(test), "train_articles": len({e.title for e in train}),
        "dev_titles": list(dict.fromkeys(e.title for e in dev)), "test_titles": list(dict.fromkeys(e.title for e in test)),
        "test": report, "test_tab_windows": tab_report})
    log.info("done in %.1f min: %s, saved %s", result.seconds / 60, f"test EM {report['exact_match']:.4f}, F1 "
             f"{report['f1']:.4f} (tab windows: F1 {tab_report['f1']:.4f})" if report else "no test articles",
             args.output / "best")
    return metrics


if __name__ == "__main__":
    main()
