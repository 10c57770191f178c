"""Survey statistics: Wilson score intervals for rates and Cochran sample sizes."""

from __future__ import annotations

import math

Z95 = 1.959963984540054
_EPSILON = 1e-9


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for successes/n (95% by default).

    With n == 0 there is no information, so the whole range (0.0, 1.0) is returned.
    The bounds are exactly 0.0 when successes == 0 and 1.0 when successes == n.
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    lower = 0.0 if successes == 0 else max(0.0, centre - half)
    upper = 1.0 if successes == n else min(1.0, centre + half)
    return lower, upper


def cochran_sample_size(population: int | None = None, margin: float = 0.05,
                        p: float = 0.5, z: float = Z95) -> int:
    """Cochran's sample size n0 = z^2 p(1-p) / e^2, with the finite population correction.

    n = n0 / (1 + (n0 - 1) / N) when a population N is given; the result is rounded up
    (a tiny tolerance absorbs float noise) and never exceeds N.
    """
    if not 0 < margin < 1:
        raise ValueError(f"margin must lie in (0, 1), got {margin}")
    if not 0 < p < 1:
        raise ValueError(f"p must lie in (0, 1), got {p}")
    if population is not None and population < 1:
        raise ValueError(f"population must be at least 1, got {population}")
    n0 = z * z * p * (1 - p) / (margin * margin)
    size = n0 if population is None else n0 / (1 + (n0 - 1) / population)
    needed = math.ceil(size - _EPSILON)
    return needed if population is None else min(needed, population)
