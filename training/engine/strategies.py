"""How much of the pretrained model trains: full, freeze_lower, frozen_encoder, lora.

Written against ``model.base_model`` and a few well-known attribute names, so the same code
handles BERT/RoBERTa (``encoder.layer``), DistilBERT (``transformer.layer``) and friends.
"""

from __future__ import annotations

import copy

from torch import nn
from transformers import PreTrainedModel

from lab.errors import LabInputError
from lab.i18n import msg
from training.config import TrainConfig

# Attention projections LoRA adapts, by model_type. Query and value as in the LoRA paper (Hu et
# al. 2021): adapting those two already matches full fine-tuning on GLUE-sized tasks.
LORA_TARGETS = {"distilbert": ["q_lin", "v_lin"]}
DEFAULT_LORA_TARGETS = ["query", "value"]  # BERT, RoBERTa, ELECTRA, MiniLM (BERT layout)
# Every linear layer of a BERT block: attention (query/key/value and its output projection) and
# the feed-forward pair. Adapting the feed-forward layers too, not only query/value, is what
# brings LoRA close to full fine-tuning on a small encoder (Hu et al. 2021; QLoRA 2023): the
# recipes of the shipped heads adapt these.
ALL_LINEAR_TARGETS = ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"]


def count(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameters."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def encoder_layers(model: PreTrainedModel) -> nn.ModuleList:
    """The stack of transformer blocks, bottom first."""
    base = model.base_model
    for path in ("encoder.layer", "transformer.layer", "encoder.layers", "layers"):
        module = base
        for name in path.split("."):
            module = getattr(module, name, None)
            if module is None:
                break
        if isinstance(module, nn.ModuleList):
            return module
    raise LabInputError(msg("msg.training.strategies.no_encoder_layers", model=type(model).__name__))


def embeddings(model: PreTrainedModel) -> nn.Module:
    base = model.base_model
    return getattr(base, "embeddings", None) or base.get_input_embeddings()


def _freeze(module: nn.Module) -> None:
    for p in module.parameters():
        p.requires_grad_(False)


def head_module_names(model: PreTrainedModel) -> list[str]:
    """Top-level modules outside the pretrained encoder that have weights (the new head).

    ``classifier`` for BERT and RoBERTa, ``pre_classifier`` + ``classifier`` for DistilBERT.
    """
    base = model.base_model
    return [name for name, module in model.named_children()
            if module is not base and any(True for _ in module.parameters())]


def add_lora(model: PreTrainedModel, r: int, *, targets: list[str] | None = None, layers: list[int] | None = None,
             dropout: float = 0.1) -> PreTrainedModel:
    """Inject LoRA adapters (alpha = 2r) into ``model`` in place; freeze everything else but the head.

    ``targets`` are the adapted modules (default: the architecture's query/value, the Fine-tune
    tab's choice; the recipes pass ``ALL_LINEAR_TARGETS``); ``layers`` limits the adapters to those
    encoder blocks (None: all). peft's ``inject_adapter_in_model`` keeps the transformers model
    class (no PeftModel wrapper), so accelerate, the loop and ``save_pretrained`` see the same kind
    of model for every strategy.
    """
    from peft import LoraConfig, inject_adapter_in_model

    lora_config = LoraConfig(
        r=r,
        lora_alpha=2 * r,  # alpha/r = 2 keeps the adapter's scale the same whatever r is
        lora_dropout=dropout,
        target_modules=targets or LORA_TARGETS.get(model.config.model_type, DEFAULT_LORA_TARGETS),
        layers_to_transform=layers,
        layers_pattern="layer" if layers is not None else None,
    )
    for p in model.parameters():
        p.requires_grad_(False)
    inject_adapter_in_model(lora_config, model)  # only the adapters' A/B matrices train now
    # The new head starts random, so it trains in full (what PeftModel's modules_to_save does).
    for name in head_module_names(model):
        for p in getattr(model, name).parameters():
            p.requires_grad_(True)
    return model


def train_in_part(model: PreTrainedModel, lora_r: int, full: list[str]) -> PreTrainedModel:
    """The recipes' strategy: LoRA of rank ``lora_r`` on every linear layer, and the modules named
    in ``full`` (the new head, some encoder blocks) trained in full; ``lora_r`` 0: only those.

    LoRA on every layer with the top blocks in full learns more per shipped megabyte than either
    alone: the blocks ship as int8 differences, the adapters merge into the rest.
    """
    if lora_r:
        add_lora(model, lora_r, targets=ALL_LINEAR_TARGETS)
    else:
        _freeze(model)
    for name in full:
        for p in model.get_submodule(name).parameters():
            p.requires_grad_(True)
    return model


def has_lora(model: nn.Module) -> bool:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return any(isinstance(m, BaseTunerLayer) for m in model.modules())


def merged_copy(model: PreTrainedModel) -> PreTrainedModel:
    """The model to save: a copy with every LoRA adapter merged into its base weight.

    W' = W + (alpha/r) B A, then the adapter module is replaced by its plain ``nn.Linear``, so
    the saved weights have the original names and load with
    ``AutoModelForSequenceClassification.from_pretrained`` without peft. The training model is
    left as it is (training goes on after a checkpoint). Without adapters: ``model`` itself.
    """
    from peft.tuners.tuners_utils import BaseTunerLayer

    if not has_lora(model):
        return model
    merged = copy.deepcopy(model)
    for name, module in list(merged.named_modules()):
        if isinstance(module, BaseTunerLayer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            setattr(merged.get_submodule(parent_name), child, module.get_base_layer())
    for p in merged.parameters():
        p.requires_grad_(True)
    return merged


# Above this many rows, full fine-tuning leaves the word embeddings as they are. A multilingual
# vocabulary (multilingual-e5-small's 250,037 x 384: 96M of its 118M weights) is mostly rows a class's
# few thousand sentences never use, and AdamW would keep two more copies of all of them (768 MB).
LARGE_VOCABULARY = 100_000


def freeze_large_vocabulary(model: PreTrainedModel) -> bool:
    """Freeze the input word embeddings when the vocabulary is multilingual-sized; True if it did."""
    get = getattr(model, "get_input_embeddings", None)
    embedding = get() if get is not None else None
    if not isinstance(embedding, nn.Embedding) or embedding.num_embeddings <= LARGE_VOCABULARY:
        return False
    embedding.weight.requires_grad_(False)
    return True


def apply_strategy(model: PreTrainedModel, config: TrainConfig) -> tuple[int, int]:
    """Freeze parts of ``model`` (or add LoRA adapters) in place for ``config.strategy``.

    "full" trains everything but a multilingual-sized word-embedding table (``freeze_large_vocabulary``).
    Returns (trainable, total) parameters; with LoRA the total includes the adapters.
    """
    strategy = config.strategy
    if strategy == "full":
        freeze_large_vocabulary(model)
    elif strategy == "freeze_lower":
        layers = encoder_layers(model)
        _freeze(embeddings(model))
        for layer in layers[: min(config.freeze_layers, len(layers))]:
            _freeze(layer)
    elif strategy in ("frozen_encoder", "features"):  # features: the same frozen model, its head fitted at once
        _freeze(model.base_model)  # embeddings, every layer and the pretrained pooler
    elif strategy == "lora":
        add_lora(model, config.lora_r)
    else:
        raise LabInputError(msg("msg.training.strategies.unknown", strategy=repr(strategy)))
    return count(model)
