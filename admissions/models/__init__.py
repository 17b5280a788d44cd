"""The admissions app's models, one module per concern.

Every model is imported here by name, so that Django registers it with the app and the rest of
the code imports models from ``admissions.models``. The messaging and screening models live
with their packages; they import the models above them, so they come last.
"""

# isort: skip_file

from admissions.models.people import Caller, Channel, ContactConsent, Person
from admissions.models.attribution import Campaign, LeadSource, LeadSourceKey, ReferralPartner
from admissions.models.inquiry import (
    CrossFacilityDuplicate,
    Inquiry,
    InquiryEvent,
    InsurancePolicy,
    Substance,
    Touch,
    working_stage_rank,
)
from admissions.models.followups import DispatchLease, FollowUp
from admissions.models.waitlist import WaitlistEntry
from admissions.models.idempotency import IdempotencyRecord
from admissions.messaging.models import (
    CadencePlanMark,
    CadenceStep,
    InboundMessage,
    MessageTemplate,
    MessagingHold,
    OutboundMessage,
    SendingRule,
)
from admissions.screening.models import Screening, ScreeningForm
from admissions.imports.models import ImportedRow, ImportJob, ImportMapping, ImportRefusal
from admissions.calls.models import CallEvent, CallTrackingSource, TrackedCall, TrackingNumber

__all__ = [
    "CadencePlanMark",
    "CallEvent",
    "CallTrackingSource",
    "CadenceStep",
    "Caller",
    "Campaign",
    "Channel",
    "ContactConsent",
    "CrossFacilityDuplicate",
    "DispatchLease",
    "FollowUp",
    "IdempotencyRecord",
    "ImportJob",
    "ImportMapping",
    "ImportRefusal",
    "ImportedRow",
    "InboundMessage",
    "Inquiry",
    "InquiryEvent",
    "InsurancePolicy",
    "LeadSource",
    "LeadSourceKey",
    "MessageTemplate",
    "MessagingHold",
    "OutboundMessage",
    "Person",
    "ReferralPartner",
    "Screening",
    "ScreeningForm",
    "SendingRule",
    "Substance",
    "Touch",
    "TrackedCall",
    "TrackingNumber",
    "WaitlistEntry",
    "working_stage_rank",
]
