import pytest

from lab import registry
from lab.errors import LabInputError
from lab.hub import HubStatus
from lab.settings import Settings


def test_every_task_has_a_default_and_alternatives():
    assert set(registry.TASKS) == {"tokenizer", "fill-mask", "classification", "ner", "qa", "nsp", "finetune-base"}
    assert registry.TASKS["fill-mask"].default_hub_id == "bert-base-uncased"
    assert registry.TASKS["ner"].default_hub_id == "dslim/bert-base-NER"
    assert registry.TASKS["qa"].auto_class == "AutoModelForQuestionAnswering"
    for spec in registry.TASKS.values():
        assert spec.alternatives and spec.default_hub_id not in spec.alternatives


def test_offline_resolves_to_embedded_and_online_to_hub():
    settings = Settings(offline=True)
    assert registry.resolve("fill-mask", None, settings, hub_online=False).kind == "embedded"
    # a hub id asked for while offline still lands on the embedded model
    assert registry.resolve("fill-mask", "bert-base-cased", settings, hub_online=False).kind == "embedded"
    ref = registry.resolve("fill-mask", None, settings, hub_online=True)
    assert (ref.kind, ref.id) == ("hub", "bert-base-uncased")
    assert registry.resolve("ner", "dslim/distilbert-NER", settings, True).id == "dslim/distilbert-NER"


def test_choices_offline_list_only_what_works():
    offline = registry.choices("classification", Settings(), hub_online=False)
    assert offline == [registry.EMBEDDED_NAME]
    online = registry.choices("classification", Settings(), hub_online=True)
    assert online[0] == "distilbert-base-uncased-finetuned-sst-2-english" and registry.EMBEDDED_NAME in online


def test_host_override_to_a_local_directory(tmp_path):
    (tmp_path / "my-model").mkdir()
    settings = Settings(model_overrides={"fill-mask": str(tmp_path / "my-model")})
    ref = registry.default_ref("fill-mask", settings, hub_online=False)
    assert ref.kind == "local" and ref.display == "my-model"
    assert registry.choices("fill-mask", settings, False)[0] == "my-model"
    local = registry.local_models_from_settings(settings)
    assert registry.resolve("fill-mask", "my-model", settings, False, local).kind == "local"


@pytest.mark.parametrize("bad", ["../etc/passwd", "/etc/passwd", "a/../../b", "a/b/c", "x" * 300, "bert base"])
def test_typed_ids_that_are_not_hub_ids_are_refused(bad):
    with pytest.raises(LabInputError):
        registry.resolve("fill-mask", bad, Settings(), hub_online=True)


def test_hub_status_offline_setting_never_probes(monkeypatch):
    import httpx

    def boom(*a, **k):
        raise AssertionError("must not touch the network")

    monkeypatch.setattr(httpx, "head", boom)
    status = HubStatus(Settings(offline=True))
    assert status.online is False and "offline" in status.reason


def test_hub_status_probe_is_quick_and_cached(monkeypatch):
    import httpx

    calls = []

    def refused(url, timeout, follow_redirects):
        calls.append(timeout)
        raise httpx.ConnectError("refused")

    monkeypatch.setattr(httpx, "head", refused)
    status = HubStatus(Settings(offline=False, hub_timeout_s=1.5))
    assert status.online is False and status.online is False
    assert calls == [1.5]  # probed once, with the short timeout
    assert "ConnectError" in status.reason


def test_settings_from_env(monkeypatch):
    monkeypatch.setenv("LAB_MODEL_FILL_MASK", "bert-base-cased")
    monkeypatch.setenv("LAB_MAX_LOADED_MODELS", "2")
    monkeypatch.delenv("LAB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    s = Settings.from_env()
    assert s.model_overrides == {"fill-mask": "bert-base-cased"} and s.max_loaded_models == 2 and s.offline
