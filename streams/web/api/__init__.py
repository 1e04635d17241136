"""The JSON API (/api/v1/...), /healthz, /metrics and the Twilio webhooks: views that only translate HTTP to the
use-cases in streams/services and back."""
