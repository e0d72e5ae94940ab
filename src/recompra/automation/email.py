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
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import formatdate, parseaddr
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


def encode_header_text(text: str) -> str:
    """``text`` as RFC 2047 base64 encoded-words (ASCII text is kept as it is).

    Done here rather than with ``email.header.Header``, whose search for the shortest
    encoding dominated the cost of building a message.
    """
    if text.isascii():
        return text
    words, chunk = [], ""
    for char in text:
        # 45 bytes of UTF-8 -> 60 base64 characters: each word stays under 75 (RFC 2047).
        if len((chunk + char).encode()) > 45:
            words.append(chunk)
            chunk = ""
        chunk += char
    words.append(chunk)
    return " ".join(f"=?utf-8?b?{base64.b64encode(w.encode()).decode()}?=" for w in words)


class _OneLineHeaders(Compat32):
    """Headers written on one line each (well under RFC 5322's 998 characters).

    An ASCII value without line breaks is written as it is: ``compat32`` would run it
    through ``email.header.Header``, whose splitting was half of a message's build
    time and changes nothing on one line. Anything else (a non-ASCII display name)
    still goes through ``Header``, which encodes it.
    """

    @staticmethod
    def _one_line(value: Any) -> bool:
        return isinstance(value, str) and value.isascii() and not ("\r" in value or "\n" in value)

    def fold(self, name: str, value: Any) -> str:
        if self._one_line(value):
            return f"{name}: {value}{self.linesep}"
        return super().fold(name, value)

    def fold_binary(self, name: str, value: Any) -> bytes:
        if self._one_line(value):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


_POLICY = _OneLineHeaders(max_line_length=None)
#: The same, with the CRLF line ends SMTP requires.
_SMTP_POLICY = _POLICY.clone(linesep="\r\n")


@functools.lru_cache(maxsize=16)
def _address(header: str) -> str:
    """The address of a ``From`` header (the sender is one of a few: parsed once)."""
    return parseaddr(header)[1]


def build_message(payload: dict[str, Any], *, execution_key: str, sender: str) -> MIMEMultipart:
    """The MIME message of an outbox e-mail payload (``compat32`` classes: measured ~4x
    faster to build than ``EmailMessage`` with the default policy)."""
    # A boundary of our own: the generator would otherwise draw one and compile a regular
    # expression for it to search the parts (a third of the build time). Both parts are
    # base64 (``utf-8``), whose alphabet has no "-" or "_": the boundary cannot occur.
    digest = hashlib.sha256(execution_key.encode()).hexdigest()[:24]
    message = MIMEMultipart("alternative", boundary=f"--_recompra_{digest}", policy=_POLICY)
    message["From"] = sender
    message["To"] = payload["to"]
    message["Subject"] = encode_header_text(payload["subject"])
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id(execution_key, sender)
    # RFC 8058: an HTTPS link the mailbox provider POSTs "List-Unsubscribe=One-Click" to.
    message["List-Unsubscribe"] = f"<{payload['unsubscribe_url']}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.attach(MIMEText(payload["text"], "plain", "utf-8", policy=_POLICY))
    message.attach(MIMEText(payload["html"], "html", "utf-8", policy=_POLICY))
    return message


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
    Each connection carries one message at a time, so a crash leaves at most one
    message per connection sent but not yet recorded (see
    :mod:`recompra.automation.delivery`).
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

    def send(self, message: MIMEMultipart) -> None:
        """Send one message over an idle connection; reconnects once if the server had
        dropped it. Safe to call from ``connections`` threads at once."""
        # What ``send_message`` would do, without parsing every address header of every
        # message (Cc, Bcc, Resent-*): ours carry one sender and one recipient.
        envelope_from = _address(str(message["From"]))
        recipient = parseaddr(str(message["To"]))[1]
        data = message.as_bytes(policy=_SMTP_POLICY)
        if self._bucket is not None:
            self._bucket.acquire()
        client = self._idle.get()
        try:
            for attempt in (1, 2):
                if client is None:
                    client = self._connect()
                try:
                    client.sendmail(envelope_from, [recipient], data)
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
