"""What the tabs offer per task (choices, caps, names), importable without torch.

The page is laid out before torch and transformers are imported (lab.lazy), so the values a
layout needs live here rather than next to the inference code that checks them. The inference
modules (lab.ner, lab.qa, lab.saliency) import theirs from here.
"""

from __future__ import annotations

# NER: how sub-word tags are grouped into entities (as transformers' token-classification pipeline).
NER_STRATEGIES = ("none", "simple", "first", "average", "max")
NER_IGNORE = ("O",)  # labels that are "no entity": dropped from the result


def split_tag(tag: str) -> tuple[str, str]:
    """("B", "PER") for "B-PER", ("I", "PER") for "I-PER", ("O", "") for "O".

    A tag without a B-/I- prefix ("PER") continues a neighbour of its type, as an I- tag does
    (transformers' token-classification pipeline reads it so). Files are IOB2 once read
    (training/data/ner_data.py), so scoring only meets one in a model's own label set.
    """
    if tag == "O":
        return "O", ""
    if len(tag) > 2 and tag[1] == "-" and tag[0] in "BI":
        return tag[0], tag[2:]
    return "I", tag


def entity_type(label: str) -> str:
    """The type an entity is named by: "B-PER" -> "PER", "O" -> "O"."""
    return label.split("-", 1)[-1]


# QA: the most candidate spans a call may ask for.
QA_MAX_TOP_K = 20
# QA: the tab's (and the API's) windows: tokens per window, tokens neighbouring windows share.
# The QA recipe scores the shipped head with them too: its scores are what the tab gives.
QA_MAX_LENGTH, QA_STRIDE = 384, 128

# Classification: the saliency methods, by the value the API takes, with the name people read.
INTEGRATED_GRADIENTS = "integrated_gradients"
GRADIENT_X_INPUT = "gradient_x_input"
SALIENCY_METHODS = {INTEGRATED_GRADIENTS: "integrated gradients", GRADIENT_X_INPUT: "gradient × input"}
