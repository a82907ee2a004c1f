"""People search's pure rules: the fuzzy tier's chunks of words, the ranges of words and
usernames a needle starts, one word or several, and the folding both databases agree on."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from profilestore.domains.profiles.folding import fold
from profilestore.domains.profiles.search import chunks, following, is_one_word, word_range

similarities = st.lists(st.sampled_from([0.9, 0.75, 0.5, 0.5, 0.4, 0.3]), max_size=60).map(
    lambda values: sorted(values, reverse=True)
)


@given(similarities)
def test_chunks_keep_every_word_in_order_and_never_split_a_similarity(
    values: list[float],
) -> None:
    words = [(f"w{index:02}", value) for index, value in enumerate(values)]
    made = list(chunks(words))
    assert [word for chunk, _ in made for word in chunk] == [word for word, _ in words]
    similarity = dict(words)
    for (chunk, _), (following_chunk, _) in itertools.pairwise(made):
        assert similarity[chunk[-1]] > similarity[following_chunk[0]]  # a whole group each
    for chunk, top in made:
        assert top == similarity[chunk[0]] == max(similarity[word] for word in chunk)
    sizes = [len(chunk) for chunk, _ in made]
    assert all(size >= 2**index for index, size in enumerate(sizes[:-1]))


def test_chunks_grow_so_that_few_statements_read_many_words() -> None:
    words = [(f"w{index:02}", 1 - index / 100) for index in range(50)]
    assert [len(chunk) for chunk, _ in chunks(words)] == [1, 2, 4, 8, 16, 19]


@given(st.text(min_size=1, max_size=6), st.text(max_size=8), st.text(max_size=8))
def test_a_range_holds_exactly_the_texts_starting_with_its_start(
    start: str, tail: str, other: str
) -> None:
    end = following(start)
    assert start <= start + tail < end or start[-1] == "\U0010ffff"
    if start[-1] != "\U0010ffff":
        assert (start <= other < end) == other.startswith(start)


def test_ranges_of_words_and_usernames() -> None:
    assert word_range("maria mu") == ("maria", "marib")
    assert word_range("mü") == ("mü", "mý")
    assert following("a\ud7ff") == "a\ue000"  # no surrogate: no text holds one


def test_one_word_or_several() -> None:
    assert is_one_word("muller") and is_one_word("anna1987")
    assert not is_one_word("anna lee") and not is_one_word("a.b") and not is_one_word("_x")


def test_folding_turns_letters_without_accents_into_latin_letters() -> None:
    assert fold("Łukasz Strøm Æsir ĐURO Straße Zoë") == "lukasz strom aesir duro strasse zoe"
