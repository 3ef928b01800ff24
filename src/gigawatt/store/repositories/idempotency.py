"""Stored ``Idempotency-Key`` requests. The primary key ``(scope, key)`` decides which of two
racing requests runs: the one whose INSERT commits; the other finds its row."""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from gigawatt.store.models import IdempotencyKeyModel


def insert(session: Session, scope: str, key: str, request_hash: str, now: float) -> None:
    """Claim ``(scope, key)`` (raises ``IntegrityError`` when another request holds it)."""
    session.add(
        IdempotencyKeyModel(scope=scope, key=key, request_hash=request_hash, created_at=now)
    )
    session.flush()


def find(session: Session, scope: str, key: str) -> IdempotencyKeyModel | None:
    """The stored request, if any."""
    return session.get(IdempotencyKeyModel, (scope, key))


def complete(
    session: Session,
    scope: str,
    key: str,
    status_code: int,
    content_type: str | None,
    body: bytes,
    now: float,
) -> None:
    """Store the response of the request that holds the key."""
    session.execute(
        update(IdempotencyKeyModel)
        .where(IdempotencyKeyModel.scope == scope, IdempotencyKeyModel.key == key)
        .values(
            status_code=status_code,
            content_type=content_type,
            response_body=body,
            completed_at=now,
        )
        .execution_options(synchronize_session=False)
    )


def release(session: Session, scope: str, key: str) -> None:
    """Forget the key (its request failed on the server's side: a retry may run again)."""
    session.execute(
        delete(IdempotencyKeyModel)
        .where(IdempotencyKeyModel.scope == scope, IdempotencyKeyModel.key == key)
        .execution_options(synchronize_session=False)
    )


def purge(session: Session, before: float) -> None:
    """Forget every key first used before ``before``."""
    session.execute(
        delete(IdempotencyKeyModel)
        .where(IdempotencyKeyModel.created_at < before)
        .execution_options(synchronize_session=False)
    )
