"""Type stubs of the native module: the whole public API of netsieve's numpy level.

Checked against the compiled module by mypy's stubtest in the test suite (tests/test_contract.py).
Defaults shown as ``...`` are the core's own (see ``DEFAULTS``).
"""

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, Literal, final, overload

from typing_extensions import Self

import numpy as np
import numpy.typing as npt

__version__: str
__all__ = [
    "BULK_MODELS",
    "COMPARISON_STATUSES",
    "BULK_TEST_LEVEL",
    "ConvergenceError",
    "DECOMPOSITIONS",
    "DESCENT_STATUSES",
    "DescentTrace",
    "DEFAULTS",
    "DIRECTION_SOURCES",
    "DoublingResult",
    "ERROR_POLICIES",
    "GDVResult",
    "GOE_MEAN_RATIO",
    "CPU_DISPATCH",
    "InvalidInputError",
    "LADFit",
    "LAD_STATUSES",
    "L1_ACTIVATIONS",
    "LayerComparison",
    "LayerReport",
    "LevelStatistics",
    "MARGIN_KINDS",
    "MPFit",
    "MarginSummary",
    "POISSON_MEAN_RATIO",
    "ROLES",
    "ROUTES",
    "PorterThomasResult",
    "SHRINK_METHODS",
    "SHRINK_METHOD_OPTIONS",
    "SIGMA_METHODS",
    "SPIKE_CONFIDENCES",
    "ShrinkRecord",
    "Slab",
    "SpectrumAnalysis",
    "TotalVariation",
    "VertexDescentResult",
    "__version__",
    "_rebuild_record",
    "analyze_layers",
    "analyze_decomposed_layers",
    "analyze_spectra",
    "doubling_condition",
    "fit_mp",
    "gdv",
    "l1_vertex_descent",
    "lad_fit",
    "level_statistics",
    "lowest_margins",
    "margin_summary",
    "margins",
    "mp_cdf",
    "mp_pdf",
    "mp_quantile",
    "optimal_hard_threshold",
    "porter_thomas",
    "shrink",
    "shrink_decomposed",
    "shrink_many",
    "shrink_with_record",
    "singular_values",
    "slab_counts",
    "subspace_overlap",
]

class InvalidInputError(ValueError): ...
class ConvergenceError(RuntimeError): ...

SHRINK_METHODS: list[str]
SHRINK_METHOD_OPTIONS: dict[str, list[str]]
SIGMA_METHODS: list[str]
BULK_MODELS: list[str]
ROLES: list[str]
ROUTES: list[str]
COMPARISON_STATUSES: list[str]
BULK_TEST_LEVEL: float
DECOMPOSITIONS: list[str]
MARGIN_KINDS: list[str]
ERROR_POLICIES: list[str]
LAD_STATUSES: list[str]
DESCENT_STATUSES: list[str]
L1_ACTIVATIONS: list[str]
SPIKE_CONFIDENCES: dict[float, float]
GOE_MEAN_RATIO: float
CPU_DISPATCH: str
POISSON_MEAN_RATIO: float
DEFAULTS: dict[str, Any]
DIRECTION_SOURCES: list[str]

_F64 = npt.NDArray[np.float64]
_ArrayLike = Any  # numpy arrays, torch tensors (any device), nested lists
# analyze_layers and analyze_spectra read 2-D bfloat16 tensors in place (the core's Bf16 element).
_Matrices = Mapping[Any, _ArrayLike] | Iterable[_ArrayLike]
_Shape = Sequence[int]

def _rebuild_record(cls: type, fields: dict[str, Any]) -> Any: ...

@final
class MPFit:
    FIELDS: ClassVar[list[str]]
    n_rows: int
    n_cols: int
    beta: float
    sigma: float
    sigma_method: str
    bulk_edges: tuple[float, float]
    spike_threshold: float
    n_spikes: int
    spikes: _F64
    n_low_outliers: int
    ks_distance: float
    ks_pvalue: float
    iterations: int
    bulk: str
    spread: float
    population_shape: tuple[float, float]
    bulk_is_mp: bool
    mp_ks_pvalue: float
    mp_n_spikes: int
    def __new__(
        cls,
        *,
        n_rows: int,
        n_cols: int,
        beta: float,
        sigma: float,
        sigma_method: str,
        bulk_edges: tuple[float, float],
        spike_threshold: float,
        n_spikes: int,
        spikes: _F64,
        n_low_outliers: int,
        ks_distance: float,
        ks_pvalue: float,
        iterations: int,
        bulk: str,
        spread: float,
        population_shape: tuple[float, float],
        bulk_is_mp: bool,
        mp_ks_pvalue: float,
        mp_n_spikes: int,
    ) -> Self: ...
    @property
    def shape(self) -> tuple[int, int]: ...
    @property
    def method(self) -> str: ...
    def to_dict(self, arrays: bool = True, **legacy: bool) -> dict[str, Any]: ...

@final
class LevelStatistics:
    FIELDS: ClassVar[list[str]]
    mean_ratio: float
    n_levels: int
    n_levels_excluded: int
    unfolding: str
    ratios: _F64
    spacings: _F64
    def __new__(
        cls, *, mean_ratio: float, n_levels: int, n_levels_excluded: int, unfolding: str, ratios: _F64, spacings: _F64
    ) -> Self: ...
    def to_dict(self, arrays: bool = True, **legacy: bool) -> dict[str, Any]: ...

@final
class PorterThomasResult:
    FIELDS: ClassVar[list[str]]
    boundary: int
    alpha: float
    window: int
    singular_values: _F64
    left_ks: _F64
    left_pvalues: _F64
    right_ks: _F64
    right_pvalues: _F64
    pvalues: _F64
    windowed: _F64
    def __new__(
        cls,
        *,
        boundary: int,
        alpha: float,
        window: int,
        singular_values: _F64,
        left_ks: _F64,
        left_pvalues: _F64,
        right_ks: _F64,
        right_pvalues: _F64,
        pvalues: _F64,
        windowed: _F64,
    ) -> Self: ...
    def to_dict(self, arrays: bool = True, **legacy: bool) -> dict[str, Any]: ...

@final
class SpectrumAnalysis:
    FIELDS: ClassVar[list[str]]
    name: str
    shape: tuple[int, int]
    singular_values: _F64
    fit: MPFit | None
    level_statistics: LevelStatistics | None
    level_statistics_note: str | None
    porter_thomas: PorterThomasResult | None
    error: BaseException | None
    def __new__(
        cls,
        *,
        name: str,
        shape: tuple[int, int],
        singular_values: _F64,
        fit: MPFit | None,
        level_statistics: LevelStatistics | None,
        level_statistics_note: str | None,
        porter_thomas: PorterThomasResult | None,
        error: BaseException | None,
    ) -> Self: ...
    @property
    def level_spacing(self) -> LevelStatistics | None: ...
    def to_dict(self, arrays: bool = True, **legacy: bool) -> dict[str, Any]: ...

@final
class LayerReport:
    FIELDS: ClassVar[list[str]]
    SCALAR_FIELDS: ClassVar[list[str]]
    name: str
    tensor_name: str
    layer_type: str
    block: int | None
    role: str
    head: int | None
    rows: int
    cols: int
    N: int
    M: int
    beta: float
    sigma: float | None
    bulk_min: float | None
    bulk_max: float | None
    spike_threshold: float | None
    n_spikes: int | None
    n_low_outliers: int | None
    mp_soft_rank: float | None
    mp_ks_distance: float | None
    mp_ks_pvalue: float | None
    bulk: str | None
    spread: float | None
    population_shape: tuple[float, float] | None
    bulk_is_mp: bool | None
    bulk_ks_distance: float | None
    bulk_ks_pvalue: float | None
    mp_n_spikes: int | None
    porter_thomas_boundary: int | None
    mean_r: float | None
    spectral_norm: float | None
    frobenius_norm: float | None
    stable_rank: float | None
    effective_rank: float | None
    entropy: float | None
    alpha: float | None
    alpha_stderr: float | None
    alpha_xmin: float | None
    alpha_xmax: float | None
    alpha_n_tail: int | None
    alpha_ks_distance: float | None
    alpha_likelihood_ratio: float | None
    power_law_like: bool | None
    alpha_note: str | None
    route: str
    route_note: str | None
    error: str | None
    singular_values: _F64
    def __new__(
        cls,
        *,
        name: str,
        tensor_name: str,
        layer_type: str,
        block: int | None,
        role: str,
        head: int | None,
        rows: int,
        cols: int,
        N: int,
        M: int,
        beta: float,
        sigma: float | None,
        bulk_min: float | None,
        bulk_max: float | None,
        spike_threshold: float | None,
        n_spikes: int | None,
        n_low_outliers: int | None,
        mp_soft_rank: float | None,
        mp_ks_distance: float | None,
        mp_ks_pvalue: float | None,
        bulk: str | None,
        spread: float | None,
        population_shape: tuple[float, float] | None,
        bulk_is_mp: bool | None,
        bulk_ks_distance: float | None,
        bulk_ks_pvalue: float | None,
        mp_n_spikes: int | None,
        porter_thomas_boundary: int | None,
        mean_r: float | None,
        spectral_norm: float | None,
        frobenius_norm: float | None,
        stable_rank: float | None,
        effective_rank: float | None,
        entropy: float | None,
        alpha: float | None,
        alpha_stderr: float | None,
        alpha_xmin: float | None,
        alpha_xmax: float | None,
        alpha_n_tail: int | None,
        alpha_ks_distance: float | None,
        alpha_likelihood_ratio: float | None,
        power_law_like: bool | None,
        alpha_note: str | None,
        route: str,
        route_note: str | None,
        error: str | None,
        singular_values: _F64,
    ) -> Self: ...
    @property
    def ok(self) -> bool: ...
    @property
    def spikes(self) -> _F64: ...
    @staticmethod
    def failed(
        name: str, tensor_name: str, layer_type: str, rows: int, cols: int, error: str, *, block: int | None = None,
        role: str = ..., head: int | None = None,
    ) -> LayerReport: ...
    def to_dict(self, arrays: bool = True, **legacy: bool) -> dict[str, Any]: ...

@final
class LayerComparison:
    FIELDS: ClassVar[list[str]]
    SCALAR_FIELDS: ClassVar[list[str]]
    name: str
    block: int | None
    role: str
    head: int | None
    status: str
    shape_a: tuple[int, int] | None
    shape_b: tuple[int, int] | None
    sigma_a: float | None
    sigma_b: float | None
    alpha_a: float | None
    alpha_b: float | None
    n_spikes_a: int | None
    n_spikes_b: int | None
    update_spikes: int | None
    update_sigma: float | None
    update_spectral_norm: float | None
    update_frobenius: float | None
    relative_update: float | None
    overlap_left: float | None
    overlap_right: float | None
    overlap_k: int | None
    error: str | None
    update: LayerReport | None
    def __new__(
        cls,
        *,
        name: str,
        block: int | None,
        role: str,
        head: int | None,
        status: str,
        shape_a: tuple[int, int] | None,
        shape_b: tuple[int, int] | None,
        sigma_a: float | None,
        sigma_b: float | None,
        alpha_a: float | None,
        alpha_b: float | None,
        n_spikes_a: int | None,
        n_spikes_b: int | None,
        update_spikes: int | None,
        update_sigma: float | None,
        update_spectral_norm: float | None,
        update_frobenius: float | None,
        relative_update: float | None,
        overlap_left: float | None,
        overlap_right: float | None,
        overlap_k: int | None,
        error: str | None,
        update: LayerReport | None,
    ) -> Self: ...
    @property
    def ok(self) -> bool: ...
    def to_dict(self, arrays: bool = True, **legacy: bool) -> dict[str, Any]: ...

@final
class ShrinkRecord:
    FIELDS: ClassVar[list[str]]
    method: str
    shape: tuple[int, int]
    sigma: float | None
    sigma_method: str | None
    bulk_edges: tuple[float, float] | None
    spike_threshold: float | None
    n_spikes: int | None
    bulk: str | None
    spread: float | None
    threshold: float | None
    pt_boundary: int | None
    kept_rank: int
    kept_energy: float
    relative_change: float
    decomposition: str
    route: str
    route_note: str | None
    singular_values: _F64
    shrunk_singular_values: _F64
    def __new__(
        cls,
        *,
        method: str,
        shape: tuple[int, int],
        sigma: float | None,
        sigma_method: str | None,
        bulk_edges: tuple[float, float] | None,
        spike_threshold: float | None,
        n_spikes: int | None,
        bulk: str | None,
        spread: float | None,
        threshold: float | None,
        pt_boundary: int | None,
        kept_rank: int,
        kept_energy: float,
        relative_change: float,
        decomposition: str,
        route: str,
        route_note: str | None,
        singular_values: _F64,
        shrunk_singular_values: _F64,
    ) -> Self: ...
    @property
    def rank(self) -> int: ...
    def to_dict(self, arrays: bool = True, **legacy: bool) -> dict[str, Any]: ...

@final
class MarginSummary:
    FIELDS: ClassVar[list[str]]
    count: int
    mean: float
    std: float
    min: float
    max: float
    quantiles: MappingProxyType[float, float]
    q1: float
    median: float
    q3: float
    upper_fence: float
    lower_fence: float
    skewness: float
    kurtosis: float
    fraction_positive: float
    auc: float
    n_infinite: int
    def __new__(
        cls,
        *,
        count: int,
        mean: float,
        std: float,
        min: float,
        max: float,
        quantiles: Mapping[float, float],
        q1: float,
        median: float,
        q3: float,
        upper_fence: float,
        lower_fence: float,
        skewness: float,
        kurtosis: float,
        fraction_positive: float,
        auc: float,
        n_infinite: int,
    ) -> Self: ...
    @property
    def iqr(self) -> float: ...
    @property
    def signature(self) -> _F64: ...
    @property
    def moments(self) -> _F64: ...
    def to_dict(self, arrays: bool = True, **legacy: bool) -> dict[str, Any]: ...

@final
class GDVResult:
    FIELDS: ClassVar[list[str]]
    value: float
    intra: float
    inter: float
    classes: tuple[int, ...]
    def __new__(
        cls, *, value: float, intra: float, inter: float, classes: tuple[int, ...]) -> Self: ...
    def to_dict(self, arrays: bool = True, **legacy: bool) -> dict[str, Any]: ...

@final
class LADFit:
    FIELDS: ClassVar[list[str]]
    coef: _F64
    intercept: float
    loss: float
    objective: float
    quantile: float
    n_pivots: int
    status: str
    basis: tuple[int, ...]
    def __new__(
        cls, *, coef: _F64, intercept: float, loss: float, objective: float, quantile: float, n_pivots: int,
        status: str, basis: tuple[int, ...]) -> Self: ...
    def to_dict(self, arrays: bool = True, **legacy: bool) -> dict[str, Any]: ...

@final
class DescentTrace:
    FIELDS: ClassVar[list[str]]
    loss: _F64
    step: _F64
    regions_tried: _F64
    extrapolated: _F64
    def __new__(cls, *, loss: _F64, step: _F64, regions_tried: _F64, extrapolated: _F64) -> Self: ...
    def to_dict(self, arrays: bool = True, **legacy: bool) -> dict[str, Any]: ...

@final
class VertexDescentResult:
    FIELDS: ClassVar[list[str]]
    weight: Any
    bias: _F64
    loss: float
    initial_loss: float
    phase1_loss: float
    status: str
    n_vertices: int
    n_params: int
    extrapolated_loss: float
    trace: DescentTrace
    active: tuple[tuple[int, int, int], ...]
    max_drift: float
    degenerate_steps: int
    seconds: float
    def __new__(
        cls, *, weight: Any, bias: _F64, loss: float, initial_loss: float, phase1_loss: float, status: str,
        n_vertices: int, n_params: int, extrapolated_loss: float, trace: DescentTrace,
        active: tuple[tuple[int, int, int], ...], max_drift: float, degenerate_steps: int, seconds: float) -> Self: ...
    def to_dict(self, arrays: bool = True, **legacy: bool) -> dict[str, Any]: ...

@final
class TotalVariation:
    def __init__(self) -> None: ...
    def update(self, batch: _ArrayLike) -> None: ...
    def merge(self, other: TotalVariation) -> None: ...
    @property
    def count(self) -> int: ...
    @property
    def dim(self) -> int: ...
    @property
    def value(self) -> float: ...
    @property
    def mean(self) -> _F64: ...

def singular_values(W: _ArrayLike, decomposition: str = ...) -> Any: ...
def mp_pdf(s: Any, shape: _Shape, sigma: float, *, spread: float = ..., population_shape: tuple[float, float] = ...) -> Any: ...
def mp_cdf(s: Any, shape: _Shape, sigma: float, *, spread: float = ..., population_shape: tuple[float, float] = ...) -> Any: ...
def mp_quantile(p: Any, shape: _Shape, sigma: float, *, spread: float = ..., population_shape: tuple[float, float] = ...) -> Any: ...
def fit_mp(
    W_or_singular_values: _ArrayLike,
    shape: _Shape | None = None,
    sigma: float | None = None,
    *,
    sigma_method: str = ...,
    spike_confidence: float = ...,
    bulk: str = ...,
) -> MPFit: ...
def level_statistics(
    W_or_singular_values: _ArrayLike, shape: _Shape | None = None, sigma: float | None = None, *, window: int = ...
) -> LevelStatistics: ...
def porter_thomas(W: _ArrayLike, *, decomposition: str = ..., window: int = ..., alpha: float = ...) -> PorterThomasResult: ...
@overload
def analyze_spectra(  # type: ignore[overload-overlap]  # a Mapping is also an Iterable
    matrices: Mapping[Any, _ArrayLike],
    *,
    sigma: float | None = None,
    sigma_method: str = ...,
    spike_confidence: float = ...,
    bulk: str = ...,
    decomposition: str = ...,
    level_statistics: bool = ...,
    porter_thomas: bool = ...,
    window: int = ...,
    alpha: float = ...,
    errors: str = ...,
    max_working_bytes: int = ...,
) -> dict[str, SpectrumAnalysis]: ...
@overload
def analyze_spectra(
    matrices: Iterable[_ArrayLike],
    *,
    sigma: float | None = None,
    sigma_method: str = ...,
    spike_confidence: float = ...,
    bulk: str = ...,
    decomposition: str = ...,
    level_statistics: bool = ...,
    porter_thomas: bool = ...,
    window: int = ...,
    alpha: float = ...,
    errors: str = ...,
    max_working_bytes: int = ...,
) -> list[SpectrumAnalysis]: ...
def analyze_layers(
    matrices: _Matrices,
    *,
    tensor_names: Sequence[str] | None = None,
    layer_types: Sequence[str] | None = None,
    blocks: Sequence[int | None] | None = None,
    roles: Sequence[str] | None = None,
    heads: Sequence[int | None] | None = None,
    spike_confidence: float = ...,
    bulk: str = ...,
    decomposition: str = ...,
    route: str = ...,
    level_statistics: bool = ...,
    porter_thomas: bool = ...,
    window: int = ...,
    alpha: float = ...,
    min_tail: int = ...,
    min_span: float = ...,
    errors: str = ...,
    max_working_bytes: int = ...,
) -> Any: ...
def analyze_decomposed_layers(
    singular_values: Mapping[Any, _ArrayLike],
    shapes: Sequence[tuple[int, int]],
    *,
    vectors: Sequence[tuple[_ArrayLike, _ArrayLike]] | None = None,
    tensor_names: Sequence[str] | None = None,
    layer_types: Sequence[str] | None = None,
    blocks: Sequence[int | None] | None = None,
    roles: Sequence[str] | None = None,
    heads: Sequence[int | None] | None = None,
    spike_confidence: float = ...,
    bulk: str = ...,
    level_statistics: bool = ...,
    porter_thomas: bool = False,
    window: int = ...,
    alpha: float = ...,
    min_tail: int = ...,
    min_span: float = ...,
    errors: str = ...,
) -> dict[str, LayerReport]: ...
def subspace_overlap(A: _ArrayLike, B: _ArrayLike, *, k: int = ...) -> tuple[float, float, int]: ...
def shrink(
    W: _ArrayLike,
    method: str = ...,
    sigma: float | None = None,
    *,
    sigma_method: str | None = None,
    spike_confidence: float | None = None,
    decomposition: str | None = None,
    route: str | None = None,
    fraction: float | None = None,
    derepel: bool | None = None,
    window: int | None = None,
    alpha: float | None = None,
    bulk: str | None = None,
    rank: int | None = None,
    **unknown: Any,
) -> Any: ...
def shrink_with_record(
    W: _ArrayLike,
    method: str = ...,
    sigma: float | None = None,
    *,
    sigma_method: str | None = None,
    spike_confidence: float | None = None,
    decomposition: str | None = None,
    route: str | None = None,
    fraction: float | None = None,
    derepel: bool | None = None,
    window: int | None = None,
    alpha: float | None = None,
    bulk: str | None = None,
    rank: int | None = None,
    **unknown: Any,
) -> tuple[Any, ShrinkRecord]: ...
def shrink_many(
    matrices: _Matrices,
    method: str = ...,
    sigma: float | None = None,
    *,
    errors: str = ...,
    max_working_bytes: int = ...,
    sigma_method: str | None = None,
    spike_confidence: float | None = None,
    decomposition: str | None = None,
    route: str | None = None,
    fraction: float | None = None,
    derepel: bool | None = None,
    window: int | None = None,
    alpha: float | None = None,
    bulk: str | None = None,
    rank: int | None = None,
    **unknown: Any,
) -> Any: ...
def shrink_decomposed(
    singular_values: _ArrayLike,
    shape: _Shape,
    method: str = ...,
    sigma: float | None = None,
    *,
    vectors: tuple[_ArrayLike, _ArrayLike] | None = None,
    sigma_method: str | None = None,
    spike_confidence: float | None = None,
    fraction: float | None = None,
    derepel: bool | None = None,
    window: int | None = None,
    alpha: float | None = None,
    bulk: str | None = None,
    rank: int | None = None,
    **unknown: Any,
) -> ShrinkRecord: ...
def optimal_hard_threshold(shape: _Shape, sigma: float | None = None, singular_values: _ArrayLike | None = None) -> float: ...
def margins(logits: _ArrayLike, labels: _ArrayLike, kind: str = ..., *, top_k: int = ...) -> Any: ...
def margin_summary(
    m: _ArrayLike, quantiles: float | Sequence[float] | None = None, *, positive_only: bool = False
) -> MarginSummary: ...
def lowest_margins(m: _ArrayLike, k: int | None = None, *, fraction: float | None = None) -> Any: ...
@overload
def gdv(X: _ArrayLike, labels: _ArrayLike, *, components: Literal[False] = False) -> float: ...
@overload
def gdv(X: _ArrayLike, labels: _ArrayLike, *, components: Literal[True]) -> GDVResult: ...
def slab_counts(X: _ArrayLike, directions: _ArrayLike, offsets: _ArrayLike, deltas: _ArrayLike) -> npt.NDArray[np.int64]: ...

@final
class Slab:
    FIELDS: ClassVar[list[str]]
    direction: _F64
    offset: float
    delta: float
    inner: int
    outer: int
    ratio: float
    source: str
    def __new__(
        cls, *, direction: _F64, offset: float, delta: float, inner: int, outer: int, ratio: float, source: str
    ) -> Self: ...
    def to_dict(self, arrays: bool = True, **legacy: bool) -> dict[str, Any]: ...

@final
class DoublingResult:
    FIELDS: ClassVar[list[str]]
    deltas: _F64
    constant_by_delta: _F64
    slabs_by_delta: npt.NDArray[np.int64]
    mean_ratio_by_delta: _F64
    constant: float
    constant_without_search: float
    worst: Slab
    ratios: _F64
    directions: _F64
    sources: tuple[str, ...]
    min_points: int
    n_points: int
    by_class: MappingProxyType[int, DoublingResult | None] | None
    def __new__(
        cls,
        *,
        deltas: _F64,
        constant_by_delta: _F64,
        slabs_by_delta: npt.NDArray[np.int64],
        mean_ratio_by_delta: _F64,
        constant: float,
        constant_without_search: float,
        worst: Slab,
        ratios: _F64,
        directions: _F64,
        sources: tuple[str, ...],
        min_points: int,
        n_points: int,
        by_class: Mapping[int, DoublingResult | None] | None,
    ) -> Self: ...
    def constant_up_to(self, delta0: float) -> float: ...
    def plot(self, X: _ArrayLike | None = None, *, path: Any = None) -> Any: ...
    def to_dict(self, arrays: bool = True, **legacy: bool) -> dict[str, Any]: ...

def doubling_condition(
    X: _ArrayLike,
    labels: _ArrayLike | None = None,
    deltas: _ArrayLike | None = None,
    min_points: int | None = None,
    n_directions: int = ...,
    seed: int = ...,
    model: Any = None,
    *,
    directions: _ArrayLike | None = None,
    search: bool = True,
    progress: Any = None,
) -> DoublingResult: ...
def lad_fit(
    X: _ArrayLike, y: _ArrayLike, fit_intercept: bool = ..., quantile: float = ..., *, max_pivots: int | None = None
) -> LADFit: ...
def l1_vertex_descent(
    weights: Sequence[_ArrayLike],
    biases: Sequence[_ArrayLike],
    activations: Sequence[str | tuple[str, float]],
    X: _ArrayLike,
    y: _ArrayLike,
    layer: int = ...,
    *,
    max_vertices: int | None = None,
    time_limit: float | None = None,
    window: int = ...,
) -> VertexDescentResult: ...
