"""Database ids are 64-bit integers: a larger number is simply unknown and never reaches the database
(where it would fail as an out-of-range value instead of a clear "unknown" answer)."""

MAX_ID = 2**63 - 1


def storable(value: int | None) -> bool:
    return value is not None and 0 < value <= MAX_ID
