"""Everything Twilio: the SMS client, its error codes, delivery receipts and inbound SMS, webhook signatures.

Import from the modules: `client` (TwilioSmsNotifier), `errors`, `receipts`, `signature`.
"""
