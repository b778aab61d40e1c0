"""Fixtures for the end-to-end suite.

The suite talks HTTP to nginx at $CERTHALL_URL like a curl user and checks every
response it gets against openapi.yaml (see OpenAPI.validate). The environment is the
one docs/CONTRACT.md gives the tests (exported by scripts/test):

  CERTHALL_URL    base URL through nginx (required)
  CERTHALL_STACK  stack dir (for scripts/stackctl and log/api.log)
  CERTHALL_ROOT   repo root (default: two levels above this file)
  CERTHALL_DB     libpq conninfo as the owner role

Run: /usr/bin/python3 -m pytest tests/e2e
"""

import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml
from jsonschema import Draft202012Validator, FormatChecker, RefResolver

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("CERTHALL_ROOT") or HERE.parent.parent).resolve()
OPENAPI_PATH = ROOT / "openapi.yaml"
TIMEOUT = 10  # seconds, per HTTP request
# Methods a path may lack (405 with Allow): the API's own, and TRACE and CONNECT, which
# nginx refuses itself with 405. Any other method is unknown to the API: 501.
KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
                 "CONNECT"}


def pytest_configure(config):
    if not os.environ.get("CERTHALL_URL"):
        raise pytest.UsageError(
            "CERTHALL_URL is not set: the e2e suite needs a running stack "
            "(run it through scripts/test, or export CERTHALL_URL=http://127.0.0.1:8080)")


def require_env(name):
    """The value of an environment variable the contract promises; fails the test if unset."""
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set (docs/CONTRACT.md: scripts/test exports it)")
    return value


# ---------------------------------------------------------------------------------
# OpenAPI response validation
# ---------------------------------------------------------------------------------

class DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKeyError(f"duplicate key {key!r} in response JSON")
        seen[key] = value
    return seen


def parse_json_strict(raw: bytes):
    """Parses a response body as UTF-8 JSON, refusing duplicate keys and NaN/Infinity."""
    def bad_constant(name):
        raise ValueError(f"non-JSON constant {name} in response")
    return json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates,
                      parse_constant=bad_constant)


def media_type(content_type):
    """'application/json; charset=utf-8' -> ('application/json', {'charset': 'utf-8'})."""
    if not content_type:
        return None, {}
    parts = [p.strip() for p in content_type.split(";")]
    params = {}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            params[k.strip().lower()] = v.strip().strip('"').lower()
    return parts[0].lower(), params


def is_json_type(mt):
    return mt == "application/json" or (mt or "").endswith("+json")


class ValidationFailure(AssertionError):
    pass


class OpenAPI:
    """openapi.yaml, with a response validator.

    validate(response) finds the operation by method and path template, picks the
    response object by status code (exact, then '4XX'-style, then 'default'), checks the
    declared required headers and their schemas, checks the Content-Type against the
    declared media types, parses JSON bodies strictly and validates them with the
    schema (all $refs resolved over the whole document). A status the operation does
    not declare fails. Paths without an operation for the method must answer with
    components/responses/MethodNotAllowed (405, Allow = the declared methods), paths
    not in the document with components/responses/NotFound (404).
    """

    METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

    def __init__(self, path: Path):
        self.path = path
        self.raw = path.read_bytes()
        self.doc = yaml.safe_load(self.raw)
        assert self.doc.get("openapi", "").startswith("3.1"), "openapi.yaml must be OpenAPI 3.1"
        self.resolver = RefResolver.from_schema(self.doc)
        self.lock = threading.Lock()  # RefResolver keeps a scope stack: not thread-safe
        self.templates = []
        for template, item in self.doc["paths"].items():
            # A parameter marked x-rest (OCSP's GET) takes the rest of the path, slashes too.
            rest = {"{%s}" % self.deref(p)["name"] for p in item.get("parameters", [])
                    if self.deref(p).get("x-rest")}
            regex = "^" + "".join(
                ".*" if part in rest else "[^/]+" if part.startswith("{") else re.escape(part)
                for part in re.split(r"(\{[^}]+\})", template)) + "$"
            self.templates.append((re.compile(regex), template, item))

    # -- document access ----------------------------------------------------------
    def deref(self, node):
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            assert ref.startswith("#/"), f"only local $refs are supported: {ref}"
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def path_item(self, url_path):
        for regex, template, item in self.templates:
            if regex.match(url_path):
                return template, item
        return None, None

    def declared_methods(self, item):
        return sorted(m.upper() for m in self.METHODS if m in item)

    def schema_validator(self, schema):
        return Draft202012Validator(schema, resolver=self.resolver, format_checker=FormatChecker())

    def check_schema(self, schema, instance, what):
        with self.lock:
            errors = sorted(self.schema_validator(schema).iter_errors(instance),
                            key=lambda e: list(e.absolute_path))
        if errors:
            lines = [f"  at /{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
                     for e in errors[:10]]
            raise ValidationFailure(f"{what} does not match openapi.yaml:\n" + "\n".join(lines))

    # -- response validation -------------------------------------------------------
    def expected_response(self, method, url_path, status):
        """(label, response object) the spec declares for this request and status."""
        template, item = self.path_item(url_path)
        if item is None:
            if status != 404:
                raise ValidationFailure(
                    f"{method} {url_path}: path not in openapi.yaml, so the answer must be 404, got {status}")
            return f"{method} {url_path} (no such path)", self.deref(
                {"$ref": "#/components/responses/NotFound"})
        operation = item.get(method.lower())
        if operation is None and method.upper() not in KNOWN_METHODS:
            if status != 501:
                raise ValidationFailure(
                    f"{method} {template}: the API knows no such method, so the answer must be 501, got {status}")
            return f"{method} {template} (unknown method)", self.deref(
                {"$ref": "#/components/responses/NotImplemented"})
        if operation is None:
            if status != 405:
                raise ValidationFailure(
                    f"{method} {template}: method not declared, so the answer must be 405, got {status}")
            return f"{method} {template} (method not declared)", self.deref(
                {"$ref": "#/components/responses/MethodNotAllowed"})
        responses = operation["responses"]
        for key in (str(status), f"{str(status)[0]}XX", "default"):
            if key in responses:
                return f"{method} {template} -> {key}", self.deref(responses[key])
        raise ValidationFailure(
            f"{method} {template}: status {status} is not declared in openapi.yaml "
            f"(declared: {', '.join(responses)})")

    def validate(self, resp: requests.Response):
        """Checks resp against the spec; returns the parsed body (None without a body)."""
        req = resp.request
        url_path = requests.utils.urlparse(req.url).path
        method = req.method.upper()
        status = resp.status_code
        label, spec_resp = self.expected_response(method, url_path, status)
        where = f"{label} [X-Request-Id {resp.headers.get('X-Request-Id')}]"

        for name, header in (spec_resp.get("headers") or {}).items():
            header = self.deref(header)
            if name.lower() == "content-type":
                continue
            value = resp.headers.get(name)
            if value is None:
                if header.get("required"):
                    raise ValidationFailure(f"{where}: required header {name} is missing")
                continue
            schema = header.get("schema", {})
            instance = value
            if self.deref(schema).get("type") == "integer" and value.isdigit():
                instance = int(value)
            self.check_schema(schema, instance, f"{where}: header {name}: {value!r}")

        if status == 405:
            self.check_allow(where, url_path, resp.headers.get("Allow", ""))

        if not spec_resp.get("content"):
            if resp.content:
                raise ValidationFailure(
                    f"{where}: openapi.yaml declares no body, got {len(resp.content)} bytes "
                    f"({resp.headers.get('Content-Type')})")
            return None

        content = spec_resp["content"]
        ctype = resp.headers.get("Content-Type")
        mt, params = media_type(ctype)
        if mt not in content:
            raise ValidationFailure(
                f"{where}: Content-Type {ctype!r} is not one openapi.yaml declares "
                f"({', '.join(content)})")
        schema = content[mt].get("schema")
        if not is_json_type(mt):
            return resp.content
        if mt == "application/json" and 200 <= status < 300 and params.get("charset") != "utf-8":
            raise ValidationFailure(f"{where}: JSON success must be '; charset=utf-8', got {ctype!r}")
        try:
            body = parse_json_strict(resp.content)
        except (ValueError, UnicodeDecodeError) as e:
            raise ValidationFailure(f"{where}: body is not valid JSON: {e}: {resp.content[:200]!r}")
        if schema is not None:
            self.check_schema(schema, body, f"{where}: body")
        if mt == "application/problem+json":
            self.check_problem(where, resp, body, url_path)
        return body

    def check_allow(self, where, url_path, allow):
        """Allow lists the path's declared methods (HEAD may join GET, OPTIONS anything)."""
        _, item = self.path_item(url_path)
        declared = set(self.declared_methods(item or {}))
        listed = {m.strip().upper() for m in allow.split(",") if m.strip()}
        extra_ok = {"OPTIONS"} | ({"HEAD"} if "GET" in declared else set())
        if not declared <= listed or not listed <= declared | extra_ok:
            raise ValidationFailure(
                f"{where}: Allow {allow!r} does not match the declared methods {sorted(declared)}")

    @staticmethod
    def check_problem(where, resp, body, url_path):
        if body.get("status") != resp.status_code:
            raise ValidationFailure(f"{where}: problem status {body.get('status')} != HTTP {resp.status_code}")
        if body.get("request_id") != resp.headers.get("X-Request-Id"):
            raise ValidationFailure(
                f"{where}: problem request_id {body.get('request_id')!r} != "
                f"X-Request-Id {resp.headers.get('X-Request-Id')!r}")
        if "instance" in body and body["instance"] not in (url_path, resp.request.path_url):
            raise ValidationFailure(f"{where}: problem instance {body['instance']!r} != path {url_path!r}")


@pytest.fixture(scope="session")
def openapi():
    return OpenAPI(OPENAPI_PATH)


# ---------------------------------------------------------------------------------
# HTTP client: every response goes through the validator
# ---------------------------------------------------------------------------------

class Client:
    """A requests.Session against $CERTHALL_URL whose every response is validated.

    request() returns the requests.Response with `.body` set to the parsed body
    (dict/list for JSON, bytes for other declared bodies, None when there is none).
    """

    def __init__(self, base_url, openapi_doc, session=None):
        self.base = base_url.rstrip("/")
        self.openapi = openapi_doc
        self.session = session or requests.Session()

    def url(self, path):
        return self.base + path

    def request(self, method, path, **kw):
        kw.setdefault("timeout", TIMEOUT)
        kw.setdefault("allow_redirects", False)
        resp = self.session.request(method, self.url(path), **kw)
        resp.body = self.openapi.validate(resp)
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def post_json(self, path, doc, **kw):
        """POSTs doc serialised as JSON (a str/bytes doc is sent as is)."""
        data = doc if isinstance(doc, (bytes, str)) else json.dumps(doc, ensure_ascii=False)
        if isinstance(data, str):
            data = data.encode("utf-8")
        headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
        return self.post(path, data=data, headers=headers, **kw)

    def close(self):
        self.session.close()


@pytest.fixture(scope="session")
def base_url():
    return os.environ["CERTHALL_URL"].rstrip("/")


@pytest.fixture
def client(base_url, openapi):
    c = Client(base_url, openapi)
    yield c
    c.close()


@pytest.fixture(scope="session")
def shared_client(base_url, openapi):
    """One client for module-scoped fixtures (reads that several tests share)."""
    c = Client(base_url, openapi)
    yield c
    c.close()


@pytest.fixture
def make_client(base_url, openapi):
    """Factory for extra clients (one per thread: a Session is not thread-safe)."""
    made = []

    def make():
        c = Client(base_url, openapi)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


def assert_problem(resp, status, slug, field=None):
    """resp is an application/problem+json answer with this status and slug (and field)."""
    mt, _ = media_type(resp.headers.get("Content-Type"))
    assert resp.status_code == status, (
        f"expected {status} {slug}, got {resp.status_code}: {resp.content[:300]!r}")
    assert mt == "application/problem+json", f"expected problem+json, got {resp.headers.get('Content-Type')!r}"
    body = resp.body
    assert body["type"] == f"urn:certhall:problem:{slug}", f"expected slug {slug}, got {body['type']}"
    assert body["title"], "problem title is empty"
    if field is not None:
        assert body.get("field") == field, f"expected field {field!r}, got {body.get('field')!r} ({body})"
    return body


# ---------------------------------------------------------------------------------
# The stack: scripts/stackctl, the api log, the database
# ---------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def stack_dir():
    return Path(require_env("CERTHALL_STACK"))


class StackCtl:
    def __init__(self, stack):
        self.stack = stack
        self.script = ROOT / "scripts" / "stackctl"

    def run(self, *args, timeout=60, check=True):
        """Runs scripts/stackctl ARGS; returns the CompletedProcess (stdout stripped)."""
        if not self.script.exists():
            pytest.fail(f"{self.script} does not exist")
        env = dict(os.environ, CERTHALL_STACK=str(self.stack))
        proc = subprocess.run([str(self.script), *args], env=env, capture_output=True,
                              text=True, timeout=timeout)
        if check and proc.returncode != 0:
            pytest.fail(f"stackctl {' '.join(args)} exited {proc.returncode}:\n"
                        f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        proc.stdout = proc.stdout.strip()
        return proc

    def popen(self, *args):
        env = dict(os.environ, CERTHALL_STACK=str(self.stack))
        return subprocess.Popen([str(self.script), *args], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def master_pid(self):
        out = self.run("api-pid").stdout
        assert out.isdigit(), f"stackctl api-pid printed {out!r}"
        return int(out)

    def worker_pids(self):
        out = self.run("api-workers").stdout
        pids = [int(line) for line in out.split() if line.strip()]
        return pids


@pytest.fixture(scope="session")
def stackctl(stack_dir):
    return StackCtl(stack_dir)


def api_log_request_ids(stack_dir):
    """The request_id of every line of $CERTHALL_STACK/log/api.log (JSON lines)."""
    ids = set()
    log = Path(stack_dir) / "log" / "api.log"
    if not log.exists():
        return ids
    with open(log, "rb") as f:
        for line in f:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("request_id"):
                ids.add(entry["request_id"])
    return ids


def wait_until(predicate, timeout, interval=0.2, what="condition"):
    """Polls predicate() until it returns a truthy value or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
