"""Plain tests; one fails, and the test requiring it is skipped."""

from decimal import ROUND_HALF_UP, Decimal

from pexen.sched.meta import func_meta


@func_meta
def test_sum():
    assert sum(range(101)) == 5050


@func_meta
def test_fsum():
    import math

    assert math.fsum([0.1] * 10) == 1.0


@func_meta(provides={"rounding"})
def test_rounding():
    """Fails: Python rounds half to even, round(2.5) is 2."""
    assert round(2.5) == 3, f"round(2.5) gave {round(2.5)}"


@func_meta(requires={"rounding"})
def test_prices():
    """Requires test_rounding: skipped, since that test failed."""
    assert Decimal("2.675").quantize(Decimal("0.01"), ROUND_HALF_UP) == Decimal("2.68")
