"""Correlated draws for the Monte Carlo: a Gaussian copula over the scenario's uncertain inputs.

A scenario may state that some uncertain inputs move together::

    correlation:
      inputs: [price_per_gpu_hour, utilization]
      matrix: [[1.0, 0.6], [0.6, 1.0]]

The matrix must be square, symmetric, with a unit diagonal, entries in [-1, 1] and positive
semi-definite (a real correlation matrix). Each draw takes correlated standard normals
``z = L e`` (``L`` a square root of the matrix), turns them into uniforms ``u = Φ(z)`` and each
uniform into its input through that input's inverse distribution function, so every input keeps
its own marginal distribution while their ranks are correlated.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

FloatArray = npt.NDArray[np.float64]
_TOL = 1e-9


class Correlation(BaseModel):
    """A correlation matrix over named inputs (validated on construction)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    inputs: tuple[str, ...]
    matrix: tuple[tuple[float, ...], ...]
    source: str = ""

    @field_validator("inputs")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(value) < 2:
            raise ValueError("needs at least two inputs")
        if len(set(value)) != len(value):
            raise ValueError("an input is named twice")
        return value

    @model_validator(mode="after")
    def _valid_matrix(self) -> Correlation:
        n = len(self.inputs)
        if len(self.matrix) != n or any(len(row) != n for row in self.matrix):
            raise ValueError(f"matrix must be {n} x {n}, one row and column per input")
        m = np.asarray(self.matrix, dtype=np.float64)
        if np.any(np.abs(m) > 1.0 + _TOL):
            raise ValueError("entries must lie in [-1, 1]")
        if not np.allclose(np.diag(m), 1.0, atol=_TOL):
            raise ValueError("the diagonal must be all 1")
        if not np.allclose(m, m.T, atol=_TOL):
            raise ValueError("matrix is not symmetric")
        if float(np.linalg.eigvalsh(m).min()) < -1e-8:
            raise ValueError("matrix is not positive semi-definite")
        return self

    def root(self) -> FloatArray:
        """``L`` with ``L @ L.T`` equal to the matrix (eigen-decomposition: works when singular)."""
        m = np.asarray(self.matrix, dtype=np.float64)
        values, vectors = np.linalg.eigh(m)
        return np.asarray(vectors * np.sqrt(np.clip(values, 0.0, None)), dtype=np.float64)

    def uniforms(self, rng: np.random.Generator, n: int) -> FloatArray:
        """``n`` rows of correlated uniforms on (0, 1), one column per input."""
        from scipy.special import ndtr

        z = rng.standard_normal((n, len(self.inputs))) @ self.root().T
        u = ndtr(z)
        return np.asarray(np.clip(u, 1e-12, 1.0 - 1e-12), dtype=np.float64)
