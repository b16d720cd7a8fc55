"""The talk's build: GitPitch-style markdown in, a self-contained reveal.js folder out.

Think of a printer's imposition: the manuscript (``slides/deck.md``) is written the way the talk
was first written for GitPitch, and this script lays it out on reveal.js's pages without
changing a word. Data flows one way:

    deck.md -> parse() -> [Slide] -> render() -> index.html
                                  -> images() -> assets/*.png copied from the assets build
    slides/node_modules/reveal.js (pinned by package-lock.json) -> reveal/ (dist + notes plugin)
    slides/theme.css + the layer colours of sim.layers -> theme.css

The GitPitch syntax it understands:

- a line ``---`` starts a horizontal slide, ``+++`` a vertical slide below the current one;
- ``---?image=assets/x.png&size=auto 90%`` (or ``+++?...``) gives that slide a background
  (options ``image``, ``size``, ``position``, ``color``, ``opacity``), which becomes reveal.js's
  ``data-background-*`` attributes;
- a line starting ``Note:`` begins the speaker notes: everything after it to the end of the slide
  becomes ``<aside class="notes">``;
- separators and ``Note:`` inside a fenced code block are text, not syntax.

The output opens from the file system with no network: no CDN, no web font, relative paths only,
so the folder can be zipped and opened anywhere. The same inputs give byte-identical files.

    .venv/bin/python slides/build.py [--deck slides/deck.md] [--assets assets] [--out slides/build]

A bad deck or a missing image stops the build with one line (``deck.md:LINE: ...``), exit
status 2, and the previous build is left as it was.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

from sim.layers import COLORS, DESCRIPTIONS, LAYERS

SLIDES_DIR = Path(__file__).resolve().parent
REPO = SLIDES_DIR.parent
DECK = SLIDES_DIR / "deck.md"
THEME = SLIDES_DIR / "theme.css"
OUT = SLIDES_DIR / "build"
ASSETS = REPO / "assets"
REVEAL = SLIDES_DIR / "node_modules" / "reveal.js"
LOCK = SLIDES_DIR / "package-lock.json"

TITLE = "Quorum's Tech Stack"
#: The deck's page in slide pixels: 16:9, as projectors and laptops are today. reveal.js scales
#: it to the window, and prints one PDF page of this size (plus its margin) per slide.
WIDTH, HEIGHT, MARGIN = 1280, 720, 0.04

#: reveal.js files the deck needs, from the npm package to the build folder.
REVEAL_FILES = (
    ("dist/reset.css", "reveal/reset.css"),
    ("dist/reveal.css", "reveal/reveal.css"),
    ("dist/reveal.js", "reveal/reveal.js"),
    ("plugin/notes/notes.js", "reveal/plugin/notes/notes.js"),
    ("LICENSE", "reveal/LICENSE"),
)

#: GitPitch background options and the reveal.js attribute each becomes.
BACKGROUND_OPTIONS = {
    "image": "data-background-image",
    "size": "data-background-size",
    "position": "data-background-position",
    "color": "data-background-color",
    "opacity": "data-background-opacity",
}

_SEPARATOR = re.compile(r"^(---|\+\+\+)(?:\?(.*))?$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_NOTE = re.compile(r"^Note:(.*)$")
_FIGURE_LINE = re.compile(r"^!\[[^\]]*\]\([^)\s]+\)\s*$")
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_./%#(),\- ]+$")


class DeckError(ValueError):
    """A deck the build cannot lay out, or a file it needs that is missing: one line."""


@dataclass(frozen=True)
class Slide:
    """One reveal.js slide: its place (h, v), where it starts in the deck, and its parts."""

    h: int
    v: int
    line: int
    body: str
    notes: str
    background: tuple[tuple[str, str], ...] = ()

    @property
    def background_image(self) -> str | None:
        return dict(self.background).get("image")


@dataclass
class _Open:
    """A slide while its lines are being read."""

    h: int
    v: int
    line: int
    background: tuple[tuple[str, str], ...]
    body: list[str]
    notes: list[str] | None = None
    note_line: int = 0


def _options(text: str, where: str) -> tuple[tuple[str, str], ...]:
    """``image=a.png&size=auto 90%`` -> (("image", "a.png"), ("size", "auto 90%")), checked."""
    seen: dict[str, str] = {}
    for part in text.split("&"):
        key, eq, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key:
            raise DeckError(f"{where}: background option {part!r} is not key=value")
        if key not in BACKGROUND_OPTIONS:
            allowed = ", ".join(BACKGROUND_OPTIONS)
            raise DeckError(f"{where}: unknown background option {key!r} (allowed: {allowed})")
        if key in seen:
            raise DeckError(f"{where}: background option {key!r} given twice")
        if key == "image":
            _check_image_path(value, where)
        if not value or not _SAFE_VALUE.match(value):
            raise DeckError(f"{where}: background {key}={value!r} is empty or has odd characters")
        seen[key] = value
    return tuple(seen.items())


def _check_image_path(path: str, where: str) -> None:
    if not path.startswith("assets/") or ".." in path.split("/") or "://" in path:
        raise DeckError(
            f"{where}: image {path!r} must be a file in assets/ (generated by make assets)"
        )


def parse(text: str, name: str = "deck.md") -> list[Slide]:
    """Split GitPitch markdown into slides, in reading order.

    Raises DeckError naming the line for: a vertical slide before any horizontal one, a bad
    background option, a second ``Note:`` in one slide, an empty slide, an unclosed code block.
    """
    slides: list[Slide] = []
    current: _Open | None = None
    h = -1
    fence: str | None = None
    fence_line = 0

    def close(slide: _Open | None) -> None:
        if slide is None:
            return
        body = "\n".join(slide.body).strip("\n")
        notes = "\n".join(slide.notes or []).strip("\n")
        if not body.strip() and not slide.background:
            raise DeckError(f"{name}:{slide.line}: empty slide (no text and no background)")
        if slide.notes is not None and not notes.strip():
            raise DeckError(f"{name}:{slide.note_line}: Note: with nothing after it")
        slides.append(Slide(slide.h, slide.v, slide.line, body, notes, slide.background))

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        where = f"{name}:{number}"
        if fence is None:
            match = _SEPARATOR.match(line)
            if match:
                close(current)
                kind, opts = match.groups()
                background = _options(opts, where) if opts is not None else ()
                if kind == "---":
                    h += 1
                    current = _Open(h, 0, number, background, [])
                else:
                    if current is None:
                        raise DeckError(
                            f"{where}: a vertical slide (+++) needs a horizontal slide "
                            "(---) above it"
                        )
                    current = _Open(h, current.v + 1, number, background, [])
                continue
            if current is None:
                if not line:
                    continue
                # Text before the first separator is the first slide.
                h = 0
                current = _Open(0, 0, number, (), [])
            note = _NOTE.match(line)
            if note:
                if current.notes is not None:
                    raise DeckError(
                        f"{where}: a second Note: in one slide "
                        f"(the first is on line {current.note_line})"
                    )
                current.notes = [note.group(1).strip()]
                current.note_line = number
                continue
        fenced = _FENCE.match(raw)
        if fenced:
            marker = fenced.group(1)
            if fence is None:
                fence, fence_line = marker, number
            elif set(raw.strip()) == {fence[0]} and len(raw.strip()) >= len(fence):
                fence = None  # a closing fence: only the opening character, at least as long
        if current is None:
            continue
        (current.notes if current.notes is not None else current.body).append(raw)
    if fence is not None:
        raise DeckError(f"{name}:{fence_line}: code block opened here is never closed")
    close(current)
    if not slides:
        raise DeckError(f"{name}: no slides")
    return slides


def _markdown() -> MarkdownIt:
    # CommonMark plus tables; raw HTML is allowed so a slide can colour a layer name.
    return MarkdownIt("commonmark", {"html": True}).enable("table")


def images(slides: list[Slide], name: str = "deck.md") -> dict[str, int]:
    """Every image the deck uses (backgrounds and inline), each with the line it is used on."""
    md = _markdown()
    found: dict[str, int] = {}
    for slide in slides:
        if slide.background_image:
            found.setdefault(slide.background_image, slide.line)
        for token in md.parse(slide.body):
            for child in token.children or []:
                if child.type == "image":
                    src = str(child.attrs["src"])
                    _check_image_path(src, f"{name}:{slide.line}")
                    found.setdefault(src, slide.line)
    return dict(sorted(found.items()))


def _split_figures(body: str) -> tuple[str, str, str]:
    """(heading, text, figures): a slide's lines that are only an image are its figures."""
    heading, text, figures = [], [], []
    fence = False
    for line in body.splitlines():
        if _FENCE.match(line):
            fence = not fence
        if not fence and not heading and not text and line.startswith("#"):
            heading.append(line)
        elif not fence and _FIGURE_LINE.match(line):
            figures.append(line)
        else:
            text.append(line)
    return "\n".join(heading), "\n".join(text).strip("\n"), "\n".join(figures)


def _render_body(md: MarkdownIt, body: str) -> tuple[str, str]:
    """HTML of a slide's body and its layout class: text, a figure, or text beside a figure."""
    heading, text, figures = _split_figures(body)
    if not figures:
        return md.render(body), "text"
    parts = [md.render(heading)] if heading else []
    figure_html = '<div class="figure">' + md.render(figures) + "</div>"
    if text.strip():
        parts.append(
            '<div class="split"><div class="split-text">'
            + md.render(text)
            + "</div>"
            + figure_html
            + "</div>"
        )
        return "".join(parts), "split"
    parts.append(figure_html)
    return "".join(parts), "figure"


def _section(md: MarkdownIt, slide: Slide) -> str:
    attrs = [f'id="slide-{slide.h + 1}-{slide.v + 1}"']
    for key, value in slide.background:
        attrs.append(f'{BACKGROUND_OPTIONS[key]}="{html.escape(value)}"')
    body, layout = _render_body(md, slide.body) if slide.body.strip() else ("", "background")
    attrs.append(f'class="layout-{layout}"')
    notes = md.render(slide.notes) if slide.notes else ""
    aside = f'<aside class="notes">\n{notes}</aside>\n' if notes else ""
    return f"<section {' '.join(attrs)}>\n{body}{aside}</section>\n"


def render(slides: list[Slide], title: str = TITLE) -> str:
    """The deck's index.html: one <section> per horizontal slide, nesting its vertical ones."""
    md = _markdown()
    groups: dict[int, list[Slide]] = {}
    for slide in slides:
        groups.setdefault(slide.h, []).append(slide)
    sections = []
    for group in groups.values():
        if len(group) == 1:
            sections.append(_section(md, group[0]))
        else:
            inner = "".join(_section(md, s) for s in group)
            sections.append(f"<section>\n{inner}</section>\n")
    config = {
        "width": WIDTH,
        "height": HEIGHT,
        "margin": MARGIN,
        "hash": True,
        "slideNumber": "c/t",
        "center": False,
        "transition": "slide",
        # PDF: one page per slide, fragments not split out, overflow clipped to the page.
        "pdfSeparateFragments": False,
        "pdfMaxPagesPerSlide": 1,
    }
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n"
        '<link rel="stylesheet" href="reveal/reset.css">\n'
        '<link rel="stylesheet" href="reveal/reveal.css">\n'
        '<link rel="stylesheet" href="theme.css">\n'
        "</head>\n<body>\n"
        '<div class="reveal"><div class="slides">\n' + "".join(sections) + "</div></div>\n"
        '<script src="reveal/reveal.js"></script>\n'
        '<script src="reveal/plugin/notes/notes.js"></script>\n'
        "<script>\n"
        f"Reveal.initialize(Object.assign({json.dumps(config, sort_keys=True)},"
        " {plugins: [RevealNotes]}));\n"
        "</script>\n</body>\n</html>\n"
    )


def theme_css(theme: Path = THEME) -> str:
    """The theme with the layers' colours prepended as CSS variables (``--layer-app``)."""
    lines = ["/* Layer colours from sim/layers.py (Okabe-Ito), written by slides/build.py. */"]
    lines.append(":root {")
    lines += [f"  --layer-{layer}: {COLORS[layer]};" for layer in LAYERS]
    lines.append("}")
    for layer in LAYERS:
        lines.append(
            f".layer-{layer} {{ background: var(--layer-{layer}); }} /* {DESCRIPTIONS[layer]} */"
        )
    return "\n".join(lines) + "\n\n" + theme.read_text(encoding="utf-8")


def reveal_version(reveal: Path = REVEAL, lock: Path = LOCK) -> str:
    """The installed reveal.js version, checked against the one package-lock.json pins."""
    installed = reveal / "package.json"
    if not installed.is_file():
        raise DeckError("reveal.js is not installed: run `npm ci --prefix slides` (or make slides)")
    have = json.loads(installed.read_text(encoding="utf-8"))["version"]
    want = json.loads(lock.read_text(encoding="utf-8"))["packages"]["node_modules/reveal.js"][
        "version"
    ]
    if have != want:
        raise DeckError(
            f"reveal.js {have} is installed but package-lock.json pins {want}: "
            "run `npm ci --prefix slides`"
        )
    return have


def build(
    deck: Path = DECK, assets: Path = ASSETS, out: Path = OUT, reveal: Path = REVEAL
) -> list[Slide]:
    """Write the deck folder: parse, check every image exists, then swap the new folder in."""
    slides = parse(deck.read_text(encoding="utf-8"), deck.name)
    used = images(slides, deck.name)
    for path, line in used.items():
        source = assets / path.removeprefix("assets/")
        if not source.is_file():
            raise DeckError(
                f"{deck.name}:{line}: image {path} is missing from {assets}: run `make assets`"
            )
    reveal_version(reveal)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target, then swap: a failed build leaves the previous one whole.
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for src, dst in REVEAL_FILES:
            _copy(reveal / src, staging / dst)
        for path in used:
            _copy(assets / path.removeprefix("assets/"), staging / path)
        (staging / "theme.css").write_text(theme_css(), encoding="utf-8")
        (staging / "index.html").write_text(render(slides), encoding="utf-8")
        staging.chmod(0o755)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return slides


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)  # contents only: no timestamps, so rebuilds are identical


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the talk into a reveal.js folder.")
    parser.add_argument("--deck", type=Path, default=DECK, help="GitPitch markdown (deck.md)")
    parser.add_argument("--assets", type=Path, default=ASSETS, help="folder of generated images")
    parser.add_argument("--out", type=Path, default=OUT, help="output folder (replaced)")
    args = parser.parse_args(argv)
    if not args.deck.is_file():
        print(f"slides: deck {args.deck} does not exist", file=sys.stderr)
        return 2
    try:
        slides = build(args.deck, args.assets, args.out)
    except DeckError as error:
        print(f"slides: {error}", file=sys.stderr)
        return 2
    print(f"{args.out / 'index.html'}: {len(slides)} slides")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
