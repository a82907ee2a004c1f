"""People search against a model of its rules (both databases): random people whose
usernames and display names are made of a few letters (so that they share words, prefixes
and trigrams), some display names private, some people the caller's contacts, some blocking
the caller; random needles (a piece of a name, misspelled or not, one word or two). Every
page of the search, followed to the end, must be the model's ranking: the tiers, the
similarity of the best word a caller may see, contacts first, then the username."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profilestore.domains.profiles.folding import fold
from profilestore.domains.profiles.search import similarity
from profilestore.domains.profiles.validation import USERNAME_PATTERN
from tests.api.test_social import block_url, contact_url
from tests.support import bearer

NAME_LETTERS = "abdeo"
"""Few letters: names share words, prefixes and trigrams."""
FUZZY_WORDS, THRESHOLD = 50, 0.3
USERNAME = re.compile(USERNAME_PATTERN)
LETTER_RUN, ALNUM_RUN = re.compile(r"[^\W\d_]+"), re.compile(r"[^\W_]+")


@st.composite
def vocabulary(draw: st.DrawFn) -> list[str]:
    """A few words and their near misses (a letter changed, added or dropped, an accent):
    names made of them share words, prefixes and trigrams, so every tier and tie happens."""
    base = draw(
        st.lists(st.text(NAME_LETTERS, min_size=2, max_size=6), min_size=2, max_size=4, unique=True)
    )
    words = list(base)
    for word in base:
        for _ in range(draw(st.integers(0, 3))):
            words.append(draw(misspelling(word)))
    return words


def misspelling(word: str) -> st.SearchStrategy[str]:
    at = st.integers(0, len(word))
    letter = st.sampled_from(NAME_LETTERS + "é")
    changed = st.tuples(at, letter).map(lambda t: word[: t[0]] + t[1] + word[t[0] + 1 :])
    added = st.tuples(at, letter).map(lambda t: word[: t[0]] + t[1] + word[t[0] :])
    dropped = at.map(lambda i: word[:i] + word[i + 1 :])
    return (changed | added | dropped).filter(bool)


@dataclass
class Person:
    username: str
    display_name: str | None
    display_private: bool
    contact: bool
    blocks_caller: bool
    user_id: uuid.UUID = field(default_factory=uuid.uuid4)


@st.composite
def people_of(draw: st.DrawFn, words: list[str]) -> list[Person]:
    ascii_words = [fold(word) for word in words]
    usernames = st.builds(
        lambda first, join, second, digits: (first + join + second + digits)[:32],
        st.sampled_from(ascii_words),
        st.sampled_from(["", ".", "_"]),
        st.sampled_from(["", *ascii_words]),
        st.sampled_from(["", "1", "27"]),
    ).filter(lambda name: len(name) >= 3 and USERNAME.fullmatch(name) is not None)
    display_names = st.lists(st.sampled_from(words), min_size=1, max_size=3).map(" ".join)
    person = st.builds(
        Person,
        username=usernames,
        display_name=st.none() | display_names,
        display_private=st.integers(0, 4).map(lambda n: n == 0),
        contact=st.integers(0, 3).map(lambda n: n == 0),
        blocks_caller=st.integers(0, 6).map(lambda n: n == 0),
    )
    return draw(st.lists(person, min_size=1, max_size=10, unique_by=lambda p: p.username))


def words(text: str | None, run: re.Pattern[str]) -> set[str]:
    return {word for word in run.findall(fold(text or "")) if len(word) >= 2}


def following(text: str) -> str:
    return text[:-1] + chr(ord(text[-1]) + 1)


@dataclass
class Model:
    """The ranking the search documents, for one caller."""

    people: list[Person]
    known_words: set[str]
    """Every word the search has stored (words of deleted profiles stay)."""

    def ranking(self, q: str) -> list[str]:
        needle = fold(q.strip())
        single = ALNUM_RUN.fullmatch(needle) is not None
        longest = max(ALNUM_RUN.findall(needle) or [needle], key=len)
        low, high = longest, following(longest)
        nearest = self.nearest(needle, low, high, single) if len(needle) >= 3 else {}
        keys = []
        for person in self.people:
            if person.blocks_caller:
                continue
            key = self.key(person, needle, single, (low, high), nearest)
            if key is not None:
                keys.append((*key, 0 if person.contact else 1, person.username))
        return [key[-1] for key in sorted(keys)]

    def nearest(self, needle: str, low: str, high: str, single: bool) -> dict[str, float]:
        near = [
            (-similarity(word, needle), word)
            for word in self.known_words
            if similarity(word, needle) >= THRESHOLD and not (single and low <= word < high)
        ]
        return {word: -rank for rank, word in sorted(near)[:FUZZY_WORDS]}

    def key(
        self,
        person: Person,
        needle: str,
        single: bool,
        word_range: tuple[str, str],
        nearest: dict[str, float],
    ) -> tuple[int, float] | None:
        shown = person.display_name is not None and not person.display_private
        display = fold(person.display_name) if shown and person.display_name else None
        all_words = words(person.username, LETTER_RUN) | words(person.display_name, ALNUM_RUN)
        counted = words(person.username, LETTER_RUN) | (
            words(person.display_name, ALNUM_RUN) if shown else set()
        )
        low, high = word_range
        if person.username == needle or display == needle:
            return 0, 0.0
        if person.username.startswith(needle):
            return 1, 0.0
        if single and any(low <= word < high for word in counted):
            return 2, 0.0
        starts = display is not None and (display.startswith(needle) or f" {needle}" in display)
        if not single and starts and any(low <= word < high for word in all_words):
            return 2, 0.0
        similar = [nearest[word] for word in counted if word in nearest]
        if similar and not (not single and starts):
            return 3, -max(similar)
        return None


async def create(client: httpx.AsyncClient, caller: uuid.UUID, person: Person) -> None:
    body = {"username": person.username, "display_name": person.display_name}
    owner = bearer(person.user_id)
    answer = await client.put(f"/v1/profiles/{person.user_id}", json=body, headers=owner)
    assert answer.status_code == 201, answer.text
    if person.display_private:
        patch = {"display_name": "private"}
        headers = owner | {"content-type": "application/merge-patch+json"}
        answer = await client.patch(
            f"/v1/profiles/{person.user_id}/privacy", json=patch, headers=headers
        )
        assert answer.status_code == 200, answer.text
    if person.contact:
        answer = await client.put(
            contact_url(caller, person.user_id), json={}, headers=bearer(caller)
        )
        assert answer.status_code in (200, 201), answer.text
    if person.blocks_caller:
        answer = await client.put(block_url(person.user_id, caller), json={}, headers=owner)
        assert answer.is_success, answer.text


async def every_page(client: httpx.AsyncClient, caller: uuid.UUID, q: str, size: int) -> list[str]:
    found: list[str] = []
    cursor: str | None = None
    for _ in range(50):
        params: dict[str, Any] = {"q": q, "limit": size} | ({"cursor": cursor} if cursor else {})
        answer = await client.get("/v1/search/profiles", params=params, headers=bearer(caller))
        assert answer.status_code == 200, answer.text
        found += [item["username"] for item in answer.json()["items"]]
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return found
    raise AssertionError("more than 50 pages")


def needles(people: list[Person], words: list[str]) -> st.SearchStrategy[str]:
    """A piece of one of the names (a start, a word, two words), maybe misspelled."""
    names = [p.username for p in people] + [p.display_name for p in people if p.display_name]
    starts = st.sampled_from(names).flatmap(
        lambda name: st.integers(1, len(name)).map(lambda end: name[:end])
    )
    pairs = st.tuples(st.sampled_from(words), st.sampled_from(words)).map(" ".join)
    whole = st.sampled_from(words) | pairs
    misspelled = st.sampled_from(words).flatmap(misspelling)
    return (starts | whole | misspelled).filter(lambda q: q.strip() != "")


@pytest.fixture
def stored_words() -> set[str]:
    """Every word stored in this test's database so far (one set for all of hypothesis's
    examples, as the database: the words table keeps the words of deleted people)."""
    return set()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    print_blob=True,
)
@given(data=st.data())
async def test_every_page_follows_the_model(
    client: httpx.AsyncClient, stored_words: set[str], data: st.DataObject
) -> None:
    vocabulary_words = data.draw(vocabulary(), label="words")
    people = data.draw(people_of(vocabulary_words), label="people")
    caller = uuid.uuid4()
    username = f"x{caller.int % 10**9}"  # no word (one letter, digits): found by none
    answer = await client.put(
        f"/v1/profiles/{caller}", json={"username": username}, headers=bearer(caller)
    )
    assert answer.status_code == 201, answer.text
    try:
        for person in people:
            await create(client, caller, person)
            stored_words |= words(person.username, LETTER_RUN)
            stored_words |= words(person.display_name, ALNUM_RUN)
        model = Model(people, stored_words)
        for _ in range(3):
            q = data.draw(needles(people, vocabulary_words), label="q")
            size = data.draw(st.integers(1, 4), label="page size")
            assert await every_page(client, caller, q, size) == model.ranking(q), q
    finally:
        for person in [*people, Person(username, None, False, False, False, caller)]:
            await client.delete(f"/v1/profiles/{person.user_id}", headers=bearer(person.user_id))
