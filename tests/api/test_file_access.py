"""Nothing outside the app's own served files can be read through the app."""

import httpx
import pytest

from tests.conftest import ROOT, RUNS_DIR


@pytest.mark.parametrize("path", ["/etc/passwd", str(ROOT / "app.py"), str(ROOT / "lab" / "settings.py"),
                                  str(RUNS_DIR), "../../../../etc/passwd"],
                         ids=["passwd", "app.py", "settings.py", "runs-dir", "relative-passwd"])
def test_server_files_are_not_served(app_url, path):
    for prefix in ("gradio_api/file=", "file="):
        response = httpx.get(app_url + prefix + path, timeout=10)
        assert response.status_code in (403, 404), (prefix, path, response.status_code)
        assert "root:" not in response.text and "def build_app" not in response.text


def test_another_sessions_model_folder_is_not_served(app_url):
    secret = RUNS_DIR / "someone-else" / "run-1"
    secret.mkdir(parents=True, exist_ok=True)
    (secret / "config.json").write_text('{"secret": true}')
    response = httpx.get(app_url + "gradio_api/file=" + str(secret / "config.json"), timeout=10)
    assert response.status_code in (403, 404) and "secret" not in response.text
