"""The layout's choices (lab.options, importable without torch) are what the inference code accepts."""

import pytest
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from lab import options
from lab.errors import LabInputError
from lab.qa import answer_question

CONTEXT = "The lighthouse was built in 1887 on the northern cape. Its keeper lived there until 1952."


def test_entity_type_names_the_entity():
    assert [options.entity_type(label) for label in ("B-PER", "I-LOC", "U-ORG", "O")] == ["PER", "LOC", "ORG", "O"]


def test_the_qa_top_k_cap_is_the_one_answer_question_enforces(tiny_qa_dir):
    model = AutoModelForQuestionAnswering.from_pretrained(tiny_qa_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_qa_dir)
    result = answer_question(model, tokenizer, "When was it built?", CONTEXT, top_k=options.QA_MAX_TOP_K)
    assert 1 <= len(result.candidates) <= options.QA_MAX_TOP_K
    with pytest.raises(LabInputError, match=f"between 1 and {options.QA_MAX_TOP_K}"):
        answer_question(model, tokenizer, "When was it built?", CONTEXT, top_k=options.QA_MAX_TOP_K + 1)
