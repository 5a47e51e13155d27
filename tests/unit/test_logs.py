"""The server log: one line per model load, no transformers key-report tables for heads we check ourselves."""

import logging

import pytest

from lab import logs
from lab.loading import ModelCache
from lab.registry import embedded_encoder_dir, embedded_ref
from lab.settings import Settings
from training.engine.models import build_model


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _capture(name: str) -> _Records:
    handler = _Records()
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handler


@pytest.mark.slow
def test_loading_heads_logs_one_line_and_no_load_report(tmp_path):
    transformers_log, lab_log = _capture(logs.TRANSFORMERS_LOADER), _capture("lab.loading")
    training_log = _capture("training.engine.models")
    try:
        cache = ModelCache(Settings(offline=True))
        for task in ("fill-mask", "classification", "ner", "qa"):
            cache.get(embedded_ref(task))
        build_model(str(embedded_encoder_dir()), ["a", "b"], from_scratch=False, seed=0)
    finally:
        for name, handler in ((logs.TRANSFORMERS_LOADER, transformers_log), ("lab.loading", lab_log),
                              ("training.engine.models", training_log)):
            logging.getLogger(name).removeHandler(handler)
    assert not any("LOAD REPORT" in m or "tied weights" in m for m in transformers_log.messages)
    loads = [m for m in lab_log.messages if m.startswith("loaded ")]
    assert len(loads) == 4 and all("\n" not in m for m in loads)
    assert "loaded qa model all-MiniLM-L6-v2 (embedded)" in loads[-1] and "fp32" in loads[-1]
    assert any("new BertForSequenceClassification weights classifier.bias, classifier.weight" in m
               for m in training_log.messages)


def test_reports_outside_our_own_checks_still_reach_the_log():
    handler = _capture(logs.TRANSFORMERS_LOADER)
    logger = logging.getLogger(logs.TRANSFORMERS_LOADER)
    try:
        with logs.own_head_checks():
            logger.warning("BertModel LOAD REPORT from: somewhere")
            logger.warning("a warning that matters")
        logger.warning("BertModel LOAD REPORT from: a load nobody checks")
    finally:
        logger.removeHandler(handler)
    assert handler.messages == ["a warning that matters", "BertModel LOAD REPORT from: a load nobody checks"]


def test_a_user_error_is_one_line_in_the_log_and_a_message_in_the_ui():
    import gradio as gr
    import pytest

    from lab.errors import LabInputError
    from tabs.common import user_errors

    @user_errors
    def handler(text: str):
        raise LabInputError("The text is empty: type a sentence first.")

    records = _capture("tabs.common")
    try:
        with pytest.raises(gr.Error, match="The text is empty"):
            handler("")
        with pytest.raises(gr.Error, match="not a character"):
            handler("bad \udcff")  # refused before the handler runs
    finally:
        logging.getLogger("tabs.common").removeHandler(records)
    assert records.messages == ["refused handler: The text is empty: type a sentence first.",
                                records.messages[1]] and "lone surrogate" in records.messages[1]
    assert all("\n" not in m and "Traceback" not in m for m in records.messages)


@pytest.mark.slow
def test_the_server_and_its_training_workers_draw_no_datasets_progress_bars(monkeypatch):
    """`datasets`' "Map: 100%|████|" bars filled the server log: off in the server and, through the
    environment, in the worker processes it starts."""
    import subprocess
    import sys

    from datasets.utils.tqdm import are_progress_bars_disabled, enable_progress_bars

    monkeypatch.setenv("HF_DATASETS_DISABLE_PROGRESS_BARS", "")  # so the test's end restores what was there
    monkeypatch.delenv("HF_DATASETS_DISABLE_PROGRESS_BARS")
    enable_progress_bars()
    handlers = {name: list(logging.getLogger(name).handlers) for name in ("lab", "training", "tabs")}
    try:
        logs.configure_server()
        assert are_progress_bars_disabled()
        child = subprocess.run([sys.executable, "-c", "from datasets.utils.tqdm import are_progress_bars_disabled as d; print(d())"],
                               capture_output=True, text=True, check=True)
        assert child.stdout.strip() == "True"
    finally:
        enable_progress_bars()
        for name, kept in handlers.items():
            logging.getLogger(name).handlers = kept
            logging.getLogger(name).propagate = True
