"""The web hall (web/, issue 15) as nginx serves it at /, next to /api/v1/.

scripts/test builds it (stack_web_build) into $CERTHALL_WEB_ROOT before the stack starts;
nginx/certhall.conf.in serves it: index.html for the app's own paths (the SPA fallback)
and no-cache, the hashed assets for a year, a Content-Security-Policy that allows this
origin only, and the 404 problem for a missing asset or any /api/ path. What the page does
in a browser is tests/browser/.
"""

import gzip
import os
import re
from pathlib import Path

import pytest
import requests

from conftest import TIMEOUT, assert_problem

WEB_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
           "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
           "form-action 'self'; frame-ancestors 'none'")
SECURITY = {"x-content-type-options": "nosniff", "x-frame-options": "DENY",
            "referrer-policy": "no-referrer", "content-security-policy": WEB_CSP}
ONE_YEAR = "public, max-age=31536000, immutable"
# The target for the first page's JavaScript and CSS, compressed.
FIRST_PAGE_BUDGET = 200 * 1024


@pytest.fixture(scope="module")
def web_root():
    root = Path(os.environ.get("CERTHALL_WEB_ROOT") or "")
    if not (root / "index.html").is_file():
        pytest.fail(f"the web hall is not built in {root!s} (CERTHALL_WEB_ROOT): "
                    f"see {root!s}.log (scripts/lib/stack.sh stack_web_build)")
    return root


@pytest.fixture(scope="module")
def index_html(web_root):
    return (web_root / "index.html").read_bytes()


def get(base_url, path, **kw):
    return requests.get(base_url + path, timeout=TIMEOUT, allow_redirects=False, **kw)


def headers_once(resp, where):
    """Every security header exactly once with the web hall's values, and X-Request-Id."""
    raw = resp.raw.headers
    for name, value in SECURITY.items():
        got = raw.getlist(name)
        assert got == [value], f"{where}: {name} {got!r}"
    assert len(raw.getlist("x-request-id")) == 1, f"{where}: X-Request-Id"


def first_page_assets(index_html):
    """The scripts and styles index.html loads itself (not the pages loaded later)."""
    html = index_html.decode()
    return sorted(set(re.findall(r'(?:src|href)="(/assets/[^"]+\.(?:js|css))"', html)))


@pytest.mark.parametrize("path", ["/", "/signin", "/my/applications", "/no/such/page",
                                  "/index.html"])
def test_app_paths_are_index_html_never_cached(base_url, index_html, path):
    resp = get(base_url, path)
    assert resp.status_code == 200, f"{path}: {resp.status_code} {resp.content[:200]!r}"
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert resp.content == index_html, f"{path}: not the build's index.html"
    assert resp.headers["Cache-Control"] == "no-cache"
    headers_once(resp, path)
    etag = resp.headers["ETag"]
    again = get(base_url, path, headers={"If-None-Match": etag})
    assert again.status_code == 304, f"{path}: revalidation gave {again.status_code}"


def test_index_html_has_no_inline_script_or_style(index_html):
    """The CSP allows no inline code; a build that needed it would break in the browser."""
    html = index_html.decode()
    assert '<html lang="zh-CN">' in html
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, f"inline script: {tag}"
    assert "<style" not in html and " style=" not in html


def test_assets_cached_for_a_year_and_compressed(base_url, web_root, index_html):
    assets = first_page_assets(index_html)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    compressed = 0
    for path in assets:
        assert re.search(r"-[A-Za-z0-9_-]{8}\.(js|css)$", path), f"{path}: no content hash"
        resp = get(base_url, path, headers={"Accept-Encoding": "identity"})
        assert resp.status_code == 200, path
        want = "text/javascript" if path.endswith(".js") else "text/css"
        assert resp.headers["Content-Type"] == f"{want}; charset=utf-8", path
        assert resp.headers["Cache-Control"] == ONE_YEAR, path
        headers_once(resp, path)
        assert resp.content == (web_root / path.lstrip("/")).read_bytes(), path
        gz = get(base_url, path, headers={"Accept-Encoding": "gzip"}, stream=True)
        assert gz.headers.get("Content-Encoding") == "gzip", path
        body = gz.raw.read()
        assert gzip.decompress(body) == resp.content, path
        compressed += len(body)
    print(f"first page JS+CSS: {len(assets)} files, {compressed} bytes gzip as served "
          f"({compressed / 1024:.1f} KiB; budget {FIRST_PAGE_BUDGET // 1024} KiB)")
    assert compressed < FIRST_PAGE_BUDGET


def test_missing_asset_is_a_problem_not_html(client):
    """A stale page asking for an old chunk gets a 404, never index.html run as a script."""
    assert_problem(client.get("/assets/index-00000000.js"), 404, "not-found")


def test_only_get_and_head(base_url):
    resp = requests.post(base_url + "/signin", data=b"x", timeout=TIMEOUT)
    assert resp.status_code == 405
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert resp.headers["Allow"] == "GET, HEAD"
    assert resp.json()["type"] == "urn:certhall:problem:method-not-allowed"


def test_the_api_keeps_its_own_headers(base_url):
    """The hall's headers stay in its locations: the API still decides its own caching and
    the strict CSP of the API is unchanged."""
    resp = get(base_url, "/api/v1/catalog")
    assert resp.status_code == 200
    assert resp.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert "immutable" not in resp.headers.get("Cache-Control", "")
