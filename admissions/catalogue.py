"""The substance catalogue shipped with the CRM (codes are used by the lead API)."""

from __future__ import annotations

# (code, name, category, sedative withdrawal risk on daily use, sort order)
SUBSTANCES: tuple[tuple[str, str, str, bool, int], ...] = (
    ("alcohol", "Alcohol", "alcohol", True, 10),
    ("rx_opioids", "Prescription opioids", "opioid", False, 20),
    ("heroin_fentanyl", "Heroin / illicit fentanyl", "opioid", False, 30),
    ("benzodiazepines", "Benzodiazepines and Z-drugs", "sedative", True, 40),
    ("barbiturates", "Barbiturates", "sedative", True, 50),
    ("baclofen", "Baclofen", "muscle_relaxant", True, 60),
    ("carisoprodol", "Carisoprodol and other muscle relaxants", "muscle_relaxant", True, 70),
    ("gabapentinoids", "Gabapentin / pregabalin", "gabapentinoid", True, 80),
    ("rx_stimulants", "Prescription stimulants", "stimulant", False, 90),
    ("stimulants", "Cocaine / methamphetamine", "stimulant", False, 100),
    ("cannabis", "Cannabis", "cannabis", False, 110),
    ("other", "Other", "other", False, 200),
)
