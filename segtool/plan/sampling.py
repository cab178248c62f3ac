"""Stable samples and splits of visitors: a visitor's bucket is the same on every machine and engine.

bucket(seed, visitor_id) = int(md5(seed + ":" + visitor_id)[:8], 16) mod 10000, a number from 0 to 9999. A
sample of p percent holds the visitors whose bucket is below p × 100 (`buckets_below`); a split of shares
90:10 gives part a the buckets below 9000 and part b the rest. SQL engines compute md5 too, so the same
visitors can be picked there.
"""

from __future__ import annotations

import hashlib
import math
from decimal import Decimal

BUCKETS = 10_000


def buckets_below(percent: float | Decimal) -> int:
    """How many buckets a share of `percent` holds: the whole numbers below percent × 100, worked out on the
    decimal number as written (12.345 holds 0-1234; 1.1 holds 0-109, though 1.1 × 100 is a hair above 110 in
    binary floating point)."""
    return min(math.ceil(Decimal(str(percent)) * BUCKETS / 100), BUCKETS)


def bucket(seed: str, visitor_id: str) -> int:
    return int(hashlib.md5(f"{seed}:{visitor_id}".encode()).hexdigest()[:8], 16) % BUCKETS


def buckets(seed: str, visitor_ids: list[str | None]) -> list[int | None]:
    prefix, md5, number = f"{seed}:".encode(), hashlib.md5, int.from_bytes
    return [None if v is None else number(md5(prefix + v.encode()).digest()[:4], "big") % BUCKETS
            for v in visitor_ids]


def split_bounds(shares: tuple[float, ...]) -> list[tuple[int, int]]:
    """[low, high) bucket ranges of the parts of a split whose shares add up to 100."""
    bounds, low, total = [], 0, Decimal(0)
    for share in shares:
        total += Decimal(str(share))
        high = buckets_below(total)
        bounds.append((low, high))
        low = high
    return bounds
