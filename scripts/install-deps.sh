#!/usr/bin/env bash
# Installs everything cotel needs to build and test on Debian 12, as root.
# Usage: scripts/install-deps.sh [--runtime]   (--runtime: only the shared libraries)
set -euo pipefail

runtime_pkgs=(libgrpc29 libprotobuf-c1 librdkafka1 libyaml-0-2 libmicrohttpd12 libcurl4
              zlib1g libzstd1 libjansson4 libjemalloc2 ca-certificates)
build_pkgs=(build-essential cmake pkg-config git libgrpc-dev protobuf-c-compiler
            libprotobuf-c-dev librdkafka-dev libyaml-dev libmicrohttpd-dev
            libcurl4-openssl-dev zlib1g-dev libzstd-dev libjansson-dev libjemalloc-dev
            libssl-dev)
test_pkgs=(kcat prometheus openssl curl python3 unzip procps)

export DEBIAN_FRONTEND=noninteractive
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

if [ "${1:-}" = "--runtime" ]; then
    pkgs=("${runtime_pkgs[@]}")
else
    pkgs=("${runtime_pkgs[@]}" "${build_pkgs[@]}" "${test_pkgs[@]}")
    command -v node >/dev/null && command -v npm >/dev/null || pkgs+=(nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
