"""The build's output: self-contained, relative, deterministic; images come from the assets
build, and a missing one stops the build with one line naming it and ``make assets``."""

from __future__ import annotations

import filecmp
import re
import shutil

import pytest
from slides_support import build, deck_images, resource_urls


def test_every_image_the_deck_uses_is_made_by_the_assets_build():
    from assets.build import ASSETS

    used = {path.removeprefix("assets/") for path in deck_images()}
    assert used, "the deck shows no figures at all"
    assert used <= set(ASSETS), f"not made by the assets build: {sorted(used - set(ASSETS))}"


def test_the_deck_uses_the_talk_figures_where_they_teach():
    used = deck_images()
    # the layers picture replaces the film still the original talk could not ship
    assert "assets/layers.png" in used and "assets/orge.jpg" not in used
    for figure in (
        "assets/quorum_stack.png",
        "assets/sim_waterfall.png",
        "assets/sim_flash_crowd.png",
        "assets/sim_why_two.png",
        "assets/sim_workers_vs_cores.png",
    ):
        assert figure in used, figure


def test_every_slide_of_the_deck_has_speaker_notes():
    slides = build.parse(build.DECK.read_text(encoding="utf-8"))
    without = [s.line for s in slides if not s.notes.strip()]
    assert not without, f"slides without Note: at deck.md lines {without}"


def test_the_talks_sections_stay_in_order_and_the_todos_are_written():
    text = build.DECK.read_text(encoding="utf-8")
    sections = [
        "## Quorum's Tech Stack",
        "## What We'll Cover",
        "## What Happens When...?",
        "### Load Balancing",
        "### nginx",
        "## Database (PostgreSQL)",
        "## Backend Stack",
        "## Frontend Stack",
        "## How Code Gets Deployed",
        "## Developer Access",
        "## What else?",
        "## Questions?",
    ]
    positions = [text.index(s) for s in sections]
    assert positions == sorted(positions)
    slides = build.parse(text)
    assert not [s.line for s in slides if "TODO" in s.body], "a slide still says TODO"
    frontend = next(s.h for s in slides if s.body.startswith("## Frontend Stack"))
    deploy = next(s.h for s in slides if s.body.startswith("## How Code Gets Deployed"))
    assert sum(s.h == frontend for s in slides) >= 4
    assert sum(s.h == deploy for s in slides) >= 5


def test_build_output_is_self_contained_and_relative(built_deck):
    out, slides = built_deck
    html = (out / "index.html").read_text(encoding="utf-8")
    assert html.count('<aside class="notes">') == len(slides)
    urls = resource_urls(html) + resource_urls((out / "theme.css").read_text(encoding="utf-8"))
    assert urls, "no resources found: the pattern is broken"
    for url in urls:
        assert not re.match(r"^[a-z]+:|^/", url), f"not a relative path: {url}"
        assert (out / url).is_file(), f"{url} is referenced but not in the build"
    assert not re.search(r"https?://", (out / "theme.css").read_text(encoding="utf-8"))
    assert str(build.REPO) not in html
    # the speaker view's plugin and reveal.js itself are in the folder
    assert (out / "reveal" / "plugin" / "notes" / "notes.js").is_file()
    for image in deck_images():
        assert (out / image).is_file(), image


def test_build_is_byte_for_byte_deterministic(built_deck, assets_dir, tmp_path):
    first, _ = built_deck
    second = tmp_path / "again"
    build.build(assets=assets_dir, out=second)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    _, mismatch, errors = filecmp.cmpfiles(first, second, files, shallow=False)
    assert not mismatch and not errors


def test_a_missing_image_stops_the_build_naming_it_and_make_assets(
    assets_dir, reveal_installed, tmp_path, capsys
):
    partial = tmp_path / "assets"
    shutil.copytree(assets_dir, partial)
    (partial / "sim_why_two.png").unlink()
    out = tmp_path / "build"
    out.mkdir()
    (out / "index.html").write_text("the previous build\n")
    assert build.main(["--assets", str(partial), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "assets/sim_why_two.png is missing" in err and "make assets" in err
    assert re.match(r"slides: deck\.md:\d+: ", err)
    # nothing half-written: the previous build is untouched, no staging folder left behind
    assert (out / "index.html").read_text() == "the previous build\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["assets", "build"]


def test_a_bad_deck_is_exit_2_with_one_line(tmp_path, capsys):
    deck = tmp_path / "deck.md"
    deck.write_text("---\n# A\n---?image=assets/x.png&sise=auto\n")
    assert build.main(["--deck", str(deck), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == (
        "slides: deck.md:3: unknown background option 'sise' "
        "(allowed: image, size, position, color, opacity)\n"
    )
    assert not (tmp_path / "out").exists()


def test_reveal_version_must_match_the_lock(tmp_path):
    fake = tmp_path / "reveal.js"
    fake.mkdir()
    (fake / "package.json").write_text('{"version": "4.0.0"}')
    with pytest.raises(build.DeckError, match=r"reveal\.js 4\.0\.0 is installed but .* pins 5\."):
        build.reveal_version(fake)
    with pytest.raises(build.DeckError, match="npm ci --prefix slides"):
        build.reveal_version(tmp_path / "nowhere")


def test_a_missing_deck_or_build_is_exit_2_with_one_line(tmp_path, capsys):
    from slides_support import pdf

    assert build.main(["--deck", str(tmp_path / "nope.md")]) == 2
    assert capsys.readouterr().err == f"slides: deck {tmp_path / 'nope.md'} does not exist\n"
    assert pdf.main(["--build", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == f"slides-pdf: {tmp_path / 'index.html'} does not exist: run `make slides` first\n"
    assert list(tmp_path.iterdir()) == []
