"""REST routes for a user's addresses (private: owner, admins, and services may read)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from starlette.responses import Response

from profilestore.domains.profiles import addresses
from profilestore.domains.profiles.schemas import Address, AddressList, AddressWrite
from profilestore.platform.access import (
    PrivateRead,
    PrivateWrite,
)
from profilestore.platform.conditional import (
    etag,
    json_response,
    not_modified,
    not_modified_response,
)
from profilestore.platform.errors import not_found, problem_responses
from profilestore.platform.params import IfMatch, IfNoneMatch, Reader, UserId, Writer
from profilestore.platform.uow import UnitOfWorkRoute

router = APIRouter(
    prefix="/v1/profiles/{user_id}/addresses", tags=["addresses"], route_class=UnitOfWorkRoute
)


def address_response(address: dict[str, object], *, status: int = 200) -> Response:
    version = address["version"]
    assert isinstance(version, int)
    return json_response(address, status=status, tag=etag(version))


@router.get(
    "",
    response_model=AddressList,
    summary="List the user's addresses (oldest first; at most the per-user limit)",
    responses=problem_responses(401, 404),
)
async def list_addresses(user_id: UserId, session: Reader, _: PrivateRead) -> Response:
    return json_response({"items": await addresses.list_addresses(session, user_id)})


@router.post(
    "",
    response_model=Address,
    status_code=201,
    summary="Add an address; the first of a kind becomes its default",
    responses=problem_responses(401, 404, 409, 413, 415, 422),
)
async def add_address(
    request: Request, user_id: UserId, body: AddressWrite, uow: Writer, _: PrivateWrite
) -> Response:
    limit = request.app.state.settings.max_addresses_per_user
    address = await addresses.add_address(uow.session, user_id, body, limit=limit)
    location = f"/v1/profiles/{user_id}/addresses/{address['id']}"
    response = address_response(address, status=201)
    response.headers["Location"] = location
    return response


@router.get(
    "/{address_id}",
    response_model=Address,
    summary="One address",
    responses={304: {"description": "Not modified"}, **problem_responses(401, 404, 422)},
)
async def get_address(
    user_id: UserId,
    address_id: uuid.UUID,
    session: Reader,
    _: PrivateRead,
    if_none_match: IfNoneMatch = None,
) -> Response:
    address = await addresses.get_address(session, user_id, address_id)
    if address is None:
        raise not_found("address")
    tag = etag(address.version)
    if not_modified(if_none_match, tag):
        return not_modified_response(tag)
    return address_response(addresses.as_dict(address))


@router.put(
    "/{address_id}",
    response_model=Address,
    summary="Replace an address",
    responses=problem_responses(401, 404, 412, 428, 413, 415, 422),
)
async def replace_address(
    user_id: UserId,
    address_id: uuid.UUID,
    body: AddressWrite,
    uow: Writer,
    _: PrivateWrite,
    if_match: IfMatch = None,
) -> Response:
    address = await addresses.replace_address(
        uow.session, user_id, address_id, body, if_match=if_match
    )
    return address_response(address)


@router.delete(
    "/{address_id}",
    status_code=204,
    summary="Delete an address (idempotent); a removed default passes to the oldest of its kind",
    responses=problem_responses(401, 404, 412, 428),
)
async def delete_address(
    user_id: UserId, address_id: uuid.UUID, uow: Writer, _: PrivateWrite, if_match: IfMatch = None
) -> Response:
    await addresses.remove_address(uow.session, user_id, address_id, if_match=if_match)
    return Response(status_code=204)
