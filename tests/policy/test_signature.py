"""error_signature: the same failure on different items groups together; different ones do not."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mapreduce_fsm.agents.agent import describe_failure
from mapreduce_fsm.commands import StepResult
from mapreduce_fsm.policy import error_signature


def test_the_documented_shape() -> None:
    assert error_signature("cannot open /data/in/17.txt: No such file", "count", 1) == (
        'step "count": exit 1: cannot open <path>: No such file'
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("cannot open /data/a/1.json", "cannot open /srv/other/file-22.json"),
        ("wrote 17 of 20 lines", "wrote 3 of 4000 lines"),
        ("can't parse 'alpha beta'", "can't parse 'gamma'"),
        ('key "x" missing', 'key "longer key" missing'),
        ("request 550e8400-e29b-41d4-a716-446655440000 refused",
         "request 123e4567-e89b-12d3-a456-426614174000 refused"),
        ("at 2024-01-02T03:04:05Z: quota", "at 2025-12-31 23:59:59.123+01:00: quota"),
        ("object 0xdeadbeef freed", "object 0x1f freed"),
        ("commit 3f9a2c1d0e not found", "commit a1b2c3d4e5f6 not found"),
        ("out/3.count is empty", "out/412.count is empty"),
        ("see ./logs/run/7.log", "see ./logs/run/8.log"),
        ("line 1\nitem specific detail 1", "line 2\nsomething else entirely"),
        ("  \n  timed out after 30.5s", "timed out after 2s"),
    ],
)
def test_per_item_details_do_not_split_a_group(first: str, second: str) -> None:
    assert error_signature(first, "step", 2) == error_signature(second, "step", 2)


def test_what_the_message_says_still_matters() -> None:
    assert error_signature("No such file", "s", 1) != error_signature("Permission denied",
                                                                        "s", 1)
    assert "Input/output error" in error_signature("Input/output error", "s", 1)
    assert "can't parse <str>" in error_signature("can't parse 'x'", "s", 1)


def test_different_steps_or_exit_codes_are_different_groups() -> None:
    base = error_signature("boom", "build", 1)
    assert base != error_signature("boom", "test", 1)
    assert base != error_signature("boom", "build", 2)
    assert base != error_signature("boom", "build", None)
    assert error_signature("boom", "build", None) == 'step "build": no exit code: boom'


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (StepResult(step="work", status="failed", exit_code=4, error="exited with code 4: boom"),
         'step "work": exit 4: boom'),
        (StepResult(step="work", status="failed", exit_code=2),
         'step "work": exit 2: no error output'),
        (StepResult(step="it's", status="timeout", error="timed out after 2.0s"),
         'step "it\'s": no exit code: timed out after <n>s'),
        (StepResult(step="work", status="timeout"), 'step "work": no exit code: timed out'),
    ],
)
def test_an_item_error_does_not_repeat_the_step_and_exit_code(
    step: StepResult, expected: str
) -> None:
    """An item's error (describe_failure) starts with its step and exit code; said once."""
    assert error_signature(describe_failure(step), step.step, step.exit_code) == expected


def test_missing_parts_are_named_not_blank() -> None:
    assert error_signature(None, None, None) == "no step: no exit code: no error message"
    assert error_signature("", "s", 0) == 'step "s": exit 0: no error message'


def test_a_long_message_is_cut_to_a_readable_key() -> None:
    signature = error_signature("word " * 200, "s", 1)
    assert len(signature) < 200 and signature.endswith("...")


@given(numbers=st.lists(st.integers(0, 10**12), min_size=3, max_size=3),
       name=st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True))
def test_numbers_and_paths_never_leak_into_the_key(numbers: list[int], name: str) -> None:
    a, b, c = numbers
    message = f"item {a} failed: cannot read /data/{name}/{b}.csv after {c} retries"
    signature = error_signature(message, "load", 1)
    assert signature == 'step "load": exit 1: item <n> failed: cannot read <path> after <n> retries'
