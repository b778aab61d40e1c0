# shellcheck shell=bash
# Shared functions for scripts/run, scripts/test and scripts/stackctl.
#
# A "stack" is one directory ($CERTHALL_STACK) holding a private PostgreSQL cluster, a
# SoftHSM2 token (the CA token) and the signing process that alone opens it
# (certhall-signer), the certhall-api FastCGI server and an nginx in front of it, the SMS
# outbox sender and the fake SMS gateway it delivers to, the payment daemon and the sandbox
# payment gateway (tests/fakes/); the layout is fixed in docs/CONTRACT.md. Every setting lives in $CERTHALL_STACK/env (written by
# stack_write_env), so stackctl can act on a stack that another script started.
#
# Source this file from a script that has `set -euo pipefail`; functions report problems
# on stderr and return non-zero (or exit through stack_die for unrecoverable setup errors).

# Debian packages the stack needs to build, run and test. nodejs/npm count as present when
# the commands exist (they may come from another source than Debian).
STACK_PACKAGES=(
    build-essential cmake pkg-config libfcgi-dev libjansson-dev libpq-dev libssl-dev
    libp11-dev libp11-kit-dev libengine-pkcs11-openssl libcurl4-openssl-dev softhsm2 opensc postgresql nginx wrk python3-pytest python3-requests
    python3-jsonschema python3-yaml python3-psycopg2 python3-cryptography python3-pyasn1 nodejs npm curl jq procps
    clang libclang-rt-14-dev systemd
    libcairo2-dev libpango1.0-dev fonts-noto-cjk poppler-utils
)

STACK_HSM_MODULE=/usr/lib/softhsm/libsofthsm2.so
STACK_HSM_LABEL=certhall-ca
STACK_PG_SUPERUSER=postgres

stack_log() { printf '[stack] %s\n' "$*" >&2; }
stack_warn() { printf '[stack] warning: %s\n' "$*" >&2; }
stack_die() {
    printf '[stack] error: %s\n' "$*" >&2
    exit 1
}

stack_is_root() { [ "$(id -u)" -eq 0 ]; }

# ---------------------------------------------------------------------------------------
# Packages

# Prints the packages from STACK_PACKAGES that are not installed, one per line.
stack_missing_packages() {
    local pkg status
    for pkg in "${STACK_PACKAGES[@]}"; do
        case $pkg in
        nodejs) command -v node >/dev/null 2>&1 && continue ;;
        npm) command -v npm >/dev/null 2>&1 && continue ;;
        esac
        status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
        [ "$status" = installed ] || printf '%s\n' "$pkg"
    done
}

# Installs missing packages with apt-get (as root, or through sudo). Without either it
# prints the command to run and exits 1.
stack_ensure_packages() {
    local missing sudo=() policy=/usr/sbin/policy-rc.d created_policy=0 rc=0
    mapfile -t missing < <(stack_missing_packages)
    [ "${#missing[@]}" -eq 0 ] && return 0

    stack_log "missing Debian packages: ${missing[*]}"
    if ! stack_is_root; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            printf '[stack] error: not root and sudo is not available; run as root:\n' >&2
            printf '  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends %s\n' \
                "${missing[*]}" >&2
            exit 1
        fi
    fi
    # The postgresql and nginx packages would start their system services; this project
    # never uses them (it runs its own instances), so keep the installer from starting
    # anything, unless the machine already has its own policy.
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# temporary, written by certhall scripts/lib/stack.sh\nexit 101\n' |
            "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 755 "$policy"
        created_policy=1
    fi
    "${sudo[@]}" apt-get update -q || rc=$?
    if [ "$rc" -eq 0 ]; then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
    fi
    [ "$created_policy" -eq 1 ] && "${sudo[@]}" rm -f "$policy"
    [ "$rc" -eq 0 ] || stack_die "apt-get failed (exit $rc) installing: ${missing[*]}"
}

# ---------------------------------------------------------------------------------------
# Build

# stack_build [extra cmake -D options...]  (CERTHALL_ROOT is set by the calling script)
# shellcheck disable=SC2153
stack_build() {
    cmake -S "$CERTHALL_ROOT" -B "$CERTHALL_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
    cmake --build "$CERTHALL_BUILD" -j2
    local bin
    for bin in certhall-api certhall-admin certhall-sms-sender certhall-payd certhall-signer \
        certhall-invoiced; do
        [ -x "$CERTHALL_BUILD/$bin" ] || stack_die "build did not produce $CERTHALL_BUILD/$bin"
    done
}

# ---------------------------------------------------------------------------------------
# Node tools (the OpenAPI linter)

# stack_ensure_node_tools DIR: installs the Node tools pinned in tools/package-lock.json
# into DIR (a build tree's node/, never the source tree) with `npm ci`, when they are
# missing or the lock changed since the last install; quiet unless npm fails. The lock
# pins every package by integrity hash, so CI lints with exactly the committed versions.
stack_ensure_node_tools() {
    local dir=$1 src=$CERTHALL_ROOT/tools
    if [ -x "$dir/node_modules/.bin/redocly" ] &&
        cmp -s "$src/package-lock.json" "$dir/installed-package-lock.json"; then
        return 0
    fi
    command -v npm >/dev/null 2>&1 || stack_die "npm not found (needed for the OpenAPI linter)"
    # The pinned @redocly/cli needs Node >= 20.19 (its "engines"); npm would only warn.
    node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' ||
        stack_die "Node.js $(node --version 2>/dev/null || echo '(none)') is too old: tools/package.json needs >= 20.19"
    stack_log "installing the Node tools from tools/package-lock.json into $dir (npm ci)"
    rm -f "$dir/installed-package-lock.json"
    mkdir -p "$dir"
    cp "$src/package.json" "$src/package-lock.json" "$dir/"
    if ! npm ci --prefix "$dir" --no-audit --no-fund --no-update-notifier --loglevel=error \
        >"$dir/npm-ci.log" 2>&1; then
        cat "$dir/npm-ci.log" >&2
        stack_die "npm ci failed in $dir (log: $dir/npm-ci.log)"
    fi
    cp "$src/package-lock.json" "$dir/installed-package-lock.json"
}

# ---------------------------------------------------------------------------------------
# The web hall (web/, issue 15)

# stack_web_build DIR: builds the web hall into DIR (nginx serves it at /; its
# Content-Security-Policy and caching are in nginx/certhall.conf.in). Installs web/'s npm
# packages from web/package-lock.json with `npm ci` first, when web/node_modules is missing
# or the lock changed since the last install. Returns 1 (and says why; the log is
# DIR.log) when npm is missing or a step fails: the caller decides whether the stack goes
# on without the hall, which it can (nginx answers the 404 problem at / until a build is
# there, and serves one made later without a reload).
stack_web_build() {
    local dir=$1 web=$CERTHALL_ROOT/web log=$1.log
    command -v npm >/dev/null 2>&1 || { stack_warn "npm not found: the web hall is not built"; return 1; }
    mkdir -p "$(dirname "$dir")"
    : >"$log"
    if [ ! -d "$web/node_modules" ] || ! cmp -s "$web/package-lock.json" "$web/node_modules/.certhall-installed-lock"; then
        stack_log "installing the web hall's packages from web/package-lock.json (npm ci)"
        if ! (cd "$web" && npm ci --no-audit --no-fund --no-update-notifier --loglevel=error) >>"$log" 2>&1; then
            stack_warn "npm ci failed in web/ (log: $log)"
            return 1
        fi
        cp "$web/package-lock.json" "$web/node_modules/.certhall-installed-lock"
    fi
    # Type check, then the production build (hashed file names) into a fresh directory,
    # moved into place whole so that nginx never serves half a build.
    rm -rf "$dir.new"
    if ! (cd "$web" && npm run --silent build -- --outDir "$dir.new" --emptyOutDir) >>"$log" 2>&1; then
        stack_warn "the web hall's build failed (log: $log)"
        rm -rf "$dir.new"
        return 1
    fi
    chmod -R a+rX "$dir.new"
    rm -rf "$dir.old"
    [ ! -e "$dir" ] || mv "$dir" "$dir.old"
    mv "$dir.new" "$dir"
    rm -rf "$dir.old"
    stack_log "web hall built into $dir"
}

# stack_ensure_browser: Debian's chromium for the web hall's browser test (tests/browser/),
# installed with apt-get like the other packages when /usr/bin/chromium is missing. Not in
# STACK_PACKAGES: the stack and the rest of the suite run without it, so a failed install
# is a warning here and the browser test's own failure (tests/browser/run says why).
stack_ensure_browser() {
    [ -x /usr/bin/chromium ] && return 0
    # A subshell: stack_ensure_packages exits on failure, which must not end the caller.
    if ! (STACK_PACKAGES=(chromium) && stack_ensure_packages); then
        stack_warn "chromium could not be installed: the browser test (browser.hall) will fail"
        return 1
    fi
}

# ---------------------------------------------------------------------------------------
# Configuration and the env file

# A TCP port on 127.0.0.1 that is free right now (the kernel picks it).
stack_free_port() {
    /usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# True when something already listens on 127.0.0.1:$1.
stack_port_in_use() {
    ! /usr/bin/python3 -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}

# Newest PostgreSQL server bin dir (Debian installs them side by side).
stack_pg_bindir() {
    local dir best=
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/initdb" ] && best=$dir
    done
    [ -n "$best" ] || stack_die "no PostgreSQL server found under /usr/lib/postgresql/*/bin"
    printf '%s\n' "$best"
}

# libpq conninfo value, quoted when it contains spaces or quotes.
stack_conninfo_value() {
    local v=$1
    case $v in
    *[[:space:]\'\\]*)
        v=${v//\\/\\\\}
        v=${v//\'/\\\'}
        printf "'%s'" "$v"
        ;;
    *) printf '%s' "$v" ;;
    esac
}

# stack_configure STACK PORT PGPORT
# Sets and exports every CERTHALL_* variable for a stack in STACK. Workers come from
# CERTHALL_WORKERS (default 4) and CERTHALL_NGINX_WORKERS (default 1); the fake SMS
# gateway listens on CERTHALL_SMS_PORT and the sandbox payment gateway on CERTHALL_PAY_PORT
# (default: free ports). CERTHALL_PAYD_QUERY_AFTER (default 60 s), CERTHALL_PAY_ORDER_TTL
# (default 7200 s) and CERTHALL_PAY_RETRY_DELAYS (the sandbox's notification retries) may
# be set by the caller.
stack_configure() {
    local stack=$1 port=$2 pgport=$3 host
    export CERTHALL_STACK=$stack
    export CERTHALL_PORT=$port
    export CERTHALL_PGPORT=$pgport
    export CERTHALL_URL="http://127.0.0.1:$port"
    export CERTHALL_BUILD=${CERTHALL_BUILD:-$CERTHALL_ROOT/build}
    # The web hall's production build, served at / (stack_web_build writes it).
    export CERTHALL_WEB_ROOT=${CERTHALL_WEB_ROOT:-$CERTHALL_BUILD/web}
    export CERTHALL_WORKERS=${CERTHALL_WORKERS:-4}
    export CERTHALL_NGINX_WORKERS=${CERTHALL_NGINX_WORKERS:-1}
    export CERTHALL_PG_BINDIR=${CERTHALL_PG_BINDIR:-$(stack_pg_bindir)}
    stack_check_number CERTHALL_PORT 1 65535
    stack_check_number CERTHALL_PGPORT 1 65535
    stack_check_number CERTHALL_WORKERS 1 256
    stack_check_number CERTHALL_NGINX_WORKERS 1 64
    # As root, nginx workers and the API run as nobody; otherwise as the invoking user.
    if stack_is_root; then
        export CERTHALL_RUN_USER=nobody
        CERTHALL_RUN_GROUP=$(id -gn nobody)
        export CERTHALL_RUN_GROUP
    else
        export CERTHALL_RUN_USER=
        export CERTHALL_RUN_GROUP=
    fi
    host=$(stack_conninfo_value "$stack/run")
    export CERTHALL_DB="host=$host port=$pgport dbname=certhall user=certhall_owner"
    export CERTHALL_APP_DB="host=$host port=$pgport dbname=certhall user=certhall_app"
    export SOFTHSM2_CONF=$stack/softhsm/softhsm2.conf
    export CERTHALL_HSM_MODULE=$STACK_HSM_MODULE
    export CERTHALL_HSM_TOKEN=$STACK_HSM_LABEL
    # The signing process (issue 12; docs/CONTRACT.md "certhall-signer"). As root it runs
    # as a system user of its own (made by stack_signer_user_ensure), never as nobody,
    # which the web workers are; otherwise as the invoking user. What only it may read
    # lives in signer/ (0700, its user's): the token PIN, the SM2 key and its passphrase;
    # the token directory and the SoftHSM2 config are its user's too. signer/ is not under
    # secrets/, which the web workers' group may pass through for the pepper.
    if stack_is_root; then
        export CERTHALL_SIGNER_USER=${CERTHALL_SIGNER_USER:-certhall-signer}
    else
        export CERTHALL_SIGNER_USER=
    fi
    export CERTHALL_SIGNER_DIR=$stack/signer
    export CERTHALL_HSM_PIN_FILE=$stack/signer/hsm-user-pin
    export CERTHALL_SIGNER_SM2_KEY_FILE=$stack/signer/seal-maker-sm2.p8
    export CERTHALL_SIGNER_SM2_PASS_FILE=$stack/signer/seal-maker-sm2.pass
    # What the CA's certificates say: the base of their CRL, OCSP and CA-certificate URLs,
    # the certificate policy (2.999.1: the ITU-T example arc, development only), and the
    # CA's name. Production sets its own.
    export CERTHALL_CA_BASE_URL=${CERTHALL_CA_BASE_URL:-$CERTHALL_URL}
    export CERTHALL_CA_POLICY_OID=${CERTHALL_CA_POLICY_OID:-2.999.1}
    export CERTHALL_CA_ORG=${CERTHALL_CA_ORG:-certhall 开发测试认证中心}
    export CERTHALL_CA_NAME=${CERTHALL_CA_NAME:-certhall Dev}
    export CERTHALL_SIGNER_BATCH=${CERTHALL_SIGNER_BATCH:-32}
    export CERTHALL_SIGNER_LEASE=${CERTHALL_SIGNER_LEASE:-60}
    export CERTHALL_SIGNER_SESSIONS=${CERTHALL_SIGNER_SESSIONS:-2}
    stack_check_number CERTHALL_SIGNER_BATCH 1 256
    stack_check_number CERTHALL_SIGNER_LEASE 5 3600
    stack_check_number CERTHALL_SIGNER_SESSIONS 1 16
    # The API's secret pepper (HMAC keys for tokens and codes; integrator secrets are
    # encrypted under a key derived from it) and the key the SMS sender presents to the
    # provider, here the fake gateway.
    export CERTHALL_PEPPER_FILE=$stack/secrets/pepper
    export CERTHALL_SMS_KEY_FILE=$stack/secrets/sms-key
    export CERTHALL_SMS_PORT=${CERTHALL_SMS_PORT:-$(stack_free_port)}
    stack_check_number CERTHALL_SMS_PORT 1 65535
    export CERTHALL_SMS_URL="http://127.0.0.1:$CERTHALL_SMS_PORT"
    export CERTHALL_SMS_GATEWAY_URL=$CERTHALL_SMS_URL
    # Payments (docs/CONTRACT.md "Pay or verify"): the sandbox gateway, its key pair and our
    # merchant key in pay/ (stack_pay_keys_init). The API and certhall-payd read the public
    # key and the merchant key; the gateway's private key is the sandbox's and the tests'.
    export CERTHALL_PAY_PROVIDER=sandbox
    export CERTHALL_PAY_PORT=${CERTHALL_PAY_PORT:-$(stack_free_port)}
    stack_check_number CERTHALL_PAY_PORT 1 65535
    export CERTHALL_PAY_GATEWAY_URL="http://127.0.0.1:$CERTHALL_PAY_PORT"
    export CERTHALL_PAY_MERCHANT_ID=${CERTHALL_PAY_MERCHANT_ID:-1900000109}
    export CERTHALL_PAY_MERCHANT_KEY_FILE=$stack/pay/merchant.key
    export CERTHALL_PAY_GATEWAY_PUBKEY_FILE=$stack/pay/gateway.pub
    export CERTHALL_PAY_GATEWAY_KEY_FILE=$stack/pay/gateway.key
    export CERTHALL_PAY_NOTIFY_URL="$CERTHALL_URL/api/v1/payments/notify/sandbox"
    export CERTHALL_PAY_ORDER_TTL=${CERTHALL_PAY_ORDER_TTL:-7200}
    stack_check_number CERTHALL_PAY_ORDER_TTL 1 604800
    export CERTHALL_PAY_RETRY_DELAYS=${CERTHALL_PAY_RETRY_DELAYS:-0.5,1,2,4,8,16,32,64,128}
    export CERTHALL_PAYD_QUERY_AFTER=${CERTHALL_PAYD_QUERY_AFTER:-60}
    stack_check_number CERTHALL_PAYD_QUERY_AFTER 1 86400
    # The courier (issue 14; docs/CONTRACT.md "Courier protocol"): the sandbox courier
    # (tests/fakes/courier.py) and the key it shares with certhall in courier/courier.key
    # (stack_courier_key_init): our bearer token to it, and its callbacks' HMAC key.
    export CERTHALL_COURIER_NAME=sandbox
    export CERTHALL_COURIER_PORT=${CERTHALL_COURIER_PORT:-$(stack_free_port)}
    stack_check_number CERTHALL_COURIER_PORT 1 65535
    export CERTHALL_COURIER_URL="http://127.0.0.1:$CERTHALL_COURIER_PORT"
    export CERTHALL_COURIER_KEY_FILE=$stack/courier/courier.key
    export CERTHALL_COURIER_NOTIFY_URL="$CERTHALL_URL/api/v1/couriers/notify/sandbox"
    export CERTHALL_COURIER_RETRY_DELAYS=${CERTHALL_COURIER_RETRY_DELAYS:-0.5,1,2,4,8}
    # Overdue applications (issue 14): certhall-payd texts the operations desk's duty phone.
    export CERTHALL_OPERATOR_PHONE=${CERTHALL_OPERATOR_PHONE:-13900000014}
    # The e-invoice (issue 14; docs/CONTRACT.md "certhall-invoiced"): the fake tax
    # platform (tests/fakes/tax_platform.py) on CERTHALL_TAX_PORT, our key at it in
    # secrets/tax-key, and certhall-invoiced's lease and back-off cap (short for tests).
    export CERTHALL_TAX_PORT=${CERTHALL_TAX_PORT:-$(stack_free_port)}
    stack_check_number CERTHALL_TAX_PORT 1 65535
    export CERTHALL_TAX_URL="http://127.0.0.1:$CERTHALL_TAX_PORT"
    export CERTHALL_TAX_KEY_FILE=$stack/secrets/tax-key
    export CERTHALL_INVOICED_LEASE=${CERTHALL_INVOICED_LEASE:-10}
    export CERTHALL_INVOICED_BACKOFF_CAP=${CERTHALL_INVOICED_BACKOFF_CAP:-4}
    stack_check_number CERTHALL_INVOICED_LEASE 1 3600
    stack_check_number CERTHALL_INVOICED_BACKOFF_CAP 1 86400
    # Browser origins the API answers CORS for (comma list): a Vite dev server.
    export CERTHALL_CORS_ORIGINS=${CERTHALL_CORS_ORIGINS:-http://127.0.0.1:5173}
}

# stack_check_number VAR MIN MAX: dies unless $VAR is a decimal number in range.
stack_check_number() {
    local name=$1 value=${!1}
    case $value in '' | *[!0-9]*) stack_die "$name must be a number, not '$value'" ;; esac
    if [ "$value" -lt "$2" ] || [ "$value" -gt "$3" ]; then
        stack_die "$name must be $2..$3, not $value"
    fi
}

STACK_ENV_VARS=(
    CERTHALL_STACK CERTHALL_ROOT CERTHALL_BUILD CERTHALL_WEB_ROOT CERTHALL_URL CERTHALL_PORT CERTHALL_PGPORT
    CERTHALL_WORKERS CERTHALL_NGINX_WORKERS CERTHALL_PG_BINDIR CERTHALL_RUN_USER
    CERTHALL_RUN_GROUP CERTHALL_DB CERTHALL_APP_DB SOFTHSM2_CONF CERTHALL_HSM_MODULE
    CERTHALL_HSM_TOKEN CERTHALL_HSM_PIN_FILE CERTHALL_PEPPER_FILE CERTHALL_SMS_KEY_FILE
    CERTHALL_SMS_PORT CERTHALL_SMS_URL CERTHALL_SMS_GATEWAY_URL CERTHALL_CORS_ORIGINS
    CERTHALL_PAY_PROVIDER CERTHALL_PAY_PORT CERTHALL_PAY_GATEWAY_URL CERTHALL_PAY_MERCHANT_ID
    CERTHALL_PAY_MERCHANT_KEY_FILE CERTHALL_PAY_GATEWAY_PUBKEY_FILE CERTHALL_PAY_GATEWAY_KEY_FILE
    CERTHALL_PAY_NOTIFY_URL CERTHALL_PAY_ORDER_TTL CERTHALL_PAY_RETRY_DELAYS
    CERTHALL_PAYD_QUERY_AFTER CERTHALL_OPERATOR_PHONE CERTHALL_SIGNER_USER CERTHALL_SIGNER_DIR
    CERTHALL_SIGNER_SM2_KEY_FILE CERTHALL_SIGNER_SM2_PASS_FILE CERTHALL_CA_BASE_URL
    CERTHALL_CA_POLICY_OID CERTHALL_CA_ORG CERTHALL_CA_NAME CERTHALL_SIGNER_BATCH
    CERTHALL_SIGNER_LEASE CERTHALL_SIGNER_SESSIONS
    CERTHALL_COURIER_NAME CERTHALL_COURIER_PORT CERTHALL_COURIER_URL CERTHALL_COURIER_KEY_FILE
    CERTHALL_COURIER_NOTIFY_URL CERTHALL_COURIER_RETRY_DELAYS
    CERTHALL_TAX_PORT CERTHALL_TAX_URL CERTHALL_TAX_KEY_FILE CERTHALL_INVOICED_LEASE
    CERTHALL_INVOICED_BACKOFF_CAP
)

# Writes $CERTHALL_STACK/env: the exports above, no secrets (PINs, pepper and keys stay in
# secrets/; the env file names their paths).
stack_write_env() {
    local var tmp=$CERTHALL_STACK/env.tmp
    {
        printf '# certhall stack environment, written by scripts/lib/stack.sh. No secrets here.\n'
        for var in "${STACK_ENV_VARS[@]}"; do
            printf 'export %s=%q\n' "$var" "${!var}"
        done
        # A sanitizer stack (scripts/test's second pass): processes that scripts/stackctl
        # restarts report where the others do.
        for var in ASAN_OPTIONS UBSAN_OPTIONS; do
            if [ -n "${!var:-}" ]; then printf 'export %s=%q\n' "$var" "${!var}"; fi
        done
    } >"$tmp"
    chmod 644 "$tmp"
    mv -f "$tmp" "$CERTHALL_STACK/env"
}

# stack_load_env STACK: reads a stack's env file (as written by stack_write_env).
stack_load_env() {
    local stack=$1
    [ -f "$stack/env" ] || stack_die "$stack/env not found (start the stack with scripts/run or scripts/test)"
    # shellcheck disable=SC1091
    . "$stack/env"
}

# Creates the directory layout. The stack must be traversable by the postgres user and by
# nobody when root (they run the database and the web workers).
stack_prepare_dirs() {
    local s=$CERTHALL_STACK
    mkdir -p "$s/run" "$s/log" "$s/nginx/tmp" "$s/softhsm/tokens" "$s/secrets" "$s/sms-gateway" \
        "$s/pay" "$s/pay-gateway" "$s/signer" "$s/courier" "$s/courier-sandbox" \
        "$s/tax-platform"
    chmod 700 "$s/courier" "$s/courier-sandbox"
    chmod 755 "$s" "$s/log" "$s/nginx" "$s/softhsm"
    chmod 700 "$s/secrets" "$s/softhsm/tokens" "$s/sms-gateway" "$s/pay" "$s/pay-gateway" \
        "$s/signer"
    stack_signer_user_ensure
    [ -z "$CERTHALL_SIGNER_USER" ] || chown "$CERTHALL_SIGNER_USER:" "$s/signer"
    if stack_is_root; then
        # The API's workers (nobody) read the pepper: they may pass through secrets/ (not
        # list it) and read that one file; every other secret stays root's alone.
        chgrp "$CERTHALL_RUN_GROUP" "$s/secrets" "$s/pay"
        chmod 710 "$s/secrets" "$s/pay"
        # PostgreSQL creates its socket and lock file in run/, the API's socket is created
        # there by root before it drops to nobody: postgres needs to write, others to search.
        chown root:postgres "$s/run"
        chmod 775 "$s/run"
        local who
        for who in postgres "$CERTHALL_RUN_USER" "$CERTHALL_SIGNER_USER"; do
            runuser -u "$who" -- test -x "$s/run" ||
                stack_die "$s is not reachable for user $who: every parent directory needs o+x (or set CERTHALL_STACK to a directory elsewhere)"
        done
    else
        chmod 755 "$s/run"
    fi
}

# ---------------------------------------------------------------------------------------
# Process helpers

# True when process $1 exists and is not a zombie.
stack_pid_alive() {
    local pid=$1 state
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
    state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# True when process $1 is alive and its command line mentions $2 (guards against a pid
# file whose pid was reused by an unrelated process).
stack_pid_matches() {
    local pid=$1 needle=$2
    stack_pid_alive "$pid" || return 1
    # grep without -q reads to the end, so the writer never dies of SIGPIPE, which
    # pipefail would turn into "no match".
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -F -- "$needle" >/dev/null
}

stack_read_pidfile() {
    local f=$1 pid
    [ -s "$f" ] || return 1
    read -r pid <"$f" || true
    case $pid in '' | *[!0-9]*) return 1 ;; esac
    printf '%s\n' "$pid"
}

# stack_wait_gone PID SECONDS: waits for a process to exit; false on timeout.
stack_wait_gone() {
    local pid=$1 tenths=$(($2 * 10))
    while stack_pid_alive "$pid"; do
        [ "$tenths" -le 0 ] && return 1
        sleep 0.1
        tenths=$((tenths - 1))
    done
}

# Kills whatever is left in session $1 (our daemons are each started in their own
# session, so this reaches forked children that outlived their parent). The session id
# stays reserved by the kernel while any member exists, so it cannot name a stranger's
# session as long as its leader is either ours ($2 matches) or gone.
stack_kill_session() {
    local sid=$1 needle=$2 pids
    case $sid in '' | *[!0-9]* | 0 | 1) return 0 ;; esac
    if stack_pid_alive "$sid" && ! stack_pid_matches "$sid" "$needle"; then
        return 0
    fi
    pids=$(stack_session_members "$sid")
    [ -n "$pids" ] || return 0
    stack_warn "killing leftover processes of session $sid: ${pids//$'\n'/ }"
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    sleep 1
    pids=$(stack_session_members "$sid")
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
}

# Live (non-zombie) members of session $1, never this shell.
stack_session_members() {
    local p
    for p in $(pgrep -s "$1" 2>/dev/null || true); do
        [ "$p" = "$$" ] || [ "$p" = "${BASHPID:-$$}" ] && continue
        stack_pid_alive "$p" && printf '%s\n' "$p"
    done
    return 0
}

# ---------------------------------------------------------------------------------------
# PostgreSQL (project-local cluster, unix socket only)

# Runs a PostgreSQL server binary as the cluster owner (initdb refuses root), from / so
# an unreadable working directory does not matter.
stack_pg() {
    local bin=$CERTHALL_PG_BINDIR/$1
    shift
    if stack_is_root; then
        (cd / && runuser -u postgres -- "$bin" "$@")
    else
        "$bin" "$@"
    fi
}

stack_pg_running() {
    [ -f "$CERTHALL_STACK/pg/PG_VERSION" ] &&
        stack_pg pg_ctl status -D "$CERTHALL_STACK/pg" >/dev/null 2>&1
}

# psql as the bootstrap superuser.
stack_psql_super() {
    "$CERTHALL_PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 \
        -h "$CERTHALL_STACK/run" -p "$CERTHALL_PGPORT" -U "$STACK_PG_SUPERUSER" -d "${1:-postgres}" "${@:2}"
}

# Creates the cluster once; reuses an existing one.
stack_pg_init() {
    local pg=$CERTHALL_STACK/pg
    [ -f "$pg/PG_VERSION" ] && return 0
    stack_log "creating PostgreSQL cluster in $pg"
    rm -rf "$pg"
    mkdir -m 700 "$pg"
    stack_is_root && chown postgres: "$pg"
    stack_pg initdb -D "$pg" -U "$STACK_PG_SUPERUSER" --encoding=UTF8 --locale=C \
        --auth=trust >"$CERTHALL_STACK/log/initdb.log" 2>&1 || {
        tail -n 30 "$CERTHALL_STACK/log/initdb.log" >&2
        stack_die "initdb failed (log: $CERTHALL_STACK/log/initdb.log)"
    }
    # Our settings live in certhall.conf (rewritten on every start, so a moved stack or a
    # new port just works); postgresql.conf only includes it.
    printf "\n# certhall: stack settings (scripts/lib/stack.sh)\ninclude_if_exists = 'certhall.conf'\n" |
        stack_pg_write_file "$pg/postgresql.conf" append
    stack_pg_write_file "$pg/pg_hba.conf" <<'EOF'
# certhall dev/test cluster: unix socket only (listen_addresses = ''), and the socket
# directory is private to this stack, so every local connection is trusted.
# PRODUCTION DOES NOT DO THIS: there the database uses scram-sha-256 with separate
# credentials for the owner role (migrations) and the app role (workers).
# TYPE  DATABASE  USER  METHOD
local   all       all   trust
EOF
}

# stack_pg_write_file FILE [append]: writes stdin to FILE as the cluster owner.
stack_pg_write_file() {
    local file=$1 mode=${2:-}
    if [ "$mode" = append ]; then cat >>"$file"; else cat >"$file"; fi
    stack_is_root && chown postgres: "$file"
    return 0
}

stack_pg_write_conf() {
    stack_pg_write_file "$CERTHALL_STACK/pg/certhall.conf" <<EOF
# Written by scripts/lib/stack.sh on every start; edit the script, not this file.
listen_addresses = ''
unix_socket_directories = '$CERTHALL_STACK/run'
port = $CERTHALL_PGPORT
max_connections = 100
# This is a CA's database: durability stays on, also in tests.
fsync = on
synchronous_commit = on
full_page_writes = on
# JIT only pays off for long analytic queries; for this OLTP service it compiled the
# catalogue query on every request (~0.5 s each). Production needs the same setting.
jit = off
logging_collector = off
log_destination = 'stderr'
log_line_prefix = '%m [%p] %q%u@%d '
log_min_messages = warning
log_min_error_statement = error
EOF
}

stack_pg_start() {
    local log=$CERTHALL_STACK/log/postgres.log
    stack_pg_running && return 0
    stack_pg_write_conf
    touch "$log"
    stack_is_root && chown postgres: "$log"
    # pg_ctl puts the postmaster in its own session, so Ctrl-C in the terminal reaches
    # only our script, which then stops everything in order.
    if ! stack_pg pg_ctl start -w -t 60 -D "$CERTHALL_STACK/pg" -l "$log" >/dev/null; then
        tail -n 30 "$log" >&2
        stack_warn "PostgreSQL did not start (log: $log)"
        return 1
    fi
}

stack_pg_stop() {
    stack_pg_running || return 0
    stack_pg pg_ctl stop -w -t 60 -m fast -D "$CERTHALL_STACK/pg" >/dev/null || {
        stack_warn "pg_ctl stop failed; sending SIGQUIT (immediate shutdown)"
        local pid
        pid=$(stack_read_pidfile "$CERTHALL_STACK/pg/postmaster.pid") &&
            stack_pid_matches "$pid" "$CERTHALL_STACK/pg" && kill -QUIT "$pid" 2>/dev/null
        return 1
    }
}

# Roles and database (idempotent). Migrations, run as the owner, grant certhall_app what
# it needs.
stack_pg_bootstrap() {
    stack_psql_super postgres <<'EOF'
SELECT 'CREATE ROLE certhall_owner LOGIN'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'certhall_owner')\gexec
SELECT 'CREATE ROLE certhall_app LOGIN'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'certhall_app')\gexec
SELECT 'CREATE DATABASE certhall OWNER certhall_owner'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'certhall')\gexec
EOF
    # Schema public belongs to pg_database_owner (PostgreSQL 15), i.e. to certhall_owner.
}

stack_migrate() {
    stack_log "migrating database (certhall-admin migrate --dir sql)"
    CERTHALL_DB=$CERTHALL_DB "$CERTHALL_BUILD/certhall-admin" migrate --dir "$CERTHALL_ROOT/sql"
}

# ---------------------------------------------------------------------------------------
# Secrets: the API's pepper and the SMS provider key

# Creates secrets/pepper (32 random bytes as 64 hex characters, no newline) and
# secrets/sms-key once, like the HSM PINs; later runs keep them (a new pepper would void
# every session, code and stored integrator secret). The pepper is readable by the API's
# run user: as root, group nogroup (mode 0640, owner root, so nobody cannot change it);
# the SMS key by the sender and the fake gateway only (root, or the invoking user).
stack_secrets_init() {
    local f
    (
        umask 077
        for f in "$CERTHALL_PEPPER_FILE" "$CERTHALL_SMS_KEY_FILE" "$CERTHALL_TAX_KEY_FILE"; do
            [ -s "$f" ] && continue
            printf '%s' "$(openssl rand -hex 32)" >"$f.tmp"
            mv -f "$f.tmp" "$f"
        done
    )
    chmod 600 "$CERTHALL_PEPPER_FILE" "$CERTHALL_SMS_KEY_FILE" "$CERTHALL_TAX_KEY_FILE"
    if stack_is_root; then
        chown "root:$CERTHALL_RUN_GROUP" "$CERTHALL_PEPPER_FILE"
        chmod 640 "$CERTHALL_PEPPER_FILE"
        runuser -u "$CERTHALL_RUN_USER" -- test -r "$CERTHALL_PEPPER_FILE" ||
            stack_die "$CERTHALL_PEPPER_FILE is not readable by $CERTHALL_RUN_USER"
        ! runuser -u "$CERTHALL_RUN_USER" -- test -r "$CERTHALL_SMS_KEY_FILE" ||
            stack_die "$CERTHALL_SMS_KEY_FILE is readable by $CERTHALL_RUN_USER"
    fi
    [ "$(wc -c <"$CERTHALL_PEPPER_FILE")" -eq 64 ] ||
        stack_die "$CERTHALL_PEPPER_FILE is not 64 hex characters; remove it only if no data depends on it"
}

# ---------------------------------------------------------------------------------------
# SoftHSM2 token

stack_hsm_has_token() {
    softhsm2-util --show-slots 2>/dev/null | grep -Eq "^[[:space:]]*Label:[[:space:]]+${STACK_HSM_LABEL}[[:space:]]*$"
}

# Writes the project-local SoftHSM2 config and creates the token once, with PINs made
# here: the SO PIN in secrets/ (root's, or the invoking user's; only this setup uses it),
# the user PIN in signer/. The token directory, the config and the PIN file then belong
# to the signer's user alone (mode 0700/0600): the web workers can read none of them.
stack_hsm_init() {
    local s=$CERTHALL_STACK so_pin_file=$CERTHALL_STACK/secrets/hsm-so-pin
    # Stacks made before the signer had a directory of its own kept the PIN in secrets/.
    if [ -s "$s/secrets/hsm-user-pin" ] && [ ! -e "$CERTHALL_HSM_PIN_FILE" ]; then
        mv "$s/secrets/hsm-user-pin" "$CERTHALL_HSM_PIN_FILE"
    fi
    rm -f "$SOFTHSM2_CONF"
    (umask 077 && cat >"$SOFTHSM2_CONF") <<EOF
# certhall SoftHSM2 configuration (written by scripts/lib/stack.sh)
directories.tokendir = $s/softhsm/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
slots.mechanisms = ALL
library.reset_on_fork = false
EOF
    chmod 600 "$SOFTHSM2_CONF"
    if ! stack_hsm_has_token; then
        stack_log "initialising SoftHSM2 token '$STACK_HSM_LABEL' in $s/softhsm/tokens"
        (
            umask 077
            # No trailing newline: the file holds exactly the PIN.
            printf '%s' "$(openssl rand -hex 16)" >"$so_pin_file"
            printf '%s' "$(openssl rand -hex 16)" >"$CERTHALL_HSM_PIN_FILE"
        )
        # PINs go on the command line here (softhsm2-util has no other way); this runs
        # once at setup, on a dev/test machine.
        softhsm2-util --init-token --free --label "$STACK_HSM_LABEL" \
            --so-pin "$(cat "$so_pin_file")" --pin "$(cat "$CERTHALL_HSM_PIN_FILE")" >/dev/null ||
            stack_die "softhsm2-util --init-token failed"
    fi
    [ -s "$CERTHALL_HSM_PIN_FILE" ] || stack_die "token exists but $CERTHALL_HSM_PIN_FILE is missing; remove $s/softhsm/tokens to start over"
    chmod 600 "$so_pin_file" "$CERTHALL_HSM_PIN_FILE"
    # The SM2 key's passphrase (the key itself is made by certhall-signer setup, encrypted
    # under it): once per stack, like the PINs.
    if [ ! -s "$CERTHALL_SIGNER_SM2_PASS_FILE" ]; then
        (umask 077 && printf '%s' "$(openssl rand -hex 32)" >"$CERTHALL_SIGNER_SM2_PASS_FILE")
    fi
    # Only the signer reads the token; never the web workers, which run as nobody when
    # started as root.
    chmod -R go-rwx "$s/softhsm/tokens" "$s/signer"
    if [ -n "$CERTHALL_SIGNER_USER" ]; then
        chown -R "$CERTHALL_SIGNER_USER:" "$s/softhsm/tokens" "$s/signer"
        chown "$CERTHALL_SIGNER_USER:" "$SOFTHSM2_CONF"
        local f
        for f in "$CERTHALL_HSM_PIN_FILE" "$SOFTHSM2_CONF" "$s/softhsm/tokens"; do
            runuser -u "$CERTHALL_SIGNER_USER" -- test -r "$f" ||
                stack_die "$f is not readable by $CERTHALL_SIGNER_USER"
            ! runuser -u "$CERTHALL_RUN_USER" -- test -r "$f" ||
                stack_die "$f is readable by $CERTHALL_RUN_USER"
        done
    fi
}

# ---------------------------------------------------------------------------------------
# certhall-signer: the CA's keys and the signing daemon (issue 12)

# As root: the signer's own system user, made once (no home, no shell). Another stack may
# make it at the same moment; whichever useradd wins, the user is there afterwards.
stack_signer_user_ensure() {
    local i
    [ -n "$CERTHALL_SIGNER_USER" ] || return 0
    for ((i = 0; i < 10; i++)); do
        id -u "$CERTHALL_SIGNER_USER" >/dev/null 2>&1 && return 0
        if [ "$i" -eq 0 ]; then
            stack_log "creating system user $CERTHALL_SIGNER_USER (the signing process's own)"
        fi
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$CERTHALL_SIGNER_USER" 2>/dev/null || sleep 0.5
    done
    id -u "$CERTHALL_SIGNER_USER" >/dev/null 2>&1 ||
        stack_die "cannot create the system user $CERTHALL_SIGNER_USER (useradd)"
}

# The signer's whole environment: what it needs and nothing else (env -i), so the
# pepper, the SMS and payment keys never reach it, as its PIN never reaches the others.
stack_signer_env() {
    local var
    STACK_SIGNER_ENV=(PATH=/usr/sbin:/usr/bin:/sbin:/bin "CERTHALL_DB=$CERTHALL_APP_DB")
    for var in SOFTHSM2_CONF CERTHALL_HSM_MODULE CERTHALL_HSM_TOKEN CERTHALL_HSM_PIN_FILE \
        CERTHALL_SIGNER_SM2_KEY_FILE CERTHALL_SIGNER_SM2_PASS_FILE CERTHALL_CA_BASE_URL \
        CERTHALL_CA_POLICY_OID CERTHALL_CA_ORG CERTHALL_CA_NAME CERTHALL_SIGNER_BATCH \
        CERTHALL_SIGNER_LEASE CERTHALL_SIGNER_SESSIONS CERTHALL_OCSP_VALIDITY CERTHALL_OCSP_REFRESH \
        CERTHALL_OCSP_BACKDATE CERTHALL_OCSP_SWEEP CERTHALL_SIGNER_SEAL_ALG CERTHALL_SEAL_VID \
        CERTHALL_CRL_COALESCE_MS CERTHALL_CRL_VALIDITY_S CERTHALL_CRL_REFRESH_S \
        ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
        if [ -n "${!var:-}" ]; then STACK_SIGNER_ENV+=("$var=${!var}"); fi
    done
}

# Runs `certhall-signer setup` (as the signer's user): the CA's keys in the token, the SM2
# key, and the CA certificates, each made only when missing. Safe to run again; prints
# its JSON summary ({"keys_made":[…],"certificates_made":[…]}) on stdout.
stack_signer_setup() {
    local bin=$CERTHALL_BUILD/certhall-signer args=(setup --db "$CERTHALL_APP_DB")
    [ -x "$bin" ] || stack_die "$bin not built"
    [ -n "$CERTHALL_SIGNER_USER" ] && args+=(--user "$CERTHALL_SIGNER_USER")
    stack_signer_env
    touch "$CERTHALL_STACK/log/signer.log"
    (cd / && env -i "${STACK_SIGNER_ENV[@]}" "$bin" "${args[@]}" \
        2>>"$CERTHALL_STACK/log/signer.log") || {
        tail -n 20 "$CERTHALL_STACK/log/signer.log" >&2
        stack_die "certhall-signer setup failed (log: $CERTHALL_STACK/log/signer.log)"
    }
}

# The signer's command line carries --db with this stack's socket directory: that tells
# its process from another stack's.
stack_signer_pid() {
    stack_service_pid signer "$CERTHALL_STACK/run"
}

# Starts `certhall-signer run` (stack_daemon_start) with the environment above; returns
# once it is connected to the database and listening (it waits for a missing token by
# itself, in state token_unavailable).
stack_signer_start() {
    local bin=$CERTHALL_BUILD/certhall-signer args=(run --db "$CERTHALL_APP_DB")
    [ -x "$bin" ] || { stack_warn "$bin not built"; return 1; }
    [ -n "$CERTHALL_SIGNER_USER" ] && args+=(--user "$CERTHALL_SIGNER_USER")
    stack_signer_env
    stack_daemon_start signer "$CERTHALL_STACK/run" 'listening on \"signing_job\"' \
        env -i "${STACK_SIGNER_ENV[@]}" "$bin" "${args[@]}"
}

# SIGTERM to the signer (it finishes the batch in hand), wait up to 20 s, print its exit
# status on stdout (stack_daemon_stop).
stack_signer_stop() {
    stack_daemon_stop signer "$CERTHALL_STACK/run"
}

# ---------------------------------------------------------------------------------------
# certhall-api (prefork FastCGI master)

stack_api_pid() {
    local pid
    pid=$(stack_read_pidfile "$CERTHALL_STACK/run/api.pid") || return 1
    stack_pid_matches "$pid" "$CERTHALL_STACK/run/api.sock" || return 1
    printf '%s\n' "$pid"
}

stack_api_workers() {
    local pid
    pid=$(stack_api_pid) || return 1
    pgrep -P "$pid" || true
}

# Starts the API in its own session through a small wrapper shell that records the
# master's exit status in run/api.exit when it ends. The master writes run/api.pid itself
# (--pid-file). Its own stop deadline (--stop-timeout 25) is shorter than api-stop's 30 s
# wait, so a stuck worker shows up as the master's exit status, not as our SIGKILL.
stack_api_start() {
    local s=$CERTHALL_STACK bin=$CERTHALL_BUILD/certhall-api log=$CERTHALL_STACK/log/api.log
    local args pid i
    if pid=$(stack_api_pid); then
        stack_log "certhall-api already running (pid $pid)"
        return 0
    fi
    [ -x "$bin" ] || { stack_warn "$bin not built"; return 1; }
    rm -f "$s/run/api.sock" "$s/run/api.pid" "$s/run/api.exit" "$s/run/api.wrapper.pid"
    args=(--listen "$s/run/api.sock" --workers "$CERTHALL_WORKERS" --socket-mode 0660
        --pid-file "$s/run/api.pid" --stop-timeout 25)
    [ -n "$CERTHALL_RUN_USER" ] && args+=(--user "$CERTHALL_RUN_USER")
    # The API connects as the app role and gets no HSM settings: web workers never hold
    # CA keys or PINs. It reads the pepper at start; the SMS provider key is the sender's.
    # shellcheck disable=SC2016
    setsid bash -c '
        exitfile=$1
        shift
        "$@"
        echo "$?" >"$exitfile"
    ' certhall-api-wrapper "$s/run/api.exit" \
        env -u SOFTHSM2_CONF -u CERTHALL_HSM_PIN_FILE -u CERTHALL_HSM_MODULE -u CERTHALL_HSM_TOKEN \
        -u CERTHALL_SIGNER_DIR -u CERTHALL_SIGNER_SM2_KEY_FILE -u CERTHALL_SIGNER_SM2_PASS_FILE \
        -u CERTHALL_SMS_KEY_FILE -u CERTHALL_PAY_GATEWAY_KEY_FILE \
        -u CERTHALL_COURIER_PORT -u CERTHALL_COURIER_RETRY_DELAYS \
        CERTHALL_PEPPER_FILE="$CERTHALL_PEPPER_FILE" \
        CERTHALL_CORS_ORIGINS="$CERTHALL_CORS_ORIGINS" \
        CERTHALL_DB="$CERTHALL_APP_DB" "$bin" "${args[@]}" \
        </dev/null >>"$log" 2>&1 &
    echo "$!" >"$s/run/api.wrapper.pid"
    # Ready when the socket exists; give up after 15 s or when the master died.
    for ((i = 0; i < 150; i++)); do
        if [ -S "$s/run/api.sock" ] && stack_api_pid >/dev/null; then
            return 0
        fi
        if [ -s "$s/run/api.exit" ]; then
            break
        fi
        sleep 0.1
    done
    tail -n 20 "$log" >&2 || true
    if [ -s "$s/run/api.exit" ]; then
        stack_warn "certhall-api exited with status $(cat "$s/run/api.exit") during start (log: $log)"
    else
        stack_warn "certhall-api did not create $s/run/api.sock within 15 s (log: $log)"
        stack_api_stop 30 >/dev/null || true
    fi
    return 1
}

# SIGTERM to the master, wait up to $1 seconds (default 30), print its exit status on
# stdout. When it had already stopped, prints the last exit status. Returns 1 when there
# is no status to report (never started) or it had to be killed.
stack_api_stop() {
    local timeout=${1:-30} s=$CERTHALL_STACK pid wrapper i
    wrapper=$(stack_read_pidfile "$s/run/api.wrapper.pid" || true)
    if ! pid=$(stack_api_pid); then
        stack_kill_session "$wrapper" "$s/run/api.exit"
        if [ -s "$s/run/api.exit" ]; then
            stack_log "certhall-api was already stopped; its last exit status follows"
            cat "$s/run/api.exit"
            return 0
        fi
        stack_warn "certhall-api is not running"
        return 1
    fi
    kill -TERM "$pid" 2>/dev/null || true
    # The wrapper writes api.exit right after the master is gone.
    for ((i = 0; i < timeout * 10; i++)); do
        if ! stack_pid_alive "$pid" && [ -s "$s/run/api.exit" ]; then
            break
        fi
        sleep 0.1
    done
    if stack_pid_alive "$pid"; then
        stack_warn "certhall-api (pid $pid) still running after ${timeout}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        stack_wait_gone "$pid" 5 || true
        sleep 0.2
        stack_kill_session "$wrapper" "$s/run/api.exit"
        [ -s "$s/run/api.exit" ] && cat "$s/run/api.exit"
        return 1
    fi
    # Workers that outlived the master would keep the stack busy: none may remain.
    stack_kill_session "$wrapper" "$s/run/api.exit"
    for ((i = 0; i < 20; i++)); do
        [ -s "$s/run/api.exit" ] && break
        sleep 0.1
    done
    if [ -s "$s/run/api.exit" ]; then
        cat "$s/run/api.exit"
    else
        echo unknown
    fi
}

# ---------------------------------------------------------------------------------------
# Fakes of outside services (tests/fakes/) and back-end daemons, the same way each

# stack_service_pid NAME NEEDLE: the pid in run/NAME.pid when that process runs and its
# command line mentions NEEDLE (a path of this stack), else false.
stack_service_pid() {
    local pid
    pid=$(stack_read_pidfile "$CERTHALL_STACK/run/$1.pid") || return 1
    stack_pid_matches "$pid" "$2" || return 1
    printf '%s\n' "$pid"
}

# stack_fake_start NAME NEEDLE PORT_VAR CHECK_URL CMD...: starts a fake (it writes its own
# pid file run/NAME.pid) on 127.0.0.1:$PORT_VAR in its own session, logging to
# log/NAME.log; returns when GET CHECK_URL answers 200.
stack_fake_start() {
    local name=$1 needle=$2 port_var=$3 check=$4 s=$CERTHALL_STACK pid i code
    local log=$CERTHALL_STACK/log/$1.log
    shift 4
    if pid=$(stack_service_pid "$name" "$needle"); then
        stack_log "$name already running (pid $pid)"
        return 0
    fi
    rm -f "$s/run/$name.pid"
    if stack_port_in_use "${!port_var}"; then
        stack_warn "port 127.0.0.1:${!port_var} is already in use (set $port_var to another port)"
        return 1
    fi
    setsid "$@" </dev/null >>"$log" 2>&1 &
    pid=$!
    for ((i = 0; i < 100; i++)); do
        stack_pid_alive "$pid" || break
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$check" 2>/dev/null || true)
        [ "$code" = 200 ] && [ -s "$s/run/$name.pid" ] && return 0
        sleep 0.1
    done
    tail -n 20 "$log" >&2 || true
    stack_warn "$name did not come up on ${check%/*} (log: $log)"
    if stack_pid_alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
    return 1
}

# stack_fake_stop NAME NEEDLE: SIGTERM, wait up to 10 s, then SIGKILL; its journal stays.
stack_fake_stop() {
    local name=$1 needle=$2 pid
    pid=$(stack_service_pid "$name" "$needle") || { rm -f "$CERTHALL_STACK/run/$name.pid"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    if ! stack_wait_gone "$pid" 10; then
        stack_warn "$name (pid $pid) did not stop in 10 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        stack_wait_gone "$pid" 5 || true
    fi
    stack_kill_session "$pid" "$needle"
    rm -f "$CERTHALL_STACK/run/$name.pid"
}

# stack_daemon_start NAME NEEDLE READY CMD...: starts a back-end daemon in its own session
# through a wrapper shell that writes its pid (run/NAME.pid) and, when it ends, its exit
# status (run/NAME.exit): as root the daemon reads its keys and then drops to the run
# user, which may not write run/. Logs go to log/NAME.log. Returns once the log shows
# READY (a fixed string of its JSON log line, e.g. its "listening on" line) from this start.
stack_daemon_start() {
    local name=$1 needle=$2 ready=$3 s=$CERTHALL_STACK log=$CERTHALL_STACK/log/$1.log
    local pid i from
    shift 3
    if pid=$(stack_service_pid "$name" "$needle"); then
        stack_log "$name already running (pid $pid)"
        return 0
    fi
    stack_kill_session "$(stack_read_pidfile "$s/run/$name.wrapper.pid" || true)" \
        "$s/run/$name.exit"
    rm -f "$s/run/$name.pid" "$s/run/$name.exit" "$s/run/$name.wrapper.pid"
    touch "$log"
    from=$(($(wc -c <"$log") + 1))
    # shellcheck disable=SC2016
    setsid bash -c '
        pidfile=$1 exitfile=$2
        shift 2
        "$@" &
        echo "$!" >"$pidfile"
        wait "$!"
        echo "$?" >"$exitfile"
    ' "$name-wrapper" "$s/run/$name.pid" "$s/run/$name.exit" "$@" \
        </dev/null >>"$log" 2>&1 &
    echo "$!" >"$s/run/$name.wrapper.pid"
    for ((i = 0; i < 150; i++)); do
        if stack_service_pid "$name" "$needle" >/dev/null &&
            tail -c "+$from" "$log" | grep -F -- "$ready" >/dev/null; then
            return 0
        fi
        [ -s "$s/run/$name.exit" ] && break
        sleep 0.1
    done
    tail -n 20 "$log" >&2 || true
    if [ -s "$s/run/$name.exit" ]; then
        stack_warn "$name exited with status $(cat "$s/run/$name.exit") during start (log: $log)"
    else
        stack_warn "$name was not ready within 15 s (log: $log)"
        stack_daemon_stop "$name" "$needle" >/dev/null || true
    fi
    return 1
}

# stack_daemon_stop NAME NEEDLE: SIGTERM (the daemon finishes the work in hand), wait up to
# 20 s, print its exit status on stdout (the last one when it had already stopped).
# Returns 1 when there is no status to report or it had to be killed.
stack_daemon_stop() {
    local name=$1 needle=$2 s=$CERTHALL_STACK pid wrapper i
    wrapper=$(stack_read_pidfile "$s/run/$name.wrapper.pid" || true)
    if ! pid=$(stack_service_pid "$name" "$needle"); then
        stack_kill_session "$wrapper" "$s/run/$name.exit"
        if [ -s "$s/run/$name.exit" ]; then
            stack_log "$name was already stopped; its last exit status follows"
            cat "$s/run/$name.exit"
            return 0
        fi
        stack_warn "$name is not running"
        return 1
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
        if ! stack_pid_alive "$pid" && [ -s "$s/run/$name.exit" ]; then
            break
        fi
        sleep 0.1
    done
    if stack_pid_alive "$pid"; then
        stack_warn "$name (pid $pid) still running after 20 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        stack_wait_gone "$pid" 5 || true
        sleep 0.2
        stack_kill_session "$wrapper" "$s/run/$name.exit"
        return 1
    fi
    stack_kill_session "$wrapper" "$s/run/$name.exit"
    cat "$s/run/$name.exit"
}

# Daemons get neither the HSM settings nor the API's pepper, and no proxy: the gateways
# they talk to are on loopback here.
STACK_DAEMON_ENV_UNSET=(
    -u SOFTHSM2_CONF -u CERTHALL_HSM_PIN_FILE -u CERTHALL_HSM_MODULE -u CERTHALL_HSM_TOKEN
    -u CERTHALL_SIGNER_DIR -u CERTHALL_SIGNER_SM2_KEY_FILE -u CERTHALL_SIGNER_SM2_PASS_FILE
    -u CERTHALL_PEPPER_FILE -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY
    -u ALL_PROXY -u all_proxy -u CERTHALL_COURIER_KEY_FILE
)

# ---------------------------------------------------------------------------------------
# The fake SMS gateway (tests/fakes/sms_gateway.py) and certhall-sms-sender

stack_sms_gateway_pid() {
    stack_service_pid sms-gateway "$CERTHALL_STACK/sms-gateway/messages.jsonl"
}

# Starts the fake gateway on 127.0.0.1:$CERTHALL_SMS_PORT; returns when it answers. Its
# journal (sms-gateway/messages.jsonl) survives restarts.
stack_sms_gateway_start() {
    local s=$CERTHALL_STACK
    stack_fake_start sms-gateway "$s/sms-gateway/messages.jsonl" CERTHALL_SMS_PORT \
        "$CERTHALL_SMS_URL/stats" \
        /usr/bin/python3 "$CERTHALL_ROOT/tests/fakes/sms_gateway.py" \
        --listen "127.0.0.1:$CERTHALL_SMS_PORT" --key-file "$CERTHALL_SMS_KEY_FILE" \
        --state "$s/sms-gateway/messages.jsonl" --pid-file "$s/run/sms-gateway.pid"
}

stack_sms_gateway_stop() {
    stack_fake_stop sms-gateway "$CERTHALL_STACK/sms-gateway/messages.jsonl"
}

stack_sms_sender_pid() {
    stack_service_pid sms-sender "$CERTHALL_STACK/secrets/sms-key"
}

# Starts certhall-sms-sender (stack_daemon_start); returns once it is connected to the
# database and listening. It connects as the app role.
stack_sms_sender_start() {
    local bin=$CERTHALL_BUILD/certhall-sms-sender args
    [ -x "$bin" ] || { stack_warn "$bin not built"; return 1; }
    args=(--url "$CERTHALL_SMS_URL" --key-file "$CERTHALL_SMS_KEY_FILE")
    [ -n "$CERTHALL_RUN_USER" ] && args+=(--user "$CERTHALL_RUN_USER")
    stack_daemon_start sms-sender "$CERTHALL_STACK/secrets/sms-key" \
        'listening on \"outbox\"' \
        env "${STACK_DAEMON_ENV_UNSET[@]}" -u CERTHALL_PAY_GATEWAY_KEY_FILE \
        -u CERTHALL_PAY_MERCHANT_KEY_FILE CERTHALL_DB="$CERTHALL_APP_DB" "$bin" "${args[@]}"
}

# SIGTERM to the sender (it finishes the message in hand, at most ~10 s), wait up to 20 s,
# print its exit status on stdout (stack_daemon_stop).
stack_sms_sender_stop() {
    stack_daemon_stop sms-sender "$CERTHALL_STACK/secrets/sms-key"
}

# ---------------------------------------------------------------------------------------
# The sandbox payment gateway (tests/fakes/pay_gateway.py) and certhall-payd

# Creates, once per stack, the sandbox gateway's RSA-2048 key pair (pay/gateway.key, which
# only the sandbox and the tests read; pay/gateway.pub, certhall's copy of the gateway's
# public key) and our merchant key (pay/merchant.key, 64 hex characters). Later runs keep
# them. As root, the API's workers (the run user) read merchant.key and gateway.pub through
# group nogroup, never gateway.key.
stack_pay_keys_init() {
    local d=$CERTHALL_STACK/pay
    (
        umask 077
        if [ ! -s "$d/gateway.key" ] || [ ! -s "$d/gateway.pub" ]; then
            openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
                -out "$d/gateway.key.tmp" 2>/dev/null ||
                stack_die "openssl genpkey failed making $d/gateway.key"
            openssl pkey -in "$d/gateway.key.tmp" -pubout -out "$d/gateway.pub.tmp" ||
                stack_die "openssl pkey failed making $d/gateway.pub"
            mv -f "$d/gateway.pub.tmp" "$d/gateway.pub"
            mv -f "$d/gateway.key.tmp" "$d/gateway.key"
        fi
        if [ ! -s "$d/merchant.key" ]; then
            printf '%s' "$(openssl rand -hex 32)" >"$d/merchant.key.tmp"
            mv -f "$d/merchant.key.tmp" "$d/merchant.key"
        fi
    )
    chmod 600 "$d/gateway.key" "$d/merchant.key"
    chmod 644 "$d/gateway.pub"
    if stack_is_root; then
        chown "root:$CERTHALL_RUN_GROUP" "$d/merchant.key" "$d/gateway.pub"
        chmod 640 "$d/merchant.key"
        runuser -u "$CERTHALL_RUN_USER" -- test -r "$d/merchant.key" ||
            stack_die "$d/merchant.key is not readable by $CERTHALL_RUN_USER"
        ! runuser -u "$CERTHALL_RUN_USER" -- test -r "$d/gateway.key" ||
            stack_die "$d/gateway.key is readable by $CERTHALL_RUN_USER"
    fi
}

stack_pay_gateway_pid() {
    stack_service_pid pay-gateway "$CERTHALL_STACK/pay-gateway/journal.jsonl"
}

# Starts the sandbox gateway on 127.0.0.1:$CERTHALL_PAY_PORT; returns when it answers. Its
# journal (pay-gateway/journal.jsonl: orders, payments, refunds, notifications) survives
# restarts; notifications not yet acknowledged are sent again after one.
stack_pay_gateway_start() {
    local s=$CERTHALL_STACK
    stack_fake_start pay-gateway "$s/pay-gateway/journal.jsonl" CERTHALL_PAY_PORT \
        "$CERTHALL_PAY_GATEWAY_URL/sandbox/refunds" \
        env -u http_proxy -u HTTP_PROXY -u https_proxy -u HTTPS_PROXY -u ALL_PROXY -u all_proxy \
        /usr/bin/python3 "$CERTHALL_ROOT/tests/fakes/pay_gateway.py" \
        --listen "127.0.0.1:$CERTHALL_PAY_PORT" --merchant-id "$CERTHALL_PAY_MERCHANT_ID" \
        --merchant-key-file "$CERTHALL_PAY_MERCHANT_KEY_FILE" \
        --key-file "$CERTHALL_PAY_GATEWAY_KEY_FILE" --retry-delays "$CERTHALL_PAY_RETRY_DELAYS" \
        --state "$s/pay-gateway/journal.jsonl" --pid-file "$s/run/pay-gateway.pid"
}

stack_pay_gateway_stop() {
    stack_fake_stop pay-gateway "$CERTHALL_STACK/pay-gateway/journal.jsonl"
}

# certhall-payd gets its conninfo as an argument: the stack's socket path in it tells its
# process from another stack's.
stack_payd_pid() {
    stack_service_pid payd "$CERTHALL_STACK/run"
}

# Starts certhall-payd (stack_daemon_start) with the CERTHALL_PAY_* settings, less the
# gateway's private key; returns once it is connected to the database and listening.
stack_payd_start() {
    local bin=$CERTHALL_BUILD/certhall-payd args
    [ -x "$bin" ] || { stack_warn "$bin not built"; return 1; }
    args=(--db "$CERTHALL_APP_DB" --query-after "$CERTHALL_PAYD_QUERY_AFTER")
    [ -n "$CERTHALL_RUN_USER" ] && args+=(--user "$CERTHALL_RUN_USER")
    stack_daemon_start payd "$CERTHALL_STACK/run" 'listening on \"payment\"' \
        env "${STACK_DAEMON_ENV_UNSET[@]}" -u CERTHALL_SMS_KEY_FILE \
        -u CERTHALL_PAY_GATEWAY_KEY_FILE -u CERTHALL_DB "$bin" "${args[@]}"
}

# SIGTERM to certhall-payd (it finishes the step in hand: at most one gateway call, ~5 s),
# wait up to 20 s, print its exit status on stdout (stack_daemon_stop).
stack_payd_stop() {
    stack_daemon_stop payd "$CERTHALL_STACK/run"
}

# ---------------------------------------------------------------------------------------
# The sandbox courier (tests/fakes/courier.py; issue 14)

# Creates, once per stack, the key certhall and the courier share (courier/courier.key,
# 64 hex characters, 0600: the API's master reads it at start, before dropping to the run
# user; the sandbox and the tests read it too).
stack_courier_key_init() {
    local f=$CERTHALL_STACK/courier/courier.key
    if [ ! -s "$f" ]; then
        (umask 077 && printf '%s' "$(openssl rand -hex 32)" >"$f.tmp" && mv -f "$f.tmp" "$f")
    fi
    chmod 600 "$f"
}

stack_courier_pid() {
    stack_service_pid courier "$CERTHALL_STACK/courier-sandbox/journal.jsonl"
}

# Starts the sandbox courier on 127.0.0.1:$CERTHALL_COURIER_PORT; returns when it answers.
# Its journal (courier-sandbox/journal.jsonl) survives restarts.
stack_courier_start() {
    local s=$CERTHALL_STACK
    stack_fake_start courier "$s/courier-sandbox/journal.jsonl" CERTHALL_COURIER_PORT \
        "$CERTHALL_COURIER_URL/sandbox/waybills" \
        env -u http_proxy -u HTTP_PROXY -u https_proxy -u HTTPS_PROXY -u ALL_PROXY -u all_proxy \
        /usr/bin/python3 "$CERTHALL_ROOT/tests/fakes/courier.py" \
        --listen "127.0.0.1:$CERTHALL_COURIER_PORT" --key-file "$CERTHALL_COURIER_KEY_FILE" \
        --retry-delays "$CERTHALL_COURIER_RETRY_DELAYS" \
        --state "$s/courier-sandbox/journal.jsonl" --pid-file "$s/run/courier.pid"
}

stack_courier_stop() {
    stack_fake_stop courier "$CERTHALL_STACK/courier-sandbox/journal.jsonl"
}

# The fake tax platform (tests/fakes/tax_platform.py) and certhall-invoiced (issue 14)

stack_tax_platform_pid() {
    stack_service_pid tax-platform "$CERTHALL_STACK/tax-platform/journal.jsonl"
}

# Starts the fake platform on 127.0.0.1:$CERTHALL_TAX_PORT; returns when it answers. Its
# journal (tax-platform/journal.jsonl: every invoice it issued) survives restarts.
stack_tax_platform_start() {
    local s=$CERTHALL_STACK
    stack_fake_start tax-platform "$s/tax-platform/journal.jsonl" CERTHALL_TAX_PORT \
        "$CERTHALL_TAX_URL/stats" \
        env -u http_proxy -u HTTP_PROXY -u https_proxy -u HTTPS_PROXY -u ALL_PROXY -u all_proxy \
        /usr/bin/python3 "$CERTHALL_ROOT/tests/fakes/tax_platform.py" \
        --listen "127.0.0.1:$CERTHALL_TAX_PORT" --key-file "$CERTHALL_TAX_KEY_FILE" \
        --state "$s/tax-platform/journal.jsonl" --pid-file "$s/run/tax-platform.pid"
}

stack_tax_platform_stop() {
    stack_fake_stop tax-platform "$CERTHALL_STACK/tax-platform/journal.jsonl"
}

# certhall-invoiced gets its conninfo as an argument, like certhall-payd: the stack's
# socket path in it tells its process from another stack's.
stack_invoiced_pid() {
    stack_service_pid invoiced "$CERTHALL_STACK/run"
}

# Starts certhall-invoiced (stack_daemon_start) with the CERTHALL_TAX_* settings; returns
# once it is connected to the database and listening. The SMS link points at the stack.
stack_invoiced_start() {
    local bin=$CERTHALL_BUILD/certhall-invoiced args
    [ -x "$bin" ] || { stack_warn "$bin not built"; return 1; }
    args=(--db "$CERTHALL_APP_DB" --lease "$CERTHALL_INVOICED_LEASE"
        --backoff-cap "$CERTHALL_INVOICED_BACKOFF_CAP")
    [ -n "$CERTHALL_RUN_USER" ] && args+=(--user "$CERTHALL_RUN_USER")
    # Under the sanitizers: fontconfig's caches and cairo 1.16's known leak per PDF are the
    # libraries', as in the codec's own tests (tests/codec/lsan-pdf.supp).
    local lsan=LSAN_OPTIONS=${LSAN_OPTIONS:-}
    if [ -n "${ASAN_OPTIONS:-}" ]; then
        lsan="LSAN_OPTIONS=suppressions=$CERTHALL_ROOT/tests/codec/lsan-pdf.supp:print_suppressions=0"
    fi
    stack_daemon_start invoiced "$CERTHALL_STACK/run" 'listening on \"invoice\"' \
        env "${STACK_DAEMON_ENV_UNSET[@]}" -u CERTHALL_SMS_KEY_FILE \
        -u CERTHALL_PAY_GATEWAY_KEY_FILE -u CERTHALL_PAY_MERCHANT_KEY_FILE -u CERTHALL_DB \
        CERTHALL_INVOICE_LINK_BASE="$CERTHALL_URL" "$lsan" "$bin" "${args[@]}"
}

# SIGTERM to certhall-invoiced (it finishes the invoice in hand), wait up to 20 s, print
# its exit status (stack_daemon_stop).
stack_invoiced_stop() {
    stack_daemon_stop invoiced "$CERTHALL_STACK/run"
}

# ---------------------------------------------------------------------------------------
# nginx

stack_sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

# Renders nginx/certhall.conf.in into $STACK/nginx/nginx.conf.
stack_nginx_render() {
    local s=$CERTHALL_STACK k keepalive keep_conn user_line openapi web_root
    # Keepalive pool per nginx worker: one idle connection, and only when there are more
    # FastCGI workers than nginx workers (see the SIZING RULE in the template).
    # CERTHALL_UPSTREAM_KEEPALIVE overrides it, for measurements only.
    k=1
    [ "$CERTHALL_WORKERS" -gt "$CERTHALL_NGINX_WORKERS" ] || k=0
    k=${CERTHALL_UPSTREAM_KEEPALIVE:-$k}
    if [ "$k" -ge 1 ]; then
        keepalive="keepalive $k;"
        keep_conn=on
    else
        # No more FastCGI workers than nginx workers: even one cached connection per
        # nginx worker could pin them all, so no keepalive at all.
        stack_warn "$CERTHALL_WORKERS FastCGI worker(s) for $CERTHALL_NGINX_WORKERS nginx worker(s): upstream keepalive disabled"
        keepalive="# keepalive disabled: $CERTHALL_WORKERS FastCGI workers for $CERTHALL_NGINX_WORKERS nginx workers"
        keep_conn=off
    fi
    user_line='# (not root: workers run as the invoking user)'
    [ -n "$CERTHALL_RUN_USER" ] && user_line="user $CERTHALL_RUN_USER $CERTHALL_RUN_GROUP;"
    # Serve openapi.yaml from the repository; when the workers (nobody) cannot read it
    # there (e.g. the clone sits under a private home), serve a copy from the stack.
    openapi=$CERTHALL_ROOT/openapi.yaml
    if [ -n "$CERTHALL_RUN_USER" ] && ! runuser -u "$CERTHALL_RUN_USER" -- test -r "$openapi" 2>/dev/null; then
        mkdir -p "$s/nginx/htdocs"
        if [ -f "$CERTHALL_ROOT/openapi.yaml" ]; then
            cp "$CERTHALL_ROOT/openapi.yaml" "$s/nginx/htdocs/openapi.yaml"
            chmod 644 "$s/nginx/htdocs/openapi.yaml"
        fi
        openapi=$s/nginx/htdocs/openapi.yaml
    fi
    # The web hall's build likewise: when the workers cannot reach it (a clone under a
    # private home), nginx serves a copy in the stack, made now; a build made later is then
    # served after the stack restarts.
    web_root=$CERTHALL_WEB_ROOT
    if [ -n "$CERTHALL_RUN_USER" ] && [ -f "$web_root/index.html" ] &&
        ! runuser -u "$CERTHALL_RUN_USER" -- test -r "$web_root/index.html" 2>/dev/null; then
        rm -rf "$s/nginx/web"
        cp -R "$web_root" "$s/nginx/web"
        chmod -R a+rX "$s/nginx/web"
        web_root=$s/nginx/web
        stack_log "nginx ($CERTHALL_RUN_USER) cannot read $CERTHALL_WEB_ROOT: serving a copy from $web_root"
    fi
    sed -e "s|@STACK@|$(stack_sed_escape "$s")|g" \
        -e "s|@PORT@|$(stack_sed_escape "$CERTHALL_PORT")|g" \
        -e "s|@NGINX_WORKERS@|$(stack_sed_escape "$CERTHALL_NGINX_WORKERS")|g" \
        -e "s|@UPSTREAM_KEEPALIVE@|$(stack_sed_escape "$keepalive")|g" \
        -e "s|@KEEP_CONN@|$keep_conn|g" \
        -e "s|@USER_LINE@|$(stack_sed_escape "$user_line")|g" \
        -e "s|@OPENAPI@|$(stack_sed_escape "$openapi")|g" \
        -e "s|@WEB_ROOT@|$(stack_sed_escape "$web_root")|g" \
        "$CERTHALL_ROOT/nginx/certhall.conf.in" >"$s/nginx/nginx.conf.tmp"
    if grep -q '@[A-Z_]*@' "$s/nginx/nginx.conf.tmp"; then
        stack_die "unrendered placeholder in nginx config: $(grep -o '@[A-Z_]*@' "$s/nginx/nginx.conf.tmp" | head -n 1)"
    fi
    mv -f "$s/nginx/nginx.conf.tmp" "$s/nginx/nginx.conf"
}

stack_nginx() {
    nginx -e "$CERTHALL_STACK/log/nginx-error.log" -p "$CERTHALL_STACK/nginx" \
        -c "$CERTHALL_STACK/nginx/nginx.conf" "$@"
}

stack_nginx_pid() {
    local pid
    pid=$(stack_read_pidfile "$CERTHALL_STACK/run/nginx.pid") || return 1
    stack_pid_matches "$pid" "$CERTHALL_STACK/nginx" || return 1
    printf '%s\n' "$pid"
}

# HTTP status of GET $CERTHALL_URL$1 ("000" when nothing answers).
stack_http_status() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$CERTHALL_URL$1" 2>/dev/null || true
}

stack_nginx_start() {
    local s=$CERTHALL_STACK pid i code
    if pid=$(stack_nginx_pid); then
        stack_log "nginx already running (pid $pid)"
        return 0
    fi
    rm -f "$s/run/nginx.pid"
    if stack_port_in_use "$CERTHALL_PORT"; then
        stack_warn "port 127.0.0.1:$CERTHALL_PORT is already in use (set CERTHALL_PORT to another port)"
        return 1
    fi
    stack_nginx_render
    stack_nginx -q -t || { stack_warn "nginx config test failed ($s/nginx/nginx.conf)"; return 1; }
    # Own session (daemon off + setsid): Ctrl-C reaches the script, which stops it in order.
    setsid nginx -e "$s/log/nginx-error.log" -p "$s/nginx" -c "$s/nginx/nginx.conf" \
        </dev/null >>"$s/log/nginx-stderr.log" 2>&1 &
    pid=$!
    for ((i = 0; i < 100; i++)); do
        stack_pid_alive "$pid" || break
        code=$(stack_http_status /)
        [ "$code" != 000 ] && [ -s "$s/run/nginx.pid" ] && return 0
        sleep 0.1
    done
    tail -n 20 "$s/log/nginx-error.log" >&2 || true
    stack_warn "nginx did not come up on $CERTHALL_URL (log: $s/log/nginx-error.log)"
    if stack_pid_alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
    return 1
}

stack_nginx_stop() {
    local pid
    pid=$(stack_nginx_pid) || { rm -f "$CERTHALL_STACK/run/nginx.pid"; return 0; }
    # Fast shutdown (TERM): idle keep-alive clients would delay a graceful QUIT.
    kill -TERM "$pid" 2>/dev/null || true
    if ! stack_wait_gone "$pid" 10; then
        stack_warn "nginx (pid $pid) did not stop in 10 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    stack_kill_session "$pid" "$CERTHALL_STACK/nginx"
    rm -f "$CERTHALL_STACK/run/nginx.pid"
}

# Re-renders the config, tests it, and reloads; returns once new workers run.
stack_nginx_reload() {
    local pid old new i
    pid=$(stack_nginx_pid) || { stack_warn "nginx is not running"; return 1; }
    stack_nginx_render
    stack_nginx -q -t || { stack_warn "nginx config test failed; not reloaded"; return 1; }
    old=$(pgrep -P "$pid" | sort)
    kill -HUP "$pid"
    # Done when new workers run and every old one has stopped accepting (it is gone or
    # titled "shutting down"; it may still finish requests on open connections).
    for ((i = 0; i < 100; i++)); do
        sleep 0.1
        new=$(pgrep -P "$pid" | sort)
        [ -n "$(comm -13 <(printf '%s\n' "$old") <(printf '%s\n' "$new") | grep . || true)" ] || continue
        # shellcheck disable=SC2086  # one argument per pid
        stack_nginx_old_workers_done $old && return 0
    done
    stack_warn "nginx did not switch to new workers within 10 s after reload (see $CERTHALL_STACK/log/nginx-error.log)"
    return 1
}

stack_nginx_old_workers_done() {
    local w
    for w in "$@"; do
        stack_pid_alive "$w" || continue
        tr '\0' ' ' <"/proc/$w/cmdline" 2>/dev/null | grep 'shutting down' >/dev/null || return 1
    done
}

# ---------------------------------------------------------------------------------------
# The whole stack

# Secrets, database, migrations, token, the CA set-up and the signer, payment keys, SMS
# gateway and sender, payment gateway and daemon, API and nginx, in that order. Returns
# non-zero on failure (the caller's trap stops what was started).
stack_up() {
    stack_prepare_dirs
    stack_write_env
    stack_secrets_init
    stack_pg_init
    stack_pg_start
    stack_pg_bootstrap
    stack_migrate
    stack_hsm_init
    stack_signer_setup >/dev/null
    stack_signer_start
    stack_pay_keys_init
    stack_sms_gateway_start
    stack_sms_sender_start
    stack_pay_gateway_start
    stack_payd_start
    stack_courier_key_init
    stack_courier_start
    stack_tax_platform_start
    stack_invoiced_start
    stack_api_start
    stack_nginx_start
}

# Waits until GET /api/v1/health answers 200 (up to $1 seconds, default 30).
stack_wait_healthy() {
    local tenths=$((${1:-30} * 10)) code=000
    while [ "$tenths" -gt 0 ]; do
        code=$(stack_http_status /api/v1/health)
        [ "$code" = 200 ] && return 0
        sleep 0.2
        tenths=$((tenths - 2))
    done
    stack_warn "GET $CERTHALL_URL/api/v1/health answered $code, not 200"
    return 1
}

# Stops nginx, the API, the SMS sender and gateway, the payment daemon and gateway, and
# PostgreSQL; never fails, so it is safe in traps.
stack_down() {
    [ -n "${CERTHALL_STACK:-}" ] && [ -d "$CERTHALL_STACK" ] || return 0
    stack_nginx_stop || true
    if stack_api_pid >/dev/null 2>&1; then
        stack_api_stop 30 >/dev/null || true
    else
        stack_kill_session "$(stack_read_pidfile "$CERTHALL_STACK/run/api.wrapper.pid" || true)" \
            "$CERTHALL_STACK/run/api.exit"
    fi
    # The sender before the database: it records the outcome of the message in hand.
    stack_sms_sender_stop >/dev/null 2>&1 || true
    stack_sms_gateway_stop >/dev/null 2>&1 || true
    # The payment daemon too: it records the outcome of the step in hand; and the signer,
    # the batch in hand.
    stack_payd_stop >/dev/null 2>&1 || true
    stack_invoiced_stop >/dev/null 2>&1 || true
    stack_tax_platform_stop >/dev/null 2>&1 || true
    stack_signer_stop >/dev/null 2>&1 || true
    stack_pay_gateway_stop >/dev/null 2>&1 || true
    stack_courier_stop >/dev/null 2>&1 || true
    stack_pg_stop || true
    return 0
}

stack_status() {
    local pid rc=0
    printf 'stack:      %s\n' "$CERTHALL_STACK"
    printf 'url:        %s\n' "$CERTHALL_URL"
    if stack_pg_running; then
        printf 'postgresql: running (pid %s, socket %s/run port %s)\n' \
            "$(head -n 1 "$CERTHALL_STACK/pg/postmaster.pid")" "$CERTHALL_STACK" "$CERTHALL_PGPORT"
    else
        printf 'postgresql: stopped\n'
        rc=1
    fi
    if pid=$(stack_api_pid); then
        printf 'api:        running (master %s, workers %s)\n' "$pid" "$(stack_api_workers | tr '\n' ' ')"
    else
        printf 'api:        stopped%s\n' "$([ -s "$CERTHALL_STACK/run/api.exit" ] && printf ' (last exit %s)' "$(cat "$CERTHALL_STACK/run/api.exit")")"
        rc=1
    fi
    if pid=$(stack_nginx_pid); then
        printf 'nginx:      running (master %s)\n' "$pid"
    else
        printf 'nginx:      stopped\n'
        rc=1
    fi
    if pid=$(stack_sms_sender_pid); then
        printf 'sms-sender: running (pid %s)\n' "$pid"
    else
        printf 'sms-sender: stopped%s\n' "$([ -s "$CERTHALL_STACK/run/sms-sender.exit" ] && printf ' (last exit %s)' "$(cat "$CERTHALL_STACK/run/sms-sender.exit")")"
        rc=1
    fi
    if pid=$(stack_sms_gateway_pid); then
        printf 'sms-gateway: running (pid %s, %s)\n' "$pid" "$CERTHALL_SMS_URL"
    else
        printf 'sms-gateway: stopped\n'
        rc=1
    fi
    if pid=$(stack_payd_pid); then
        printf 'payd:       running (pid %s)\n' "$pid"
    else
        printf 'payd:       stopped%s\n' "$([ -s "$CERTHALL_STACK/run/payd.exit" ] && printf ' (last exit %s)' "$(cat "$CERTHALL_STACK/run/payd.exit")")"
        rc=1
    fi
    if pid=$(stack_pay_gateway_pid); then
        printf 'pay-gateway: running (pid %s, %s)\n' "$pid" "$CERTHALL_PAY_GATEWAY_URL"
    else
        printf 'pay-gateway: stopped\n'
        rc=1
    fi
    if pid=$(stack_courier_pid); then
        printf 'courier:    running (pid %s, %s)\n' "$pid" "$CERTHALL_COURIER_URL"
    else
        printf 'courier:    stopped\n'
        rc=1
    fi
    if pid=$(stack_invoiced_pid); then
        printf 'invoiced:   running (pid %s)\n' "$pid"
    else
        printf 'invoiced:   stopped\n'
        rc=1
    fi
    if pid=$(stack_tax_platform_pid); then
        printf 'tax-platform: running (pid %s, %s)\n' "$pid" "$CERTHALL_TAX_URL"
    else
        printf 'tax-platform: stopped\n'
        rc=1
    fi
    if pid=$(stack_signer_pid); then
        printf 'signer:     running (pid %s, user %s)\n' "$pid" "$(ps -o user= -p "$pid" 2>/dev/null || echo '?')"
    else
        printf 'signer:     stopped%s\n' "$([ -s "$CERTHALL_STACK/run/signer.exit" ] && printf ' (last exit %s)' "$(cat "$CERTHALL_STACK/run/signer.exit")")"
        rc=1
    fi
    return "$rc"
}

# Where the logs are, and their last lines (for failures).
stack_show_logs() {
    local dir=${1:-$CERTHALL_STACK/log} f
    printf '\n[stack] logs are in %s\n' "$dir" >&2
    for f in api.log nginx-error.log postgres.log sms-sender.log sms-gateway.log payd.log \
        pay-gateway.log signer.log courier.log invoiced.log tax-platform.log; do
        [ -s "$dir/$f" ] || continue
        printf '\n----- last 40 lines of %s -----\n' "$dir/$f" >&2
        tail -n 40 "$dir/$f" >&2
    done
}
