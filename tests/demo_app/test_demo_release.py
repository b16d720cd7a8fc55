"""Which release answered: ``X-Release`` on every response and in the pages' footer."""

from __future__ import annotations

import pytest

from demo_app.settings.base import release_of


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/healthz", "/api/bills/", "/no-such-page/"])
def test_every_response_names_the_release(client, settings, path):
    settings.RELEASE = "20260102-101500-abc1234"
    response = client.get(path)
    assert response.headers["X-Release"] == "20260102-101500-abc1234"


@pytest.mark.django_db
def test_the_footer_shows_the_release(client, settings):
    settings.RELEASE = "20260102-101500-abc1234-local"
    page = client.get("/").content.decode()
    assert '<strong class="release">20260102-101500-abc1234-local</strong>' in page


def test_a_checkout_is_release_dev_and_a_release_folder_names_itself(tmp_path):
    assert release_of(tmp_path) == "dev"
    (tmp_path / "RELEASE").write_text("20260102-101500-abc1234\n")
    assert release_of(tmp_path) == "20260102-101500-abc1234"
    # It goes into a response header: anything else is made harmless.
    (tmp_path / "RELEASE").write_text("v1\nSet-Cookie: x=1")
    assert release_of(tmp_path) == "v1_Set-Cookie__x_1"
