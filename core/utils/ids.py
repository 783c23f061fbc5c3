"""Parsing ids from URLs and bodies: anything that is not a positive 64-bit integer is no id."""

MAX_ID = 2**63 - 1


def parse_id(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if 0 < number <= MAX_ID else None
