"""Unit conversions against independently computed values."""

from __future__ import annotations

import pytest

from protocol import units


def test_kpa_to_mmhg_uses_the_architecture_factor() -> None:
    assert units.kpa_to_mmhg(16.0) == pytest.approx(120.00992, abs=1e-5)
    assert units.mmhg_to_kpa(units.kpa_to_mmhg(13.3)) == pytest.approx(13.3)


def test_glucose_mgdl_and_mmoll() -> None:
    # ADA thresholds: 70 mg/dL ≈ 3.9 mmol/L, 54 mg/dL ≈ 3.0 mmol/L, 250 mg/dL ≈ 13.9 mmol/L.
    assert units.mgdl_to_mmoll(70) == pytest.approx(3.885, abs=1e-3)
    assert units.mgdl_to_mmoll(54) == pytest.approx(2.997, abs=1e-3)
    assert units.mgdl_to_mmoll(250) == pytest.approx(13.877, abs=1e-3)
    assert units.mmoll_to_mgdl(5.5) == pytest.approx(99.088)


def test_gatt_concentration_units() -> None:
    # 0x2A18 in kg/L: 100 mg/dL is 0.001 kg/L; in mol/L: 5.5 mmol/L is 0.0055 mol/L.
    assert units.kgl_to_mmoll(0.001) == pytest.approx(100 / 18.016)
    assert units.moll_to_mmoll(0.0055) == pytest.approx(5.5)
