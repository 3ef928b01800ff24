"""The :class:`Scenario`: every assumption of a valuation, validated, frozen, with its sources.

Build one with keyword arguments (``Scenario(power_mw=1000, price_per_gpu_hour=5.3)``) in a
notebook, or from a mapping with :func:`build_scenario`, which turns validation failures into
one-line :class:`~gigawatt.core.errors.InvalidInput` errors naming the field and its range.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import ErrorDetails

from gigawatt.core.catalogue import Catalogue, default_catalogue
from gigawatt.core.errors import InvalidInput
from gigawatt.core.tiers import Tier
from gigawatt.core.units import parse_power_mw
from gigawatt.economics.correlation import Correlation
from gigawatt.economics.defaults import ALLOWED, DEFAULTS, default_source
from gigawatt.economics.variables import VARIABLES, Distribution

SalesMode = Literal["gpu_hours", "tokens", "lease"]
Objective = Literal["eps", "npv", "equity_value"]
OBJECTIVES: tuple[str, ...] = ("eps", "npv", "equity_value")
EXTERNAL_TIERS = (Tier.RESERVED, Tier.ON_DEMAND, Tier.SPOT)
_SHARE_TOLERANCE = 1e-6


def _d(field: str) -> Any:
    value = DEFAULTS[field][0]
    return dict(value) if isinstance(value, Mapping) else value


def _check_shares(field: str, shares: Mapping[Any, float]) -> None:
    if not shares:
        raise ValueError("needs at least one share")
    for key, share in shares.items():
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share of {key} is {share}")
    total = math.fsum(shares.values())
    if abs(total - 1.0) > _SHARE_TOLERANCE:
        raise ValueError(f"shares add up to {total:g}, not 1")


class FiscalYear(BaseModel):
    """One fiscal year's share count, tax rate and net income (for ``--year``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    diluted_shares: float | None = Field(default=None, gt=0)
    tax_rate: float | None = Field(default=None, ge=0, le=1)
    net_income: float | None = None
    source: str = ""


class Scenario(BaseModel):
    """All inputs of one valuation. Frozen; unknown keys are rejected.

    Power and money rates are per unit of IT power (the critical power GPUs, network and
    storage draw), except electricity, which is paid on facility power (IT x PUE).
    ``None`` means "take it from the GPU catalogue" (or from the tier mix, for the price).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: str = "custom"
    description: str = ""
    power_mw: float = Field(default=_d("power_mw"), gt=0)
    power_basis: Literal["facility", "it"] = _d("power_basis")
    pue: float = Field(default=_d("pue"), ge=1.0)
    gpu: str = _d("gpu")
    gpu_mix: dict[str, float] | None = None
    kw_per_gpu: float | None = Field(default=None, gt=0)
    capex_per_gpu_usd: float | None = Field(default=None, ge=0)
    tokens_per_second: float | None = Field(default=None, ge=0)
    price_per_gpu_hour: float | None = Field(default=None, ge=0)
    tier_mix: dict[Tier, float] = Field(default_factory=lambda: _d("tier_mix"))
    tier_prices: dict[Tier, float] = Field(default_factory=dict)
    utilization: float = Field(default=_d("utilization"), ge=0, le=1)
    internal_share: float = Field(default=_d("internal_share"), ge=0, le=1)
    internal_value_per_gpu_hour: float | None = Field(default=None, ge=0)
    internal_utilization: float | None = Field(default=None, ge=0, le=1)
    internal_value_elasticity: float = Field(default=_d("internal_value_elasticity"), gt=0, le=1)
    internal_reference_gpus: float | None = Field(default=None, gt=0)
    external_reference_gpus: float | None = Field(default=None, gt=0)
    price_premium_when_scarce: float = Field(default=_d("price_premium_when_scarce"), ge=0)
    selling_cost_pct_revenue: float = Field(default=_d("selling_cost_pct_revenue"), ge=0, le=1)
    operating_margin: float | None = Field(default=None, gt=-1, lt=1)
    lease_term_years: float | None = Field(default=None, gt=0)
    lease_basis: Literal["it", "facility"] = _d("lease_basis")
    sales_mix: dict[SalesMode, float] = Field(default_factory=lambda: _d("sales_mix"))
    token_price_per_million: float = Field(default=_d("token_price_per_million"), ge=0)
    lease_price_per_watt_year: float = Field(default=_d("lease_price_per_watt_year"), ge=0)
    load_factor: float = Field(default=_d("load_factor"), ge=0, le=1)
    power_price_per_mwh: float = Field(default=_d("power_price_per_mwh"), ge=0)
    capex_per_gw: float | None = Field(default=None, ge=0)
    facility_capex_per_mw: float = Field(default=_d("facility_capex_per_mw"), ge=0)
    life_years: float = Field(default=_d("life_years"), gt=0, le=50)
    opex_per_mw_year: float = Field(default=_d("opex_per_mw_year"), ge=0)
    opex_pct_revenue: float = Field(default=_d("opex_pct_revenue"), ge=0, le=1)
    tax_rate: float = Field(default=_d("tax_rate"), ge=0, le=1)
    diluted_shares: float | None = Field(default=None, gt=0)
    year: int | None = Field(default=None, ge=1900, le=2200)
    fiscal_years: dict[int, FiscalYear] = Field(default_factory=dict)
    platform_pe: float = Field(default=_d("platform_pe"), ge=0)
    cloud_pe: float = Field(default=_d("cloud_pe"), ge=0)
    base_net_income: float = _d("base_net_income")
    base_pe: float = Field(default=_d("base_pe"), ge=0)
    rerating_at_full_sale: float = _d("rerating_at_full_sale")
    share_price: float | None = Field(default=None, gt=0)
    observed_price_move: float | None = Field(default=None, gt=-1)
    optimize: Literal["internal_share"] | None = None
    objective: Objective = _d("objective")
    correlation: Correlation | None = None
    cost_basis: Literal["incremental", "full"] = _d("cost_basis")
    discount_rate: float = Field(default=_d("discount_rate"), gt=-1, le=1)
    price_decline_per_year: float = Field(default=_d("price_decline_per_year"), ge=0, lt=1)
    utilization_ramp: tuple[float, ...] = ()
    ranges: dict[str, tuple[float, float]] = Field(default_factory=dict)
    uncertainty: dict[str, Distribution] = Field(default_factory=dict)
    sources: dict[str, str] = Field(default_factory=dict)

    @field_validator("power_mw", mode="before")
    @classmethod
    def _parse_power(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_power_mw(value, "power_mw")
        return value

    @field_validator("gpu")
    @classmethod
    def _known_gpu(cls, value: str, info: ValidationInfo) -> str:
        return _canonical_gpu(value, _catalogue(info))

    @field_validator("gpu_mix")
    @classmethod
    def _known_mix(
        cls, value: dict[str, float] | None, info: ValidationInfo
    ) -> dict[str, float] | None:
        if value is None:
            return None
        _check_shares("gpu_mix", value)
        cat = _catalogue(info)
        return {_canonical_gpu(name, cat): share for name, share in value.items()}

    @field_validator("tier_mix")
    @classmethod
    def _tiers(cls, value: dict[Tier, float]) -> dict[Tier, float]:
        if Tier.INTERNAL in value:
            raise ValueError("internal is not sold; use internal_share for the owner's capacity")
        _check_shares("tier_mix", value)
        return value

    @field_validator("tier_prices")
    @classmethod
    def _prices(cls, value: dict[Tier, float]) -> dict[Tier, float]:
        for tier, price in value.items():
            if price < 0:
                raise ValueError(f"price of {tier} is {price}")
        return value

    @field_validator("sales_mix")
    @classmethod
    def _sales(cls, value: dict[str, float]) -> dict[str, float]:
        _check_shares("sales_mix", value)
        return value

    @field_validator("utilization_ramp")
    @classmethod
    def _ramp(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        for v in value:
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"ramp value {v}")
        return value

    @field_validator("correlation")
    @classmethod
    def _correlated_inputs(cls, value: Correlation | None) -> Correlation | None:
        if value is not None:
            unknown = sorted(set(value.inputs) - set(VARIABLES))
            if unknown:
                known = ", ".join(VARIABLES)
                raise ValueError(f"unknown input {unknown[0]!r}; known inputs: {known}")
        return value

    @field_validator("ranges", "uncertainty")
    @classmethod
    def _known_variables(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - set(VARIABLES))
        if unknown:
            known = ", ".join(VARIABLES)
            raise ValueError(f"unknown input {unknown[0]!r}; known inputs: {known}")
        return value

    @field_validator("ranges")
    @classmethod
    def _ordered(cls, value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for name, (low, high) in value.items():
            if low > high:
                raise ValueError(f"{name}: low {low} is above high {high}")
        return value

    @property
    def gpu_types(self) -> dict[str, float]:
        """GPU types by share of IT power (a single type has share 1)."""
        return dict(self.gpu_mix) if self.gpu_mix else {self.gpu: 1.0}

    def source_of(self, field: str) -> str:
        """Where the value of ``field`` comes from (preset, file, flag or default)."""
        return self.sources.get(field) or default_source(field.split(".")[0])

    def with_values(
        self, values: Mapping[str, Any], source: str, catalogue: Catalogue | None = None
    ) -> Scenario:
        """A copy with ``values`` replaced, each recorded as coming from ``source``."""
        data = self.model_dump(exclude_unset=True)
        data.update(values)
        sources = dict(self.sources)
        sources.update({k: source for k in values})
        data["sources"] = sources
        return build_scenario(data, catalogue)


def _catalogue(info: ValidationInfo) -> Catalogue:
    context = info.context if isinstance(info.context, Mapping) else {}
    cat = context.get("catalogue")
    return cat if isinstance(cat, Catalogue) else default_catalogue()


def _canonical_gpu(name: str, catalogue: Catalogue) -> str:
    if name in catalogue:
        return catalogue.get(name).name
    raise ValueError(f"unknown GPU type {name!r}")


def build_scenario(data: Mapping[str, Any], catalogue: Catalogue | None = None) -> Scenario:
    """Validate ``data`` into a :class:`Scenario`; errors become one-line ``InvalidInput``."""
    try:
        scenario = Scenario.model_validate(dict(data), context={"catalogue": catalogue})
    except ValidationError as exc:
        raise _explain(exc.errors()[0], catalogue) from None
    _cross_checks(scenario)
    return scenario


def _cross_checks(s: Scenario) -> None:
    """Rules that involve two fields, each reported against the field the user must change."""
    if s.lease_term_years is not None and s.lease_term_years > s.life_years + 1e-9:
        raise InvalidInput(
            f"{s.lease_term_years:g} years is longer than the asset life ({s.life_years:g}); "
            f"allowed: {ALLOWED['lease_term_years']}",
            "lease_term_years",
        )
    if s.year is not None and s.fiscal_years and s.year not in s.fiscal_years:
        known = ", ".join(str(y) for y in sorted(s.fiscal_years))
        raise InvalidInput(f"no figures for {s.year}; allowed: {known}", "year")


def _explain(err: ErrorDetails, catalogue: Catalogue | None) -> InvalidInput:
    """One line naming the field, the problem and the allowed range."""
    loc = [str(p) for p in err["loc"]]
    field = loc[0] if loc else "scenario"
    where = ".".join(loc) or "scenario"
    kind = err["type"]
    if kind == "extra_forbidden":
        if len(loc) > 1:
            known = ", ".join(Distribution.model_fields) if field == "uncertainty" else ""
            hint = f"; allowed keys: {known}" if known else ""
            return InvalidInput(f"unknown key {loc[-1]!r}{hint}", ".".join(loc[:-1]))
        allowed = ", ".join(Scenario.model_fields)
        return InvalidInput(f"unknown key {field!r}; allowed keys: {allowed}", "scenario")
    if kind == "missing":
        return InvalidInput("is required", where)
    got = err.get("input")
    msg = str(err["msg"]).removeprefix("Value error, ")
    if "[key]" in loc:
        at = loc.index("[key]")
        where = ".".join(loc[: at - 1])
        msg = f"unknown key {loc[at - 1]!r} ({msg})"
        kind = "key"
    if kind.startswith(("greater", "less", "finite")):
        msg = f"{got!r} is out of range"
    elif kind.endswith(("_parsing", "_type")):
        msg = f"{got!r} is not valid ({msg})"
    allowed = ALLOWED.get(field, "see docs/economics.md")
    if field in ("gpu", "gpu_mix"):
        cat = catalogue or default_catalogue()
        allowed = f"{allowed}: {', '.join(cat.names)}"
    return InvalidInput(f"{msg}; allowed: {allowed}", where)
