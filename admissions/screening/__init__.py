"""The phone pre-screen: versioned items (``definition``), the rules (``rules``), and their services.

Import order: ``admissions.models`` imports ``admissions.screening.models`` at its end so Django
finds the models; nothing in this package's ``__init__`` may import models.
"""
