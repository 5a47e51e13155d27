"""One settings object for a training run: the UI's defaults and the CLI's flags come from here.

Each field's ``help`` is the one-line explanation shown beside the control in the UI and as the
flag's help text in the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

STRATEGIES = {
    "full": "Train everything: all encoder layers and the new head (the usual fine-tuning).",
    "freeze_lower": "Freeze the embeddings and the lower N encoder layers; train the upper layers and the head.",
    "frozen_encoder": "Freeze the whole pretrained encoder; train only the new classification head.",
    "lora": "LoRA adapters: small low-rank matrices added to attention (query/value); the encoder stays frozen.",
    "features": "Feature extraction: encode the data once with the frozen encoder (cached), then fit only a new "
                "linear head on the vectors. Seconds instead of minutes; less accurate than fine-tuning "
                "(classification only).",
}


def _f(default, help: str, **kw):
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class TrainConfig:
    base_model: str = _f("default", "Pretrained model to start from: a registry choice or hub id "
                         "('default' = distilbert-base-uncased online, the embedded all-MiniLM-L6-v2 offline).")
    learning_rate: float = _f(5e-5, "Step size of AdamW. Fine-tuning BERT usually works between 1e-5 and 1e-4.",
                              min=1e-6, max=1e-2)
    batch_size: int = _f(16, "Sentences per training step. Larger is steadier and uses more memory.", min=1, max=256)
    epochs: float = _f(3, "Passes over the training data. Few are needed when starting from a pretrained model.",
                       min=0.01, max=50)
    max_length: int = _f(128, "Longest input in tokens; longer texts are truncated. Pick it from the length histogram.",
                         min=8, max=512)
    warmup_ratio: float = _f(0.1, "Fraction of steps during which the learning rate rises from 0 (stabilises the start).",
                             min=0.0, max=0.5)
    weight_decay: float = _f(0.01, "L2-style regularisation of the weights (AdamW's decoupled weight decay).",
                             min=0.0, max=0.3)
    seed: int = _f(42, "Random seed for the split, the new head's initialisation and the data order.",
                   min=0, max=2**32 - 1)  # numpy's range for seeds
    strategy: str = _f("full", "How much of the pretrained model to train: " + "; ".join(
        f"{k}: {v}" for k, v in STRATEGIES.items()), choices=tuple(STRATEGIES))
    freeze_layers: int = _f(4, "With freeze_lower: how many lower encoder layers stay frozen.", min=0, max=48)
    lora_r: int = _f(8, "With lora: rank of the adapter matrices (bigger = more trainable parameters).", min=1, max=256)
    class_weights: bool = _f(False, "Weigh the loss by inverse class frequency, so rare classes count as much as common ones.")
    from_scratch: bool = _f(False, "Start from random weights with the same architecture (to see what pre-training buys).")
    val_fraction: float = _f(0.2, "Share of the data held out for validation (stratified), when no validation file is given.",
                             min=0.05, max=0.5)
    test_fraction: float = _f(0.0, "Share held out as a test set, scored once at the end with the best checkpoint.",
                              min=0.0, max=0.4)
    evals_per_epoch: int = _f(2, "How often per epoch the validation set is scored (and the best checkpoint kept).",
                              min=1, max=20)
    precision: str = _f("auto", "Matmul precision: bf16 autocast where the hardware supports it (auto), or fp32.",
                        choices=("auto", "bf16", "fp32"))
    max_train_minutes: float = _f(30.0, "Stop training after this many minutes, keeping the best checkpoint so far.",
                                  min=0.1, max=24 * 60)

    def __post_init__(self):
        errors = []
        for f in fields(self):
            value, meta = getattr(self, f.name), f.metadata
            if "choices" in meta and value not in meta["choices"]:
                errors.append(f"{f.name} must be one of {', '.join(meta['choices'])} (got {value!r})")
            if "min" in meta and not (meta["min"] <= value <= meta["max"]):
                errors.append(f"{f.name} must be between {_show(meta['min'])} and {_show(meta['max'])} "
                              f"(got {_show(value)})")
        if errors:
            from lab.errors import LabInputError

            raise LabInputError("Training settings out of range: " + "; ".join(errors) + ".")


def _show(number) -> str:
    """Integers with thousands separators (a seed's range), other numbers as :g does."""
    return f"{number:,}" if isinstance(number, int) else f"{number:g}"


def help_for(name: str) -> str:
    return next(f.metadata["help"] for f in fields(TrainConfig) if f.name == name)
