"""Text classification as plain data: label probabilities and the words behind the decision."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from lab.attention import model_inputs
from lab.predict import SequenceLogits
from lab.saliency import INTEGRATED_GRADIENTS, Saliency
from lab.saliency import explain as explain_word_weights
from lab.tokenization import max_input_length


@dataclass(frozen=True)
class ClassifyResult:
    text: str
    probabilities: dict[str, float]  # label -> probability, most likely first
    predicted: str
    multi_label: bool  # sigmoid per label (labels independent) instead of a softmax over them
    saliency: Saliency | None  # None when classify(..., explain=False)
    truncated: bool  # the text was longer than the model takes; the rest was not read

    def label(self) -> dict[str, float]:
        """The probabilities in gr.Label form."""
        return dict(self.probabilities)


def classify(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    text: str,
    method: str = INTEGRATED_GRADIENTS,
    signed: bool = True,
    steps: int = 16,
    explain: bool = True,
    max_length: int | None = None,
) -> ClassifyResult:
    """Classify ``text`` and (with ``explain``) explain the winning label with a per-word saliency.

    Without ``explain`` it is one forward pass: the UI shows the label at once and asks for
    the saliency (one backward pass, or ``steps`` of them for integrated gradients) after.

    Single-label models get a softmax over the labels; models configured for multi-label
    classification (or a single output) get an independent sigmoid per label. ``max_length`` cuts
    the text shorter than the model's limit (a run's own max length).
    """
    limit = max_input_length(tokenizer, model.config)
    encoding = tokenizer(text, truncation=True, max_length=min(max_length or limit, limit),
                         return_offsets_mapping=True, return_overflowing_tokens=False, return_tensors="pt")
    full_length = len(tokenizer(text, truncation=False)["input_ids"])
    truncated = full_length > encoding["input_ids"].shape[1]
    with torch.inference_mode():
        logits = SequenceLogits.for_model(model, tokenizer)(model_inputs(model, encoding)).float()  # (num_labels,)
    multi_label = model.config.problem_type == "multi_label_classification" or logits.numel() == 1
    probs = logits.sigmoid() if multi_label else logits.softmax(-1)
    id2label = model.config.id2label
    ranked = sorted(((id2label.get(i, f"LABEL_{i}"), p) for i, p in enumerate(probs.tolist())),
                    key=lambda item: item[1], reverse=True)
    target = int(probs.argmax())
    saliency = explain_word_weights(model, tokenizer, text, encoding, target, method, signed, steps,
                                    truncated) if explain else None
    return ClassifyResult(text, dict(ranked), ranked[0][0], multi_label, saliency, truncated)
