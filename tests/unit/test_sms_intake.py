"""Reports texted in by field reporters: one structured SMS or a guided conversation, in five languages."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from agents.sms_intake import (ALPHABET, Conversation, advance, parse_status, parse_structured, received_reply,
                               status_reply, unknown_reference_reply)
from agents.sms_words import DEFAULT_PATH, PLACEHOLDERS, REQUIRED_LANGUAGES, SmsIntakeDataError, load_vocabulary
from notifiers.segments import segments
from schemas.base import personal_fields
from schemas.reports import ReportIn
from schemas.vocab import Consent, IncidentType
from streams import ids

T = IncidentType
NOW = datetime.now(timezone.utc)
DATA = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
ARABIC = re.compile(r"[\u0600-\u06ff]")


def talk(*messages: str, language: str | None = None, start: datetime = NOW, step: timedelta = timedelta(minutes=1)):
    """Send messages one by one as a reporter would; the turns they produced."""
    turns, conversation = [], None
    for n, text in enumerate(messages):
        turn = advance(conversation, text, start + n * step, language=language)
        turns.append(turn)
        conversation = turn.conversation
    return turns


def asking(field: str, language: str = "es") -> Conversation:
    """A conversation waiting for an answer to `field`."""
    opening = {"incident_type": "ALERTA", "country": "ALERTA amenaza", "description": "ALERTA amenaza PE Lima:",
               "consent": "ALERTA amenaza PE Lima: llegaron hombres armados a la casa"}[field]
    conversation = advance(None, opening, NOW, language=language).conversation
    assert conversation is not None and conversation.asked == field
    return conversation


# (text, language, incident, country, locality, description, consent)
STRUCTURED = [
    ("ALERTA desaparicion PE San Isidro: se llevaron a la lideresa esta mañana",
     "es", T.enforced_disappearance, "PE", "San Isidro", "se llevaron a la lideresa esta mañana", None),
    ("ALERTA Desaparición forzada Perú Lima: no sabemos dónde está desde ayer",
     "es", T.enforced_disappearance, "PE", "Lima", "no sabemos dónde está desde ayer", None),
    ("alerta amenaza de muerte peru: llamaron a su casa a las 10:30 #privado",
     "es", T.death_threat, "PE", None, "llamaron a su casa a las 10:30", Consent.private),
    ("DENUNCIA detencion arbitraria CO Bogota: lo detuvieron sin orden judicial #red",
     "es", T.arbitrary_detention, "CO", "Bogota", "lo detuvieron sin orden judicial", Consent.network),
    ("ALERTA AMENAZA PE LIMA: SE LLEVARON A LA LIDERESA", "es", T.threat_intimidation, "PE", "LIMA",
     "SE LLEVARON A LA LIDERESA", None),
    ("ALERTE menace CO Cali: menaces contre le leader paysan #réseau",
     "fr", T.threat_intimidation, "CO", "Cali", "menaces contre le leader paysan", Consent.network),
    ("signalement expulsion forcee Côte d'Ivoire Abidjan: les familles sont chassées #prive",
     "fr", T.forced_eviction, "CI", "Abidjan", "les familles sont chassées", Consent.private),
    ("ALERTE détention RDC Goma: arrêté hier soir par des militaires",
     "fr", T.arbitrary_detention, "CD", "Goma", "arrêté hier soir par des militaires", None),
    ("ALERTA ameaca BR Altamira: ameaçaram a liderança ontem à noite",
     "pt", T.threat_intimidation, "BR", "Altamira", "ameaçaram a liderança ontem à noite", None),
    ("DENÚNCIA despejo Brasil: as famílias foram retiradas hoje #público",
     "pt", T.forced_eviction, "BR", None, "as famílias foram retiradas hoje", Consent.public),
    ("denuncia ameaça de morte br Pará: jurado de morte pelo fazendeiro #rede",
     "pt", T.death_threat, "BR", "Pará", "jurado de morte pelo fazendeiro", Consent.network),
    ("ALERT detention KE Nairobi: arrested at the protest this morning",
     "en", T.arbitrary_detention, "KE", "Nairobi", "arrested at the protest this morning", None),
    ("report death threat Kenya: a message said he would be killed #mechanisms",
     "en", T.death_threat, "KE", None, "a message said he would be killed", Consent.mechanisms),
    ("تنبيه اختفاء EG الجيزة: اختفى المدافع منذ صباح اليوم",
     "ar", T.enforced_disappearance, "EG", "الجيزة", "اختفى المدافع منذ صباح اليوم", None),
    ("انذار الاختفاء مصر: اختفى المدافع منذ صباح اليوم #عام",
     "ar", T.enforced_disappearance, "EG", None, "اختفى المدافع منذ صباح اليوم", Consent.public),
    ("إنذار اعتقال تعسفي مصر القاهرة: اعتقلوه من بيته فجرا #آليات",
     "ar", T.arbitrary_detention, "EG", "القاهرة", "اعتقلوه من بيته فجرا", Consent.mechanisms),
    ("بلاغ إخلاء البيرو ليما: طردوا العائلات من أرضها", "ar", T.forced_eviction, "PE", "ليما",
     "طردوا العائلات من أرضها", None),
    # Partial messages: what is missing stays None and is asked for.
    ("ALERTA", "es", None, None, None, None, None),
    ("بلاغ", "ar", None, None, None, None, None),
    ("ALERTA amenaza", "es", T.threat_intimidation, None, None, None, None),
    ("ALERTA amenaza PE: corto", "es", T.threat_intimidation, "PE", None, None, None),
    ("ALERTA amenaza pe vinieron hombres armados a la casa", "es", T.threat_intimidation, "PE", None,
     "vinieron hombres armados a la casa", None),
    ("ALERTA golpiza brutal PE Lima: lo golpearon en la plaza", "es", T.physical_attack, "PE", "Lima",
     "lo golpearon en la plaza", None),
    ("ALERTA palabra-rara PE Lima: lo golpearon en la plaza", "es", None, "PE", "Lima",
     "lo golpearon en la plaza", None),
    # Everyday words that are also country codes ("se" Sweden, "in" India) are not read as countries.
    ("ALERTA amenaza se llevaron a la lideresa", "es", T.threat_intimidation, None, None,
     "se llevaron a la lideresa", None),
    ("alert threat in delhi: they came at night.", "en", T.threat_intimidation, None, None,
     "they came at night.", None),
    # Markers that disagree: the narrowest wins, never the widest.
    ("ALERTA amenaza PE: vinieron a la casa anoche #publico #privado", "es", T.threat_intimidation, "PE", None,
     "vinieron a la casa anoche", Consent.private),
]


@pytest.mark.parametrize("text,language,incident,country,locality,description,consent", STRUCTURED,
                         ids=[c[0][:40] for c in STRUCTURED])
def test_structured_message_is_read(text, language, incident, country, locality, description, consent):
    got = parse_structured(text)
    assert got is not None
    assert (got.language, got.incident_type, got.country, got.locality, got.description, got.consent) == (
        language, incident, country, locality, description, consent)


@pytest.mark.parametrize("text", ["hola", "SIGN", "STOP", "", "   ", "ALERTAS amenaza PE", "amenaza PE Lima: algo",
                                  "SOL-7K3Q9X", "STATUS SOL-7K3Q9X"])
def test_only_an_alert_word_first_makes_a_structured_message(text):
    assert parse_structured(text) is None


@pytest.mark.parametrize("text,registered,language", [
    ("ALERTA ameaça BR: ameaçaram a liderança", None, "pt"),
    ("ALERTA amenaza PE: amenazaron a la lideresa", None, "es"),
    ("ALERTA tortura PE: lo torturaron en la comisaria", None, "es"),  # tortura is es and pt: es first
    ("ALERTA tortura BR: torturaram o lider na delegacia", "pt", "pt"),
    ("ALERTA", None, "es"),
    ("ALERTA", "pt", "pt"),
    ("ALERTA", "ar", "es"),
    ("ALERT", "es", "en"),  # the keyword's language wins over the registered one
])
def test_alerta_is_spanish_unless_something_says_portuguese(text, registered, language):
    assert parse_structured(text, registered).language == language


def test_structured_spanish_message_then_consent_answer_completes_a_valid_report():
    first, last = talk("ALERTA desaparicion PE San Isidro: se llevaron a la lideresa esta mañana", "2")
    assert first.conversation.asked == "consent" and first.report is None
    assert "1 solo el secretariado" in first.reply and "4 campaña publica con nombres" in first.reply
    assert last.conversation is None and last.reply is None and last.ended == "completed"
    report = ReportIn.model_validate(last.report)
    assert (report.incident_type, report.country, report.locality, report.consent, report.language) == (
        T.enforced_disappearance, "PE", "San Isidro", Consent.mechanisms, "es")
    assert report.description == "se llevaron a la lideresa esta mañana"
    assert report.occurred_at == NOW + timedelta(minutes=1)
    assert len(report.defenders) == 1 and report.defenders[0].name is None
    assert report.reporter_contact is None and "reporter_contact" not in last.report


def test_complete_structured_message_needs_no_question():
    (turn,) = talk("ALERT detention KE Nairobi: arrested at the protest this morning #network")
    assert turn.conversation is None and turn.reply is None and turn.ended == "completed"
    assert ReportIn.model_validate(turn.report).consent is Consent.network


def test_guided_arabic_conversation_produces_an_arabic_report():
    steps = [("تنبيه", "incident_type"), ("3", "country"), ("مصر", "description"),
             ("اعتقلوا المدافع من بيته فجر اليوم", "consent"), ("٢", None)]
    turns = talk(*(text for text, _ in steps), language="ar")
    for turn, (_, asked) in zip(turns[:-1], steps):
        assert turn.conversation.asked == asked and turn.conversation.language == "ar"
        # The questions are Arabic; the only Latin letters are the example code EG.
        assert ARABIC.search(turn.reply) and set(re.findall(r"[A-Za-z]", turn.reply)) <= {"E", "G"}
    assert "1 الأمانة فقط" in turns[3].reply and "4 حملة علنية بالأسماء" in turns[3].reply
    report = ReportIn.model_validate(turns[-1].report)
    assert (report.language, report.incident_type, report.country, report.consent) == (
        "ar", T.arbitrary_detention, "EG", Consent.mechanisms)
    assert report.description == "اعتقلوا المدافع من بيته فجر اليوم" and turns[-1].conversation is None


@pytest.mark.parametrize("answer,incident", [
    ("1", T.threat_intimidation), ("2", T.death_threat), ("3.", T.arbitrary_detention), ("٣", T.arbitrary_detention),
    ("9", T.other), ("detenido", T.arbitrary_detention), ("Amenaza de muerte", T.death_threat),
    ("desaparicion", T.enforced_disappearance), ("allanamiento", T.raid_search), ("tentative de meurtre",
                                                                                  T.attempted_killing),
    ("10", None), ("0", None), ("no se", None), ("", None),
])
def test_incident_answer(answer, incident):
    turn = advance(asking("incident_type"), answer, NOW)
    assert (turn.conversation.incident_type, turn.conversation.asked) == (
        (incident, "country") if incident else (None, "incident_type"))


@pytest.mark.parametrize("answer,country,locality", [
    ("pe", "PE", None), ("PE Lima", "PE", "Lima"), ("Perú", "PE", None), ("peru, Lima", "PE", "Lima"),
    ("Brasil", "BR", None), ("البيرو", "PE", None), ("بيرو", "PE", None), ("مصر", "EG", None),
    ("RDC Goma", "CD", "Goma"), ("Estados Unidos", "US", None), ("Côte d'Ivoire", "CI", None),
    ("Narnia", None, None), ("no se", None, None), ("no", None, None), ("hola", None, None),
])
def test_country_answer(answer, country, locality):
    conversation = advance(asking("country"), answer, NOW).conversation
    assert (conversation.country, conversation.locality) == (country, locality)
    assert conversation.asked == ("description" if country else "country")


@pytest.mark.parametrize("answer,consent", [
    ("1", Consent.private), ("2", Consent.mechanisms), ("3", Consent.network), ("4", Consent.public),
    ("٤", Consent.public), ("red", Consent.network), ("#publico", Consent.public), ("privé", Consent.private),
    ("mecanismos", Consent.mechanisms), ("عام", Consent.public), ("5", None), ("si", None), ("0", None),
])
def test_consent_answer(answer, consent):
    turn = advance(asking("consent"), answer, NOW)
    if consent is None:
        assert turn.report is None and turn.conversation.asked == "consent"
    else:
        assert ReportIn.model_validate(turn.report).consent is consent


@pytest.mark.parametrize("field,bad,good", [
    ("incident_type", "no se", "3"), ("country", "Narnia", "Perú"), ("description", "ayer", "llegaron a la casa"),
    ("consent", "7", "1"),
])
def test_invalid_answer_is_asked_again_then_abandoned_after_three(field, bad, good):
    hint = load_vocabulary().text(f"hint_{field}", "es", last=9)
    conversation = asking(field)
    for n in range(1, 4):
        turn = advance(conversation, bad, NOW)
        assert (turn.reply, turn.conversation.asked, turn.conversation.reasks, turn.report) == (hint, field, n, None)
        conversation = turn.conversation
    # A good answer still counts after re-asks ...
    after = advance(conversation, good, NOW)
    assert after.report is not None or getattr(after.conversation, field) is not None
    # ... a fourth bad one ends it, saying how to start again.
    turn = advance(conversation, bad, NOW)
    assert (turn.conversation, turn.report, turn.ended) == (None, None, "abandoned")
    assert "ALERTA" in turn.reply


def test_a_conversation_past_its_timeout_expires():
    conversation = asking("country")
    late = NOW + timedelta(minutes=31)
    turn = advance(conversation, "Perú", late)
    assert (turn.expired, turn.conversation, turn.report) == (True, None, None)
    assert "30 minutos" in turn.reply and "ALERTA" in turn.reply
    # Within the timeout the answer counts; the timeout is the caller's to choose.
    assert advance(conversation, "Perú", NOW + timedelta(minutes=29)).conversation.country == "PE"
    assert advance(conversation, "Perú", late, timeout=timedelta(hours=1)).conversation.country == "PE"


def test_an_alert_after_the_timeout_starts_afresh():
    turn = advance(asking("description"), "ALERT", NOW + timedelta(hours=2))
    assert turn.expired and turn.conversation.language == "en" and turn.conversation.incident_type is None
    assert turn.conversation.started_at == NOW + timedelta(hours=2) and turn.conversation.turns == 1


def test_a_new_structured_message_restarts_the_conversation():
    turn = advance(asking("description"), "ALERTE menace CO Cali: menaces contre le leader", NOW)
    assert (turn.conversation.language, turn.conversation.asked, turn.conversation.country) == ("fr", "consent", "CO")


def test_an_answer_that_starts_with_an_alert_word_stays_an_answer():
    turn = advance(asking("description"), "Alerta, volvieron anoche y rompieron la puerta", NOW)
    assert turn.conversation.asked == "consent" and turn.conversation.country == "PE"
    assert turn.conversation.description == "Alerta, volvieron anoche y rompieron la puerta"


@pytest.mark.parametrize("word,language", [("CANCELAR", "es"), ("cancelar.", "es"), ("ANNULER", "fr"),
                                           ("annuler", "fr"), ("CANCELAR", "pt"), ("ABORT", "en"),
                                           ("CANCEL", "en"), ("إلغاء", "ar"), ("الغاء", "ar")])
def test_cancel_ends_the_conversation(word, language):
    alert = {"es": "ALERTA", "fr": "ALERTE", "pt": "ALERTA", "en": "ALERT", "ar": "تنبيه"}[language]
    conversation = advance(None, alert, NOW, language=language).conversation
    turn = advance(conversation, word, NOW)
    assert (turn.conversation, turn.report, turn.ended) == (None, None, "cancelled")
    assert alert in turn.reply


@pytest.mark.parametrize("text", ["CANCELAR", "hola", "SIGN", "STOP", "2", "Perú"])
def test_text_outside_a_conversation_is_left_to_the_caller(text):
    turn = advance(None, text, NOW)
    assert (turn.conversation, turn.reply, turn.report, turn.expired) == (None, None, None, False)


def test_a_status_request_inside_a_conversation_is_left_to_the_caller():
    conversation = asking("description")
    turn = advance(conversation, "ESTADO SOL-7K3Q9X", NOW + timedelta(minutes=5))
    assert (turn.conversation, turn.reply, turn.report) == (conversation, None, None)


def test_replies_never_repeat_what_the_reporter_wrote():
    turns = talk("ALERTA amenaza PE San Isidro:", "Rosa Quispe fue amenazada por guardias de la minera", "x", "3")
    assert turns[-1].report is not None
    for turn in turns:
        for secret in ("Isidro", "Rosa", "Quispe", "minera", "guardias"):
            assert secret not in (turn.reply or "")


def test_conversation_is_stored_as_json_with_personal_fields_marked():
    conversation = advance(asking("description"), "llegaron hombres armados a la casa", NOW).conversation
    assert Conversation.model_validate_json(conversation.model_dump_json()) == conversation
    assert personal_fields(Conversation) == {"locality", "description"}
    assert conversation.turns == 2


@pytest.mark.parametrize("text,reference", [
    ("STATUS SOL-7K3Q9X", "SOL-7K3Q9X"), ("status sol-7k3q9x", "SOL-7K3Q9X"), ("ESTADO SOL-7K3Q9X?", "SOL-7K3Q9X"),
    ("Estado  SOL 7K3Q9X", "SOL-7K3Q9X"), ("STATUT SOL-7K3Q9X", "SOL-7K3Q9X"), ("SITUAÇÃO SOL-7K3Q9X", "SOL-7K3Q9X"),
    ("situacao SOL-7K3Q9X por favor", "SOL-7K3Q9X"), ("حالة SOL-7K3Q9X", "SOL-7K3Q9X"),
    ("حاله SOL-7K3Q9X", "SOL-7K3Q9X"), ("STATUS SOL-7K3QO1", "SOL-7K3Q01"),  # a misread O is a zero
    ("SOL-7K3Q9X", None), ("STATUS", None), ("STATUS SOL-7K3Q9", None), ("STATUS SOL-7K3Q9XY", None),
    ("STATUS SOL-7K3QUX", None), ("HELLO SOL-7K3Q9X", None), ("STATUS 7K3Q9X", None),
])
def test_status_request(text, reference):
    assert parse_status(text) == reference


def test_status_request_reads_every_generated_reference():
    assert ALPHABET == ids.ALPHABET
    for _ in range(200):
        reference = ids.new_reference()
        assert parse_status(f"status {reference.lower()}") == reference


@pytest.mark.parametrize("language", REQUIRED_LANGUAGES)
def test_reference_replies_in_every_language(language):
    reference = "SOL-7K3Q9X"
    received = received_reply(reference, language)
    word = DATA["languages"][language]["status"][0]
    assert received.count(reference) == 2 and parse_status(f"{word} {reference}") == reference
    assert f"{word} {reference}" in received
    replies = [status_reply(s, reference, language) for s in ("received", "verified", "action", "closed")]
    assert len(set(replies)) == 4 and all(reference in r for r in replies)
    assert reference in unknown_reference_reply(reference, language)
    if language != "en":
        assert received != received_reply(reference, "en")


def test_unknown_language_falls_back_to_english():
    assert status_reply("closed", "SOL-7K3Q9X", "sw") == status_reply("closed", "SOL-7K3Q9X", "en")


VALUES = {"menu": None, "last": 9, "alert": "ALERTA", "minutes": 30, "reference": "SOL-7K3Q9X", "status": "ESTADO"}


@pytest.mark.parametrize("language", REQUIRED_LANGUAGES)
@pytest.mark.parametrize("name", sorted(PLACEHOLDERS))
def test_every_text_exists_in_every_language_and_fits_an_sms(language, name):
    vocab = load_vocabulary()
    text = vocab.text(name, language, **{**VALUES, "menu": vocab.menu_text(language)})
    assert DATA["languages"][language]["texts"][name].strip()
    assert "{" not in text and "}" not in text
    info = segments(text)
    if language == "ar":
        assert ARABIC.search(text)
        # Arabic is UCS-2 (70 characters a segment): only the two menus take a second segment.
        assert info.segments <= (2 if name in {"ask_incident_type", "ask_consent"} else 1)
    else:
        assert (info.encoding, info.segments) == ("GSM-7", 1), text


@pytest.mark.parametrize("language", REQUIRED_LANGUAGES)
@pytest.mark.parametrize("incident", list(IncidentType))
def test_every_incident_type_has_a_keyword_in_every_language(language, incident):
    alert = DATA["languages"][language]["alert"][0]
    for keyword in DATA["languages"][language]["incidents"][incident.value]:
        assert parse_structured(f"{alert} {keyword} PE: una descripción larga").incident_type is incident, keyword


def _broken(tmp_path, change) -> object:
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "sms_intake.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("change,needle", [
    (lambda d: d["languages"]["fr"]["texts"].pop("hint_consent"), "missing texts"),
    (lambda d: d["languages"].pop("pt"), "languages missing: pt"),
    (lambda d: d["languages"]["ar"]["texts"].update(received="{reference} {nombre}"), "placeholders"),
    (lambda d: d["languages"]["es"]["texts"].update(status_closed="cerrado"), "placeholders"),
    (lambda d: d["languages"]["en"]["incidents"].pop("land_grab"), "no words for land_grab"),
    (lambda d: d["languages"]["es"]["consent"].pop("public"), "no words for public"),
    (lambda d: d["languages"]["pt"]["incidents"]["other"].append("amenaza"), "means both"),
    (lambda d: d["languages"]["fr"]["cancel"].append("ALERTE"), "two of them"),
    (lambda d: d["languages"]["es"]["labels"].pop("killing"), "labels"),
    (lambda d: d["country_aliases"].update(XX=["Nowhere"]), "XX"),
])
def test_a_broken_data_file_is_refused_at_load(tmp_path, change, needle):
    with pytest.raises(SmsIntakeDataError, match=needle):
        load_vocabulary(_broken(tmp_path, change))
