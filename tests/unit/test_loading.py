import pytest
import torch
from safetensors.torch import save_file
from transformers import AutoConfig, BertForSequenceClassification

from lab.context import Lab
from lab.errors import LabInputError, ModelLoadError, NoHeadAvailable
from lab.loading import ModelCache
from lab.registry import ModelRef, embedded_encoder_dir, embedded_ref
from lab.settings import Settings


def test_embedded_tokenizer_and_encoder_load_offline():
    cache = ModelCache(Settings(offline=True))
    tok = cache.get(embedded_ref("tokenizer"))
    assert tok.model is None and tok.tokenizer.tokenize("playing") == ["playing"]
    base = cache.get(embedded_ref("finetune-base"))
    assert base.model.config.hidden_size == 384 and base.model.config.num_hidden_layers == 6
    assert base.model.config._attn_implementation == "lab_sdpa"  # SDPA, with weights on demand


def test_embedded_without_a_head_says_so(tmp_path):
    cache = ModelCache(Settings(offline=True, assets_dir=tmp_path))
    with pytest.raises(NoHeadAvailable, match="No trained fill-mask head"):
        cache.get(embedded_ref("fill-mask"))
    assert Lab(Settings(offline=True, assets_dir=tmp_path)).head_missing("classification")


def _served_head(tmp_path, cpu_bf16: bool):
    """The shipped classification head as served in fp32; also checks the ``auto`` precision's answer
    for this CPU kind: bf16 with native bf16 (that same model rounded once), fp32 without."""
    fp32 = ModelCache(Settings(offline=True, assets_dir=tmp_path)).get(embedded_ref("classification")).model
    auto = ModelCache(Settings(offline=True, assets_dir=tmp_path, inference_precision="auto")).get(
        embedded_ref("classification")).model
    assert next(auto.parameters()).dtype == (torch.bfloat16 if cpu_bf16 else torch.float32)
    served = fp32.state_dict()
    for name, value in auto.state_dict().items():
        assert torch.equal(value, served[name].to(value.dtype)), name
    return fp32


@pytest.mark.slow  # loads the real embedded encoder and a shipped head: seconds
def test_embedded_encoder_plus_shipped_delta_loads_as_one_model(tmp_path, cpu_bf16):
    """A head shipped as config + delta is laid over the wheel's encoder."""
    head_dir = tmp_path / "models" / "classification"
    head_dir.mkdir(parents=True)
    config = AutoConfig.from_pretrained(embedded_encoder_dir())
    config.architectures = ["BertForSequenceClassification"]
    config.num_labels = 2
    config.id2label = {0: "negative", 1: "positive"}
    config.label2id = {"negative": 0, "positive": 1}
    config.save_pretrained(head_dir)
    torch.manual_seed(0)
    weight = torch.randn(2, 384)
    save_file({"classifier.weight": weight.half(), "classifier.bias": torch.zeros(2),
               "bert.pooler.dense.bias": torch.ones(384)}, head_dir / "delta.safetensors")
    model = _served_head(tmp_path, cpu_bf16)
    assert isinstance(model, BertForSequenceClassification)
    assert torch.allclose(model.classifier.weight, weight.half().float())
    assert torch.equal(model.bert.pooler.dense.bias, torch.ones(384))
    assert model.config.id2label[1] == "positive"


def test_incomplete_delta_is_refused(tmp_path):
    head_dir = tmp_path / "models" / "classification"
    head_dir.mkdir(parents=True)
    config = AutoConfig.from_pretrained(embedded_encoder_dir())
    config.architectures = ["BertForSequenceClassification"]
    config.save_pretrained(head_dir)
    save_file({"classifier.bias": torch.zeros(2)}, head_dir / "delta.safetensors")  # no weight
    with pytest.raises(ModelLoadError, match="does not fit"):
        ModelCache(Settings(offline=True, assets_dir=tmp_path)).get(embedded_ref("classification"))


def test_local_model_loads_and_cache_is_bounded(tiny_mlm_dir, tiny_cls_dir):
    cache = ModelCache(Settings(offline=True, max_loaded_models=2))
    ref = ModelRef("fill-mask", "local", str(tiny_mlm_dir), "tiny")
    first = cache.get(ref)
    assert cache.get(ref) is first  # cached
    tokenizer = cache.get(embedded_ref("tokenizer"))
    cache.get(embedded_ref("finetune-base"))
    assert first in cache.loaded()  # a tokenizer alone takes no model's place: two models fit
    cache.get(ModelRef("classification", "local", str(tiny_cls_dir), "tiny-cls"))
    loaded = cache.loaded()
    assert len(loaded) == 3 and first not in loaded and tokenizer in loaded  # the least recent model dropped


def test_pickle_only_directory_is_refused(tmp_path, tiny_mlm_dir):
    """safetensors only: a directory with just pytorch_model.bin must not load."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    model = AutoModelForMaskedLM.from_pretrained(tiny_mlm_dir)
    pickle_dir = tmp_path / "pickled"
    pickle_dir.mkdir()
    model.config.save_pretrained(pickle_dir)
    torch.save(model.state_dict(), pickle_dir / "pytorch_model.bin")  # pickle weights only
    AutoTokenizer.from_pretrained(tiny_mlm_dir).save_pretrained(pickle_dir)
    assert not list(pickle_dir.glob("*.safetensors"))
    with pytest.raises(ModelLoadError, match="could not be loaded"):
        ModelCache(Settings(offline=True)).get(ModelRef("fill-mask", "local", str(pickle_dir), "pickled"))


def test_hub_failure_falls_back_to_embedded_with_notice(monkeypatch):
    """When a hub load fails (no network), the embedded model answers and says so."""
    import lab.loading as loading

    def unreachable(task, source):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(loading, "_load_pretrained", unreachable)
    loaded = ModelCache(Settings(offline=True)).get(ModelRef("tokenizer", "hub", "bert-base-cased", "bert-base-cased"))
    assert loaded.ref.kind == "embedded" and "Could not load 'bert-base-cased'" in loaded.notice


def test_wrong_architecture_is_a_user_error(monkeypatch):
    import lab.loading as loading

    def mismatch(task, source):
        raise ValueError("Unrecognized configuration class GPT2Config for AutoModelForMaskedLM")

    monkeypatch.setattr(loading, "_load_pretrained", mismatch)
    with pytest.raises(LabInputError, match="can't be used for fill-mask"):
        ModelCache(Settings(offline=True)).get(ModelRef("fill-mask", "hub", "gpt2", "gpt2"))


def _classification_head_dir(tmp_path):
    head_dir = tmp_path / "models" / "classification"
    head_dir.mkdir(parents=True)
    config = AutoConfig.from_pretrained(embedded_encoder_dir())
    config.architectures = ["BertForSequenceClassification"]
    config.num_labels = 2
    config.save_pretrained(head_dir)
    return head_dir


@pytest.mark.slow  # loads the real embedded encoder and a shipped head: seconds
def test_low_rank_pairs_are_added_to_the_encoder_weights(tmp_path, cpu_bf16):
    """`<param>.lora_A` (r x in) and `.lora_B` (out x r) ship a LoRA update: W = W_base + B @ A."""
    from lab.loading import split_delta

    head_dir = _classification_head_dir(tmp_path)
    torch.manual_seed(0)
    name = "bert.encoder.layer.3.intermediate.dense.weight"  # (1536, 384)
    a, b = torch.randn(4, 384), torch.randn(1536, 4) * 0.01
    delta = {"classifier.weight": torch.randn(2, 384).half(), "classifier.bias": torch.zeros(2),
             f"{name}.lora_A": a.half(), f"{name}.lora_B": b.half()}
    save_file(delta, head_dir / "delta.safetensors")
    full, low_rank = split_delta(delta)
    assert set(full) == {"classifier.weight", "classifier.bias"} and set(low_rank) == {name}

    base = BertForSequenceClassification.from_pretrained(embedded_encoder_dir(), num_labels=2)
    loaded = _served_head(tmp_path, cpu_bf16)
    expected = base.state_dict()[name] + b.half().float() @ a.half().float()
    assert torch.allclose(loaded.state_dict()[name], expected, atol=1e-6)
    # the layers without a pair are the encoder's own, untouched
    other = "bert.encoder.layer.2.intermediate.dense.weight"
    assert torch.equal(loaded.state_dict()[other], base.state_dict()[other])


@pytest.mark.parametrize("bad", [
    {"bert.encoder.layer.0.attention.self.query.weight.lora_A": torch.zeros(4, 384)},  # B missing
    {"bert.encoder.layer.0.attention.self.query.weight.lora_A": torch.zeros(4, 384),
     "bert.encoder.layer.0.attention.self.query.weight.lora_B": torch.zeros(1536, 4)},  # wrong out size
    {"bert.no.such.weight.lora_A": torch.zeros(4, 384), "bert.no.such.weight.lora_B": torch.zeros(384, 4)},
])
def test_low_rank_pairs_that_do_not_fit_are_refused(tmp_path, bad):
    head_dir = _classification_head_dir(tmp_path)
    save_file({"classifier.weight": torch.zeros(2, 384), "classifier.bias": torch.zeros(2), **bad},
              head_dir / "delta.safetensors")
    with pytest.raises(ModelLoadError, match="does not fit"):
        ModelCache(Settings(offline=True, assets_dir=tmp_path)).get(embedded_ref("classification"))


def test_inference_precision_is_a_setting_and_the_result_line_names_it(tiny_cls_dir, monkeypatch, cpu_bf16):
    from lab.precision import inference_precision
    from tabs.common import model_line

    # the default is fp32 on every CPU: a class gets the same numbers whatever machine serves it
    monkeypatch.delenv("LAB_INFERENCE_PRECISION", raising=False)
    default = ModelCache(Settings.from_env()).get(ModelRef("classification", "local", str(tiny_cls_dir), "tiny"))
    assert next(default.model.parameters()).dtype == torch.float32 and Settings().inference_precision == "fp32"
    ref = ModelRef("classification", "local", str(tiny_cls_dir), "tiny")
    fp32 = ModelCache(Settings(offline=True, inference_precision="fp32")).get(ref)
    bf16 = ModelCache(Settings(offline=True, inference_precision="bf16")).get(ref)
    assert next(fp32.model.parameters()).dtype == torch.float32 and fp32.precision == "fp32, SDPA attention"
    assert next(bf16.model.parameters()).dtype == torch.bfloat16 and bf16.precision.startswith("bf16")
    assert "· fp32, SDPA attention" in model_line(fp32, 0.012)
    # fp32 models are served with input-major linear weights (lab.weight_layout); bf16 ones as loaded
    dense = fp32.model.bert.encoder.layer[0].intermediate.dense.weight
    assert dense.stride() == (1, dense.shape[0])
    threads2 = ModelCache(Settings(offline=True, inference_precision="fp32", torch_threads=2)).get(ref)
    assert threads2.model.bert.encoder.layer[0].intermediate.dense.weight.stride() == (1, dense.shape[0])
    assert bf16.model.bert.encoder.layer[0].intermediate.dense.weight.is_contiguous()
    # auto: bf16 only where the CPU multiplies it natively
    assert inference_precision("auto") == ("bf16" if cpu_bf16 else "fp32")
    monkeypatch.setenv("LAB_INFERENCE_PRECISION", "auto")
    auto = ModelCache(Settings.from_env()).get(ref)
    assert auto.precision.startswith("bf16" if cpu_bf16 else "fp32")
    monkeypatch.setenv("LAB_INFERENCE_PRECISION", "fp8")
    with pytest.raises(ValueError, match="LAB_INFERENCE_PRECISION must be one of fp32, bf16, auto"):
        Settings.from_env()


def test_the_finetune_length_check_loads_a_tokenizer_not_a_model(tiny_cls_dir):
    lab = Lab(Settings(offline=True, model_overrides={"finetune-base": str(tiny_cls_dir)}))
    assert lab.tokenizer("finetune-base").model_max_length == 128  # the tiny model's, not the embedded 512
    assert Lab(Settings(offline=True)).tokenizer("finetune-base").model_max_length == 512
    loaded = lab.models.loaded()
    assert len(loaded) == 1 and loaded[0].model is None


@pytest.mark.slow  # loads the real embedded encoder and a shipped head: seconds
def test_int8_differences_are_added_to_the_encoder_weights(tmp_path, cpu_bf16):
    """`<param>.int8_diff` (int8) and `.int8_scale` (a scale per row) ship a matrix trained in full."""
    from lab.loading import split_int8_diffs
    from training.recipes.export import int8_difference

    head_dir = _classification_head_dir(tmp_path)
    base = BertForSequenceClassification.from_pretrained(embedded_encoder_dir(), num_labels=2)
    name = "bert.encoder.layer.4.output.dense.weight"  # (384, 1536)
    torch.manual_seed(0)
    trained = base.state_dict()[name] + 0.02 * torch.randn(384, 1536)
    values, scale = int8_difference(trained - base.state_dict()[name])
    delta = {"classifier.weight": torch.randn(2, 384).half(), "classifier.bias": torch.zeros(2),
             f"{name}.int8_diff": values, f"{name}.int8_scale": scale}
    save_file(delta, head_dir / "delta.safetensors")
    rest, diffs = split_int8_diffs(delta)
    assert set(rest) == {"classifier.weight", "classifier.bias"} and set(diffs) == {name}
    assert values.dtype == torch.int8 and scale.shape == (384, 1)

    loaded = _served_head(tmp_path, cpu_bf16)
    error = (loaded.state_dict()[name] - trained).abs().max().item()
    assert 0 < error <= scale.max().item() / 2 + 1e-6  # rounding to the nearest step of its row
    other = "bert.encoder.layer.3.output.dense.weight"
    assert torch.equal(loaded.state_dict()[other], base.state_dict()[other])


def test_an_int8_difference_that_does_not_fit_is_refused(tmp_path):
    head_dir = _classification_head_dir(tmp_path)
    name = "bert.encoder.layer.4.output.dense.weight"
    save_file({"classifier.weight": torch.zeros(2, 384), "classifier.bias": torch.zeros(2),
               f"{name}.int8_diff": torch.zeros(384, 384, dtype=torch.int8),  # wrong shape
               f"{name}.int8_scale": torch.ones(384, 1)}, head_dir / "delta.safetensors")
    with pytest.raises(ModelLoadError, match="int8 difference"):
        ModelCache(Settings(offline=True, assets_dir=tmp_path)).get(embedded_ref("classification"))


@pytest.mark.slow
def test_the_default_cache_holds_every_shipped_model_so_a_pass_through_the_tabs_loads_each_once(caplog):
    """The encoder and its four heads: a cache of four reloaded a head on every pass through the tabs."""
    import logging

    from lab.context import Lab
    from lab.registry import embedded_head_dir

    settings = Settings(offline=True)
    tasks = ["finetune-base"] + [task for task in ("fill-mask", "classification", "ner", "qa")
                                 if embedded_head_dir(task, settings) is not None]
    assert len(tasks) == 5 and settings.max_loaded_models >= len(tasks)
    lab = Lab(settings)
    with caplog.at_level(logging.INFO, logger="lab.loading"):
        for _ in range(2):  # two passes through the tabs
            for task in tasks:
                lab.model(task)
    assert sum("loaded" in r.getMessage() and "model" in r.getMessage() for r in caplog.records) == len(tasks)
