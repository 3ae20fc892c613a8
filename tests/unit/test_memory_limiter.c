/*
 * The memory_limiter processor: its config checks, the limits it derives,
 * refusing and accepting again with injected memory readings (one log line
 * per transition, shared by the instances of one component), the burst
 * guard between checks, the check thread, and cgroup limit discovery.
 */
#include "memory_limiter.h"

#include "ct_component.h"
#include "ct_config.h"
#include "ct_metrics.h"
#include "ct_service.h"
#include "ct_test.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIB (1024ull * 1024ull)

/* ---- injected readings ---- */

typedef struct fake {
    _Atomic uint64_t resident;
    _Atomic size_t live;
    uint64_t total;
    uint64_t reclaimable; /* what release() gives back */
    _Atomic int releases;
} fake_t;

static fake_t fake;

static uint64_t fake_resident(void *arg)
{
    return atomic_load(&((fake_t *)arg)->resident);
}

static size_t fake_live(void *arg)
{
    return atomic_load(&((fake_t *)arg)->live);
}

static uint64_t fake_total(void *arg)
{
    return ((fake_t *)arg)->total;
}

static void fake_release(void *arg)
{
    fake_t *f = arg;
    atomic_fetch_add(&f->releases, 1);
    atomic_fetch_sub(&f->resident, f->reclaimable);
    f->reclaimable = 0;
}

static const ct_memory_probe_t fake_probe = {fake_resident, fake_live, fake_total, fake_release,
                                             &fake};

static void fake_set(uint64_t resident_mib, size_t live_mib, uint64_t reclaimable_mib)
{
    atomic_store(&fake.resident, resident_mib * MIB);
    atomic_store(&fake.live, live_mib * MIB);
    fake.reclaimable = reclaimable_mib * MIB;
}

/* ---- instances ---- */

static ct_code_t count_consume(ct_consumer_t *self, ct_request_t *req);

typedef struct counter_stage {
    ct_consumer_t consumer;
    _Atomic int n;
} counter_stage_t;

static ct_code_t count_consume(ct_consumer_t *self, ct_request_t *req)
{
    (void)req;
    atomic_fetch_add(&((counter_stage_t *)self)->n, 1);
    return CT_OK;
}

typedef struct harness {
    ct_instance_t inst;
    ct_node_t *root;
    const ct_factory_t *f;
} harness_t;

/* Applies the table and the factory's checks to YAML; returns 0 or the error. */
static int config_of(const char *yaml, void **cfgp, ct_node_t **rootp, ct_err_t *err)
{
    const ct_factory_t *f = ct_factory_find(CT_KIND_PROCESSOR, "memory_limiter", 14);
    ct_node_t *root = ct_config_load_string("ml.yaml", yaml, strlen(yaml), err);
    void *cfg = calloc(1, f->cfg_size);
    int rc = root == NULL ? -1 : 0;
    if (rc == 0)
        rc = ct_opt_defaults(f->opts, cfg, err);
    if (rc == 0)
        rc = ct_opt_apply(f->opts, cfg, root, "processors::memory_limiter", err);
    if (rc == 0)
        rc = f->validate(cfg, root, err);
    if (rc != 0 || cfgp == NULL) {
        ct_opt_free(f->opts, cfg);
        free(cfg);
        ct_node_free(root);
        return rc;
    }
    *cfgp = cfg;
    *rootp = root;
    return 0;
}

static int harness_init(harness_t *h, const char *id, const char *yaml, counter_stage_t *next)
{
    ct_err_t err = {{0}};
    memset(h, 0, sizeof *h);
    h->f = ct_factory_find(CT_KIND_PROCESSOR, "memory_limiter", 14);
    if (config_of(yaml, &h->inst.config, &h->root, &err) != 0) {
        fprintf(stderr, "config: %s\n", err.msg);
        return -1;
    }
    h->inst.factory = h->f;
    h->inst.id = strdup(id);
    h->inst.name = strdup("processor/memory_limiter");
    h->inst.node = h->root;
    h->inst.signal = CT_SIGNAL_TRACES;
    h->inst.next_stage = &next->consumer;
    if (h->f->create(&h->inst, &err) != 0 || h->f->start(&h->inst, &err) != 0) {
        fprintf(stderr, "create/start: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static void harness_free(harness_t *h)
{
    h->f->shutdown(&h->inst, 0);
    h->f->destroy(&h->inst);
    ct_opt_free(h->f->opts, h->inst.config);
    free(h->inst.config);
    free(h->inst.id);
    free(h->inst.name);
    ct_node_free(h->root);
}

static ct_code_t send_one(harness_t *h)
{
    static const uint8_t empty[1];
    ct_request_t *r = ct_request_copy(CT_SIGNAL_TRACES, empty, 0, 1);
    ct_code_t code = h->f->consume(&h->inst, r);
    ct_request_unref(r);
    return code;
}

static uint64_t gauge(const char *name, const char *id)
{
    char labels[128];
    snprintf(labels, sizeof labels, "processor=\"%s\"", id);
    return ct_metrics_value(name, labels);
}

/* ---- stderr capture, to count log lines ---- */

static int saved_stderr = -1;
static char log_path[] = "/tmp/test_memory_limiter_log_XXXXXX";

static void capture_logs(void)
{
    int fd = mkstemp(log_path);
    fflush(stderr);
    saved_stderr = dup(2);
    dup2(fd, 2);
    close(fd);
}

/* Restores stderr and returns how many captured lines contain `needle` (and echoes them). */
static int count_logs(const char *needle, const char *needle2)
{
    char line[1024];
    int n1 = 0, n2 = 0;
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    FILE *f = fopen(log_path, "r");
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        fputs(line, stderr);
        n1 += strstr(line, needle) != NULL;
        n2 += strstr(line, needle2) != NULL;
    }
    if (f != NULL)
        fclose(f);
    unlink(log_path);
    strcpy(log_path, "/tmp/test_memory_limiter_log_XXXXXX");
    return n1 * 100 + n2;
}

/* ---- tests ---- */

static void expect_error(const char *yaml, const char *where, const char *what)
{
    ct_err_t err = {{0}};
    CHECK(config_of(yaml, NULL, NULL, &err) != 0);
    CHECK_STR_CONTAINS(err.msg, where);
    CHECK_STR_CONTAINS(err.msg, what);
}

static void test_config(void)
{
    ct_err_t err = {{0}};
    expect_error("limit_mib: 100\n", "ml.yaml:", "check_interval");
    expect_error("check_interval: 0s\nlimit_mib: 100\n",
                 "ml.yaml:1:17: ", "check_interval must be greater than zero");
    expect_error("check_interval: 1s\n",
                 "ml.yaml:1:1: ", "limit_mib or limit_percentage must be greater than zero");
    expect_error("check_interval: 1s\nlimit_mib: 100\nspike_limit_mib: 100\n",
                 "ml.yaml:3:18: ", "spike_limit_mib (100) must be smaller than limit_mib (100)");
    expect_error("check_interval: 1s\nlimit_percentage: 50\nspike_limit_percentage: 60\n",
                 "ml.yaml:3:25: ", "must be smaller than limit_percentage");
    expect_error("check_interval: 1s\nlimit_mib: 100\nlimit_percentage: 50\n",
                 "ml.yaml:3:19: ", "not both");
    expect_error("check_interval: 1s\nlimit_mib: 100\nspike_limit_percentage: 10\n",
                 "ml.yaml:3:", "spike_limit_percentage goes with limit_percentage");
    expect_error("check_interval: 1s\nlimit_percentage: 80\nspike_limit_mib: 10\n",
                 "ml.yaml:3:", "spike_limit_mib goes with limit_mib");
    expect_error("check_interval: 1s\nlimit_percentage: 101\n", "ml.yaml:2:", "101");
    expect_error("check_interval: 1s\nlimit_mib: -5\n", "ml.yaml:2:", "-5");

    CHECK_EQ_INT(config_of("check_interval: 1s\nlimit_mib: 100\n", NULL, NULL, &err), 0);
    CHECK_EQ_INT(config_of("check_interval: 5s\nlimit_percentage: 80\n"
                           "spike_limit_percentage: 25\n",
                           NULL, NULL, &err),
                 0);
    CHECK_EQ_INT(config_of("check_interval: 1s\nlimit_mib: 100\nspike_limit_mib: 30\n"
                           "min_gc_interval_when_soft_limited: 10s\n",
                           NULL, NULL, &err),
                 0);

    /* Through the service: the error names the file, line and column. */
    static const char svc[] = "receivers:\n"
                              "  otlp:\n"
                              "    protocols: {grpc: {endpoint: 127.0.0.1:0}}\n"
                              "processors:\n"
                              "  memory_limiter:\n"
                              "    check_interval: 1s\n"
                              "    limit_mib: 100\n"
                              "    spike_limit_mib: 200\n"
                              "exporters:\n"
                              "  debug:\n"
                              "service:\n"
                              "  pipelines:\n"
                              "    traces: {receivers: [otlp], processors: [memory_limiter], "
                              "exporters: [debug]}\n";
    ct_node_t *root = ct_config_load_string("svc.yaml", svc, sizeof svc - 1, &err);
    ct_service_t *s = root ? ct_service_build(root, &err) : NULL;
    CHECK(s == NULL);
    CHECK_STR_CONTAINS(err.msg, "svc.yaml:8:22: spike_limit_mib (200) must be smaller");
    ct_service_free(s);
    ct_node_free(root);
}

static void test_limits(void)
{
    counter_stage_t next = {{count_consume}, 0};
    harness_t h;
    fake.total = 1000 * MIB;
    fake_set(10, 0, 0);

    /* Percentages are of the memory the probe reports: 80 % - 25 % of 1000 MiB. */
    CHECK(harness_init(&h, "memory_limiter/pct",
                       "check_interval: 1h\nlimit_percentage: 80\n"
                       "spike_limit_percentage: 25\n",
                       &next) == 0);
    CHECK_EQ_INT(gauge("cotel_processor_memory_limiter_soft_limit_bytes", "memory_limiter/pct"),
                 1000 * MIB / 100 * 55);
    harness_free(&h);

    /* The spike defaults to 20 % of the limit. */
    CHECK(harness_init(&h, "memory_limiter/mib", "check_interval: 1h\nlimit_mib: 100\n", &next) ==
          0);
    CHECK_EQ_INT(gauge("cotel_processor_memory_limiter_soft_limit_bytes", "memory_limiter/mib"),
                 80 * MIB);
    harness_free(&h);
    CHECK(harness_init(&h, "memory_limiter/pct20", "check_interval: 1h\nlimit_percentage: 50\n",
                       &next) == 0);
    CHECK_EQ_INT(gauge("cotel_processor_memory_limiter_soft_limit_bytes", "memory_limiter/pct20"),
                 1000 * MIB / 100 * 50 - 1000 * MIB / 100 * 50 / 5);
    harness_free(&h);
}

static void test_transitions(void)
{
    counter_stage_t next = {{count_consume}, 0};
    harness_t a, b;
    const char *cfg = "check_interval: 1h\nlimit_mib: 100\nspike_limit_mib: 20\n";

    fake_set(50, 0, 0);
    atomic_store(&fake.releases, 0);
    capture_logs();
    /* Two pipelines' instances of one component share its state. */
    CHECK(harness_init(&a, "memory_limiter", cfg, &next) == 0);
    CHECK(harness_init(&b, "memory_limiter", cfg, &next) == 0);
    CHECK_EQ_INT(send_one(&a), CT_OK);
    CHECK_EQ_INT(atomic_load(&next.n), 1);
    CHECK_EQ_INT(atomic_load(&fake.releases), 0); /* below the soft limit: nothing to hand back */

    /* Above the soft limit (80 MiB), nothing to reclaim: refused, in both pipelines. */
    fake_set(90, 0, 0);
    ct_memory_limiter_check_now();
    CHECK_EQ_INT(atomic_load(&fake.releases), 1);
    CHECK_EQ_INT(send_one(&a), CT_UNAVAILABLE);
    CHECK_EQ_INT(send_one(&b), CT_UNAVAILABLE);
    CHECK_EQ_INT(atomic_load(&next.n), 1);
    CHECK_EQ_INT(gauge("cotel_processor_memory_limiter_refusing", "memory_limiter"), 1);
    ct_memory_limiter_check_now(); /* still above: no second log line */
    CHECK_EQ_INT(send_one(&a), CT_UNAVAILABLE);

    /* Freed memory that malloc kept: handed back at the check, so no refusing on it. */
    fake_set(95, 0, 25);
    ct_memory_limiter_check_now();
    CHECK_EQ_INT(send_one(&a), CT_OK);
    CHECK_EQ_INT(send_one(&b), CT_OK);
    CHECK_EQ_INT(atomic_load(&next.n), 3);
    CHECK_EQ_INT(gauge("cotel_processor_memory_limiter_refusing", "memory_limiter"), 0);

    /* Exactly at the soft limit is accepted; above is not. */
    fake_set(80, 0, 0);
    ct_memory_limiter_check_now();
    CHECK_EQ_INT(send_one(&a), CT_OK);

    /* Between checks: telemetry taken in beyond the spike allowance is refused at once. */
    fake_set(50, 10, 0);
    ct_memory_limiter_check_now();
    CHECK_EQ_INT(send_one(&a), CT_OK);
    atomic_store(&fake.live, 35 * MIB); /* +25 MiB: 75 <= 80 */
    CHECK_EQ_INT(send_one(&a), CT_OK);
    atomic_store(&fake.live, 45 * MIB); /* +35 MiB: 85 > 80 */
    CHECK_EQ_INT(send_one(&a), CT_UNAVAILABLE);
    atomic_store(&fake.live, 10 * MIB); /* it stays refusing until a check says otherwise */
    CHECK_EQ_INT(send_one(&b), CT_UNAVAILABLE);
    ct_memory_limiter_check_now();
    CHECK_EQ_INT(send_one(&b), CT_OK);

    harness_free(&b);
    harness_free(&a);
    /* Transitions: above, below (reclaimed), above (burst), below. One line each. */
    int n = count_logs("above the soft limit", "below the soft limit");
    CHECK_EQ_INT(n / 100, 2);
    CHECK_EQ_INT(n % 100, 2);
}

static void test_check_thread(void)
{
    counter_stage_t next = {{count_consume}, 0};
    harness_t h;
    fake_set(10, 0, 0);
    CHECK(harness_init(&h, "memory_limiter/thread", "check_interval: 20ms\nlimit_mib: 100\n",
                       &next) == 0);
    CHECK_EQ_INT(send_one(&h), CT_OK);
    fake_set(99, 0, 0);
    int i;
    for (i = 0; i < 200 && send_one(&h) == CT_OK; i++)
        usleep(10000);
    CHECK(i < 200); /* the thread measured and refused within 2 s */
    fake_set(10, 0, 0);
    for (i = 0; i < 200 && send_one(&h) != CT_OK; i++)
        usleep(10000);
    CHECK(i < 200); /* and accepts again */
    harness_free(&h);
}

static void write_file(const char *dir, const char *rel, const char *text)
{
    char path[512], tmp[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    /* mkdir -p of the parent */
    for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
        snprintf(tmp, sizeof tmp, "%.*s", (int)(p - path), path);
        mkdir(tmp, 0755);
    }
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_cgroup(void)
{
    char dir[] = "/tmp/test_memory_limiter_cg_XXXXXX", self[600], root[600], cmd[700];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(self, sizeof self, "%s/self", dir);
    snprintf(root, sizeof root, "%s/fs", dir);

    /* v2: the smallest limit along the path; "max" is none. */
    write_file(dir, "self", "0::/kubepods/pod1/ctr\n");
    write_file(dir, "fs/memory.max", "max\n");
    write_file(dir, "fs/kubepods/memory.max", "max\n");
    write_file(dir, "fs/kubepods/pod1/memory.max", "536870912\n");
    write_file(dir, "fs/kubepods/pod1/ctr/memory.max", "max\n");
    CHECK_EQ_INT(ct_memory_cgroup_limit(self, root), 536870912);
    write_file(dir, "fs/kubepods/pod1/ctr/memory.max", "268435456\n");
    CHECK_EQ_INT(ct_memory_cgroup_limit(self, root), 268435456);

    /* Inside a cgroup namespace the path is "/": the root file holds the limit. */
    write_file(dir, "self", "0::/\n");
    write_file(dir, "fs/memory.max", "1073741824\n");
    CHECK_EQ_INT(ct_memory_cgroup_limit(self, root), 1073741824);

    /* v1 (also with v2 mounted beside it): memory.limit_in_bytes; its huge value is none. */
    write_file(dir, "self", "5:cpuacct,cpu:/x\n4:memory:/docker/abc\n0::/\n");
    write_file(dir, "fs/memory/memory.limit_in_bytes", "9223372036854771712\n");
    CHECK_EQ_INT(ct_memory_cgroup_limit(self, root), 0);
    write_file(dir, "fs/memory/docker/abc/memory.limit_in_bytes", "314572800\n");
    CHECK_EQ_INT(ct_memory_cgroup_limit(self, root), 314572800);

    /* A v1 path absent from the mount (the container sees its own cgroup as the root). */
    write_file(dir, "self", "4:memory:/elsewhere/zzz\n");
    write_file(dir, "fs/memory/memory.limit_in_bytes", "209715200\n");
    CHECK_EQ_INT(ct_memory_cgroup_limit(self, root), 209715200);

    /* No memory controller, no file: no limit. */
    write_file(dir, "self", "3:cpu:/\n");
    CHECK_EQ_INT(ct_memory_cgroup_limit(self, root), 0);
    CHECK_EQ_INT(ct_memory_cgroup_limit("/nonexistent/cgroup", root), 0);

    /* The real probe reads something sensible here. */
    CHECK(ct_memory_probe_system.resident(NULL) > 1024 * 1024);
    CHECK(ct_memory_probe_system.total(NULL) > 64 * MIB);

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_EQ_INT(system(cmd), 0);
}

int main(void)
{
    ct_memory_limiter_set_probe(&fake_probe);
    test_config();
    test_limits();
    test_transitions();
    test_check_thread();
    ct_memory_limiter_set_probe(NULL);
    test_cgroup();
    return ct_test_report();
}
