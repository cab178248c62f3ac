"""Per-visitor predictions: the purchase summary collected once, the models fitted on its customers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from ..inputs.tables import VID, Inputs
from ..inputs.source import collect, known_visitors
from ..errors import DataError
from ..language.timeframe import AsOf
from .models import FittedModels, expected_purchases, expected_value, fit_models, p_alive, p_purchase_if_alive
from .summary import purchase_summary

HORIZON_DAYS = 365.0   # expected conversions and CLV look this far ahead
POTENTIAL_DAYS = 30.0  # conversion potential: the chance of a conversion within this many days
COLUMNS = ("conversion_potential", "expected_conversions", "p_alive", "clv")
MODELS_FOR = {"conversion_potential": "BG/NBD", "expected_conversions": "BG/NBD", "p_alive": "BG/NBD",
              "clv": "BG/NBD + Gamma-Gamma"}


@dataclass
class Predictions:
    frame: pl.DataFrame  # visitor_id and COLUMNS, one row per visitor of the universe, sorted by visitor_id
    models: FittedModels


def predict_visitors(inputs: Inputs, as_of: AsOf, horizon_days: float = HORIZON_DAYS) -> Predictions:
    """Fit BG/NBD and Gamma-Gamma on the visitors who converted, then predict for every visitor."""
    summary = known_visitors(collect(purchase_summary(inputs, as_of).sort(VID), inputs))
    x, t_x, T, m_x = (summary[c].to_numpy() for c in ("x", "t_x", "T", "m_x"))
    customer = summary["customer"].to_numpy()
    if not customer.any():
        raise DataError("predictions need customers, but no visitor has a conversion up to as_of",
                        file=inputs.events.label)
    models = fit_models(x[customer], t_x[customer], T[customer], m_x[customer])
    bg = (models.r, models.alpha, models.a, models.b)
    alive = p_alive(*bg, x, t_x, T)
    expected = expected_purchases(*bg, horizon_days, x, t_x, T)
    potential = 100 * alive * p_purchase_if_alive(models.r, models.alpha, POTENTIAL_DAYS, x, T)
    value = expected_value(models.p, models.q, models.gamma, x, m_x)
    unusable = ~np.isfinite(expected * value) | ~np.isfinite(potential)
    if unusable.any():
        raise DataError(f"the fitted models give no finite prediction for {int(unusable.sum()):,} visitors; "
                        f"see the parameters with `segtool predict --params`", file=inputs.events.label)
    frame = summary.select(VID).with_columns(
        pl.Series("conversion_potential", np.clip(potential, 0.0, 100.0)),
        pl.Series("expected_conversions", expected),
        pl.Series("p_alive", alive),
        pl.Series("clv", expected * value),
    )
    return Predictions(frame, models)


def source_note(column: str, models: FittedModels) -> str:
    """How a computed column came about, for `explain` and the run summary."""
    return f"computed from events ({MODELS_FOR[column]}, fitted on {models.customers:,} customers)"
