/*
 * The memory_limiter processor's measurement: what it reads (the resident
 * set, the bytes of telemetry the pipelines hold, the memory available to
 * the container) behind a probe that tests replace to inject readings.
 */
#ifndef CT_MEMORY_LIMITER_H
#define CT_MEMORY_LIMITER_H

#include <stddef.h>
#include <stdint.h>

typedef struct ct_memory_probe {
    uint64_t (*resident)(void *arg); /* bytes of the process's resident set */
    size_t (*live)(void *arg);       /* bytes of telemetry held by live requests */
    uint64_t (*total)(void *arg);    /* bytes the process may use: cgroup limit or RAM */
    void (*release)(void *arg);      /* hands memory freed but kept by malloc to the OS */
    void *arg;
} ct_memory_probe_t;

/* The real probe: /proc/self/statm, ct_request_live_bytes(), cgroups, the allocator. */
extern const ct_memory_probe_t ct_memory_probe_system;

/*
 * Replaces the probe of every memory_limiter (NULL: back to the real one).
 * Set it before building instances: limits from percentages read `total`
 * when an instance is created.
 */
void ct_memory_limiter_set_probe(const ct_memory_probe_t *probe);

/* Measures now and updates every limiter, as the check thread does each check_interval. */
void ct_memory_limiter_check_now(void);

/*
 * The memory limit of the cgroup that `self_cgroup` (a /proc/<pid>/cgroup
 * file) names, under the cgroup file systems mounted at `root`
 * (/sys/fs/cgroup): the smallest memory.max (v2) or memory.limit_in_bytes
 * (v1) of the cgroup and its ancestors. 0 when there is none.
 */
uint64_t ct_memory_cgroup_limit(const char *self_cgroup, const char *root);

/* "jemalloc" or "glibc malloc": which allocator `release` talks to. */
const char *ct_memory_allocator_name(void);

#endif
