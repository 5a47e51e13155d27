"""The base model a run fine-tunes: which one (the registry, hub or embedded), built with a new head.

The loop's tasks (training.tasks.tasks: the Fine-tune tab, the CLI, the Transfer tab's runs) and the
tools that look at a model before training (parameter counts for the Fine-tune tab, memory and
time estimates, the Fine-tune tab's "before", feature extraction) build the base model here:
safetensors only, never remote code, one load at a time (``MODEL_LOAD_LOCK``). The recipes of the
shipped heads (training/recipes/) build theirs themselves, always from the wheel's embedded
encoder with safetensors, as each needs its own head options. A trained checkpoint is read back
elsewhere, with safetensors too: by the loop (its best checkpoint, for the test split), the
recipes, and lab/loading.py when a tab serves it.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import torch
from accelerate.utils import set_seed
from transformers import AutoConfig, AutoModelForSequenceClassification, PreTrainedModel

from lab import attn_impl, logs, registry
from lab.errors import LabInputError, ModelLoadError
from lab.i18n import msg
from lab.loading import MODEL_LOAD_LOCK
from lab.settings import Settings
from training.config import TrainConfig
from training.engine.strategies import apply_strategy
from training.tasks.registry import TASKS as TRAINING_TASKS

log = logging.getLogger(__name__)


def _hub_online(settings: Settings) -> bool:
    """Probed once per process (callers that know, like the app, pass ``hub_online`` instead)."""
    if settings.offline:
        return False
    return _hub_status(settings.hub_timeout_s).online


@lru_cache(maxsize=4)
def _hub_status(timeout_s: float):
    from lab.hub import HubStatus

    return HubStatus(Settings(hub_timeout_s=timeout_s))


def resolve_base_model(
    config: TrainConfig,
    settings: Settings,
    hub_online: bool | None = None,
    local_models: dict[str, str] | None = None,
) -> tuple[str, str]:
    """(source for from_pretrained, display name) of ``config.base_model`` via the registry."""
    online = _hub_online(settings) if hub_online is None else hub_online
    ref = registry.resolve("finetune-base", config.base_model, settings, online, local_models)
    if ref.kind == "embedded":
        return str(registry.embedded_encoder_dir()), ref.display
    if ref.kind == "converted":
        from lab.loading import converted_dir

        return str(converted_dir(settings)), ref.display
    return ref.id, ref.display


def label_kwargs(label_names: list[str]) -> dict:
    return {"num_labels": len(label_names), "id2label": dict(enumerate(label_names)),
            "label2id": {name: i for i, name in enumerate(label_names)}}


def build_model(source: str, label_names: list[str], from_scratch: bool, seed: int,
                auto_class=AutoModelForSequenceClassification) -> PreTrainedModel:
    """A model of ``auto_class`` on ``source``: pretrained weights + a new head, or all random.

    ``label_names`` go into the config as id2label/label2id (empty for QA, whose head has 2 outputs).
    """
    kwargs = label_kwargs(label_names) if label_names else {}
    with MODEL_LOAD_LOCK:  # never two loads at once in this process (see lab.loading)
        return _build_model(source, kwargs, from_scratch, seed, auto_class)


def _log_new_weights(model: PreTrainedModel, info: dict, source: str) -> None:
    """One line for the fresh head fine-tuning expects; a warning when the encoder itself lacks weights
    (a checkpoint of another architecture would then train from partly random weights)."""
    fresh = sorted(set(info["missing_keys"]) | {key for key, *_ in info.get("mismatched_keys", [])})
    encoder = [key for key in fresh if key.startswith(model.base_model_prefix + ".")]
    if encoder:
        log.warning("%s lacks %d encoder weights (%s...): they start random", source, len(encoder),
                    ", ".join(encoder[:3]))
    log.info("base %s: new %s weights %s", source, type(model).__name__, ", ".join(fresh) or "none")


def _build_model(source: str, kwargs: dict, from_scratch: bool, seed: int, auto_class) -> PreTrainedModel:
    set_seed(seed)  # the new head's (or, from scratch, every) initialisation
    try:
        # lab_sdpa attention: SDPA, with the attention dropout's masks from FastDropout's generator
        # while training (lab.attn_impl); a class that refuses it keeps transformers' default.
        if from_scratch:
            # Same architecture and size, random init: what pre-training buys, at the same budget.
            config = AutoConfig.from_pretrained(source, trust_remote_code=False, **kwargs)
            return attn_impl.from_pretrained(lambda **attn: auto_class.from_config(config, **attn), fallback=None)
        with logs.own_head_checks():
            model, info = attn_impl.from_pretrained(lambda **attn: auto_class.from_pretrained(
                source, use_safetensors=True, trust_remote_code=False, output_loading_info=True,
                # a checkpoint with a head for other labels gets a fresh head of the right size
                ignore_mismatched_sizes=True, **attn, **kwargs), fallback=None)
        _log_new_weights(model, info, source)
        return model
    except OSError as exc:
        raise ModelLoadError(msg("msg.training.loop.base_model_failed", source=source,
                                 reason=str(exc).splitlines()[0][:300])) from exc
    except ValueError as exc:
        what = {"AutoModelForTokenClassification": msg("msg.training.loop.what.token_classification"),
                "AutoModelForQuestionAnswering": msg("msg.training.loop.what.question_answering"),
                }.get(auto_class.__name__) or msg("msg.training.loop.what.classification")
        raise LabInputError(msg("msg.training.loop.cannot_fine_tune", source=source, what=what,
                                reason=str(exc)[:300])) from exc


def count_parameters(
    config: TrainConfig,
    num_labels: int,
    settings: Settings | None = None,
    hub_online: bool | None = None,
    local_models: dict[str, str] | None = None,
    *,
    task: str = "classification",
) -> tuple[int, int]:
    """(trainable, total) parameters for ``config``'s model and strategy, without training.

    The model is built on the meta device (shapes only, no weights read, no memory used), so
    the UI can call this whenever the strategy, freeze_layers or lora_r changes. ``task`` is
    "classification", "ner" (``num_labels`` = tags) or "qa" (``num_labels`` is ignored).
    """
    settings = settings or Settings()  # the host's come from the caller; these are the defaults
    source, _ = resolve_base_model(config, settings, hub_online, local_models)
    return _count_parameters(source, config.strategy, config.freeze_layers, config.lora_r, num_labels, task)


@lru_cache(maxsize=64)
def _count_parameters(source: str, strategy: str, freeze_layers: int, lora_r: int, num_labels: int,
                      task: str = "classification"):
    import transformers

    labels = label_kwargs([str(i) for i in range(num_labels)]) if task != "qa" else {}
    model_config = AutoConfig.from_pretrained(source, trust_remote_code=False, **labels)
    with MODEL_LOAD_LOCK, torch.device("meta"):
        model = getattr(transformers, TRAINING_TASKS[task].auto_class).from_config(model_config)
    probe = TrainConfig(strategy=strategy, freeze_layers=freeze_layers, lora_r=lora_r)
    return apply_strategy(model, probe)
