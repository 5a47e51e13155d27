"""The Lessons tab's data: every language has the same steps, each opening a real tab with real
inputs, and each self-check has one right answer and an explanation per choice."""

import pytest

from lab import lessons
from lab.errors import LabInputError

LECTURE = ["why-transfer", "pretrain-finetune", "tokenizer", "mlm-bidirectional", "three-ways", "hyperparameters",
           "imbalance", "qa-spans", "crosslingual", "crosslingual-transfer"]


@pytest.mark.parametrize("language", list(lessons.LANGUAGES))
def test_every_language_walks_the_whole_lecture(language):
    steps = lessons.steps(language)
    assert [s.id for s in steps] == LECTURE
    english = {s.id: s for s in lessons.steps("en")}
    for step in steps:
        assert step.title and len(step.body) > 80 and step.label
        assert (step.tab, sorted(step.inputs)) == (english[step.id].tab, sorted(english[step.id].inputs))
        assert len(step.check.choices) == len(english[step.id].check.choices) >= 3
        assert step.check.answer == english[step.id].check.answer  # the same question in every language
    if language != "en":  # written in the language, not copied
        assert sum(s.body != english[s.id].body for s in steps) == len(steps)


def test_the_worked_examples_are_what_the_app_answers():
    steps = {s.id: s for s in lessons.steps("en")}
    assert steps["mlm-bidirectional"].inputs == {"fm-text": "She [MASK] the book from her brother."}
    assert "received" in steps["mlm-bidirectional"].body  # tests/unit/test_explainers.py checks the model
    assert steps["qa-spans"].tab == "question-answering" and set(steps["qa-spans"].inputs) == {"qa-question",
                                                                                               "qa-context"}


@pytest.mark.parametrize("language", list(lessons.LANGUAGES))
def test_the_learning_curves_lesson_opens_the_transfer_tab_on_a_sample_it_offers(language):
    from lab.settings import Settings
    from training.data import catalog

    step = {s.id: s for s in lessons.steps(language)}["why-transfer"]
    samples = {str(c.title) for c in catalog.catalog(Settings(offline=True), False) if c.task == "classification"}
    assert step.tab == "transfer" and step.inputs == {"tr-data": "Topics (the lab's own sample)"}
    assert step.inputs["tr-data"] in samples  # the value the Transfer tab's data dropdown takes


@pytest.mark.parametrize("language", list(lessons.LANGUAGES))
def test_the_crosslingual_lesson_opens_the_comparison_and_names_its_buttons_as_the_page_does(language):
    from lab import i18n
    from training.transfer import crosslingual

    step = {s.id: s for s in lessons.steps(language)}["crosslingual-transfer"]
    assert step.tab == "transfer" and step.inputs == {"tr-cross-language": "en"}
    assert step.inputs["tr-cross-language"] in crosslingual.LANGUAGES  # a value the dropdown offers
    for button in ("transfer.xl.run", "transfer.xl.map_run"):  # "click **Compare the encoders**"
        bold = [part for part in step.body.split("**")[1::2] if i18n.text(button, language).startswith(part)]
        assert bold, f"the lesson does not name the {button} button as the page labels it"


def test_revealing_an_answer_explains_it():
    step = lessons.steps("en")[0]
    right, text = lessons.reveal("en", step.id, step.check.answer)
    assert right and text.startswith("✅") and step.check.explanations[step.check.answer] in text
    wrong = (step.check.answer + 1) % len(step.check.choices)
    right, text = lessons.reveal("en", step.id, wrong)
    assert not right and text.startswith("❌") and step.check.choices[step.check.answer] in text
    with pytest.raises(LabInputError, match="Pick an answer"):
        lessons.reveal("en", step.id, None)
    with pytest.raises(LabInputError, match="No step"):
        lessons.step("en", "nope")
    with pytest.raises(LabInputError, match="No lessons"):
        lessons.steps("fr")
