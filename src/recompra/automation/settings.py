"""Automation settings from ``RECOMPRA_*`` variables, and the worker's decision context."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from recompra.automation.definition import parse_clock
from recompra.automation.email import SmtpSender, smtp_settings
from recompra.automation.schedule import ContactPolicy
from recompra.automation.steps import DecisionContext
from recompra.config import Settings
from recompra.reads.recommendations import recommendations_root


class AutomationSettings(BaseSettings):
    """``RECOMPRA_SMTP_URL``, ``RECOMPRA_SMTP_FROM``, ``RECOMPRA_PUBLIC_URL`` and the rate."""

    model_config = SettingsConfigDict(env_prefix="RECOMPRA_", extra="ignore")

    smtp_url: str = ""
    smtp_from: str = "Recompra <no-reply@recompra.local>"
    #: Messages per second handed to the SMTP server (0: as fast as it accepts).
    smtp_rate: float = 0.0
    #: SMTP connections used at once (one sending thread each): more keep a relay busy
    #: while another waits for its reply. Two by default: on PostgreSQL one connection
    #: hands over ~350 messages a second, two ~465 (quiet 2-core run, docs/automation.md),
    #: against the 400 asked. A crash still duplicates at most one message (the
    #: delivery's resend gate); it may give up one hand-over batch of marketing messages
    #: per connection (16 rather than 8).
    smtp_connections: int = Field(default=2, ge=1, le=16)
    #: Base of links in messages (unsubscribe); the address the API is reachable at.
    public_url: str = "http://127.0.0.1:8000"
    #: Marketing needs an explicit grant (otherwise: allowed unless withdrawn).
    require_opt_in: bool = False
    #: Quiet hours ``HH:MM-HH:MM`` in America/Sao_Paulo; ``off`` (or empty) disables them.
    quiet_hours: str = "21:00-08:00"
    #: At most this many marketing e-mails / webhooks per customer and calendar day
    #: (America/Sao_Paulo), besides the rolling caps; 0: no calendar-day cap.
    daily_email_cap: int = 0
    daily_webhook_cap: int = 0
    #: ``recompra serve`` runs a worker thread inside the server (the demo's setup).
    embedded_worker: bool = False

    @field_validator("quiet_hours")
    @classmethod
    def _check_quiet_hours(cls, value: str) -> str:
        if value.strip().lower() in ("", "off"):
            return ""
        start, _, end = value.partition("-")
        parse_clock(start.strip())
        parse_clock(end.strip())
        return f"{start.strip()}-{end.strip()}"

    def contact_policy(self) -> ContactPolicy:
        """The default rolling caps with these calendar-day caps and quiet hours."""
        daily = {
            channel: limit
            for channel, limit in (
                ("email", self.daily_email_cap),
                ("webhook", self.daily_webhook_cap),
            )
            if limit > 0
        }
        if not self.quiet_hours:
            return ContactPolicy(daily_caps=daily, quiet_from=None, quiet_to=None)
        start, end = self.quiet_hours.split("-")
        return ContactPolicy(daily_caps=daily, quiet_from=start, quiet_to=end)


def decision_context(settings: Settings, automation: AutomationSettings) -> DecisionContext:
    """The worker's decision context from the settings."""
    return DecisionContext(
        policy=automation.contact_policy(),
        secret=settings.secret_key,
        public_url=automation.public_url.rstrip("/"),
        recommendations_root=recommendations_root(home=settings.home, configured=None),
        require_opt_in=automation.require_opt_in,
    )


def smtp_sender(automation: AutomationSettings) -> SmtpSender | None:
    """An SMTP sender for ``RECOMPRA_SMTP_URL`` (``None`` when it is not set)."""
    if not automation.smtp_url:
        return None
    return SmtpSender(
        smtp_settings(
            automation.smtp_url, automation.smtp_from, rate_per_second=automation.smtp_rate or None
        ),
        connections=automation.smtp_connections,
    )
