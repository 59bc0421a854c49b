"""The jinja2 environment: template choice by kind and language, and rendering.

The only module that imports jinja2 or reads a template file (built in, or [templates] path).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2

from delist_bot.compose.wrap import wrap
from delist_bot.core.dates import when

# The built-in templates, inside the installed package (a link to the top-level templates/ in
# a checkout); an operator's folder ([templates] path) comes first.
TEMPLATES = files("delist_bot") / "templates"
LANGUAGES = ("en", "it", "de", "fr", "es", "pt")  # built in; an operator's folder may add more
# What a broken template raises, for `templates check` to name file and line.
TemplateSyntaxError = jinja2.TemplateSyntaxError
TemplateNotFound = jinja2.TemplateNotFound

_override: Path | None = None


def use_templates(folder: Path | None) -> None:
    """Templates in FOLDER take the place of the built-in ones of the same name (for this
    process: the configuration is read once at start)."""
    global _override
    _override = folder
    environment.cache_clear()


@cache
def environment() -> jinja2.Environment:
    built_in = jinja2.PackageLoader("delist_bot", "templates")
    loaders = [jinja2.FileSystemLoader(_override), built_in] if _override else [built_in]
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html"]),
        keep_trailing_newline=True,
        trim_blocks=True,
    )


@cache
def _template_names(_environment: jinja2.Environment) -> frozenset[str]:
    return frozenset(_environment.list_templates())


def template_name(kind: str, language: str | None) -> str:
    """The reply template for a kind in the sender's language, falling back to English."""
    name = f"replies/{kind}.{language}.txt"
    return name if name in _template_names(environment()) else f"replies/{kind}.en.txt"


def template_language(name: str) -> str:
    """The language a reply template is written in: the xx of replies/<kind>.<xx>.txt."""
    return name.rsplit(".", 2)[-2]


def render(name: str, context: dict[str, Any]) -> str:
    return environment().get_template(name).render(**context, when=when)


def render_text(name: str, context: dict[str, Any]) -> str:
    """A mail body: the rendered template, each line wrapped for mail (see wrap.py)."""
    return wrap(render(name, context))
