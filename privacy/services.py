"""Writes of Part 2 consent and disclosures; the only place the consent gate lives.

Dependency direction: ``privacy`` builds on ``admissions`` (people, inquiries, the timeline
service) and ``crm`` (audit); nothing in those apps imports ``privacy``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from admissions.models import InquiryEvent, InsurancePolicy, ReferralPartner
from admissions.screening.services import screening_latest
from admissions.services import inquiry_event
from crm.audit import audit_record
from crm.models import AuditEvent
from privacy.models import (
    Disclosure,
    DisclosurePath,
    Information,
    Part2Consent,
    Purpose,
    RecipientType,
    TpoClass,
)
from privacy.notice import REDISCLOSURE_NOTICE

if TYPE_CHECKING:
    from django.http import HttpRequest

    from admissions.models import Inquiry
    from crm.models import User

# Referral partners whose kind makes them a treating provider (a TPO "treatment" recipient);
# a court, an EAP or a community group is covered only by a consent that names it.
TREATING_PARTNER_KINDS = frozenset(
    {ReferralPartner.Kind.HOSPITAL, ReferralPartner.Kind.CLINICIAN, ReferralPartner.Kind.TREATMENT}
)


class DisclosureRefused(Exception):  # noqa: N818 - reads as what happened
    """No valid consent covers the disclosure; the message says why."""


@dataclass(frozen=True)
class PathRule:
    """What one disclosure path may send, to whom, for what, and who may send it."""

    permission: str
    recipient_types: tuple[RecipientType, ...]
    purposes: tuple[Purpose, ...]
    information: tuple[Information, ...]


PATH_RULES: dict[str, PathRule] = {
    DisclosurePath.REFERRAL_PACKET: PathRule(
        "privacy.disclose_referral_packet",
        (RecipientType.PARTNER, RecipientType.PROVIDER),
        (Purpose.REFERRAL, Purpose.PATIENT_REQUEST),
        tuple(Information),
    ),
    DisclosurePath.OUTSIDE_VOB: PathRule(
        "privacy.disclose_outside_vob",
        (RecipientType.VOB_COMPANY,),
        (Purpose.BENEFITS,),
        (Information.DEMOGRAPHICS, Information.INSURANCE),
    ),
    DisclosurePath.PARTNER: PathRule(
        "privacy.disclose_partner",
        (RecipientType.PARTNER,),
        (Purpose.CARE_COORDINATION, Purpose.PATIENT_REQUEST),
        (Information.DEMOGRAPHICS, Information.TREATMENT_STATUS, Information.SCREENING),
    ),
}


@dataclass(frozen=True)
class Recipient:
    """Who receives a disclosure: a referral partner, or a named VOB company or provider."""

    type: str
    partner: ReferralPartner | None = None
    name: str = ""

    @property
    def label(self) -> str:
        return self.partner.organisation if self.partner is not None else self.name

    @property
    def tpo_class(self) -> str | None:
        """The TPO class this recipient belongs to, if any."""
        if self.type == RecipientType.VOB_COMPANY:
            return TpoClass.PAYMENT
        if self.type == RecipientType.PROVIDER:
            return TpoClass.TREATMENT
        if self.partner is not None and self.partner.kind in TREATING_PARTNER_KINDS:
            return TpoClass.TREATMENT
        return None


def _same_name(a: str, b: str) -> bool:
    def norm(s: str) -> str:
        return re.sub(r"\s+", " ", s).strip().casefold()

    return bool(norm(a)) and norm(a) == norm(b)


def consent_gap(
    *,
    consent: Part2Consent,
    discloser_id: int,
    recipient: Recipient,
    purpose: str,
    information: Iterable[str],
    today: date,
) -> str | None:
    """Why ``consent`` does not cover the disclosure, or ``None`` when it does."""
    if consent.revoked_at is not None:
        return f"consent #{consent.pk} was revoked on {timezone.localdate(consent.revoked_at):%b %-d, %Y}"
    if consent.expires_on is not None and consent.expires_on < today:
        return f"consent #{consent.pk} expired on {consent.expires_on:%b %-d, %Y}"
    if consent.discloser_id != discloser_id:
        return f"consent #{consent.pk} names another facility as the discloser"
    if consent.purpose != purpose:
        return f"consent #{consent.pk} is for another purpose ({consent.get_purpose_display().lower()})"
    if consent.recipient_type == RecipientType.TPO:
        if recipient.tpo_class != consent.tpo_class:
            return f"consent #{consent.pk} covers the {consent.tpo_class} class, not {recipient.label}"
    elif consent.recipient_type == RecipientType.PARTNER:
        if recipient.partner is None or recipient.partner.pk != consent.recipient_partner_id:
            return f"consent #{consent.pk} names another recipient"
    elif consent.recipient_type != recipient.type or not _same_name(consent.recipient_name, recipient.name):
        return f"consent #{consent.pk} names another recipient"
    missing = [Information(code).label.lower() for code in information if code not in consent.information]
    if missing:
        return f"consent #{consent.pk} does not cover {', '.join(missing)}"
    return None


def consent_covering(
    *, inquiry: Inquiry, recipient: Recipient, purpose: str, information: Sequence[str], today: date
) -> Part2Consent:
    """The newest consent that covers the disclosure; ``DisclosureRefused`` with the reasons otherwise."""
    consents = list(Part2Consent.objects.filter(person_id=inquiry.person_id).order_by("-captured_at", "-pk"))
    if not consents:
        raise DisclosureRefused("No Part 2 consent is on file for this person.")
    gaps = []
    for consent in consents:
        gap = consent_gap(
            consent=consent,
            discloser_id=inquiry.facility_id,
            recipient=recipient,
            purpose=purpose,
            information=information,
            today=today,
        )
        if gap is None:
            return consent
        gaps.append(gap)
    raise DisclosureRefused("No valid consent covers this disclosure: " + "; ".join(gaps) + ".")


@transaction.atomic
def consent_record(
    *, inquiry: Inquiry, actor: User, values: dict[str, Any], request: HttpRequest | None = None
) -> Part2Consent:
    """Record a signed Part 2 consent for the inquiry's person (values come from a validated form)."""
    recipient_type = values["recipient_type"]
    consent = Part2Consent.objects.create(
        person_id=inquiry.person_id,
        inquiry=inquiry,
        discloser=values["discloser"],
        information=sorted(values["information"]),
        information_detail=values.get("information_detail", ""),
        recipient_type=recipient_type,
        recipient_partner=values.get("recipient_partner")
        if recipient_type == RecipientType.PARTNER
        else None,
        recipient_name=(
            values.get("recipient_name", "")
            if recipient_type in (RecipientType.VOB_COMPANY, RecipientType.PROVIDER, RecipientType.INDIVIDUAL)
            else ""
        ),
        tpo_class=values.get("tpo_class", "") if recipient_type == RecipientType.TPO else "",
        purpose=values["purpose"],
        right_to_revoke=values["right_to_revoke"],
        expires_on=values.get("expires_on"),
        expiry_event=values.get("expiry_event", ""),
        signature_method=values["signature_method"],
        signer_name=values["signer_name"],
        signer_capacity=values["signer_capacity"],
        signature_reference=values.get("signature_reference", ""),
        signed_on=values["signed_on"],
        captured_by=actor,
    )
    audit_record(
        action=AuditEvent.Action.CREATE,
        obj=consent,
        actor=actor,
        request=request,
        fields=["information", "recipient", "purpose", "expiry", "signature"],
    )
    inquiry_event(
        inquiry=inquiry,
        kind=InquiryEvent.Kind.NOTE,
        actor=actor,
        body=f"Part 2 consent #{consent.pk} recorded: {consent.get_purpose_display().lower()}, "
        f"to {consent.recipient_label}.",
        data={"part2_consent": consent.pk},
    )
    return consent


@transaction.atomic
def consent_revoke(
    *, consent: Part2Consent, actor: User, method: str, note: str = "", request: HttpRequest | None = None
) -> Part2Consent:
    """Revoke a consent from now on; a second revocation of the same consent changes nothing."""
    now = timezone.now()
    revoked = Part2Consent.objects.filter(pk=consent.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=actor, revocation_method=method, revocation_note=note
    )
    consent.refresh_from_db()
    if revoked != 1:
        return consent
    audit_record(
        action=AuditEvent.Action.UPDATE, obj=consent, actor=actor, request=request, fields=["revoked_at"]
    )
    inquiry_event(
        inquiry=consent.inquiry,
        kind=InquiryEvent.Kind.NOTE,
        actor=actor,
        body=f"Part 2 consent #{consent.pk} revoked ({consent.get_revocation_method_display().lower()}).",
        data={"part2_consent": consent.pk},
    )
    return consent


def _packet_sections(inquiry: Inquiry, information: Sequence[str]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The consented sections of a packet, in a fixed order, each as (label, value) lines."""
    person = inquiry.person
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    for code in Information:
        if code not in information:
            continue
        lines: list[tuple[str, str]] = []
        if code == Information.DEMOGRAPHICS:
            lines = [
                ("Name", person.full_name),
                (
                    "Date of birth",
                    f"{person.date_of_birth:%b %-d, %Y}" if person.date_of_birth else "not given",
                ),
                ("Phone", str(person.phone or "not given")),
                ("Email", person.email or "not given"),
                ("State", person.state or "not given"),
            ]
        elif code == Information.INSURANCE:
            for policy in (
                InsurancePolicy.objects.filter(inquiry=inquiry).select_related("payer").order_by("rank")
            ):
                payer = policy.payer.name if policy.payer else policy.payer_name or "unknown payer"
                lines += [
                    (f"{policy.get_rank_display()} payer", payer),
                    ("Member ID", policy.member_id or "not given"),
                    ("Group number", policy.group_number or "not given"),
                    ("Subscriber", policy.subscriber_name or "not given"),
                ]
            lines = lines or [("Insurance", "none recorded")]
        elif code == Information.SUBSTANCE_USE:
            names = [s.name for s in inquiry.substances.order_by("sort_order", "name")]
            lines = [("Substances named", ", ".join(names) or "none recorded")]
        elif code == Information.SCREENING:
            screening = screening_latest(inquiry_id=inquiry.pk)
            if screening is None:
                lines = [("Pre-admission screening", "not done")]
            else:
                level = screening.final_level or screening.provisional_level
                lines = [
                    ("Pre-admission screening", "complete" if screening.complete else "in progress"),
                    ("Level of care", f"{level.code} {level.name}" if level else "not determined"),
                    ("Clinician sign-off", "yes" if screening.signed_at else "no"),
                ]
        elif code == Information.TREATMENT_STATUS:
            lines = [
                ("Status", inquiry.get_stage_display()),
                ("Approved level", inquiry.approved_level.code if inquiry.approved_level else "not yet"),
                (
                    "Admission date",
                    f"{inquiry.admission_date:%b %-d, %Y}" if inquiry.admission_date else "not set",
                ),
            ]
        sections.append((code.label, lines))
    return sections


@transaction.atomic
def disclosure_make(
    *,
    inquiry: Inquiry,
    path: str,
    recipient: Recipient,
    purpose: str,
    information: Sequence[str],
    actor: User,
    request: HttpRequest | None = None,
) -> Disclosure:
    """Disclose the inquiry person's information if a valid consent covers it; ledger, audit, timeline.

    The person is the inquiry's person and the discloser its facility. Raises ``DisclosureRefused``
    (and writes nothing) when the path does not allow the request or no consent covers it.
    """
    rule = PATH_RULES.get(path)
    if rule is None:
        raise DisclosureRefused("Unknown disclosure path.")
    if recipient.type not in rule.recipient_types or not recipient.label.strip():
        raise DisclosureRefused("This path does not disclose to that kind of recipient.")
    if purpose not in rule.purposes:
        raise DisclosureRefused("This path does not disclose for that purpose.")
    information = sorted(set(information))
    if not information:
        raise DisclosureRefused("Choose the information to disclose.")
    beyond = [code for code in information if code not in rule.information]
    if beyond:
        raise DisclosureRefused(
            "This path does not disclose " + ", ".join(Information(c).label.lower() for c in beyond) + "."
        )
    now = timezone.now()
    consent = consent_covering(
        inquiry=inquiry,
        recipient=recipient,
        purpose=purpose,
        information=information,
        today=timezone.localdate(now),
    )
    document = render_to_string(
        "privacy/packet.txt",
        {
            "path": DisclosurePath(path).label,
            "discloser": inquiry.facility,
            "recipient": recipient.label,
            "purpose": Purpose(purpose).label,
            "made_at": timezone.localtime(now),
            "consent": consent,
            "sections": _packet_sections(inquiry, information),
            "notice": REDISCLOSURE_NOTICE,
        },
    )
    disclosure = Disclosure.objects.create(
        person_id=inquiry.person_id,
        inquiry=inquiry,
        discloser_id=inquiry.facility_id,
        consent=consent,
        path=path,
        recipient_type=recipient.type,
        recipient_partner=recipient.partner,
        recipient_label=recipient.label[:160],
        purpose=purpose,
        information=information,
        document=document,
        made_by=actor,
        made_at=now,
    )
    audit_record(
        action=AuditEvent.Action.DISCLOSE, obj=disclosure, actor=actor, request=request, fields=information
    )
    inquiry_event(
        inquiry=inquiry,
        kind=InquiryEvent.Kind.NOTE,
        actor=actor,
        body=f"{DisclosurePath(path).label} sent to {recipient.label} under Part 2 consent #{consent.pk}.",
        data={"disclosure": disclosure.pk},
    )
    return disclosure


def consents_expiry_alert(*, days: int, today: date | None = None) -> int:
    """Post one timeline alert for each unrevoked consent that expires within ``days``; returns how many."""
    today = today or timezone.localdate()
    due = (
        Part2Consent.objects.filter(
            revoked_at__isnull=True,
            expiry_alerted_at__isnull=True,
            expires_on__lte=today + timedelta(days=days),
        )
        .order_by("expires_on", "pk")
        .values_list("pk", flat=True)
    )
    posted = 0
    for pk in list(due):
        with transaction.atomic():
            # the claim makes the alert once-only even when two beat runs overlap
            claimed = Part2Consent.objects.filter(pk=pk, expiry_alerted_at__isnull=True).update(
                expiry_alerted_at=timezone.now()
            )
            if claimed != 1:
                continue
            consent = Part2Consent.objects.select_related("inquiry", "recipient_partner").get(pk=pk)
            assert consent.expires_on is not None  # noqa: S101 - filtered above
            verb = "expired" if consent.expires_on < today else "expires"
            inquiry_event(
                inquiry=consent.inquiry,
                kind=InquiryEvent.Kind.NOTE,
                actor_label="Consent expiry",
                body=f"Part 2 consent #{consent.pk} ({consent.get_purpose_display().lower()}, to "
                f"{consent.recipient_label}) {verb} on {consent.expires_on:%b %-d, %Y}. "
                "Ask the person to renew it before disclosing again.",
                data={"alert": True, "part2_consent": consent.pk, "owner": consent.inquiry.assigned_to_id},
            )
            posted += 1
    return posted
