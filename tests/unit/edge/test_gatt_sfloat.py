"""IEEE 11073-20601 SFLOAT decoding against hand-computed vectors (tests/vectors/gatt.py)."""

from __future__ import annotations

import math

import pytest

from edge.gatt import SFloat, SFloatSpecial, decode_sfloat, sfloat_special
from edge.gatt.sfloat import FrameReader, sfloat_parts
from tests.vectors.gatt import SFLOAT_NUMBERS, SFLOAT_SPECIALS


@pytest.mark.parametrize(("name", "raw", "expected"), SFLOAT_NUMBERS, ids=lambda v: str(v))
def test_numbers(name: str, raw: int, expected: float) -> None:
    assert math.isclose(decode_sfloat(raw), expected, rel_tol=1e-12, abs_tol=1e-18), name
    assert sfloat_special(raw) is None
    value = SFloat(raw)
    assert value.finite == decode_sfloat(raw)
    assert not value.is_special


@pytest.mark.parametrize(("name", "raw", "expected", "special"), SFLOAT_SPECIALS)
def test_specials_are_never_numbers(name: str, raw: int, expected: float, special: str) -> None:
    decoded = decode_sfloat(raw)
    assert not math.isfinite(decoded)
    if math.isnan(expected):
        assert math.isnan(decoded)
    else:
        assert decoded == expected
    assert sfloat_special(raw) is SFloatSpecial[special]
    value = SFloat(raw)
    assert value.special is SFloatSpecial[special]
    assert value.finite is None
    assert value.is_special
    assert str(value) == special


def test_nres_and_nan_are_distinguishable() -> None:
    assert math.isnan(decode_sfloat(0x07FF)) and math.isnan(decode_sfloat(0x0800))
    assert sfloat_special(0x07FF) is not sfloat_special(0x0800)


def test_exponent_is_sign_extended() -> None:
    # The classic bug: 0xF04B read with exponent +15 gives 7.5e16.
    assert sfloat_parts(0xF04B) == (75, -1)
    assert sfloat_parts(0x8001) == (1, -8)
    assert sfloat_parts(0x7001) == (1, 7)
    assert sfloat_parts(0x0800) == (-2048, 0)
    assert SFloat(0xF04B).exponent == -1
    assert SFloat(0xF04B).mantissa == 75


def test_decimal_exponents_round_to_the_nearest_double() -> None:
    # 75·10⁻¹ must be the double nearest 7.5, not 75 * 0.1 = 7.500000000000001.
    assert decode_sfloat(0xF04B) == 7.5
    assert decode_sfloat(0xF4BF) == 121.5


@pytest.mark.parametrize("raw", [-1, 0x10000])
def test_out_of_range_words_are_rejected(raw: int) -> None:
    with pytest.raises(ValueError):
        decode_sfloat(raw)
    with pytest.raises(ValueError):
        SFloat(raw)


def test_every_word_decodes_consistently() -> None:
    for raw in range(0x10000):
        special = sfloat_special(raw)
        value = decode_sfloat(raw)
        if special is None:
            mantissa, exponent = sfloat_parts(raw)
            assert -2048 <= mantissa <= 2047 and -8 <= exponent <= 7
            assert math.isclose(value, mantissa * 10.0**exponent, rel_tol=1e-12)
        else:
            assert raw >> 12 == 0 and not math.isfinite(value)


def test_frame_reader_reads_little_endian_sfloat() -> None:
    reader = FrameReader(bytes([0x4B, 0xF0]), "test")
    assert reader.sfloat("x") == SFloat(0xF04B)
    reader.finish()
