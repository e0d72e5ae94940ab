"""E-mail: MIME building (multipart text + HTML, stable Message-ID, RFC 8058 one-click
unsubscribe headers) and an SMTP sender that reuses its connection and keeps a rate.

``RECOMPRA_SMTP_URL`` is ``smtp://[user:pass@]host:port[?starttls=true]`` (``smtps://``
for implicit TLS); ``RECOMPRA_SMTP_FROM`` the sender address.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import queue
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass
from email.utils import formataddr, formatdate, parseaddr
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send: host, port, TLS, credentials, sender, messages per second."""

    host: str
    port: int
    sender: str
    starttls: bool = False
    implicit_tls: bool = False
    username: str | None = None
    password: str | None = None
    rate_per_second: float | None = None


def smtp_settings(url: str, sender: str, *, rate_per_second: float | None = None) -> SmtpSettings:
    """Parse ``RECOMPRA_SMTP_URL``."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(f"RECOMPRA_SMTP_URL must be smtp://host:port or smtps://...: {url!r}")
    query = parse_qs(parts.query)
    return SmtpSettings(
        host=parts.hostname,
        port=parts.port or (465 if parts.scheme == "smtps" else 25),
        sender=sender,
        starttls=query.get("starttls", ["false"])[0].lower() == "true",
        implicit_tls=parts.scheme == "smtps",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        rate_per_second=rate_per_second,
    )


def message_id(execution_key: str, sender: str) -> str:
    """A Message-ID derived from the decision, so a resend after a crash carries the same
    one and receivers (and our sink) can recognise the duplicate."""
    digest = hashlib.sha256(execution_key.encode()).hexdigest()[:32]
    domain = sender.rsplit("@", 1)[-1].strip("> ") or "recompra.local"
    return f"<{digest}@{domain}>"


#: Longer plain-ASCII values are written as folded encoded-words too (RFC 5322 2.1.1).
MAX_ASCII_HEADER = 900


def encode_header_text(text: str) -> str:
    """``text`` as RFC 2047 base64 encoded-words (ASCII text up to
    :data:`MAX_ASCII_HEADER` characters is kept as it is).

    Done here rather than with ``email.header.Header``, whose search for the shortest
    encoding dominated the cost of building a message.
    """
    if text.isascii() and len(text) <= MAX_ASCII_HEADER:
        return text
    words, chunk = [], ""
    for char in text:
        # 39 bytes of UTF-8 -> 52 base64 characters, a word of 64: under RFC 2047's 75,
        # and a first line "Subject: <word>" stays within 78.
        if len((chunk + char).encode()) > 39:
            words.append(chunk)
            chunk = ""
        chunk += char
    words.append(chunk)
    # Folded (CRLF + space between words) so that no line of a long header passes the
    # 78 characters RFC 5322 asks for, nor the 998 it requires.
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(w.encode()).decode()}?=" for w in words)


@dataclass(frozen=True)
class OutgoingMail:
    """A message ready for SMTP: its envelope and its bytes (CRLF line ends)."""

    envelope_from: str
    recipient: str
    data: bytes


@functools.lru_cache(maxsize=16)
def _from_header(sender: str) -> tuple[str, str]:
    """The ``From`` header value and the envelope address of a sender (one of a few:
    parsed once). A non-ASCII display name is written as RFC 2047 encoded-words."""
    name, address = parseaddr(sender)
    if sender.isascii():
        return sender, address
    return formataddr((encode_header_text(name), address)), address


def _header(name: str, value: str) -> bytes:
    """One header line; a value that is not plain one-line ASCII is encoded (RFC 2047),
    so no header can break the message's structure."""
    value = encode_header_text(" ".join(value.splitlines()))
    return f"{name}: {value}\r\n".encode("ascii")


def _base64_part(content_type: str, text: str) -> bytes:
    """A ``utf-8`` body part in base64, lines of 76 characters (RFC 2045)."""
    body = base64.encodebytes(text.encode()).replace(b"\n", b"\r\n")
    return (
        f'Content-Type: {content_type}; charset="utf-8"\r\n'
        "MIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ).encode("ascii") + body


def build_message(payload: dict[str, Any], *, execution_key: str, sender: str) -> OutgoingMail:
    """The SMTP message of an outbox e-mail payload: ``multipart/alternative`` with a
    text and an HTML part, both base64 ``utf-8``, and the RFC 8058 headers.

    Written as bytes here rather than through :mod:`email`'s classes and generator,
    which cost ten times as much per message for the same structure (the sink and the
    tests parse the result with :mod:`email`).
    """
    # Both parts are base64, whose alphabet has no "-" or "_": this boundary cannot
    # occur inside them, so it needs no search of the parts.
    digest = hashlib.sha256(execution_key.encode()).hexdigest()[:24]
    boundary = f"--_recompra_{digest}".encode("ascii")
    from_value, envelope_from = _from_header(sender)
    recipient = str(payload["to"])
    headers = b"".join(
        (
            b'Content-Type: multipart/alternative; boundary="' + boundary + b'"\r\n',
            b"MIME-Version: 1.0\r\n",
            _header("From", from_value),
            _header("To", recipient),
            _header("Subject", payload["subject"]),
            _header("Date", formatdate(usegmt=True)),
            _header("Message-ID", message_id(execution_key, sender)),
            # RFC 8058: an HTTPS link the mailbox provider POSTs "List-Unsubscribe=One-Click" to.
            _header("List-Unsubscribe", f"<{payload['unsubscribe_url']}>"),
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
        )
    )
    separator = b"--" + boundary + b"\r\n"
    data = b"".join(
        (
            headers,
            b"\r\n",
            separator,
            _base64_part("text/plain", payload["text"]),
            b"\r\n",
            separator,
            _base64_part("text/html", payload["html"]),
            b"\r\n--" + boundary + b"--\r\n",
        )
    )
    return OutgoingMail(envelope_from, parseaddr(recipient)[1], data)


class TokenBucket:
    """Paces sends to ``rate`` per second, shared by every connection of a sender.

    A bucket of ``burst`` tokens refilled at ``rate``: a send takes a token or waits for
    the next one. Unlike spacing each send ``1/rate`` after the previous one, time lost
    to a slow send (a late wake-up, a database write) is credited up to ``burst``
    tokens, so the achieved rate stays at the configured one instead of drifting below
    it by the average lateness; ``burst`` bounds how far it may run ahead after a pause.
    """

    def __init__(self, rate: float, *, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("a send rate is a positive number of messages per second")
        self.rate = rate
        #: A tenth of a second of sends (at least one): enough to absorb scheduling
        #: jitter, too little to be noticed as a burst by the receiving server.
        self.burst = burst if burst is not None else max(1.0, rate / 10)
        self._tokens = 1.0
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Take one token, sleeping until one is available."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            # Taken now even when not yet there: the debt makes the next caller (another
            # connection) wait behind this one, so waits queue in order.
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            time.sleep(wait)


def permanent_failure(error: BaseException) -> bool:
    """Whether the SMTP server refused for good (a 5xx reply): retrying cannot help.

    A 4xx reply, a dropped connection or a network error is transient (retried with
    backoff); a refused recipient counts as permanent only when every recipient got a
    5xx.
    """
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return bool(codes) and all(code >= 500 for code in codes)
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code >= 500
    return False


class SmtpSender:
    """Up to ``connections`` SMTP connections, each reused across messages, shared by the
    threads that call :meth:`send` and paced together to ``rate_per_second``.

    One connection is a round trip per command (MAIL, RCPT, DATA, the message); a
    second one lets the server accept a message while the first waits for its reply.
    Each connection carries one message at a time; what a crash leaves sent but not
    yet recorded is bounded by :mod:`recompra.automation.delivery`'s hand-over batches.
    """

    def __init__(
        self, settings: SmtpSettings, *, connections: int = 1, timeout: float = 30.0
    ) -> None:
        if connections < 1:
            raise ValueError("an SMTP sender needs at least one connection")
        self.settings = settings
        self.connections = connections
        self.timeout = timeout
        #: Idle connections (``None``: a slot not connected yet); a caller takes one for
        #: the length of a send, so at most ``connections`` are ever open.
        self._idle: queue.LifoQueue[smtplib.SMTP | None] = queue.LifoQueue()
        for _ in range(connections):
            self._idle.put(None)
        self._bucket = TokenBucket(settings.rate_per_second) if settings.rate_per_second else None
        #: Connections opened so far (reconnections included): what reuse saves.
        self.opened = 0

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        client: smtplib.SMTP
        if s.implicit_tls:
            client = smtplib.SMTP_SSL(
                s.host, s.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
            if s.starttls:
                client.starttls(context=ssl.create_default_context())
        if s.username:
            client.login(s.username, s.password or "")
        self.opened += 1
        return client

    def send(self, message: OutgoingMail) -> None:
        """Send one message over an idle connection; reconnects once if the server had
        dropped it. Safe to call from ``connections`` threads at once."""
        if self._bucket is not None:
            self._bucket.acquire()
        client = self._idle.get()
        try:
            for attempt in (1, 2):
                if client is None:
                    client = self._connect()
                try:
                    client.sendmail(message.envelope_from, [message.recipient], message.data)
                    return
                except smtplib.SMTPServerDisconnected:
                    client = None
                    if attempt == 2:
                        raise
                except smtplib.SMTPException:
                    # A refused command (smtplib has sent RSET after it): the connection
                    # is clean for the next message.
                    raise
                except OSError:
                    # A broken socket mid-message: never reuse it.
                    _quit(client)
                    client = None
                    raise
        finally:
            self._idle.put(client)

    def close(self) -> None:
        """Quit every open connection."""
        clients = []
        while not self._idle.empty():
            clients.append(self._idle.get_nowait())
        for client in clients:
            _quit(client)
            self._idle.put(None)


def _quit(client: smtplib.SMTP | None) -> None:
    if client is not None:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()
