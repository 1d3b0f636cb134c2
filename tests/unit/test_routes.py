"""routes.dispatch: auth first on every path (as the exporter-toolkit), then the path, then the method.

The table is a recording handler per path, so what a refusal must not do (run the handler) is
seen as well as what it answers.
"""

from __future__ import annotations

import pytest

from exporter.web.routes import AUTH_CHALLENGE, Request, Response, dispatch


class Recorder:
    def __init__(self) -> None:
        self.seen: list[Request] = []

    def __call__(self, request: Request) -> Response:
        self.seen.append(request)
        return Response(200, [("Content-Type", "text/plain")], [b"handled " + request.path.encode()])


def request(method: str, path: str) -> Request:
    return Request(method, path, "", {})


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_an_authorized_get_or_head_of_a_known_path_runs_its_handler(recorder: Recorder, method: str) -> None:
    asked = request(method, "/metrics")
    response = dispatch(asked, {"/metrics": recorder, "/": Recorder()}, authorized=True)
    assert (response.status, list(response.body)) == (200, [b"handled /metrics"])
    assert recorder.seen == [asked]


@pytest.mark.parametrize("method,path", [("GET", "/metrics"), ("GET", "/nowhere"), ("POST", "/metrics"),
                                         ("DELETE", "/nowhere")])
def test_without_credentials_every_path_and_method_is_401(recorder: Recorder, method: str, path: str) -> None:
    """Unknown paths too: a client without the password learns nothing of which paths exist."""
    response = dispatch(request(method, path), {"/metrics": recorder}, authorized=False)
    assert response.status == 401
    assert ("WWW-Authenticate", AUTH_CHALLENGE) in response.headers
    assert recorder.seen == []


@pytest.mark.parametrize("method", ["GET", "POST", "BREW"])
def test_an_unknown_path_is_404_whatever_the_method(recorder: Recorder, method: str) -> None:
    assert dispatch(request(method, "/metrics/"), {"/metrics": recorder}, authorized=True).status == 404
    assert recorder.seen == []


@pytest.mark.parametrize("method", ["POST", "PUT", "OPTIONS", "get"])
def test_another_method_on_a_known_path_is_405_with_allow(recorder: Recorder, method: str) -> None:
    response = dispatch(request(method, "/metrics"), {"/metrics": recorder}, authorized=True)
    assert response.status == 405
    assert ("Allow", "GET, HEAD") in response.headers
    assert recorder.seen == []
