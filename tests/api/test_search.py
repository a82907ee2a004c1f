"""GET /v1/search/profiles (both databases): exact, prefix and typo-tolerant matches on the
username and display name, case- and accent-insensitive, ranked (exact > prefix > fuzzy, the
caller's contacts first within each), keyset pages that see each match once, public fields
only, nobody who blocks the caller, rate-limited as a look-up, and hostile queries refused
or harmless."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from profilestore.domains.profiles.search import similarity, trigrams
from profilestore.settings import Settings
from tests.api.test_social import block_url, contact_url
from tests.support import ADMIN, bearer, clear_of_minute_edge, client_for

PUBLIC = {"user_id", "username", "display_name", "avatar_url", "bio", "private_account", "fields"}


async def person(
    client: httpx.AsyncClient, username: str, display_name: str | None = None
) -> uuid.UUID:
    user = uuid.uuid4()
    body = {"username": username, "display_name": display_name, "locale": "en-GB"}
    answer = await client.put(f"/v1/profiles/{user}", json=body, headers=bearer(user))
    assert answer.status_code == 201, answer.text
    return user


async def find(
    client: httpx.AsyncClient, caller: uuid.UUID | dict[str, str], q: str, **params: Any
) -> httpx.Response:
    headers = caller if isinstance(caller, dict) else bearer(caller)
    return await client.get("/v1/search/profiles", params={"q": q, **params}, headers=headers)


async def names(client: httpx.AsyncClient, caller: uuid.UUID, q: str) -> list[str]:
    answer = await find(client, caller, q)
    assert answer.status_code == 200, answer.text
    return [item["username"] for item in answer.json()["items"]]


async def test_exact_then_prefix_then_fuzzy(client: httpx.AsyncClient) -> None:
    me = await person(client, "searcher")
    await person(client, "alexandra")
    await person(client, "alexander")
    await person(client, "alexandre")
    await person(client, "zed", "Alexander the Great")
    await person(client, "unrelated", "Bob")
    found = await names(client, me, "Alexander")
    assert found[:2] == ["alexander", "zed"]  # exact username, exact word start of a name
    assert set(found[2:]) == {"alexandra", "alexandre"}  # typos
    assert "unrelated" not in found and "searcher" not in found
    assert await names(client, me, "alex") == ["alexander", "alexandra", "alexandre", "zed"]


async def test_accents_and_case_do_not_matter(client: httpx.AsyncClient) -> None:
    me = await person(client, "searcher")
    await person(client, "zoe_m", "Zoë Müller")
    await person(client, "jose.garcia", "José García")
    assert await names(client, me, "ZOE") == ["zoe_m"]
    assert await names(client, me, "muller") == ["zoe_m"]
    assert await names(client, me, "Garcí") == ["jose.garcia"]
    assert await names(client, me, "@JOSÉ") == ["jose.garcia"]


async def test_a_typo_still_finds_the_person(client: httpx.AsyncClient) -> None:
    me = await person(client, "searcher")
    await person(client, "katharine", "Katharine Hepburn")
    assert await names(client, me, "katherine") == ["katharine"]
    assert await names(client, me, "Katherine Hepburn") == ["katharine"]
    assert await names(client, me, "xqzv") == []


async def test_contacts_come_first_within_a_tier(client: httpx.AsyncClient) -> None:
    me = await person(client, "searcher")
    await person(client, "sam.a")
    friend = await person(client, "sam.b")
    await person(client, "sam")
    added = await client.put(contact_url(me, friend), json={}, headers=bearer(me))
    assert added.status_code in (200, 201), added.text
    assert await names(client, me, "sam") == ["sam", "sam.b", "sam.a"]
    stranger = uuid.uuid4()  # no contacts: the username order within the tier
    assert await names(client, stranger, "sam") == ["sam", "sam.a", "sam.b"]


async def test_those_who_block_the_caller_are_left_out(client: httpx.AsyncClient) -> None:
    me = await person(client, "searcher")
    blocker = await person(client, "rita.blocks")
    await person(client, "rita.open")
    assert (await client.put(block_url(blocker, me), json={}, headers=bearer(blocker))).is_success
    assert await names(client, me, "rita") == ["rita.open"]
    everyone = await find(client, ADMIN, "rita")
    assert [i["username"] for i in everyone.json()["items"]] == ["rita.blocks", "rita.open"]


async def test_only_public_fields_are_shown(client: httpx.AsyncClient) -> None:
    me = await person(client, "searcher")
    await person(client, "pat.public", "Pat")
    (item,) = (await find(client, me, "pat")).json()["items"]
    assert set(item) == PUBLIC
    owner = uuid.UUID(item["user_id"])
    hide = {"bio": "private", "avatar_url": "contacts"}
    answer = await client.patch(
        f"/v1/profiles/{owner}/privacy",
        json=hide,
        headers={**bearer(owner), "Content-Type": "application/merge-patch+json"},
    )
    assert answer.status_code == 200
    (item,) = (await find(client, me, "pat")).json()["items"]
    assert set(item) == PUBLIC - set(hide)  # as the owner's audiences show it


async def test_pages_see_each_match_once(client: httpx.AsyncClient) -> None:
    me = await person(client, "searcher")
    exact = await person(client, "mia")
    friend = await person(client, "mia_05")
    await client.put(contact_url(me, friend), json={}, headers=bearer(me))
    others = {await person(client, f"mia_{i:02}", f"Mia {i}") for i in range(12) if i != 5}
    await person(client, "maia_x")  # too far from a 3-letter query
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        page = (await find(client, me, "mia", **params)).json()
        seen += [item["user_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 13
    assert seen[:2] == [str(exact), str(friend)]
    assert set(seen[2:]) == {str(user) for user in others}


@pytest.mark.parametrize(
    "q",
    ["", "   ", "@", "x" * 65, "x" * 200, "a\x00b", "a\x1bb", "tab\there"],
)
async def test_unusable_queries_are_refused(client: httpx.AsyncClient, q: str) -> None:
    me = await person(client, "searcher")
    answer = await find(client, me, q)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("q", ["%", "_", "a%", "a_b", "'", '"; DROP TABLE profiles; --', "\\", "a"])
async def test_wildcards_and_quotes_are_only_characters(client: httpx.AsyncClient, q: str) -> None:
    me = await person(client, "searcher")
    await person(client, "a_b", "Ann O'Neil")
    await person(client, "axb")
    found = await names(client, me, q)
    assert "axb" not in found or q == "a"
    assert (await names(client, me, "a_b"))[0] == "a_b"


async def test_bad_cursors_and_limits_are_refused(client: httpx.AsyncClient) -> None:
    me = await person(client, "searcher")
    for params in ({"cursor": "not-a-cursor"}, {"cursor": "W10"}, {"limit": 0}, {"limit": 51}):
        answer = await find(client, me, "abc", **params)
        assert answer.status_code == 422, params


async def test_search_needs_a_token(client: httpx.AsyncClient) -> None:
    answer = await client.get("/v1/search/profiles", params={"q": "abc"})
    assert answer.status_code == 401


async def test_searches_count_as_look_ups(settings: Settings) -> None:
    quotas = {
        "rate_limit_enabled": True,
        "rate_limit_lookups_per_minute": 2,
        "rate_limit_per_minute": 100,
    }
    async with client_for(settings.model_copy(update=quotas)) as client:
        me = await person(client, "searcher")
        await clear_of_minute_edge()
        codes = [(await find(client, me, "abc")).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        by_name = await client.get("/v1/profiles", params={"username": "x"}, headers=bearer(me))
        assert by_name.status_code == 429  # one quota for every existence-revealing look-up


def test_sqlite_similarity_follows_pg_trgm() -> None:
    assert trigrams("Ab") == {"  a", " ab", "ab "}
    assert similarity("word", "word") == 1.0
    assert similarity("alexander", "alexandre") == pytest.approx(7 / 13)
    assert similarity("abc", None) == 0.0


async def privacy(client: httpx.AsyncClient, owner: uuid.UUID, patch: dict[str, Any]) -> None:
    url = f"/v1/profiles/{owner}/privacy"
    answer = await client.patch(
        url, json=patch, headers=bearer(owner) | {"content-type": "application/merge-patch+json"}
    )
    assert answer.status_code == 200, answer.text


async def add_contact(client: httpx.AsyncClient, owner: uuid.UUID, other: uuid.UUID) -> None:
    added = await client.put(contact_url(owner, other), json={}, headers=bearer(owner))
    assert added.status_code in (200, 201), added.text


async def test_private_accounts_are_found_by_their_contacts_only(
    client: httpx.AsyncClient,
) -> None:
    owner = await person(client, "quill.private", "Quill Private")
    friend = await person(client, "friend")
    stranger = await person(client, "stranger")
    await privacy(client, owner, {"private_account": True})
    await add_contact(client, owner, friend)
    await add_contact(client, stranger, owner)  # the stranger's contact list does not count
    assert await names(client, stranger, "quill") == []
    assert await names(client, stranger, "quill.private") == []
    assert await names(client, friend, "quill") == ["quill.private"]
    everyone = await find(client, ADMIN, "quill")
    assert [i["username"] for i in everyone.json()["items"]] == ["quill.private"]


async def test_a_display_name_for_contacts_is_not_findable_by_others(
    client: httpx.AsyncClient,
) -> None:
    owner = await person(client, "u_4711", "Quentin Blake")
    friend = await person(client, "friend")
    stranger = await person(client, "stranger")
    await privacy(client, owner, {"display_name": "contacts"})
    await add_contact(client, owner, friend)
    for q in ("quentin", "blake", "Quentin Blake", "quentn"):
        assert await names(client, stranger, q) == [], q
        assert await names(client, friend, q) == ["u_4711"], q
    assert await names(client, stranger, "u_4711") == ["u_4711"]  # the username stays public
    await privacy(client, owner, {"display_name": "private"})
    assert await names(client, friend, "quentin") == []


async def test_fuzzy_matches_rank_by_similarity_then_contacts(client: httpx.AsyncClient) -> None:
    me = await person(client, "searcher")
    for username in ("ionathan", "jonathen", "jonatan", "johnathan", "jonnathan"):
        await person(client, username)
    await add_contact(client, me, await person(client, "jonathon"))
    assert similarity("jonathon", "jonathan") == similarity("ionathan", "jonathan") == 0.5
    found = await names(client, me, "jonathan")
    # 0.73, 0.58, 0.55, then three at 0.5: the contact first, then by username
    assert found == ["jonnathan", "johnathan", "jonatan", "jonathon", "ionathan", "jonathen"]
    assert found[:3] == sorted(found[:3], key=lambda name: -similarity(name, "jonathan"))


async def test_pages_through_equally_similar_matches_see_each_once(
    client: httpx.AsyncClient,
) -> None:
    """A username ranks by its word (its letters: ``barnabi7`` is ``barnabi``), so eleven
    profiles tie at 0.6: the contact first, then by username, across pages of three."""
    me = await person(client, "searcher")
    await person(client, "barnabi")  # 0.6
    await person(client, "bernaby")  # 0.45
    tied = [f"barnabi{digit}" for digit in range(10)]  # 0.6 each
    for username in tied:
        user = await person(client, username)
        if username == "barnabi7":
            await add_contact(client, me, user)
    assert similarity("barnabi", "barnaby") == 0.6
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        answer = await find(client, me, "barnaby", **params)
        assert answer.status_code == 200, answer.text
        seen += [item["username"] for item in answer.json()["items"]]
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            break
    others = [name for name in tied if name != "barnabi7"]
    assert seen == ["barnabi7", "barnabi", *others, "bernaby"]


async def test_a_later_word_and_a_misspelled_later_word_find_the_person(
    client: httpx.AsyncClient,
) -> None:
    me = await person(client, "searcher")
    await person(client, "u_1", "Anna Maria Müller")
    await person(client, "u_2", "Anna Schmidt")
    assert await names(client, me, "mü") == ["u_1"]  # a later word's start
    assert await names(client, me, "maria mu") == ["u_1"]  # a later start of several words
    assert await names(client, me, "mueller") == ["u_1"]  # a misspelled later word
    assert await names(client, me, "schmit") == ["u_2"]


async def test_the_search_words_follow_the_profile(client: httpx.AsyncClient) -> None:
    """A new display name is found by its words and the old one's are gone; a deleted
    profile's words go with it."""
    me = await person(client, "searcher")
    owner = await person(client, "u_42", "Quincy Adams")
    assert await names(client, me, "adams") == ["u_42"]
    patch = {"display_name": "Quincy Zebulon"}
    answer = await client.patch(
        f"/v1/profiles/{owner}",
        json=patch,
        headers=bearer(owner) | {"content-type": "application/merge-patch+json"},
    )
    assert answer.status_code == 200, answer.text
    assert await names(client, me, "adams") == []
    assert await names(client, me, "adms") == []
    assert await names(client, me, "zebu") == ["u_42"]
    assert await names(client, me, "zebulom") == ["u_42"]
    answer = await client.delete(f"/v1/profiles/{owner}", headers=bearer(owner))
    assert answer.status_code == 204, answer.text
    assert await names(client, me, "zebu") == []
    assert await names(client, me, "zebulom") == []


async def test_pages_of_later_words_see_each_match_once(client: httpx.AsyncClient) -> None:
    """Several words start with the needle, one person holds two of them, one is a contact:
    pages of two still see each match once, in rank order."""
    me = await person(client, "searcher")
    made = [
        await person(client, f"p_{n}", name)
        for n, name in enumerate(
            ["Ann Zanzibar", "Bo Zanzibari", "Cy Zanzibar Zanzibari", "Di Zanzi", "Ed Zanzibar"]
        )
    ]
    await add_contact(client, me, made[4])
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        answer = await find(client, me, "zanzi", **params)
        assert answer.status_code == 200, answer.text
        seen += [item["username"] for item in answer.json()["items"]]
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == ["p_4", "p_0", "p_1", "p_2", "p_3"]


async def test_a_word_of_the_username_starts_a_match(client: httpx.AsyncClient) -> None:
    """For a one-word needle, a word of the username (its letters) counts as a word start:
    after the usernames starting with it, before the misspellings."""
    me = await person(client, "searcher")
    await person(client, "marta")
    await person(client, "a_marco1", "Bob")
    await person(client, "mara.x")
    await person(client, "omar", "Someone")
    assert await names(client, me, "mar") == ["mara.x", "marta", "a_marco1"]


async def test_letters_without_an_accent_to_strip_are_folded_too(
    client: httpx.AsyncClient,
) -> None:
    me = await person(client, "searcher")
    await person(client, "u_77", "Łukasz Strøm")
    for q in ("lukasz", "Łukasz", "ŁUKASZ", "strom", "Strøm", "lukasz strom"):
        assert await names(client, me, q) == ["u_77"], q
    await person(client, "u_78", "Ƀrian")  # folded alike on each side, whatever the database
    assert await names(client, me, "ƀrian") == ["u_78"]


async def test_a_hidden_display_name_is_no_fuzzy_match_but_the_username_is(
    client: httpx.AsyncClient,
) -> None:
    me = await person(client, "searcher")
    hidden = await person(client, "xq.bartholomew", "Theodora Wilhelmina")
    await privacy(client, hidden, {"display_name": "private"})
    assert await names(client, me, "bartholomeu") == ["xq.bartholomew"]
    assert await names(client, me, "wilhelmine") == []
    assert await names(client, me, "theodore") == []
