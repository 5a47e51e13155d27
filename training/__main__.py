"""Fine-tune a classifier, an NER tagger or a QA model from the command line, with the Fine-tune tab's options.

    python -m training --train reviews.csv --output runs/reviews --epochs 2 --strategy lora
    python -m training --task ner --train wikiann.conll --output runs/ner       # token classification
    python -m training --task qa --train squad.json --output runs/qa --max-length 384 --stride 128
    python -m training --dataset sentiment-sample --output runs/sentiment   # a catalogued dataset
    python -m training --list-datasets
    accelerate launch -m training --train reviews.csv --output runs/reviews   # several GPUs/nodes

Every TrainConfig field is a flag (``learning_rate`` -> ``--learning-rate``) with its help text
and range. Prints progress lines and the final metrics; ``OUTPUT/metrics.json`` has them all and
``OUTPUT/best`` the best checkpoint. Exit code 2 (with the reason) when the input can't be used.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import MISSING, fields
from pathlib import Path

from lab.errors import LabInputError, ModelLoadError
from lab.i18n import plain
from lab.settings import Settings
from training.config import TrainConfig
from training.engine.loop import TRACKERS, ProgressEvent
from training.tasks import registry, report

_TYPES = {"str": str, "int": int, "float": float, "bool": bool}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Fine-tune a BERT-family model for text classification (CSV/TSV), named-entity recognition "
                    "(CoNLL or token/tag CSV) or extractive question answering (SQuAD JSON or CSV).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    data = parser.add_argument_group("data and output")
    data.add_argument("--task", choices=registry.NAMES, default="classification",
                      help="What to train: a text classifier (CSV/TSV of text,label); ner: a token classifier "
                           "(CoNLL file, or CSV with tokens/tags columns); qa: extractive question answering "
                           "(SQuAD v1.1 JSON, or CSV with context,question,answer_text,answer_start).")
    source = data.add_mutually_exclusive_group(required=True)
    source.add_argument("--train", metavar="FILE",
                        help="CSV/TSV with a text column and a label column (one example per row).")
    source.add_argument("--dataset", metavar="NAME",
                        help="A dataset from the catalogue instead of --train: the lab's samples (e.g. "
                             "sentiment-sample), hub datasets when the hub is reachable (e.g. sst2), files in "
                             "LAB_DATA_DIR (host:FILE). See --list-datasets.")
    source.add_argument("--list-datasets", action="store_true",
                        help="List the datasets --dataset takes, and exit.")
    data.add_argument("--dataset-rows", type=int, metavar="N",
                      help="With --dataset: a stratified sample of N rows (default: all).")
    data.add_argument("--validation", metavar="FILE",
                      help="Separate validation file with the same columns; without it, --val-fraction of "
                           "--train is held out (stratified).")
    data.add_argument("--test", metavar="FILE",
                      help="Separate test file, scored once at the end with the best checkpoint; without it, "
                           "--test-fraction of --train is held out.")
    data.add_argument("--text-column", metavar="C", help="Column with the texts (guessed when not given).")
    data.add_argument("--label-column", metavar="C", help="Column with the labels (guessed when not given).")
    data.add_argument("--output", metavar="DIR",
                      help="Where best/ (the best checkpoint) and metrics.json are written.")
    data.add_argument("--cache-dir", type=Path, metavar="DIR",
                      help="Tokenized-data cache (default: ~/.cache/bert-transfer-lab/tokenized, or "
                           "$LAB_CACHE_DIR/tokenized).")
    data.add_argument("--log-with", choices=TRACKERS,
                      help="Also log the metrics to this tracker (must be installed); off by default.")

    ner = parser.add_argument_group("NER (--task ner)")
    ner.add_argument("--tag-column", type=int, default=-1, metavar="N",
                     help="CoNLL column holding the tag, counting the token as 0 (-1: the last, as in CoNLL-2003).")
    ner.add_argument("--strip-prefix", metavar="P",
                     help="Remove this prefix from every token (e.g. 'en:'); by default a language prefix that every "
                          "token carries (WikiANN) is detected and removed; '' removes nothing.")
    ner.add_argument("--label-all-pieces", action="store_true",
                     help="Train on every WordPiece piece of a word (continuations of B-X get I-X) instead of only the "
                          "first piece (the standard; the others are ignored by the loss). Scoring is per word either way.")
    qa = parser.add_argument_group("question answering (--task qa)")
    qa.add_argument("--stride", type=int, metavar="N",
                    help="Tokens shared by neighbouring windows of a long context (default: a third of --max-length, "
                         "128 at 384 as the QA tab reads).")
    qa.add_argument("--max-answer-len", type=int, default=30, metavar="N",
                    help="Longest answer, in tokens, that validation may pick.")

    settings = parser.add_argument_group("training settings")
    for f in fields(TrainConfig):
        meta = f.metadata
        kind = _TYPES[f.type] if isinstance(f.type, str) else f.type
        help_text = meta["help"]
        if "min" in meta:
            help_text += f" Range {meta['min']:g} to {meta['max']:g}."
        default = f.default if f.default is not MISSING else None
        flag = "--" + f.name.replace("_", "-")
        if kind is bool:
            settings.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default,
                                  help=help_text)
        else:
            settings.add_argument(flag, dest=f.name, type=kind, default=default, choices=meta.get("choices"),
                                  metavar=None if "choices" in meta else kind.__name__.upper(), help=help_text)
    return parser


class ProgressPrinter:
    """One line per ~5% of the steps and per evaluation, flushed (progress shows in logs too)."""

    def __init__(self, out=sys.stdout):
        self.out = out

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "step":
            every = max(1, event.total_steps // 20)
            if event.step % every and event.step != event.total_steps:
                return
            eta = f"  eta {event.eta_s:.0f}s" if event.eta_s is not None else ""
            self._print(f"step {event.step}/{event.total_steps}  epoch {event.epoch:.2f}  loss {event.loss:.4f}  "
                        f"lr {event.lr:.2e}  elapsed {event.elapsed_s:.0f}s{eta}")
        elif event.kind == "eval":
            m = event.metrics or {}
            best = "  (best so far, saved)" if m.get("is_best") else ""
            # the task's metrics in its own order (classification: accuracy macro_f1; NER: precision
            # recall f1 accuracy; QA: exact_match f1)
            scores = "  ".join(f"{k} {v:.4f}" for k, v in m.items() if k not in ("val_loss", "is_best"))
            self._print(f"eval step {event.step}  epoch {event.epoch:.2f}  val_loss {m['val_loss']:.4f}  "
                        f"{scores}{best}")

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)


def _load_task_data(args, config: TrainConfig, limits):
    """--train, --validation and --test read and split by the task's reader (a ``Prepared``)."""
    reader = registry.reader(args.task, limits, **{k: getattr(args, k) for k in registry.get(args.task).reader_options})
    return reader.split(reader.read(args.train), config, args.validation, args.test, args.text_column or "",
                        args.label_column or "")


def _dataset_file(args, seed: int, announce: bool, settings: Settings) -> str:
    """--dataset NAME as a file --train would take: the catalogue's file for --task (a subsample when
    --dataset-rows is given: stratified by label for classification)."""
    from lab.hub import HubStatus
    from training.data import catalog

    card = catalog.find_card(args.dataset, settings, lambda: HubStatus(settings).online)
    if card.task != args.task:
        raise LabInputError(f"{card.name} is a {card.task} dataset, not {args.task}: pick a {args.task} dataset "
                            f"(see --list-datasets) or train it with --task {card.task}.")
    path = catalog.materialize(card, args.dataset_rows, seed, catalog.datasets_dir(settings))
    if announce:
        print(f"dataset: {card.name} ({card.title}) from {path}", flush=True)
    return str(path)


def list_datasets(settings: Settings) -> list[str]:
    """One line per catalogued dataset (the hub's only when it is reachable)."""
    from lab.hub import HubStatus
    from training.data import catalog

    cards = catalog.catalog(settings, HubStatus(settings).online)
    width = max(len(c.name) for c in cards)
    return [f"{c.name:<{width}}  {c.task:<14}  {c.source:<6}  "
            f"{f'{c.size:,} {c.unit}' if c.size is not None else '':<18}  {c.title}" for c in cards]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = Settings.from_env()  # the host's settings, read once and passed down
    if args.list_datasets:
        print("\n".join(list_datasets(settings)), flush=True)
        return 0
    if args.output is None:
        parser.error("the following argument is required: --output")
    if args.dataset_rows is not None and args.dataset is None:
        parser.error("--dataset-rows goes with --dataset")
    from training.engine.loop import launch_state
    from training.tasks import tasks

    main_process = launch_state().is_main_process
    try:
        config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
        if args.dataset:
            args.train = _dataset_file(args, config.seed, main_process, settings)
        data = _load_task_data(args, config, settings.data_limits)
        train, val, test = data.train, data.val, data.test
        if main_process:
            print(report.data_line(args.task, data), flush=True)
        # A directory given on the command line is the host's own choice (the app refuses paths).
        base = Path(config.base_model)
        local_models = {config.base_model: str(base.resolve())} if base.is_dir() else None
        if local_models is None and (base.is_absolute() or config.base_model.startswith((".", "~"))):
            raise LabInputError(f"--base-model {config.base_model}: no such directory. Give a model directory, "
                                "a hub id, or 'default'.")
        common = dict(test=test, on_event=ProgressPrinter(), settings=settings, cache_dir=args.cache_dir,
                      log_with=args.log_with, local_models=local_models)
        if config.strategy == "features" and not registry.get(args.task).per_text:
            raise LabInputError("--strategy features is for classification: one vector per text.")
        if config.strategy == "features":  # encode once (cached), fit the head: the Fine-tune tab's fast way
            from training.transfer.feature_head import train_feature_head

            result = train_feature_head(config, train, val, args.output, test, common["on_event"], None,
                                        common["settings"])
        else:
            spec = registry.get(args.task)
            result = getattr(tasks, spec.trainer)(config, train, val, args.output,
                                                  **{k: getattr(args, k) for k in spec.trainer_options}, **common)
    except (LabInputError, ModelLoadError) as exc:
        print(f"error: {plain(exc.args[0]) if len(exc.args) == 1 else exc}", file=sys.stderr, flush=True)
        return 2
    if main_process:
        print("\n".join(report.summary_lines(result)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
