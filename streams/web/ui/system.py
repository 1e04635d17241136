"""The system page: consumer lag, dead letters with replay, provider reachability, cases per day."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from datetime import date, timedelta

import aiohttp
from aiohttp import web
from babel.dates import format_skeleton
from faust.web import View
from markupsafe import Markup, escape
from pydantic import ValidationError

from schemas.base import problems_from, utcnow
from schemas.deadletters import DeadLetter
from schemas.reports import ReportIn
from schemas.vocab import Urgency
from streams import crypto
from streams import topics as catalogue
from streams.admin import read_all
from streams.audit import record
from streams.runtime import Runtime
from streams.services.errors import ServiceError
from streams.services.reports import submit_report
from streams.web.api.health import broker_status
from streams.web.ui import i18n
from streams.web.ui.auth import Guard
from streams.web.ui.chart import cases_per_day_svg
from streams.web.ui.render import Refused, html_guarded, language, page

DLQ_SHOWN = 50


def consumer_lag(rt: Runtime) -> list[dict]:
    """Per assigned partition of the topics our agents consume: committed offset, highwater and the lag.

    Table changelogs are left out: faust reads them to the end at recovery and never commits them.
    """
    consumer = rt.app.consumer
    try:
        assigned = consumer.assignment()
    except Exception:  # noqa: BLE001 - before the first rebalance there is no assignment
        return []
    rows = []
    for tp in sorted(assigned, key=lambda tp: (tp.topic, tp.partition)):
        if tp.topic.endswith("-changelog") or "__assignor" in tp.topic:
            continue
        try:
            high = consumer.highwater(tp)
        except Exception:  # noqa: BLE001
            high = None
        # faust's record of the offset committed to Kafka: the next offset to read (private, read-only use).
        committed = consumer._committed_offset.get(tp)
        lag = None if high is None else max(0, high - (committed or 0))
        rows.append({"topic": tp.topic, "partition": tp.partition, "committed": committed, "highwater": high,
                     "lag": lag})
    return rows


def dead_letters(rt: Runtime, spec: catalogue.TopicSpec) -> list[dict]:
    """The newest dead letters of a topic (blocking: run in a thread), each with a stable id."""
    rows = []
    for _key, value in read_all(rt.settings, spec, timeout=5.0):
        try:
            letter = crypto.sealer().loads(DeadLetter, value)
        except ValueError:
            continue
        rows.append({"id": hashlib.sha256(value).hexdigest()[:16], "letter": letter})
    return rows[-DLQ_SHOWN:][::-1]


async def providers(rt: Runtime) -> list[dict]:
    """Whether Kafka, the SMS provider (Twilio or the sandbox) and the SMTP relay answer."""
    out = [{"name": "Kafka", **(await broker_status(rt))}]
    base = rt.settings.twilio.base_url
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            async with http.get(base) as resp:
                out.append({"name": f"SMS ({base})", "connected": True, "detail": f"HTTP {resp.status}"})
    except Exception as exc:  # noqa: BLE001
        out.append({"name": f"SMS ({base})", "connected": False, "error": type(exc).__name__})
    smtp = rt.settings.smtp
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(smtp.host, smtp.port), 2)
        banner = await asyncio.wait_for(reader.readline(), 2)
        writer.write(b"QUIT\r\n")
        writer.close()
        out.append({"name": f"SMTP ({smtp.host}:{smtp.port})", "connected": banner.startswith(b"220"),
                    "detail": banner[:3].decode(errors="replace")})
    except Exception as exc:  # noqa: BLE001
        out.append({"name": f"SMTP ({smtp.host}:{smtp.port})", "connected": False, "error": type(exc).__name__})
    return out


def cases_per_day(rt: Runtime, days: int = 14) -> dict[str, dict[str, int]]:
    """Cases opened per day (UTC) by urgency over the last `days` days."""
    today = utcnow().date()
    out = {(today - timedelta(days=i)).isoformat(): {u.value: 0 for u in Urgency} for i in range(days - 1, -1, -1)}
    for case in rt.views.cases.values():
        day = case.opened_at.date().isoformat()
        if day in out:
            out[day][case.urgency.value] += 1
    return out


async def replay(rt: Runtime, letter_id: str) -> dict:
    """Re-submit a report dead letter if it is now valid; otherwise return its reasons."""
    for row in await asyncio.to_thread(dead_letters, rt, catalogue.REPORTS_DLQ):
        if row["id"] != letter_id:
            continue
        try:
            body = json.loads(row["letter"].payload)
            ReportIn.model_validate(body)
        except RecursionError:
            return {"ok": False, "reasons": row["letter"].reasons}  # nested too deeply to be a report, ever
        except ValueError as exc:
            reasons = problems_from(exc) if isinstance(exc, ValidationError) else []
            return {"ok": False, "reasons": reasons or row["letter"].reasons}
        try:
            receipt = await submit_report(rt, body, "replay", None)
        except ServiceError as exc:
            return {"ok": False, "reasons": exc.problems}
        return {"ok": True, "reference": receipt["reference"], "case_id": receipt["case_id"]}
    raise Refused(404, "dash.err.no_dead_letter")


URGENCY_WORDS = "|".join(u.value for u in Urgency)


def chart_in(data: dict[str, dict[str, int]], lang: str) -> Markup:
    """The cases-per-day chart with its words in `lang`: its label, scale, legend, bar titles and day labels.

    chart.py draws it in English; the words are put in their place here (a word drawn differently stays English).
    """
    svg = str(cases_per_day_svg(data))

    def t(key: str, **values) -> str:
        return str(escape(i18n.translate(lang, key, **values)))

    def label(urgency: str) -> str:
        return t(f"v.urgency.{urgency}")

    def isolated(text: str) -> str:  # an Arabic word keeps its own direction in the chart's left-to-right drawing
        return f"\u2068{text}\u2069"

    days = {d[5:]: d for d in data}

    def day(short: str) -> str:
        try:
            return str(escape(format_skeleton("MMMd", date.fromisoformat(days[short]), locale=lang)))
        except (KeyError, ValueError):
            return short

    svg = svg.replace('aria-label="Cases per day by urgency"', f'aria-label="{t("dash.system.per_day")}"', 1)
    svg = re.sub(r'class="axis">max (\d+)/day</text>',
                 lambda m: f'class="axis">{isolated(t("dash.chart.max", n=int(m[1])))}</text>', svg, count=1)
    svg = re.sub(rf"<title>([0-9-]+): (\d+) ({URGENCY_WORDS})</title>",
                 lambda m: f"<title>{t('dash.chart.bar', day=day(m[1][5:]), n=int(m[2]), urgency=label(m[3]))}</title>",
                 svg)
    svg = re.sub(r'text-anchor="middle">(\d\d-\d\d)</text>',
                 lambda m: f'text-anchor="middle">{isolated(day(m[1]))}</text>', svg)
    svg = re.sub(rf'class="axis">({URGENCY_WORDS})</text>', lambda m: f'class="axis">{isolated(label(m[1]))}</text>',
                 svg)
    return Markup(svg)


def register_system(rt: Runtime, guard: Guard) -> None:
    """Add /dashboard/system and the replay endpoint."""

    async def render(request: web.Request, session, result=None, status: int = 200) -> web.Response:
        """The system page (dead letters are read in threads: the Kafka tooling is synchronous)."""
        reports, notes = await asyncio.gather(asyncio.to_thread(dead_letters, rt, catalogue.REPORTS_DLQ),
                                              asyncio.to_thread(dead_letters, rt, catalogue.NOTIFY_DLQ))
        lang = language(request)
        return page("system.html.j2", status=status, lang=lang, here="/dashboard/system", session=session,
                    lag=consumer_lag(rt), report_dlq=reports, notification_dlq=notes, providers=await providers(rt),
                    chart=chart_in(cases_per_day(rt), lang), result=result, page_name="system")

    @rt.app.page("/dashboard/system")
    class System(View):
        """The system page."""

        @html_guarded
        async def get(self, request: web.Request) -> web.Response:
            """Lag, dead letters, providers, chart."""
            return await render(request, await guard.require(request))

    @rt.app.page("/dashboard/system/replay")
    class Replay(View):
        """Replay a report dead letter."""

        @html_guarded
        async def post(self, request: web.Request) -> web.Response:
            """Re-submit the selected dead letter, or show why it is still refused."""
            session, form = await guard.form(request)
            result = await replay(rt, form.get("id") or "")
            # Only a letter that was there gets this far: its id is one of ours (hex), never typed text.
            await record(rt, session.token_id, "report.replay", form.get("id"), result.get("case_id"), ok=result["ok"])
            return await render(request, session, result, status=200 if result["ok"] else 422)
