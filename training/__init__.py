"""Fine-tuning: data loading and checks, the accelerate loop, strategies, metrics, the CLI.

Used alike by the Fine-tune tab and by ``python -m training`` (and ``accelerate launch -m training``).
"""
