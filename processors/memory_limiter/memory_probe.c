/*
 * What the memory limiter reads from the system: the resident set from
 * /proc/self/statm, the container's memory limit from cgroup v2 or v1, the
 * physical memory, and the allocator's hook to give freed memory back.
 */
#include "memory_limiter.h"

#include "ct_request.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * jemalloc's control interface, present when the binary links jemalloc
 * (cmd/cotel does; unit tests do not). Weak, so that its absence leaves a
 * NULL pointer instead of a link error.
 */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
    __attribute__((weak));

/* jemalloc's MALLCTL_ARENAS_ALL: the pseudo-arena that stands for all of them. */
#define JEMALLOC_ALL_ARENAS "4096"

/* v1 reports "no limit" as a huge page-aligned number near INT64_MAX. */
#define CGROUP_V1_UNLIMITED (1ull << 62)

/* Reads a small file into buf (NUL-terminated); -errno on failure. */
static int read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, len - 1);
    int rc = n < 0 ? -errno : 0;
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return rc;
}

static uint64_t system_resident(void *arg)
{
    char buf[256];
    unsigned long long size, resident;
    (void)arg;
    if (read_small("/proc/self/statm", buf, sizeof buf) != 0 ||
        sscanf(buf, "%llu %llu", &size, &resident) != 2)
        return 0;
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static size_t system_live(void *arg)
{
    (void)arg;
    return ct_request_live_bytes();
}

static uint64_t physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
}

static uint64_t system_total(void *arg)
{
    uint64_t phys = physical_memory();
    uint64_t cg = ct_memory_cgroup_limit("/proc/self/cgroup", "/sys/fs/cgroup");
    (void)arg;
    return cg != 0 && (phys == 0 || cg < phys) ? cg : phys;
}

static void system_release(void *arg)
{
    (void)arg;
    if (mallctl != NULL)
        mallctl("arena." JEMALLOC_ALL_ARENAS ".purge", NULL, NULL, NULL, 0);
    else
        malloc_trim(0);
}

const ct_memory_probe_t ct_memory_probe_system = {
    system_resident, system_live, system_total, system_release, NULL,
};

const char *ct_memory_allocator_name(void)
{
    return mallctl != NULL ? "jemalloc" : "glibc malloc";
}

/* A limit file's value; 0 when absent, "max" or v1's huge number: no limit. */
static uint64_t limit_file(const char *path)
{
    char buf[64];
    unsigned long long v;
    if (read_small(path, buf, sizeof buf) != 0)
        return 0;
    if (strncmp(buf, "max", 3) == 0 || sscanf(buf, "%llu", &v) != 1 || v >= CGROUP_V1_UNLIMITED)
        return 0;
    return (uint64_t)v;
}

/*
 * The smallest limit along the cgroup's path and its ancestors under mount,
 * down to the mount's root. Inside a cgroup namespace (or with a v1 mount of
 * the container's own cgroup) the path reads "/" or does not exist under
 * the mount: then the root's file is the container's limit.
 */
static uint64_t smallest_limit(const char *mount, const char *cgpath, const char *file)
{
    char path[PATH_MAX], dir[PATH_MAX];
    uint64_t best = 0;

    snprintf(dir, sizeof dir, "%s", cgpath);
    for (;;) {
        size_t n = strlen(dir);
        while (n > 0 && dir[n - 1] == '/')
            dir[--n] = '\0';
        snprintf(path, sizeof path, "%s%s/%s", mount, dir, file);
        uint64_t v = limit_file(path);
        if (v != 0 && (best == 0 || v < best))
            best = v;
        char *slash = strrchr(dir, '/');
        if (n == 0 || slash == NULL)
            break;
        *slash = '\0';
    }
    return best;
}

uint64_t ct_memory_cgroup_limit(const char *self_cgroup, const char *root)
{
    char buf[4096], mount[PATH_MAX];
    const char *v1 = NULL, *v2 = NULL;
    size_t v1len = 0, v2len = 0;

    if (read_small(self_cgroup, buf, sizeof buf) != 0)
        return 0;
    /* Lines are "hierarchy-id:controllers:path"; v2 is "0::path". */
    for (char *line = buf, *next; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2 == NULL)
            continue;
        *c1 = '\0';
        *c2 = '\0';
        const char *controllers = c1 + 1;
        if (strcmp(line, "0") == 0 && *controllers == '\0') {
            v2 = c2 + 1;
            v2len = strlen(v2);
            continue;
        }
        for (const char *p = controllers; p != NULL; p = strchr(p, ',')) {
            p += *p == ',';
            if (strncmp(p, "memory", 6) == 0 && (p[6] == ',' || p[6] == '\0')) {
                v1 = c2 + 1;
                v1len = strlen(v1);
            }
        }
    }
    /* A v1 memory controller is where the limit lives, even when v2 is mounted too. */
    if (v1 != NULL && v1len < PATH_MAX / 2) {
        snprintf(mount, sizeof mount, "%s/memory", root);
        return smallest_limit(mount, v1, "memory.limit_in_bytes");
    }
    if (v2 != NULL && v2len < PATH_MAX / 2)
        return smallest_limit(root, v2, "memory.max");
    return 0;
}
