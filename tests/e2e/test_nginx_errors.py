"""nginx's own errors: every status nginx itself sends is application/problem+json.

The requests go over raw sockets, because most of them are ones an HTTP library will not
send (a bad request line, HTTP/2.0 in it, an unknown Transfer-Encoding, an oversized
header), and because the checks look at the headers as sent: each security header and
X-Request-Id exactly once, `status` equal to the status on the wire.

Two groups:
- what a client can provoke from outside, in each location of nginx/certhall.conf.in (the
  FastCGI location, the materials location, openapi.yaml, `/` (the web hall), the problem
  page itself);
- every status nginx 1.22 has a page for, through test locations that `return` it (put in
  the stack's extra-*.conf hook and removed afterwards), so that none is left out of the
  error_page list; and a real 502 and 504 from an upstream that is gone or silent.
test_errors.py checks the 404, 405 and 413 that go through the OpenAPI validator.
"""

import re
import socket
from dataclasses import dataclass
from urllib.parse import urlparse

import pytest

from conftest import TIMEOUT, media_type, parse_json_strict

MATERIAL = "/api/v1/applications/1/materials/application_form"
OPENAPI_DOC = "/api/v1/openapi.yaml"
PROBLEM_PAGE = "/_certhall/problem"
# Every location of nginx/certhall.conf.in, by a path it serves.
LOCATIONS = ["/", "/api/v1/quotes", MATERIAL, OPENAPI_DOC, PROBLEM_PAGE]
MiB = 1024 * 1024

# Sent with every nginx response (the server's add_header ... always).
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}

# Every status nginx 1.22 has a built-in error page for (ngx_http_special_response.c,
# ngx_http_error_pages[]), and the status and slug it must go out with instead.
NGINX_PAGES = {
    400: (400, "bad-request"), 401: (401, "unauthorized"), 402: (402, "payment-required"),
    403: (403, "forbidden"), 404: (404, "not-found"), 405: (405, "method-not-allowed"),
    406: (406, "not-acceptable"), 409: (409, "conflict"), 410: (410, "gone"),
    411: (411, "length-required"), 412: (412, "precondition-failed"),
    413: (413, "payload-too-large"), 414: (414, "uri-too-long"),
    415: (415, "unsupported-media-type"), 416: (416, "range-not-satisfiable"),
    421: (421, "misdirected-request"), 429: (429, "too-many-requests"),
    494: (431, "request-header-too-large"),
    495: (400, "bad-request"), 496: (400, "bad-request"), 497: (400, "bad-request"),
    500: (500, "internal"), 501: (501, "not-implemented"), 502: (502, "bad-gateway"),
    503: (503, "service-unavailable"), 504: (504, "gateway-timeout"),
    505: (505, "http-version-not-supported"), 507: (507, "insufficient-storage"),
}
# Finalising a request with these sends nothing: nginx closes the connection.
NO_ANSWER = [408, 444]


# -- raw HTTP/1.1 ---------------------------------------------------------------------

@dataclass
class Raw:
    status: int
    headers: list        # [(lower-case name, value)], in order, repeats kept
    body: bytes

    def all(self, name):
        return [v for k, v in self.headers if k == name]

    def one(self, name):
        values = self.all(name)
        assert len(values) == 1, f"{name}: expected once, got {values!r}"
        return values[0]


def request(method, target, headers=(), body=b"", version="HTTP/1.1"):
    """The bytes of one request, with Host and Connection: close."""
    lines = [f"{method} {target} {version}", "Host: 127.0.0.1", "Connection: close", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def exchange(base_url, data, head=False, timeout=TIMEOUT):
    """Sends data on a new connection and reads one response; None when nginx closes the
    connection without one. Reads the body by its Content-Length, not to the end of the
    connection: after an early error nginx may keep it open to drain the request body."""
    url = urlparse(base_url)
    with socket.create_connection((url.hostname, url.port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass    # nginx answered and closed before it read everything; read the answer
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                assert not buf, f"connection closed inside the response head: {buf[:300]!r}"
                return None
            buf += chunk
        head_bytes, body = buf.split(b"\r\n\r\n", 1)
        status_line, *lines = head_bytes.decode("latin-1").split("\r\n")
        m = re.fullmatch(r"HTTP/1\.1 (\d{3}) ?(.*)", status_line)
        assert m, f"bad status line {status_line!r}"
        headers = []
        for line in lines:
            name, _, value = line.partition(":")
            headers.append((name.strip().lower(), value.strip()))
        resp = Raw(int(m.group(1)), headers, b"")
        length = 0 if head else int(resp.one("content-length"))
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        resp.body = body
        return resp


# -- the checks ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def problem_schema(openapi):
    return openapi.doc["components"]["schemas"]["Problem"]


@pytest.fixture(scope="module")
def documented(openapi):
    """{(slug, status)} of the problem types table in openapi.yaml's introduction."""
    rows = re.findall(r"^\s*\| `urn:certhall:problem:([a-z0-9-]+)` \| (\d{3}) \|",
                      openapi.doc["info"]["description"], re.M)
    assert rows, "no problem types table in openapi.yaml"
    return {(slug, int(status)) for slug, status in rows}


def check_problem(openapi, schema, resp, status, slug, path, head=False):
    """resp is nginx's problem document for this status and slug, as a HEAD answer (the
    headers, no body) or with a body whose `status` is the wire status, whose request_id
    is X-Request-Id and whose instance is the path (absent when there is none). Returns
    the body (None for HEAD)."""
    where = f"{status} {slug} for {path!r}"
    assert resp is not None, f"{where}: the connection closed without an answer"
    assert resp.status == status, f"{where}: got {resp.status}: {resp.headers} {resp.body[:300]!r}"
    mt, _ = media_type(resp.one("content-type"))
    assert mt == "application/problem+json", f"{where}: Content-Type {mt!r}"
    request_id = resp.one("x-request-id")
    assert re.fullmatch(r"[0-9a-f]{32}", request_id), f"{where}: X-Request-Id {request_id!r}"
    for name, value in SECURITY_HEADERS.items():
        assert resp.one(name) == value, f"{where}: {name}"
    if status != 405:
        assert not resp.all("allow"), f"{where}: Allow on a {status}"
    assert int(resp.one("content-length")) > 0, f"{where}: no body announced"
    if head:
        assert resp.body == b"", f"{where}: HEAD answered with a body"
        return None
    body = parse_json_strict(resp.body)
    openapi.check_schema(schema, body, f"{where}: body")
    for member in ("type", "title", "status", "detail", "request_id"):
        assert body.get(member), f"{where}: no {member}: {body}"
    assert body["status"] == status, f"{where}: body status {body['status']}"
    assert body["type"] == f"urn:certhall:problem:{slug}", f"{where}: type {body['type']}"
    assert body["request_id"] == request_id, f"{where}: request_id {body['request_id']}"
    assert body.get("instance") == path, f"{where}: instance {body.get('instance')!r}"
    return body


# -- what a client provokes -----------------------------------------------------------

def case(status, slug, data, path, id, head=False):
    return pytest.param(status, slug, data, path, head, id=id)


def outside_cases():
    cases = []
    for path in LOCATIONS:
        cases += [
            case(501, "not-implemented",
                 request("POST", path, ["Transfer-Encoding: identity"]), path, f"TE-identity{path}"),
            case(501, "not-implemented",
                 request("POST", path, ["Transfer-Encoding: gzip, chunked"]), path, f"TE-gzip{path}"),
            case(505, "http-version-not-supported",
                 request("GET", path, version="HTTP/2.0"), None, f"HTTP/2.0{path}"),
            case(431, "request-header-too-large",
                 request("GET", path, ["X-Big: " + "a" * 9000]), path, f"header-line{path}"),
            case(405, "method-not-allowed", request("TRACE", path), path, f"TRACE{path}"),
            # Over every location's client_max_body_size (11m on the materials path); the
            # problem page has no cap, and is internal: 404.
            case(404 if path == PROBLEM_PAGE else 413,
                 "not-found" if path == PROBLEM_PAGE else "payload-too-large",
                 request("PUT", path, [f"Content-Length: {12 * MiB}"]), path, f"12MiB{path}"),
        ]
    cases += [
        case(505, "http-version-not-supported", request("GET", "/", version="HTTP/9.9"), None,
             "HTTP/9.9"),
        case(400, "bad-request", b"GARBAGE\r\n\r\n", None, "request-line"),
        case(400, "bad-request", b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", "/",
             "no-Host"),
        case(400, "bad-request", request("GET", "/", ["Bad Header: x"]), "/", "header-name"),
        case(400, "bad-request", request("GET", "/", ["X-A: a\0b"]), "/", "header-NUL"),
        case(400, "bad-request", request("GET", "/", ["Host: other"]), "/", "two-Hosts"),
        case(400, "bad-request",
             request("POST", "/api/v1/quotes", ["Content-Length: 12x"]), "/api/v1/quotes",
             "Content-Length"),
        case(400, "bad-request",
             request("POST", "/api/v1/quotes", ["Content-Length: 2",
                                                "Transfer-Encoding: chunked"], b"{}"),
             "/api/v1/quotes", "Content-Length+Transfer-Encoding"),
        case(400, "bad-request",
             request("POST", "/api/v1/quotes", ["Transfer-Encoding: chunked"],
                     version="HTTP/1.0"), "/api/v1/quotes", "HTTP/1.0-chunked"),
        case(400, "bad-request",
             request("POST", "/api/v1/quotes", ["Content-Type: application/json",
                                                "Transfer-Encoding: chunked"], b"zz\r\n"),
             "/api/v1/quotes", "chunk-size"),
        case(400, "bad-request",
             request("PUT", MATERIAL, ["Content-Type: application/pdf",
                                       "Transfer-Encoding: chunked"], b"4\r\n%PDFxx\r\n"),
             MATERIAL, "chunk-data"),
        case(414, "uri-too-long", request("GET", "/" + "a" * 9000), None, "request-line-9000"),
        case(414, "uri-too-long", request("HEAD", "/" + "a" * 9000), None, "HEAD-414",
             head=True),
        case(431, "request-header-too-large",
             request("GET", "/api/v1/catalog", [f"X-Big-{i}: " + "a" * 7000 for i in range(6)]),
             "/api/v1/catalog", "header-total"),
        case(431, "request-header-too-large",
             request("HEAD", OPENAPI_DOC, ["X-Big: " + "a" * 9000]), OPENAPI_DOC, "HEAD-431",
             head=True),
        case(501, "not-implemented",
             request("HEAD", "/api/v1/quotes", ["Transfer-Encoding: identity"]), "/api/v1/quotes",
             "HEAD-501", head=True),
        case(505, "http-version-not-supported", request("HEAD", "/", version="HTTP/2.0"), None,
             "HEAD-505", head=True),
        # Any other path is the web hall's (test_web_hall.py); a missing build file is a 404.
        case(404, "not-found", request("GET", "/api/nope"), "/api/nope", "404"),
        case(404, "not-found", request("HEAD", "/api/nope"), "/api/nope", "HEAD-404", head=True),
        case(404, "not-found", request("GET", "/assets/nope.js"), "/assets/nope.js",
             "404-asset"),
        case(405, "method-not-allowed", request("DELETE", OPENAPI_DOC), OPENAPI_DOC,
             "DELETE-openapi"),
        case(405, "method-not-allowed", request("CONNECT", "/"), "/", "CONNECT"),
        case(400, "bad-request", request("CONNECT", "127.0.0.1:443"), None, "CONNECT-authority"),
        case(412, "precondition-failed", request("GET", OPENAPI_DOC, ['If-Match: "nope"']),
             OPENAPI_DOC, "If-Match"),
        case(412, "precondition-failed",
             request("GET", OPENAPI_DOC, ["If-Unmodified-Since: Mon, 01 Jan 1990 00:00:00 GMT"]),
             OPENAPI_DOC, "If-Unmodified-Since"),
        case(412, "precondition-failed", request("HEAD", OPENAPI_DOC, ['If-Match: "nope"']),
             OPENAPI_DOC, "HEAD-412", head=True),
    ]
    return cases


@pytest.mark.parametrize("status,slug,data,path,head", outside_cases())
def test_nginx_error_from_outside_is_a_problem(base_url, openapi, problem_schema, documented,
                                               status, slug, data, path, head):
    resp = exchange(base_url, data, head=head)
    check_problem(openapi, problem_schema, resp, status, slug, path, head=head)
    assert (slug, status) in documented, f"{slug} {status} is not in openapi.yaml's table"
    if status == 405:
        # nginx refuses TRACE and CONNECT before it picks a location, so it cannot name
        # the resource's methods; the static openapi.yaml serves GET and HEAD.
        method = data.split(b" ", 1)[0]
        want = ["GET, HEAD"] if method not in (b"TRACE", b"CONNECT") else []
        assert resp.all("allow") == want, f"405 for {method!r} {path}: Allow {resp.all('allow')}"


def test_a_chunked_body_over_the_limit_is_413(base_url, openapi, problem_schema):
    """Without Content-Length nginx finds the body too large while it reads it."""
    chunk = b"a" * 65536
    body = (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 17 + b"0\r\n\r\n"   # 1.06 MiB
    data = request("POST", "/api/v1/quotes", ["Content-Type: application/json",
                                              "Transfer-Encoding: chunked"], body)
    resp = exchange(base_url, data)
    check_problem(openapi, problem_schema, resp, 413, "payload-too-large", "/api/v1/quotes")


def test_range_on_openapi_yaml_is_ignored(base_url, openapi):
    """Ranges are off for openapi.yaml (nginx/certhall.conf.in): the whole document, never
    a 416 or 206, and no Accept-Ranges to suggest otherwise."""
    for rng in ("bytes=99999999-", "bytes=0-9"):
        resp = exchange(base_url, request("GET", OPENAPI_DOC, [f"Range: {rng}"]))
        assert resp.status == 200, f"Range {rng}: {resp.status}"
        assert resp.body == openapi.raw, f"Range {rng}: not the whole document"
        assert not resp.all("content-range") and not resp.all("accept-ranges")
        resp.one("x-request-id")


# -- every page nginx has, and real upstream failures --------------------------------------

TEST_PREFIX = "/test-nginx-errors"


@pytest.fixture(scope="module")
def test_locations(stack_dir, stackctl):
    """Test-only locations in the stack's extra-*.conf hook (inside the server, so they
    inherit its error_page list as every real location does): one `return <status>` per
    status, one FastCGI location whose upstream socket does not exist (502) and one whose
    upstream accepts and never answers (504)."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)           # the kernel completes connects; nothing ever answers
    conf = stack_dir / "nginx" / "extra-test-nginx-errors.conf"
    lines = [f"location = {TEST_PREFIX}/return/{code} {{ return {code}; }}"
             for code in [*NGINX_PAGES, *NO_ANSWER]]
    lines += [
        f"location = {TEST_PREFIX}/gone {{",
        f"    fastcgi_pass unix:{stack_dir}/run/no-such-api.sock;",
        "    include /etc/nginx/fastcgi_params;",
        "}",
        f"location = {TEST_PREFIX}/silent {{",
        f"    fastcgi_pass 127.0.0.1:{silent.getsockname()[1]};",
        "    fastcgi_read_timeout 1s;",
        "    include /etc/nginx/fastcgi_params;",
        "}",
    ]
    conf.write_text("\n".join(lines) + "\n")
    try:
        stackctl.run("nginx-reload")
        yield TEST_PREFIX
    finally:
        conf.unlink(missing_ok=True)
        stackctl.run("nginx-reload")
        silent.close()


@pytest.mark.parametrize("code", list(NGINX_PAGES))
def test_every_nginx_error_page_is_a_problem(base_url, openapi, problem_schema, test_locations,
                                             code):
    status, slug = NGINX_PAGES[code]
    path = f"{test_locations}/return/{code}"
    check_problem(openapi, problem_schema, exchange(base_url, request("GET", path)),
                         status, slug, path)
    head = exchange(base_url, request("HEAD", path), head=True)
    check_problem(openapi, problem_schema, head, status, slug, path, head=True)
    if status == 503:
        assert head.one("retry-after").isdigit()


@pytest.mark.parametrize("code", NO_ANSWER)
def test_nginx_closes_without_an_answer(base_url, test_locations, code):
    """408 and 444 are never sent: nginx 1.22 closes the connection (a client timeout
    finalises the request with 408 the same way)."""
    assert exchange(base_url, request("GET", f"{test_locations}/return/{code}")) is None


def test_an_unreachable_upstream_is_502(base_url, openapi, problem_schema, test_locations):
    path = f"{test_locations}/gone"
    check_problem(openapi, problem_schema, exchange(base_url, request("GET", path)),
                  502, "bad-gateway", path)


def test_a_silent_upstream_is_504(base_url, openapi, problem_schema, test_locations):
    path = f"{test_locations}/silent"
    data = request("POST", path, ["Content-Type: application/json", "Content-Length: 2"], b"{}")
    check_problem(openapi, problem_schema, exchange(base_url, data), 504, "gateway-timeout", path)
