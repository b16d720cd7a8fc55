"""The built deck in Debian's chromium, opened from the file system as a presenter would: every
slide visited through the reveal.js API, every image and background loaded, speaker notes on
every slide, nothing asked of the network, nothing overflowing the page; then the PDF export,
one page per slide. Screenshots go to out/screenshots/slides/NN.png (look at them)."""

from __future__ import annotations

import json
import unicodedata

import pytest
from slides_support import REPO, build, pdf

SHOTS = REPO / "out" / "screenshots" / "slides"
#: The smallest type a slide may show at 1280 x 720, in screen pixels ("about 14 px": the
#: deck's theme is larger; a figure's smallest labels must come close).
MIN_TEXT_PX = 13.5


def _background_width(background: dict) -> float:
    """The width a background image is drawn at: ``contain`` fits the box, ``auto H%`` sets
    the height to H % of the box; both keep the image's aspect."""
    box_w, box_h = background["box"]
    nat_w, nat_h = background["natural"]
    size = background["size"]
    if size.startswith("auto ") and size.endswith("%"):
        return nat_w * box_h * float(size[5:-1]) / 100 / nat_h
    return min(box_w / nat_w, box_h / nat_h) * nat_w


# For the slide on screen: each <img> with its natural width, the background's CSS and whether
# that file loads, and how tall the content is against the slide's height.
CURRENT_SLIDE = """
async () => {
  const slide = Reveal.getCurrentSlide();
  const images = Array.from(slide.querySelectorAll("img"));
  await Promise.all(images.map((img) => img.decode().catch(() => null)));
  const result = {
    images: images.map((img) => ({ src: img.getAttribute("src"), width: img.naturalWidth })),
    notes: Reveal.getSlideNotes(slide) || "",
    height: slide.scrollHeight,
    clipped: Array.from(slide.querySelectorAll("pre, p, li, table, h2, h3"))
      .filter((el) => el.scrollWidth > el.clientWidth + 1)
      .map((el) => el.textContent.slice(0, 40)),
    background: null,
  };
  // how large each figure is shown (CSS px), and the smallest DOM text on the slide
  result.shown = images.map((img) => ({ src: img.getAttribute("src"),
    width: img.getBoundingClientRect().width, height: img.getBoundingClientRect().height,
    natural: [img.naturalWidth, img.naturalHeight] }));
  const sizes = Array.from(slide.querySelectorAll("p, li, td, th, code, pre, h2, h3, h4"))
    .filter((el) => el.offsetParent !== null && el.textContent.trim() && !el.closest("aside"))
    .map((el) => parseFloat(getComputedStyle(el).fontSize) * Reveal.getScale());
  result.smallest_text = sizes.length ? Math.min(...sizes) : null;
  if (slide.dataset.backgroundImage) {
    const content = Reveal.getSlideBackground(slide).querySelector(".slide-background-content");
    const css = content ? content.style.backgroundImage : "";
    const url = (css.match(/url\\("?([^")]+)"?\\)/) || [])[1] || "";
    const probe = new Image();
    probe.src = url;
    const width = url ? await probe.decode().then(() => probe.naturalWidth, () => 0) : 0;
    const box = content ? content.getBoundingClientRect() : { width: 0, height: 0 };
    const natural = url ? await probe.decode().then(() => [probe.naturalWidth,
      probe.naturalHeight], () => [0, 0]) : [0, 0];
    // "contain" and "auto H%" both keep the aspect: the shown width follows from the box.
    const fit = content ? getComputedStyle(content).backgroundSize : "";
    result.background = { attribute: slide.dataset.backgroundImage, css: css, url: url,
                          width: width, natural: natural, box: [box.width, box.height],
                          size: fit };
  }
  return result;
}
"""


def open_deck(browser, index, query=""):
    page = browser.new_page(viewport={"width": build.WIDTH, "height": build.HEIGHT})
    problems = {"console": [], "outside": []}
    page.on(
        "console",
        lambda msg: problems["console"].append(msg.text) if msg.type == "error" else None,
    )
    page.on("pageerror", lambda error: problems["console"].append(str(error)))
    page.on(
        "request",
        lambda request: (
            None if request.url.startswith("file://") else problems["outside"].append(request.url)
        ),
    )
    page.goto(index.as_uri() + query)
    page.wait_for_function("() => window.Reveal && Reveal.isReady()")
    return page, problems


@pytest.mark.browser
@pytest.mark.slow
def test_every_slide_presents_offline_with_images_and_notes(built_deck, chromium, assets_dir):
    out, slides = built_deck
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    # No transitions, so a screenshot shows the slide itself rather than a frame of the move.
    page, problems = open_deck(
        chromium, out / "index.html", "?transition=none&backgroundTransition=none"
    )
    try:
        total = page.evaluate("Reveal.getTotalSlides()")
        assert total == len(slides)
        places = page.evaluate("Reveal.getSlides().map((s) => Reveal.getIndices(s))")
        assert [(p["h"], p.get("v") or 0) for p in places] == [(s.h, s.v) for s in slides]
        seen_images, overflowing, shown, small = set(), [], [], []
        for number, (slide, place) in enumerate(zip(slides, places, strict=True), start=1):
            page.evaluate("([h, v]) => Reveal.slide(h, v)", [place["h"], place.get("v") or 0])
            page.wait_for_function(
                "([h, v]) => Reveal.getIndices().h === h && (Reveal.getIndices().v || 0) === v",
                arg=[place["h"], place.get("v") or 0],
            )
            state = page.evaluate(CURRENT_SLIDE)
            where = f"slide {number} (deck.md line {slide.line})"
            assert state["notes"].strip(), f"{where}: no speaker notes"
            for image in state["images"]:
                assert image["width"] > 0, f"{where}: {image['src']} did not load"
                seen_images.add(image["src"])
            if slide.background_image:
                background = state["background"]
                assert background is not None, f"{where}: background not applied"
                assert background["url"] == slide.background_image, background
                assert background["width"] > 0, f"{where}: {background['url']} did not load"
                seen_images.add(background["url"])
                shown.append((where, background["url"], _background_width(background)))
            shown += [(where, i["src"], min(i["width"], i["height"] * i["natural"][0]
                       / max(i["natural"][1], 1))) for i in state["shown"]]  # fmt: skip
            if state["smallest_text"] is not None and state["smallest_text"] < MIN_TEXT_PX:
                small.append(f"{where}: text {state['smallest_text']:.1f} px")
            # Content taller than the page would be cut off on the projector and in the PDF.
            if state["height"] > build.HEIGHT + 2:
                overflowing.append(f"{where}: {state['height']} px tall")
            overflowing += [f"{where}: too wide: {text!r}" for text in state["clipped"]]
            page.screenshot(path=str(SHOTS / f"{number:02d}.png"))
        assert seen_images == set(build.images(slides))
        # A figure's smallest type, in its own pixels (the assets' manifest), scaled to the
        # width it is shown at: at least MIN_TEXT_PX on the screen, like the slide's own text.
        manifest = json.loads((assets_dir / "manifest.json").read_text())
        for where, src, width in shown:
            entry = manifest[src.removeprefix("assets/")]
            px = entry["smallest_text_px"] * width / entry["width"]
            if px < MIN_TEXT_PX:
                small.append(f"{where}: {src} shown {width:.0f} px wide: text {px:.1f} px")
        assert small == [], "text too small to read on a 1280 x 720 slide:\n" + "\n".join(small)
        assert overflowing == [], "content does not fit its slide"
        assert problems["console"] == []
        assert problems["outside"] == []
    finally:
        page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_speaker_view_opens_from_the_file_system(built_deck, chromium):
    out, _ = built_deck
    page, problems = open_deck(chromium, out / "index.html")
    try:
        with page.expect_popup() as popup_info:
            page.keyboard.press("s")
        notes = popup_info.value
        # The speaker view shows the current slide's notes once it has connected.
        notes.wait_for_function(
            "() => (document.querySelector('.speaker-controls-notes .value') || {})"
            ".textContent && document.querySelector('.speaker-controls-notes .value')"
            ".textContent.includes('onboarding talk')",
            timeout=15_000,
        )
        assert problems["console"] == []
        assert problems["outside"] == []
        notes.close()
    finally:
        page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_pdf_export_has_one_page_per_slide_at_the_decks_size(built_deck, chromium, tmp_path):
    from pypdf import PdfReader

    out, slides = built_deck
    target = tmp_path / "deck.pdf"
    written, total = pdf.export(out, target, browser=chromium)
    assert written == target and total == len(slides)
    reader = PdfReader(target)
    assert len(reader.pages) == total
    # reveal.js asks for pages of the slide plus its margin, in CSS pixels (0.75 pt each).
    width_pt = int(build.WIDTH * (1 + build.MARGIN)) * 0.75
    height_pt = int(build.HEIGHT * (1 + build.MARGIN)) * 0.75
    for page in reader.pages:
        assert float(page.mediabox.width) == pytest.approx(width_pt, abs=1.5)
        assert float(page.mediabox.height) == pytest.approx(height_pt, abs=1.5)
    # each page is its slide: the slide's title is on the page of the same number
    for number, (slide, page) in enumerate(zip(slides, reader.pages, strict=True), start=1):
        first = slide.body.splitlines()[0] if slide.body else ""
        if first.startswith("#"):
            title = first.lstrip("#").replace("`", "").strip()
            text = unicodedata.normalize("NFKC", page.extract_text())  # ligatures: "ﬁ" -> "fi"
            assert title in " ".join(text.split()), f"page {number} lacks its title {title!r}"
    assert not list(tmp_path.glob(".*.tmp"))
