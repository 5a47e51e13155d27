"""Reproducible recipes for the heads the project ships under ``assets/models/<task>/``.

Each recipe is one command that trains on the data in ``../shared/data`` (``--data-dir`` to
point elsewhere), checkpoints every few minutes and resumes with ``--resume``; ``export``
turns the result into the small delta the app loads over the embedded encoder.

    nice -n 19 python -m training.recipes.sentiment --output runs/recipe-sentiment
    nice -n 19 python -m training.recipes.mlm --output runs/recipe-mlm
"""
