"""Generated customers get valid, unique Brazilian identities, the same on every run."""

from __future__ import annotations

from recompra.generate.identity import AREA_CODES, cpf_check_digits, generated_identities
from recompra.hub.normalize import normalize_cpf, normalize_phone


def test_cpf_check_digits_follow_the_published_rule() -> None:
    # 529.982.247-25 is the example worked through in the Receita Federal's algorithm.
    assert cpf_check_digits("529982247") == "25"
    assert cpf_check_digits("111444777") == "35"  # 111.444.777-35, another worked example


def test_identities_are_valid_unique_and_deterministic() -> None:
    ids = list(range(1, 20_001))
    states = [sorted(AREA_CODES)[i % len(AREA_CODES)] for i in range(len(ids))]
    people = generated_identities(1, ids, states)
    assert people == generated_identities(1, ids, states)
    for person, state in zip(people[:2000], states[:2000], strict=True):
        assert normalize_cpf(person.cpf) == person.cpf
        assert normalize_phone(person.phone) == person.phone
        assert person.phone.startswith(f"55{AREA_CODES[state]}9")
        assert len(person.name.split()) in (2, 3)
    for field in ("cpf", "phone", "email"):
        assert len({getattr(p, field) for p in people}) == len(people), field
    # Another brand's customers with the same ids are other people.
    other = generated_identities(2, ids, states)
    assert not {p.cpf for p in people} & {p.cpf for p in other}
    assert not {p.email for p in people} & {p.email for p in other}
