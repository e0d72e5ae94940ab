"""The product catalogue: categories, Zipf-popular products, complements and partners."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from recompra.generate.config import GeneratorConfig
from recompra.generate.reference import CATEGORY_REFS, COMPLEMENTS, MAKERS, QUALIFIERS
from recompra.snapshot.schema import CATEGORIES, PRODUCTS

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Catalog:
    """Categories and products with the structures used to sample them.

    Attributes
    ----------
    category_weight
        Demand share of each category (sums to 1); category ``c`` has id ``c + 1``.
    product_category
        Category position of each product; product ``i`` has id ``i + 1``. Products are
        grouped by category and ordered by popularity rank inside it.
    product_price
        List price of each product (minor units).
    offsets, counts
        First product position and number of products of each category.
    zipf_cdf
        ``c + cumulative Zipf share`` of each product inside its category ``c``.
    complements, n_complements
        Complementary categories of each category (padded) and how many there are.
    partner
        The product most often bought together with each product.
    categories, products
        The snapshot tables.
    """

    category_weight: FloatArray
    product_category: IntArray
    product_price: IntArray
    offsets: IntArray
    counts: IntArray
    zipf_cdf: FloatArray
    complements: IntArray
    n_complements: IntArray
    partner: IntArray
    categories: pa.Table
    products: pa.Table

    def sample_products(self, rng: np.random.Generator, category: IntArray) -> IntArray:
        """Draw one product position per entry of ``category`` by Zipf popularity."""
        u = rng.random(len(category))
        idx = np.searchsorted(self.zipf_cdf, category + u, side="right").astype(np.int64)
        last = self.offsets[category] + self.counts[category] - 1
        out: IntArray = np.minimum(np.maximum(idx, self.offsets[category]), last)
        return out

    def sample_categories(self, rng: np.random.Generator, n: int) -> IntArray:
        """Draw ``n`` category positions by demand share."""
        cdf = np.cumsum(self.category_weight)
        idx = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
        out: IntArray = np.minimum(idx, len(cdf) - 1).astype(np.int64)
        return out

    def sample_complements(self, rng: np.random.Generator, category: IntArray) -> IntArray:
        """Draw a complementary category of each entry (the same one where it has none)."""
        n_comp = self.n_complements[category]
        pick = (rng.random(len(category)) * np.maximum(n_comp, 1)).astype(np.int64)
        chosen = self.complements[category, np.minimum(pick, self.complements.shape[1] - 1)]
        return np.where(n_comp > 0, chosen, category)


def build_catalog(config: GeneratorConfig, rng: np.random.Generator) -> Catalog:
    """Build the catalogue of ``config`` from the built-in category list.

    Parameters
    ----------
    config
        Uses ``n_categories``, ``n_products``, ``zipf_exponent`` and ``brand_id``.
    rng
        Random generator dedicated to the catalogue.

    Returns
    -------
    Catalog
        The catalogue; products per category are proportional to the category's demand.
    """
    if config.n_categories > len(CATEGORY_REFS):
        raise ValueError(f"n_categories must be at most {len(CATEGORY_REFS)}")
    refs = CATEGORY_REFS[: config.n_categories]
    n_cat = len(refs)
    weight = np.array([ref.weight for ref in refs], dtype=np.float64)
    weight /= weight.sum()

    counts = np.maximum(1, np.floor(weight * config.n_products)).astype(np.int64)
    counts[0] += config.n_products - int(counts.sum())
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    product_category = np.repeat(np.arange(n_cat, dtype=np.int64), counts)
    rank = np.arange(config.n_products, dtype=np.int64) - offsets[product_category] + 1

    zipf = rank.astype(np.float64) ** -config.zipf_exponent
    cum = np.cumsum(zipf)
    seg_before = np.concatenate(([0.0], cum))[offsets]
    seg_total = np.concatenate(([0.0], cum))[offsets + counts] - seg_before
    share = (cum - seg_before[product_category]) / seg_total[product_category]
    zipf_cdf = product_category + share

    median = np.array([ref.median_price for ref in refs])[product_category]
    price = median * np.exp(0.55 * rng.standard_normal(config.n_products))
    price_minor = np.maximum(np.round(price) * 100 - 10, 490).astype(np.int64)

    slug_pos = {ref.slug: i for i, ref in enumerate(refs)}
    comp_lists = [
        [slug_pos[s] for s in COMPLEMENTS.get(ref.slug, ()) if s in slug_pos] for ref in refs
    ]
    width = max(1, max(len(c) for c in comp_lists))
    complements = np.zeros((n_cat, width), dtype=np.int64)
    n_complements = np.zeros(n_cat, dtype=np.int64)
    for i, comp in enumerate(comp_lists):
        complements[i, : len(comp)] = comp
        n_complements[i] = len(comp)

    names = _product_names(rng, refs_nouns=[ref.nouns for ref in refs], category=product_category)

    catalog = Catalog(
        category_weight=weight,
        product_category=product_category,
        product_price=price_minor,
        offsets=offsets,
        counts=counts,
        zipf_cdf=zipf_cdf,
        complements=complements,
        n_complements=n_complements,
        partner=np.zeros(0, dtype=np.int64),
        categories=pa.table(
            {
                "category_id": np.arange(1, n_cat + 1, dtype=np.int64),
                "brand_id": np.full(n_cat, config.brand_id, dtype=np.int64),
                "slug": [ref.slug for ref in refs],
                "name_pt": [ref.name_pt for ref in refs],
                "name_en": [ref.name_en for ref in refs],
            },
            schema=CATEGORIES,
        ),
        products=PRODUCTS.empty_table(),
    )
    partner_cat = catalog.sample_complements(rng, product_category)
    partner = catalog.sample_products(rng, partner_cat)
    product_id = np.arange(1, config.n_products + 1, dtype=np.int64)
    products = pa.table(
        {
            "product_id": product_id,
            "brand_id": np.full(config.n_products, config.brand_id, dtype=np.int64),
            "external_id": pc.cast(pa.array(product_id), pa.string()),
            "name": names,
            "category_id": product_category + 1,
            "list_price_minor": price_minor,
            "non_merchandise": np.zeros(config.n_products, dtype=bool),
        },
        schema=PRODUCTS,
    )
    return replace(catalog, partner=partner, products=products)


def _product_names(
    rng: np.random.Generator, *, refs_nouns: list[tuple[str, ...]], category: IntArray
) -> pa.Array:
    """Build pt-BR product names ``"<noun> <qualifier> <maker>"``."""
    n = len(category)
    noun_counts = np.array([len(nouns) for nouns in refs_nouns], dtype=np.int64)
    noun_offsets = np.concatenate(([0], np.cumsum(noun_counts)[:-1]))
    all_nouns = pa.array([noun for nouns in refs_nouns for noun in nouns], pa.string())
    noun_idx = noun_offsets[category] + (rng.random(n) * noun_counts[category]).astype(np.int64)
    qual_idx = rng.integers(0, len(QUALIFIERS), n)
    maker_idx = rng.integers(0, len(MAKERS), n)
    return pc.binary_join_element_wise(
        pc.take(all_nouns, pa.array(noun_idx)),
        pc.take(pa.array(QUALIFIERS, pa.string()), pa.array(qual_idx)),
        pc.take(pa.array(MAKERS, pa.string()), pa.array(maker_idx)),
        " ",
    )
