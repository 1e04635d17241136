"""Reply keywords in the network's languages."""

import pytest

from agents.keywords import Intent, intent_of


@pytest.mark.parametrize("body,intent", [
    ("SIGN", Intent.sign), ("sign", Intent.sign), ("FIRMO", Intent.sign), ("Firmo!", Intent.sign),
    ("SIGNE", Intent.sign), ("je signe", Intent.sign), ("ASSINO", Intent.sign), ("assino.", Intent.sign),
    ("أوقع", Intent.sign), ("اوقع", Intent.sign),
    ("STOP", Intent.stop), ("stop please", Intent.stop), ("BAJA", Intent.stop), ("ARRÊT", Intent.stop),
    ("arret", Intent.stop), ("SAIR", Intent.stop), ("توقف", Intent.stop), ("UNSUBSCRIBE", Intent.stop),
    ("START", Intent.start), ("ALTA", Intent.start), ("COMEÇAR", Intent.start), ("ابدأ", Intent.start),
    ("HELP", Intent.help), ("AYUDA", Intent.help), ("AIDE", Intent.help), ("AJUDA", Intent.help), ("مساعدة", Intent.help),
    ("hello there", Intent.unknown), ("", Intent.unknown), ("   ", Intent.unknown), ("signature?", Intent.unknown),
])
def test_intent_of_reply(body, intent):
    assert intent_of(body) is intent
