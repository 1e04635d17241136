"""Channel senders that raise classified errors; the delivery agent alone decides what to retry."""

from notifiers.base import Notifier, ProviderMessage, SendResult
from notifiers.errors import NotifierError

__all__ = ["Notifier", "NotifierError", "ProviderMessage", "SendResult"]
