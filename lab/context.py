"""The lab as the tabs see it: settings, hub status and the model cache, built once per app."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from lab import registry
from lab import session as session_state
from lab.errors import LabInputError
from lab.hub import HubStatus
from lab.i18n import msg
from lab.lazy import lazy_import
from lab.registry import ModelRef
from lab.settings import Settings

if TYPE_CHECKING:
    from lab.loading import LoadedModel, ModelCache

# torch and transformers: imported with the first model, not to lay out the page.
loading = lazy_import("lab.loading")


class Lab:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings()  # the host's come from the caller (app.py reads them)
        self.hub = HubStatus(self.settings)
        self._models: ModelCache | None = None
        self._models_lock = threading.Lock()
        # Host-configured local model directories, by dropdown name.
        self.host_models = registry.local_models_from_settings(self.settings)

    @property
    def models(self) -> ModelCache:
        """The model cache, created (and torch imported) when a model is first asked for."""
        with self._models_lock:
            if self._models is None:
                self._models = loading.ModelCache(self.settings)
            return self._models

    def _local(self, task: str, session: dict | None) -> dict[str, str]:
        shipped = registry.shipped_tokenizers(self.settings) if task == "tokenizer" else {}
        return {**self.host_models, **shipped, **session_state.models_for(session, task)}

    def resolve(self, task: str, choice: str | None, session: dict | None = None) -> ModelRef:
        """The model for a user's choice; ``session`` is the browser session's state (lab.session).

        Leaving the choice at the tab's default picks the session's active fine-tuned model
        for the task, if it has one.
        """
        local = self._local(task, session)
        if not choice or choice == registry.choices(task, self.settings, self.hub.online)[0]:
            active = session_state.active(session, task)
            if active in local:
                choice = active
        return registry.resolve(task, choice, self.settings, self.hub.online, local)

    def model(self, task: str, choice: str | None = None, session: dict | None = None) -> LoadedModel:
        """The loaded model for a task and a user's choice (loaded on first use, then cached)."""
        ref = self.resolve(task, choice, session)
        if ref.kind == "local" and ref.id in session_state.directories(session) and not Path(ref.id).is_dir():
            raise LabInputError(msg("msg.lab.context.model_gone", name=ref.display,
                                    minutes=f"{self.settings.session_grace_minutes:g}"))
        return self.models.get(ref)

    def num_layers(self, task: str, choice: str | None = None, session: dict | None = None,
                   local_only: bool = False) -> int | None:
        """How many encoder layers the model a user chose has (what a layer slider may offer), read
        from its config: a local or embedded model's file, else the hub's config (unless
        ``local_only``). None when it can't be known."""
        try:
            ref = self.resolve(task, choice, session)
        except LabInputError:
            return None
        directory = (registry.embedded_encoder_dir() if ref.kind == "embedded"
                     else Path(ref.id) if ref.kind == "local" else None)
        if directory is not None:
            try:
                config = json.loads((Path(directory) / "config.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            layers = config.get("num_hidden_layers")
            return layers if isinstance(layers, int) and layers > 0 else None
        if local_only or not self.hub.online:
            return None
        try:
            from transformers import AutoConfig

            return int(AutoConfig.from_pretrained(ref.id).num_hidden_layers)
        except Exception:  # an unreachable hub or a config without layers: the slider keeps its range
            return None

    def loaded_models(self, session: dict | None = None) -> list[LoadedModel]:
        """The loaded models a session may see: every shared one, and of the fine-tuned ones (which
        live under the runs folder, one subfolder per session) only the session's own."""
        runs = Path(self.settings.runs_dir).resolve()
        own = {Path(d).resolve() for d in session_state.directories(session)}

        def visible(loaded: LoadedModel) -> bool:
            if loaded.ref.kind != "local":
                return True
            where = Path(loaded.ref.id).resolve()
            return not where.is_relative_to(runs) or where in own

        return [m for m in self.models.loaded() if visible(m)]

    def forget_models_under(self, directory: Path) -> None:
        """Drop the cached models loaded from ``directory`` (a session's runs, about to be deleted)."""
        if self._models is not None:
            self._models.evict_under(directory)

    def tokenizer(self, task: str, choice: str | None = None, session: dict | None = None):
        """The tokenizer of the model a user chose for ``task``, without loading the model: the
        Fine-tune tab only needs its length limit, and the model would take a cache slot."""
        ref = self.resolve(task, choice, session)
        return self.models.get(dataclasses.replace(ref, task="tokenizer")).tokenizer

    def choices(self, task: str, session: dict | None = None) -> list[str]:
        """Dropdown choices: the registry's, then this session's fine-tuned models for the task."""
        shipped = registry.shipped_tokenizers(self.settings) if task == "tokenizer" else {}
        return registry.choices(task, self.settings, self.hub.online, {**shipped, **session_state.models_for(session, task)})

    def default_choice(self, task: str) -> str:
        return self.choices(task)[0]

    def offline_notice(self) -> str | None:
        """The banner shown while the app runs on the embedded fallback (a Message: i18n.say translates it)."""
        if self.hub.online:
            return None
        return msg("msg.lab.context.offline", name=registry.EMBEDDED_NAME,
                   reason=self.hub.reason or msg("msg.lab.context.hub_unreachable"))

    def head_missing(self, task: str) -> bool:
        """True when the default model for ``task`` would be the embedded encoder with no head."""
        ref = self.resolve(task, None)
        return (
            ref.kind == "embedded"
            and registry.TASKS[task].needs_head
            and registry.embedded_head_dir(task, self.settings) is None
        )
