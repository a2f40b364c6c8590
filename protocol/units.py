"""Clinical unit conversions used on both sides of the wire.

Factors: 1 kPa = 7.50062 mmHg; glucose mg/dL ÷ 18.016 = mmol/L (molar mass of glucose
180.16 g/mol). GATT glucose concentrations arrive in kg/L (mg/dL = kg/L × 10⁵) or mol/L
(mmol/L = mol/L × 10³), Bluetooth Glucose Service 1.0 §3.106.
"""

from __future__ import annotations

MMHG_PER_KPA = 7.50062
MGDL_PER_MMOLL = 18.016


def kpa_to_mmhg(kpa: float) -> float:
    """Convert a pressure in kilopascal to millimetres of mercury."""
    return kpa * MMHG_PER_KPA


def mmhg_to_kpa(mmhg: float) -> float:
    """Convert a pressure in millimetres of mercury to kilopascal."""
    return mmhg / MMHG_PER_KPA


def mgdl_to_mmoll(mgdl: float) -> float:
    """Convert a glucose concentration in mg/dL to mmol/L."""
    return mgdl / MGDL_PER_MMOLL


def mmoll_to_mgdl(mmoll: float) -> float:
    """Convert a glucose concentration in mmol/L to mg/dL."""
    return mmoll * MGDL_PER_MMOLL


def kgl_to_mmoll(kgl: float) -> float:
    """Convert a GATT glucose concentration in kg/L to mmol/L (via mg/dL = kg/L × 10⁵)."""
    return mgdl_to_mmoll(kgl * 1e5)


def moll_to_mmoll(moll: float) -> float:
    """Convert a GATT glucose concentration in mol/L to mmol/L."""
    return moll * 1e3
