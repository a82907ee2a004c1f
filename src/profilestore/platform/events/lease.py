"""A lease in the database that lets several relay processes run for availability while only one
publishes at a time, so per-user order holds and no row is published concurrently. The holder
renews it; if the holder dies, another relay takes over once it expires. Works the same on
PostgreSQL (row lock) and SQLite (``BEGIN IMMEDIATE``)."""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from profilestore.platform.db import Base, Database, UtcDateTime, utcnow


class RelayLease(Base):
    __tablename__ = "relay_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Lease:
    def __init__(self, db: Database, holder: str, *, seconds: float, name: str = "outbox") -> None:
        self.db = db
        self.holder = holder
        self.seconds = seconds
        self.name = name
        self._held_until = 0.0

    @property
    def held(self) -> bool:
        return time.monotonic() < self._held_until

    async def acquire(self) -> bool:
        """Take or renew the lease; cheap while more than half of it remains."""
        if time.monotonic() < self._held_until - self.seconds / 2:
            return True
        started = time.monotonic()
        async with self.db.write_session() as session:
            if not await self._claim(session):
                self._held_until = 0.0
                return False
            try:
                await session.commit()
            except IntegrityError:
                self._held_until = 0.0
                return False
        self._held_until = started + self.seconds
        return True

    async def _claim(self, session: AsyncSession) -> bool:
        now = utcnow()
        expires = now + dt.timedelta(seconds=self.seconds)
        statement = select(RelayLease).where(RelayLease.name == self.name).with_for_update()
        lease = (await session.execute(statement)).scalar_one_or_none()
        if lease is None:
            session.add(RelayLease(name=self.name, holder=self.holder, expires_at=expires))
            return True
        if lease.holder != self.holder and lease.expires_at > now:
            return False
        lease.holder = self.holder
        lease.expires_at = expires
        return True

    async def still_held(self, session: AsyncSession) -> bool:
        """Fencing check inside the marking transaction: is the lease still ours?"""
        statement = select(RelayLease.holder, RelayLease.expires_at).where(
            RelayLease.name == self.name
        )
        row = (await session.execute(statement.with_for_update())).first()
        return row is not None and row.holder == self.holder and row.expires_at > utcnow()

    async def release(self) -> None:
        async with self.db.write_session() as session:
            statement = select(RelayLease).where(
                RelayLease.name == self.name, RelayLease.holder == self.holder
            )
            lease = (await session.execute(statement.with_for_update())).scalar_one_or_none()
            if lease is not None:
                lease.expires_at = utcnow()
                await session.commit()
        self._held_until = 0.0
