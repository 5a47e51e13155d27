"""lab/settings.py: every setting read there once, and the numbers the UI and the CLI share."""

from pathlib import Path

from lab.settings import MAX_TRAIN_MINUTES, ROOT, Settings
from training.__main__ import build_parser
from training.config import TrainConfig


def test_the_longest_training_time_is_one_number_for_the_app_and_the_cli(monkeypatch):
    monkeypatch.delenv("LAB_MAX_TRAIN_MINUTES", raising=False)
    flag = next(a for a in build_parser()._actions if a.dest == "max_train_minutes")
    assert TrainConfig().max_train_minutes == Settings().max_train_minutes == MAX_TRAIN_MINUTES
    assert Settings.from_env().max_train_minutes == flag.default == MAX_TRAIN_MINUTES
    monkeypatch.setenv("LAB_MAX_TRAIN_MINUTES", "5")
    assert Settings.from_env().max_train_minutes == 5.0


def test_the_shared_data_folder_is_a_setting(monkeypatch, tmp_path):
    monkeypatch.delenv("LAB_SHARED_DATA", raising=False)
    assert Settings.from_env().shared_data_dir == ROOT.parent / "shared" / "data" == Settings().shared_data_dir
    monkeypatch.setenv("LAB_SHARED_DATA", str(tmp_path))
    assert Settings.from_env().shared_data_dir == Path(tmp_path)
