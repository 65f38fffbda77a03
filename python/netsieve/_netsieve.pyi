"""Type stubs of the native module (private: use the wrappers in netsieve)."""

from typing import Any, Sequence

import numpy as np
import numpy.typing as npt

__version__: str

class InvalidInputError(ValueError): ...
class ConvergenceError(RuntimeError): ...

_Matrix = npt.NDArray[np.float32] | npt.NDArray[np.float64]
_F64 = npt.NDArray[np.float64]

def singular_values(w: _Matrix, method: str = "auto") -> _F64: ...
def mp_law(which: str, x: _F64, rows: int, cols: int, sigma: float) -> _F64: ...
def fit_mp(
    s: _F64, rows: int, cols: int, sigma: float | None = None, method: str = "quantile", tw_margin: float = 2.0234
) -> dict[str, Any]: ...
def level_spacing(
    s: _F64, rows: int | None = None, cols: int | None = None, sigma: float | None = None, a: int = 15
) -> dict[str, Any]: ...
def analyze_spectra(
    matrices: Sequence[_Matrix],
    sigma: float | None = None,
    method: str = "quantile",
    tw_margin: float = 2.0234,
    svd_method: str = "auto",
    level_spacing: bool = True,
    porter_thomas: bool = False,
    window: int = 15,
    alpha: float = 0.05,
) -> list[dict[str, Any] | Exception]: ...

_Labels = npt.NDArray[np.int32] | npt.NDArray[np.int64]
_Vector = npt.NDArray[np.float32] | npt.NDArray[np.float64]

def margins(logits: _Matrix, labels: _Labels, kind: str = "logit", top_k: int = 1) -> _Vector: ...
def margin_summary(m: _Vector, probs: Sequence[float]) -> dict[str, Any]: ...
def lowest_margins(m: _Vector, k: int) -> npt.NDArray[np.int64]: ...
def gdv(x: _Matrix, labels: _Labels) -> dict[str, Any]: ...

class TotalVariation:
    """Streaming total variation ν = tr Cov(h) (population, float64) over batches of rows."""

    def __init__(self) -> None: ...
    def update(self, batch: _Matrix) -> None: ...
    def merge(self, other: TotalVariation) -> None: ...
    @property
    def count(self) -> int: ...
    @property
    def dim(self) -> int: ...
    @property
    def value(self) -> float: ...
    @property
    def mean(self) -> _F64: ...

def shrink_matrices(
    matrices: Sequence[_Matrix],
    method: str,
    sigma: float | None = None,
    sigma_method: str | None = None,
    tw_margin: float = 2.0234,
    fraction: float = 0.0,
    derepel: bool = False,
    window: int = 15,
    alpha: float = 0.05,
    decomposition: str = "auto",
) -> list[tuple[_Matrix, dict[str, Any]] | Exception]: ...
def optimal_hard_coefficients(beta: float) -> tuple[float, float]: ...
