"""What the server log says: the URL, one line per model load, warnings that matter.

transformers prints a LOAD REPORT table (a dozen lines or more) whenever a checkpoint lacks some
of a model's weights, and a "checkpoint seems corrupted" notice when a tied MLM bias is absent.
Every model this app builds over an encoder has such keys by design: a head shipped as a delta
(lab/loading.py) or a fresh head for fine-tuning (training/engine/models.py), and both check the keys
themselves and refuse what does not fit. While such a load runs (``own_head_checks``), those
records are dropped; any other load, and every other warning, still reaches the log.

Nothing here imports torch or transformers: the page is served before they load (lab/lazy.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterator

# transformers' records about a checkpoint's keys come from this logger (modeling_utils).
TRANSFORMERS_LOADER = "transformers.modeling_utils"
_KEY_REPORTS = ("LOAD REPORT", "tied weights mapping")
_local = threading.local()


class _DropKeyReports(logging.Filter):
    """Drops transformers' key reports in the thread that is inside ``own_head_checks``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(_local, "depth", 0):
            return True
        message = record.getMessage()
        return not any(marker in message for marker in _KEY_REPORTS)


_FILTER = _DropKeyReports()


@contextlib.contextmanager
def own_head_checks() -> Iterator[None]:
    """Around a load whose missing and unexpected keys the caller checks itself."""
    logger = logging.getLogger(TRANSFORMERS_LOADER)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        yield
    finally:
        _local.depth -= 1


def configure_server() -> None:
    """The server's log: lab, training and tabs at INFO with a time stamp, libraries at WARNING, and no
    progress bars (transformers draws one per model load). Called once by ``python app.py``."""
    from huggingface_hub.utils import disable_progress_bars  # gradio has imported it already

    disable_progress_bars()  # transformers reads this when it is imported, after the page is served
    # datasets draws its own bars ("Map: 100%|...") and reads this when imported, here or in a
    # training worker, which inherits the server's environment. A host's own value wins.
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    if "datasets" in sys.modules and os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] == "1":
        sys.modules["datasets"].disable_progress_bars()
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    for name in ("lab", "training", "tabs"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        if not logger.handlers:
            logger.addHandler(handler)
        logger.propagate = False
