#!/usr/bin/env bash
# bench/run.sh — side-by-side benchmark of portico vs Debian's nginx vs h2o
# (static rows 1-4), vs nginx, HAProxy and h2o as reverse proxies (rows 5-7), as
# app servers in front of 2 Node processes (row 9) vs nginx proxy_pass, Passenger
# Standalone and PM2 cluster mode, and as HTTPS / HTTP/2 fronts (rows 10-15) vs nginx,
# h2o and HAProxy.
#
# One worker each, same files, same settings, server pinned to one CPU and the
# load generator (and, for rows 5-7, the origin) to another, servers alternated
# round by round, median per server, ratios portico/peer. See bench/README.md.
# With --baseline OLD_BINARY, a second portico build runs as the server "baseline"
# wherever portico runs, alternated with the others in the same rounds (before/after).
#
# Usage: bench/run.sh [options] [PORTICO_BINARY]
#   --baseline BINARY  also run this portico binary as server "baseline" (same config
#                      as portico, its own port and prefix); the table gets a
#                      portico/baseline ratio
#   --quick            1 round of 3 s (default: 3 rounds of 10 s)
#   --rounds N         rounds per row
#   --duration S       seconds per wrk run
#   --rows LIST        comma-separated rows to run (default 1-15; "apps" stands for
#                      9, the app servers' row; "tls" for 10-15, the HTTPS rows)
#   --servers LIST     comma-separated subset of portico,nginx,h2o,haproxy,passenger,pm2
#                      (and baseline, which --baseline adds by itself)
#   --idle-conns N     connections for the memory row (default 10000)
#   --port-base P      first port to try (default 28400; 28000-29990; the run
#                      uses 9 ports (10 with --baseline) from P+1 up, within P's thousand)
#   --wait-quiet S     before each measurement wait up to S s for the machine to be
#                      idle (other processes < 0.1 CPU); default 0 = don't wait
#   --keep             keep the temp dir (configs, wrk outputs, logs)
#   -h, --help
# shellcheck disable=SC2317  # functions are called indirectly (traps, rowN_run by name)
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PORTICO_BIN="$(cd "$BENCH_DIR/.." && pwd)/build/portico"
BASELINE_BIN=""     # --baseline: the "before" portico binary ("" = no baseline server)
ROUNDS=3
DURATION=10
WARMUP=1
ROWS="1,2,3,4,5,6,7,8,9,10,11,12,13,14,15"
SERVERS_WANTED="portico,nginx,h2o,haproxy,passenger,pm2"
IDLE_CONNS=10000
PORT_BASE=28400
KEEP_TMP=0
WAIT_QUIET=0
SERVER_CPU=0
CLIENT_CPU=1
NOFILE=65536

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '2,/^#   -h, --help/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

parse_args() {
    local quick=0 rounds="" duration=""
    while (($#)); do
        case "$1" in
            --quick) quick=1 ;;
            --baseline) BASELINE_BIN=${2:-}; shift ;;
            --rounds) rounds=${2:-}; shift ;;
            --duration) duration=${2:-}; shift ;;
            --rows) ROWS=${2:-}; shift ;;
            --servers) SERVERS_WANTED=${2:-}; shift ;;
            --idle-conns) IDLE_CONNS=${2:-}; shift ;;
            --port-base) PORT_BASE=${2:-}; shift ;;
            --keep) KEEP_TMP=1 ;;
            --wait-quiet) WAIT_QUIET=${2:-}; shift ;;
            -h|--help) usage; exit 0 ;;
            -*) die "unknown option $1 (see --help)" ;;
            *) PORTICO_BIN=$1 ;;
        esac
        shift
    done
    if ((quick)); then ROUNDS=1; DURATION=3; fi
    ROWS=",$ROWS,"
    ROWS=${ROWS//,apps,/,9,}
    ROWS=${ROWS//,tls,/,10,11,12,13,14,15,}
    ROWS=${ROWS#,}
    ROWS=${ROWS%,}
    [[ -n $rounds ]] && ROUNDS=$rounds
    [[ -n $duration ]] && DURATION=$duration
    [[ $ROUNDS =~ ^[1-9][0-9]*$ && $DURATION =~ ^[1-9][0-9]*$ ]] || die "bad --rounds/--duration"
    [[ $IDLE_CONNS =~ ^[1-9][0-9]*$ && $WAIT_QUIET =~ ^[0-9]+$ && $PORT_BASE =~ ^[0-9]+$ ]] ||
        die "bad --idle-conns/--wait-quiet/--port-base"
    ((PORT_BASE >= 28000 && PORT_BASE <= 29990)) || die "--port-base must be in 28000-29990"
    if [[ $PORTICO_BIN != /* ]]; then PORTICO_BIN="$PWD/$PORTICO_BIN"; fi
    if [[ -n $BASELINE_BIN ]]; then
        [[ $BASELINE_BIN == /* ]] || BASELINE_BIN="$PWD/$BASELINE_BIN"
        [[ -f $BASELINE_BIN && -x $BASELINE_BIN ]] || die "--baseline $BASELINE_BIN: not an executable file"
        # baseline runs right after portico in each round (or first if portico is not run).
        if [[ ,$SERVERS_WANTED, != *,baseline,* ]]; then
            local with="" s
            [[ ,$SERVERS_WANTED, == *,portico,* ]] || with=",baseline"
            for s in ${SERVERS_WANTED//,/ }; do
                with+=",$s"
                [[ $s == portico ]] && with+=",baseline"
            done
            SERVERS_WANTED=${with#,}
        fi
    elif [[ ,$SERVERS_WANTED, == *,baseline,* ]]; then
        die "--servers names baseline but no --baseline BINARY is given"
    fi
}

# ------------------------------------------------------------------ cleanup
# Everything we start is tracked by pid and stopped by pid, never by name.

TMP=""
declare -A SRV_PID=()      # server name -> pid we started (nginx: the master; passenger:
                           # its watchdog; pm2: its daemon)
declare -A SRV_EXTRA=()    # server name -> more pids of its front end that are not its
                           # descendants (row 9: passenger's temp-dir toucher), stopped with it
declare -A SRV_APPS=()     # server name -> app processes that are not its descendants
                           # (row 9: the 2 node processes nginx proxies to), stopped with it
declare -A SRV_PORT=()     # server name -> port
CHILD_PIDS=()              # load generators and helpers currently running
MADE_POLICY=""             # policy-rc.d we created for apt-get install (removed on exit)
PASSENGER_PID=""           # set by passenger_start: the watchdog's pid
PM2_PID=""                 # set by pm2_start: the daemon's pid

cleanup() {
    trap - EXIT INT TERM
    local pid s
    for pid in "${CHILD_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    [[ -n $TMP ]] && untracked_daemons
    for s in "${!SRV_PID[@]}"; do server_stop "$s"; done
    [[ -n $MADE_POLICY ]] && rm -f "$MADE_POLICY"
    if [[ -n $TMP && -d $TMP ]]; then
        if ((KEEP_TMP)); then log "kept temp dir $TMP"; else rm -rf "$TMP"; fi
    fi
}

# A Passenger or PM2 daemon that an interrupted start left before its pid was recorded in
# SRV_PID: found by its pid file, if that pid is still the daemon (by its process title).
untracked_daemons() {
    local pid
    if [[ -z ${SRV_PID[passenger]:-} ]]; then
        pid=$(cat "$TMP/passenger/passenger.pid" 2>/dev/null)
        [[ $pid =~ ^[0-9]+$ ]] && grep -qa "Passenger watchdog" "/proc/$pid/cmdline" 2>/dev/null &&
            SRV_PID[passenger]=$pid
    fi
    if [[ -z ${SRV_PID[pm2]:-} ]]; then
        pid=$(cat "$TMP/pm2/home/pm2.pid" 2>/dev/null)
        [[ $pid =~ ^[0-9]+$ ]] && grep -qaF "$TMP/pm2/home" "/proc/$pid/cmdline" 2>/dev/null &&
            SRV_PID[pm2]=$pid
    fi
}

untrack() {
    local keep=() p
    for p in "${CHILD_PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    CHILD_PIDS=("${keep[@]}")
}

# Runs "$@" in the background, tracked for cleanup, and waits for it.
# Waiting (rather than running in the foreground) lets the INT/TERM trap fire at once.
run_tracked() {
    "$@" &
    local pid=$!
    CHILD_PIDS+=("$pid")
    wait "$pid"
    local rc=$?
    untrack "$pid"
    return "$rc"
}

# ------------------------------------------------------------------ setup

# wanted SERVER: is SERVER in --servers and used by one of the selected rows?
wanted() {
    local n
    [[ ,$SERVERS_WANTED, == *,$1,* ]] || return 1
    for n in ${ROWS//,/ }; do [[ " ${ROW_SERVERS[$n]} " == *" $1 "* ]] && return 0; done
    return 1
}

# rows_include N...: is any of the rows N selected?
rows_include() {
    local n
    for n in "$@"; do [[ ,$ROWS, == *,$n,* ]] && return 0; done
    return 1
}

# apt_install PKG... with a temporary policy-rc.d so the packages' own services
# (nginx on :80, h2o, haproxy) do not start; apt-get update only if the install fails.
apt_install() {
    ((EUID == 0)) || { log "need root to apt-get install $*"; return 1; }
    local policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && MADE_POLICY=$policy
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" ||
        { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"; }
    local rc=$?
    [[ -n $MADE_POLICY ]] && rm -f "$MADE_POLICY" && MADE_POLICY=""
    return "$rc"
}

ensure_tools() {
    local missing=() pkgs=()
    command -v nginx >/dev/null || { missing+=(nginx); pkgs+=(nginx-light); }
    command -v h2o >/dev/null || { missing+=(h2o); pkgs+=(h2o); }
    command -v wrk >/dev/null || { missing+=(wrk); pkgs+=(wrk); }
    command -v curl >/dev/null || { missing+=(curl); pkgs+=(curl); }
    command -v gcc >/dev/null || { missing+=(gcc); pkgs+=(gcc libc6-dev); }
    command -v taskset >/dev/null || { missing+=(taskset); pkgs+=(util-linux); }
    command -v python3 >/dev/null || { missing+=(python3); pkgs+=(python3); }
    command -v ss >/dev/null || { missing+=(ss); pkgs+=(iproute2); }
    if ((${#pkgs[@]})); then
        log "installing ${pkgs[*]} (missing: ${missing[*]})"
        apt_install "${pkgs[@]}" || die "apt-get install ${pkgs[*]} failed"
    fi
    # Optional: HAProxy (rows 5-7) and nginx's stream module (row 7). If they cannot be
    # installed, that server is reported as not available for those rows.
    if wanted haproxy && ! command -v haproxy >/dev/null; then
        log "installing haproxy (rows 5-7)"
        apt_install haproxy || log "warning: apt-get install haproxy failed; haproxy will be reported as not available"
    fi
    if rows_include 7 && wanted nginx; then
        nginx_stream_setup
        if [[ -z $NGINX_STREAM_LOAD && $NGINX_STREAM_WHY == *"not installed"* ]]; then
            log "installing libnginx-mod-stream (row 7: nginx's stream module)"
            apt_install libnginx-mod-stream || log "warning: apt-get install libnginx-mod-stream failed"
            nginx_stream_setup
        fi
        [[ -n $NGINX_STREAM_WHY ]] && log "row 7: nginx: $NGINX_STREAM_WHY"
    fi
    # Rows 10-15 (TLS): openssl for the certificate, h2load (row 11), the OpenSSL headers for
    # the handshake client (rows 12-13).
    if rows_include 10 11 12 13 14 15; then
        pkgs=()
        command -v openssl >/dev/null || pkgs+=(openssl)
        rows_include 11 && ! command -v h2load >/dev/null && pkgs+=(nghttp2-client)
        rows_include 12 13 && [[ ! -f /usr/include/openssl/ssl.h ]] && pkgs+=(libssl-dev)
        if ((${#pkgs[@]})); then
            log "installing ${pkgs[*]} (rows 10-15: TLS)"
            apt_install "${pkgs[@]}" || die "apt-get install ${pkgs[*]} failed"
        fi
    fi
    # Row 9 (apps): node for the app itself; Debian's passenger and npm's pm2 are optional
    # (if they cannot be installed, that server is reported as not available).
    if rows_include 9; then
        if ! command -v node >/dev/null; then
            log "installing nodejs (row 9: the app)"
            apt_install nodejs || log "warning: apt-get install nodejs failed; row 9 will be skipped"
        fi
        if wanted passenger && ! command -v passenger >/dev/null; then
            log "installing passenger (row 9: Passenger Standalone)"
            apt_install --no-install-recommends passenger ||
                log "warning: apt-get install passenger failed; passenger will be reported as not available"
        fi
        if wanted pm2 && ! command -v pm2 >/dev/null; then
            # Debian's npm package conflicts with a nodejs that bundles npm: only when missing.
            command -v npm >/dev/null || apt_install npm || log "warning: apt-get install npm failed"
            log "installing pm2 (row 9: npm install -g pm2)"
            if command -v npm >/dev/null; then
                run_tracked timeout 300 npm install -g --no-fund --no-audit pm2 >&2 ||
                    log "warning: npm install -g pm2 failed; pm2 will be reported as not available"
            fi
        fi
    fi
}

# How nginx gets its stream module: sets NGINX_STREAM_LOAD to a load_module line
# (dynamic module), to "" with NGINX_STREAM_WHY="" (built in), or NGINX_STREAM_WHY
# to why row 7 cannot run nginx.
NGINX_STREAM_LOAD=""
NGINX_STREAM_WHY=""
nginx_stream_setup() {
    local v mods
    v=$(nginx -V 2>&1)
    NGINX_STREAM_LOAD=""
    NGINX_STREAM_WHY=""
    if [[ $v == *"--with-stream=dynamic"* ]]; then
        mods=$(sed -n 's/.*--modules-path=\([^ ]*\).*/\1/p' <<<"$v")
        mods=${mods:-/usr/lib/nginx/modules}
        if [[ -f $mods/ngx_stream_module.so ]]; then
            NGINX_STREAM_LOAD="load_module $mods/ngx_stream_module.so;"
        else
            NGINX_STREAM_WHY="stream module not installed ($mods/ngx_stream_module.so missing; package libnginx-mod-stream)"
        fi
    elif [[ $v == *"--with-stream "* || $v == *"--with-stream" ]]; then
        :
    else
        NGINX_STREAM_WHY="this nginx is built without the stream module (nginx -V has no --with-stream)"
    fi
}

raise_limits() {
    local n
    if ! ulimit -n "$NOFILE" 2>/dev/null; then
        ulimit -n "$(ulimit -Hn)" 2>/dev/null
        log "note: cannot raise open files limit to $NOFILE (hard limit $(ulimit -Hn), no CAP_SYS_RESOURCE?); using $(ulimit -n)"
    fi
    n=$(ulimit -n)
    if [[ $n != unlimited ]] && ((n < IDLE_CONNS + 1000)); then
        log "warning: open files limit is $n (< $((IDLE_CONNS + 1000))); the memory row may fail"
    fi
}

check_cpus() {
    local ncpu
    ncpu=$(nproc)
    if ((ncpu < 2)); then
        log "warning: only $ncpu CPU; server and wrk share CPU 0, numbers are not comparable to 2-CPU runs"
        CLIENT_CPU=0
    fi
}

port_in_use() { [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }

# One port per server plus the origin of rows 5-7 and the 2 node processes nginx proxies
# to in row 9 (and the baseline last, so that the others keep their ports), all within
# PORT_BASE's thousand (28xxx or 29xxx).
pick_ports() {
    local i=1 s p names=(portico nginx h2o haproxy origin passenger pm2 node1 node2) hi=$((PORT_BASE / 1000 * 1000 + 999))
    [[ -n $BASELINE_BIN ]] && names+=(baseline)
    for s in "${names[@]}"; do
        p=$((PORT_BASE + i))
        while port_in_use "$p"; do
            p=$((p + ${#names[@]}))
            ((p <= hi)) || die "no free port for $s in $((hi - 999))-$hi"
        done
        SRV_PORT[$s]=$p
        i=$((i + 1))
    done
}

make_files() {
    TMP=$(mktemp -d /tmp/portico-bench.XXXXXX) || die "mktemp failed"
    # nginx workers and h2o drop to nobody when started as root: docroot must be readable.
    chmod 755 "$TMP"
    mkdir -p "$TMP/www" "$TMP/nginx" "$TMP/h2o" "$TMP/haproxy" "$TMP/origin" "$TMP/portico/logs" "$TMP/runs" \
        "$TMP/app/public" "$TMP/passenger/registry" "$TMP/passenger/tmp" "$TMP/pm2"
    [[ -n $BASELINE_BIN ]] && mkdir -p "$TMP/baseline/logs"
    chmod 755 "$TMP/www"
    head -c 1024 /dev/urandom >"$TMP/www/1k.bin"
    head -c $((1024 * 1024)) /dev/urandom >"$TMP/www/1m.bin"
    printf 'portico bench\n' >"$TMP/www/index.html"
    chmod 644 "$TMP/www"/*
    # Row 9's app: a hello-world Node http server, the same file for every server. It
    # listens on the unix socket SOCKET names (nginx's node processes: proxying over a unix
    # socket is what a tuned nginx + node setup does, and costs half of loopback TCP), else
    # where PORT says (PM2); under portico and Passenger their loaders make its listen() use
    # the socket they chose.
    cat >"$TMP/app/app.js" <<'EOF'
'use strict';
const http = require('http');
const body = 'hello world\n';
http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}).listen(...(process.env.SOCKET ? [process.env.SOCKET] : [parseInt(process.env.PORT, 10) || 3000, '127.0.0.1']));
EOF
    chmod 755 "$TMP/app" "$TMP/app/public"
    chmod 644 "$TMP/app/app.js"
    # The origin's 1 KiB answer for rows 5-6 (nginx 'return 200 "..."': no file I/O).
    ORIGIN_BODY=$(python3 -c 'import random, string; r = random.Random(1); print("".join(r.choice(string.ascii_letters + string.digits) for _ in range(1024)))')
    RESULTS="$TMP/results.jsonl"
    : >"$RESULTS"
}

# The run uses a copy of the portico binary (and of the baseline) taken at the start,
# so that a rebuild of build/portico during the run (by someone else) cannot mix two
# binaries in one table. SNAP_EXE[s] is the copy ("" if there is none), SNAP_STAMP[s]
# when it was built, its hash and, if it sits in a git checkout, that checkout's commit
# (the tree it was probably built from; the build time tells whether it is older).
declare -A SNAP_BIN=() SNAP_EXE=() SNAP_STAMP=()
snapshot_portico() { # SERVER (portico|baseline) BINARY
    local s=$1 bin=$2 exe="$TMP/$1/portico.bin" rev
    SNAP_BIN[$s]=$bin
    SNAP_EXE[$s]=""
    if [[ -x $bin ]] && cp "$bin" "$exe"; then
        SNAP_EXE[$s]=$exe
        SNAP_STAMP[$s]="copied at start; built $(date -r "$bin" '+%Y-%m-%d %H:%M:%S'), sha256 $(sha256sum "$exe" | cut -c1-12)"
        rev=$(git -C "$(dirname "$bin")" describe --always --dirty 2>/dev/null) &&
            SNAP_STAMP[$s]+="; in a git checkout at $rev"
    fi
}

build_helpers() {
    IDLE_BIN="$TMP/idle_conns"
    gcc -O2 -Wall -o "$IDLE_BIN" "$BENCH_DIR/idle_conns.c" || die "cannot compile idle_conns.c"
    HS_BIN="$TMP/tls_handshakes"
    if rows_include 12 13; then
        gcc -O2 -Wall -o "$HS_BIN" "$BENCH_DIR/tls_handshakes.c" -lssl -lcrypto ||
            die "cannot compile tls_handshakes.c"
    fi
}

# Rows 10-15: one ECDSA P-256 certificate (self-signed, CN localhost) for every server, the
# key type tuned sites use (a signature costs the server a fraction of an RSA-2048 one).
tls_files() {
    mkdir -p "$TMP/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=localhost -addext subjectAltName=DNS:localhost \
        -keyout "$TMP/tls/key.pem" -out "$TMP/tls/cert.pem" 2>/dev/null || die "openssl req failed"
    cat "$TMP/tls/cert.pem" "$TMP/tls/key.pem" >"$TMP/tls/haproxy.pem"
    chmod 755 "$TMP/tls"
    chmod 644 "$TMP/tls"/*.pem
}

# ------------------------------------------------------------------ configs
# Rows that need extra config (the proxy rows 5-7) set these before calling
# write_configs and reset them afterwards.
CONF_MODE=static    # static (rows 1-4), proxy (rows 5-6: HTTP reverse proxy), stream (row 7: TCP),
                    # app (row 9: 2 node processes behind each server)
NGINX_EXTRA=""      # nginx-syntax lines inside server {} (used by nginx and portico)
NGINX_HTTP_EXTRA="" # nginx-syntax lines inside http {}, before server {} (nginx and portico)
H2O_EXTRA_PATHS=""  # YAML entries under paths: (6-space indent)
CHECK_PATH=/1k.bin  # server_start waits for "200, CHECK_SIZE bytes" on this path
SCHEME=http         # https in rows 10-15 (server_start checks with curl -k, the load goes over TLS)
LISTEN_OPTS=""      # after listen ADDR:PORT for nginx and portico (" ssl http2" in rows 10-15)
NGINX_ONLY_EXTRA="" # nginx-syntax lines inside server {}, nginx only (its tuning portico lacks)
CHECK_SIZE=1024
START_WAIT=50       # tenths of a second server_start waits for that answer

# The http block shared by nginx and portico (portico reads nginx syntax).
http_block() {
    local port=$1
    cat <<EOF
events { worker_connections 20000; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
$NGINX_HTTP_EXTRA
    server {
        listen 127.0.0.1:$port$LISTEN_OPTS;
        root $TMP/www;
$NGINX_EXTRA
    }
}
EOF
}

# Row 7: the TCP proxy shared by nginx and portico (no http {}).
stream_block() {
    local port=$1
    cat <<EOF
events { worker_connections 20000; }
stream {
    upstream origin_tcp {
        server 127.0.0.1:${SRV_PORT[origin]};
    }
    server {
        listen 127.0.0.1:$port;
        proxy_pass origin_tcp;
    }
}
EOF
}

# Row 9: portico with Passenger's directives, as site B of the reference setup says them
# (root is the app's public/, the app root its parent), 2 processes like Passenger
# Standalone's --min-instances 2 --max-pool-size 2.
app_block() {
    local port=$1
    cat <<EOF
events { worker_connections 20000; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    passenger_max_pool_size 2;
    server {
        listen 127.0.0.1:$port;
        root $TMP/app/public;
        passenger_enabled on;
        passenger_app_type node;
        passenger_startup_file app.js;
        passenger_min_instances 2;
    }
}
EOF
}

write_configs() {
    local d="$TMP/nginx" block=http_block pblock=http_block
    [[ $CONF_MODE == stream ]] && block=stream_block && pblock=stream_block
    [[ $CONF_MODE == app ]] && pblock=app_block
    {
        [[ $CONF_MODE == stream && -n $NGINX_STREAM_LOAD ]] && echo "$NGINX_STREAM_LOAD"
        echo "worker_processes 1;"
        echo "master_process on;"
        echo "daemon off;"
        echo "pid $d/nginx.pid;"
        echo "error_log $d/error.log warn;"
        NGINX_EXTRA="$NGINX_EXTRA${NGINX_ONLY_EXTRA:+
$NGINX_ONLY_EXTRA}" $block "${SRV_PORT[nginx]}" |
            sed "s|^    access_log off;|&\n    client_body_temp_path $d/body;\n    proxy_temp_path $d/proxy;\n    fastcgi_temp_path $d/fastcgi;\n    uwsgi_temp_path $d/uwsgi;\n    scgi_temp_path $d/scgi;|"
    } >"$d/nginx.conf"

    {
        echo "worker_processes 1;"
        $pblock "${SRV_PORT[portico]}"
    } >"$TMP/portico/portico.conf"
    # The baseline: the same config on its own port.
    if [[ -n $BASELINE_BIN ]]; then
        {
            echo "worker_processes 1;"
            $pblock "${SRV_PORT[baseline]}"
        } >"$TMP/baseline/portico.conf"
    fi

    # Rows 10-15: TLS on h2o's listener (HTTP/2 by ALPN, h2o's default), its session cache
    # and tickets (ssl-session-resumption mode all, h2o's default, said explicitly).
    local h2o_tls="" h2o_resume=""
    if [[ $SCHEME == https ]]; then
        h2o_tls="
      ssl:
        certificate-file: $TMP/tls/cert.pem
        key-file: $TMP/tls/key.pem
        minimum-version: TLSv1.3"
        h2o_resume="ssl-session-resumption:
  mode: all"
    fi
    cat >"$TMP/h2o/h2o.conf" <<EOF
num-threads: 1
max-connections: 20000
http1-request-timeout: 75
error-log: $TMP/h2o/error.log
$h2o_resume
hosts:
  default:
    listen:
      host: 127.0.0.1
      port: ${SRV_PORT[h2o]}$h2o_tls
    paths:
$H2O_EXTRA_PATHS
      /:
        file.dir: $TMP/www
EOF

    # HAProxy (rows 5-7 only): one thread, everything to the origin. maxconn 5000 is far
    # above the 8-32 connections of the rows; HAProxy sizes its file descriptor limit from
    # it (about 2 x maxconn) and refuses to start when it cannot raise RLIMIT_NOFILE that far.
    local hmode=http
    [[ $CONF_MODE == stream ]] && hmode=tcp
    if [[ $SCHEME == https ]]; then
        haproxy_tls_config >"$TMP/haproxy/haproxy.cfg"
        return
    fi
    {
        cat <<EOF
global
    nbthread 1
    maxconn 5000
    log stderr format short local0 warning
defaults
    mode $hmode
    log global
    timeout connect 5s
    timeout client 75s
    timeout server 75s
EOF
        [[ $hmode == http ]] && printf '    timeout http-keep-alive 75s\n    http-reuse always\n'
        cat <<EOF
frontend fe
    bind 127.0.0.1:${SRV_PORT[haproxy]}
    default_backend origin
backend origin
    server origin 127.0.0.1:${SRV_PORT[origin]}
EOF
    } >"$TMP/haproxy/haproxy.cfg"
}

# Rows 10-13: HAProxy terminates TLS and answers /1k.bin itself: it serves no files, and its
# `http-request return ... file` sends a file's content read once at start-up (a fixed body,
# the cheapest answer it has). TLS 1.3 only, ALPN h2 and http/1.1, its default session cache
# (tune.ssl.cachesize 20000) and tickets.
haproxy_tls_config() {
    cat <<EOF
global
    nbthread 1
    maxconn 5000
    log stderr format short local0 warning
    ssl-default-bind-options ssl-min-ver TLSv1.3
defaults
    mode http
    log global
    timeout connect 5s
    timeout client 75s
    timeout server 75s
    timeout http-keep-alive 75s
frontend fe
    bind 127.0.0.1:${SRV_PORT[haproxy]} ssl crt $TMP/tls/haproxy.pem alpn h2,http/1.1
    http-request return status 200 content-type application/octet-stream file $TMP/www/1k.bin if { path /1k.bin }
    http-request return status 404
EOF
}

# The origin (upstream) of rows 5-7: one more nginx, one worker, pinned to the load
# generator's CPU, the same for every proxy. /p/1k.bin is a 'return 200' of 1024 bytes
# (no file I/O), /p/1m.bin and /1m.bin are static files (sendfile), /1k.bin a static
# file (the start-up check through the TCP proxy). /origin_status is stub_status
# (connections accepted, requests): report.py reads it before and after every measured
# run to show how many upstream connections the proxy opened during the run.
write_origin_config() {
    local d="$TMP/origin"
    cat >"$d/nginx.conf" <<EOF
worker_processes 1;
master_process on;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 20000; }
http {
    access_log off;
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
    sendfile on;
    open_file_cache max=64;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
    server {
        listen 127.0.0.1:${SRV_PORT[origin]} backlog=4096;
        root $TMP/www;
        location = /p/1k.bin { return 200 "$ORIGIN_BODY"; }
        location /p/ { alias $TMP/www/; }
        location = /origin_status { stub_status; }
    }
}
EOF
}

origin_start() {
    local pid i got
    write_origin_config
    taskset -c "$CLIENT_CPU" nginx -p "$TMP/origin/" -c "$TMP/origin/nginx.conf" \
        -e "$TMP/origin/error.log" >"$TMP/origin/stdout.log" 2>&1 &
    pid=$!
    SRV_PID[origin]=$pid
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        got=$(curl -s -o /dev/null --max-time 1 -w '%{http_code} %{size_download}' \
            "http://127.0.0.1:${SRV_PORT[origin]}/p/1k.bin" 2>/dev/null)
        [[ $got == "200 1024" ]] && return 0
        sleep 0.1
    done
    log "origin (nginx on 127.0.0.1:${SRV_PORT[origin]}) did not start: $(server_log_tail origin)"
    server_stop origin
    return 1
}

# ------------------------------------------------------------------ servers

server_log() {
    case $1 in
        nginx|origin) echo "$TMP/$1/error.log $TMP/$1/stdout.log" ;;
        portico|baseline) echo "$TMP/$1/stdout.log $TMP/$1/logs/error.log" ;;
        passenger) echo "$TMP/passenger/stdout.log $TMP/passenger/passenger.log" ;;
        pm2) echo "$TMP/pm2/stdout.log $TMP/pm2/home/pm2.log" ;;
        *) echo "$TMP/$1/stdout.log" ;;
    esac
}

# shellcheck disable=SC2046 # server_log paths have no spaces (mktemp)
server_log_tail() { tail -q -n 3 $(server_log "$1") 2>/dev/null | tr '\n' ' '; }

# Row 9: the 2 node processes nginx proxies to, started by hand (`SOCKET=PATH node app.js &`,
# each on a unix socket) and pinned with nginx. Returns non-zero (reason in START_ERROR) unless
# both answer.
app_nodes_start() {
    local n i got pids=()
    for n in node1 node2; do
        rm -f "$TMP/app/$n.sock"
        # umask 0: nginx's worker (nobody) needs write permission on the socket to connect.
        (cd "$TMP/app" && umask 000 && SOCKET=$TMP/app/$n.sock NODE_ENV=production exec taskset -c "$SERVER_CPU" node app.js) \
            >>"$TMP/nginx/nodes.log" 2>&1 &
        pids+=("$!")
    done
    SRV_APPS[nginx]=${pids[*]}
    for n in node1 node2; do
        for ((i = 0; i < 100; i++)); do
            got=$(curl -s -o /dev/null --max-time 1 -w '%{http_code}' --unix-socket "$TMP/app/$n.sock" http://localhost/ 2>/dev/null)
            [[ $got == 200 ]] && break
            sleep 0.1
        done
        if [[ $got != 200 ]]; then
            START_ERROR="node app.js on $TMP/app/$n.sock did not answer within 10 s: $(tail -n 3 "$TMP/nginx/nodes.log" | tr '\n' ' ')"
            return 1
        fi
    done
}

# Row 9: Passenger Standalone (Debian's passenger), daemonized: the ruby launcher exits once
# the watchdog runs, which owns the core, which owns the app processes; the pid file holds
# the watchdog's pid. Engine "builtin" (Passenger's own HTTP server in its core): the default
# "nginx" engine needs an nginx built with Passenger's module, which Passenger Standalone
# downloads, or compiles from nginx's source with the passenger-dev support libraries, and
# Debian 12 has no package of either. The app is in production mode like portico's
# (app_env production) and PM2's and nginx's node processes (NODE_ENV=production).
passenger_start() {
    local f="$TMP/passenger"
    rm -f "$f/passenger.pid"
    (cd "$TMP/app" && TMPDIR="$f/tmp" exec taskset -c "$SERVER_CPU" timeout 120 passenger start \
        --daemonize --engine builtin --address 127.0.0.1 --port "${SRV_PORT[passenger]}" \
        --app-type node --startup-file app.js --environment production \
        --min-instances 2 --max-pool-size 2 \
        --log-file "$f/passenger.log" --pid-file "$f/passenger.pid" --instance-registry-dir "$f/registry" \
        --disable-security-update-check --disable-anonymous-telemetry \
        --no-install-runtime --no-compile-runtime) >"$f/stdout.log" 2>&1 &
    local launcher=$!
    CHILD_PIDS+=("$launcher")
    wait "$launcher"
    local rc=$?
    untrack "$launcher"
    PASSENGER_PID=$(cat "$f/passenger.pid" 2>/dev/null)
    if ((rc != 0)) || [[ ! $PASSENGER_PID =~ ^[0-9]+$ ]]; then
        START_ERROR="passenger start exited with status $rc; output: $(tail -n 4 "$f/stdout.log" "$f/passenger.log" 2>/dev/null | tr '\n' ' ')"
        PASSENGER_PID=""
        return 1
    fi
}

# Row 9: PM2 in cluster mode (`pm2 start app.js -i 2`): the PM2 daemon (pid in
# PM2_HOME/pm2.pid) forks the 2 node processes with node's cluster module; they share the
# port PORT, which the daemon accepts on and hands out round-robin. A PM2_HOME of its own.
pm2_start() {
    local f="$TMP/pm2"
    rm -rf "${f:?}/home"
    mkdir -p "$f/home"
    (cd "$TMP/app" && PM2_HOME="$f/home" PORT=${SRV_PORT[pm2]} NODE_ENV=production \
        exec taskset -c "$SERVER_CPU" timeout 120 pm2 start app.js -i 2 --name app) >"$f/stdout.log" 2>&1 &
    local launcher=$!
    CHILD_PIDS+=("$launcher")
    wait "$launcher"
    local rc=$?
    untrack "$launcher"
    PM2_PID=$(cat "$f/home/pm2.pid" 2>/dev/null)
    if ((rc != 0)) || [[ ! $PM2_PID =~ ^[0-9]+$ ]]; then
        START_ERROR="pm2 start exited with status $rc; output: $(tail -n 4 "$f/stdout.log" | tr '\n' ' ')"
        PM2_PID=""
        return 1
    fi
}

# Starts server $1 pinned to SERVER_CPU; returns non-zero (reason in START_ERROR)
# unless it answers GET $CHECK_PATH with 200 and CHECK_SIZE bytes within START_WAIT/10 s.
server_start() {
    local s=$1 port=${SRV_PORT[$1]} pid=""
    START_ERROR=""
    case $s in
        nginx)
            if [[ $CONF_MODE == app ]] && ! app_nodes_start; then
                SRV_PID[$s]=""
                server_stop "$s"
                return 1
            fi
            taskset -c "$SERVER_CPU" nginx -p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" \
                -e "$TMP/nginx/error.log" >"$TMP/nginx/stdout.log" 2>&1 &
            ;;
        passenger|pm2)
            if ! command -v "$s" >/dev/null; then
                START_ERROR="$s is not installed"
                return 1
            fi
            if ! "${s}_start"; then
                # a daemon it left (started, then failed) is stopped by its pid file's pid
                [[ $s == passenger && -n $PASSENGER_PID ]] && SRV_PID[$s]=$PASSENGER_PID && server_stop "$s"
                return 1
            fi
            [[ $s == passenger ]] && pid=$PASSENGER_PID || pid=$PM2_PID
            ;;
        h2o)
            taskset -c "$SERVER_CPU" h2o -c "$TMP/h2o/h2o.conf" >"$TMP/h2o/stdout.log" 2>&1 &
            ;;
        haproxy)
            if ! command -v haproxy >/dev/null; then
                START_ERROR="haproxy is not installed"
                return 1
            fi
            # -db: foreground, one process (no master-worker); stopped by SIGTERM.
            taskset -c "$SERVER_CPU" haproxy -db -f "$TMP/haproxy/haproxy.cfg" \
                >"$TMP/haproxy/stdout.log" 2>&1 &
            ;;
        portico|baseline)
            if [[ ! -x ${SNAP_EXE[$s]} ]]; then
                START_ERROR="no executable at ${SNAP_BIN[$s]}"
                return 1
            fi
            taskset -c "$SERVER_CPU" "${SNAP_EXE[$s]}" -p "$TMP/$s/" -c "$TMP/$s/portico.conf" \
                >"$TMP/$s/stdout.log" 2>&1 &
            ;;
    esac
    [[ -n $pid ]] || pid=$!
    SRV_PID[$s]=$pid
    local i got
    for ((i = 0; i < START_WAIT; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null
            START_ERROR="exited with status $? before serving; output: $(server_log_tail "$s")"
            [[ $START_ERROR == *"output: " ]] && START_ERROR+="(none)"
            server_stop "$s"
            return 1
        fi
        got=$(curl -sk -o /dev/null --max-time 1 -w '%{http_code} %{size_download}' \
            "$SCHEME://127.0.0.1:$port$CHECK_PATH" 2>/dev/null)
        [[ $got == "200 $CHECK_SIZE" ]] && return 0
        sleep 0.1
    done
    START_ERROR="no '200, $CHECK_SIZE bytes' on $SCHEME://127.0.0.1:$port$CHECK_PATH within $((START_WAIT / 10)) s (last: '${got:-none}'); log: $(server_log_tail "$s")"
    server_stop "$s"
    return 1
}

child_pids() { cat /proc/"$1"/task/*/children 2>/dev/null; }

# PIDS and all their descendants.
descendants() {
    local p
    for p in "$@"; do
        echo "$p"
        # shellcheck disable=SC2046 # pids
        descendants $(child_pids "$p")
    done
}

# The processes of server $1's front end that are not descendants of SRV_PID: the ones
# in SRV_EXTRA and, for passenger, its temp-dir toucher (a daemon of its own, which it
# starts a moment after the watchdog; its pid file is in Passenger's temp dir).
front_extra() {
    local s=$1 f
    echo "${SRV_EXTRA[$s]:-}"
    if [[ $s == passenger ]]; then
        for f in "$TMP"/passenger/tmp/passenger-standalone.*/temp_dir_toucher.pid; do
            [[ -f $f ]] && cat "$f" 2>/dev/null
        done
    fi
}

# Start time of PID (clock ticks since boot): a pid recorded earlier is signalled only if
# it still names the same process.
# A zombie counts as gone.
proc_start() { sed 's/.*) //' /proc/"$1"/stat 2>/dev/null | awk '$1 != "Z" {print $20}'; }

# Stops server $1 by its pid (TERM, then KILL after 5 s), and every process of its stack
# left over (its descendants, SRV_EXTRA, SRV_APPS and their descendants, as they were
# before the TERM; each checked by its start time, so a reused pid is left alone).
server_stop() {
    local s=$1 pid=${SRV_PID[$1]:-} i p others=() left=()
    read -r -a others <<<"$(front_extra "$s" | tr '\n' ' ') ${SRV_APPS[$s]:-}"
    for p in $( ([[ -n $pid ]] && descendants "$pid"; descendants "${others[@]}") | sort -u); do
        left+=("$p:$(proc_start "$p")")
    done
    [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null
    for p in "${others[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for ((i = 0; i < 50; i++)); do
        local alive=0
        for p in "${left[@]}"; do
            [[ $(proc_start "${p%%:*}") == "${p#*:}" ]] && alive=1 && break
        done
        ((alive)) || break
        sleep 0.1
    done
    for p in "${left[@]}"; do
        [[ $(proc_start "${p%%:*}") == "${p#*:}" ]] && kill -KILL "${p%%:*}" 2>/dev/null
    done
    [[ -n $pid ]] && wait "$pid" 2>/dev/null
    for p in ${SRV_APPS[$s]:-}; do wait "$p" 2>/dev/null; done
    unset "SRV_PID[$s]" "SRV_EXTRA[$s]" "SRV_APPS[$s]"
}

# The process whose RSS counts for server $1: nginx's worker, else the process itself.
rss_pid() {
    local s=$1 pid=${SRV_PID[$1]}
    if [[ $s == nginx ]]; then
        child_pids "$pid" | awk '{print $1; exit}'
    else
        echo "$pid"
    fi
}

rss_kb() { awk '/^VmRSS:/ {print $2}' /proc/"$1"/status 2>/dev/null; }

record_fail() { # row server round message
    python3 "$BENCH_DIR/report.py" add-json "$RESULTS" \
        "$(python3 -c 'import json,sys; print(json.dumps({"type":"fail","row":int(sys.argv[1]),"server":sys.argv[2],"round":int(sys.argv[3]),"error":sys.argv[4]}))' "$@")"
    log "row $1 $2 round $3: FAILED: $4"
}

add_rec() { # JSON-object-as-python-dict-expression args... (sys.argv[1:] available as a)
    local expr=$1
    shift
    python3 "$BENCH_DIR/report.py" add-json "$RESULTS" \
        "$(python3 -c "import json,sys; a=sys.argv[1:]; print(json.dumps($expr))" "$@")"
}

# Probe every wanted server (in --servers and used by a selected row) once, with the
# static config, so a broken one is reported (and skipped) up front. HAProxy, Passenger
# and PM2 have no static config: they are only checked for being installed here, and
# started per row (row_probe).
probe_servers() {
    local s info
    SERVERS=()
    for s in ${SERVERS_WANTED//,/ }; do
        case $s in portico|baseline|nginx|h2o|haproxy|passenger|pm2) ;; *) die "unknown server $s" ;; esac
        wanted "$s" || continue
        if [[ $s == haproxy || $s == passenger || $s == pm2 ]]; then
            START_ERROR="$s is not installed"
            command -v "$s" >/dev/null && START_ERROR=""
        else
            server_start "$s" && START_ERROR=""
        fi
        if [[ -z $START_ERROR ]]; then
            info=$(server_version "$s")
            if [[ $s == haproxy || $s == passenger || $s == pm2 ]]; then
                log "$s: installed ($info)"
            else
                log "$s: ok on 127.0.0.1:${SRV_PORT[$s]} ($info)"
            fi
            add_rec '{"type":"server","server":a[0],"info":a[1]}' "$s" "$info"
            server_stop "$s"
            SERVERS+=("$s")
        else
            echo "$s: not available ($START_ERROR)"
            add_rec '{"type":"unavailable","server":a[0],"reason":a[1]}' "$s" "$START_ERROR"
        fi
    done
    ((${#SERVERS[@]})) || die "no server available"
}

# Servers that run row $1 (ROW_RUN): available, applicable to the row and, for rows
# with their own config (ROW_FEATURE), answering the row's CHECK_PATH through it.
# A server that fails that check is reported as "SERVER: not available (FEATURE): why".
row_probe() {
    local n=$1 s
    ROW_RUN=()
    for s in "${SERVERS[@]}"; do
        [[ " ${ROW_SERVERS[$n]} " == *" $s "* ]] || continue
        if [[ -n ${ROW_FEATURE[$n]:-} ]]; then
            if [[ $s == nginx && $CONF_MODE == stream && -n $NGINX_STREAM_WHY ]]; then
                START_ERROR=$NGINX_STREAM_WHY
            elif server_start "$s"; then
                START_ERROR=""
                if [[ $SCHEME == https ]]; then
                    tls_check "$n" "$s"
                    add_rec '{"type":"check","server":a[0],"row":int(a[1]),"info":a[2]}' "$s" "$n" "$TLS_INFO"
                    log "row $n $s: $TLS_INFO"
                fi
                server_stop "$s"
            fi
            if [[ -n $START_ERROR ]]; then
                echo "$s: not available (${ROW_FEATURE[$n]}) — row $n: $START_ERROR"
                add_rec '{"type":"unavailable","server":a[0],"row":int(a[1]),"feature":a[2],"reason":a[3]}' \
                    "$s" "$n" "${ROW_FEATURE[$n]}" "$START_ERROR"
                continue
            fi
        fi
        ROW_RUN+=("$s")
    done
}

server_version() {
    case $1 in
        nginx) nginx -v 2>&1 | sed 's/^nginx version: //' ;;
        h2o) h2o --version 2>&1 | head -n 1 ;;
        haproxy) haproxy -v 2>&1 | head -n 1 | sed 's/ - https.*//' ;;
        passenger) echo "$(passenger --version 2>&1 | head -n 1), Standalone, engine builtin; node $(node --version 2>&1)" ;;
        # not `pm2 --version`: that starts a PM2 daemon
        pm2) echo "PM2 $(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$(dirname "$(readlink -f "$(command -v pm2)")")/../package.json" 2>/dev/null | head -n 1), cluster mode; node $(node --version 2>&1)" ;;
        portico|baseline) echo "${SNAP_BIN[$1]} (${SNAP_STAMP[$1]}); $(portico_build_info "${SNAP_EXE[$1]}")" ;;
    esac
}

# Compiler flags of a portico binary (from DWARF), with a warning for
# unoptimized or sanitizer builds, which would not be a fair comparison.
portico_build_info() { # EXE
    local exe=$1 producer flags="" warn=""
    producer=$(readelf --debug-dump=info "$exe" 2>/dev/null | grep -m1 DW_AT_producer |
        sed 's/.*DW_AT_producer *: *\(([^)]*): *\)\{0,1\}//')
    [[ -n $producer ]] && flags="built with: $producer"
    if nm "$exe" 2>/dev/null | grep -q -m1 -E '__asan_init|__ubsan_handle|__tsan_init'; then
        warn="sanitizer build"
    elif [[ -n $producer && ! $producer =~ -O[123s] ]]; then
        warn="not optimized (no -O2/-O3)"
    fi
    [[ -n $warn ]] && flags+="; WARNING: $warn, not comparable"
    echo "${flags:-build flags unknown (no debug info)}"
}

# ------------------------------------------------------------------ measurements

wait_quiet() {
    ((WAIT_QUIET > 0)) || return 0
    local load
    load=$(run_tracked python3 "$BENCH_DIR/report.py" quiet "$WAIT_QUIET") ||
        log "machine still busy after ${WAIT_QUIET}s (other load $load CPU); measuring anyway"
}

# Extra arguments for report.py watch (rows 5-7: the origin's pid and status URL).
WATCH_EXTRA=()

# load_cmd TOOL SECONDS CONNS PORT PATH [extra args...]: sets LOAD_CMD, the load generator's
# command line. wrk (http or https by SCHEME), h2load (https, one thread, CONNS connections,
# -m streams each from the extra args) or tls_handshakes (CONNS processes; the extra arg is
# full or resume).
load_cmd() {
    local tool=$1 secs=$2 conns=$3 port=$4 path=$5
    shift 5
    case $tool in
        wrk) LOAD_CMD=(wrk -t1 -c"$conns" -d"${secs}s" --latency "$@" "$SCHEME://127.0.0.1:$port$path") ;;
        h2load) LOAD_CMD=(h2load -t1 -c"$conns" -D "$secs" "$@" "$SCHEME://127.0.0.1:$port$path") ;;
        hs) LOAD_CMD=("$HS_BIN" 127.0.0.1 "$port" "$path" "$secs" "$conns" "$@") ;;
        *) die "unknown load tool $tool" ;;
    esac
}

# wrk_measure ROW SERVER ROUND CONNS PATH [extra wrk args...]
# Fresh server, 1 s warm-up, then one wrk run of DURATION seconds.
wrk_measure() { LOAD_TOOL=wrk load_measure "$@"; }

# load_measure ROW SERVER ROUND CONNS PATH [extra args...]: wrk_measure with the load
# generator LOAD_TOOL (see load_cmd; its output is read as wrk's).
load_measure() {
    local row=$1 s=$2 round=$3 conns=$4 path=$5 tool=${LOAD_TOOL:-wrk}
    shift 5
    local out="$TMP/runs/row$row-$s-$round.txt"
    server_start "$s" || { record_fail "$row" "$s" "$round" "start: $START_ERROR"; return 1; }
    local also=()
    if [[ $CONF_MODE == app ]]; then
        # The whole stack is the server: front end and app processes, all on SERVER_CPU.
        if ! app_wait "$s"; then
            record_fail "$row" "$s" "$round" "$START_ERROR"
            server_stop "$s"
            return 1
        fi
        also=(--also "$(stack_arg "$(front_extra "$s")" "${SRV_APPS[$s]:-}")")
    fi
    wait_quiet
    load_cmd "$tool" "$WARMUP" "$conns" "${SRV_PORT[$s]}" "$path" "$@"
    run_tracked timeout $((WARMUP + 15)) taskset -c "$CLIENT_CPU" "${LOAD_CMD[@]}" >/dev/null 2>&1
    load_cmd "$tool" "$DURATION" "$conns" "${SRV_PORT[$s]}" "$path" "$@"
    run_tracked python3 "$BENCH_DIR/report.py" watch "$out.cpu" $((DURATION + 30)) "${SRV_PID[$s]}" \
        "$SERVER_CPU" "$CLIENT_CPU" "${WATCH_EXTRA[@]}" "${also[@]}" -- \
        taskset -c "$CLIENT_CPU" "${LOAD_CMD[@]}" >"$out" 2>&1
    local rc=$?
    # Row 9: the memory of the stack right after the load, while it still runs.
    [[ $CONF_MODE == app && -f $out.cpu ]] && python3 "$BENCH_DIR/report.py" stack-mem "$out.cpu" \
        "$(stack_arg "${SRV_PID[$s]}" "$(front_extra "$s")")" "$(stack_arg "${SRV_APPS[$s]:-}")"
    if ! kill -0 "${SRV_PID[$s]}" 2>/dev/null; then
        record_fail "$row" "$s" "$round" "server died during the run"
    elif ((rc != 0)); then
        record_fail "$row" "$s" "$round" "$tool exited with $rc: $(tail -n 2 "$out" | tr '\n' ' ')"
    else
        local summary
        summary=$(python3 "$BENCH_DIR/report.py" add-wrk "$RESULTS" "$row" "$s" "$round" "$out" "$out.cpu")
        log "row $row $s round $round: $summary"
    fi
    server_stop "$s"
}

# stack_arg PIDS...: the pids (words or lines of the arguments) as one comma-separated argument.
stack_arg() { local p; read -r -a p <<<"$(tr '\n' ' ' <<<"$*")"; local IFS=,; echo "${p[*]}"; }

# Row 9: waits (up to 20 s) until server $1's stack has its 2 app processes (Passenger
# starts the second one after the first request; portico and PM2 start both at once).
app_wait() {
    local s=$1 i n=0
    for ((i = 0; i < 200; i++)); do
        n=$(python3 "$BENCH_DIR/report.py" stack-count "$(stack_arg "${SRV_PID[$s]}" "$(front_extra "$s")")" \
            "$(stack_arg "${SRV_APPS[$s]:-}")")
        ((n == 2)) && return 0
        sleep 0.1
    done
    START_ERROR="the stack has $n app processes after 20 s, not 2"
    return 1
}

# mem_measure ROW SERVER ROUND CONNS
# RSS of the server before vs after CONNS idle keep-alive connections (one request each).
mem_measure() {
    local row=$1 s=$2 round=$3 conns=$4
    local ready="$TMP/runs/row$row-$s-$round.ready" out="$TMP/runs/row$row-$s-$round.txt"
    server_start "$s" || { record_fail "$row" "$s" "$round" "start: $START_ERROR"; return 1; }
    local port=${SRV_PORT[$s]} rpid before after
    rpid=$(rss_pid "$s")
    [[ -n $rpid ]] || { record_fail "$row" "$s" "$round" "no worker process found"; server_stop "$s"; return 1; }

    # Warm-up: 64 connections, one request each, then closed; so one-time
    # allocations land in the baseline rather than in the delta.
    idle_clients "$port" 64 "$ready.warm" "$out.warm" >/dev/null || true
    sleep 0.5
    before=$(rss_kb "$rpid")

    rm -f "$ready"
    taskset -c "$CLIENT_CPU" timeout 300 "$IDLE_BIN" "$port" "$conns" /1k.bin "$ready" 256 120 \
        >"$out" 2>"$out.err" &
    local cpid=$! i
    CHILD_PIDS+=("$cpid")
    for ((i = 0; i < 1300; i++)); do
        [[ -s $ready ]] && break
        kill -0 "$cpid" 2>/dev/null || break
        sleep 0.1
    done
    sleep 1
    after=$(rss_kb "$rpid")
    kill -TERM "$cpid" 2>/dev/null
    wait "$cpid" 2>/dev/null
    untrack "$cpid"

    # set by the eval from idle_conns' summary line ("open" is unused)
    # shellcheck disable=SC2034
    local ok=0 failed=0 closed=0 open=0
    eval "$(grep -o 'ok=[0-9]* failed=[0-9]* closed_by_peer=[0-9]* open=[0-9]*' "$out" | sed 's/closed_by_peer/closed/')"
    if [[ -z $before || -z $after ]] || ((ok == 0)); then
        record_fail "$row" "$s" "$round" "no idle connections established (rss '$before'→'$after'): $(head -n 3 "$out.err" | tr '\n' ' ')"
    else
        local bpc=$(((after - before) * 1024 / ok))
        python3 "$BENCH_DIR/report.py" add-json "$RESULTS" \
            "{\"type\":\"result\",\"row\":$row,\"server\":\"$s\",\"round\":$round,\"bytes_per_conn\":$bpc,\"rss_before_kb\":$before,\"rss_after_kb\":$after,\"ok\":$ok,\"failed\":$failed,\"closed_by_peer\":$closed}"
        log "row $row $s round $round: $bpc bytes/conn (RSS ${before}→${after} KiB, $ok open, $failed failed, $closed closed by server)"
    fi
    server_stop "$s"
}

# idle_clients PORT N READY OUT — open N connections, one request each, close them all.
idle_clients() {
    local port=$1 n=$2 ready=$3 out=$4 i
    rm -f "$ready"
    taskset -c "$CLIENT_CPU" timeout 60 "$IDLE_BIN" "$port" "$n" /1k.bin "$ready" 64 30 >"$out" 2>&1 &
    local cpid=$!
    CHILD_PIDS+=("$cpid")
    for ((i = 0; i < 350; i++)); do
        [[ -s $ready ]] && break
        kill -0 "$cpid" 2>/dev/null || break
        sleep 0.1
    done
    kill -TERM "$cpid" 2>/dev/null
    wait "$cpid" 2>/dev/null
    untrack "$cpid"
}

# ------------------------------------------------------------------ rows
# Each row N defines ROW_TITLE[N], ROW_KIND[N] (wrk|mem), ROW_MIBPS[N] (1 = show MiB/s),
# ROW_SERVERS[N] (the servers the row applies to), rowN_run SERVER ROUND, and optionally
# rowN_setup / rowN_teardown (run once around the row; a non-zero setup skips the row)
# and ROW_FEATURE[N] (rows with their own config: each server is first started with it
# and, if it does not answer, reported as "not available (FEATURE)" for that row).

declare -A ROW_TITLE=() ROW_KIND=() ROW_MIBPS=() ROW_SERVERS=() ROW_FEATURE=()
declare -A ROW_BODY_KIB=() # a row's response body in KiB (uncompressed): the table adds the
                           # server CPU per MiB of it

ROW_SERVERS[1]="portico nginx h2o"
ROW_TITLE[1]="1 KiB file, keep-alive, 64 conns"; ROW_KIND[1]=wrk; ROW_MIBPS[1]=0
row1_run() { wrk_measure 1 "$1" "$2" 64 /1k.bin; }

ROW_SERVERS[2]="portico nginx h2o"
ROW_TITLE[2]="1 MiB file, keep-alive, 16 conns"; ROW_KIND[2]=wrk; ROW_MIBPS[2]=1
row2_run() { wrk_measure 2 "$1" "$2" 16 /1m.bin; }

ROW_SERVERS[3]="portico nginx h2o"
ROW_TITLE[3]="1 KiB file, new connection per request, 64 conns"; ROW_KIND[3]=wrk; ROW_MIBPS[3]=0
row3_run() { wrk_measure 3 "$1" "$2" 64 /1k.bin -H 'Connection: close'; }

ROW_SERVERS[4]="portico nginx h2o"
ROW_TITLE[4]="idle keep-alive conns: memory at $IDLE_CONNS"; ROW_KIND[4]=mem; ROW_MIBPS[4]=0
row4_setup() {
    local lo hi
    read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
    if ((hi - lo + 1 < IDLE_CONNS + 2000)); then
        log "row 4: local port range $lo-$hi is too small for $IDLE_CONNS connections;" \
            "widen it (sysctl net.ipv4.ip_local_port_range) or use --idle-conns"
        return 1
    fi
    ROW_TITLE[4]="idle keep-alive conns: memory at $IDLE_CONNS"
}
row4_run() { mem_measure 4 "$1" "$2" "$IDLE_CONNS"; }

# ---- rows 5-7: reverse proxy. The proxy under test runs on SERVER_CPU; wrk and the
# origin (one nginx worker, see write_origin_config) share CLIENT_CPU. The origin is
# started once per row and is the same for every proxy; report.py accounts its CPU
# time separately (origin_cpu) and reads its stub_status around each measured run.

# Upstream keep-alive, the same for nginx and portico: a pool of 32 idle connections
# per worker, HTTP/1.1 and no "Connection: close" to the origin. keepalive_requests in
# upstream {} (nginx's default 1000) is raised so that, like HAProxy and h2o, neither
# closes an upstream connection after N requests (at 30k req/s over 32 connections the
# default would reconnect each of them every ~1 s).
PROXY_UPSTREAM_CONF="    upstream origin {
        server 127.0.0.1:%ORIGIN%;
        keepalive 32;
        keepalive_requests 1000000;
    }"
PROXY_LOCATION_CONF="        location /p/ {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }"

proxy_rows_setup() { # CONF_MODE
    CONF_MODE=$1
    if [[ $CONF_MODE == proxy ]]; then
        NGINX_HTTP_EXTRA=${PROXY_UPSTREAM_CONF//%ORIGIN%/${SRV_PORT[origin]}}
        NGINX_EXTRA=$PROXY_LOCATION_CONF
        # h2o 2.2 keeps upstream connections alive by default (proxy.timeout.keepalive 2 s).
        H2O_EXTRA_PATHS="      /p/:
        proxy.reverse.url: http://127.0.0.1:${SRV_PORT[origin]}/p/"
        CHECK_PATH=/p/1k.bin
    else
        CHECK_PATH=/1k.bin # through the TCP proxy to the origin's static file
    fi
    write_configs
    origin_start || return 1
    WATCH_EXTRA=(--aux "${SRV_PID[origin]}" --status "http://127.0.0.1:${SRV_PORT[origin]}/origin_status")
}

proxy_rows_teardown() {
    server_stop origin
    CONF_MODE=static
    NGINX_HTTP_EXTRA=""
    NGINX_EXTRA=""
    H2O_EXTRA_PATHS=""
    CHECK_PATH=/1k.bin
    WATCH_EXTRA=()
    write_configs
}

ROW_TITLE[5]="proxy: 1 KiB response, keep-alive both sides, 32 conns"; ROW_KIND[5]=wrk; ROW_MIBPS[5]=0
ROW_SERVERS[5]="portico nginx h2o haproxy"; ROW_FEATURE[5]="http proxy"
row5_setup() { proxy_rows_setup proxy; }
row5_run() { wrk_measure 5 "$1" "$2" 32 /p/1k.bin; }
row5_teardown() { proxy_rows_teardown; }

ROW_TITLE[6]="proxy: 1 MiB response, keep-alive both sides, 8 conns"; ROW_KIND[6]=wrk; ROW_MIBPS[6]=1
ROW_SERVERS[6]="portico nginx h2o haproxy"; ROW_FEATURE[6]="http proxy"
row6_setup() { proxy_rows_setup proxy; }
row6_run() { wrk_measure 6 "$1" "$2" 8 /p/1m.bin; }
row6_teardown() { proxy_rows_teardown; }

# Row 7: TCP proxy (nginx/portico stream {}, HAProxy mode tcp) in front of the origin;
# wrk fetches 1 MiB files through it over 8 keep-alive connections (each client
# connection is one origin connection). h2o has no plain TCP proxy.
ROW_TITLE[7]="stream (TCP) proxy: 1 MiB HTTP responses through it, 8 conns"; ROW_KIND[7]=wrk; ROW_MIBPS[7]=1
ROW_SERVERS[7]="portico nginx haproxy"; ROW_FEATURE[7]="stream"
row7_setup() { proxy_rows_setup stream; }
row7_run() { wrk_measure 7 "$1" "$2" 8 /1m.bin; }
row7_teardown() { proxy_rows_teardown; }

# Row 8: on-the-fly gzip of a 100 KiB text file (HTML-like words), level 6 for both (Debian's
# nginx.conf suggests gzip_comp_level 6; the research's reference setups use it). CPU per
# uncompressed MiB = 1 / (req per server CPU-second x 100/1024).
ROW_TITLE[8]="gzip'd 100 KiB text (gzip_comp_level 6), keep-alive, 16 conns"; ROW_KIND[8]=wrk; ROW_MIBPS[8]=0
ROW_SERVERS[8]="portico nginx"; ROW_FEATURE[8]="gzip"
row8_setup() {
    gzip_text_file
    NGINX_EXTRA="$GZIP_CONF"
    write_configs
}
GZIP_CONF="        gzip on;
        gzip_comp_level 6;
        gzip_types text/plain;"
# TMP/www/100k.txt: 100 KiB of HTML-like words (rows 8 and 15).
gzip_text_file() {
    python3 -c 'import random, sys
r = random.Random(8)
words = ["<div>", "</div>", "<p class=\"item\">", "portico", "server", "static", "proxy",
         "compression", "the", "of", "and", "a", "to", "in", "is", "for", "with", "\n"]
out = []
n = 0
while n < 100 * 1024:
    w = r.choice(words) + " "
    out.append(w)
    n += len(w)
sys.stdout.write("".join(out)[:100 * 1024])' >"$TMP/www/100k.txt"
    chmod 644 "$TMP/www/100k.txt"
}
row8_run() { wrk_measure 8 "$1" "$2" 16 /100k.txt -H 'Accept-Encoding: gzip'; }
row8_teardown() {
    NGINX_EXTRA=""
    write_configs
}

# Row 9: an app of 2 Node processes (the same hello-world app.js, 12-byte body) behind
# each server, the whole stack on SERVER_CPU: portico with Passenger's directives (it
# starts the 2 processes itself), nginx proxy_pass to 2 node processes started by hand
# (upstream keepalive as in row 5, the pool as large as wrk's 64 connections, so that nginx
# never closes an upstream connection for want of room), Passenger Standalone
# (--min-instances 2), PM2 cluster
# mode (-i 2). Also measured: the memory (PSS) of the front end and of the whole stack.
ROW_TITLE[9]="app: 2 Node processes (hello world), keep-alive, 64 conns"; ROW_KIND[9]=app; ROW_MIBPS[9]=0
ROW_SERVERS[9]="portico nginx passenger pm2"; ROW_FEATURE[9]="node app"
row9_setup() {
    if ! command -v node >/dev/null; then
        log "row 9: node is not installed (package nodejs); skipped"
        return 1
    fi
    CONF_MODE=app
    CHECK_PATH=/
    CHECK_SIZE=12
    START_WAIT=150
    NGINX_HTTP_EXTRA="    upstream app_nodes {
        server unix:$TMP/app/node1.sock;
        server unix:$TMP/app/node2.sock;
        keepalive 64;
        keepalive_requests 1000000;
    }"
    NGINX_EXTRA="        location / {
            proxy_pass http://app_nodes;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }"
    write_configs
}
row9_run() { wrk_measure 9 "$1" "$2" 64 /; }
row9_teardown() {
    CONF_MODE=static
    CHECK_PATH=/1k.bin
    CHECK_SIZE=1024
    START_WAIT=50
    NGINX_HTTP_EXTRA=""
    NGINX_EXTRA=""
    write_configs
}

# ---- rows 10-15: HTTPS. TLS 1.3 only (ssl_protocols TLSv1.3 and the peers' equivalents),
# OpenSSL's default TLS 1.3 ciphers and groups (the clients' OpenSSL picks
# TLS_AES_256_GCM_SHA384 with X25519), the same ECDSA P-256 certificate (tls_files) for
# every server, each server's session cache and tickets on as its tuned users run it:
# nginx and portico `ssl_session_cache shared:SSL:10m; ssl_session_timeout 1h;` (tickets on,
# nginx's default), the default ssl_buffer_size 16k; nginx also `open_file_cache` (portico's
# file cache is always on). h2o: ssl-session-resumption mode all. HAProxy: its defaults
# (cache and tickets), answering /1k.bin with `http-request return` (haproxy_tls_config).
# The listener offers h2 and http/1.1 by ALPN everywhere; wrk and tls_handshakes offer no h2.
TLS_SERVER_CONF="        ssl_certificate %TMP%/tls/cert.pem;
        ssl_certificate_key %TMP%/tls/key.pem;
        ssl_protocols TLSv1.3;
        ssl_session_cache shared:SSL:10m;
        ssl_session_timeout 1h;"
NGINX_TUNING="        open_file_cache max=1000 inactive=20s;
        open_file_cache_valid 30s;"

tls_rows_setup() {
    SCHEME=https
    LISTEN_OPTS=" ssl http2"
    NGINX_EXTRA=${TLS_SERVER_CONF//%TMP%/$TMP}${1:+
$1}
    NGINX_ONLY_EXTRA=$NGINX_TUNING
    write_configs
}
tls_rows_teardown() {
    SCHEME=http
    LISTEN_OPTS=""
    NGINX_EXTRA=""
    NGINX_ONLY_EXTRA=""
    write_configs
}

# tls_check ROW SERVER: what the server negotiates with curl (TLS version and cipher, ALPN; row
# 11 asks for h2). Sets TLS_INFO, or START_ERROR when it is not TLS 1.3 (row 11: not h2).
tls_check() {
    local row=$1 s=$2 v ver alpn http=--http1.1
    [[ $row == 11 ]] && http=--http2
    v=$(curl -skv "$http" -o /dev/null --max-time 3 \
        "https://127.0.0.1:${SRV_PORT[$s]}/1k.bin" 2>&1)
    ver=$(sed -n 's/^\* SSL connection using //p' <<<"$v" | head -n 1)
    alpn=$(sed -n 's/^\* ALPN: server accepted //p' <<<"$v" | head -n 1)
    TLS_INFO="${ver:-no TLS}, ALPN ${alpn:-none}"
    if [[ $ver != TLSv1.3* ]]; then
        START_ERROR="curl negotiated ${ver:-nothing}, not TLSv1.3"
    elif [[ $row == 11 && $alpn != h2 ]]; then
        START_ERROR="ALPN ${alpn:-none}, not h2"
    fi
}

ROW_TITLE[10]="HTTPS 1 KiB file, keep-alive, HTTP/1.1, 64 conns"; ROW_KIND[10]=wrk; ROW_MIBPS[10]=0
ROW_SERVERS[10]="portico nginx h2o haproxy"; ROW_FEATURE[10]="tls"
row10_setup() { tls_rows_setup; }
row10_run() { wrk_measure 10 "$1" "$2" 64 /1k.bin; }
row10_teardown() { tls_rows_teardown; }

# Row 11: h2load, one thread, 16 connections x 32 concurrent streams = 512 requests in flight.
H2_CONNS=16
H2_STREAMS=32
ROW_TITLE[11]="HTTP/2 over TLS, 1 KiB file, $H2_CONNS conns x $H2_STREAMS streams (h2load)"; ROW_KIND[11]=wrk; ROW_MIBPS[11]=0
ROW_SERVERS[11]="portico nginx h2o haproxy"; ROW_FEATURE[11]="tls"
row11_setup() { tls_rows_setup; }
row11_run() { LOAD_TOOL=h2load load_measure 11 "$1" "$2" "$H2_CONNS" /1k.bin -m "$H2_STREAMS"; }
row11_teardown() { tls_rows_teardown; }

# Rows 12-13: a new TLS connection per request (tls_handshakes.c, HS_PROCS processes on the
# client's CPU), full handshakes (no session offered) and resumed ones (the newest ticket).
# Full handshakes are bound by the client (it verifies each ECDSA signature and does the
# same key exchange), so compare server CPU per handshake.
HS_PROCS=4
ROW_TITLE[12]="new TLS connections, full handshake + 1 KiB GET each, $HS_PROCS clients"; ROW_KIND[12]=hs; ROW_MIBPS[12]=0
ROW_SERVERS[12]="portico nginx h2o haproxy"; ROW_FEATURE[12]="tls"
row12_setup() { tls_rows_setup; }
row12_run() { LOAD_TOOL=hs load_measure 12 "$1" "$2" "$HS_PROCS" /1k.bin full; }
row12_teardown() { tls_rows_teardown; }

ROW_TITLE[13]="new TLS connections, resumed (TLS 1.3 ticket) + 1 KiB GET each, $HS_PROCS clients"; ROW_KIND[13]=hs; ROW_MIBPS[13]=0
ROW_SERVERS[13]="portico nginx h2o haproxy"; ROW_FEATURE[13]="tls"
row13_setup() { tls_rows_setup; }
row13_run() { LOAD_TOOL=hs load_measure 13 "$1" "$2" "$HS_PROCS" /1k.bin resume; }
row13_teardown() { tls_rows_teardown; }

ROW_TITLE[14]="HTTPS 1 MiB file, keep-alive, 16 conns"; ROW_KIND[14]=wrk; ROW_MIBPS[14]=1
ROW_SERVERS[14]="portico nginx h2o"; ROW_FEATURE[14]="tls"
row14_setup() { tls_rows_setup; }
row14_run() { wrk_measure 14 "$1" "$2" 16 /1m.bin; }
row14_teardown() { tls_rows_teardown; }

# Row 15: row 8 over HTTPS (gzip_comp_level 6, 16 conns).
ROW_TITLE[15]="HTTPS gzip'd 100 KiB text (gzip_comp_level 6), keep-alive, 16 conns"; ROW_KIND[15]=wrk; ROW_MIBPS[15]=0
ROW_SERVERS[15]="portico nginx"; ROW_FEATURE[15]="gzip over tls"; ROW_BODY_KIB[15]=100
row15_setup() {
    gzip_text_file
    tls_rows_setup "$GZIP_CONF"
}
row15_run() { wrk_measure 15 "$1" "$2" 16 /100k.txt -H 'Accept-Encoding: gzip'; }
row15_teardown() { tls_rows_teardown; }

# The --baseline portico runs wherever portico runs (only if it is in --servers).
for n in "${!ROW_SERVERS[@]}"; do ROW_SERVERS[$n]=${ROW_SERVERS[$n]/portico/portico baseline}; done
unset n

# The servers of ROW_RUN in the order round $1 runs them. portico and baseline swap
# places on even rounds (portico, baseline, ... then baseline, portico, ...), so a drift
# of the machine within a round does not always favour the same build.
round_order() {
    local s out=()
    for s in "${ROW_RUN[@]}"; do
        if (($1 % 2 == 0)) && [[ " ${ROW_RUN[*]} " == *" portico "* && " ${ROW_RUN[*]} " == *" baseline "* ]]; then
            case $s in portico) s=baseline ;; baseline) s=portico ;; esac
        fi
        out+=("$s")
    done
    echo "${out[*]}"
}

run_row() {
    local n=$1 round s
    declare -F "row${n}_run" >/dev/null || die "no such row $n"
    if declare -F "row${n}_setup" >/dev/null; then
        if ! "row${n}_setup"; then
            if declare -F "row${n}_teardown" >/dev/null; then "row${n}_teardown"; fi
            return 0
        fi
    fi
    log "row $n: ${ROW_TITLE[$n]}"
    add_rec '{"type":"row","row":int(a[0]),"title":a[1],"kind":a[2],"show_mibps":a[3]=="1",**({"body_kib":int(a[4])} if a[4] else {})}' \
        "$n" "${ROW_TITLE[$n]}" "${ROW_KIND[$n]}" "${ROW_MIBPS[$n]}" "${ROW_BODY_KIB[$n]:-}"
    row_probe "$n"
    if ((${#ROW_RUN[@]})); then
        log "row $n: servers ${ROW_RUN[*]}"
        for ((round = 1; round <= ROUNDS; round++)); do
            for s in $(round_order "$round"); do
                "row${n}_run" "$s" "$round"
            done
        done
    else
        log "row $n: no server available; skipped"
    fi
    if declare -F "row${n}_teardown" >/dev/null; then "row${n}_teardown"; fi
}

# ------------------------------------------------------------------ main

main() {
    parse_args "$@"
    local n
    for n in ${ROWS//,/ }; do declare -F "row${n}_run" >/dev/null || die "no such row $n"; done
    trap cleanup EXIT
    trap 'log "interrupted"; exit 130' INT TERM
    ensure_tools
    raise_limits
    check_cpus
    make_files
    rows_include 10 11 12 13 14 15 && tls_files
    snapshot_portico portico "$PORTICO_BIN"
    if [[ -n $BASELINE_BIN ]]; then
        snapshot_portico baseline "$BASELINE_BIN"
        if [[ -n ${SNAP_EXE[portico]} ]] && cmp -s "${SNAP_EXE[portico]}" "${SNAP_EXE[baseline]}"; then
            log "warning: --baseline $BASELINE_BIN is the same file content as $PORTICO_BIN"
        fi
    fi
    build_helpers
    pick_ports
    write_configs
    python3 "$BENCH_DIR/report.py" add-json "$RESULTS" \
        "$(python3 -c 'import json,sys; a=sys.argv; print(json.dumps({"type":"meta","date":a[1],"rounds":int(a[2]),"duration":int(a[3]),"server_cpu":a[4],"client_cpu":a[5],"host":a[6],**({"baseline":a[7],"portico":a[8]} if a[7] else {})}))' \
            "$(date '+%Y-%m-%d %H:%M:%S %Z')" "$ROUNDS" "$DURATION" "$SERVER_CPU" "$CLIENT_CPU" \
            "Host: $(nproc) CPUs, $(uname -r); $(nginx -v 2>&1 | sed 's/^nginx version: //'); $(h2o --version 2>&1 | head -n 1)$(command -v haproxy >/dev/null && wanted haproxy && echo "; $(server_version haproxy)"); wrk -t1 --latency; open files limit $(ulimit -n).$(rows_include 5 6 7 && echo " Rows 5-7: the origin (one nginx worker) runs on CPU $CLIENT_CPU with wrk.")" \
            "$BASELINE_BIN" "$PORTICO_BIN")"
    probe_servers
    log "servers: ${SERVERS[*]}; rows: $ROWS; $ROUNDS round(s) of ${DURATION}s"

    for n in ${ROWS//,/ }; do run_row "$n"; done

    mkdir -p "$BENCH_DIR/out"
    local report
    report="$BENCH_DIR/out/results-$(date +%Y%m%d-%H%M%S).md"
    python3 "$BENCH_DIR/report.py" table "$RESULTS" >"$report" || die "report failed"
    echo
    cat "$report"
    log "written to $report"
}

main "$@"; exit $?
