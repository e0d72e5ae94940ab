"""Customers of one block: geography, birth dates, spend level, taste and purchase times."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recompra.generate.bgnbd import RepeatPurchases, simulate_repeat_purchases
from recompra.generate.catalog import Catalog
from recompra.generate.config import GeneratorConfig
from recompra.generate.reference import STATES

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND

#: Flat city list, the state position of each city, and each state's first city / count.
CITY_NAMES: tuple[str, ...] = tuple(city for state in STATES for city in state.cities)
CITY_STATE = np.repeat(
    np.arange(len(STATES), dtype=np.int64), [len(state.cities) for state in STATES]
)
STATE_CITY_COUNT = np.array([len(state.cities) for state in STATES], dtype=np.int64)
STATE_CITY_OFFSET = np.concatenate(([0], np.cumsum(STATE_CITY_COUNT)[:-1])).astype(np.int64)
STATE_CODES: tuple[str, ...] = tuple(state.code for state in STATES)


def to_us(config: GeneratorConfig) -> tuple[int, int]:
    """Return the period ``[start, end)`` as microseconds since the Unix epoch."""
    return (
        round(config.start.timestamp() * US_PER_SECOND),
        round(config.end.timestamp() * US_PER_SECOND),
    )


@dataclass(frozen=True)
class CustomerBlock:
    """A block of consecutive customers and their purchases (canceled orders excluded).

    Attributes
    ----------
    customer_id
        Global ids.
    acquired_us
        Acquisition time (the first order), microseconds since the epoch.
    state, city
        Positions in ``STATES`` and ``CITY_NAMES``.
    birth_days
        Birth date, days since the epoch.
    mean_spend
        True mean basket value (BRL) of each customer.
    favourite, bias
        Favourite category position, and the probability that an order starts there.
    horizon
        Observation length since acquisition, BG/NBD time units.
    repeats
        The simulated BG/NBD truth.
    purchase_owner, purchase_us
        One entry per purchase (acquisition included): local customer position and time.
    """

    customer_id: IntArray
    acquired_us: IntArray
    state: IntArray
    city: IntArray
    birth_days: npt.NDArray[np.int32]
    mean_spend: FloatArray
    favourite: IntArray
    bias: FloatArray
    horizon: FloatArray
    repeats: RepeatPurchases
    purchase_owner: IntArray
    purchase_us: IntArray


def generate_customers(
    rng: np.random.Generator,
    config: GeneratorConfig,
    catalog: Catalog,
    *,
    first_id: int,
    n: int,
) -> CustomerBlock:
    """Draw ``n`` customers with ids ``first_id, first_id + 1, ...`` and their purchases.

    Parameters
    ----------
    rng
        The block's random generator.
    config
        Generator configuration.
    catalog
        Used to draw each customer's favourite category.
    first_id, n
        Id of the first customer and block size.

    Returns
    -------
    CustomerBlock
        Customers with their BG/NBD truth and purchase times.
    """
    start_us, end_us = to_us(config)
    span = end_us - start_us
    acquired = start_us + np.floor(rng.random(n) * span).astype(np.int64)
    unit_us = config.unit_seconds * US_PER_SECOND
    horizon = (end_us - acquired) / unit_us

    population = np.array([state.population for state in STATES])
    state_cdf = np.cumsum(population) / population.sum()
    state = np.minimum(
        np.searchsorted(state_cdf, rng.random(n), side="right"), len(STATES) - 1
    ).astype(np.int64)
    u = rng.random(n)
    others = STATE_CITY_COUNT[state] - 1
    pick = np.where(
        (u < 0.5) | (others == 0),
        0,
        1 + np.minimum((2.0 * u - 1.0) * others, others - 1).astype(np.int64),
    )
    city = STATE_CITY_OFFSET[state] + pick

    age_years = np.minimum(18.0 + rng.gamma(4.0, 4.5, n), 85.0)
    birth_days = (acquired // US_PER_DAY - np.round(age_years * 365.25)).astype(np.int32)

    nu = rng.gamma(config.spend_q, 1.0 / config.spend_gamma, n)
    mean_spend = config.spend_p / nu
    favourite = catalog.sample_categories(rng, n)
    bias = np.where(rng.random(n) < config.loyal_share, config.favourite_bias, 0.0)

    repeats = simulate_repeat_purchases(rng, config, horizon)
    offsets = np.floor(repeats.times * unit_us).astype(np.int64)
    repeat_us = np.minimum(acquired[repeats.owner] + offsets, end_us - 1)
    return CustomerBlock(
        customer_id=np.arange(first_id, first_id + n, dtype=np.int64),
        acquired_us=acquired,
        state=state,
        city=city,
        birth_days=birth_days,
        mean_spend=mean_spend,
        favourite=favourite,
        bias=bias,
        horizon=horizon,
        repeats=repeats,
        purchase_owner=np.concatenate((np.arange(n, dtype=np.int64), repeats.owner)),
        purchase_us=np.concatenate((acquired, repeat_us)),
    )
