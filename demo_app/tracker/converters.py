"""A URL converter for row ids: digits only, at most 18 of them, so ``/bills/99999999999999999999/``
is a plain 404 instead of an integer too large for the database column (a 500)."""


class RowIdConverter:
    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)
