"""BG/NBD (purchase counts and dropout) and Gamma-Gamma (spend per purchase): likelihoods, fits, predictions.

BG/NBD: Fader, Hardie & Lee (2005), "Counting your customers the easy way". A customer's history is
(x, t_x, T): repeat purchases, time of the last one and length of observation, all from the first purchase.
Gamma-Gamma: Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value", fitted on repeat buyers
with m_x, the mean value of their repeat purchases. Time is in days. Everything is vectorised numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, expit, gammaln, hyp2f1

from ..errors import DataError

MIN_REPEAT_CUSTOMERS = 2


@dataclass(frozen=True)
class FittedModels:
    r: float
    alpha: float  # days
    a: float
    b: float
    p: float
    q: float
    gamma: float
    customers: int
    repeat_customers: int

    def to_json_dict(self) -> dict:
        return {"bg_nbd": {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b, "time_unit": "days"},
                "gamma_gamma": {"p": self.p, "q": self.q, "gamma": self.gamma},
                "customers": self.customers, "repeat_customers": self.repeat_customers}


# -- BG/NBD -----------------------------------------------------------------------
def bgnbd_log_likelihood(r, alpha, a, b, x, t_x, T):
    """Each customer's log-likelihood (FHL 2005, eq. 6), summed in log space so large x stays finite."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    repeat = x > 0
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
    stayed = -(r + x) * np.log(alpha + T)
    # b + x - 1 > 0 only for repeat buyers; the others take a placeholder that np.where drops
    dropped = np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x)
    return head + np.where(repeat, np.logaddexp(stayed, dropped), stayed)


def fit_bgnbd(x, t_x, T, weights=None) -> tuple[float, float, float, float]:
    """Maximum-likelihood (r, alpha, a, b), optimised over log-parameters."""
    weights = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=float)
    total = weights.sum()

    def loss(log_params):
        ll = bgnbd_log_likelihood(*np.exp(log_params), x, t_x, T)
        value = -(weights * ll).sum() / total
        return value if np.isfinite(value) else np.inf

    return tuple(_minimize(loss, np.log([1.0, max(float(np.mean(T)), 1.0), 1.0, 1.0]), "BG/NBD"))


def p_alive(r, alpha, a, b, x, t_x, T):
    """P(still active | x, t_x, T) (FHL 2005, eq. 11): 1 for customers without a repeat purchase."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    repeat = x > 0
    log_odds = (np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0))
                + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x)))
    return np.where(repeat, expit(-log_odds), 1.0)


def expected_purchases(r, alpha, a, b, t, x, t_x, T):
    """E[X(T, T + t] | x, t_x, T] (FHL 2005, eq. 10).

    The term ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x−1; z) is taken in its Euler-transformed form
    (1−z)^(a−1) · 2F1(a+b−1−r, a−1; a+b+x−1; z), whose parameters do not grow with x."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    z = t / (alpha + T + t)
    term = (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
    numerator = (a + b + x - 1) / (a - 1) * (1 - term)
    return numerator * p_alive(r, alpha, a, b, x, t_x, T)


def p_no_purchase(r, alpha, a, b, t, x, t_x, T):
    """P(no purchase in the next t | x, t_x, T) = (1 − P(alive)) + P(alive) · ((α+T)/(α+T+t))^(r+x)."""
    alive = p_alive(r, alpha, a, b, x, t_x, T)
    return 1 - alive * p_purchase_if_alive(r, alpha, t, x, T)


def p_purchase_if_alive(r, alpha, t, x, T):
    """1 − ((α+T)/(α+T+t))^(r+x): the chance an active customer buys within t."""
    x, T = np.asarray(x, dtype=float), np.asarray(T, dtype=float)
    return -np.expm1((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))


# -- Gamma-Gamma ------------------------------------------------------------------
def gamma_gamma_log_likelihood(p, q, gamma, x, m_x):
    """Each repeat buyer's log-likelihood of the mean value m_x of x purchases (Fader & Hardie 2013)."""
    x, m_x = np.asarray(x, dtype=float), np.asarray(m_x, dtype=float)
    return (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(gamma)
            + (p * x - 1) * np.log(m_x) + p * x * np.log(x) - (p * x + q) * np.log(gamma + m_x * x))


def fit_gamma_gamma(x, m_x) -> tuple[float, float, float]:
    """Maximum-likelihood (p, q, gamma), optimised over log-parameters."""
    def loss(log_params):
        value = -gamma_gamma_log_likelihood(*np.exp(log_params), x, m_x).mean()
        return value if np.isfinite(value) else np.inf

    return tuple(_minimize(loss, np.log([1.0, 1.0, max(float(np.mean(m_x)), 1.0)]), "Gamma-Gamma"))


def expected_value(p, q, gamma, x, m_x):
    """E[M | x, m_x]: the mean value of a future purchase; the population mean p·γ/(q−1) for x = 0."""
    x = np.asarray(x, dtype=float)
    m_x = np.where(x > 0, np.nan_to_num(np.asarray(m_x, dtype=float)), 0.0)
    return (gamma + m_x * x) * p / (p * x + q - 1)


# -- both -------------------------------------------------------------------------
def fit_models(x, t_x, T, m_x) -> FittedModels:
    """Fit BG/NBD on every customer and Gamma-Gamma on the repeat buyers with a positive mean value."""
    x, t_x, T, m_x = (np.asarray(v, dtype=float) for v in (x, t_x, T, m_x))
    spenders = (x > 0) & (np.nan_to_num(m_x) > 0)
    repeat = int(spenders.sum())
    if repeat < MIN_REPEAT_CUSTOMERS:
        raise DataError(f"predictions need at least {MIN_REPEAT_CUSTOMERS} customers who bought on two or more "
                        f"days with an order value to fit the models; found {len(x)} customers, {repeat} such")
    # customers with the same history are one likelihood term, weighted by their number
    histories, counts = np.unique(np.column_stack([x, t_x, T]), axis=0, return_counts=True)
    r, alpha, a, b = fit_bgnbd(histories[:, 0], histories[:, 1], histories[:, 2], counts)
    p, q, gamma = fit_gamma_gamma(x[spenders], m_x[spenders])
    if q <= 1:
        raise DataError(f"the Gamma-Gamma spend model has no finite mean on this data (q = {q:.3g} <= 1): "
                        "order values vary too much between customers to value them")
    return FittedModels(r, alpha, a, b, p, q, gamma, len(x), repeat)


def _minimize(loss, start, model: str) -> list[float]:
    result = minimize(loss, start, method="Nelder-Mead",
                      options={"xatol": 1e-7, "fatol": 1e-10, "maxiter": 20_000, "maxfev": 20_000})
    params = np.exp(result.x)
    if not np.isfinite(result.fun) or not np.all(np.isfinite(params)):
        raise DataError(f"the {model} model could not be fitted on this data")
    return [float(v) for v in params]
