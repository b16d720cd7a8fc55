"""``X-Release`` on every response: which release of the code answered.

During a rolling deploy two releases serve side by side; the header lets a visitor, a test or
nginx's access log (its last field) tell them apart, request by request. The value is
``settings.RELEASE``: the ``RELEASE`` file of the release folder the instance runs from, or
``dev`` in a checkout.
"""

from django.conf import settings


class ReleaseMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.release = settings.RELEASE

    def __call__(self, request):
        response = self.get_response(request)
        response.headers["X-Release"] = self.release
        return response
