"""People search's rules: the fuzzy tier's chunks of words, the ranges of words and
usernames a needle starts, one word or several, the folding both databases agree on, and
the fuzzy candidate words SQLite's indexes give."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, delete, insert, select

from profilestore.domains.profiles.folding import fold
from profilestore.domains.profiles.search import (
    chunks,
    following,
    is_one_word,
    similarity,
    word_range,
)
from profilestore.domains.profiles.search_models import SearchWord
from profilestore.domains.profiles.search_sql import SIMILARITY_THRESHOLD, sqlite_candidates
from profilestore.migrations.versions import profiles_0010_sqlite_word_trigrams as word_trigrams

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


@pytest.fixture(scope="module")
def word_store() -> Iterator[Engine]:
    """An in-memory SQLite with the search words and their FTS5 trigram index, as the
    migrations make them."""
    engine = create_engine("sqlite://")
    SearchWord.__table__.create(engine)
    with engine.begin() as conn:
        for statement in word_trigrams.CREATE:
            conn.exec_driver_sql(statement)
    yield engine
    engine.dispose()


short_words = st.text(alphabet="abcdé1", min_size=2, max_size=6)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    words=st.lists(short_words, min_size=1, max_size=30, unique=True),
    needle=st.lists(st.text(alphabet="abcd1", min_size=1, max_size=7), min_size=1, max_size=2)
    .map(" ".join)
    .filter(lambda needle: len(needle) >= 3),
)
def test_sqlite_candidate_words_hold_every_similar_enough_word(
    word_store: Engine, words: list[str], needle: str
) -> None:
    """The fuzzy tier's candidates on SQLite (FTS5 trigrams, prefixes, short words) miss no
    word at least as similar as the threshold."""
    with word_store.begin() as conn:
        conn.execute(delete(SearchWord))
        conn.execute(insert(SearchWord), [{"word": word} for word in words])
        found = set(
            conn.execute(select(SearchWord.word).where(sqlite_candidates(needle))).scalars()
        )
    similar = {word for word in words if similarity(word, needle) >= SIMILARITY_THRESHOLD}
    assert similar <= found
