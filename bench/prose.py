"""Prose for the benchmark corpus: French and English sentences built from grammatical parts, seeded."""

from __future__ import annotations

import numpy as np

# Prose: sentences are built from grammatical parts (subject, verb phrase, object, complement) so that every page is
# different but reads like real administrative or business text, with accents, numbers and punctuation.
FR_SUBJECTS = (
    "Le conseil municipal",
    "La direction régionale",
    "Notre équipe technique",
    "Le comité de pilotage",
    "La société coopérative",
    "Le responsable des achats",
    "L'agence départementale",
    "Madame Lefèvre",
    "Le bureau d'études",
    "La commission des finances",
    "Monsieur Bérenger",
    "Le service après-vente",
)
FR_VERBS = (
    "a approuvé",
    "a présenté",
    "a reporté",
    "examinera",
    "a transmis",
    "devra réviser",
    "a signé",
    "a reçu",
    "prépare actuellement",
    "a longuement étudié",
    "souhaite améliorer",
    "a refusé",
)
FR_OBJECTS = (
    "le budget prévisionnel",
    "la demande de subvention",
    "le rapport d'activité",
    "les nouveaux contrats",
    "la facture détaillée",
    "le cahier des charges",
    "l'état des lieux",
    "le procès-verbal de réunion",
    "les résultats du trimestre",
    "la déclaration fiscale",
    "le plan de formation",
    "l'inventaire du dépôt",
)
FR_COMPLEMENTS = (
    "avant la fin du mois de février",
    "lors de la séance du {day} {month_fr} {year}",
    "malgré les réserves exprimées par les élus",
    "afin de réduire les délais de paiement",
    "pour un montant de {amount} euros",
    "après une hausse de {pct} % des coûts",
    "dans les délais prévus",
    "à la suite d'une inspection approfondie",
    "en concertation avec les partenaires locaux",
    "sans attendre l'avis du préfet",
    "conformément à l'article {art} du règlement",
    "dès la rentrée prochaine",
)
FR_CONNECTORS = ("Par ailleurs,", "En outre,", "Toutefois,", "Néanmoins,", "De plus,", "Enfin,", "Ainsi,", "")
FR_TITLES = ("Compte rendu de réunion", "Note de service", "Rapport annuel", "Courrier administratif", "Procès-verbal")
EN_SUBJECTS = (
    "The board of directors",
    "Our regional office",
    "The technical team",
    "The steering committee",
    "The purchasing manager",
    "Mrs Thompson",
    "The county council",
    "The audit department",
    "Mr Gallagher",
    "The customer service desk",
    "The finance committee",
    "The logistics contractor",
)
EN_VERBS = (
    "approved",
    "presented",
    "postponed",
    "will review",
    "forwarded",
    "must revise",
    "signed",
    "received",
    "is preparing",
    "carefully examined",
    "wants to improve",
    "rejected",
)
EN_OBJECTS = (
    "the provisional budget",
    "the grant application",
    "the annual activity report",
    "the new supply contracts",
    "the itemised invoice",
    "the tender specifications",
    "the property inventory",
    "the meeting minutes",
    "the quarterly results",
    "the tax return",
    "the training plan",
    "the warehouse stock count",
)
EN_COMPLEMENTS = (
    "before the end of February",
    "at the meeting held on {month_en} {day}, {year}",
    "despite the concerns raised by several members",
    "in order to shorten payment delays",
    "for a total of {amount} pounds",
    "after a {pct}% increase in costs",
    "within the agreed deadline",
    "following a thorough inspection",
    "in consultation with local partners",
    "without waiting for the auditor's opinion",
    "in accordance with section {art} of the rules",
    "from next September onwards",
)
EN_CONNECTORS = ("Moreover,", "However,", "In addition,", "Nevertheless,", "Finally,", "As a result,", "")
EN_TITLES = (
    "Minutes of the meeting",
    "Internal memorandum",
    "Annual report",
    "Letter to shareholders",
    "Project notes",
)
PROPER_NAMES = ("Madame", "Monsieur", "Mr", "Mrs")
MONTHS_FR = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre")
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October")
SENTENCES_PER_PARAGRAPH = (3, 6)
PARAGRAPHS_PER_PAGE = 12  # more than fit: the layout stops at the bottom margin


def pick(rng: np.random.Generator, items: tuple[str, ...]) -> str:
    return items[int(rng.integers(len(items)))]


def sentence(rng: np.random.Generator, french: bool) -> str:
    parts = (
        (FR_SUBJECTS, FR_VERBS, FR_OBJECTS, FR_COMPLEMENTS)
        if french
        else (EN_SUBJECTS, EN_VERBS, EN_OBJECTS, EN_COMPLEMENTS)
    )
    connector = pick(rng, FR_CONNECTORS if french else EN_CONNECTORS)
    subject, verb, obj, complement = (pick(rng, p) for p in parts)
    if connector and not subject.startswith(PROPER_NAMES):
        subject = subject[0].lower() + subject[1:]
    complement = complement.format(
        day=int(rng.integers(1, 29)),
        month_fr=pick(rng, MONTHS_FR),
        month_en=pick(rng, MONTHS_EN),
        year=int(rng.integers(2015, 2026)),
        amount=f"{int(rng.integers(1, 99))} {int(rng.integers(0, 1000)):03d}"
        if french
        else f"{int(rng.integers(1, 99))},{int(rng.integers(0, 1000)):03d}",
        pct=int(rng.integers(2, 40)),
        art=int(rng.integers(1, 60)),
    )
    return " ".join(w for w in (connector, subject, verb, obj, complement) if w) + "."


def paragraph(rng: np.random.Generator, french: bool) -> str:
    count = int(rng.integers(SENTENCES_PER_PARAGRAPH[0], SENTENCES_PER_PARAGRAPH[1] + 1))
    return " ".join(sentence(rng, french) for _ in range(count))


def page_paragraphs(rng: np.random.Generator, language: str, number: int) -> list[str]:
    """A title line then paragraphs; `mixed` pages alternate French and English paragraphs."""
    french_title = language != "en"
    title = (
        f"{pick(rng, FR_TITLES if french_title else EN_TITLES)} n° {number}"
        if french_title
        else f"{pick(rng, EN_TITLES)} no. {number}"
    )
    body = []
    for k in range(PARAGRAPHS_PER_PAGE):
        french = language == "fr" or (language == "mixed" and k % 2 == 0)
        body.append(paragraph(rng, french))
    return [title, *body]
