"""GitPitch markdown -> reveal.js: separators, backgrounds, notes, code blocks, bad syntax."""

from __future__ import annotations

import re

import pytest
from slides_support import build

DeckError = build.DeckError


def places(slides):
    return [(s.h, s.v) for s in slides]


def test_horizontal_and_vertical_separators_give_a_grid():
    text = "---\n# A\n+++\n# A.1\n+++\n# A.2\n---\n# B\n---\n# C\n+++\n# C.1\n"
    slides = build.parse(text)
    assert places(slides) == [(0, 0), (0, 1), (0, 2), (1, 0), (2, 0), (2, 1)]
    assert [s.body for s in slides] == ["# A", "# A.1", "# A.2", "# B", "# C", "# C.1"]
    assert [s.line for s in slides] == [1, 3, 5, 7, 9, 11]


def test_text_before_the_first_separator_is_the_first_slide():
    slides = build.parse("# Title\n\n---\n# Next\n")
    assert places(slides) == [(0, 0), (1, 0)]
    assert slides[0].body == "# Title"


def test_render_nests_vertical_slides_inside_their_horizontal_section():
    html = build.render(build.parse("---\n# A\n+++\n# A.1\n---\n# B\n"))
    slides_div = html.split('<div class="slides">')[1].split("</div></div>")[0]
    # outer <section> for the stack A, two inner ones; B stands alone
    assert re.findall(r"<section[^>]*>|</section>", slides_div) == [
        "<section>",
        '<section id="slide-1-1" class="layout-text">',
        "</section>",
        '<section id="slide-1-2" class="layout-text">',
        "</section>",
        "</section>",
        '<section id="slide-2-1" class="layout-text">',
        "</section>",
    ]
    assert "<h1>A.1</h1>" in slides_div


def test_background_options_become_data_background_attributes():
    text = "---?image=assets/quorum_stack.png&size=auto 90%&color=#123456\n\nNote:\nThe stack.\n"
    (slide,) = build.parse(text)
    assert slide.background == (
        ("image", "assets/quorum_stack.png"),
        ("size", "auto 90%"),
        ("color", "#123456"),
    )
    assert slide.body == ""
    html = build.render([slide])
    assert 'data-background-image="assets/quorum_stack.png"' in html
    assert 'data-background-size="auto 90%"' in html
    assert 'data-background-color="#123456"' in html
    assert 'class="layout-background"' in html


def test_vertical_background_slide():
    slides = build.parse("---\n# A\n+++?image=assets/layers.png&size=contain\n")
    assert slides[1].v == 1 and slides[1].background_image == "assets/layers.png"


def test_note_starts_the_speaker_notes_to_the_end_of_the_slide():
    text = "---\n## Slide\n- point\n\nNote:\nSay *this*.\n\nAnd this.\n---\n## Next\nNote: inline\n"
    first, second = build.parse(text)
    assert first.body == "## Slide\n- point"
    assert first.notes == "Say *this*.\n\nAnd this."
    assert second.notes == "inline"
    html = build.render([first, second])
    assert '<aside class="notes">\n<p>Say <em>this</em>.</p>\n<p>And this.</p>\n</aside>' in html
    # notes never leak into the slide's visible body
    visible = html.split('<aside class="notes">')[0]
    assert "Say" not in visible


def test_separators_and_notes_inside_a_code_block_are_text():
    text = "---\n## csv\n\n```\n---\n+++\nNote: not a note\n```\n\nNote:\nreal note\n"
    (slide,) = build.parse(text)
    assert "---\n+++\nNote: not a note" in slide.body
    assert slide.notes == "real note"
    html = build.render([slide])
    assert "<pre><code>---\n+++\nNote: not a note\n</code></pre>" in html


def test_code_blocks_are_preserved_and_escaped():
    text = '---\n## sh\n\n```sh\n$ cut -d , -f 1-2 <file> && echo "ok"\n```\n'
    html = build.render(build.parse(text))
    assert (
        '<pre><code class="language-sh">$ cut -d , -f 1-2 &lt;file&gt; &amp;&amp; '
        "echo &quot;ok&quot;\n</code></pre>"
    ) in html


def test_a_longer_fence_is_not_closed_by_a_shorter_one():
    text = "---\n````md\n```\n---\n```\n````\n---\n# B\n"
    slides = build.parse(text)
    assert len(slides) == 2 and "```\n---\n```" in slides[0].body


def test_images_lists_backgrounds_and_inline_figures_with_their_lines():
    text = (
        "---?image=assets/a.png\n\n---\n## Fig\n\n![alt](assets/b.png)\n"
        "+++\n## Again\n![x](assets/a.png)\n"
    )
    assert build.images(build.parse(text)) == {"assets/a.png": 1, "assets/b.png": 3}


def test_a_figure_beside_text_is_laid_out_side_by_side():
    only = build.render(build.parse("---\n## T\n\n![f](assets/f.png)\n"))
    assert 'class="layout-figure"' in only and '<div class="figure">' in only
    split = build.render(build.parse("---\n## T\n\n- a point\n\n![f](assets/f.png)\n"))
    assert 'class="layout-split"' in split
    assert split.index('<div class="split-text">') < split.index('<img src="assets/f.png"')


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("+++\n# A\n", "deck.md:1: a vertical slide (+++) needs a horizontal slide (---)"),
        ("---\n# A\n---?image=assets/x.png&siz=auto\n", "deck.md:3: unknown background option"),
        ("---?image\n", "deck.md:1: background option 'image' is not key=value"),
        ("---?image=assets/x.png&image=assets/y.png\n", "deck.md:1: background option 'image'"),
        ("---?size=\n", "deck.md:1: background size=''"),
        ("---?image=http://cdn.example/x.png\n", "deck.md:1: image 'http://cdn.example/x.png'"),
        ("---?image=assets/../x.png\n", "deck.md:1: image 'assets/../x.png' must be a file in"),
        ("---\n# A\n![x](https://cdn.example/x.png)\n", "deck.md:1: image 'https://cdn"),
        ("---\n# A\nNote: one\nNote: two\n", "deck.md:4: a second Note: in one slide"),
        ("---\n# A\n---\n\n---\n# C\n", "deck.md:3: empty slide"),
        ("---\n# A\nNote:\n\n---\n# B\n", "deck.md:3: Note: with nothing after it"),
        ("---\n# A\n```\ncode\n---\n# B\n", "deck.md:3: code block opened here is never closed"),
        ("\n\n", "deck.md: no slides"),
    ],
)
def test_bad_syntax_is_one_clear_error_naming_the_line(text, message):
    with pytest.raises(DeckError) as caught:
        build.images(build.parse(text))
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)


def test_render_is_deterministic():
    text = build.DECK.read_text(encoding="utf-8")
    assert build.render(build.parse(text)) == build.render(build.parse(text))


def test_theme_carries_the_layer_colours_of_sim_layers():
    from sim.layers import COLORS

    css = build.theme_css()
    for layer, colour in COLORS.items():
        assert f"--layer-{layer}: {colour};" in css
    # nothing fetched from outside: no web fonts, no imports
    assert "@import" not in css and "@font-face" not in css
    assert not re.search(r"https?://", css)
