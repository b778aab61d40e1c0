-- wrk script for tests/bench/ocsp: POST /ocsp with the DER request in $BENCH_OCSP_REQUEST.
local f = assert(io.open(os.getenv("BENCH_OCSP_REQUEST"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/ocsp-request"
