"""One predictor per task: the seam every answer of the task tabs (and the API, the class's load,
the benchmarks) goes through.

A predictor wraps one loaded model for one task and says what it takes and returns:

- ``SequenceLogits``: one text's inputs -> its label logits (num_labels,); ``many`` for a set of texts
- ``TokenLogits``: one text's inputs -> logits per piece (seq, num_labels)
- ``SpanLogits``: QA windows of one length -> start and end logits (windows, seq)
- ``MaskLogits``: one text's inputs and its mask positions -> vocabulary logits (masks, vocab)

It does its own minibatching: requests for the same model that come at once share one padded
pass (lab/batching.py), with no wait when the server is idle. The pass is ``lean_bert``'s where
the model is a plain BERT encoder (the same numbers, less Python per layer) and the model's own
forward otherwise. Precision and the weights' layout are the model's, set once when it loads
(lab/loading.py). The task modules (classify, ner, qa, fill_mask) turn text into inputs and
logits into answers; they never call a model themselves.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from lab import batching, lean_bert

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


class Predictor:
    """One model for one task; ``for_model`` gives the one instance per (model, task)."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase):
        # A weak reference: the table below keys predictors by their model, and a predictor that
        # held its model would keep an evicted model alive.
        self._model, self.tokenizer = weakref.ref(model), tokenizer
        # None: this tokenizer's inputs can't share a padded pass (no pad token, or left padding)
        self.pad_id = batching.right_pad_id(tokenizer)

    @property
    def model(self) -> PreTrainedModel:
        return self._model()

    @classmethod
    def for_model(cls, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> Predictor:
        per_model = _PREDICTORS.setdefault(model, {})
        if cls not in per_model:
            per_model[cls] = cls(model, tokenizer)
        return per_model[cls]

    def _shared(self, inputs: dict, take) -> object:
        """``take(logits, i, inputs)`` of a pass over one row of ``inputs`` shared with the requests
        for this predictor that come at once (alone when the tokenizer can't pad)."""
        return batching.shared_pass(self, inputs, self.pad_id, lambda batch: lean_bert.forward(self.model, batch).logits,
                                    take)


# model -> {predictor class: predictor}; an entry goes with its model (an evicted model frees it)
_PREDICTORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class SequenceLogits(Predictor):
    def __call__(self, inputs: dict) -> torch.Tensor:
        """(num_labels,) of one text's one-row ``inputs``."""
        return self._shared(inputs, lambda logits, i, _: logits[i])

    def many(self, inputs: list[dict], batch_size: int = 32) -> list[torch.Tensor]:
        """(num_labels,) of each one-row ``inputs``: a whole set at once (a validation set to score),
        in padded passes of ``batch_size`` texts of similar length, apart from the requests' lane."""
        import numpy as np

        if self.pad_id is None:
            return [lean_bert.forward(self.model, item).logits[0] for item in inputs]
        order = np.argsort([item["input_ids"].shape[-1] for item in inputs], kind="stable")
        out: list[torch.Tensor | None] = [None] * len(inputs)
        for start in range(0, len(inputs), batch_size):
            rows = order[start:start + batch_size]
            logits = lean_bert.forward(self.model, batching.pad([inputs[i] for i in rows], self.pad_id)).logits
            for row, row_logits in zip(rows, logits, strict=True):
                out[row] = row_logits
        return out


class TokenLogits(Predictor):
    def __call__(self, inputs: dict) -> torch.Tensor:
        """(seq, num_labels) of one text's one-row ``inputs``, its own pieces only (no padding)."""
        return self._shared(inputs, lambda logits, i, item: logits[i, :item["input_ids"].shape[-1]])


class SpanLogits(Predictor):
    def __call__(self, windows: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Start and end logits (windows, seq) of ``windows``, all of one length.

        Windows of this length from other requests join the pass unpadded (a long context's
        windows but the last all have max_length tokens). Through lab/batching.py a QA answer
        also takes one of the forward slots, so it never runs beside the quick tasks' passes on a
        core they need.
        """
        import torch

        def run(items: list[dict]) -> list[tuple[torch.Tensor, torch.Tensor]]:
            joined = {k: torch.cat([item[k] for item in items]) for k in items[0]}
            out = lean_bert.forward(self.model, joined)
            sizes = [len(item["input_ids"]) for item in items]
            return list(zip(out.start_logits.split(sizes), out.end_logits.split(sizes)))

        return batching.FORWARDS.run((self, windows["input_ids"].shape[1], tuple(sorted(windows))), windows, run)


class MaskLogits(Predictor):
    def __call__(self, encoded: dict, positions: list[int]) -> torch.Tensor:
        """The vocabulary logits (len(positions), vocab) at ``positions`` of one text's inputs.

        For a BERT MLM the head's decoder (hidden x 30,522) costs about as much per token as the
        whole 6-layer MiniLM encoder, and the pipeline runs it on every token; here it runs on the
        masks alone (the same numbers, ~1.5-2x less work on a short sentence), and ``lean_bert``'s
        last layer too. Other architectures take the plain forward, alone.
        """
        import torch

        model = self.model
        head = getattr(model, "cls", None)  # BertForMaskedLM: transform + decoder
        base = getattr(model, getattr(model, "base_model_prefix", ""), None)
        if head is None or base is None or not hasattr(head, "predictions"):
            return model(**encoded).logits[0, positions]
        if self.pad_id is None:
            return head(lean_bert.hidden_states(base, encoded, rows=positions)[0])  # (n_masks, vocab)

        def run(items: list[tuple]) -> list[torch.Tensor]:
            batch = batching.pad([e for e, _ in items], self.pad_id)
            width = max(len(p) for _, p in items)
            # Each row's mask positions, repeated to one width (the repeats are dropped below).
            rows = torch.tensor([p + p[:1] * (width - len(p)) for _, p in items], device=batch["input_ids"].device)
            hidden = lean_bert.hidden_states(base, batch, rows=rows)  # (n, width, hidden)
            logits = head(torch.cat([h[:len(p)] for h, (_, p) in zip(hidden, items)]))  # one head pass for all
            return list(logits.split([len(p) for _, p in items]))

        return batching.FORWARDS.run(self, (encoded, positions), run)
