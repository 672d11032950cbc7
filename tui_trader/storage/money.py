"""Exact money columns: :class:`~decimal.Decimal` <-> SQLite ``TEXT``.

Booked money (order prices and quantities, fills, fees, cash, positions) is
stored as a decimal string so it round-trips exactly: ``from_db(to_db(d))``
has the same sign, digits and exponent as ``d`` (``Decimal("1.10")`` comes
back as ``Decimal("1.10")``, not ``1.1``). Floats are refused loudly because a
float has already lost the exact amount before it reaches the database.

Text format: plain positional notation when the exponent is <= 0 (the normal
case for quantised exchange amounts, e.g. ``"0.00000001"``), the canonical
``str()`` form (``"1E+2"``) otherwise, so the exponent is preserved either way.
SQL arithmetic on these columns (``SUM(...)``) would go through floats: do the
sums in Python on ``Decimal`` values instead.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["StoredMoneyTypeError", "from_db", "to_db"]


class StoredMoneyTypeError(TypeError, ValueError):
    """A money column holding no text (a float, a BLOB: a damaged or hand-edited book). A
    ``ValueError`` too, so that it is an unreadable stored amount like any other (the start-up
    says which file, exit 2), not a traceback."""


def to_db(value: Decimal | int | None) -> str | None:
    """A ``Decimal`` (or ``int``) amount as its exact decimal text; ``None`` stays ``None``.

    Raises ``TypeError`` for floats (and anything that is not a Decimal/int) and
    ``ValueError`` for NaN or infinite Decimals.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"money must be a Decimal, got bool {value!r}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        raise TypeError(
            f"money must be a Decimal, got float {value!r}: floats are inexact; "
            "build the Decimal from a string or the exchange's text value"
        )
    if not isinstance(value, Decimal):
        raise TypeError(f"money must be a Decimal, got {type(value).__name__} {value!r}")
    if not value.is_finite():
        raise ValueError(f"money must be finite, got {value!r}")
    if value.as_tuple().exponent <= 0:  # type: ignore[operator]  # finite -> int exponent
        return format(value, "f")
    return str(value)


def from_db(text: str | None) -> Decimal | None:
    """The ``Decimal`` stored by :func:`to_db`; ``None`` (SQL NULL) stays ``None``.

    Raises :class:`StoredMoneyTypeError` (a ``TypeError`` and a ``ValueError``) if the column
    holds a float or a BLOB (a corrupt money column) and
    ``ValueError`` if the text is not a finite decimal number.
    """
    if text is None:
        return None
    if isinstance(text, float):
        raise StoredMoneyTypeError(f"money column holds a float {text!r}: expected decimal text")
    if isinstance(text, int) and not isinstance(text, bool):
        return Decimal(text)
    if not isinstance(text, str):
        raise StoredMoneyTypeError(f"money column holds {type(text).__name__} {text!r}: expected decimal text")
    try:
        value = Decimal(text)
    except ArithmeticError as exc:  # decimal.InvalidOperation
        raise ValueError(f"money column holds {text!r}: not a decimal number") from exc
    if not value.is_finite():
        raise ValueError(f"money column holds {text!r}: not a finite amount")
    return value
