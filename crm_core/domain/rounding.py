"""How a shown figure is rounded (docs/metrics.md): a share to 4 places, an average to
one (or `digits`); neither exists without a denominator."""

from __future__ import annotations


def ratio(part: int, whole: int) -> float | None:
    """`part / whole` rounded to 4 places; None without a whole."""
    return round(part / whole, 4) if whole > 0 else None


def average(total: float, count: int, digits: int = 1) -> float | None:
    """`total / count` rounded to `digits` places; None without a count."""
    return round(total / count, digits) if count > 0 else None
