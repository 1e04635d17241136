"""A Twilio-compatible SMS gateway and an SMTP sink, for development, drills and tests."""

from sandbox.server import SandboxHandle, start_sandbox

__all__ = ["SandboxHandle", "start_sandbox"]
