"""Share a fine-tuned model on the Hugging Face hub: opt-in, only with the user's own token."""

from __future__ import annotations

from pathlib import Path

from lab.errors import LabInputError
from lab.i18n import msg
from lab.registry import validate_hub_id


def push_to_hub(model_dir: str | Path, repo_id: str, token: str, private: bool = True) -> str:
    """Upload ``model_dir`` (config, safetensors weights, tokenizer) to ``repo_id``; return its URL.

    The token is used for this call only and never stored. Nothing reaches the network unless
    a user asks for it with a token.
    """
    import httpx
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    repo_id = validate_hub_id(repo_id)
    if "/" not in repo_id:
        raise LabInputError(msg("msg.training.hub_push.repo_format"))
    if not (token or "").strip():
        raise LabInputError(msg("msg.training.hub_push.no_token"))
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise LabInputError(msg("msg.training.hub_push.no_model"))
    api = HfApi(token=token.strip())
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(folder_path=str(model_dir), repo_id=repo_id,
                          commit_message="Fine-tuned in the BERT Transfer Lab")
    except (HfHubHTTPError, OSError, httpx.HTTPError) as exc:  # a refused token, no network (httpx's
        # ConnectError is no OSError), a name taken by someone else
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise LabInputError(msg("msg.training.hub_push.refused", reason=reason)) from exc
    return f"https://huggingface.co/{repo_id}"
