"""Regular expressions for the replies instruments send, shared by the drivers' ``reply_formats``.

A driver lists ``(command regex, reply regex)`` pairs in ``reply_formats``;
:func:`daclab.connection.check_format` matches both whole (``re.fullmatch``) against the stripped
command and reply, and a reply that breaks its format is a garbled one, retried instead of
entering the data. The patterns are built here, once, from the number forms the manuals use:

- IEEE 488.2 NR1 (integer), NR2 (fixed point) and NR3 (mantissa and exponent), with the sign
  mandatory (``+273.150``), optional, or absent, as the instrument writes it;
- Lake Shore's pictures: ``+nnn.n`` is a fixed layout (:func:`fixed`); ``+nnnnnn`` is a number
  of digits with a decimal point that floats (:func:`floating`); ``±nnn.nnnE±nn`` the same
  mantissa with a two-digit signed exponent (:func:`exponent_form`);
- integers from a set of allowed values (an enumeration, a range, the sums of status bits),
  zero-padded where the manual prints a fixed width (``RDGST?`` ``000``);
- words from an enumeration, and comma-separated fields and lists of records.

Every builder returns a pattern string without anchors, wrapped in a non-capturing group so that
patterns compose safely.
"""

from __future__ import annotations

import re
from typing import Iterable

# How a number's sign is written: "+" always a plus (kelvin), "±" always a sign, "±?" an
# optional sign, "-?" a minus only when negative, "+?" an optional plus, "" no sign at all.
SIGNS = {"+": r"\+", "±": "[+-]", "±?": "[+-]?", "-?": "-?", "+?": r"\+?", "": ""}


def group(pattern: str) -> str:
    return f"(?:{pattern})"


def _sign(sign: str) -> str:
    try:
        return SIGNS[sign]
    except KeyError:
        raise ValueError(f"sign = {sign!r} is not a sign form; forms: {', '.join(map(repr, SIGNS))}") from None


def _digit_span(low: int, high: int) -> str:
    return rf"\d{{{low}}}" if low == high else rf"\d{{{low},{high}}}"


# ---- integers ---------------------------------------------------------------------------------


def _same_length_range(low: str, high: str) -> list[str]:
    """Patterns for the digit strings of one length from ``low`` to ``high`` (inclusive)."""
    if low == high:
        return [low]
    if len(low) == 1:
        return [f"[{low}-{high}]"]
    if low[0] == high[0]:
        return [low[0] + rest for rest in _same_length_range(low[1:], high[1:])]
    tail = len(low) - 1
    patterns, first, last = [], int(low[0]), int(high[0])
    if low[1:] != "0" * tail:  # the lowest first digit covers only part of its block
        patterns += [low[0] + rest for rest in _same_length_range(low[1:], "9" * tail)]
        first += 1
    closing = []
    if high[1:] != "9" * tail:  # and so may the highest
        closing = [high[0] + rest for rest in _same_length_range("0" * tail, high[1:])]
        last -= 1
    if first <= last:
        digit = str(first) if first == last else f"[{first}-{last}]"
        patterns.append(digit + rf"\d{{{tail}}}")
    return patterns + closing


def _run_patterns(low: int, high: int, width: int | None) -> list[str]:
    """Patterns for the integers ``low``..``high`` (>= 0): plain decimal when ``width`` is None,
    else zero-padded to exactly ``width`` digits."""
    if width is not None:
        return _same_length_range(str(low).zfill(width), str(high).zfill(width))
    patterns = []
    for length in range(len(str(low)), len(str(high)) + 1):
        start = max(low, 10 ** (length - 1) if length > 1 else 0)
        stop = min(high, 10 ** length - 1)
        patterns += _same_length_range(str(start), str(stop))
    return patterns


def _by_sign(values: Iterable[int]) -> tuple[Iterable[int], Iterable[int]]:
    """(magnitudes of the negative values, the values >= 0); a range stays a range (a 16-bit
    count has 65536 values, and the drivers build their formats at import)."""
    if isinstance(values, range) and values.step == 1:
        return range(max(1, 1 - values.stop), 1 - values.start), range(max(0, values.start), values.stop)
    values = list(values)
    return [-v for v in values if v < 0], [v for v in values if v >= 0]


def _runs(values: Iterable[int]) -> list[tuple[int, int]]:
    """The values as (first, last) runs of consecutive integers."""
    if isinstance(values, range) and values.step == 1:
        return [(values.start, values.stop - 1)] if len(values) else []
    ordered = sorted(set(values))
    if not ordered:
        return []
    # a run ends wherever the next value is not one more (computed in one pass: a 16-bit
    # register has 65536 values)
    breaks = [index for index in range(1, len(ordered)) if ordered[index] != ordered[index - 1] + 1]
    starts, ends = [0, *breaks], [*breaks, len(ordered)]
    return [(ordered[start], ordered[end - 1]) for start, end in zip(starts, ends)]


def integer(values: Iterable[int], width: int | None = None, padding: str = "none", sign: str = "") -> str:
    """An integer from ``values`` (IEEE 488.2 NR1; a leading minus for negative ones).

    ``padding``: ``"none"`` plain decimal (``7``), ``"exact"`` zero-padded to ``width`` digits
    (``007``), ``"optional"`` any zero padding up to ``width`` digits (``7``, ``07``, ``007``).
    ``sign``: how a value >= 0 is written: ``""`` bare, ``"+"`` always ``+7``, ``"+?"`` either.
    """
    if sign not in ("", "+", "+?"):
        raise ValueError(f"sign = {sign!r} is not allowed for an integer; allowed: '', '+', '+?'")
    if padding not in ("none", "exact", "optional") or (padding != "none") != (width is not None):
        raise ValueError(f"padding = {padding!r} with width = {width!r}: 'none' takes no width, "
                         f"'exact' and 'optional' need one")
    negative, positive = _by_sign(values)
    if not (negative or positive):
        raise ValueError("values is empty: an integer needs at least one allowed value")
    patterns = []
    for prefix, magnitudes in (("-", negative), (_sign(sign), positive)):
        for low, high in _runs(magnitudes):
            if width is not None and len(str(high)) > width:
                raise ValueError(f"{high} does not fit in {width} digits")
            widths = {"none": [None], "exact": [width],
                      "optional": range(len(str(low)), (width or 0) + 1)}[padding]
            for digits in widths:
                start = low if digits is None else max(low, 0)
                stop = high if digits is None else min(high, 10 ** digits - 1)
                patterns += [prefix + p for p in _run_patterns(start, stop, digits)]
    return group("|".join(patterns))


def bit_sum(bits: Iterable[int], width: int | None = None, padding: str = "none") -> str:
    """A status register: any sum of the weights in ``bits`` (0 = none set)."""
    sums = {0}
    for bit in bits:
        sums |= {total + bit for total in sums}
    return integer(sums, width, padding)


REGISTER_BYTE = bit_sum((1, 2, 4, 8, 16, 32, 64, 128))  # *ESR?, *STB?: NR1 0-255
BOOLEAN = integer((0, 1))  # a 0|1 state


# ---- fixed and floating point -------------------------------------------------------------------


def fixed(integer_digits: int | tuple[int, int], fraction_digits: int, sign: str) -> str:
    """IEEE 488.2 NR2 with a fixed layout: ``fixed(3, 1, "+")`` is ``+nnn.n`` (``+042.5``).
    ``integer_digits`` may be a (min, max) span for a field that grows (``+99.99``, ``+100.00``)."""
    low, high = integer_digits if isinstance(integer_digits, tuple) else (integer_digits, integer_digits)
    return group(rf"{_sign(sign)}{_digit_span(low, high)}\.\d{{{fraction_digits}}}")


def floating(digits: tuple[int, int], sign: str, integer_digits: tuple[int, int] | None = None) -> str:
    """A number of ``digits`` (min, max) significant positions with exactly one decimal point
    between them, wherever it falls (Lake Shore's ``+nnnnnn``: ``+273.150``, ``+4.21330``).
    ``integer_digits`` bounds the digits before the point."""
    low, high = digits
    before_low, before_high = integer_digits or (1, high - 1)
    layouts = [rf"\d{{{before}}}\.\d{{{total - before}}}"
               for total in range(low, high + 1) for before in range(before_low, min(before_high, total - 1) + 1)]
    return group(_sign(sign) + group("|".join(layouts)))


def exponent_form(mantissa_digits: tuple[int, int], sign: str, integer_digits: tuple[int, int] = (1, 3),
                  exponent_digits: int = 2) -> str:
    """Lake Shore's ``±nnn.nnnE±nn``: a :func:`floating` mantissa, ``E``, a signed exponent of
    ``exponent_digits`` digits (``+1.23450E+03``)."""
    return group(floating(mantissa_digits, sign, integer_digits) + rf"E[+-]\d{{{exponent_digits}}}")


def nr3(fraction_digits: tuple[int, int], sign: str = "±", exponent_digits: int = 2) -> str:
    """IEEE 488.2 NR3 as SCPI instruments print it: one digit, a point, ``fraction_digits``
    (min, max) digits, ``E`` and a signed exponent (``+1.2345678E-03``)."""
    return group(rf"{_sign(sign)}\d\.{_digit_span(*fraction_digits)}E[+-]\d{{{exponent_digits}}}")


def decimal(sign: str = "-?", exponent: bool = False) -> str:
    """A decimal number whose digit count the manual leaves open: digits, optionally a point
    and more digits, optionally (``exponent``) ``E`` or ``e`` and a signed exponent."""
    tail = r"(?:[eE][+-]?\d{1,3})?" if exponent else ""
    return group(rf"{_sign(sign)}\d+(?:\.\d+)?{tail}")


# ---- words, fields, records ---------------------------------------------------------------------


def one_of(*words: str) -> str:
    """Exactly one of ``words`` (literal text)."""
    if not words:
        raise ValueError("one_of needs at least one word")
    return group("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))


def fields(*patterns: str, separator: str = ",") -> str:
    """Comma-separated fields, one per pattern, in order: the field count is fixed."""
    return group(re.escape(separator).join(patterns))


def repeated(record: str, separator: str = ",") -> str:
    """One or more ``record``s separated by ``separator`` (a list reply, e.g. a buffer)."""
    return group(f"{record}(?:{re.escape(separator)}{record})*")


def command(*texts: str) -> str:
    """A command regex matching any of ``texts`` literally (a command's ``?`` and ``*`` escaped)."""
    return one_of(*texts)


def query(header: str, argument: str | None = None) -> str:
    """A query ``header`` followed, after one space, by an ``argument`` pattern (a channel)."""
    return group(re.escape(header) + ("" if argument is None else " " + argument))


def identification(manufacturer: str, model: str, more_fields: tuple[int, int] = (2, 2)) -> str:
    """An ``*IDN?`` reply: the ``manufacturer`` and ``model`` fields (literal, case-insensitive),
    then ``more_fields`` (min, max) non-empty fields (IEEE 488.2: serial number and firmware)."""
    low, high = more_fields
    return group(rf"(?i:{re.escape(manufacturer)},{re.escape(model)})(?:,[^,]+){{{low},{high}}}")


SCPI_ERROR = group(r"[+-]?\d{1,4},\"[^\"]*\"")  # SYST:ERR?: code,"message"


def compiled(formats) -> list[tuple[re.Pattern, re.Pattern]]:
    """``formats`` compiled (for tests, and to fail early on a malformed pattern)."""
    return [(re.compile(c), re.compile(r)) for c, r in formats]


__all__ = [
    "SIGNS", "group", "integer", "bit_sum", "REGISTER_BYTE", "BOOLEAN", "fixed", "floating",
    "exponent_form", "nr3", "decimal", "one_of", "fields", "repeated", "command", "query",
    "identification", "SCPI_ERROR", "compiled",
]
