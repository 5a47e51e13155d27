"""Pushing to the hub, with HfApi replaced at the network boundary (no network in tests)."""

import pytest

from lab.errors import LabInputError
from training.runs import hub_push


class FakeApi:
    calls: list = []

    def __init__(self, token):
        self.token = token

    def create_repo(self, repo_id, private, exist_ok):
        FakeApi.calls.append(("create_repo", self.token, repo_id, private, exist_ok))

    def upload_folder(self, folder_path, repo_id, commit_message):
        FakeApi.calls.append(("upload_folder", self.token, repo_id, sorted(p.name for p in __import__("pathlib")
                                                                             .Path(folder_path).iterdir())))


@pytest.fixture
def fake_hub(monkeypatch):
    import huggingface_hub

    FakeApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    return FakeApi


def test_push_uploads_the_saved_model(fake_hub, tiny_cls_dir):
    url = hub_push.push_to_hub(tiny_cls_dir, "student/my-sentiment", " hf_token ", private=True)
    assert url == "https://huggingface.co/student/my-sentiment"
    assert fake_hub.calls[0] == ("create_repo", "hf_token", "student/my-sentiment", True, True)
    kind, token, repo, files = fake_hub.calls[1]
    assert (kind, token, repo) == ("upload_folder", "hf_token", "student/my-sentiment")
    assert "model.safetensors" in files and "config.json" in files


@pytest.mark.parametrize("repo,token,match", [
    ("student/x", "", "access token"),
    ("just-a-name", "t", "your-user-name/model-name"),
    ("../etc", "t", "not a model id"),
])
def test_push_refuses_what_it_cannot_do(fake_hub, tiny_cls_dir, repo, token, match):
    with pytest.raises(LabInputError, match=match):
        hub_push.push_to_hub(tiny_cls_dir, repo, token)
    assert fake_hub.calls == []


def test_push_without_a_model(fake_hub, tmp_path):
    with pytest.raises(LabInputError, match="train one first"):
        hub_push.push_to_hub(tmp_path, "student/x", "t")


@pytest.mark.parametrize("error", ["connect", "timeout", "offline"])
def test_no_network_is_a_message_not_a_crash(fake_hub, tiny_cls_dir, monkeypatch, error):
    import httpx
    from huggingface_hub.errors import OfflineModeIsEnabled

    raised = {"connect": httpx.ConnectError("[Errno -3] Temporary failure in name resolution"),
              "timeout": httpx.ReadTimeout(""), "offline": OfflineModeIsEnabled("offline mode is enabled")}[error]

    def create_repo(self, repo_id, private, exist_ok):
        raise raised

    monkeypatch.setattr(FakeApi, "create_repo", create_repo)
    with pytest.raises(LabInputError) as caught:
        hub_push.push_to_hub(tiny_cls_dir, "student/my-sentiment", "hf_token")
    assert caught.value.args[0].key == "msg.training.hub_push.refused"
