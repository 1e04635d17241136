"""Twilio's error codes and wording for what the sandbox refuses or fails, and the JSON error it answers."""

from __future__ import annotations

from aiohttp import web

# Twilio's own wording for the errors the API answers with: code -> (HTTP status, message).
ERRORS = {
    20001: (400, "Invalid filter or paging parameter"),
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "Internal Server Error"),
    21211: (400, "Invalid 'To' Phone Number"),
    21408: (400, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number"),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' phone number is required."),
    21604: (400, "A 'To' phone number is required."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21612: (400, "The 'To' phone number is not currently reachable via SMS"),
    21614: (400, "'To' number is not a valid mobile number"),
}
# Errors an accepted message ends with: (ErrorCode, ErrorMessage) on the Message and its status callback.
UNDELIVERED = (30003, "Unreachable destination handset")
QUEUE_OVERFLOW = (30001, "Queue overflow")


def twilio_error(code: int) -> web.Response:
    """A Twilio-style JSON error response."""
    status, message = ERRORS[code]
    body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if status == 401 else None
    return web.json_response(body, status=status, headers=headers)
