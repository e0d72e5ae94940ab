"""The e-mail bytes built by hand (``build_message``) read back through the standard
library's parser: same texts, no defects, no injected header, no over-long line."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

import pytest

from recompra.automation.email import build_message

SENDER = "Loja Ção <loja@example.com>"


def _parsed(subject: str, text: str = "Olá\nlinha 2", html: str = "<p>Olá</p>") -> EmailMessage:
    mail = build_message(
        {
            "to": "ana@example.com",
            "subject": subject,
            "text": text,
            "html": html,
            "unsubscribe_url": "https://loja.example/u/abc",
        },
        execution_key="1:2:order:9:send",
        sender=SENDER,
    )
    for line in mail.data.split(b"\r\n"):
        assert len(line) <= 998
    message = email.message_from_bytes(mail.data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert not message.defects
    assert mail.recipient == "ana@example.com"
    assert mail.envelope_from == "loja@example.com"
    return message


def _raw_headers(subject: str) -> list[bytes]:
    data = build_message(
        {"to": "a@example.com", "subject": subject, "text": "", "html": "", "unsubscribe_url": "u"},
        execution_key="k",
        sender=SENDER,
    ).data
    return data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


@pytest.mark.parametrize(
    "subject",
    [
        "Obrigado pela compra",
        "Você ganhou 120 pontos, João! 🎉",
        "ç" * 400,
        "a" * 2000,
    ],
)
def test_a_subject_reads_back_unchanged_on_short_lines(subject: str) -> None:
    message = _parsed(subject)
    assert message["Subject"] == subject
    assert str(message["From"]) == SENDER
    if not subject.isascii() or len(subject) > 900:
        # Encoded-words are folded: no line holding one passes 78 characters.
        encoded = [line for line in _raw_headers(subject) if b"=?utf-8?b?" in line]
        assert len(encoded) > 1
        assert all(len(line) <= 78 for line in encoded)


def test_a_line_break_in_a_subject_cannot_add_a_header() -> None:
    message = _parsed("Oferta\r\nBcc: alvo@example.com\nX-Evil: 1")
    assert message["Bcc"] is None
    assert message["X-Evil"] is None
    assert message["Subject"] == "Oferta Bcc: alvo@example.com X-Evil: 1"


def test_both_parts_decode_to_their_texts() -> None:
    text, html = "Olá Ana,\n" + "é" * 300, "<p>Olá</p>" * 50
    message = _parsed("Oi", text, html)
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content().replace("\r\n", "\n") == text
    assert parts[1].get_content().replace("\r\n", "\n") == html
    assert not any(p.defects for p in parts)
    assert message["List-Unsubscribe"] == "<https://loja.example/u/abc>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
