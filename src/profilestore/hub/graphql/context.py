"""What every resolver of one GraphQL request shares: the caller, the way to the routes, and
the request's DataLoaders (a user field read for many users is one call)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from profilestore.hub.graphql.dispatch import Dispatcher, raise_for_problem
from profilestore.platform.auth import Principal
from profilestore.platform.graphqlspec import GraphField


@dataclass(frozen=True)
class UserRef:
    """A ``User`` (or ``PublicUser``) to resolve: its fields are loaded on demand."""

    id: uuid.UUID


class GraphContext(BaseContext):
    def __init__(
        self,
        principal: Principal,
        dispatch: Dispatcher,
        anchor: tuple[str, GraphField] | None,
        batch_size: int,
    ) -> None:
        super().__init__()
        self.principal = principal
        self.dispatch = dispatch
        self.anchor = anchor
        self.batch_size = batch_size
        self.loaders: dict[str, DataLoader[uuid.UUID, Any]] = {}

    def sees_private(self, user_id: uuid.UUID) -> bool:
        """The user themself, an admin or a service: private fields are worth a call."""
        principal = self.principal
        return principal.owns(user_id) or principal.is_admin or principal.is_service

    def loader(self, part: str, spec: GraphField) -> DataLoader[uuid.UUID, Any]:
        if spec.name not in self.loaders:

            async def load(user_ids: list[uuid.UUID]) -> list[Any]:
                assert spec.batch is not None
                ids = ",".join(str(user_id) for user_id in user_ids)
                answer = await self.dispatch.call(part, "GET", spec.batch, query={"ids": ids})
                raise_for_problem(answer)
                found = {str(item["user_id"]): item for item in answer.body["items"]}
                return [found.get(str(user_id)) for user_id in user_ids]

            self.loaders[spec.name] = DataLoader(load, max_batch_size=self.batch_size)
        return self.loaders[spec.name]

    async def user_exists(self, user_id: uuid.UUID) -> bool:
        """Whether the caller may know the user (the identity domain decides; without it in
        the schema, every id is taken as given)."""
        if self.anchor is None:
            return True
        part, spec = self.anchor
        return await self.loader(part, spec).load(user_id) is not None
