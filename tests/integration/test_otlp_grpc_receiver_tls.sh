#!/usr/bin/env bash
# The otlp receiver's gRPC TLS: with cert_file/key_file it serves TLS only; with client_ca_file
# it also requires a client certificate that CA signed. Checked with otlp-raw-client (exact
# status codes) and the JS SDK over TLS; a server certificate that does not match its key, or
# an endpoint already in use, must stop cotel from starting with a clear error.
set -euo pipefail
export LC_ALL=C
source "$(dirname "$0")/lib/common.sh"

require_built "$COTEL" "$RAW"
require_tools openssl
require_js

# ca NAME: a self-signed CA; cert NAME CA [SAN]: a certificate that CA signs.
ca() {
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$1" \
        -keyout "$work/$1.key" -out "$work/$1.crt" 2>/dev/null
}
cert() {
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$work/$1.key" \
        -out "$work/$1.csr" 2>/dev/null
    if [ -n "${3:-}" ]; then
        printf 'subjectAltName=%s\n' "$3" >"$work/$1.ext"
    else
        : >"$work/$1.ext"
    fi
    openssl x509 -req -days 2 -in "$work/$1.csr" -CA "$work/$2.crt" -CAkey "$work/$2.key" \
        -CAcreateserial -extfile "$work/$1.ext" -out "$work/$1.crt" 2>/dev/null
}
ca ca || fail "openssl could not make a CA"
ca rogue-ca
cert server ca "DNS:localhost,IP:127.0.0.1"
cert client ca
cert rogue-client rogue-ca

# The request: one span, by hand in the protobuf wire format.
node -e '
const fs = require("fs");
const len = (f, b) => Buffer.concat([Buffer.from([f * 8 + 2, b.length]), b]);
const span = Buffer.concat([len(1, Buffer.alloc(16, 3)), len(2, Buffer.alloc(8, 3)),
                            len(5, Buffer.from("tls"))]);
fs.writeFileSync(process.argv[1], len(1, len(2, len(2, span))));' "$work/span.bin"

tls_port=$(free_port)
mtls_port=$(free_port)
cat >"$work/cotel.yaml" <<EOF
receivers:
  otlp/tls:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$tls_port
        tls: {cert_file: $work/server.crt, key_file: $work/server.key}
  otlp/mtls:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$mtls_port
        tls:
          cert_file: $work/server.crt
          key_file: $work/server.key
          client_ca_file: $work/ca.crt
exporters:
  file:
    path: $work/out.jsonl
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces: {receivers: [otlp/tls, otlp/mtls], exporters: [file]}
EOF

start_cotel "$work/cotel.yaml"
for p in $tls_port $mtls_port; do
    grep -q "OTLP/gRPC listening on 127.0.0.1:$p with TLS" "$work/cotel.err" ||
        fail "no receiver logged that it listens with TLS on 127.0.0.1:$p"
done

checks=0
# expect STATUS [client options...] PORT: one call with the span, its exact status code.
expect() {
    local want=$1
    shift
    local args=("$@")
    local n=${#args[@]}
    args[n - 1]="127.0.0.1:${args[n - 1]}"
    local got
    got=$("$RAW" --timeout 5 "${args[@]}" traces "$work/span.bin" 2>"$work/raw.err") ||
        fail "otlp-raw-client $*: no status ($(cat "$work/raw.err"))"
    [ "$got" = "$want" ] || fail "$*: got $got ($(cat "$work/raw.err")), want $want"
    checks=$((checks + 1))
}

expect OK --ca "$work/ca.crt" "$tls_port"
expect OK --ca "$work/ca.crt" --server-name localhost "$tls_port"
expect UNAVAILABLE "$tls_port"                            # plaintext to a TLS port
expect UNAVAILABLE --ca "$work/rogue-ca.crt" "$tls_port"  # a server the client cannot trust
expect UNAVAILABLE --ca "$work/ca.crt" "$mtls_port"       # no client certificate
expect UNAVAILABLE --ca "$work/ca.crt" --cert "$work/rogue-client.crt" \
    --key "$work/rogue-client.key" "$mtls_port"           # one the CA did not sign
expect OK --ca "$work/ca.crt" --cert "$work/client.crt" --key "$work/client.key" "$mtls_port"
expect OK --ca "$work/ca.crt" --cert "$work/client.crt" --key "$work/client.key" "$mtls_port"
ok_calls=4

send_js "$work/sdk.out" --signal traces --protocol grpc \
    --endpoint "https://127.0.0.1:$tls_port" --ca "$work/ca.crt" --count 50 --batch 10 \
    --manifest "$work/sdk.json" || fail "send.js over TLS: $(cat "$work/sdk.out")"

# A failed TLS handshake is the client's business: never a line above debug level.
if grep -E $'\t(warn|error)\t|^E[0-9]{4} ' "$work/cotel.err" >/dev/null; then
    fail "cotel logged failed handshakes above debug level"
fi

# cotel must not start when its own TLS files do not match, or its endpoint is taken.
# (Each writes a file of its own: the running cotel's must stay as it is.)
sed -e "s|$work/server.crt|$work/client.crt|" -e "s|$work/out.jsonl|$work/mismatch.jsonl|" \
    -e "s|127.0.0.1:$mtls_port|127.0.0.1:$(free_port)|" \
    -e "s|127.0.0.1:$tls_port|127.0.0.1:$(free_port)|" "$work/cotel.yaml" >"$work/mismatch.yaml"
sed -e "s|127.0.0.1:$mtls_port|127.0.0.1:$(free_port)|" -e "s|$work/out.jsonl|$work/taken.jsonl|" \
    "$work/cotel.yaml" >"$work/taken.yaml"
for case in mismatch taken; do
    : >"$work/$case.err"
    "$COTEL" --config "$work/$case.yaml" >/dev/null 2>"$work/$case.err" &
    other_pid=$!
    track "$other_pid"
    wait_for 15 grep -q "cannot start" "$work/$case.err" ||
        fail "$case: cotel did not report that it cannot start: $(cat "$work/$case.err")"
    grep -q "receiver/otlp/.*cannot listen on 127.0.0.1:" "$work/$case.err" ||
        fail "$case: the error does not name the receiver and address: $(cat "$work/$case.err")"
    wait_exit "$other_pid" 10 "$case: cotel, which could not start,"
    [ "$RC" -ne 0 ] || fail "$case: cotel exited with status 0 after failing to start"
done

# The first cotel still serves, then stops cleanly with everything in the file.
expect OK --ca "$work/ca.crt" "$tls_port"
ok_calls=$((ok_calls + 1))
stop_cotel_clean 30

verify_js "$work/verify.out" --signal traces --manifest "$work/sdk.json" \
    --otlp-json-lines "$work/out.jsonl" || true
# verify.js counts the raw spans as unexpected; the SDK's must all be there.
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
if (r.acknowledged !== 50 || r.matched !== 50 || r.missing !== 0 || r.mismatched !== 0 ||
    r.unexpected !== Number(process.argv[2])) {
    console.error(JSON.stringify(r).slice(0, 1500));
    process.exit(1);
}' "$work/verify.out" "$ok_calls" || fail "what arrived over TLS differs from what was sent"

echo "PASS: TLS and mutual TLS over gRPC: $checks calls with the expected status, 50 SDK spans" \
    "intact, bad TLS files and a taken endpoint refused at start"
