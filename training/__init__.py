"""Fine-tuning, grouped by role: data/ (files to checked examples), engine/ (the loop), tasks/ (what
it trains), runs/ (runs as jobs), transfer/ (what fine-tuning does to an encoder), recipes/ (the
shipped heads); the CLI (``python -m training``) and a run's settings (config) beside them.

Used alike by the Fine-tune tab and by ``python -m training`` (and ``accelerate launch -m training``).
"""
