"""SecretMasker: every secret value becomes ***, longest first, empty values ignored."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from mapreduce_fsm.commands import SecretMasker
from mapreduce_fsm.commands.masking import MIN_MASKED_LINE_CHARS


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


# --- every form a secret takes in output ------------------------------------------------

PEM = "-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34\n  sh0rt  \nab\n-----END KEY-----"


def test_each_line_of_a_multi_line_secret_is_masked() -> None:
    masked = SecretMasker((PEM,)).mask("line: MIIBOgIBAAJBAKj34 and sh0rt and -----END KEY-----")
    assert masked == "line: *** and *** and ***"


def test_lines_shorter_than_the_minimum_are_left_alone() -> None:
    """`ab` is a line of PEM; masking every "ab" in every output would hide too much."""
    assert SecretMasker((PEM,)).mask("about ab") == "about ab"


def test_the_secret_joined_into_one_line_is_masked() -> None:
    """Error messages join stderr lines with spaces, stripped: the whole joined text goes."""
    joined = " ".join(line.strip() for line in PEM.splitlines())
    assert SecretMasker((PEM,)).mask(f"exited with code 1: {joined}") == "exited with code 1: ***"
    spaced = PEM.replace("\n", " ")
    assert SecretMasker((PEM,)).mask(f"[{spaced}]") == "[***]"


def test_the_json_escaped_secret_is_masked() -> None:
    secret = 'pa"ss\\word\nsecond-line ünï'
    masker = SecretMasker((secret,))
    for text in (json.dumps({"v": secret}), json.dumps({"v": secret}, ensure_ascii=False)):
        assert masker.mask(text) == '{"v": "***"}'


SECRET_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="*"),
    min_size=1,
)
SECRETS = st.one_of(SECRET_TEXT, st.lists(SECRET_TEXT, min_size=2, max_size=4).map("\n".join))


def secret_forms(secret: str) -> list[str]:
    """What the property checks for: the secret and its JSON text; for a multi-line one, its
    lines and its lines joined by spaces, when at least MIN_MASKED_LINE_CHARS long."""
    forms = [secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]]
    if len(secret.splitlines()) > 1:
        lines = [line.strip() for line in secret.splitlines() if line.strip()]
        derived = [" ".join(lines), secret.replace("\n", " "), *lines]
        forms += [form for form in derived if len(form.strip()) >= MIN_MASKED_LINE_CHARS]
    return forms


@settings(max_examples=200)
@given(secret=SECRETS, before=st.text(), after=st.text(), form_index=st.integers(0, 20))
def test_no_form_of_a_secret_survives_masking(
    secret: str, before: str, after: str, form_index: int
) -> None:
    forms = secret_forms(secret)
    shown = forms[form_index % len(forms)]
    masked = SecretMasker((secret,)).mask(before + shown + after + json.dumps(secret))
    for form in forms:
        assert form not in masked
