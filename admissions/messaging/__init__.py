"""Texts and emails to prospects: templates, cadences, consent, quiet hours, inbound replies."""
