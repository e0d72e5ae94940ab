"""Comment normalisation, lexicon scores of unaccented text, topic tags."""

from __future__ import annotations

import pytest

from recompra.voc.sentiment import lexicon_compound, polarity
from recompra.voc.text import base_vocabulary, fold, normalise, repair
from recompra.voc.topics import tags


def test_fold_removes_accents_and_case() -> None:
    assert fold("Não CHEGOU, péssimo atendimento!") == "nao chegou, pessimo atendimento!"


def test_repair_rejoins_letters_lost_as_spaces() -> None:
    known = base_vocabulary() | {"rapido", "avaliacao", "informacoes"}
    assert repair("n o recomendo", known) == "nao recomendo"
    assert repair("chegou r pido e r pido", known) == "chegou rapido e rapido"
    assert repair("avalia  o boa", known) == "avaliacao boa"
    # Two lexicon words with a real space stay apart.
    assert repair("muito bom", known) == "muito bom"


def test_batch_vocabulary_comes_from_the_comments_themselves() -> None:
    comments = ["chegou rapido"] * 3 + ["Chegou r pido!"]
    assert normalise(comments)[-1] == "chegou rapido!"


@pytest.mark.parametrize(
    ("accented", "unaccented"),
    [
        ("Não gostei, péssimo", "nao gostei, pessimo"),
        ("ótimo produto, recomendo", "otimo produto, recomendo"),
        ("horrível, veio quebrado", "horrivel, veio quebrado"),
    ],
)
def test_unaccented_words_score_like_accented_ones(accented: str, unaccented: str) -> None:
    scores = lexicon_compound([accented, unaccented])
    assert scores[0] == scores[1]
    assert scores[0] != 0


def test_polarity_thresholds() -> None:
    assert polarity(-0.05) == "negative"
    assert polarity(0.0) == "neutral"
    assert polarity(0.05) == "positive"


@pytest.mark.parametrize(
    ("comment", "topic"),
    [
        ("Ainda não recebi o produto", "not_received"),
        ("n o recebi", "not_received"),
        ("a entrega atrasou muito", "delivery_delay"),
        ("Demorou demais para chegar", "delivery_delay"),
        ("veio a cor errada", "wrong_item"),
        ("comprei dois e só veio um", "missing_items"),
        ("chegou quebrado", "damaged"),
        ("produto com defeito, não funciona", "product_quality"),
        ("péssimo atendimento, ninguém responde", "customer_service"),
        ("quero meu dinheiro de volta", "refund_return"),
        ("preço alto e frete caro", "price"),
    ],
)
def test_topics_match_accented_unaccented_and_broken_comments(comment: str, topic: str) -> None:
    known = base_vocabulary() | {"nao", "so", "preco"}
    assert topic in tags(repair(fold(comment), known))
    assert tags(repair(fold("Produto lindo, adorei"), known)) == []
