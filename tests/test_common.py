"""synthembed_common's one-home helpers: the first line of an error for a one-line report, and the Hub-id rule that
training configs, model cards and evaluation share (huggingface_hub's own validation)."""

from __future__ import annotations

import pytest

from synthembed_common.config import first_line
from synthembed_common.hub import is_hub_id


def test_first_line_of_an_error():
    assert first_line(ValueError("bad value\nstack detail")) == "bad value"
    assert first_line(ValueError("  \n")) == "ValueError"  # an empty message: the type, not an IndexError
    assert first_line(OSError("no such file"), typed=True) == "OSError: no such file"
    try:
        try:
            raise ValueError("the reader's own words")
        except ValueError as inner:
            raise RuntimeError("wrapper") from inner
    except RuntimeError as outer:
        assert first_line(outer) == "wrapper"
        assert first_line(outer, innermost=True) == "the reader's own words"


@pytest.mark.parametrize(
    ("name", "with_owner", "bare_allowed"),
    [
        ("intfloat/e5-mistral-7b-instruct", True, True),
        ("sentence-transformers/all-MiniLM-L6-v2", True, True),
        ("bert-base-uncased", False, True),  # a legacy model id: evaluation takes it, a dataset path does not
        ("./models/mine", False, False),
        ("~/models/mine", False, False),
        ("/abs/folder", False, False),
        ("a/b/c", False, False),
        ("org/na..me", False, False),
        ("", False, False),
        (None, False, False),
    ],
)
def test_one_hub_id_rule(name, with_owner, bare_allowed):
    assert is_hub_id(name) is with_owner
    assert is_hub_id(name, owner_required=False) is bare_allowed
