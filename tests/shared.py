"""Real data sets from ../shared/data, beside the checkout: CI always has them, a clean clone may not."""

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data. Without it the test skips with the reason, except in CI
    (``CI`` set), where a missing folder is a failure: CI is where these tests must run."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        reason = f"needs the shared data set {path} (../shared/data beside the checkout)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path
