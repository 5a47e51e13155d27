"""What the explainers say is true of what the app shows: their worked examples run on the shipped
models, and their numbers are the models' own."""

import pytest

from lab import fill_mask, i18n
from lab.context import Lab
from lab.settings import Settings
from tabs import finetune
from tabs.ner import explainer_text


@pytest.fixture(scope="module")
def lab():
    return Lab(Settings(offline=True))


@pytest.mark.slow  # the real shipped fill-mask head
def test_the_bidirectional_example_flips_with_the_shipped_model(lab):
    loaded = lab.model("fill-mask")
    top = {}
    for word in ("to", "from"):
        text = f"She [MASK] the book {word} her brother."
        for language in i18n.LANGUAGES:  # every language's explainer quotes the same English example
            assert text in i18n.text("fill_mask.explainer", language).replace("\n", " ")
        top[word] = fill_mask.fill_mask(loaded.model, loaded.tokenizer, text, top_k=1).masks[0].candidates[0].token
    assert top == {"to": "sent", "from": "received"}  # only the word after the blank differs
    for language in i18n.LANGUAGES:
        said = i18n.text("fill_mask.explainer", language)
        assert "*sent*" in said and "*received*" in said
    assert "*sent* first" in i18n.text("fill_mask.explainer", "en")


def test_the_ner_explainer_lists_the_types_the_model_has(lab):
    tags = lab.model("ner").model.config.id2label.values()
    types = sorted({tag.split("-", 1)[1] for tag in tags if tag != "O"})
    assert types == ["LOC", "MISC", "ORG", "PER"]  # the shipped CoNLL-2003 head
    text = explainer_text(lab)
    assert "LOC (place), MISC (anything else with a name), ORG (organisation), PER (person)." in text
    for language in i18n.LANGUAGES:  # the types line is made on the server, in the student's language
        said = explainer_text(lab, language)
        assert [kind for kind in ("LOC", "MISC", "ORG", "PER") if f"{kind} (" in said or f"{kind}（" in said] \
            == types, language


def test_vocabulary_sizes_are_said_of_the_right_models(lab):
    said = i18n.text("tok.explainer", "en").replace("\n", " ")
    assert "about 30,000 for English BERT" in said
    assert len(lab.model("tokenizer").tokenizer) == 30_522
    assert f"{len(lab.model('tokenizer', 'bert-base-chinese').tokenizer):,} for Chinese BERT" in said
    assert f"{len(lab.model('tokenizer', 'bert-base-multilingual-cased').tokenizer):,} for multilingual" in said
    # Both explainers quote the same sizes in every language, in its own digit grouping.
    sizes = [len(lab.model("tokenizer", name).tokenizer) for name in ("bert-base-chinese", "bert-base-multilingual-cased")]
    for language, separator in (("en", ","), ("id", "."), ("zh-TW", ",")):
        for key in ("tok.explainer", "tok.languages_explainer"):
            assert all(f"{size:,}".replace(",", separator) in i18n.text(key, language) for size in sizes), (language, key)


def test_the_classifier_explainer_mentions_the_pooler_and_the_approximation(lab):
    said = i18n.text("cls.explainer", "en").replace("\n", " ")
    assert "*pooler* (a dense layer and a tanh" in said
    assert "Riemann sum" in said and "exactly" not in said
    model = lab.model("classification").model
    pooler = model.bert.pooler
    assert pooler.dense.out_features == model.config.hidden_size and type(pooler.activation).__name__ == "Tanh"


def test_the_learning_rate_advice_covers_lora_and_new_heads():
    said = i18n.text("ft.explainer", "en").replace("\n", " ")
    assert "LoRA adapters and a new head on a frozen encoder" in said and "(1e-4 to 1e-3)" in said


def test_the_fine_tune_tab_names_what_training_names_in_the_same_english():
    """The tab's catalog says the names training/ defines (tasks, file kinds, metrics, ways of training)
    in every language: its English must stay theirs, word for word."""
    from training.config import STRATEGIES, help_for
    from training.tasks import registry

    english = i18n.catalog("en")
    for task, spec in registry.TASKS.items():
        assert english[spec.tab_key("task")] == spec.title and english[spec.tab_key("file_hint")] == spec.file_hint
        assert english[spec.tab_key("training_data")] == f"Training data ({spec.file_hint})"
        headline = f"Validation score: **{spec.headline}**" + (" (entity-level)" if task == "ner" else "")
        assert english[spec.tab_key("metric_note")] == headline
    assert english["ft.strategy_info"] == "; ".join(f"{k}: {v}" for k, v in STRATEGIES.items())
    # Each way of training is named by the value the API takes, then in words, in every language.
    for language in i18n.LANGUAGES:
        words = i18n.catalog(language)
        assert all(words[f"ft.strategy.{k}"].startswith((f"{k} (", f"{k}（")) for k in STRATEGIES), language
    assert set(finetune.STRATEGY_LABELS) == set(STRATEGIES)
    assert english["ft.class_weights_sms"].startswith(f"{help_for('class_weights')} Here: ")
