"""The suite's own scheduling: the files named to go first exist."""

from tests.conftest import LONGEST_FIRST, ROOT


def test_the_longest_files_named_first_exist():
    missing = [name for name in LONGEST_FIRST if not (ROOT / "tests" / name).is_file()]
    assert not missing and len(set(LONGEST_FIRST)) == len(LONGEST_FIRST), missing
