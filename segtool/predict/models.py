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
MAX_EVALUATIONS = 4_000  # CDNOW's fits take 441 and 817


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
    return _bgnbd_ll(r, alpha, a, b, *np.unique(x, return_inverse=True), x, t_x, T)


def _bgnbd_ll(r, alpha, a, b, counts, index, x, t_x, T):
    """The log-likelihood with the terms that depend on x alone computed once per distinct x (`counts`,
    with x = counts[index]): histories share few purchase counts, so a fit's evaluations stay cheap."""
    head = (gammaln(r + counts) - gammaln(r) + r * np.log(alpha) + betaln(a, b + counts) - betaln(a, b))[index]
    # b + x - 1 > 0 only for repeat buyers; the others take a placeholder that np.where drops
    drop = (np.log(a) - np.log(np.where(counts > 0, b + counts - 1, 1.0)))[index]
    stayed = -(r + x) * np.log(alpha + T)
    dropped = drop - (r + x) * np.log(alpha + t_x)
    return head + np.where(x > 0, np.logaddexp(stayed, dropped), stayed)


def fit_bgnbd(x, t_x, T, weights=None) -> tuple[float, float, float, float]:
    """Maximum-likelihood (r, alpha, a, b), optimised over log-parameters."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    weights = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=float)
    total = weights.sum()
    counts, index = np.unique(x, return_inverse=True)

    def loss(log_params):
        ll = _bgnbd_ll(*np.exp(log_params), counts, index, x, t_x, T)
        value = -(weights * ll).sum() / total
        return value if np.isfinite(value) else np.inf

    return tuple(_minimize(loss, np.log([1.0, max(float(np.mean(T)), 1.0), 1.0, 1.0]), "BG/NBD"))


def p_alive(r, alpha, a, b, x, t_x, T):
    """P(still active | x, t_x, T) (FHL 2005, eq. 11): 1 for customers without a repeat purchase."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    repeat = x > 0
    log_odds = (np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0))
                + (r + x) * np.log1p((T - t_x) / (alpha + t_x)))
    return np.where(repeat, expit(-log_odds), 1.0)


def expected_purchases(r, alpha, a, b, t, x, t_x, T):
    """E[X(T, T + t] | x, t_x, T] (FHL 2005, eq. 10).

    The term ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x−1; z) is taken in its Euler-transformed form
    (1−z)^(a−1) · 2F1(a+b−1−r, a−1; a+b+x−1; z), whose parameters do not grow with x; where that is not
    finite (a and b in the thousands, as when the customers barely differ), in its original form."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    z = t / (alpha + T + t)
    with np.errstate(all="ignore"):
        term = (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
        direct = (1 - z) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    term = np.where(np.isfinite(term), term, direct)
    lost = ~np.isfinite(term)
    if lost.any():  # r and α in the billions (customers who barely differ): neither closed form is finite
        term[lost] = _direct_series(r, a, b, x[lost], z[lost])
    numerator = (a + b + x - 1) / (a - 1) * (1 - term)
    return numerator * p_alive(r, alpha, a, b, x, t_x, T)


def _direct_series(r, a, b, x, z, max_terms: int = 1_000_000):
    """(1−z)^(r+x) · 2F1(r+x, b+x; a+b+x−1; z) summed term by term in log space (every term is positive), for
    the parameters where scipy's hyp2f1 overflows. Stops once the terms shrink and add less than e^−40."""
    big, small, c = r + x, b + x, a + b + x - 1
    log_z = np.log(z)
    log_term = big * np.log1p(-z)
    total = log_term.copy()
    for n in range(max_terms):
        step = np.log(big + n) + np.log(small + n) - np.log(c + n) - np.log(n + 1.0) + log_z
        log_term = log_term + step
        total = np.logaddexp(total, log_term)
        if np.all((step < 0) & (log_term - total < -40)):
            break
    return np.exp(total)


def p_no_purchase(r, alpha, a, b, t, x, t_x, T):
    """P(no purchase in the next t | x, t_x, T) = (1 − P(alive)) + P(alive) · ((α+T)/(α+T+t))^(r+x)."""
    alive = p_alive(r, alpha, a, b, x, t_x, T)
    return 1 - alive * p_purchase_if_alive(r, alpha, t, x, T)


def p_purchase_if_alive(r, alpha, t, x, T):
    """1 − ((α+T)/(α+T+t))^(r+x): the chance an active customer buys within t."""
    x, T = np.asarray(x, dtype=float), np.asarray(T, dtype=float)
    return -np.expm1(-(r + x) * np.log1p(t / (alpha + T)))


# -- Gamma-Gamma ------------------------------------------------------------------
def gamma_gamma_log_likelihood(p, q, gamma, x, m_x):
    """Each repeat buyer's log-likelihood of the mean value m_x of x purchases (Fader & Hardie 2013)."""
    x, m_x = np.asarray(x, dtype=float), np.asarray(m_x, dtype=float)
    return _gamma_gamma_ll(p, q, gamma, *np.unique(x, return_inverse=True), x, m_x, np.log(m_x))


def _gamma_gamma_ll(p, q, gamma, counts, index, x, m_x, log_m_x):
    """The log-likelihood with the terms of x alone computed once per distinct x (x = counts[index])."""
    px = p * counts
    head = (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(gamma) + px * np.log(counts))[index]
    return head + (p * x - 1) * log_m_x - (p * x + q) * np.log(gamma + m_x * x)


def fit_gamma_gamma(x, m_x) -> tuple[float, float, float]:
    """Maximum-likelihood (p, q, gamma), optimised over log-parameters."""
    x, m_x = np.asarray(x, dtype=float), np.asarray(m_x, dtype=float)
    counts, index = np.unique(x, return_inverse=True)
    log_m_x = np.log(m_x)

    def loss(log_params):
        value = -_gamma_gamma_ll(*np.exp(log_params), counts, index, x, m_x, log_m_x).mean()
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
    """Nelder-Mead over log-parameters. Where the data cannot tell some parameters apart (customers who barely
    differ drive a, b or q, gamma towards infinity along a flat ridge), the search stops once it is far out on
    that ridge and no longer gaining, and the point reached is used: any point on the ridge predicts the same."""
    result = minimize(loss, start, method="Nelder-Mead", callback=_OnRidge(),
                      options={"xatol": 1e-7, "fatol": 1e-10, "maxiter": MAX_EVALUATIONS, "maxfev": MAX_EVALUATIONS})
    params = np.exp(result.x)
    if not np.isfinite(result.fun) or not np.all(np.isfinite(params)):
        raise DataError(f"the {model} model could not be fitted on this data")
    return [float(v) for v in params]


class _OnRidge:
    """Stops a search with a parameter above 1e6 (or below 1e-6) whose loss, a mean log-likelihood per
    customer, gained less than 1e-8 in the last 100 steps."""

    FAR, STEPS, GAIN = np.log(1e6), 100, 1e-8

    def __init__(self):
        self.losses = []

    def __call__(self, intermediate_result):
        self.losses.append(intermediate_result.fun)
        if (np.abs(intermediate_result.x).max() > self.FAR and len(self.losses) > self.STEPS
                and self.losses[-self.STEPS - 1] - self.losses[-1] < self.GAIN):
            raise StopIteration
