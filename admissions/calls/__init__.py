"""Calls from call-tracking services (CallRail, CallTrackingMetrics) arriving by webhook.

A webhook is checked (the source's signature, a timestamp window), read by the service's adapter
(``adapters``) into one ``CallEventData``, and handed to ``services.call_event_receive``: a call's
start creates or finds the inquiry through the lead write path (``admissions.lead_write.lead_ingest``:
the same normalisation and deduplication as the lead API), its end adds the call to the
timeline, and a missed call opens a call-back task due now. Each (source, call, event kind)
is received once: a duplicate or late delivery writes nothing.
"""
