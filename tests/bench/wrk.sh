# shellcheck shell=bash
# What the HTTP benchmarks share (tests/bench/run, tests/bench/ocsp): one wrk run.
#
# run_wrk PATH [WRK ARGS...]: prints "req/s p99_ms non2xx socket_errors" from one wrk run of
# $duration seconds with $connections connections (1 thread) against $CERTHALL_URL$PATH.
run_wrk() {
    local out path=$1
    shift
    out=$(wrk -t1 -c"$connections" -d"${duration}s" --latency "$@" "$CERTHALL_URL$path")
    /usr/bin/python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\b", out, re.M)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
err = re.search(r"Socket errors:.*", out)
print(f"{rps:.0f} {p99:.2f} {int(bad.group(1)) if bad else 0} {1 if err else 0}")
PY
}
