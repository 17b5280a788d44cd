"""What a reply means: an opt-out (any reasonable means), HELP, START, unclear, or an ordinary
reply; and the person's own words in an email reply."""

from __future__ import annotations

import html
import re
import unicodedata

from django.utils.html import strip_tags

from admissions.messaging.models import InboundMessage

_STOP_WORDS = frozenset(
    {"stop", "stopall", "stop all", "quit", "end", "revoke", "opt out", "optout", "cancel", "unsubscribe",
     "unsub", "stop please", "please stop", "stop now", "stop it"}
)  # fmt: skip
# The words the FCC lists (47 CFR 64.1200(a)(10), FCC 24-24) and their usual spellings.
# Spanish ones as carriers read them, and the requests a person makes of a list ("REMOVE", "DNC").
_KEYWORDS = frozenset(
    {"stop", "stopall", "quit", "end", "revoke", "optout", "cancel", "unsubscribe", "unsub", "remove", "dnc",
     "alto", "parar", "pare", "basta", "cancelar", "baja", "detener"}
)  # fmt: skip
# Keywords long enough that a one-letter slip ("unsuscribe") still plainly means them; a shorter one
# would take in other words ("cancer", "remote").
_SPELLED_KEYWORDS = tuple(sorted(k for k in _KEYWORDS if len(k) >= 7))
# Signs that say stop on their own (octagonal sign, no entry, raised hand).
_STOP_SIGNS = ("\N{OCTAGONAL SIGN}", "\N{NO ENTRY}", "\N{RAISED HAND}")
# Words that may stand beside a keyword without changing what it says ("STOP please", "cancel texts").
_FILLER = frozenset(
    {"please", "pls", "plz", "now", "all", "thanks", "thank", "you", "thx", "ty", "it", "this", "these",
     "that", "them", "me", "my", "texts", "text", "texting", "messages", "message", "msgs", "msg", "emails",
     "email", "sms", "ok", "okay", "asap", "immediately", "already", "just", "i", "said", "sir", "maam",
     "right", "away", "for", "good", "forever", "to", "sending", "subscription", "the", "and", "again",
     "por", "favor", "ya", "mensajes", "mensaje", "textos", "gracias", "todo", "todos"}
)  # fmt: skip
_HELP_WORDS = frozenset({"help", "info", "help me"})
_START_WORDS = frozenset({"start", "unstop", "start again", "unstop please"})
_CONTACT = (
    r"(?:text|texts|texting|message|messages|messaging|msg|msgs|contact|contacting|email|emails|emailing"
    r"|call|calls|calling|sms|reach|reaching|write|writing|bother|bothering|spam|spamming)"
)
_REFUSALS = re.compile(
    r"\b(?:"
    r"(?:stop|quit|cease|no more|never|don ?t|dont|do not|please don ?t|no longer|end)\s+(?:\w+\s+){0,3}?"
    + _CONTACT
    + r"|(?:stop|quit|cease|end)\s+(?:\w+\s+){0,2}?(?:sending|getting|receiving|these|this|them|all)"
    r"|opt ?(?:me )?out|optout|unsubscribe|unsub|revoke|revoking|withdraw (?:my )?consent"
    r"|(?:want|wish|like|going|trying|asked|asking) to (?:stop|cancel|quit|end|be removed|be taken off)"
    r"|leave me alone|remove me|remove my (?:number|name|info|information|email)|take me off"
    r"|delete my (?:number|info|information|email)|lose (?:this|my) number|wrong number|not interested"
    r"|no more|cancel (?:my )?(?:subscription|texts|messages|emails|alerts|notifications)"
    r"|do not (?:want|need) (?:any|these|your)|dont (?:want|need) (?:any|these|your)"
    r"|(?:do not|dont|no longer|never) consent|go away|(?:i )?want out|no longer interested"
    r"|do not call|dont call|no (?:llamen|escriban)|no mas (?:mensajes|textos|llamadas|correos)"
    r"|(?:dejen|deje|dejar) de (?:enviar|mandar|escribir|llamar)\w*|no me (?:escriban|envien|manden|llamen)"
    r"|(?:darme|dar) de baja|no (?:estoy|estamos) interesad[oa]s?"
    r")\b"
)
# A keyword in a phrase that is plainly about something else ("stop by", "the end of the week").
_BENIGN = re.compile(
    r"\b(?:stop (?:by|in|over|at|on)|end of|the end|weekend|at the end|in the end"
    r"|quit (?:my|the|his|her|smoking|drinking|using|work|job)"
    r"|cancel (?:the|my|our|an|this|that|tomorrow s|monday s|tuesday s|wednesday s|thursday s|friday s)"
    r" (?:\w+ )?(?:appointment|appt|visit|meeting|call|tour|intake|admission|booking|reservation|plans))\b"
)


def _folded(body: str) -> str:
    """The reply with width, accents and look-alike digits folded: "ＳＴＯＰ", "Stóp" and "st0p" read
    as "stop"; a stop sign as the word; "#" as "number" ("wrong #")."""
    for sign in _STOP_SIGNS:
        body = body.replace(sign, " stop ")
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", body))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower().replace("#", " number ")
    return re.sub(r"(?<=[a-z])0|0(?=[a-z])", "o", plain)


def _inbound_text(body: str) -> str:
    return re.sub(
        r"\s+", " ", re.sub(r"[^a-z]+", " ", _folded(body).replace("'", "").replace("’", ""))
    ).strip()


def _within_one_edit(word: str, keyword: str) -> bool:
    """Whether one letter added, dropped, changed or two swapped turns ``word`` into ``keyword``."""
    if abs(len(word) - len(keyword)) > 1 or word == keyword:
        return word == keyword
    if len(word) == len(keyword):
        diff = [i for i, (a, b) in enumerate(zip(word, keyword, strict=True)) if a != b]
        return len(diff) == 1 or (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and word[diff[0]] == keyword[diff[1]]
            and word[diff[1]] == keyword[diff[0]]
        )
    short, long = sorted((word, keyword), key=len)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _keyword(word: str) -> bool:
    """A keyword as typed in a hurry: letters held down ("stoppp") or one slip in a long one."""
    squeezed = re.sub(r"(.)\1+", r"\1", word)
    return (
        word in _KEYWORDS
        or squeezed in _KEYWORDS
        or any(_within_one_edit(word, k) for k in _SPELLED_KEYWORDS)
    )


def _is_opt_out_sentence(words: list[str]) -> bool:
    """A sentence made only of keywords and filler ("Stop.", "please STOP texting", "cancel all")."""
    joined = " ".join(words).replace("opt out", "optout").split()
    return (
        bool(joined) and any(_keyword(w) for w in joined) and all(w in _FILLER or _keyword(w) for w in joined)
    )


def inbound_meaning(body: str) -> InboundMessage.Meaning:
    """Whether a reply opts out, asks for help, might opt out (unclear), or is an ordinary reply.

    Opt-out: a listed keyword on its own or with filler words, in any case, spacing or
    punctuation, in any sentence of the reply; or a clear free-text refusal in any position.
    Unclear: a keyword in a reply that is neither (a person may mean it; a coordinator asks).
    """
    text = _inbound_text(body)
    squashed = text.replace(" ", "")
    if text in _STOP_WORDS or squashed in {w.replace(" ", "") for w in _STOP_WORDS} or _REFUSALS.search(text):
        return InboundMessage.Meaning.OPT_OUT
    sentences = [_inbound_text(part).split() for part in re.split(r"[.!?;,\n]+", body)]
    if any(_is_opt_out_sentence(words) for words in sentences):
        return InboundMessage.Meaning.OPT_OUT
    if text in _HELP_WORDS or squashed in _HELP_WORDS:
        return InboundMessage.Meaning.HELP
    if inbound_resubscribes(body):
        return InboundMessage.Meaning.REPLY  # START / UNSTOP ("un stop"): handled as a re-subscribe
    remaining = _BENIGN.sub(" ", text)
    if any(_keyword(word) for word in remaining.split()) or text in {
        "no",
        "no thanks",
        "no thank you",
        "nope",
    }:
        return InboundMessage.Meaning.UNCLEAR
    return InboundMessage.Meaning.REPLY


def inbound_resubscribes(body: str) -> bool:
    """Whether an inbound text is START / UNSTOP (any case, spacing, punctuation): texts again, please."""
    text = _inbound_text(body)
    return text in _START_WORDS or text.replace(" ", "") in {w.replace(" ", "") for w in _START_WORDS}


_QUOTED = re.compile(r"^(?:>|On .{0,200} wrote:|-----Original Message-----|From: )", re.MULTILINE)


def email_reply_text(*, subject: str, text: str) -> str:
    """What the person wrote in an email reply: the subject without Re:/Fwd:, and the body above
    the quoted message."""
    subject = re.sub(r"^(?:\s*(?:re|fwd?|aw)\s*:\s*)+", "", subject, flags=re.IGNORECASE)
    match = _QUOTED.search(text)
    own = text[: match.start()] if match else text
    return f"{subject}\n{own}".strip()


_HTML_QUOTE = re.compile(r"<blockquote\b.*?</blockquote\s*>", re.IGNORECASE | re.DOTALL)
_HTML_BREAK = re.compile(r"<\s*(?:br|/p|/div|/li|/tr|/h[1-6])\b[^>]*>", re.IGNORECASE)


def email_html_text(body: str) -> str:
    """The text of an HTML email part, without its quoted message: quoted blocks dropped, line
    breaks kept, tags stripped and entities read ("&#83;TOP" is "STOP")."""
    body = _HTML_BREAK.sub("\n", _HTML_QUOTE.sub("\n", body))
    return html.unescape(strip_tags(body))
