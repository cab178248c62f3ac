"""What values mean, whichever engine computes them: the constants and decisions the polars compiler
(backends/polars/) and the SQL compiler (backends/sql/) share, so the two cannot drift apart."""

from __future__ import annotations

from ..language.operators import Predicate

NUMBER_OPS = frozenset({"eq", "lt", "lte", "gt", "gte", "between"})
EARTH_RADIUS_KM = 6371.0088  # mean Earth radius, as the haversine package uses
EDGE_TOLERANCE_KM = 1e-9     # a visitor at the distance (to a micrometre of rounding) matches
# Sums of money in floating point depend on the order of the terms (216.95 + 82.91 + 35.46 + 89.18 + 75.5 is
# 500 or a hair under), which a parallel group-by does not fix: rounded, half away from zero as SQL's ROUND
# does, the answer does not depend on it.
SUM_DECIMALS = 9
# RFC 3986's host: after an optional scheme and `//` and an optional userinfo, up to the port, path, query
# or fragment; read ignoring case. Hosts are lower-cased in ASCII only (IDNs are punycode): every engine does
# that alike, where Unicode lower-casing differs (İ, a final Σ).
HOST_PATTERN = r"^(?:[a-z][a-z0-9+.\-]*://|//)?(?:[^@/?#]*@)?([^:/?#]+)"
ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def compares_as_number(p: Predicate, value_type: str, numeric_column: bool) -> bool:
    """Whether the predicate compares numbers: by the field's type, the operator, or (`is`/`in` with
    values that are all numbers) the column's type."""
    if value_type == "number" or p.op in NUMBER_OPS:
        return True
    if value_type == "text" or p.op not in ("is", "in"):
        return False
    try:
        [float(v) for v in (p.value if isinstance(p.value, tuple) else (p.value,))]
    except (TypeError, ValueError):
        return False
    return numeric_column
