"""One settings object for a training run: the UI's defaults and the CLI's flags come from here.

Each field's ``help`` is the one-line explanation shown beside the control in the UI and as the
flag's help text in the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from lab.i18n import msg
from lab.settings import MAX_TRAIN_MINUTES

# Each text is a lab.i18n Message: English wherever it is printed (the CLI's help), and said in the
# student's language by the UI (assets/i18n/*/messages_training.json).
STRATEGIES = {
    "full": msg("msg.training.config.strategy.full"),
    "freeze_lower": msg("msg.training.config.strategy.freeze_lower"),
    "frozen_encoder": msg("msg.training.config.strategy.frozen_encoder"),
    "lora": msg("msg.training.config.strategy.lora"),
    "features": msg("msg.training.config.strategy.features"),
}


def _f(default, help: str, **kw):
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class TrainConfig:
    base_model: str = _f("default", msg("msg.training.config.help.base_model"))
    learning_rate: float = _f(5e-5, msg("msg.training.config.help.learning_rate"), min=1e-6, max=1e-2)
    batch_size: int = _f(16, msg("msg.training.config.help.batch_size"), min=1, max=256)
    epochs: float = _f(3, msg("msg.training.config.help.epochs"), min=0.01, max=50)
    max_length: int = _f(128, msg("msg.training.config.help.max_length"), min=8, max=512)
    warmup_ratio: float = _f(0.1, msg("msg.training.config.help.warmup_ratio"), min=0.0, max=0.5)
    weight_decay: float = _f(0.01, msg("msg.training.config.help.weight_decay"), min=0.0, max=0.3)
    seed: int = _f(42, msg("msg.training.config.help.seed"), min=0, max=2**32 - 1)  # numpy's range for seeds
    strategy: str = _f("full", msg("msg.training.config.help.strategy", **STRATEGIES), choices=tuple(STRATEGIES))
    freeze_layers: int = _f(4, msg("msg.training.config.help.freeze_layers"), min=0, max=48)
    lora_r: int = _f(8, msg("msg.training.config.help.lora_r"), min=1, max=256)
    class_weights: bool = _f(False, msg("msg.training.config.help.class_weights"))
    from_scratch: bool = _f(False, msg("msg.training.config.help.from_scratch"))
    val_fraction: float = _f(0.2, msg("msg.training.config.help.val_fraction"), min=0.05, max=0.5)
    test_fraction: float = _f(0.0, msg("msg.training.config.help.test_fraction"), min=0.0, max=0.4)
    evals_per_epoch: int = _f(0, msg("msg.training.config.help.evals_per_epoch"), min=0, max=20)  # 0: the model's (loop.evals_per_epoch)
    precision: str = _f("auto", msg("msg.training.config.help.precision"), choices=("auto", "bf16", "fp32"))
    max_train_minutes: float = _f(MAX_TRAIN_MINUTES, msg("msg.training.config.help.max_train_minutes"), min=0.1, max=24 * 60)

    def __post_init__(self):
        errors = []
        for f in fields(self):
            value, meta = getattr(self, f.name), f.metadata
            if "choices" in meta and value not in meta["choices"]:
                errors.append(msg("msg.training.config.not_a_choice", name=f.name, choices=", ".join(meta["choices"]),
                                  value=repr(value)))
            if "min" in meta and not (meta["min"] <= value <= meta["max"]):
                errors.append(msg("msg.training.config.not_in_range", name=f.name, min=_show(meta["min"]),
                                  max=_show(meta["max"]), value=_show(value)))
        if errors:
            from lab.errors import LabInputError

            raise LabInputError(msg("msg.training.config.out_of_range", errors=_joined(errors)))


def _joined(parts: list):
    """``parts`` joined by "; " as one Message, so each part is said in the student's language too."""
    joined = parts[-1]
    for part in reversed(parts[:-1]):
        joined = msg("msg.training.config.and", first=part, rest=joined)
    return joined


def _show(number) -> str:
    """Integers with thousands separators (a seed's range), other numbers as :g does."""
    return f"{number:,}" if isinstance(number, int) else f"{number:g}"


def help_for(name: str) -> str:
    return next(f.metadata["help"] for f in fields(TrainConfig) if f.name == name)
