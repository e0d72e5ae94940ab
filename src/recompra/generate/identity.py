"""Realistic Brazilian identities for generated customers: name, e-mail, mobile and CPF.

They make the demo store searchable like a real one. Each value is a pure function of
``(brand_id, customer_id)`` (an integer hash, no random stream), so the same store always
gets the same identities and the catalogue and purchase streams are untouched. E-mails,
phones and CPFs are unique per ``(brand_id, customer_id)`` by construction (a bijective
numbering, not chance), because the hub treats each of them as a person's identity: a
collision would merge two generated customers.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FIRST_NAMES = (
    "Ana", "Maria", "Juliana", "Fernanda", "Camila", "Beatriz", "Larissa", "Patrícia",
    "Aline", "Letícia", "Gabriela", "Mariana", "Bruna", "Vanessa", "Luana", "Débora",
    "João", "José", "Pedro", "Lucas", "Gabriel", "Rafael", "Mateus", "Gustavo", "Felipe",
    "Bruno", "Thiago", "Rodrigo", "Diego", "Leonardo", "André", "Marcelo", "Vinícius",
    "Eduardo", "Caio", "Heitor",
)  # fmt: skip
SURNAMES = (
    "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira",
    "Lima", "Gomes", "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes",
    "Soares", "Fernandes", "Vieira", "Barbosa", "Rocha", "Dias", "Nascimento", "Andrade",
    "Moreira", "Nunes", "Marques", "Machado", "Mendes", "Freitas", "Cardoso", "Ramos",
)  # fmt: skip
DOMAINS = ("gmail.com", "hotmail.com", "outlook.com", "yahoo.com.br", "uol.com.br", "bol.com.br")
#: The area code (DDD) of each state's capital.
AREA_CODES = {
    "AC": 68, "AL": 82, "AM": 92, "AP": 96, "BA": 71, "CE": 85, "DF": 61, "ES": 27,
    "GO": 62, "MA": 98, "MG": 31, "MS": 67, "MT": 65, "PA": 91, "PB": 83, "PE": 81,
    "PI": 86, "PR": 41, "RJ": 21, "RN": 84, "RO": 69, "RR": 95, "RS": 51, "SC": 48,
    "SE": 79, "SP": 11, "TO": 63,
}  # fmt: skip

#: Multipliers coprime with 10: ``n -> n * k mod 10^d`` is then a bijection, so distinct
#: customer numbers get distinct CPFs and phone numbers (below 10^9 and 10^8 customers).
_CPF_STEP = 387_420_489  # 3^18
_PHONE_STEP = 43_046_721  # 3^16
_BRAND_STRIDE = 10_000_019  # customers per brand before numbers could repeat
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


@dataclass(frozen=True)
class GeneratedIdentity:
    """A generated customer's contact data (phone as E.164 digits, CPF as 11 digits)."""

    name: str
    email: str
    phone: str
    cpf: str


def _mix(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """SplitMix64's finaliser: spreads consecutive numbers over all 64 bits."""
    z = values.copy()
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return (z ^ (z >> np.uint64(31))) & _MASK


def cpf_check_digits(base: str) -> str:
    """The two check digits of a 9-digit CPF base (Receita Federal's mod-11 rule)."""
    digits = [int(c) for c in base]
    for weights_from in (10, 11):
        total = sum(d * w for d, w in zip(digits, range(weights_from, 1, -1), strict=False))
        remainder = total % 11
        digits.append(0 if remainder < 2 else 11 - remainder)
    return f"{digits[-2]}{digits[-1]}"


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def generated_identities(
    brand_id: int, customer_ids: npt.ArrayLike, states: list[str]
) -> list[GeneratedIdentity]:
    """Name, e-mail, mobile phone (in the state's capital area code) and CPF per customer."""
    ids = np.asarray(customer_ids, dtype=np.int64)
    # Brand ids start at 1: the first brand's customers are numbered by their own ids.
    number = ids.astype(np.uint64) + np.uint64((brand_id - 1) * _BRAND_STRIDE)
    hashed = _mix(number)
    first = hashed % np.uint64(len(FIRST_NAMES))
    middle = (hashed >> np.uint64(8)) % np.uint64(len(SURNAMES))
    last = (hashed >> np.uint64(16)) % np.uint64(len(SURNAMES))
    domain = (hashed >> np.uint64(24)) % np.uint64(len(DOMAINS))
    cpf_base = (number * np.uint64(_CPF_STEP)) % np.uint64(10**9)
    line = (number * np.uint64(_PHONE_STEP)) % np.uint64(10**8)
    out = []
    for i, serial in enumerate(number.tolist()):
        given, family = FIRST_NAMES[int(first[i])], SURNAMES[int(last[i])]
        other = SURNAMES[int(middle[i])]
        name = f"{given} {other} {family}" if other != family else f"{given} {family}"
        base = f"{int(cpf_base[i]):09d}"
        area = AREA_CODES.get(states[i], 11)
        out.append(
            GeneratedIdentity(
                name=name,
                # The serial keeps e-mails unique among namesakes and across brands.
                email=f"{_ascii(given)}.{_ascii(family)}{serial}@{DOMAINS[int(domain[i])]}",
                phone=f"55{area}9{int(line[i]):08d}",
                cpf=base + cpf_check_digits(base),
            )
        )
    return out
