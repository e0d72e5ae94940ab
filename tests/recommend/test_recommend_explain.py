"""Explanations in Brazilian Portuguese and English."""

from __future__ import annotations

import pytest

from recompra.recommend.explain import Evidence, explain, explain_all, format_money


def test_bought_together_matches_the_issue_wording() -> None:
    evidence = Evidence("bought_together", count=312, lift=4.1)
    assert (
        explain(evidence, "en") == "bought together in 312 orders, 4.1x more often than by chance"
    )
    assert explain(evidence, "pt-BR") == "comprados juntos em 312 pedidos, 4,1x mais do que o acaso"


def test_thousands_separators_and_singular() -> None:
    evidence = Evidence("bought_together", count=1, lift=1234.56)
    assert (
        explain(evidence, "en") == "bought together in 1 order, 1,234.6x more often than by chance"
    )
    assert (
        explain(evidence, "pt-BR") == "comprados juntos em 1 pedido, 1.234,6x mais do que o acaso"
    )


def test_bought_later_names_the_anchor_in_each_language() -> None:
    evidence = Evidence(
        "bought_later", count=1, lift=2.0, anchor="cafeteira", anchor_en="coffee maker"
    )
    assert explain(evidence, "en") == (
        "1 customer who bought coffee maker also bought this, 2.0x more often than by chance"
    )
    assert explain(evidence, "pt-BR") == (
        "1 cliente que comprou cafeteira também comprou este, 2,0x mais do que o acaso"
    )


def test_every_reason_renders_in_both_languages() -> None:
    reasons = {
        "bought_together": Evidence("bought_together", count=3, lift=2.5),
        "bought_later": Evidence("bought_later", count=5, lift=1.5, anchor="x"),
        "category_affinity": Evidence("category_affinity", count=40, share=0.5, anchor="casa"),
        "repurchase": Evidence("repurchase", count=2),
        "upsell": Evidence(
            "upsell", count=30, price_ratio=1.4, rating=4.6, n_reviews=52, anchor="y"
        ),
        "popular": Evidence("popular", count=900),
    }
    for evidence in reasons.values():
        texts = explain_all(evidence)
        assert set(texts) == {"pt-BR", "en"}
        assert all(texts.values())
        assert texts["pt-BR"] != texts["en"]
    assert explain(reasons["category_affinity"], "pt-BR").startswith("50% das suas compras")
    # A category the customer never bought from is not explained as "0% of your purchases".
    new_category = Evidence("category_affinity", count=12, share=0.0, anchor="casa")
    assert "0%" not in explain(new_category, "pt-BR")
    assert explain(new_category, "en").startswith("a best seller in casa, a category")
    assert "1,4x o preço" in explain(reasons["upsell"], "pt-BR")
    assert "rated 4.6 on average across 52 reviews" in explain(reasons["upsell"], "en")
    assert explain(reasons["repurchase"], "en") == "you bought this 2 times before; time to restock"


def test_money_and_unknown_inputs() -> None:
    assert format_money(123456, "pt-BR") == "R$ 1.234,56"
    assert format_money(123456, "en") == "R$1,234.56"
    with pytest.raises(ValueError, match="language"):
        explain(Evidence("popular", count=1), "fr")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reason"):
        explain(Evidence("nonsense"), "en")
