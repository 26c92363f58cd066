import string

from hypothesis import given
from hypothesis import strategies as st

from apps.apikeys import keyformat


def test_a_new_key_parses_back_to_its_parts():
    key_id, secret = keyformat.new_key_id(), keyformat.new_secret()
    presented = keyformat.assemble(key_id, secret)
    assert presented.startswith("bwk_")
    assert len(presented) == keyformat.KEY_LENGTH
    assert keyformat.parse(presented) == keyformat.ParsedKey(key_id=key_id, secret=secret)


def test_secrets_carry_at_least_160_bits():
    import math

    assert keyformat.SECRET_LENGTH * math.log2(len(keyformat.ALPHABET)) >= 160
    assert len({keyformat.new_secret() for _ in range(1000)}) == 1000


@given(
    position=st.integers(min_value=4, max_value=keyformat.KEY_LENGTH - 1),
    replacement=st.sampled_from(string.ascii_letters + string.digits),
)
def test_any_single_character_typo_is_caught_by_the_checksum(position, replacement):
    presented = keyformat.assemble("AbCdEfGh12", "s" * 32)
    if presented[position] == replacement or presented[position] == "_":
        return
    corrupted = presented[:position] + replacement + presented[position + 1 :]
    assert keyformat.parse(corrupted) is None


@given(st.text(max_size=80))
def test_arbitrary_text_never_parses_or_raises(text):
    assert keyformat.parse(text) is None or text.startswith("bwk_")
