"""Every message the templates and views ask for exists in both languages."""

from __future__ import annotations

import re
from pathlib import Path

from recompra.web import i18n
from recompra.web.glossary import TERMS

WEB = Path(i18n.__file__).parent
#: ``t("key")`` / ``page.t('key')`` calls and ``key="..."`` includes with a literal key.
CALL = re.compile(r"""\bt\(\s*["']([a-z_][a-z0-9_.]*)["']""")
INCLUDE_KEY = re.compile(r"""key=["']([a-z_][a-z0-9_.]*)["']""")


def test_every_literal_message_key_is_defined() -> None:
    sources = [*WEB.glob("templates/*.html"), *WEB.glob("**/*.py")]
    used = set()
    for path in sources:
        text = path.read_text(encoding="utf-8")
        used |= set(CALL.findall(text)) | set(INCLUDE_KEY.findall(text))
    assert used, "the pattern found no message keys"
    # A key ending in "." is a prefix completed at run time ("action." ~ segment).
    prefixes = {key for key in used if key.endswith(".")}
    missing = sorted(key for key in used - prefixes if key not in i18n.MESSAGES)
    assert missing == []


def test_every_message_has_both_languages() -> None:
    for key, (pt, en) in i18n.MESSAGES.items():
        assert pt.strip(), key
        assert en.strip(), key
        # Word order differs between the languages; the placeholders must not.
        assert sorted(re.findall(r"{(\w+)}", pt)) == sorted(re.findall(r"{(\w+)}", en)), key


def test_nav_keys_exist_for_every_page() -> None:
    from recompra.web.context import NAVIGATION

    for key, _ in NAVIGATION:
        assert f"nav.{key}" in i18n.MESSAGES


def test_glossary_terms_have_both_languages_and_unique_keys() -> None:
    keys = [term.key for term in TERMS]
    assert len(keys) == len(set(keys))
    for term in TERMS:
        assert term.name_pt
        assert term.name_en
        assert term.definition_pt
        assert term.definition_en
        assert term.definition_pt != term.definition_en


def test_missing_keys_show_as_the_key() -> None:
    # What the pt-BR page test looks for: an unknown key is rendered as itself.
    assert i18n.translate("no.such.key", "pt-BR") == "no.such.key"
