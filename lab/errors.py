"""Errors that carry a message meant for the user (the tabs show them as gr.Error)."""


class LabInputError(ValueError):
    """The user's input can't be used as it is; the message says what to change."""


class NoHeadAvailable(RuntimeError):
    """The model that would answer has no trained head for this task (e.g. offline, embedded encoder)."""


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message says which and why."""


class TrainingFailed(RuntimeError):
    """A training run failed for a reason other than the user's input; the message says why."""
