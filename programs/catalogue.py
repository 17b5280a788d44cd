"""The level-of-care catalogue shipped with the CRM: ASAM 3rd and 4th edition level codes.

Names are our own short descriptions. ``intensity`` puts the editions on one
scale so a requirement from one can be compared with a program of the other.
Rows are data: administrators may add editions or retire levels as states adopt them.
"""

from __future__ import annotations

# (edition, code, name, setting, intensity, withdrawal management)
LEVELS: tuple[tuple[str, str, str, str, str, bool], ...] = (
    ("ASAM 3", "1", "Outpatient", "op", "1.0", False),
    ("ASAM 3", "2.1", "Intensive outpatient", "iop", "2.1", False),
    ("ASAM 3", "2.5", "Partial hospitalization", "php", "2.5", False),
    ("ASAM 3", "3.1", "Residential, low intensity", "residential", "3.1", False),
    ("ASAM 3", "3.3", "Residential, population-specific", "residential", "3.3", False),
    ("ASAM 3", "3.5", "Residential, high intensity", "residential", "3.5", False),
    ("ASAM 3", "3.7", "Medically monitored inpatient", "residential", "3.7", False),
    ("ASAM 3", "4", "Medically managed inpatient (hospital)", "residential", "4.0", False),
    ("ASAM 3", "1-WM", "Ambulatory withdrawal management", "op", "1.0", True),
    ("ASAM 3", "2-WM", "Ambulatory withdrawal management, extended monitoring", "php", "2.0", True),
    ("ASAM 3", "3.2-WM", "Residential withdrawal management, clinically managed", "withdrawal", "3.2", True),
    ("ASAM 3", "3.7-WM", "Inpatient withdrawal management, medically monitored", "withdrawal", "3.7", True),
    (
        "ASAM 3",
        "4-WM",
        "Inpatient withdrawal management, medically managed (hospital)",
        "withdrawal",
        "4.0",
        True,
    ),
    ("ASAM 4", "1.0", "Long-term remission monitoring", "op", "0.9", False),
    ("ASAM 4", "1.5", "Outpatient therapy", "op", "1.0", False),
    ("ASAM 4", "1.7", "Medically managed outpatient", "op", "1.7", True),
    ("ASAM 4", "2.1", "Intensive outpatient", "iop", "2.1", False),
    ("ASAM 4", "2.5", "High-intensity outpatient", "php", "2.5", False),
    ("ASAM 4", "2.7", "Medically managed intensive outpatient", "php", "2.7", True),
    ("ASAM 4", "3.1", "Residential, low intensity", "residential", "3.1", False),
    ("ASAM 4", "3.5", "Residential, high intensity", "residential", "3.5", False),
    ("ASAM 4", "3.7", "Medically managed residential", "withdrawal", "3.7", True),
    ("ASAM 4", "4", "Medically managed inpatient (hospital)", "withdrawal", "4.0", True),
)

# Editions whose withdrawal-management levels are also treatment levels (the 4th edition folds
# withdrawal management into 1.7, 2.7, 3.7 and 4). A program at such a level provides both.
INTEGRATED_EDITIONS: frozenset[str] = frozenset({"ASAM 4"})
