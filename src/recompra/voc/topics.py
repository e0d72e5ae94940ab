"""Topic tags of comments: accent-insensitive word patterns, one list per topic.

Patterns run on normalised text (:func:`recompra.voc.text.normalise`: lower-case ASCII,
lost accents repaired), so "Não recebi", "nao recebi" and "n o recebi" all read
``nao recebi``. A comment may carry several tags. Each pattern is a regular expression
anchored at word starts; ``\\w*`` lets a stem match its inflections ("atras" -> atrasou,
atrasado, atraso).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: Topic key -> patterns. Keys are stable identifiers (the dashboard translates them).
TOPIC_PATTERNS: dict[str, tuple[str, ...]] = {
    "not_received": (
        r"nao (?:\w+ )?(?:receb\w*|cheg\w*|veio|vieram|foi entregue|foram entregues|"
        r"entreg\w*|envi\w*)",
        r"ainda nao (?:\w+ )?(?:recebi|chegou|tenho)",
        r"aguard\w*",
        r"esperando (?:a |o |minha |meu )?(?:entrega|produto|encomenda|pedido)",
        r"cade (?:o|meu|a|minha)",
        r"(?:nunca|jamais) (?:chegou|recebi)",
        r"extravi\w*",
    ),
    "delivery_delay": (
        r"atras\w*",
        r"demor\w*",
        r"(?:fora|passou|apos|depois) (?:do|o) prazo",
        r"prazo (?:de entrega )?(?:nao|vencido|expirado|estourado)",
        r"nao (?:cumpr\w*|respeit\w*|atend\w*) (?:o )?prazo",
        r"lent\w*",
        r"nao (?:\w+ )?(?:\w+ )?no prazo",
        r"(?:cumpr\w*|respeit\w*) (?:com )?(?:os |o )?prazos?",
    ),
    "missing_items": (
        r"falt\w*",
        r"incomplet\w*",
        r"(?:so|s|apenas|somente) (?:\w+ )?(?:veio|chegou|recebi|foi entregue|uma|um|dois|duas)",
        r"recebi (?:apenas|so|somente|metade|parte)",
        r"metade do pedido",
        r"parcial\w*",
    ),
    "wrong_item": (
        r"errad\w*",
        r"diferente\w*",
        r"trocad\w*",
        r"outro (?:produto|modelo|item|livro)",
        r"nao (?:e|era) o (?:produto|que)",
        r"nao (?:corresponde|condiz|confere)\w*",
        r"(?:cor|tamanho|modelo) (?:\w+ )?(?:errad\w*|diferente|nao)",
        r"outr[oa] (?:marca|cor|tamanho)",
        r"difere\w*",
        r"nao (?:esta|estava) de acordo",
    ),
    "damaged": (
        r"quebr\w*",
        r"danific\w*",
        r"amass\w*",
        r"avaria\w*",
        r"rasgad\w*",
        r"riscad\w*",
        r"trincad\w*",
        r"violad\w*",
        r"vazad\w*",
    ),
    "product_quality": (
        r"defeit\w*",
        r"qualidade",
        r"nao funcion\w*",
        r"parou de funcionar",
        r"fragil",
        r"mal (?:feit\w*|acabad\w*)",
        r"pessim\w* (?:produto|material)",
        r"material (?:ruim|fraco|pessimo)",
        r"(?:produto|material) (?:ruim|fraco|pessimo|horrivel)",
        r"decepcion\w*",
        r"nao gostei",
        r"falsificad\w*|falso|original",
        r"inferior|ferrug\w*|desbotad\w*",
        r"nao (?:gruda|abre|liga|serve|presta)",
    ),
    "customer_service": (
        r"atendiment\w*",
        r"(?:sem|nenhuma|nao (?:tive|tenho|obtive|recebi)) (?:\w+ )?(?:resposta|retorno|contato)",
        r"nao (?:respond\w*|retorn\w*|atend\w*)",
        r"contato",
        r"\bsac\b",
        r"reclama\w*",
        r"descaso|desrespeito|falta de respeito",
        r"compromisso|irresponsav\w*|ninguem resolve",
    ),
    "refund_return": (
        r"estorn\w*",
        r"reembols\w*",
        r"dinheiro de volta",
        r"devol\w*",
        r"cancel\w*",
        r"troca\b|trocar",
    ),
    "price": (
        r"\bpreco\w*",
        r"\bcar[oa]s?\b",
        r"\bvalor\b",
        r"frete",
        r"cobrad\w*|cobran\w*",
    ),
}

_COMPILED: dict[str, re.Pattern[str]] = {
    topic: re.compile(r"\b(?:" + "|".join(patterns) + r")")
    for topic, patterns in TOPIC_PATTERNS.items()
}


def tags(normalised: str) -> list[str]:
    """The topics a normalised comment mentions, in the order of :data:`TOPIC_PATTERNS`."""
    return [topic for topic, pattern in _COMPILED.items() if pattern.search(normalised)]


def tag_all(normalised: Sequence[str]) -> list[list[str]]:
    """:func:`tags` of each comment."""
    return [tags(text) for text in normalised]
