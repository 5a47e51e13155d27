"""The lab as the tabs see it: settings, hub status and the model cache, built once per app."""

from __future__ import annotations

from lab import registry
from lab.hub import HubStatus
from lab.loading import LoadedModel, ModelCache
from lab.registry import ModelRef
from lab.settings import Settings


class Lab:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings.from_env()
        self.hub = HubStatus(self.settings)
        self.models = ModelCache(self.settings)
        # Host-configured local model directories, by dropdown name.
        self.host_models = registry.local_models_from_settings(self.settings)

    def _local(self, session_models: dict[str, str] | None) -> dict[str, str]:
        return {**self.host_models, **(session_models or {})}

    def resolve(self, task: str, choice: str | None, session_models: dict[str, str] | None = None) -> ModelRef:
        return registry.resolve(task, choice, self.settings, self.hub.online, self._local(session_models))

    def model(self, task: str, choice: str | None = None, session_models: dict[str, str] | None = None) -> LoadedModel:
        """The loaded model for a task and a user's choice (loaded on first use, then cached)."""
        return self.models.get(self.resolve(task, choice, session_models))

    def choices(self, task: str, session_models: dict[str, str] | None = None) -> list[str]:
        return registry.choices(task, self.settings, self.hub.online, session_models)

    def default_choice(self, task: str) -> str:
        return self.choices(task)[0]

    def offline_notice(self) -> str | None:
        """The banner shown while the app runs on the embedded fallback."""
        if self.hub.online:
            return None
        return (
            f"Running offline on the embedded {registry.EMBEDDED_NAME} "
            f"({self.hub.reason or 'the hub is unreachable'}). Hub models are not available; "
            "tabs that need a trained head say so when the project ships none."
        )

    def head_missing(self, task: str) -> bool:
        """True when the default model for ``task`` would be the embedded encoder with no head."""
        ref = self.resolve(task, None)
        return (
            ref.kind == "embedded"
            and registry.TASKS[task].needs_head
            and registry.embedded_head_dir(task, self.settings) is None
        )
