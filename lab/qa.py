"""Extractive question answering, with our own post-processing (transformers 5 has no QA pipeline).

A QA head gives two numbers per token: a start logit and an end logit. The answer is the span
of *context* tokens whose start + end is largest, with end >= start and at most
``max_answer_len`` tokens. A context longer than the model can read at once is split into
overlapping windows, each read together with the question; the best span over all windows wins,
and the [CLS] token's score says "no answer here".

Written in the style of transformers' examples/pytorch/question-answering/utils_qa.py: the
post-processing (``best_spans``, ``select_answer``) takes plain numpy arrays and returns plain
dataclasses, so every step is tested on hand-made logits. Only ``answer_question`` runs a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from lab.errors import LabInputError
from lab.i18n import msg
from lab.options import QA_MAX_LENGTH, QA_STRIDE
from lab.options import QA_MAX_TOP_K as MAX_TOP_K
from lab.predict import SpanLogits
from lab.tokenization import max_input_length

MIN_MAX_LENGTH = 32  # shorter windows leave almost nothing of the context next to the question
MIN_CONTEXT_TOKENS = 8  # a window must hold at least this many context tokens to be worth reading
WINDOWS_PER_FORWARD = 16  # windows run through the model together; bounds memory on long contexts


@dataclass(frozen=True)
class Window:
    """One model input: the question plus one slice of the context (a "feature" in utils_qa).

    ``offsets[i]`` is the character span of token ``i`` in the *context*; it is meaningful only
    where ``context_mask[i]`` is True (question tokens, special tokens and padding are False).
    """

    index: int
    input_ids: list[int]
    token_type_ids: list[int] | None
    tokens: list[str]
    offsets: list[tuple[int, int]]
    context_mask: list[bool]
    cls_index: int  # where the [CLS] token sits (its start+end score means "no answer")

    @property
    def context_tokens(self) -> tuple[int, int]:
        """First and last token index of the context in this window."""
        where = np.flatnonzero(self.context_mask)
        return int(where[0]), int(where[-1])

    @property
    def char_span(self) -> tuple[int, int]:
        """The characters of the context this window covers: [start, end)."""
        first, last = self.context_tokens
        return self.offsets[first][0], self.offsets[last][1]

    def token_span(self, char_start: int, char_end: int) -> tuple[int, int] | None:
        """Token indices (first, last) of the characters [char_start, char_end) of the context.

        None unless this window holds the whole span: an answer cut by the window's edge is
        looked for in the next window, which overlaps this one. (This is how training labels
        are placed, too: a window that holds only part of the answer is labelled "no answer".)
        """
        first, last = self.context_tokens
        if not (self.offsets[first][0] <= char_start and char_end <= self.offsets[last][1]):
            return None
        context = [i for i in range(first, last + 1) if self.context_mask[i]]
        start = max(i for i in context if self.offsets[i][0] <= char_start)
        end = min(i for i in context if self.offsets[i][1] >= char_end)
        return start, end


def check_window_settings(
    tokenizer: PreTrainedTokenizerBase, question: str, max_length: int, stride: int
) -> int:
    """Raise ``LabInputError`` unless the question fits and the windows can move on; return the room.

    The room is how many context tokens one window holds: max_length minus the question minus
    the special tokens. The stride (tokens shared by neighbouring windows) must be smaller than
    the room, or the next window would start where this one did. (The tokenizers library
    panics instead of raising in that case, so this check must come first.)
    """
    if max_length < MIN_MAX_LENGTH:
        raise LabInputError(msg("msg.lab.qa.min_max_length", min=MIN_MAX_LENGTH, max_length=max_length))
    if stride < 0:
        raise LabInputError(msg("msg.lab.qa.negative_stride"))
    n_question = len(tokenizer(question, add_special_tokens=False)["input_ids"])
    n_special = tokenizer.num_special_tokens_to_add(pair=True)
    room = max_length - n_question - n_special
    if room < MIN_CONTEXT_TOKENS:
        raise LabInputError(msg("msg.lab.qa.question_too_long", n_question=n_question, max_length=max_length,
                                room=max(room, 0)))
    if stride >= room:
        raise LabInputError(msg("msg.lab.qa.stride_too_big", stride=stride, room=room, max_length=max_length,
                                n_question=n_question, n_special=n_special))
    return room


def make_windows(
    tokenizer: PreTrainedTokenizerBase,
    question: str,
    context: str,
    max_length: int = QA_MAX_LENGTH,
    stride: int = QA_STRIDE,
) -> list[Window]:
    """Split (question, context) into overlapping windows, each no longer than ``max_length``.

    Every window holds the whole question and a slice of the context; consecutive slices share
    ``stride`` tokens, so an answer cut by one window's edge lies whole in the next. This is the
    tokenizer's own overflow mechanism (``truncation="only_second"``,
    ``return_overflowing_tokens=True``) with offsets kept to map tokens back to characters.
    Models that pad on the left (e.g. XLNet) read the context first, as in utils_qa.
    """
    question = question.lstrip()  # leading spaces only waste window room
    check_window_settings(tokenizer, question, max_length, stride)
    question_first = tokenizer.padding_side == "right"
    pair = (question, context) if question_first else (context, question)
    encoded = tokenizer(
        *pair,
        truncation="only_second" if question_first else "only_first",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    context_id = 1 if question_first else 0
    if context_id not in encoded.sequence_ids(0):
        raise LabInputError(msg("msg.lab.qa.unreadable_context"))
    windows = []
    for i, ids in enumerate(encoded["input_ids"]):
        mask = [s == context_id for s in encoded.sequence_ids(i)]
        type_ids = encoded["token_type_ids"][i] if "token_type_ids" in encoded else None
        cls_index = ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in ids else 0
        # A fast tokenizer's encodings hold the token strings already (one call, not one per id).
        tokens = encoded.encodings[i].tokens if encoded.encodings else tokenizer.convert_ids_to_tokens(ids)
        windows.append(
            Window(i, list(ids), type_ids and list(type_ids), list(tokens),
                   [tuple(o) for o in encoded["offset_mapping"][i]], mask, cls_index)
        )
    return windows


@dataclass(frozen=True)
class Span:
    """A candidate answer inside one window: token indices, context characters, start+end logit."""

    start_token: int
    end_token: int
    char_start: int
    char_end: int
    logit: float  # start_logits[start_token] + end_logits[end_token]


def best_spans(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    offsets: np.ndarray | list[tuple[int, int]],
    context_mask: np.ndarray | list[bool],
    max_answer_len: int = 30,
    top_k: int = 5,
) -> list[Span]:
    """The ``top_k`` spans of one window by start + end logit, best first.

    A span (i, j) is allowed when both ends are context tokens (never the question, a special
    token or padding), j >= i, and it is at most ``max_answer_len`` tokens long. Every allowed
    pair is scored (a window of 512 tokens is 262k pairs, trivial for numpy), so the best span is
    the exact argmax, not an approximation from the n best starts and ends.
    """
    start = np.asarray(start_logits, dtype=np.float64)  # (seq,)
    end = np.asarray(end_logits, dtype=np.float64)  # (seq,)
    where = np.flatnonzero(np.asarray(context_mask, dtype=bool)[:len(start)])  # the context's tokens
    m = len(where)
    i, j = where[:, None], where[None, :]
    allowed = (j >= i) & (j - i < max_answer_len)  # (m, m): span (where[a], where[b])
    scores = np.where(allowed, start[where][:, None] + end[where][None, :], -np.inf)
    k = min(top_k, int(allowed.sum()))
    if k <= 0:
        return []
    flat = scores.ravel()
    top = np.argpartition(-flat, k - 1)[:k]
    top = top[np.lexsort((top, -flat[top]))]  # best first; ties: earlier span first (where is sorted)
    spans = []
    for a, b in (divmod(int(t), m) for t in top):
        s, e = int(where[a]), int(where[b])
        spans.append(Span(s, e, int(offsets[s][0]), int(offsets[e][1]), float(flat[a * m + b])))
    return spans


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities from logits, stable for large values (subtract the max first)."""
    x = np.asarray(logits, dtype=np.float64)
    x = np.exp(x - x.max())
    return x / x.sum()


@dataclass(frozen=True)
class Candidate:
    """A candidate answer across windows: its text, where it is, and how sure the model is."""

    text: str
    char_start: int
    char_end: int
    score: float  # p_start * p_end in its window (see select_answer)
    logit: float  # start + end logit: what candidates are ranked by
    window: int
    start_token: int
    end_token: int


@dataclass(frozen=True)
class QAResult:
    answer: str  # "" when the no-answer score wins
    char_start: int | None  # the answer's characters in the context; None for no answer
    char_end: int | None
    score: float  # the best span's p_start * p_end in its window, 0..1
    no_answer: bool
    null_score: float  # start[CLS] + end[CLS], lowest over the windows
    best_logit: float  # start + end logit of the best span
    candidates: list[Candidate]  # de-duplicated across windows, best first (the best span first)
    window: Window  # the window the best span came from
    windows: list[tuple[int, int]]  # the characters of the context each window covers
    start_probs: list[float]  # per token of ``window``
    end_probs: list[float]
    max_length: int
    stride: int
    warnings: list[str] = field(default_factory=list)

    @property
    def best(self) -> Candidate:
        return self.candidates[0]


def select_answer(
    windows: list[Window],
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    context: str,
    max_answer_len: int = 30,
    top_k: int = 5,
    no_answer_threshold: float = 0.0,
    max_length: int = 0,
    stride: int = 0,
) -> QAResult:
    """The answer across all windows, from logits of shape (n_windows, seq) (seq may include padding).

    - Each window's spans come from ``best_spans``; positions past the window's own tokens
      (padding) are ignored.
    - Candidates from all windows are ranked by start + end logit (as utils_qa does) and
      de-duplicated: overlapping windows often propose the same characters, which are kept once,
      from the window that scored them highest.
    - Scores are probabilities: a softmax over the window's start logits and, separately, over
      its end logits, each over all the window's tokens (question and [CLS] included, so [CLS]
      keeps its share); a span's score is p_start(i) * p_end(j). They compare spans within a
      window; across windows the logits decide.
    - No answer: the null score is start + end at [CLS], the lowest over the windows (the window
      least sure there is no answer, as in utils_qa). When null score − best span logit is above
      ``no_answer_threshold`` the answer is "" (the best span is still listed).
    """
    if max_answer_len < 1:
        raise LabInputError(msg("msg.lab.qa.max_answer_len"))
    if not 1 <= top_k <= MAX_TOP_K:
        raise LabInputError(msg("msg.lab.qa.top_k", max=MAX_TOP_K))
    start_logits = np.asarray(start_logits, dtype=np.float64)
    end_logits = np.asarray(end_logits, dtype=np.float64)
    ranked: list[Candidate] = []
    null_scores = []
    for w in windows:
        n = len(w.input_ids)
        start, end = start_logits[w.index, :n], end_logits[w.index, :n]
        p_start, p_end = softmax(start), softmax(end)
        null_scores.append(float(start[w.cls_index] + end[w.cls_index]))
        for span in best_spans(start, end, w.offsets, w.context_mask, max_answer_len, top_k):
            ranked.append(Candidate(context[span.char_start:span.char_end], span.char_start, span.char_end,
                                    float(p_start[span.start_token] * p_end[span.end_token]), span.logit,
                                    w.index, span.start_token, span.end_token))
    ranked.sort(key=lambda c: -c.logit)
    unique: dict[tuple[int, int], Candidate] = {}
    for c in ranked:
        unique.setdefault((c.char_start, c.char_end), c)
    candidates = list(unique.values())[:top_k]
    best = candidates[0]
    null_score = min(null_scores)
    no_answer = null_score - best.logit > no_answer_threshold
    chosen = windows[best.window]
    n = len(chosen.input_ids)
    return QAResult(
        answer="" if no_answer else best.text,
        char_start=None if no_answer else best.char_start,
        char_end=None if no_answer else best.char_end,
        score=best.score,
        no_answer=no_answer,
        null_score=null_score,
        best_logit=best.logit,
        candidates=candidates,
        window=chosen,
        windows=[w.char_span for w in windows],
        start_probs=softmax(start_logits[best.window, :n]).tolist(),
        end_probs=softmax(end_logits[best.window, :n]).tolist(),
        max_length=max_length,
        stride=stride,
    )


def fit_window(max_length: int, stride: int, limit: int) -> tuple[int, int, str | None]:
    """Lower ``max_length`` to the model's limit, shrinking the stride in proportion, and say so."""
    if max_length <= limit:
        return max_length, stride, None
    new_stride = stride * limit // max_length
    return limit, new_stride, msg("msg.lab.qa.window_lowered", limit=limit, max_length=max_length,
                                  stride=stride, new_stride=new_stride)


def _same_length_batches(windows: list[Window]) -> list[list[Window]]:
    """Windows grouped by token count (in order), at most WINDOWS_PER_FORWARD per group."""
    by_length: dict[int, list[Window]] = {}
    for w in windows:
        by_length.setdefault(len(w.input_ids), []).append(w)
    return [group[i:i + WINDOWS_PER_FORWARD] for group in by_length.values()
            for i in range(0, len(group), WINDOWS_PER_FORWARD)]


@torch.inference_mode()
def answer_question(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    question: str,
    context: str,
    max_length: int = QA_MAX_LENGTH,
    stride: int = QA_STRIDE,
    max_answer_len: int = 30,
    top_k: int = 5,
    no_answer_threshold: float = 0.0,
) -> QAResult:
    """Answer ``question`` from ``context``: windows, one forward pass per batch of them, ``select_answer``.

    Scores are probabilities within the answer's window (softmax over its start logits times
    softmax over its end logits; see ``select_answer``).
    """
    if not question or not question.strip():
        raise LabInputError(msg("msg.lab.qa.no_question"))
    if not context or not context.strip():
        raise LabInputError(msg("msg.lab.qa.no_context"))
    max_length, stride, warning = fit_window(int(max_length), int(stride), max_input_length(tokenizer, getattr(model, "config", None)))
    windows = make_windows(tokenizer, question, context, max_length, stride)
    names = [n for n in ("input_ids", "token_type_ids") if n in tokenizer.model_input_names]
    # Windows of one length run together, so nothing is padded: every window of a long context
    # but the last has max_length tokens, and padding the last one to theirs cost up to a
    # window's work (bench/inference.py). A one-paragraph context is a single short window.
    longest = max(len(w.input_ids) for w in windows)
    starts = np.zeros((len(windows), longest), dtype=np.float32)  # select_answer reads each
    ends = np.zeros_like(starts)                                   # window's own length only
    for chunk in _same_length_batches(windows):
        # All one length: no padding, so no attention mask (the model's default is all ones).
        batch = {"input_ids": torch.tensor([w.input_ids for w in chunk])}
        if "token_type_ids" in names and chunk[0].token_type_ids is not None:
            batch["token_type_ids"] = torch.tensor([w.token_type_ids for w in chunk])
        start_logits, end_logits = SpanLogits.for_model(model, tokenizer)(batch)
        rows, n = [w.index for w in chunk], len(chunk[0].input_ids)
        starts[rows, :n] = start_logits.float().numpy()
        ends[rows, :n] = end_logits.float().numpy()
    result = select_answer(windows, starts, ends, context,
                           int(max_answer_len), int(top_k), float(no_answer_threshold), max_length, stride)
    if warning:
        result.warnings.append(warning)
    return result
