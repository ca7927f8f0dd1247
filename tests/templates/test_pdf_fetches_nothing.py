"""The PDF renderer fetches nothing: every way HTML and CSS can name a URL points at a local
catch-all server, which must see no request at all, while the PDF still renders."""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pypdf import PdfReader

from templates.documents import html_to_pdf


class CatchAll(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: CatchAll

    def _answer(self) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        body = b"p { color: red; }" if self.path.endswith(".css") else b""
        self.send_response(200)
        self.send_header("Content-Type", "text/css" if body else "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def catch_all() -> Iterator[CatchAll]:
    server = CatchAll()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def hostile_html(url: str) -> str:
    host = url.removeprefix("http:")
    return (
        "<html><head>"
        f'<link rel="stylesheet" href="{url}/link.css">'
        f'<link rel="stylesheet" href="{host}/protocol-relative.css">'
        f'<link rel="icon" href="{url}/favicon.ico">'
        "<style>"
        f'@import url("{url}/import.css");'
        f'@import "{url}/import-plain.css";'
        f'@font-face {{ font-family: X; src: url("{url}/font.woff"); }}'
        f'body {{ background: url("{url}/background.png"); }}'
        f'li {{ list-style-image: url("{url}/bullet.png"); }}'
        "</style></head><body>"
        "<p>Visible text</p>"
        f'<img src="{url}/img.png">'
        f'<img srcset="{url}/srcset.png 2x">'
        f'<div style="background-image: url({url}/inline.png)">box</div>'
        f'<object data="{url}/object.svg"></object>'
        f'<embed src="{url}/embed.svg">'
        f'<iframe src="{url}/frame.html"></iframe>'
        f'<svg><image href="{url}/svg-image.png" width="5" height="5"/></svg>'
        '<img src="file:///etc/passwd">'
        '<link rel="stylesheet" href="file:///etc/passwd">'
        "<ul><li>item</li></ul>"
        "</body></html>"
    )


def test_the_pdf_renderer_requests_nothing(catch_all: CatchAll) -> None:
    pdf = html_to_pdf(hostile_html(catch_all.url))

    assert catch_all.requests == []
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Visible text" in text
    assert "root:" not in text


def test_the_catch_all_server_sees_a_renderer_that_fetches(catch_all: CatchAll) -> None:
    # The control: WeasyPrint's own fetcher requests the same HTML's URLs, so the test above
    # would see any request html_to_pdf let through.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "HarfBuzz-Subset", DeprecationWarning)
        from weasyprint import HTML  # type: ignore[import-untyped]

    HTML(string=hostile_html(catch_all.url)).write_pdf()

    assert "GET /link.css" in catch_all.requests
    assert "GET /img.png" in catch_all.requests
    assert "GET /import.css" in catch_all.requests
    assert "GET /background.png" in catch_all.requests
