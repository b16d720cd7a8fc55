"""The log format: one line for trouble that is expected, a traceback only for a bug.

Like a night watchman's log book: "door rattled at 3:12" needs one line, not the building's
blueprints. A request with a Host header not in ``ALLOWED_HOSTS`` (Django's
``django.security.*`` loggers) and a request that fails because the database cannot be reached
each log one line (level, logger, message, and the cause's class and first line); any other
error keeps its traceback, because that one is a bug to fix. Settings wire it to the console
handler (``LOGGING`` in ``settings/base.py``).
"""

from __future__ import annotations

import logging


class ConciseFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        error = record.exc_info[1] if record.exc_info else None
        if error is None or not self.expected(record, error):
            return super().format(record)
        cause = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        line = f"{record.levelname} {record.name}: {record.getMessage()}"
        if not record.name.startswith("django.security."):  # there the message is the cause
            line += f" (database unreachable: {type(error).__name__}: {cause})"
        return line.replace("\n", " ")

    @staticmethod
    def expected(record: logging.LogRecord, error: BaseException) -> bool:
        if record.name.startswith("django.security."):
            return True
        from demo_app.ops.errors import is_database_down  # Django's db layer: import late

        return is_database_down(error)
