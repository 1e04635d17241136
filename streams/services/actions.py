"""Calls to action: approve one for a case, follow its progress, list its signatories."""

from __future__ import annotations

from pydantic import ValidationError

from agents.audience import select_members
from agents.csvsafe import rows_to_csv
from agents.fanout import check_do_no_harm, check_texts, identifying_mentions, prefill, reachable
from agents.regions import load_region_table
from notifiers.segments import segments
from schemas.actions import LETTER_KINDS, ActionIn, CallToAction
from schemas.base import FieldProblem, problems_from, utcnow
from schemas.vocab import ActionKind, CaseStatus, Channel, Consent
from streams.audit import record
from streams.ids import new_id
from streams.runtime import Runtime
from streams.services.cases import get_case
from streams.services.errors import ServiceError
from streams.stages.delivery.progress import progress

MAX_SMS_SEGMENTS = 2


def sms_warnings(messages: dict[str, str]) -> list[dict]:
    """A warning per language whose SMS text runs over two segments."""
    out = []
    for lang, text in sorted(messages.items()):
        info = segments(text)
        if info.segments > MAX_SMS_SEGMENTS:
            out.append({"field": f"messages.{lang}", "message": (
                f"{info.segments} SMS segments ({info.encoding}, {info.chars} characters): members pay per "
                f"segment and long texts arrive late; aim for {MAX_SMS_SEGMENTS} or fewer")})
    return out


def action_counts(rt: Runtime, action_id: str) -> dict:
    """The action's counters, summed from the delivery counts of every ledger partition (see delivery.progress)."""
    return progress(rt, action_id)["counts"]


async def get_action(rt: Runtime, action_id: str) -> CallToAction:
    """An approved call to action as of now; 404 naming action_id."""
    await rt.views.sync()
    action = rt.views.actions.get(action_id)
    if action is None:
        raise ServiceError(404, "no such action (a call just approved may take a moment)", field="action_id")
    return action


def action_view(rt: Runtime, action: CallToAction) -> dict:
    """Status (planning, sending, finished with its time, failed) and the counters of every final state."""
    state = progress(rt, action.action_id)
    return {"action_id": action.action_id, "case_id": action.case_id, "kind": action.kind.value,
            "reference": action.reference, "channels": [c.value for c in action.channels],
            "status": state["status"], "finished": state["finished"], "finished_at": state["finished_at"],
            "failure": state["failure"], "failed_at": state["failed_at"], "counts": state["counts"]}


async def approve_action(rt: Runtime, case_id: str, body: object, actor: str, *, token_id: str) -> dict:
    """Validate, audit (as `token_id`) and publish a call to action; refuse unverified cases, texts that would do
    harm or not render."""
    try:
        req = ActionIn.model_validate(body)
    except ValidationError as exc:
        raise ServiceError(422, problems_from(exc)) from None
    case = await get_case(rt, case_id)
    if case is None:
        raise ServiceError(404, "no such case", field="case_id")
    if case.shredded:
        raise ServiceError(409, "the case was shredded: its data is erased and no call to action can be made",
                           field="status")
    follows = followed_actions(rt, case, req)
    if case.consent < Consent.network:
        raise ServiceError(409, f"consent is '{case.consent.value}': members may be told only with 'network' or "
                            "'public' consent", field="consent")
    if follows:
        # A follow-up's recipients are those the ledger says the earlier actions reached (fixed at fan-out);
        # their planned members give the languages to write it in.
        planned = {m for a in follows for m in planned_member_ids(rt, a.action_id)}
        members = [m for m in map(rt.views.members.get, sorted(planned)) if m is not None]
    else:
        members = select_members(rt.views.members.values(), req.audience, load_region_table().network_region)
    deadline = req.deadline.strftime("%Y-%m-%d") if req.deadline else None
    wanted = {m.language for m in members} | {"en"}
    messages = prefill(case, req.kind.value, sorted(wanted - set(req.messages)), deadline) | dict(req.messages)
    # Every text is rendered here as the fan-out will render it, so an approved action cannot fail later.
    problems = check_do_no_harm(case, dict(req.messages)) + check_texts(case, messages, deadline)
    problems += letter_problems(case, req)
    if req.deadline is not None and req.deadline <= utcnow():
        problems.append(FieldProblem(field="deadline", message="the deadline has already passed"))
    if problems:
        raise ServiceError(422, problems)
    action = CallToAction(action_id=new_id("act"), case_id=case.case_id, reference=case.reference, kind=req.kind,
                          audience=req.audience, messages=messages, channels=req.channels, deadline=req.deadline,
                          follows=[a.action_id for a in follows], letter=dict(req.letter), target=req.target,
                          approved_by=actor)
    recipients = {ch.value: sum(1 for m in members if reachable(m, ch)) for ch in req.channels}
    await record(rt, token_id, "action.approve", action.action_id, case.case_id, kind=req.kind.value,
                 channels=[c.value for c in req.channels], **{f"recipients_{k}": n for k, n in recipients.items()})
    fut = await rt.topics.actions_approved.send(key=action.action_id.encode(), value=action)
    await fut
    return {"action_id": action.action_id, "case_id": case.case_id, "recipients": recipients,
            "messages": messages, "warnings": sms_warnings(messages) if Channel.sms in req.channels else []}


FOLLOW_UPS = (ActionKind.further_information, ActionKind.closure_notice)


def letter_problems(case, req: ActionIn) -> list[FieldProblem]:
    """A letter and its target belong to sign-on letters and petitions, and a letter names nobody consent does not
    allow: it goes to the authorities, who must not learn a defender's name from it unless consent is public."""
    if (req.letter or req.target) and req.kind.value not in LETTER_KINDS:
        field = "letter" if req.letter else "target"
        return [FieldProblem(field=field, message="only a sign_on_letter or a petition carries a letter and a target")]
    if req.target is not None and not req.letter:
        return [FieldProblem(field="letter", message="give the letter's text in at least one language")]
    if case.consent is Consent.public:
        return []
    return [FieldProblem(field=f"letter.{lang}", message=(
        f"names a defender or the locality; the case's consent is '{case.consent.value}', so the letter may not "
        "identify who or where to its target (do no harm). Remove it, or record public consent first."))
        for lang, text in sorted(req.letter.items()) if identifying_mentions(case, text)]


def followed_actions(rt: Runtime, case, req: ActionIn) -> list[CallToAction]:
    """The earlier actions a follow-up goes to the recipients of (none for other kinds); 409/422 naming the field
    when the case's status or the list does not allow it."""
    if req.kind not in FOLLOW_UPS:
        if req.follows:
            raise ServiceError(422, "only further_information and closure_notice follow earlier actions",
                               field="follows")
        if case.status is not CaseStatus.verified:
            raise ServiceError(409, f"the case is {case.status.value}; verify it with the source before any call "
                               "to action", field="status")
        return []
    wanted = CaseStatus.closed if req.kind is ActionKind.closure_notice else CaseStatus.verified
    if case.status not in (wanted, CaseStatus.closed):
        raise ServiceError(409, f"the case is {case.status.value}: a {req.kind.value.replace('_', ' ')} needs a "
                           f"{wanted.value} case", field="status")
    earlier = {a.action_id: a for a in rt.views.actions.for_case(case.case_id)}
    ids = list(req.follows) or (list(earlier) if req.kind is ActionKind.closure_notice else [])
    if not ids:
        raise ServiceError(422, "name the earlier action(s) of this case whose recipients should receive it",
                           field="follows")
    for i, action_id in enumerate(ids):
        if action_id not in earlier:
            raise ServiceError(422, "not an action of this case", field=f"follows.{i}")
    return [earlier[a] for a in dict.fromkeys(ids)]


def planned_member_ids(rt: Runtime, action_id: str) -> set[str]:
    """Member ids in an action's plan (or in the recipients its ledger partitions reported, for a follow-up)."""
    return {m for key, part in rt.views.plans.items() if key.startswith(f"{action_id}:") for m in part}


def signatories_csv(rt: Runtime, action_id: str) -> str:
    """CSV of the organisations that signed (no phone numbers or contact names)."""
    rows = rt.views.signatures.of(action_id)
    # Organisation names are typed by people: a cell like =HYPERLINK(...) must stay text in a spreadsheet.
    return rows_to_csv(["member_id", "organization", "country", "signed_at"],
                       ([r["member_id"], r["organization"], r["country"], r["signed_at"]] for r in rows))


async def export_signatories(rt: Runtime, action: CallToAction, token_id: str) -> str:
    """The signatories CSV of an action, the export audited first (as `token_id`)."""
    text = signatories_csv(rt, action.action_id)
    await record(rt, token_id, "export.signatories", action.action_id, action.case_id,
                 rows=len(rt.views.signatures.of(action.action_id)))
    return text
