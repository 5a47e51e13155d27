"""The tasks of the shared accelerate loop (``training.engine.loop.run_task``): classification, NER and extractive QA.

Each task is a small adapter: how to build the model, turn its data into features, compute the
loss and score a split. Strategies (LoRA included: the adapters go on query/value and the new
head, ``classifier`` or ``qa_outputs``, trains in full), progress events, cancel, time limit,
precision, the atomic best checkpoint and metrics.json come from the loop unchanged.

Classification tokenizes once per (content, tokenizer, max_length) into the on-disk cache and
reads its logits at the [CLS] position only (``first_token_only``).

NER features follow transformers' ``run_ner_no_trainer.py``: words are split into WordPiece
pieces and only a word's first piece carries its tag; the others get -100, which the loss
ignores, so every word counts once whatever its length. ``label_all_pieces=True`` tags every
piece instead (continuation pieces of a B-X word get I-X, so a word never holds two entity
starts): more training signal per word, but long words weigh more. Either way validation is
scored per word, on each word's first piece, as seqeval scores CoNLL.

QA features follow ``run_qa_no_trainer.py``, through ``lab.qa.make_windows``: question + context
windows with a stride, the answer's characters mapped to token positions through the offsets,
and windows that don't hold the whole answer pointed at [CLS]. Validation runs the tab's own
post-processing (``lab.qa.select_answer``) across each question's windows.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from datasets import Dataset
from transformers import (
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    DataCollatorForTokenClassification,
    DataCollatorWithPadding,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from lab import word_shape as shapes
from lab.errors import LabInputError
from lab.i18n import msg
from lab.options import QA_MAX_LENGTH, QA_STRIDE
from lab.qa import make_windows, select_answer
from training.config import TrainConfig
from training.data.data import DataError, TextDataset
from training.data.ner_data import TokenDataset
from training.data.qa_data import QAExample
from training.engine.cache import tokenize
from training.engine.first_token import first_token_only
from training.engine.loop import Evaluation, Features, TrainResult, pad_multiple, run_task
from training.engine.models import build_model
from training.tasks import ner_metrics, qa_metrics
from training.tasks.metrics import classification_report, is_better

IGNORE = -100  # the label CrossEntropyLoss skips: special tokens, padding, non-first pieces
MAX_MISCLASSIFIED = 200  # kept in the result and metrics.json, most confident mistakes first
# The held-out sets by name, as messages name them ("The validation set's labels ...").
SPLITS = {"validation": msg("msg.training.loop.split.validation"), "test": msg("msg.training.loop.split.test")}


def _in_row_order(rows: list, order: np.ndarray) -> list:
    out: list = [None] * len(rows)
    for position, row in zip(order.tolist(), rows):
        out[position] = row
    return out


def _gather_rows(accelerator: Accelerator, *tensors: torch.Tensor) -> list[np.ndarray]:
    """Pad (batch, seq) tensors to the longest seq across processes, gather, drop duplicated rows."""
    padded = [accelerator.pad_across_processes(t, dim=1, pad_index=0) if t.dim() > 1 else t for t in tensors]
    return [t.cpu().numpy() for t in accelerator.gather_for_metrics(tuple(padded))]


# --------------------------------------------------------------------------------------------
# Sequence classification


def compute_class_weights(labels: list[int], num_labels: int) -> list[float]:
    """Inverse class frequency, normalised so the classes present average 1.

    A class with half as many examples counts twice as much in the loss. A class absent from
    ``labels`` gets 0 (it never appears as a target, so its weight would never be used).
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_labels).astype(np.float64)
    present = counts > 0
    if not present.any():
        raise LabInputError(msg("msg.training.loop.no_labelled_examples"))
    weights = np.zeros(num_labels)
    weights[present] = 1.0 / counts[present]
    weights[present] /= weights[present].mean()
    return [float(w) for w in weights]


def _check_data(train: TextDataset, val: TextDataset, test: TextDataset | None) -> None:
    if len(train.label_names) < 2:
        raise LabInputError(msg("msg.training.loop.two_labels"))
    if len(train) == 0 or (val is not None and len(val) == 0):
        raise LabInputError(msg("msg.training.loop.empty_split"))
    for name, part in ((SPLITS["validation"], val), (SPLITS["test"], test)):
        if part is not None and list(part.label_names) != list(train.label_names):
            raise LabInputError(msg("msg.training.loop.labels_differ", split=name, labels=str(part.label_names),
                                    train_labels=str(train.label_names)))


@torch.no_grad()
def _predict(model, loader, accelerator: Accelerator) -> tuple[np.ndarray, np.ndarray, float]:
    """(probabilities (n, num_labels), true labels (n,), mean cross-entropy) in loader order."""
    model.eval()
    all_logits, all_labels = [], []
    for batch in loader:
        labels = batch.pop("labels")
        with first_token_only(model):  # the logits read position 0 of the last layer only
            logits = model(**batch).logits.float()  # (batch, num_labels)
        # gather_for_metrics drops the samples accelerate duplicated to even out the last batch
        logits, labels = accelerator.gather_for_metrics((logits, labels))
        all_logits.append(logits.cpu())
        all_labels.append(labels.cpu())
    model.train()
    logits, labels = torch.cat(all_logits), torch.cat(all_labels)
    loss = torch.nn.functional.cross_entropy(logits, labels).item()
    return torch.softmax(logits, dim=-1).numpy(), labels.numpy(), loss


def misclassified(data: TextDataset, probs: np.ndarray) -> list[dict]:
    preds = probs.argmax(axis=1)
    wrong = [i for i in range(len(data)) if preds[i] != data.labels[i]]
    wrong.sort(key=lambda i: -probs[i, preds[i]])  # confident mistakes are the instructive ones
    return [{"row": data.rows[i], "text": data.texts[i], "true": data.label_names[data.labels[i]],
             "predicted": data.label_names[preds[i]], "confidence": round(float(probs[i, preds[i]]), 4)}
            for i in wrong[:MAX_MISCLASSIFIED]]


class ClassificationTask:
    """Sequence classification: one label per text (``train_classifier``)."""

    name = "classification"
    auto_class = AutoModelForSequenceClassification
    tie_metric = "accuracy"  # one text is 1/n of it (training.engine.loop.keeps)

    def __init__(self, label_names: list[str]):
        self.label_names = list(label_names)

    def check(self, config: TrainConfig, train: TextDataset, val: TextDataset, test: TextDataset | None) -> None:
        _check_data(train, val, test)

    def build_model(self, source: str, from_scratch: bool, seed: int) -> PreTrainedModel:
        return build_model(source, self.label_names, from_scratch, seed)

    def features(self, data: TextDataset, tokenizer, max_length: int, cache_dir: Path | None,
                 training: bool) -> Features:
        dataset, hit = tokenize(data, tokenizer, max_length, cache_dir)
        return Features(dataset, hit)

    def collator(self, tokenizer):
        # Dynamic padding: each batch is padded to its own longest row, not to max_length. Rounding
        # up to a multiple of 8 costs < 8 pad tokens per row but keeps shapes aligned for the fast
        # bf16/fp16 kernels (tensor cores, AMX tiles) and limits how many distinct shapes occur.
        return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_multiple())

    def class_weights(self, config: TrainConfig, train: TextDataset) -> list[float] | None:
        return compute_class_weights(train.labels, len(self.label_names)) if config.class_weights else None

    def loss(self, model, batch: dict, weight: torch.Tensor | None) -> tuple[torch.Tensor, int]:
        labels = batch.pop("labels")
        with first_token_only(model):  # same logits and gradients, ~14% less work (first_token.py)
            logits = model(**batch).logits  # (batch, num_labels)
        return torch.nn.functional.cross_entropy(logits.float(), labels, weight=weight), len(labels)

    def evaluate(self, model, loader, order, features, data: TextDataset, accelerator) -> Evaluation:
        probs, _, loss = _predict(model, loader, accelerator)
        probs = probs[np.argsort(order)]  # loader order back to row order
        report = classification_report(data.labels, probs.argmax(axis=1).tolist(), self.label_names)
        return Evaluation(loss, {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}, report, probs)

    def is_better(self, metrics: dict, best: dict | None) -> bool:
        return is_better(metrics, best)

    def mistakes(self, evaluation: Evaluation, data: TextDataset) -> list[dict]:
        return misclassified(data, evaluation.outputs)

    def test_metrics(self, report: dict) -> dict:
        return {"test_accuracy": report["accuracy"], "test_macro_f1": report["macro_f1"]}

    def extra(self) -> dict:
        return {}


def train_classifier(
    config: TrainConfig,
    train: TextDataset,
    val: TextDataset,
    output_dir: str | Path,
    test: TextDataset | None = None,
    **run_options,
) -> TrainResult:
    """Fine-tune ``config.base_model`` on ``train``, keep the best checkpoint by validation.

    The best checkpoint (macro F1, ties by accuracy) is saved to ``output_dir/best`` whenever it
    improves, atomically, as a plain transformers model with its tokenizer and label names.
    ``should_stop`` is polled after every step, and ``config.max_train_minutes`` caps the
    training time: either way the run ends cleanly with the best checkpoint so far.
    ``output_dir/metrics.json`` holds the history, best/test metrics, config and timings.
    ``run_options`` are ``run_task``'s (progress events, stop flag, settings, caches, tracker).
    """
    return run_task(ClassificationTask(train.label_names), config, train, val, output_dir, test, **run_options)


# --------------------------------------------------------------------------------------------
# NER


class TokenClassificationTask:
    """One IOB2 tag per word (``train_token_classifier``); the best checkpoint has the best entity F1."""

    name = "ner"
    auto_class = AutoModelForTokenClassification
    tie_metric = "f1"  # entity F1: about 1/n per sentence (training.engine.loop.keeps)

    def __init__(self, label_names: Sequence[str], label_all_pieces: bool = False, word_shape: bool = False):
        self.label_names = list(label_names)
        self.label2id = {n: i for i, n in enumerate(self.label_names)}
        self.label_all_pieces = label_all_pieces
        self.word_shape = word_shape  # capitals as segment ids (lab/word_shape.py), for uncased encoders
        self.types = ner_metrics.entity_types(self.label_names)

    def check(self, config: TrainConfig, train: TokenDataset, val: TokenDataset, test: TokenDataset | None) -> None:
        if not self.types:
            raise LabInputError(msg("msg.training.tasks.no_entity_types"))
        if len(train) == 0 or (val is not None and len(val) == 0):
            raise LabInputError(msg("msg.training.tasks.no_sentences"))
        for name, part in ((SPLITS["validation"], val), (SPLITS["test"], test)):
            if part is None:
                continue
            unknown = sorted({t for tags in part.tags for t in tags} - set(self.label_names))
            if unknown:
                raise LabInputError(msg("msg.training.tasks.unknown_tags", split=name, tags=", ".join(unknown)))

    def build_model(self, source: str, from_scratch: bool, seed: int):
        return build_model(source, self.label_names, from_scratch, seed, AutoModelForTokenClassification)

    def _piece_label(self, tag: str, first: bool, all_pieces: bool) -> int:
        if first:
            return self.label2id[tag]
        if not all_pieces:
            return IGNORE
        # A word's later pieces continue its entity: B-PER on "mer" makes "##kel" I-PER.
        return self.label2id.get("I-" + tag[2:], self.label2id[tag]) if tag.startswith("B-") else self.label2id[tag]

    def features(self, data: TokenDataset, tokenizer: PreTrainedTokenizerBase, max_length: int,
                 cache_dir: Path | None, training: bool) -> Features:
        if not tokenizer.is_fast:
            raise LabInputError(msg("msg.training.tasks.fast_tokenizer"))
        encoded = tokenizer(data.sentences, is_split_into_words=True, truncation=True, max_length=max_length)
        labels, word_ids, truncated = [], [], 0
        all_pieces = self.label_all_pieces and training  # validation is always scored on first pieces
        for i, tags in enumerate(data.tags):
            ids = encoded.word_ids(i)
            row, previous = [], None
            for w in ids:
                row.append(IGNORE if w is None else self._piece_label(tags[w], w != previous, all_pieces))
                previous = w
            labels.append(row)
            word_ids.append(ids)
            kept = [w for w in ids if w is not None]
            truncated += bool(kept) and kept[-1] < len(tags) - 1
        columns = {k: encoded[k] for k in ("input_ids", "token_type_ids", "attention_mask") if k in encoded}
        if self.word_shape:
            columns["token_type_ids"] = [shapes.from_words(words, ids)
                                         for words, ids in zip(data.sentences, word_ids)]
        return Features(Dataset.from_dict({**columns, "labels": labels}), None,
                        {"word_ids": word_ids, "truncated": truncated})

    def collator(self, tokenizer):
        # pads the labels with -100 too, so padding never counts in the loss
        return DataCollatorForTokenClassification(tokenizer, pad_to_multiple_of=pad_multiple())

    def class_weights(self, config: TrainConfig, train: TokenDataset) -> list[float] | None:
        if not config.class_weights:
            return None
        return compute_class_weights([self.label2id[t] for tags in train.tags for t in tags], len(self.label_names))

    def loss(self, model, batch: dict, weight: torch.Tensor | None) -> tuple[torch.Tensor, int]:
        labels = batch.pop("labels")  # (batch, seq), -100 where no tag is learned
        logits = model(**batch).logits.float()  # (batch, seq, num_labels)
        if not (labels != IGNORE).any():  # only pieces without a tag: nothing to learn, and no NaN
            return logits.sum() * 0.0, len(labels)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), weight=weight,
                                                 ignore_index=IGNORE)
        return loss, len(labels)

    @torch.no_grad()
    def _predict(self, model, loader, accelerator: Accelerator) -> tuple[list[np.ndarray], float]:
        """Predicted tag ids per row (loader order, padded), and the mean loss over tagged pieces."""
        model.eval()
        rows, loss_sum, count = [], 0.0, 0
        for batch in loader:
            labels = batch.pop("labels")
            logits = model(**batch).logits.float()  # (batch, seq, num_labels)
            token_loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, ignore_index=IGNORE,
                                                           reduction="none")  # (batch, seq), 0 where ignored
            preds, row_loss, row_count = _gather_rows(accelerator, logits.argmax(-1), token_loss.sum(1),
                                                      (labels != IGNORE).sum(1))
            rows.extend(preds)
            loss_sum += float(row_loss.sum())
            count += int(row_count.sum())
        model.train()
        return rows, loss_sum / count if count else 0.0

    def evaluate(self, model, loader, order, features: Features, data: TokenDataset, accelerator) -> Evaluation:
        rows, loss = self._predict(model, loader, accelerator)
        predicted = []
        for tags, ids, pred in zip(data.tags, features.meta["word_ids"], _in_row_order(rows, order)):
            words = ["O"] * len(tags)  # words cut off by max_length (or with no piece at all) stay O
            previous = None
            for position, w in enumerate(ids):
                if w is not None and w != previous:
                    words[w] = self.label_names[int(pred[position])]
                previous = w
            predicted.append(words)
        report = ner_metrics.entity_report(data.tags, predicted, self.types)
        report["truncated_sentences"] = features.meta["truncated"]
        metrics = {k: report[k] for k in ("precision", "recall", "f1", "accuracy")}
        return Evaluation(loss, metrics, report, predicted)

    def is_better(self, metrics: dict, best: dict | None) -> bool:
        return ner_metrics.is_better(metrics, best)

    def mistakes(self, evaluation: Evaluation, data: TokenDataset) -> list[dict]:
        """Sentences with at least one wrong word, most wrong words first."""
        out = []
        for i, (gold, pred) in enumerate(zip(data.tags, evaluation.outputs)):
            wrong = sum(g != p for g, p in zip(gold, pred))
            if wrong:
                out.append({"line": data.lines[i], "text": " ".join(data.sentences[i]), "tokens": data.sentences[i],
                            "true": gold, "predicted": pred, "wrong_words": wrong})
        out.sort(key=lambda m: -m["wrong_words"])
        return out[:MAX_MISCLASSIFIED]

    def test_metrics(self, report: dict) -> dict:
        return {f"test_{k}": report[k] for k in ("precision", "recall", "f1", "accuracy")}

    def extra(self) -> dict:
        return {"label_all_pieces": self.label_all_pieces}


def train_token_classifier(
    config: TrainConfig,
    train: TokenDataset,
    val: TokenDataset,
    output_dir: str | Path,
    test: TokenDataset | None = None,
    *,
    label_all_pieces: bool = False,
    **run_options,
) -> TrainResult:
    """Fine-tune ``config.base_model`` for NER on ``train``; keep the best checkpoint by entity F1.

    ``output_dir/best`` loads with ``AutoModelForTokenClassification`` (id2label = the training
    tags), so the NER tab can use it. ``val_report`` is ``ner_metrics.entity_report`` (+ val_loss,
    truncated_sentences); ``misclassified`` lists sentences with wrong words. ``run_options`` are
    ``run_task``'s (a ``cache_dir`` is accepted for symmetry; NER features take seconds to build).
    """
    task = TokenClassificationTask(train.label_names, label_all_pieces)
    return run_task(task, config, train, val, output_dir, test, **run_options)


# --------------------------------------------------------------------------------------------
# QA


class QuestionAnsweringTask:
    """Extractive QA (``train_qa``): the best checkpoint has the best SQuAD F1 on validation."""

    name = "qa"
    auto_class = AutoModelForQuestionAnswering
    tie_metric = "f1"  # the mean over questions: one question is at most 1/n of it (training.engine.loop.keeps)
    label_names: list[str] = []  # a start and an end logit per token, no labels

    def __init__(self, stride: int | None = None, max_answer_len: int = 30):
        self.stride = stride
        self.max_answer_len = max_answer_len
        self.contexts_in_train = 0

    def check(self, config: TrainConfig, train: list[QAExample], val: list[QAExample],
              test: list[QAExample] | None) -> None:
        if config.class_weights:
            raise LabInputError(msg("msg.training.tasks.qa_class_weights"))
        if not train or (val is not None and not val):  # None: no held-out data, the last weights kept
            raise LabInputError(msg("msg.training.tasks.no_questions"))
        if self.max_answer_len < 1:
            raise LabInputError(msg("msg.training.tasks.answer_length"))
        # Separate files may share paragraphs; the report says so (split_by_context never does).
        self.contexts_in_train = len({e.context for e in val or ()} & {e.context for e in train})

    def build_model(self, source: str, from_scratch: bool, seed: int):
        return build_model(source, [], from_scratch, seed, AutoModelForQuestionAnswering)

    def stride_for(self, max_length: int) -> int:
        """The tokens neighbouring windows share: as given, else the QA tab's proportion (128 of 384),
        so a model fine-tuned here learns the windows the tab reads it with."""
        return self.stride if self.stride is not None else max_length * QA_STRIDE // QA_MAX_LENGTH

    def features(self, data: list[QAExample], tokenizer: PreTrainedTokenizerBase, max_length: int,
                 cache_dir: Path | None, training: bool) -> Features:
        stride = self.stride_for(max_length)
        columns: dict[str, list] = defaultdict(list)
        windows, unreachable, refused = [], 0, []
        for i, example in enumerate(data):
            try:
                example_windows = make_windows(tokenizer, example.question, example.context, max_length, stride)
            except LabInputError as exc:  # its message as it is (a Message says itself in the student's language)
                refused.append((example.id, exc.args[0] if len(exc.args) == 1 else str(exc)))
                continue
            spans = [(a["answer_start"], a["answer_start"] + len(a["text"])) for a in example.answers]
            reachable = False
            for w in example_windows:
                # Training learns the first answer; any gold answer in a window makes it reachable.
                positions = [w.token_span(s, e) for s, e in (spans[:1] if training else spans)]
                reachable = reachable or any(p is not None for p in positions)
                start, end = positions[0] or (w.cls_index, w.cls_index)  # not wholly here: point at [CLS]
                columns["input_ids"].append(w.input_ids)
                columns["attention_mask"].append([1] * len(w.input_ids))
                if w.token_type_ids is not None:
                    columns["token_type_ids"].append(w.token_type_ids)
                columns["start_positions"].append(start)
                columns["end_positions"].append(end)
                windows.append((i, w))
            unreachable += not reachable
        if refused:
            ids = ", ".join(repr(qid) for qid, _ in refused[:8])
            if len(refused) > 8:
                ids = msg("msg.training.tasks.and_more", ids=ids, more=len(refused) - 8)
            raise DataError(msg("msg.training.tasks.windows_refused", count=len(refused), max_length=max_length,
                                stride=stride, ids=ids, reason=refused[0][1]))
        return Features(Dataset.from_dict(dict(columns)), None,
                        {"windows": windows, "unreachable": unreachable, "stride": stride, "max_length": max_length})

    def collator(self, tokenizer):
        return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_multiple())

    def class_weights(self, config: TrainConfig, train) -> None:
        return None

    def loss(self, model, batch: dict, weight: torch.Tensor | None) -> tuple[torch.Tensor, int]:
        start, end = batch.pop("start_positions"), batch.pop("end_positions")  # (batch,) token indices
        out = model(**batch)
        ce = torch.nn.functional.cross_entropy
        # (start + end) / 2, as BertForQuestionAnswering computes it, in fp32
        return (ce(out.start_logits.float(), start) + ce(out.end_logits.float(), end)) / 2, len(start)

    @torch.no_grad()
    def _predict(self, model, loader, accelerator: Accelerator) -> tuple[list[np.ndarray], list[np.ndarray], float]:
        model.eval()
        starts, ends, loss_sum, count = [], [], 0.0, 0
        ce = torch.nn.functional.cross_entropy
        for batch in loader:
            start, end = batch.pop("start_positions"), batch.pop("end_positions")
            out = model(**batch)
            s, e = out.start_logits.float(), out.end_logits.float()  # (batch, seq)
            row_loss = (ce(s, start, reduction="none") + ce(e, end, reduction="none")) / 2
            s, e, row_loss = _gather_rows(accelerator, s, e, row_loss)
            starts.extend(s)
            ends.extend(e)
            loss_sum += float(row_loss.sum())
            count += len(row_loss)
        model.train()
        return starts, ends, loss_sum / count if count else 0.0

    def evaluate(self, model, loader, order, features: Features, data: list[QAExample], accelerator) -> Evaluation:
        starts, ends, loss = self._predict(model, loader, accelerator)
        starts, ends = _in_row_order(starts, order), _in_row_order(ends, order)
        by_example: dict[int, list[int]] = defaultdict(list)
        for row, (i, _) in enumerate(features.meta["windows"]):
            by_example[i].append(row)
        answers = {}
        for i, rows in by_example.items():
            windows = [features.meta["windows"][r][1] for r in rows]
            width = max(len(w.input_ids) for w in windows)
            start_logits = np.zeros((len(windows), width))  # (windows, seq), in window.index order
            end_logits = np.zeros((len(windows), width))
            for w, r in zip(windows, rows):
                n = len(w.input_ids)
                start_logits[w.index, :n], end_logits[w.index, :n] = starts[r][:n], ends[r][:n]
            # SQuAD v1.1 always has an answer: never choose "no answer" (an infinite threshold).
            result = select_answer(windows, start_logits, end_logits, data[i].context, self.max_answer_len, 1,
                                   math.inf)
            answers[i] = (result.best.text, result.score)
        return self._report(loss, answers, features, data)

    def _report(self, loss: float, answers: dict[int, tuple[str, float]], features: Features,
                data: list[QAExample]) -> Evaluation:
        per_question = []
        for i, e in enumerate(data):
            text, score = answers.get(i, ("", 0.0))
            golds = [a["text"] for a in e.answers]
            per_question.append({"em": qa_metrics.max_over_gold(qa_metrics.exact_match, text, golds),
                                 "f1": qa_metrics.max_over_gold(qa_metrics.f1, text, golds),
                                 "predicted": text, "score": score})
        n = len(data)
        em = sum(q["em"] for q in per_question) / n
        f1 = sum(q["f1"] for q in per_question) / n
        articles: dict[str, list[dict]] = defaultdict(list)
        for e, q in zip(data, per_question):
            articles[e.title or "(untitled)"].append(q)
        report = {
            "exact_match": em, "f1": f1, "questions": n,
            "per_article": {t: {"exact_match": sum(q["em"] for q in qs) / len(qs),
                                "f1": sum(q["f1"] for q in qs) / len(qs), "questions": len(qs)}
                            for t, qs in articles.items()},
            "windows": len(features.meta["windows"]),
            "answers_outside_windows": features.meta["unreachable"],
            "contexts_in_train": self.contexts_in_train,
            "max_length": features.meta["max_length"], "stride": features.meta["stride"],
            "max_answer_len": self.max_answer_len,
        }
        return Evaluation(loss, {"exact_match": em, "f1": f1}, report, per_question)

    def is_better(self, metrics: dict, best: dict | None) -> bool:
        return qa_metrics.is_better(metrics, best)

    def mistakes(self, evaluation: Evaluation, data: list[QAExample]) -> list[dict]:
        """Questions not answered exactly, lowest F1 first (confident ones first among equals)."""
        out = [{"id": e.id, "title": e.title, "question": e.question, "context": e.context,
                "true": [a["text"] for a in e.answers], "predicted": q["predicted"],
                "score": round(float(q["score"]), 4), "exact_match": q["em"], "f1": round(q["f1"], 4), "line": e.line}
               for e, q in zip(data, evaluation.outputs) if q["em"] < 1]
        out.sort(key=lambda m: (m["f1"], -m["score"]))
        return out[:MAX_MISCLASSIFIED]

    def test_metrics(self, report: dict) -> dict:
        return {"test_exact_match": report["exact_match"], "test_f1": report["f1"]}

    def extra(self) -> dict:
        return {"stride": self.stride, "max_answer_len": self.max_answer_len}


def train_qa(
    config: TrainConfig,
    train: list[QAExample],
    val: list[QAExample],
    output_dir: str | Path,
    test: list[QAExample] | None = None,
    *,
    stride: int | None = None,
    max_answer_len: int = 30,
    **run_options,
) -> TrainResult:
    """Fine-tune ``config.base_model`` for extractive QA; keep the best checkpoint by SQuAD F1.

    Windows are ``config.max_length`` tokens with ``stride`` shared tokens (default: a quarter
    of max_length); ``max_answer_len`` (tokens) bounds the answers validation may pick.
    ``output_dir/best`` loads with ``AutoModelForQuestionAnswering``. ``val_report`` holds
    exact_match, f1, questions, per_article, windows, answers_outside_windows,
    contexts_in_train, max_length, stride, max_answer_len (+ val_loss); ``misclassified``
    lists questions not answered exactly. Examples per second count windows. ``run_options``
    are ``run_task``'s.
    """
    return run_task(QuestionAnsweringTask(stride, max_answer_len), config, train, val, output_dir, test,
                    **run_options)
