"""The kernel's export guard, shared by the dashboards' tables and the audit trail's CSV."""

from __future__ import annotations

import pytest

from crm.exports import neutralise


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_cells_a_spreadsheet_would_run_get_a_quote(cell):
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["", "Tampa", "1-2", "a=b", "'=already"])
def test_other_cells_stay_as_they_are(cell):
    assert neutralise(cell) == cell
