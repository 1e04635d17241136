"""An explicit registry from channel name to notifier factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from notifiers.base import Notifier
from notifiers.smtp_email import SmtpEmailNotifier
from notifiers.twilio.client import TwilioSmsNotifier

NotifierFactory = Callable[..., Notifier]


class NotifierRegistry:
    """Maps a channel name to the factory that builds its notifier; refuses duplicates."""

    def __init__(self) -> None:
        self._factories: dict[str, NotifierFactory] = {}

    def register(self, channel: str, factory: NotifierFactory) -> None:
        """Register `factory` for `channel`; raises ValueError if the channel is taken."""
        name = str(channel)
        if name in self._factories:
            raise ValueError(f"a notifier is already registered for channel {name!r}")
        self._factories[name] = factory

    def create(self, channel: str, **params: Any) -> Notifier:
        """Build the notifier for `channel` with constructor `params`; raises KeyError if unknown."""
        try:
            factory = self._factories[str(channel)]
        except KeyError:
            raise KeyError(f"no notifier registered for channel {str(channel)!r}") from None
        return factory(**params)

    def channels(self) -> list[str]:
        """Registered channel names, sorted."""
        return sorted(self._factories)

    def __contains__(self, channel: object) -> bool:
        return str(channel) in self._factories


def default_registry() -> NotifierRegistry:
    """A registry with the production notifiers: Twilio for SMS, SMTP for email.

    `create(channel, **params)` passes keyword parameters to the notifier's constructor:
    - "sms" (TwilioSmsNotifier): base_url, account_sid, auth_token, from_number and/or messaging_service_sid,
      status_callback (absolute URL or None), timeout_seconds;
    - "email" (SmtpEmailNotifier): host, port, sender, username, password, start_tls, use_tls, tls_context,
      timeout_seconds.
    Each class's docstring says what the parameters mean and which setting each comes from.
    """
    registry = NotifierRegistry()
    registry.register(TwilioSmsNotifier.channel, TwilioSmsNotifier)
    registry.register(SmtpEmailNotifier.channel, SmtpEmailNotifier)
    return registry
