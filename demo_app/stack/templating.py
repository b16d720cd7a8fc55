"""Fill the lab's config templates (``templates/*.j2``): ``{{ name }}`` -> value, nothing else.

Like a mail merge: the letter (nginx.conf, supervisord.conf) is written once by hand, and only
the marked blanks change per lab. No logic lives in the templates, so a reader sees the real
config file; loops (upstream servers, programs) are rendered in Python and dropped in whole.
A blank without a value is an error, never an empty string in a running config.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

_BLANK = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def render(template: str, **values: object) -> str:
    """The template ``templates/<template>`` with every ``{{ name }}`` filled."""
    text = resources.files("demo_app.stack").joinpath("templates", template).read_text()

    def fill(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"template {template} needs a value for {name!r}")
        return str(values[name])

    return _BLANK.sub(fill, text)


def write_atomically(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` via a temporary file; True when the content changed."""
    if path.exists() and path.read_text() == text:
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return True
