"""Generate deploy/demo/members.csv: 500 fictional member organisations with valid phone numbers.

Deterministic (fixed seed): `python scripts/make_demo_members.py [OUTPUT]` rewrites the same file.
Every phone number is built from phonenumbers' example mobile number for the country with its trailing
digits varied, and kept only if phonenumbers.is_valid_number says so; every email is @example.org.
"""

from __future__ import annotations

import random
import sys
import unicodedata
from pathlib import Path

import phonenumbers

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.members_csv import parse_csv, to_csv  # noqa: E402
from schemas.members import Member  # noqa: E402

TOTAL = 500
COUNTRIES = {
    "es": ["MX", "CO", "GT", "HN", "PE", "AR", "CL", "ES", "BO", "EC", "PY", "SV", "NI"],
    "pt": ["BR", "PT", "MZ", "AO", "CV", "GW", "TL"],
    "fr": ["FR", "SN", "CM", "CD", "CI", "HT", "ML", "BF", "BE", "MG", "CA"],
    "ar": ["EG", "MA", "TN", "JO", "LB", "PS", "IQ", "SD", "DZ", "YE", "MR"],
    "en": ["GB", "US", "KE", "NG", "PH", "IN", "ZA", "UG", "GH", "BD", "PK", "ID", "NP", "LK", "ZW", "MY"],
}
FIRST = {
    "es": ["Ana", "Lucía", "María", "Rosa", "Carmen", "José", "Luis", "Carlos", "Juan", "Elena", "Diego", "Sofía"],
    "pt": ["Ana", "Beatriz", "Joana", "Mariana", "João", "Pedro", "Tiago", "Rita", "Luísa", "Paulo", "Inês"],
    "fr": ["Awa", "Fatou", "Claire", "Marie", "Jean", "Pierre", "Moussa", "Aminata", "Luc", "Chantal", "Koffi"],
    "ar": ["Fatima", "Layla", "Amina", "Yasmin", "Omar", "Karim", "Ahmed", "Salma", "Nour", "Hassan", "Rania"],
    "en": ["Grace", "Mary", "Priya", "Joy", "Samuel", "David", "Ravi", "Maria", "Joseph", "Aisha", "Rose"],
}
LAST = {
    "es": ["García", "López", "Hernández", "Quispe", "Mamani", "Pérez", "Ramírez", "Torres", "Flores", "Cruz"],
    "pt": ["Silva", "Santos", "Oliveira", "Souza", "Pereira", "Costa", "Machava", "Cossa", "Fernandes"],
    "fr": ["Diallo", "Ndiaye", "Traoré", "Martin", "Bernard", "Kouassi", "Mbeki", "Dubois", "Rakoto"],
    "ar": ["Haddad", "Mansour", "Khalil", "Saleh", "Nasser", "Farouk", "Aziz", "Hamdan", "Barakat"],
    "en": ["Wanjiru", "Okafor", "Sharma", "Santos", "Mensah", "Achieng", "Rahman", "Reyes", "Moyo", "Khan"],
}
KINDS = {
    "es": ["Asociación de Pescadores", "Colectivo de Mujeres Defensoras", "Movimiento Campesino",
           "Red Indígena", "Comité de Defensa de la Tierra", "Sindicato de Trabajadoras del Hogar",
           "Frente de Pobladores", "Centro de Derechos Humanos"],
    "pt": ["Associação de Pescadores", "Movimento dos Sem Terra", "Coletivo de Mulheres Defensoras",
           "Articulação Indígena", "Sindicato dos Trabalhadores Rurais", "Comissão de Direitos Humanos"],
    "fr": ["Association des Pêcheurs", "Collectif des Femmes Défenseures", "Mouvement Paysan",
           "Réseau des Peuples Autochtones", "Comité de Défense des Terres", "Ligue des Droits Humains"],
    "ar": ["جمعية الصيادين", "تجمع المدافعات عن حقوق الإنسان", "حركة الفلاحين", "لجنة الدفاع عن الأرض",
           "نقابة العمال الزراعيين", "مركز حقوق الإنسان"],
    "en": ["Fisherfolk Association", "Women Defenders Collective", "Peasant Movement", "Indigenous Peoples Network",
           "Land Rights Committee", "Domestic Workers Union", "Urban Poor Alliance", "Human Rights Centre"],
}
PLACES = {
    "es": ["del Valle Verde", "de Río Claro", "de la Sierra Alta", "de Laguna Azul", "del Llano Seco",
           "de Monte Oscuro"],
    "pt": ["do Vale Verde", "de Rio Claro", "da Serra Alta", "da Lagoa Azul", "do Cerrado Seco"],
    "fr": ["de la Vallée Verte", "de Rivière Claire", "des Hauts Plateaux", "du Lac Bleu", "de la Côte Sauvage"],
    "ar": ["في الوادي الأخضر", "في النهر الصافي", "في الجبل العالي", "في البحيرة الزرقاء", "في الساحل"],
    "en": ["of Greenvale", "of Clearwater", "of the High Hills", "of Blue Lagoon", "of Dry Plains", "of Saltmarsh"],
}
GROUPS = ["land", "fisherfolk", "women_defenders", "indigenous"]


def ascii_slug(text: str) -> str:
    """Lower-case ASCII letters of a name, for fictional email addresses."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum())


def valid_phone(rng: random.Random, country: str, taken: set[str]) -> str:
    """A new valid mobile number for the country: the example number with its last digits varied."""
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    national = phonenumbers.national_significant_number(example)
    for _ in range(1000):
        tail = "".join(rng.choice("0123456789") for _ in range(4))
        number = phonenumbers.parse(f"+{example.country_code}{national[:-4]}{tail}", None)
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if phonenumbers.is_valid_number(number) and e164 not in taken:
            taken.add(e164)
            return e164
    raise RuntimeError(f"no valid phone number found for {country}")


def make_members(seed: int = 4) -> list[Member]:
    """The demo members: 500, spread over five languages, with 3 on-call secretariat contacts."""
    rng = random.Random(seed)
    taken: set[str] = set()
    languages = list(COUNTRIES)
    members = []
    for n in range(1, TOTAL + 1):
        lang = languages[(n - 1) % len(languages)]
        country = rng.choice(COUNTRIES[lang])
        first, last = rng.choice(FIRST[lang]), rng.choice(LAST[lang])
        oncall = n <= 3
        organization = ("Network Secretariat (on call)" if oncall
                        else f"{rng.choice(KINDS[lang])} {rng.choice(PLACES[lang])}")
        email_only = not oncall and rng.random() < 0.04
        members.append(Member(
            member_id=f"m{n:04d}", organization=organization, contact_name=f"{first} {last}",
            phone=None if email_only else valid_phone(rng, country, taken),
            email=f"{ascii_slug(first)}.{ascii_slug(last)}.{n:04d}@example.org", language=lang, country=country,
            working_groups=[] if oncall or rng.random() > 0.3 else sorted(rng.sample(GROUPS, rng.choice([1, 1, 2]))),
            channels=["email"] if email_only else ["sms", "email"],
            roles=["secretariat_oncall"] if oncall else ["member"],
            opted_out=["sms"] if not oncall and not email_only and rng.random() < 0.06 else [],
        ))
    return members


def main(argv: list[str]) -> int:
    """Write the CSV and check it parses back without a rejected row."""
    out = Path(argv[0]) if argv else ROOT / "deploy" / "demo" / "members.csv"
    text = to_csv(make_members())
    good, bad = parse_csv(text)
    if bad or len(good) != TOTAL:
        print(f"error: generated CSV does not validate: {bad[:3]}", file=sys.stderr)
        return 1
    out.write_text(text, encoding="utf-8")
    print(f"wrote {len(good)} members to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
