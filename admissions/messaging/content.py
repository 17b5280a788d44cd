"""What a text or an email subject / preview may say, and template variables.

A message can be read on a lock screen or in an inbox list by anyone nearby, so
the visible part must not reveal substance use or treatment (DOMAIN.md section 5).
The check runs when a template is saved and again on the rendered text at send time.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Mapping

from django.utils.html import strip_tags

from admissions.catalogue import SUBSTANCES

# Substance, brand and street names beyond the catalogue. Single words match whole words only.
_EXTRA_SUBSTANCES = (
    "xanax",
    "alprazolam",
    "valium",
    "diazepam",
    "klonopin",
    "clonazepam",
    "ativan",
    "lorazepam",
    "ambien",
    "zolpidem",
    "benzo",
    "benzodiazepine",
    "barbiturate",
    "phenobarbital",
    "oxycodone",
    "oxycontin",
    "percocet",
    "vicodin",
    "hydrocodone",
    "codeine",
    "morphine",
    "dilaudid",
    "tramadol",
    "fentanyl",
    "heroin",
    "opioid",
    "opiate",
    "methadone",
    "suboxone",
    "buprenorphine",
    "subutex",
    "naloxone",
    "narcan",
    "naltrexone",
    "vivitrol",
    "kratom",
    "baclofen",
    "soma",
    "carisoprodol",
    "gabapentin",
    "neurontin",
    "lyrica",
    "pregabalin",
    "adderall",
    "ritalin",
    "vyvanse",
    "methamphetamine",
    "meth",
    "crystal meth",
    "amphetamine",
    "cocaine",
    "crack",
    "ketamine",
    "mdma",
    "ecstasy",
    "molly",
    "lsd",
    "psilocybin",
    "marijuana",
    "weed",
    "cannabis",
    "thc",
    "alcohol",
    "booze",
    "drinking",
    "drug",
    "narcotic",
)
_TREATMENT_TERMS = (
    "detox", "detoxification", "rehab", "rehabilitation", "addiction", "addicted", "addict",
    "treatment center", "treatment centre", "treatment facility", "recovery center", "sober", "sobriety",
    "substance", "substance use", "substance abuse", "substance use disorder", "sud",
    "alcoholism", "alcoholic", "overdose", "withdrawal", "relapse", "dependence", "intoxication",
    "opioid use disorder", "alcohol use disorder", "medication assisted treatment", "mat program",
    "inpatient", "outpatient", "residential treatment", "partial hospitalization", "php", "iop",
    "intensive outpatient", "methadone clinic", "12 step", "twelve step", "recovery", "behavioral health",
    "behavioural health", "mental health", "psychiatric", "aa meeting", "na meeting", "alcoholics anonymous",
    "narcotics anonymous", "drunk", "pill", "oxy", "liquor", "hangover", "withdrawing", "sober living",
)  # fmt: skip
# Endings that keep a word's meaning ("detoxing", "relapsed", "overdoses").
_ENDINGS = ("", "s", "es", "ed", "d", "ing", "er", "ers")
# Inside an address ("freedomdetox.com") a term is found as part of a word; only longer terms, as a
# short one turns up inside ordinary words ("meth" in "something").
_ADDRESS = re.compile(
    r"(?:https?://)?[\w.+-]+@[\w-]+(?:\.[\w-]+)+|(?:https?://)?(?:[\w-]+\.)+[a-z]{2,}\S*", re.I
)
_ADDRESS_TERM_MIN = 5


def _plain(text: str) -> str:
    """The text as a reader sees it: HTML tags and entities read ("de<b></b>tox", "&#100;etox"),
    width and accents folded ("Ｄｅｔｏｘ", "détox"), invisible characters dropped ("de\u200btox"),
    a hyphen inside a word joined ("de-tox")."""
    text = html.unescape(strip_tags(html.unescape(text)))
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    text = "".join(c for c in text if not unicodedata.combining(c) and unicodedata.category(c) != "Cf")
    return re.sub(r"(?<=[^\W\d_])[-\u2010\u2011](?=[^\W\d_])", "", text.lower())


def _normalise(text: str) -> str:
    """Lower case, letters spelled out with separators joined ("r.e.h.a.b"), punctuation as spaces."""
    text = _plain(text)
    text = re.sub(r"\b(?:[a-z][\W_]{1,3}){2,}[a-z]\b", lambda m: re.sub(r"[\W_]", "", m.group()), text)
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return f" {text.strip()} "


def _catalogue_terms() -> set[str]:
    terms: set[str] = set()
    for _code, name, _category, _risk, _order in SUBSTANCES:
        for part in re.split(r"/| and ", name.lower()):
            part = part.replace("illicit ", "").replace("other ", "").replace("prescription ", "").strip()
            if part and part != "other":
                terms.add(part)
    return terms


def _variants(term: str) -> set[str]:
    base = _normalise(term).strip()
    if not base:
        return set()
    if " " in base:
        return {base, base + "s"}
    stems = {base, base[:-1]} if base.endswith("e") else {base}  # "relapse" -> "relapsing"
    return {stem + ending for stem in stems for ending in _ENDINGS if stem + ending != base[:-1]}


BASE_FORBIDDEN: frozenset[str] = frozenset(
    v for t in (*_catalogue_terms(), *_EXTRA_SUBSTANCES, *_TREATMENT_TERMS) for v in _variants(t)
)


def content_problems(text: str, *, extra_terms: Iterable[str] = ()) -> list[str]:
    """The forbidden words or phrases found in ``text`` (empty when it may be sent)."""
    haystack = _normalise(text)
    terms = BASE_FORBIDDEN.union(v for t in extra_terms for v in _variants(t))
    found = {term for term in terms if f" {term} " in haystack}
    for address in _ADDRESS.findall(_plain(text)):
        squashed = re.sub(r"[^a-z0-9]+", "", address.lower())
        found |= {t for t in terms if len(t) >= _ADDRESS_TERM_MIN and " " not in t and t in squashed}
    # Report a phrase rather than each word inside it.
    return sorted(t for t in found if not any(t != o and f" {t} " in f" {o} " for o in found))


VARIABLE = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
TEMPLATE_VARIABLES: dict[str, str] = {
    "first_name": "The person's first name",
    "sender": "The facility's neutral sender name",
    "facility_phone": "The facility's phone number",
    "coordinator": "The assigned coordinator's first name",
    "admission_date": "The scheduled admission date, e.g. Tuesday, March 10",
}


def unknown_variables(text: str) -> list[str]:
    """Variables used in ``text`` that templates do not offer."""
    return sorted({name for name in VARIABLE.findall(text) if name not in TEMPLATE_VARIABLES})


def render(text: str, values: Mapping[str, str]) -> str:
    """Fill ``{{ variable }}`` placeholders; unknown ones become empty."""
    return VARIABLE.sub(lambda m: values.get(m.group(1), ""), text)
