"""What the tabs offer per task (choices, caps, names), importable without torch.

The page is laid out before torch and transformers are imported (lab.lazy), so the values a
layout needs live here rather than next to the inference code that checks them. The inference
modules (lab.ner, lab.qa, lab.saliency) import theirs from here.
"""

from __future__ import annotations

# NER: how sub-word tags are grouped into entities (as transformers' token-classification pipeline).
NER_STRATEGIES = ("none", "simple", "first", "average", "max")
NER_IGNORE = ("O",)  # labels that are "no entity": dropped from the result


def entity_type(label: str) -> str:
    """The type an entity is named by: "B-PER" -> "PER", "O" -> "O"."""
    return label.split("-", 1)[-1]


# QA: the most candidate spans a call may ask for.
QA_MAX_TOP_K = 20

# Classification: the saliency methods, by the value the API takes, with the name people read.
INTEGRATED_GRADIENTS = "integrated_gradients"
GRADIENT_X_INPUT = "gradient_x_input"
SALIENCY_METHODS = {INTEGRATED_GRADIENTS: "integrated gradients", GRADIENT_X_INPUT: "gradient × input"}
