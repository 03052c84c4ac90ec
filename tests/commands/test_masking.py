"""SecretMasker: every secret value becomes ***, longest first, empty values ignored."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mapreduce_fsm.commands import SecretMasker


def test_masks_every_occurrence() -> None:
    assert SecretMasker(("tok",)).mask("tok a tok") == "*** a ***"


def test_longer_secret_wins_over_its_prefix() -> None:
    assert SecretMasker(("abc", "abcdef")).mask("x abcdef y abc") == "x *** y ***"


def test_empty_values_are_ignored() -> None:
    assert SecretMasker(("", "s")).mask("a s b") == "a *** b"
    assert SecretMasker(("",)).mask("unchanged") == "unchanged"
    assert SecretMasker(()).mask("unchanged") == "unchanged"


def test_regex_characters_in_secrets_are_literal() -> None:
    assert SecretMasker(("a.b*",)).mask("axb a.b*") == "axb ***"


NO_STAR = st.text(alphabet=st.characters(blacklist_characters="*"))


@given(secret=NO_STAR.filter(bool), other=NO_STAR, before=NO_STAR, after=NO_STAR)
def test_no_secret_survives_masking(secret: str, other: str, before: str, after: str) -> None:
    masked = SecretMasker((secret, other)).mask(before + secret + after + other)
    assert secret not in masked
    assert not other or other not in masked


def test_mask_value_masks_strings_anywhere_in_a_structure() -> None:
    masker = SecretMasker(("hunter2",))
    value = {"out": ["pw hunter2", 3, None, {"hunter2": ("a hunter2",)}], "n": 1.5}
    assert masker.mask_value(value) == {"out": ["pw ***", 3, None, {"***": ["a ***"]}], "n": 1.5}
    assert SecretMasker(()).mask_value(value) is value  # nothing to mask: no copy
