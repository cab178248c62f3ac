"""Predictive fields computed from events: BG/NBD and Gamma-Gamma fitted on the run's customers.

`predict_visitors` gives every visitor of the universe a conversion potential, expected conversions,
P(alive) and a CLV; `segtool predict` writes them, and `segtool run` uses them for `clv` and
`conversion_potential` where the profiles do not hold those columns (config `predictive`).
"""

from .models import FittedModels
from .predictions import Predictions, predict_visitors, source_note

__all__ = ["FittedModels", "Predictions", "predict_visitors", "source_note"]
