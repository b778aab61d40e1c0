"""Sends one FastCGI GET request to a unix socket and prints the response's Status line.

Usage: fcgi_get.py SOCKET PATH

The smallest FastCGI responder client there is (FastCGI 1.0, one request, no keep-alive),
so tests/leak/run can reach a certhall-api worker without nginx. request() is the same for
any method and body (tests/e2e/test_pay_settings.py imports it).
"""
import socket
import struct
import sys

BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT = 1, 3, 4, 5, 6
RESPONDER = 1


def record(kind, content, request_id=1):
    return struct.pack(">BBHHBx", 1, kind, request_id, len(content), 0) + content


def pair(name, value):
    name, value = name.encode(), value.encode()
    return bytes([len(name), len(value)]) + name + value  # every one is < 128 bytes here


def request(sock_path, method, path, body=b"", params=(), request_id="leak-test"):
    """Sends one request (params: extra CGI parameters, e.g. HTTP_X_...) and returns its
    Status line ("Status: 200 OK", or None when there is none) and the whole output."""
    params = b"".join(pair(k, v) for k, v in (
        ("REQUEST_METHOD", method), ("REQUEST_URI", path), ("SCRIPT_NAME", path),
        ("QUERY_STRING", ""), ("SERVER_PROTOCOL", "HTTP/1.1"), ("REMOTE_ADDR", "127.0.0.1"),
        ("REQUEST_ID", request_id), ("CONTENT_LENGTH", str(len(body))), *params))
    stdin = (record(STDIN, body) if body else b"") + record(STDIN, b"")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(sock_path)
        s.sendall(record(BEGIN_REQUEST, struct.pack(">HB5x", RESPONDER, 0))
                  + record(PARAMS, params) + record(PARAMS, b"") + stdin)
        data, out = b"", b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        while len(data) >= 8:
            _, kind, _, length, padding = struct.unpack(">BBHHB", data[:7])
            content = data[8:8 + length]
            data = data[8 + length + padding:]
            if kind == STDOUT:
                out += content
            elif kind == END_REQUEST:
                break
    head = out.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    status = next((line for line in head.split("\r\n") if line.lower().startswith("status:")), None)
    return status, out


def main():
    sock_path, path = sys.argv[1], sys.argv[2]
    status, out = request(sock_path, "GET", path)
    if status is None:
        sys.exit(f"fcgi_get: no Status header in the response: {out[:200]!r}")
    print(status)


if __name__ == "__main__":
    main()
