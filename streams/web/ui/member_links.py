"""Pages a member opens from a signed link, no login: sign a letter, report an action done, manage their details.

A GET never changes anything (mail scanners and link previews open links): each page shows what the member is
about to do and one button posts it. The signed token in the address is the credential; a signature or report
link works once, a self-service link until it expires. Every change is recorded in the audit trail.
"""

from __future__ import annotations

from aiohttp import web
from faust.web import View

from agents.links import LinkClaims, LinkError, LinkExpired, Purpose
from schemas.actions import LETTER_KINDS, CallToAction
from schemas.base import utcnow
from schemas.members import Member
from schemas.vocab import ActionKind, Channel
from streams.audit import record
from streams.runtime import Runtime
from streams.services import links
from streams.services.errors import ServiceError
from streams.services.members import patch_member
from streams.services.responses import record_response, record_signature
from streams.web.ui import i18n
from streams.web.ui.render import html_guarded, page

MAX_WHAT, MAX_WHERE, MAX_LINK = 500, 200, 500
REPORTED = (ActionKind.decentralized_action.value,)


class LinkRefused(Exception):
    """A member link that cannot be honoured: the status and the catalogue key of the message shown."""

    def __init__(self, status: int, key: str) -> None:
        self.status, self.key = status, key
        super().__init__(key)


def _lang(request: web.Request, member: Member | None) -> str:
    asked = request.query.get("lang")
    if asked in i18n.LANGUAGES:
        return asked
    if member is not None and member.language in i18n.LANGUAGES:
        return member.language
    return i18n.pick_language(None, request.cookies.get(i18n.COOKIE), request.headers.get("Accept-Language", ""))


def refused_page(request: web.Request, exc: LinkRefused, member: Member | None = None) -> web.Response:
    """The page of a refused link, in the member's language when we know them."""
    lang = _lang(request, member)
    return page("member_refused.html.j2", status=exc.status, lang=lang, key=exc.key)


async def claims_of(rt: Runtime, token: str, purpose: Purpose) -> tuple[LinkClaims, Member]:
    """The link's claims and its member, as of now; LinkRefused when it cannot be used."""
    try:
        claims = links.verify(rt.settings, token, purpose)
    except LinkExpired:
        raise LinkRefused(410, "ml.expired") from None
    except LinkError:
        raise LinkRefused(403, "ml.invalid") from None
    await rt.views.sync()
    member = rt.views.members.get(claims.member_id)
    if member is None:
        raise LinkRefused(404, "ml.no_member")
    return claims, member


def open_action(rt: Runtime, claims: LinkClaims, kinds: tuple[str, ...]) -> CallToAction:
    """The still-open action a signature or report link is for; LinkRefused otherwise."""
    action = rt.views.actions.get(claims.action_id or "")
    if action is None or action.kind.value not in kinds:
        raise LinkRefused(404, "ml.no_action")
    case = rt.views.cases.get(action.case_id)
    if case is None or case.shredded:
        raise LinkRefused(410, "ml.closed")
    if action.deadline is not None and action.deadline < utcnow():
        raise LinkRefused(410, "ml.closed")
    return action


async def resolve(rt: Runtime, request: web.Request, token: str, purpose: Purpose, kinds: tuple[str, ...] = (),
                  unused: bool = False) -> tuple[LinkClaims | None, Member | None, CallToAction | None,
                                                 web.Response | None]:
    """(claims, member, action, None) of a usable link, or (.., the refusal page) when it cannot be used: the
    action still open when `kinds` is given, the link not used yet when `unused`."""
    member = None
    try:
        claims, member = await claims_of(rt, token, purpose)
        action = open_action(rt, claims, kinds) if kinds else None
        if unused and links.used(rt, claims):
            raise LinkRefused(409, "ml.used")
    except LinkRefused as exc:
        return None, member, None, refused_page(request, exc, member)
    return claims, member, action, None


def register_member_links(rt: Runtime) -> None:
    """Add /act/sign/{token}, /act/report/{token} and /member/{token}."""

    @rt.app.page("/act/sign/{token}")
    class SignByLink(View):
        """One-click signature of a sign-on letter or petition."""

        @html_guarded
        async def get(self, request: web.Request, token: str) -> web.Response:
            """What the member is about to sign, with one button."""
            claims, member, action, refused = await resolve(rt, request, token, Purpose.sign, LETTER_KINDS)
            if refused:
                return refused
            lang = _lang(request, member)
            done = links.used(rt, claims) or f"{action.action_id}|{member.member_id}" in rt.views.signatures
            return page("member_sign.html.j2", lang=lang, member=member, action=action, signed=done, just=False,
                        letter=_letter_text(action, lang), token=token)

        @html_guarded
        async def post(self, request: web.Request, token: str) -> web.Response:
            """Sign once; a second use of the link is refused."""
            claims, member, action, refused = await resolve(rt, request, token, Purpose.sign, LETTER_KINDS, True)
            if refused:
                return refused
            await links.spend(rt, claims)
            new = await record_signature(rt, member, action, via="web")
            await record(rt, f"member:{member.member_id}", "action.sign", action.action_id, action.case_id,
                         via="link", new=new)
            lang = _lang(request, member)
            return page("member_sign.html.j2", lang=lang, member=member, action=action, signed=True, just=True,
                        letter=_letter_text(action, lang), token=token)

    @rt.app.page("/act/report/{token}")
    class ReportByLink(View):
        """A member reports back on a decentralised action."""

        @html_guarded
        async def get(self, request: web.Request, token: str) -> web.Response:
            """The short form."""
            claims, member, action, refused = await resolve(rt, request, token, Purpose.report, REPORTED, True)
            if refused:
                return refused
            return page("member_report.html.j2", lang=_lang(request, member), member=member, action=action,
                        errors={}, form={}, token=token, done=False)

        @html_guarded
        async def post(self, request: web.Request, token: str) -> web.Response:
            """Record the report (once per link)."""
            claims, member, action, refused = await resolve(rt, request, token, Purpose.report, REPORTED, True)
            if refused:
                return refused
            form = await request.post()
            lang = _lang(request, member)
            values = {k: (form.get(k) or "").strip() for k in ("what", "where", "link")}
            errors = report_errors(values)
            if errors:
                return page("member_report.html.j2", status=422, lang=lang, member=member, action=action,
                            errors=errors, form=values, token=token, done=False)
            await links.spend(rt, claims)
            await record_response(rt, member, action, what=values["what"], where=values["where"],
                                  link=values["link"], via="web")
            await record(rt, f"member:{member.member_id}", "action.report", action.action_id, action.case_id,
                         via="link")
            return page("member_report.html.j2", lang=lang, member=member, action=action, errors={}, form=values,
                        token=token, done=True)

    @rt.app.page("/member/{token}")
    class ManageByLink(View):
        """A member's own page: contact name, language, channels, working groups, or opting out."""

        @html_guarded
        async def get(self, request: web.Request, token: str) -> web.Response:
            """The form, filled with the member's details."""
            _, member, _, refused = await resolve(rt, request, token, Purpose.manage)
            if refused:
                return refused
            return page("member_manage.html.j2", lang=_lang(request, member), member=member, errors={},
                        token=token, saved=False, languages=i18n.LANGUAGES, names=i18n.NAMES)

        @html_guarded
        async def post(self, request: web.Request, token: str) -> web.Response:
            """Apply the changes through the member service and record them."""
            _, member, _, refused = await resolve(rt, request, token, Purpose.manage)
            if refused:
                return refused
            form = await request.post()
            patch = manage_patch(member, form)
            try:
                updated = await patch_member(rt, member.member_id, patch) if patch else member
            except ServiceError as exc:
                errors = {p.field: p.message for p in exc.problems}
                return page("member_manage.html.j2", status=422, lang=_lang(request, member), member=member,
                            errors=errors, token=token, saved=False, languages=i18n.LANGUAGES, names=i18n.NAMES)
            if patch:
                # Which fields changed, never their values (a contact name is personal data).
                await record(rt, f"member:{member.member_id}", "member.self_update", member.member_id,
                             via="link", fields=sorted(patch))
            return page("member_manage.html.j2", lang=_lang(request, updated), member=updated, errors={},
                        token=token, saved=True, languages=i18n.LANGUAGES, names=i18n.NAMES)


def _letter_text(action: CallToAction, lang: str) -> str | None:
    letter = action.letter or {}
    return letter.get(lang) or letter.get("en") or next(iter(letter.values()), None)


def report_errors(values: dict[str, str]) -> dict[str, str]:
    """Problems with a report-back form, by field (catalogue keys)."""
    errors = {}
    if not values["what"]:
        errors["what"] = "ml.report.what_needed"
    elif len(values["what"]) > MAX_WHAT:
        errors["what"] = "ml.too_long"
    if len(values["where"]) > MAX_WHERE:
        errors["where"] = "ml.too_long"
    link = values["link"]
    if link and (len(link) > MAX_LINK or not link.lower().startswith(("https://", "http://")) or not link.isprintable()
                 or any(c.isspace() for c in link)):
        errors["link"] = "ml.report.bad_link"
    return errors


def manage_patch(member: Member, form) -> dict:
    """The MemberPatch body of the self-service form: only what changed."""
    out: dict = {}
    name = (form.get("contact_name") or "").strip()
    if name and name != member.contact_name:
        out["contact_name"] = name
    lang = form.get("language") or member.language
    if lang != member.language:
        out["language"] = lang
    if form.get("opt_out_all"):
        wanted = [c for c in (Channel.sms, Channel.email) if c in member.channels]
        if set(wanted) - set(member.opted_out):
            out["opted_out"] = [c.value for c in wanted]
    else:
        channels = [c for c in form.getall("channels", []) if c in {ch.value for ch in Channel}]
        if sorted(channels) != sorted(c.value for c in member.channels):
            out["channels"] = channels
        opted = [c.value for c in member.opted_out if c.value not in channels]
        # Choosing a channel again on one's own page opts back in to it.
        if sorted(opted) != sorted(c.value for c in member.opted_out):
            out["opted_out"] = opted
    groups = [g.strip() for g in (form.get("working_groups") or "").replace(";", ",").split(",") if g.strip()]
    if sorted(groups) != sorted(member.working_groups) and "working_groups" in form:
        out["working_groups"] = groups
    return out
