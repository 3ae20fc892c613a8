/*
 * The `file` exporter: appends each export request to a file, as one line of
 * OTLP/JSON or as length-prefixed protobuf (optionally zstd-compressed), with
 * the Go collector's keys, periodic fsync and size-based rotation.
 */
#include "file_rotation.h"

#include "ct_component.h"
#include "ct_exporter.h"
#include "ct_log.h"
#include "otlp_json.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

enum { FORMAT_JSON = 0, FORMAT_PROTO = 1 };

#define MEGABYTE (1024ull * 1024ull)
/* OTLP/JSON of a request is a few times its protobuf size; far more is refused. */
#define JSON_GROWTH 64u
#define JSON_SLACK  (64u * 1024u)

typedef struct file_rotation {
    bool present;
    int64_t max_megabytes;
    int64_t max_days;
    int64_t max_backups;
    bool localtime;
} file_rotation_t;

typedef struct file_config {
    char *path;
    int format; /* FORMAT_JSON, FORMAT_PROTO */
    char *compression;
    uint64_t flush_interval; /* ns */
    bool append;
    bool create_directory;
    char *directory_permissions;
    file_rotation_t rotation;
    ct_exporter_settings_t settings;
} file_config_t;

static const ct_opt_t file_rotation_opts[] = {
    {"max_megabytes", CT_OPT_INT, offsetof(file_rotation_t, max_megabytes), "100", 1, 1e7, NULL,
     "size in MiB past which the file is renamed and a new one started"},
    {"max_days", CT_OPT_INT, offsetof(file_rotation_t, max_days), "0", 0, 1e6, NULL,
     "remove backups older than this many days (0: keep any age)"},
    {"max_backups", CT_OPT_INT, offsetof(file_rotation_t, max_backups), "100", 0, 1e6, NULL,
     "number of rotated files kept (0: keep all)"},
    {"localtime", CT_OPT_BOOL, offsetof(file_rotation_t, localtime), "false", 0, 0, NULL,
     "stamp backup names with local time instead of UTC"},
    CT_OPT_END,
};

static const ct_opt_t file_opts[] = {
    {"path", CT_OPT_STRING, offsetof(file_config_t, path), NULL, 0, 0, NULL, "the file to write",
     .flags = CT_OPT_REQUIRED},
    {"format", CT_OPT_ENUM, offsetof(file_config_t, format), "json", 0, 0, "json|proto",
     "json: a line of OTLP/JSON per request; proto: 4-byte big-endian length, then protobuf"},
    {"compression", CT_OPT_STRING, offsetof(file_config_t, compression), NULL, 0, 0, NULL,
     "zstd: each request compressed and length-prefixed; empty: none"},
    {"flush_interval", CT_OPT_DURATION, offsetof(file_config_t, flush_interval), "1s", 0, 0, NULL,
     "how often written data is synced to disk (fsync); 0 means 1s"},
    {"append", CT_OPT_BOOL, offsetof(file_config_t, append), "false", 0, 0, NULL,
     "keep what the file holds at start (false: truncate it)"},
    {"create_directory", CT_OPT_BOOL, offsetof(file_config_t, create_directory), "false", 0, 0,
     NULL, "create the file's missing parent directories at start"},
    {"directory_permissions", CT_OPT_STRING, offsetof(file_config_t, directory_permissions), NULL,
     0, 0, NULL, "octal mode of created directories (default 0755, minus the umask)"},
    {"rotation", CT_OPT_SECTION, offsetof(file_config_t, rotation.present), NULL, 0, 0, NULL,
     "rotate the file by size; absent: one file that grows", file_rotation_opts,
     offsetof(file_config_t, rotation)},
    CT_EXPORTER_SETTINGS_OPTS(file_config_t, settings),
    CT_OPT_END,
};

typedef struct file_state {
    /* One writer at a time, so records never interleave; also guards fd and dirty. */
    pthread_mutex_t lock;
    pthread_cond_t wake; /* wakes the flusher early at shutdown */
    pthread_t flusher;
    bool flusher_running;
    bool stopping;
    int fd;     /* -1 before start and after shutdown */
    bool dirty; /* written since the last fsync */
    bool zstd;
    mode_t dir_mode;
} file_state_t;

static bool compression_is_zstd(const file_config_t *cfg)
{
    return cfg->compression && strcmp(cfg->compression, "zstd") == 0;
}

static int file_validate(const void *vcfg, const ct_node_t *node, ct_err_t *err)
{
    const file_config_t *cfg = vcfg;
    const char *c = cfg->compression;
    const char *perm = cfg->directory_permissions;

    if (!cfg->path || !cfg->path[0])
        return ct_errf(err, node, "path must be non-empty");
    if (c && c[0] && strcmp(c, "zstd") != 0 && strcmp(c, "none") != 0)
        return ct_errf(err, node, "compression '%s' is not supported (zstd, or none)", c);
    if (cfg->append && compression_is_zstd(cfg))
        return ct_errf(err, node, "append and compression cannot be used together");
    if (cfg->append && cfg->rotation.present)
        return ct_errf(err, node, "append and rotation cannot be used together");
    if (perm && !cfg->create_directory)
        return ct_errf(err, node, "directory_permissions requires create_directory: true");
    if (perm) {
        char *end;
        long mode = strtol(perm, &end, 8);
        if (!perm[0] || *end || mode < 0 || mode > 0777)
            return ct_errf(err, node,
                           "directory_permissions '%s' is not an octal mode "
                           "between 0 and 0777",
                           perm);
    }
    return 0;
}

/* ---- the file itself ---- */

/* mkdir -p of path's parent directories. */
static int make_parents(const char *path, mode_t mode)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return 0;
}

static int open_output(const char *path, bool truncate)
{
    int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0);
    int fd = open(path, flags, 0644);
    return fd < 0 ? -errno : fd;
}

static uint64_t unix_ms(void)
{
    return ct_now_unix_ns() / 1000000u;
}

/*
 * Renames the full file to its backup name and opens a fresh one at the
 * configured path, then prunes old backups. On failure the current file
 * stays in use. Called with the lock held.
 */
static int rotate(ct_instance_t *inst)
{
    const file_config_t *cfg = inst->config;
    file_state_t *st = inst->state;
    const file_rotation_t *r = &cfg->rotation;
    char backup[4096];
    uint64_t ms = unix_ms();
    int rc;

    /* Two rotations in one millisecond would share a name: take the next free one. */
    for (int tries = 0;; tries++, ms++) {
        rc = file_backup_name(cfg->path, ms, r->localtime, backup, sizeof backup);
        if (rc != 0)
            return rc;
        if (access(backup, F_OK) != 0 || tries == 1000)
            break;
    }
    if (st->dirty)
        fdatasync(st->fd);
    if (rename(cfg->path, backup) != 0)
        return -errno;
    int fd = open_output(cfg->path, true);
    if (fd < 0) {
        rename(backup, cfg->path);
        return fd;
    }
    close(st->fd);
    st->fd = fd;
    st->dirty = false;

    rc = file_prune_backups(cfg->path, r->max_backups, r->max_days, r->localtime, unix_ms());
    if (rc < 0)
        ct_log_warn(inst->name, "cannot prune old backups of %s: %s", cfg->path, strerror(-rc));
    return 0;
}

static int write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        if (w == 0)
            return -EIO;
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

/*
 * Appends one record (an optional length prefix, then the body) under the
 * lock. A failed write is cut back off the file, so a retry never leaves a
 * torn record in front of the complete one.
 */
static int write_record(ct_instance_t *inst, const uint8_t *prefix, size_t prefix_len,
                        const uint8_t *body, size_t body_len, const char *suffix, char *why,
                        size_t whylen)
{
    const file_config_t *cfg = inst->config;
    file_state_t *st = inst->state;
    size_t total = prefix_len + body_len + (suffix ? strlen(suffix) : 0);
    struct iovec iov[3];
    int n = 0, rc;
    struct stat sb;

    pthread_mutex_lock(&st->lock);
    if (st->fd < 0) {
        rc = -EBADF;
        snprintf(why, whylen, "the exporter is shut down");
        goto out;
    }
    if (fstat(st->fd, &sb) != 0) {
        rc = -errno;
        snprintf(why, whylen, "cannot stat %s: %s", cfg->path, strerror(errno));
        goto out;
    }
    /* A record bigger than max_megabytes still gets written, alone in its file. */
    if (cfg->rotation.present && sb.st_size > 0 &&
        (uint64_t)sb.st_size + total > (uint64_t)cfg->rotation.max_megabytes * MEGABYTE) {
        rc = rotate(inst);
        if (rc != 0) {
            snprintf(why, whylen, "cannot rotate %s: %s", cfg->path, strerror(-rc));
            goto out;
        }
        sb.st_size = 0;
    }

    if (prefix_len)
        iov[n++] = (struct iovec){(void *)prefix, prefix_len};
    iov[n++] = (struct iovec){(void *)body, body_len};
    if (suffix)
        iov[n++] = (struct iovec){(void *)suffix, strlen(suffix)};
    rc = write_all(st->fd, iov, n);
    if (rc != 0) {
        snprintf(why, whylen, "cannot write %s: %s", cfg->path, strerror(-rc));
        if (S_ISREG(sb.st_mode) && ftruncate(st->fd, sb.st_size) != 0)
            ct_log_error(inst->name, "cannot remove a partly written record from %s: %s", cfg->path,
                         strerror(errno));
        goto out;
    }
    st->dirty = true;

out:
    pthread_mutex_unlock(&st->lock);
    return rc;
}

/* ---- sending ---- */

static ct_send_result_t file_send(ct_instance_t *inst, ct_request_t *req)
{
    const file_config_t *cfg = inst->config;
    file_state_t *st = inst->state;
    ct_send_result_t res = {.code = CT_OK};
    ct_buf_t json = {0};
    void *packed = NULL;
    const uint8_t *body = req->data;
    size_t body_len = req->len;
    uint8_t prefix[4];
    bool framed = cfg->format == FORMAT_PROTO || st->zstd;
    int rc;

    if (cfg->format == FORMAT_JSON) {
        json.max = req->len > (SIZE_MAX - JSON_SLACK) / JSON_GROWTH
                       ? 0
                       : req->len * JSON_GROWTH + JSON_SLACK;
        rc = ct_otlp_json_encode(req->signal, req->data, req->len, &json, res.message,
                                 sizeof res.message);
        if (rc == -ENOMEM) {
            res.code = CT_UNAVAILABLE;
            res.retryable = true;
            snprintf(res.message, sizeof res.message, "no memory to encode OTLP/JSON");
            goto out;
        }
        if (rc != 0) {
            res.code = CT_INVALID_ARGUMENT;
            goto out;
        }
        body = json.data;
        body_len = json.len;
    }

    if (st->zstd) {
        size_t bound = ZSTD_compressBound(body_len);
        packed = malloc(bound);
        if (!packed) {
            res.code = CT_UNAVAILABLE;
            res.retryable = true;
            snprintf(res.message, sizeof res.message, "no memory to compress");
            goto out;
        }
        size_t z = ZSTD_compress(packed, bound, body, body_len, ZSTD_CLEVEL_DEFAULT);
        if (ZSTD_isError(z)) {
            res.code = CT_INTERNAL;
            snprintf(res.message, sizeof res.message, "zstd: %s", ZSTD_getErrorName(z));
            goto out;
        }
        body = packed;
        body_len = z;
    }

    if (framed && body_len > UINT32_MAX) {
        res.code = CT_INVALID_ARGUMENT;
        snprintf(res.message, sizeof res.message,
                 "a record of %zu bytes does not fit the "
                 "4-byte length prefix",
                 body_len);
        goto out;
    }
    prefix[0] = (uint8_t)(body_len >> 24);
    prefix[1] = (uint8_t)(body_len >> 16);
    prefix[2] = (uint8_t)(body_len >> 8);
    prefix[3] = (uint8_t)body_len;

    rc = write_record(inst, prefix, framed ? sizeof prefix : 0, body, body_len,
                      framed ? NULL : "\n", res.message, sizeof res.message);
    if (rc != 0) {
        /*
         * A disk error (ENOSPC, EIO, a rotation that could not rename) may
         * clear: worth retrying, within retry_on_failure's limits. After
         * shutdown there is nothing to retry into.
         */
        res.code = CT_UNAVAILABLE;
        res.retryable = rc != -EBADF;
    }

out:
    free(packed);
    ct_buf_free(&json);
    return res;
}

/* ---- lifecycle ---- */

static int file_create(ct_instance_t *inst, ct_err_t *err)
{
    const file_config_t *cfg = inst->config;
    file_state_t *st = calloc(1, sizeof *st);
    if (!st)
        return ct_errf(err, inst->node, "%s: out of memory", inst->name);
    pthread_mutex_init(&st->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&st->wake, &ca);
    pthread_condattr_destroy(&ca);
    st->fd = -1;
    st->zstd = compression_is_zstd(cfg);
    st->dir_mode =
        cfg->directory_permissions ? (mode_t)strtol(cfg->directory_permissions, NULL, 8) : 0755;
    inst->state = st;
    return 0;
}

/* Syncs what was written every flush_interval, so a crash loses at most that much. */
static void *flusher_main(void *arg)
{
    ct_instance_t *inst = arg;
    const file_config_t *cfg = inst->config;
    file_state_t *st = inst->state;
    uint64_t interval = cfg->flush_interval ? cfg->flush_interval : 1000000000ull;

    pthread_mutex_lock(&st->lock);
    while (!st->stopping) {
        uint64_t until = ct_now_mono_ns() + interval;
        struct timespec ts = {(time_t)(until / 1000000000u), (long)(until % 1000000000u)};
        while (!st->stopping && ct_now_mono_ns() < until)
            pthread_cond_timedwait(&st->wake, &st->lock, &ts);
        /* Under the lock: rotation must not close the fd while it is synced. */
        if (st->dirty && st->fd >= 0 && fdatasync(st->fd) == 0)
            st->dirty = false;
    }
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

static int file_start(ct_instance_t *inst, ct_err_t *err)
{
    const file_config_t *cfg = inst->config;
    file_state_t *st = inst->state;
    int rc;

    if (cfg->create_directory && (rc = make_parents(cfg->path, st->dir_mode)) != 0)
        return ct_errf(err, inst->node, "%s: cannot create the directories of %s: %s", inst->name,
                       cfg->path, strerror(-rc));
    /* With rotation a file under the size limit is continued, as the Go collector does. */
    int fd = open_output(cfg->path, !cfg->append && !cfg->rotation.present);
    if (fd < 0)
        return ct_errf(err, inst->node, "%s: cannot open %s: %s", inst->name, cfg->path,
                       strerror(-fd));
    st->fd = fd;

    if (pthread_create(&st->flusher, NULL, flusher_main, inst) != 0) {
        close(st->fd);
        st->fd = -1;
        return ct_errf(err, inst->node, "%s: cannot start the flush thread", inst->name);
    }
    st->flusher_running = true;
    return 0;
}

/* Stops the flusher, syncs and closes the file; later sends fail without retry. */
static void file_shutdown(ct_instance_t *inst, uint64_t deadline_ns)
{
    file_state_t *st = inst->state;
    (void)deadline_ns;
    if (!st)
        return;

    pthread_mutex_lock(&st->lock);
    st->stopping = true;
    pthread_cond_broadcast(&st->wake);
    pthread_mutex_unlock(&st->lock);
    if (st->flusher_running) {
        pthread_join(st->flusher, NULL);
        st->flusher_running = false;
    }

    pthread_mutex_lock(&st->lock);
    if (st->fd >= 0) {
        if (st->dirty && fdatasync(st->fd) != 0)
            ct_log_error(inst->name, "cannot sync %s at shutdown: %s",
                         ((const file_config_t *)inst->config)->path, strerror(errno));
        close(st->fd);
        st->fd = -1;
        st->dirty = false;
    }
    pthread_mutex_unlock(&st->lock);
}

static void file_destroy(ct_instance_t *inst)
{
    file_state_t *st = inst->state;
    if (!st)
        return;
    file_shutdown(inst, 0);
    pthread_mutex_destroy(&st->lock);
    pthread_cond_destroy(&st->wake);
    free(st);
    inst->state = NULL;
}

const ct_factory_t ct_file_exporter_factory = {
    .type = "file",
    .kind = CT_KIND_EXPORTER,
    .signals = CT_SIGNALS_ALL,
    .description = "writes telemetry to a file as OTLP/JSON lines or length-prefixed protobuf",
    .opts = file_opts,
    .cfg_size = sizeof(file_config_t),
    .validate = file_validate,
    .create = file_create,
    .start = file_start,
    .shutdown = file_shutdown,
    .destroy = file_destroy,
    .send = file_send,
    .settings_offset = offsetof(file_config_t, settings),
};
