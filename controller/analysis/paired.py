"""Shadow mode is paired: both models answer the same requests, so accuracy from labels is
compared on the pairs (pure).

Each labelled request gives the shadow-minus-primary difference d in {-1, 0, +1}: +1 where only
the shadow was right (c of them), -1 where only the primary was (b), 0 where they agree. The
mean of d is the accuracy difference (c - b) / n and its sum of squares b + c: a paired mean
the sequential test judges like any other (always valid however often it looks). McNemar's
test on the discordant pairs is the classic fixed-horizon form, shown for information.
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy import stats

from controller.analysis.types import MeanObservation

# A paired difference has no second arm: the primary is the reference, exactly 0 with no
# variance, known from "this many" pairs (only its size matters to the core, never its data).
REFERENCE_PAIRS = 10**9
NO_DIFFERENCE = MeanObservation(REFERENCE_PAIRS, 0.0, 0.0)
# With no discordant pair yet the paired variance would be exactly 0 and the test could never
# move: half a discordant pair keeps it positive (as proportion_variance's half-count does).
HALF_PAIR = 0.5


@dataclass(frozen=True, slots=True)
class Pairs:
    """Labelled requests answered by both: n in all, b primary-only right, c shadow-only."""

    n: int
    b: int
    c: int

    def __post_init__(self) -> None:
        if min(self.n, self.b, self.c) < 0 or self.b + self.c > self.n:
            raise ValueError(f"need 0 <= b + c <= n, got n={self.n} b={self.b} c={self.c}")

    @property
    def difference(self) -> MeanObservation:
        """The shadow-minus-primary difference per pair, as count, sum and sum of squares."""
        return MeanObservation(self.n, float(self.c - self.b),
                               float(max(self.b + self.c, HALF_PAIR)))


@dataclass(frozen=True, slots=True)
class McNemar:
    statistic: float
    p_value: float


def mcnemar(b: int, c: int) -> McNemar:
    """McNemar's chi-square with continuity correction on the discordant pairs:
    X^2 = (|b - c| - 1)^2 / (b + c), one degree of freedom."""
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be >= 0")
    if b + c == 0:
        return McNemar(0.0, 1.0)
    statistic = max(abs(b - c) - 1, 0) ** 2 / (b + c)
    return McNemar(float(statistic), float(stats.chi2.sf(statistic, 1)))


def mcnemar_note(pairs: Pairs) -> str:
    test = mcnemar(pairs.b, pairs.c)
    return (f"{pairs.n} labelled pairs: candidate alone right {pairs.c}, stable alone right "
            f"{pairs.b}; McNemar χ² {test.statistic:.3g}, p={test.p_value:.2g} "
            "(fixed-horizon, for information)")
