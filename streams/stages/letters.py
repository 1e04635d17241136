"""Letters delivered at their deadline: the worker that owns a case sends its actions' letters when they are due.

Every few seconds each worker looks at the sign-on letters and petitions with a target whose deadline has passed
and whose case history has no `letter_sent` yet, among the cases whose partition it owns now, and sends each one
(streams/services/letters.py). A letter whose send failed is tried again at the next look, a minute later.
"""

from __future__ import annotations

import logging
import time

from schemas.actions import LETTER_KINDS
from schemas.base import utcnow
from streams.audit import SYSTEM
from streams.ownership import Ownership
from streams.runtime import Runtime
from streams.services.errors import ServiceError
from streams.services.letters import send_letter, sent_event

log = logging.getLogger("solidarity.letters")
RETRY_SECONDS = 60.0


class LetterDelivery:
    """The deliver_letters timer of one worker."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.owner = Ownership(rt, rt.tables.cases)
        self.tried: dict[str, float] = {}  # action_id -> when its send was last tried (time.monotonic())

    def register(self) -> None:
        self.rt.app.timer(interval=5.0, name="deliver_letters")(self.deliver)

    def due(self) -> list:
        """Actions whose letter is due and owned here."""
        now, active = utcnow(), self.owner.active()
        if not active:
            return []
        out = []
        for action in list(self.rt.views.actions.values()):
            if (action.kind.value in LETTER_KINDS and action.target is not None and action.letter
                    and action.deadline is not None and action.deadline <= now
                    and self.owner.owns(action.case_id, active)):
                case = self.rt.views.cases.get(action.case_id)
                if case is not None and not case.shredded and sent_event(case, action.action_id) is None:
                    out.append(action)
        return out

    async def deliver(self) -> None:
        """Send every due letter not tried in the last minute."""
        if not self.rt.views.ready:
            return
        for action in self.due():
            last = self.tried.get(action.action_id)
            if last is not None and time.monotonic() - last < RETRY_SECONDS:
                continue
            self.tried[action.action_id] = time.monotonic()
            try:
                await send_letter(self.rt, action, SYSTEM, token_id=SYSTEM, via="deadline")
                log.info("letter of action %s sent to its target at its deadline", action.action_id)
            except ServiceError as exc:
                log.warning("letter of action %s not sent: %s (field %s)", action.action_id, exc.status,
                            exc.problems[0].field if exc.problems else "-")
