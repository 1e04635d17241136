"""`python -m sandbox`: run the Twilio-compatible gateway and SMTP sink for development and drills."""

from sandbox.server import main

main()
