# The harness every integration test shares (sourced by tests/integration/test_*.sh and by
# exporters/kafka/test_lib.sh, never run): where the binaries are, skips for missing tools, a
# work directory, every started process stopped by PID on exit, bounded waits, free ports,
# starting and stopping cotel, cotel's own metrics, and the JS peers of tests/js.
# A test must not define functions of these names: the helpers call each other.

# Where things are. ctest sets the COTEL_* variables; the defaults fit a build in $SRC/build.
SRC=${COTEL_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
BUILD=${COTEL_BUILD_DIR:-$SRC/build}
COTEL=${COTEL_BIN:-$BUILD/cmd/cotel/cotel}
KD=${COTEL_KAFKA_DEV:-$BUILD/tools/kafka-dev/cotel-kafka-dev}
RAW=$BUILD/tools/otlp-raw-client/otlp-raw-client
JS=$SRC/tests/js

# require_built FILE...: a build output that is missing fails the test; it is not a skip.
require_built() {
    local f
    for f in "$@"; do
        if [ ! -x "$f" ]; then
            echo "FAIL: not built: $f" >&2
            exit 1
        fi
    done
}

# require_tools TOOL...: a tool that is not installed skips the test (exit 77).
require_tools() {
    local tool
    for tool in "$@"; do
        if ! command -v "$tool" >/dev/null; then
            echo "SKIP: $tool not installed (scripts/install-deps.sh installs it)"
            exit 77
        fi
    done
}

# require_js: node and the packages of tests/js. When they are missing, npm ci installs them,
# under a lock because tests run in parallel; an npm ci that fails fails the test.
require_js() {
    require_tools node
    if [ ! -d "$JS/node_modules/@opentelemetry" ]; then
        require_tools npm flock
        flock /tmp/cotel-tests-npm-ci.lock sh -c "cd '$JS' &&
            { [ -d node_modules/@opentelemetry ] ||
              timeout 600 npm ci --no-audit --no-fund --loglevel=error; }" >&2 ||
            { echo "FAIL: npm ci in tests/js failed" >&2; exit 1; }
    fi
}

# What the harness itself runs.
require_tools python3 curl timeout

# The test's scratch directory, removed on exit (KEEP_WORK=1 keeps it for a look).
work=$(mktemp -d "${TMPDIR:-/tmp}/cotel-$(basename "$0" .sh).XXXXXX")

# The processes to stop on exit: cotel_pid is the cotel start_cotel started last, kd_pid the
# Kafka development broker (test_lib.sh), bg_pids every other the test started (see track).
cotel_pid=""
kd_pid=""
bg_pids=()

# track PID...: stop these processes on exit too.
track() {
    bg_pids+=("$@")
}

# forget PID: a process that has ended and been reaped is left alone (its PID may be reused).
forget() {
    local kept=() pid
    for pid in "${bg_pids[@]}"; do
        [ "$pid" = "$1" ] || kept+=("$pid")
    done
    bg_pids=("${kept[@]}")
}

# descendants PID...: the processes these started, and those they started, and so on.
descendants() {
    ps -e -o pid=,ppid= | awk -v roots=" $* " '
        { parent[$1] = $2 }
        END {
            do {
                more = 0
                for (p in parent)
                    if (!(p in mine) && (index(roots, " " parent[p] " ") || parent[p] in mine)) {
                        mine[p] = 1
                        more = 1
                    }
            } while (more)
            for (p in mine)
                print p
        }'
}

# On exit: SIGTERM to every process still known and to what they started (a helper run in the
# background is a subshell whose child does the work), SIGKILL to any still running 10 s
# later, the work directory removed; the test's exit status is kept. Only children of this
# shell count: a PID that was reaped without forget may belong to another process by now.
cleanup() {
    local status=$? pid deadline=$((SECONDS + 10)) pids=()
    for pid in $cotel_pid $kd_pid "${bg_pids[@]}"; do
        if [ "$(ps -o ppid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$$" ]; then
            pids+=("$pid")
        fi
    done
    if [ "${#pids[@]}" -gt 0 ]; then
        pids+=($(descendants "${pids[@]}" || true))
    fi
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "process $pid ignored SIGTERM for 10 s: killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    if [ "${KEEP_WORK:-0}" = 1 ]; then
        echo "work directory kept: $work"
    else
        rm -rf "$work" || true
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Logs that fail shows besides $work/*.err (a test adds files that do not end in .err).
FAIL_LOGS=()

# fail MESSAGE: ends the test with status 1, after the last lines of each log of the test.
fail() {
    local f
    echo "FAIL: $*" >&2
    for f in "$work"/*.err "${FAIL_LOGS[@]}"; do
        [ -s "$f" ] || continue
        echo "--- $(basename "$f") (last 30 lines)" >&2
        tail -n 30 "$f" >&2
    done
    exit 1
}

# pass MESSAGE: a check that passed.
passes=0
pass() {
    passes=$((passes + 1))
    echo "PASS: $*"
}

# soft_fail MESSAGE: a check that failed, for tests that go on to report every check; such a
# test ends with finish.
failures=0
soft_fail() {
    failures=$((failures + 1))
    echo "FAIL: $*"
}

# finish: the tally of pass and soft_fail; exits 0, or with any failure, 1 after the logs.
finish() {
    echo "$passes passed, $failures failed"
    [ "$failures" -eq 0 ] || fail "$failures of $((passes + failures)) checks failed"
    exit 0
}

# wait_for SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds; returns 1 when
# SECONDS pass first.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on, chosen by the kernel, and never
# one handed out before in this test (they are noted in $work/.ports).
free_port() {
    python3 - "$work/.ports" <<'EOF'
import socket, sys

try:
    given = set(open(sys.argv[1]).read().split())
except FileNotFoundError:
    given = set()
held = []
for _ in range(100):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)  # kept open until a new one is found, so the kernel offers another
    port = str(s.getsockname()[1])
    if port not in given:
        break
for s in held:
    s.close()
with open(sys.argv[1], "a") as f:
    f.write(port + "\n")
print(port)
EOF
}

# port_open PORT: true when something accepts connections on 127.0.0.1:PORT.
port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# cotel_ready PID LOG: true once the cotel PID has logged to LOG that everything is ready;
# fails the test at once when that cotel has exited.
cotel_ready() {
    kill -0 "$1" 2>/dev/null || fail "cotel exited before it was ready: $(tail -n 5 "$2")"
    grep -q "everything is ready" "$2"
}

# start_cotel CONFIG [NAME]: starts cotel on CONFIG with its stdout and stderr in
# $work/NAME.out and $work/NAME.err (NAME: cotel), and waits at most 20 s until it is ready.
# Sets cotel_pid; every cotel started is tracked, so one started before still stops on exit.
start_cotel() {
    local config=$1 name=${2:-cotel}
    : >"$work/$name.err"
    "$COTEL" --config "$config" >"$work/$name.out" 2>"$work/$name.err" &
    cotel_pid=$!
    track "$cotel_pid"
    wait_for 20 cotel_ready "$cotel_pid" "$work/$name.err" ||
        fail "cotel ($name) not ready within 20 s"
}

# wait_exit PID SECONDS [WHAT]: PID must end within SECONDS (or the test fails); reaps it and
# sets RC to its exit status.
wait_exit() {
    local pid=$1 seconds=$2 what=${3:-process $1}
    wait_for "$seconds" eval "! kill -0 $pid 2>/dev/null" ||
        fail "$what still running after $seconds s"
    RC=0
    wait "$pid" || RC=$?
    forget "$pid"
    [ "$cotel_pid" != "$pid" ] || cotel_pid=""
    [ "$kd_pid" != "$pid" ] || kd_pid=""
}

# stop_pid PID SECONDS [WHAT]: SIGTERM, then wait_exit.
stop_pid() {
    kill -TERM "$1" 2>/dev/null || true
    wait_exit "$@"
}

# stop_cotel [SECONDS]: SIGTERM to cotel_pid, which must end within SECONDS (40); sets RC.
stop_cotel() {
    stop_pid "$cotel_pid" "${1:-40}" cotel
}

# stop_cotel_clean [SECONDS]: stop_cotel, and cotel must exit with 0.
stop_cotel_clean() {
    stop_cotel "$@"
    [ "$RC" -eq 0 ] || fail "cotel exited with status $RC after SIGTERM"
}

# metric_value PORT NAME [LABEL...]: a metric from cotel's own Prometheus endpoint on
# 127.0.0.1:PORT: the value of the sample of NAME whose labels include every LABEL (such as
# exporter="kafka", no spaces), the sum when several match, nothing when none does.
metric_value() {
    local port=$1 name=$2
    shift 2
    curl -s --max-time 5 "http://127.0.0.1:$port/metrics" |
        awk -v name="$name" -v want="$*" '
            BEGIN { n = split(want, labels, " ") }
            index($0, name "{") == 1 || index($0, name " ") == 1 {
                set = substr($0, length(name) + 1)
                set = substr(set, 1, index(set, " ") - 1)
                inner = "," substr(set, 2, length(set) - 2) ","
                for (i = 1; i <= n; i++)
                    if (!index(inner, "," labels[i] ","))
                        next
                count++
                sum += $NF
                last = $NF
            }
            END {
                if (count == 1)
                    print last
                else if (count > 1)
                    printf "%.15g\n", sum
            }'
}

# json_field FILE PATH: a field of a JSON file, PATH as a.b.c; objects and lists printed as
# compact JSON. A missing field or file prints nothing and returns 1.
json_field() {
    python3 - "$1" "$2" <<'EOF'
import json, sys

try:
    value = json.load(open(sys.argv[1]))
    for key in sys.argv[2].split("."):
        value = value[int(key)] if isinstance(value, list) else value[key]
except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
    sys.exit(f"json_field {sys.argv[1]} {sys.argv[2]}: {e!r}")
if isinstance(value, str):
    print(value)
elif isinstance(value, float) and value.is_integer():
    print(int(value))
else:
    print(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
EOF
}

# make_ca DIR: a certificate authority made here, DIR/ca.pem with its key DIR/ca.key (what
# openssl says goes to DIR/openssl.log). Needs openssl (require_tools openssl).
make_ca() {
    mkdir -p "$1"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=cotel test CA" \
        -keyout "$1/ca.key" -out "$1/ca.pem" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" >>"$1/openssl.log" 2>&1 ||
        fail "openssl could not make a CA"
}

# make_cert DIR NAME SUBJECT_ALT_NAMES EXTENDED_KEY_USAGE: DIR/NAME.pem and DIR/NAME.key,
# signed by the CA make_ca made in DIR.
make_cert() {
    local dir=$1 name=$2
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=%s\n' "$3" "$4" \
        >"$dir/$name.ext"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$name" -keyout "$dir/$name.key" \
        -out "$dir/$name.csr" >>"$dir/openssl.log" 2>&1 &&
        openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
            -CAcreateserial -days 2 -extfile "$dir/$name.ext" -out "$dir/$name.pem" \
            >>"$dir/openssl.log" 2>&1 ||
        fail "openssl could not make the certificate $name"
}

# send_js OUT ARGS...: tests/js/send.js with ARGS, bounded to 300 s; its JSON summary goes to
# OUT, its diagnostics to OUT.err. Returns send.js's status.
send_js() {
    local out=$1
    shift
    timeout 300 node "$JS/send.js" "$@" >"$out" 2>"$out.err"
}

# verify_js OUT ARGS...: tests/js/verify.js with ARGS, bounded to 120 s; its report goes to
# OUT. Returns verify.js's status (a caller fails at once, or polls it with wait_for).
verify_js() {
    local out=$1
    shift
    timeout 120 node "$JS/verify.js" "$@" >"$out" 2>&1
}
