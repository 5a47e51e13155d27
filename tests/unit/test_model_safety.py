"""Model ids a user types, and model folders that must never load, below the UI.

The API tests run the app offline, where dropdowns refuse typed values before any handler runs;
these call the registry and the loader the way the app does online (``hub_online=True``), with
tiny models built here. Nothing reaches the network: hub listings are replaced by fakes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
import torch
from huggingface_hub.errors import RepositoryNotFoundError

import lab.loading as loading
from lab import registry
from lab.errors import LabInputError, ModelLoadError
from lab.loading import ModelCache
from lab.registry import ModelRef
from lab.settings import Settings
from tests.tiny import save_tiny

ONLINE = dict(settings=Settings(), hub_online=True)


# ------------------------------------------------------------------ typed ids (registry)

@pytest.mark.parametrize("typed", [
    pytest.param("../models", id="dot-dot"),
    pytest.param("a/../../etc/passwd", id="dot-dot-inside"),
    pytest.param("..", id="bare-dot-dot"),
    pytest.param("/etc/passwd", id="absolute-path"),
    pytest.param("~/.cache/huggingface", id="home-path"),
    pytest.param("C:\\models\\bert", id="windows-path"),
    pytest.param("./bert", id="dot-slash"),
    pytest.param("owner/name/extra", id="three-parts"),
    pytest.param("https://huggingface.co/bert-base-uncased", id="url"),
    pytest.param("file:///etc/passwd", id="file-url"),
    pytest.param("bert base uncased", id="spaces"),
    pytest.param("bert\x00base", id="nul"),
    pytest.param("x" * 300, id="300-chars"),
])
def test_typed_id_that_is_not_a_hub_id_is_refused(typed):
    with pytest.raises(LabInputError, match=r"is not a model id\. Use a Hugging Face hub id such as"):
        registry.validate_hub_id(typed)
    with pytest.raises(LabInputError):
        registry.resolve("fill-mask", typed, **ONLINE)


def test_relative_path_that_looks_like_a_hub_id_is_refused(tmp_path, monkeypatch):
    """'assets/models' matches owner/name, but transformers would read it from the server's disk."""
    (tmp_path / "assets" / "models").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LabInputError, match=r"names a file or folder on the server, not a hub model"):
        registry.resolve("classification", "assets/models", **ONLINE)
    assert registry.resolve("classification", "dslim/bert-base-NER", **ONLINE).kind == "hub"


def test_local_models_are_reached_only_by_the_names_the_app_gave_them(tmp_path):
    model_dir = tmp_path / "my-model"
    model_dir.mkdir()
    local = {"my-model": str(model_dir)}
    assert registry.resolve("fill-mask", "my-model", Settings(), True, local).kind == "local"
    with pytest.raises(LabInputError, match="Local paths can't be chosen here"):
        registry.resolve("fill-mask", str(model_dir), Settings(), True, local)


def test_hub_ids_pass_and_stay_hub_ids():
    for good in ("bert-base-uncased", "dslim/bert-base-NER", "prajjwal1/bert-tiny", "a.b_c-d/e.f"):
        ref = registry.resolve("ner", good, **ONLINE)
        assert (ref.kind, ref.id) == ("hub", good)


# ------------------------------------------------------------------ model folders (loader)

@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("safety")


@pytest.fixture(scope="module")
def ner_dir(model_dirs) -> Path:
    return save_tiny(model_dirs / "tiny-ner", "BertForTokenClassification",
                     id2label={0: "O", 1: "B-PER", 2: "I-PER"}, label2id={"O": 0, "B-PER": 1, "I-PER": 2})


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _local(task: str, directory: Path) -> ModelRef:
    return ModelRef(task, "local", str(directory), directory.name)


def _pickle_only(src: Path, dst: Path) -> Path:
    """The same model with its weights as pytorch_model.bin (a pickle) and no safetensors."""
    from transformers import BertForTokenClassification

    model = BertForTokenClassification.from_pretrained(src)
    _copy(src, dst)
    (dst / "model.safetensors").unlink()
    torch.save(model.state_dict(), dst / "pytorch_model.bin")
    return dst


def test_a_fitting_model_loads(ner_dir):
    loaded = ModelCache(Settings(offline=True)).get(_local("ner", ner_dir))
    assert type(loaded.model).__name__ == "BertForTokenClassification"


def test_pickle_only_weights_are_refused_never_unpickled(ner_dir, tmp_path, monkeypatch):
    pickled = _pickle_only(ner_dir, tmp_path / "pickled")
    opened = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: opened.append(a) or {})
    with pytest.raises(ModelLoadError, match=r"pickled could not be loaded: its weights are only pickle files "
                                             r"\(pytorch_model\.bin\).*safetensors weights only"):
        ModelCache(Settings(offline=True)).get(_local("ner", pickled))
    assert opened == []


def test_pickle_only_hub_repo_is_refused_not_replaced(ner_dir, tmp_path, monkeypatch):
    """Online, a hub repo with only pytorch_model.bin is refused with the reason (no silent fallback)."""
    pickled = _pickle_only(ner_dir, tmp_path / "pickled-hub")
    monkeypatch.setattr(loading, "list_repo_files", lambda repo_id: ["config.json", "pytorch_model.bin",
                                                                     "tokenizer.json", "vocab.txt"])
    monkeypatch.setattr(loading, "cached_file", lambda source, name, **kw: str(pickled / name))
    ref = ModelRef("ner", "hub", "someone/pickled-ner", "someone/pickled-ner")
    with pytest.raises(ModelLoadError, match=r"someone/pickled-ner could not be loaded: .*pickle files"):
        ModelCache(Settings(offline=True)).get(ref)


@pytest.mark.parametrize("task,expected", [
    pytest.param("fill-mask", r"tiny-ner can't be used for fill-mask: it is a BertForTokenClassification with no "
                 r"trained fill-mask head \(cls\.predictions.*would start random.*e\.g\. bert-base-uncased",
                 id="ner-model-as-fill-mask"),
    pytest.param("qa", r"can't be used for question answering: it is a BertForTokenClassification.*qa_outputs",
                 id="ner-model-as-qa"),
    # Same "classifier" layer name, so only the pooler is missing: still a head that was never trained.
    pytest.param("classification", r"can't be used for classification: it is a BertForTokenClassification"
                 r".*bert\.pooler", id="ner-model-as-classification"),
])
def test_architecture_that_does_not_fit_the_task_is_refused(ner_dir, task, expected):
    with pytest.raises(LabInputError, match=expected):
        ModelCache(Settings(offline=True)).get(_local(task, ner_dir))


def test_encoder_tasks_take_any_architecture(ner_dir):
    """The fine-tuning base and the tokenizer need no head: any BERT checkpoint will do."""
    cache = ModelCache(Settings(offline=True))
    assert cache.get(_local("finetune-base", ner_dir)).model.config.hidden_size == 32
    assert cache.get(_local("tokenizer", ner_dir)).model is None


def _with_auto_map(src: Path, dst: Path, config_file: str = "config.json", model_type: str | None = None) -> Path:
    """A copy whose config asks for custom code that, if ever imported, leaves a mark and exits."""
    _copy(src, dst)
    config = json.loads((dst / config_file).read_text())
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForTokenClassification": "evil.EvilModel",
                          "AutoTokenizer": ["evil.EvilTokenizer", None]}
    if model_type:
        config["model_type"] = model_type
    (dst / config_file).write_text(json.dumps(config))
    (dst / "evil.py").write_text(f"open({str(dst / 'EXECUTED')!r}, 'w').write('x')\nraise SystemExit(1)\n")
    return dst


@pytest.mark.parametrize("config_file,model_type", [
    pytest.param("config.json", None, id="known-model-type"),  # transformers alone would ignore auto_map
    pytest.param("config.json", "evil-bert", id="custom-model-type"),
    pytest.param("tokenizer_config.json", None, id="custom-tokenizer"),
])
def test_remote_code_is_refused_and_never_executed(ner_dir, tmp_path, config_file, model_type):
    custom = _with_auto_map(ner_dir, tmp_path / "custom", config_file, model_type)
    for task in ("ner", "tokenizer"):
        with pytest.raises(LabInputError, match=rf"custom needs its own Python code to load \('auto_map' in its "
                                                rf"{config_file}\)\. This app never runs code from a model"):
            ModelCache(Settings(offline=True)).get(_local(task, custom))
    assert not (custom / "EXECUTED").exists()


def test_remote_code_on_the_hub_is_refused(ner_dir, tmp_path, monkeypatch):
    custom = _with_auto_map(ner_dir, tmp_path / "custom-hub")
    monkeypatch.setattr(loading, "list_repo_files", lambda repo_id: sorted(p.name for p in custom.iterdir()))
    monkeypatch.setattr(loading, "cached_file", lambda source, name, **kw: str(custom / name))
    with pytest.raises(LabInputError, match=r"someone/custom needs its own Python code"):
        ModelCache(Settings(offline=True)).get(ModelRef("ner", "hub", "someone/custom", "someone/custom"))
    assert not (custom / "EXECUTED").exists()


def test_unknown_hub_id_is_a_clear_user_error(monkeypatch):
    def not_found(repo_id):
        request = httpx.Request("GET", f"https://huggingface.co/api/models/{repo_id}")
        raise RepositoryNotFoundError("404 Client Error: Repository Not Found",
                                      response=httpx.Response(404, request=request))

    monkeypatch.setattr(loading, "list_repo_files", not_found)
    ref = ModelRef("ner", "hub", "nobody/no-such-model", "nobody/no-such-model")
    with pytest.raises(LabInputError, match=r"There is no model 'nobody/no-such-model' on the Hugging Face hub "
                                            r"\(or it is private or gated\)\. Check the spelling"):
        ModelCache(Settings(offline=True)).get(ref)


def test_unreachable_hub_without_a_head_to_fall_back_on_says_both(monkeypatch, tmp_path):
    """Offline fallback for a task the embedded encoder can't do: the message keeps the hub's reason."""
    def unreachable(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(loading, "list_repo_files", unreachable)
    monkeypatch.setattr(loading, "_load_pretrained", unreachable)
    ref = ModelRef("ner", "hub", "dslim/bert-base-NER", "dslim/bert-base-NER")
    with pytest.raises(ModelLoadError, match=r"Could not load 'dslim/bert-base-NER' from the hub \(We couldn't "
                                             r"connect.*no trained ner head to answer instead"):
        ModelCache(Settings(offline=True, assets_dir=tmp_path)).get(ref)
