"""Identifier normalisation: e-mail, CPF, CNPJ, phone."""

from __future__ import annotations

import pytest

from recompra.hub.normalize import (
    normalize_cnpj,
    normalize_cpf,
    normalize_document,
    normalize_email,
    normalize_phone,
)


def test_email_is_trimmed_and_lower_cased() -> None:
    assert normalize_email("  Maria.Silva@Example.COM ") == "maria.silva@example.com"


@pytest.mark.parametrize("bad", ["maria", "maria@", "@example.com", "a b@example.com", "x@y"])
def test_email_refuses_what_is_not_an_address(bad: str) -> None:
    with pytest.raises(ValueError, match="not an e-mail"):
        normalize_email(bad)


def test_cpf_with_valid_check_digits_is_normalised_to_digits() -> None:
    # 529.982.247-25: check digits 2 and 5 by the Receita Federal mod-11 rule.
    assert normalize_cpf("529.982.247-25") == "52998224725"


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("529.982.247-24", "check digits"),
        ("111.111.111-11", "repeated digits"),
        ("5299822472", "11 digits"),
    ],
)
def test_cpf_refuses_invalid_numbers(bad: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalize_cpf(bad)


def test_cnpj_with_valid_check_digits() -> None:
    # 11.222.333/0001-81 is the usual valid example (check digits 8 and 1).
    assert normalize_cnpj("11.222.333/0001-81") == "11222333000181"
    with pytest.raises(ValueError, match="check digits"):
        normalize_cnpj("11.222.333/0001-82")


def test_document_is_classified_by_length() -> None:
    assert normalize_document("529.982.247-25") == ("cpf", "52998224725")
    assert normalize_document("11.222.333/0001-81") == ("cnpj", "11222333000181")


def test_brazilian_phone_gets_country_code() -> None:
    assert normalize_phone("(11) 98765-4321") == "5511987654321"
    assert normalize_phone("+55 21 3333-4444") == "552133334444"
    with pytest.raises(ValueError, match="digits"):
        normalize_phone("1234")
