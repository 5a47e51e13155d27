"""The layout's choices (lab.options, importable without torch) are the ones the inference code checks."""

import lab.ner
import lab.qa
import lab.saliency
from lab import options


def test_ner_choices_match_the_grouping_code():
    assert options.NER_STRATEGIES == lab.ner.STRATEGIES
    assert options.NER_IGNORE == lab.ner.IGNORE
    for label in ("B-PER", "I-LOC", "B-MISC", "O", "U-ORG"):
        assert options.entity_type(label) == lab.ner.entity_type(label)


def test_qa_and_saliency_choices_match_the_checks():
    assert options.QA_MAX_TOP_K == lab.qa.MAX_TOP_K
    assert lab.saliency.METHODS == options.SALIENCY_METHODS
    assert {options.INTEGRATED_GRADIENTS, options.GRADIENT_X_INPUT} == set(lab.saliency.METHODS)
