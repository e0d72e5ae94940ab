"""Structured logs (one JSON object a line) that carry no personal data.

Every record of the server, uvicorn's access log included, passes :class:`RedactPersonalData`
before it is formatted: e-mail addresses, CPF/CNPJ numbers and phone numbers are masked
wherever they appear in the message or its arguments, query strings are dropped from
access-log paths (survey and unsubscribe links carry signed tokens there), and client
addresses keep only their network part (the last IPv4 octet, the last 80 bits of IPv6).
That is what the LGPD asks of operational logs: kept for security and operations, they
must not become a second copy of the customer base.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from typing import Any

from pythonjsonlogger.json import JsonFormatter

#: What replaces a masked value.
MASK = "[redacted]"

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# CPF (000.000.000-00) and CNPJ (00.000.000/0000-00), punctuated or as bare digit runs of
# exactly 11 or 14 digits; longer runs (ids, timestamps) are left alone.
_DOCUMENT = re.compile(
    r"(?<![\d.])(?:\d{3}\.\d{3}\.\d{3}-\d{2}|\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}|\d{11}|\d{14})(?![\d])"
)
# Brazilian phones: optional +55, optional area code in parentheses, 4-5 digits, 4 digits.
_PHONE = re.compile(r"(?:\+55\s?)?(?:\(?\d{2}\)?\s?)?9?\d{4}[-\s]\d{4}\b")


def redact(text: str) -> str:
    """``text`` with e-mails, CPF/CNPJ numbers and phone numbers masked."""
    text = _EMAIL.sub(MASK, text)
    text = _DOCUMENT.sub(MASK, text)
    return _PHONE.sub(MASK, text)


def network_part(address: str) -> str:
    """An IP address truncated to its network (/24 for IPv4, /48 for IPv6); other text
    (a host name, ``-``) is masked whole."""
    host, sep, port = address.rpartition(":") if address.count(":") == 1 else (address, "", "")
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return MASK
    prefix = 24 if ip.version == 4 else 48
    network = ipaddress.ip_network(f"{ip}/{prefix}", strict=False)
    return f"{network}{sep}{port}"


class UtcJsonFormatter(JsonFormatter):
    """JSON lines whose ``time`` is UTC, whatever the host's time zone."""

    converter = staticmethod(time.gmtime)  # type: ignore[assignment]


class RedactPersonalData(logging.Filter):
    """Masks personal data in every record it sees (it never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            record.args = _access_args(record.args)
        # uvicorn's ANSI-coloured copy of the message is noise in JSON (and unredacted).
        record.__dict__.pop("color_message", None)
        record.msg = redact(str(record.msg))
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


def _access_args(args: tuple[Any, ...]) -> tuple[Any, ...]:
    # uvicorn's access record: (client address, method, path with query, HTTP version,
    # status code).
    if len(args) != 5:
        return args
    client, method, path, version, status = args
    return (network_part(str(client)), method, str(path).partition("?")[0], version, status)


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for the server: JSON lines on standard error,
    personal data masked, uvicorn's own loggers routed through the same handler."""
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "filters": ["personal_data"],
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"personal_data": {"()": RedactPersonalData}},
        "formatters": {
            "json": {
                "()": UtcJsonFormatter,
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
                "datefmt": "%Y-%m-%dT%H:%M:%SZ",
            }
        },
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["default"], "level": level, "propagate": False},
            "recompra": {"handlers": ["default"], "level": level, "propagate": False},
        },
    }
