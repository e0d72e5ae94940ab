"""Comment text made comparable: case and accents folded, and lost accented letters
repaired.

Comments arrive in two shapes. Typed with accents ("não", "rápido"), folding them to ASCII
is enough. In the copy of the Olist reviews every accented letter was replaced by a
*space* ("n o recomendo", "chegou r pido", "avalia  o"), which breaks words in two and
hides them from any lexicon. :func:`repair` rejoins such a gap when filling it with one or
two of the letters Portuguese accents (a, e, i, o, u, c) gives a known word.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache

from LeIA import SentimentIntensityAnalyzer
from LeIA.leia import NEGATE

#: Letters that carry an accent or cedilla in Portuguese (after folding): the candidates
#: for a letter that became a space.
ACCENTED_LETTERS = "aeiouc"
_WORD = re.compile(r"[a-z]+")
#: A word must appear this often in the comments themselves to join the vocabulary: rare
#: tokens (typos) would otherwise make false repairs.
CORPUS_MIN_COUNT = 3


def fold(text: str) -> str:
    """Lower-case ASCII: accents and cedillas removed ("Não chegou" -> "nao chegou")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return decomposed.encode("ascii", "ignore").decode("ascii").lower()


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    # Loading the lexicon reads ~7,500 lines from the package: once per process.
    return SentimentIntensityAnalyzer()


def lexicon_analyzer() -> SentimentIntensityAnalyzer:
    """LeIA's analyzer (VADER's rules with a pt-BR lexicon), loaded once."""
    return _analyzer()


@cache
def base_vocabulary() -> frozenset[str]:
    """Words known without looking at any comment: LeIA's lexicon and its negations."""
    negations = {word for phrase in NEGATE for word in phrase.split()}
    return frozenset(set(_analyzer().lexicon) | negations)


def vocabulary(folded_texts: Iterable[str]) -> frozenset[str]:
    """The base vocabulary plus the words the comments themselves spell out in full.

    Customers often type without accents ("nao", "rapido"), so the corpus spells most of
    the words its broken comments need.
    """
    counts = Counter(word for text in folded_texts for word in _WORD.findall(text))
    frequent = {w for w, n in counts.items() if n >= CORPUS_MIN_COUNT and len(w) > 2}
    return base_vocabulary() | frequent


def repair(folded: str, known: frozenset[str]) -> str:
    """Rejoin words split where an accented letter became a space ("r pido" -> "rapido").

    A gap of one or two spaces between two words is filled only when the joined word is
    in ``known`` and the two pieces are not both lexicon words of three letters or more
    (then the space was real). Spaces are then collapsed.
    """
    # Alternating runs of letters and of anything else, so every gap is seen once with
    # both of its neighbours (a regex substitution would consume the right-hand word).
    tokens = re.findall(r"[a-z]+|[^a-z]+", folded)
    i = 0
    while i + 2 < len(tokens):
        left, gap, right = tokens[i], tokens[i + 1], tokens[i + 2]
        joined = _joined(left, gap, right, known) if left[0].isalpha() else None
        if joined is None:
            i += 1
        else:
            # Stay on the joined word: a word that lost two separate letters has two gaps.
            tokens[i : i + 3] = [joined]
    return re.sub(r"\s+", " ", "".join(tokens)).strip()


def _joined(left: str, gap: str, right: str, known: frozenset[str]) -> str | None:
    if gap.strip(" ") or len(gap) > 2 or not right[0].isalpha():
        return None
    # Judged on the lexicon only: the broken comments make their own fragments ("horr",
    # "vel") frequent enough to enter the corpus vocabulary.
    lexicon = base_vocabulary()
    if len(left) > 2 and len(right) > 2 and left in lexicon and right in lexicon:
        return None
    for letters in itertools.product(ACCENTED_LETTERS, repeat=len(gap)):
        word = left + "".join(letters) + right
        if word in known:
            return word
    return None


def normalise(comments: Sequence[str]) -> list[str]:
    """Fold and repair a batch of comments, with a vocabulary learnt from the batch."""
    folded = [fold(c) for c in comments]
    known = vocabulary(folded)
    return [repair(text, known) for text in folded]
