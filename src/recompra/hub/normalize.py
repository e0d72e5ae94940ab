"""Normalisation and validation of identifiers: e-mail, CPF, CNPJ, phone, payment
fingerprint.

Each ``normalize_*`` function returns the canonical form or raises ``ValueError`` with a
reason a person can act on; importers turn that reason into a reject row.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NON_DIGITS = re.compile(r"\D")


def normalize_email(value: str) -> str:
    """Lower-case and trim an e-mail address; refuse what cannot be an address."""
    email = value.strip().lower()
    if not _EMAIL.match(email):
        raise ValueError(f"not an e-mail address: {value!r}")
    return email


def _check_digit(digits: str, weights: range | list[int]) -> int:
    total = sum(int(d) * w for d, w in zip(digits, weights, strict=False))
    rest = total % 11
    return 0 if rest < 2 else 11 - rest


def normalize_cpf(value: str) -> str:
    """Return the 11 digits of a valid CPF (punctuation removed).

    Validates both check digits and refuses the repeated-digit numbers (``111.111.111-11``)
    that pass the arithmetic but are not issued.
    """
    digits = _NON_DIGITS.sub("", value)
    if len(digits) != 11:
        raise ValueError(f"CPF must have 11 digits, got {len(digits)}: {value!r}")
    if digits == digits[0] * 11:
        raise ValueError(f"CPF with repeated digits is not valid: {value!r}")
    first = _check_digit(digits[:9], range(10, 1, -1))
    second = _check_digit(digits[:10], range(11, 1, -1))
    if digits[9:] != f"{first}{second}":
        raise ValueError(f"CPF check digits do not match: {value!r}")
    return digits


def normalize_cnpj(value: str) -> str:
    """Return the 14 digits of a valid CNPJ (punctuation removed)."""
    digits = _NON_DIGITS.sub("", value)
    if len(digits) != 14:
        raise ValueError(f"CNPJ must have 14 digits, got {len(digits)}: {value!r}")
    if digits == digits[0] * 14:
        raise ValueError(f"CNPJ with repeated digits is not valid: {value!r}")
    weights1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    weights2 = [6, *weights1]
    first = _check_digit(digits[:12], weights1)
    second = _check_digit(digits[:13], weights2)
    if digits[12:] != f"{first}{second}":
        raise ValueError(f"CNPJ check digits do not match: {value!r}")
    return digits


def normalize_document(value: str) -> tuple[str, str]:
    """Classify and normalise a Brazilian document: returns ``("cpf"|"cnpj", digits)``."""
    digits = _NON_DIGITS.sub("", value)
    if len(digits) == 14:
        return "cnpj", normalize_cnpj(digits)
    return "cpf", normalize_cpf(value)


def normalize_phone(value: str, *, default_country: str = "55") -> str:
    """Return an E.164-style digit string; Brazilian numbers get the 55 prefix.

    Accepts 10 or 11 national digits (area code + number) or a number that already
    carries the country code.
    """
    digits = _NON_DIGITS.sub("", value)
    if digits.startswith("00"):
        digits = digits[2:]
    if len(digits) in (10, 11):
        digits = default_country + digits
    if not 12 <= len(digits) <= 15:
        raise ValueError(f"phone number has {len(digits)} digits: {value!r}")
    return digits


_FINGERPRINT = re.compile(r"^[A-Za-z0-9._:/+=-]{8,128}$")


def normalize_payment_fingerprint(value: str) -> str:
    """Check a payment provider's fingerprint of a card or wallet (an opaque token).

    A bare card number is refused: it must never reach the hub (PCI DSS), and a store
    that sends one means to send the provider's fingerprint instead.
    """
    token = value.strip()
    # Digits with the usual separators only, as long as a card number (PAN) is.
    if re.fullmatch(r"[\d .-]+", token) and 12 <= len(_NON_DIGITS.sub("", token)) <= 19:
        raise ValueError("this looks like a card number: send the provider's fingerprint")
    if not _FINGERPRINT.match(token):
        raise ValueError("a payment fingerprint is 8-128 letters, digits or . _ : / + = -")
    return token
