"""``{% inline_css "demo_app/site.css" %}``: the stylesheet's text in a ``<style>`` element.

The error pages use it instead of ``{% static %}``: under production settings ``{% static %}``
looks each file up in the manifest ``collectstatic`` writes, and raises when it is missing, so
an error page that linked its stylesheet would itself fail (Gunicorn's bare 500). The source
file is read through the staticfiles finders (the app's own folders, never ``STATIC_ROOT``), once
per process; a file that cannot be read gives an unstyled page, never an error.
"""

from __future__ import annotations

from functools import lru_cache

from django import template
from django.contrib.staticfiles import finders
from django.utils.safestring import mark_safe

register = template.Library()


@lru_cache(maxsize=8)
def _source(path: str) -> str:
    try:
        found = finders.find(path)
        with open(found, encoding="utf-8") as handle:  # our own file: trusted CSS
            return handle.read()
    except (OSError, TypeError, ValueError):  # TypeError: find() returned None
        return ""


@register.simple_tag
def inline_css(path: str) -> str:
    return mark_safe(f"<style>{_source(path)}</style>")
