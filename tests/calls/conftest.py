from __future__ import annotations

import pytest

from admissions.calls.models import CallTrackingSource, TrackingNumber
from admissions.calls.services import call_tracking_source_create
from admissions.models import LeadSource
from tests.calls.support import SECRET
from tests.factories import CampaignFactory, LeadSourceFactory


@pytest.fixture
def call_lead_source(facility):  # type: ignore[no-untyped-def]
    return LeadSourceFactory(
        name="Call tracking", kind=LeadSource.Kind.CALL_TRACKING, default_facility=facility
    )


@pytest.fixture
def callrail(call_lead_source):  # type: ignore[no-untyped-def]
    return call_tracking_source_create(
        lead_source=call_lead_source,
        provider=CallTrackingSource.Provider.CALLRAIL,
        secret=SECRET,
        label="CallRail",
    )


@pytest.fixture
def ctm(call_lead_source):  # type: ignore[no-untyped-def]
    return call_tracking_source_create(
        lead_source=call_lead_source,
        provider=CallTrackingSource.Provider.CALLTRACKINGMETRICS,
        secret=SECRET,
        label="CTM",
    )


@pytest.fixture
def google_ads(facility):  # type: ignore[no-untyped-def]
    """The tracking number of the CallRail fixtures, on a paid-search source and campaign."""
    source = LeadSourceFactory(name="Google Ads", kind=LeadSource.Kind.WEBSITE, default_facility=facility)
    campaign = CampaignFactory(lead_source=source, name="Detox search", utm_campaign="")
    return TrackingNumber.objects.create(number="+18885550111", lead_source=source, campaign=campaign)
