"""Integrator request signing (CH-HMAC-SHA256), as docs/CONTRACT.md and openapi.yaml's
`integratorHmac` security scheme define it. Python 3 standard library plus requests.

    Authorization: CH-HMAC-SHA256 KeyId=ak_…, Timestamp=<unix s>, Nonce=<16-64 [A-Za-z0-9_-]>,
                   Signature=<base64 HMAC-SHA256(secret, canonical)>
    X-Certhall-External-User: <the integrator's own user id>        (optional, signed)

    canonical = "CH-HMAC-SHA256\\nMETHOD\\npath\\nquery\\ntimestamp\\nnonce\\nexternal_user\\n"
                + hex(sha256(body))

The key is the whole secret string (`sk_…`) as ASCII bytes. Use HmacAuth with requests
(it signs the prepared request, so what is signed is exactly what is sent), or
sign_headers() to build the headers for a request of your own (e.g. to sign one thing
and send another).
"""

import base64
import hashlib
import hmac
import secrets
import time
from urllib.parse import urlsplit

import requests

SCHEME = "CH-HMAC-SHA256"
EXTERNAL_USER_HEADER = "X-Certhall-External-User"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def new_nonce():
    """22 characters of [A-Za-z0-9_-] (128 random bits)."""
    return secrets.token_urlsafe(16)


def canonical_string(method, path, query, timestamp, nonce, external_user, body):
    """The string the server recomputes; body is bytes (b"" when there is none)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    return "\n".join([
        SCHEME,
        method.upper(),
        path,
        query or "",
        str(timestamp),
        nonce,
        external_user or "",
        hashlib.sha256(body or b"").hexdigest(),
    ])


def signature(secret, canonical):
    """base64 (with padding, 44 characters) of HMAC-SHA256(secret, canonical)."""
    mac = hmac.new(secret.encode("ascii"), canonical.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


def authorization(key_id, timestamp, nonce, sig):
    return f"{SCHEME} KeyId={key_id}, Timestamp={timestamp}, Nonce={nonce}, Signature={sig}"


def sign_headers(key_id, secret, method, path, query="", body=b"", external_user=None,
                 timestamp=None, nonce=None):
    """The headers (Authorization and, when given, X-Certhall-External-User) for a request.

    path is the path as sent (e.g. "/api/v1/me"), query the query string as sent without
    "?". timestamp defaults to now, nonce to a fresh random one.
    """
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = new_nonce() if nonce is None else nonce
    canonical = canonical_string(method, path, query, timestamp, nonce, external_user, body)
    headers = {"Authorization": authorization(key_id, timestamp, nonce,
                                              signature(secret, canonical))}
    if external_user is not None:
        headers[EXTERNAL_USER_HEADER] = external_user
    return headers


class HmacAuth(requests.auth.AuthBase):
    """requests auth that signs each prepared request with a fresh nonce and timestamp.

    external_user: act for this user of the integrator (None: for nobody).
    timestamp / nonce: fixed values (tests of the window and of replays); default fresh.
    """

    def __init__(self, key_id, secret, external_user=None, timestamp=None, nonce=None):
        self.key_id = key_id
        self.secret = secret
        self.external_user = external_user
        self.timestamp = timestamp
        self.nonce = nonce

    def __call__(self, r):
        url = urlsplit(r.url)
        body = r.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        r.headers.pop(EXTERNAL_USER_HEADER, None)
        r.headers.update(sign_headers(self.key_id, self.secret, r.method, url.path, url.query,
                                      body, self.external_user, self.timestamp, self.nonce))
        return r
