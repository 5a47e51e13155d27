"""Is the Hugging Face hub reachable? Decided once, quickly, then cached for the process."""

from __future__ import annotations

import logging
import threading

import httpx
from huggingface_hub import constants

from lab.i18n import msg
from lab.settings import Settings

log = logging.getLogger(__name__)


class HubStatus:
    """Answers ``online`` after at most one short probe; forced offline by settings."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self._online: bool | None = None
        self._lock = threading.Lock()
        self.reason = ""

    @property
    def online(self) -> bool:
        with self._lock:
            if self._online is None:
                self._online = self._probe()
            return self._online

    def _probe(self) -> bool:
        if self._settings.offline:
            self.reason = msg("msg.lab.hub.offline_set")
            return False
        url = f"{constants.ENDPOINT}/api/models/bert-base-uncased"
        try:
            response = httpx.head(url, timeout=self._settings.hub_timeout_s, follow_redirects=True)
        except httpx.HTTPError as exc:  # DNS failure, refused, timeout: all mean "no hub"
            self.reason = msg("msg.lab.hub.no_answer", error=type(exc).__name__)
            log.info("hub unreachable: %s", exc)
            return False
        if response.status_code >= 500:
            self.reason = msg("msg.lab.hub.status", status=response.status_code)
            return False
        return True
