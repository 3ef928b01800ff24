"""The model registry: what models are sold, where they are served, at what price.

A model is served either by an ``upstream_url`` (any OpenAI-compatible server, called with
its base URL such as ``http://host:8000/v1``), by several weighted ``upstreams``, or from a
``model_path`` (a local Hugging Face model directory) by Gigawatt's own workers, started by a
deployment. ``fallbacks`` name models tried, in order, when every route of a model failed.
Each gateway process keeps a copy of the registry and reloads it at most every ``ttl_s``
seconds (and on a miss), so a model registered through one process is visible to all of them
within that time.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gigawatt.billing.prices import ModelPrice
from gigawatt.core.clock import Clock
from gigawatt.core.errors import InvalidInput, NotFound
from gigawatt.inference.limits import price_text
from gigawatt.store.db import transaction
from gigawatt.store.inference_models import InferenceModelModel

_MICRO = Decimal("0.000001")
Price = Annotated[Decimal, Field(ge=0, le=1_000_000, allow_inf_nan=False)]


ModelId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][\w.:/@-]*$")]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL such as http://host:8000/v1")
    return value.rstrip("/")


class UpstreamSpec(BaseModel):
    """One upstream of a model: an OpenAI base URL, the model's name there, and a weight
    (its share of the requests among the healthy upstreams)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: Annotated[str, Field(max_length=2048)]
    model: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    api_key: Annotated[str, Field(min_length=1, max_length=512)] | None = None
    weight: Annotated[int, Field(ge=1, le=1000, strict=True)] = 1

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value)


class ModelSpec(BaseModel):
    """``POST /v1/models`` (admin): exactly one of ``upstream_url``, ``upstreams`` and
    ``model_path``; optional ``fallbacks`` (registered models, tried in order)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: ModelId
    upstream_url: Annotated[str, Field(max_length=2048)] | None = None
    upstream_model: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    upstream_api_key: Annotated[str, Field(min_length=1, max_length=512)] | None = None
    upstreams: Annotated[list[UpstreamSpec], Field(min_length=1, max_length=16)] | None = None
    model_path: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    fallbacks: Annotated[list[ModelId], Field(max_length=4)] = []
    price_per_million_input_tokens: Price
    price_per_million_output_tokens: Price

    @field_validator("upstream_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)

    @field_validator("model_path")
    @classmethod
    def _model_dir(cls, value: str | None) -> str | None:
        if value is None:
            return None
        path = Path(value)
        if not path.is_absolute():
            raise ValueError("must be an absolute path")
        if not (path / "config.json").is_file():
            raise ValueError(f"{value} is not a Hugging Face model directory (no config.json)")
        return str(path)

    @field_validator("price_per_million_input_tokens", "price_per_million_output_tokens")
    @classmethod
    def _micro(cls, value: Decimal) -> Decimal:
        if value != value.quantize(_MICRO):
            raise ValueError("at most 6 decimal places")
        return value

    @model_validator(mode="after")
    def _one_route(self) -> ModelSpec:
        given = [self.upstream_url, self.upstreams, self.model_path]
        if sum(g is not None for g in given) != 1:
            raise ValueError("give exactly one of upstream_url, upstreams and model_path")
        if self.upstream_url is None and (self.upstream_model or self.upstream_api_key):
            raise ValueError("upstream_model and upstream_api_key go with upstream_url")
        if self.id in self.fallbacks or len(set(self.fallbacks)) != len(self.fallbacks):
            raise ValueError("fallbacks must be other models, each named once")
        return self


@dataclass(frozen=True, slots=True)
class Route:
    """One upstream of a model, as the router uses it."""

    url: str
    model: str
    api_key: str | None
    weight: int = 1

    def public(self) -> dict[str, Any]:
        """The admin view (the API key is never shown)."""
        return {"url": self.url, "model": self.model, "weight": self.weight}


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """A registered model."""

    id: str
    upstream_url: str | None
    upstream_model: str
    upstream_api_key: str | None
    model_path: str | None
    price: ModelPrice
    created_at: float
    routes: tuple[Route, ...] = ()
    fallbacks: tuple[str, ...] = ()

    @property
    def local(self) -> bool:
        """Served by Gigawatt's workers (deployments), not by an upstream URL."""
        return self.model_path is not None

    def public(self, admin: bool, ready_replicas: int | None = None) -> dict[str, Any]:
        """The ``GET /v1/models`` entry (OpenAI fields, then Gigawatt's)."""
        out: dict[str, Any] = {
            "id": self.id,
            "object": "model",
            "created": int(self.created_at),
            "owned_by": "gigawatt",
            "price_per_million_input_tokens": price_text(self.price.price_per_million_input_tokens),
            "price_per_million_output_tokens": price_text(
                self.price.price_per_million_output_tokens
            ),
            "served_by": "deployment" if self.local else "upstream",
        }
        if ready_replicas is not None:
            out["ready_replicas"] = ready_replicas
        if admin:
            out["upstream_url"] = self.upstream_url
            out["upstream_model"] = self.upstream_model if not self.local else None
            out["model_path"] = self.model_path
            out["upstreams"] = [r.public() for r in self.routes]
        out["fallbacks"] = list(self.fallbacks)
        return out


def _routes(row: InferenceModelModel) -> tuple[Route, ...]:
    if row.routes:
        return tuple(
            Route(str(r["url"]), str(r.get("model") or row.id), r.get("api_key"), int(r["weight"]))
            for r in row.routes
        )
    if row.upstream_url is not None:
        return (Route(row.upstream_url, row.upstream_model or row.id, row.upstream_api_key),)
    return ()


def _entry(row: InferenceModelModel) -> ModelEntry:
    price = ModelPrice(row.id, row.price_input_per_million, row.price_output_per_million)
    return ModelEntry(
        row.id,
        row.upstream_url,
        row.upstream_model or row.id,
        row.upstream_api_key,
        row.model_path,
        price,
        row.created_at,
        _routes(row),
        tuple(row.fallbacks or ()),
    )


def register(session: Session, spec: ModelSpec, now: float) -> ModelEntry:
    """Create the model, or replace the route and prices of an existing one."""
    for name in spec.fallbacks:
        if session.get(InferenceModelModel, name) is None:
            raise InvalidInput(f"fallback model {name!r} is not registered", "fallbacks")
    row = session.get(InferenceModelModel, spec.id)
    if row is None:
        row = InferenceModelModel(id=spec.id, created_at=now)
        session.add(row)
    row.upstream_url = spec.upstream_url
    row.upstream_model = spec.upstream_model
    row.upstream_api_key = spec.upstream_api_key
    row.model_path = spec.model_path
    row.routes = (
        None if spec.upstreams is None else [u.model_dump(mode="json") for u in spec.upstreams]
    )
    row.fallbacks = list(spec.fallbacks) or None
    row.price_input_per_million = spec.price_per_million_input_tokens
    row.price_output_per_million = spec.price_per_million_output_tokens
    session.flush()
    return _entry(row)


def load_all(session: Session) -> list[ModelEntry]:
    """Every registered model, by id."""
    rows = session.scalars(select(InferenceModelModel).order_by(InferenceModelModel.id))
    return [_entry(r) for r in rows]


def load_one(session: Session, model_id: str) -> ModelEntry:
    """One model, or :class:`NotFound` in the OpenAI wording."""
    row = session.get(InferenceModelModel, model_id)
    if row is None:
        raise NotFound(f"The model `{model_id}` does not exist or you do not have access to it.")
    return _entry(row)


class ModelCatalog:
    """This process's copy of the registry (reloaded every ``ttl_s`` and on a miss)."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock, ttl_s: float = 1.0) -> None:
        self._sessions = sessions
        self._clock = clock
        self._ttl_s = ttl_s
        self._loaded_at = -1e18
        self._models: dict[str, ModelEntry] = {}

    def _reload(self) -> None:
        with transaction(self._sessions) as s:
            self._models = {m.id: m for m in load_all(s)}
        self._loaded_at = self._clock.now()

    def get(self, model_id: str) -> ModelEntry:
        """The model (blocking: may read the database)."""
        if self._clock.now() - self._loaded_at > self._ttl_s:
            self._reload()
        found = self._models.get(model_id)
        if found is None:
            self._reload()
            found = self._models.get(model_id)
        if found is None:
            raise NotFound(
                f"The model `{model_id}` does not exist or you do not have access to it."
            )
        return found

    def peek(self, model_id: str) -> ModelEntry | None:
        """The model if this process's copy is fresh and has it (never reads the database)."""
        if self._clock.now() - self._loaded_at > self._ttl_s:
            return None
        return self._models.get(model_id)

    def all(self) -> list[ModelEntry]:
        """Every model, freshly loaded."""
        self._reload()
        return list(self._models.values())

    def put(self, entry: ModelEntry) -> None:
        """Record a model this process just registered."""
        self._models[entry.id] = entry


def check_model_id(model_id: str) -> str:
    """``model_id`` if it is a plausible id (for path parameters)."""
    if not model_id or len(model_id) > 128:
        raise InvalidInput("must be 1 to 128 characters", "model")
    return model_id
