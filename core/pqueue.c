/*
 * The persistent queue on disk. Entries are appended to numbered segment
 * files, each with a header (magic, length, items, signal, CRC-32) so a torn
 * or corrupt tail is found on recovery. The in-memory index holds only
 * positions; payloads are read back when sent. A segment is deleted once
 * every entry in it is done, and a cursor file remembers where the
 * undelivered entries start, so a restart resends little that was already
 * delivered (delivery is at least once).
 */
#include "ct_pqueue.h"

#include "ct_exporter.h"
#include "ct_log.h"
#include "ct_metrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#define ENTRY_MAGIC 0x31515443u /* "CTQ1" little endian */
#define HDR_SIZE    20

enum { E_PENDING, E_TAKEN, E_DONE };

typedef struct entry {
    uint64_t seg;
    uint64_t off; /* of the header in its segment */
    uint32_t len; /* payload bytes */
    uint32_t items;
    uint8_t signal;
    uint8_t state;
} entry_t;

struct ct_pqueue {
    ct_pqueue_opts_t o;
    char *dir;
    char *name;
    pthread_mutex_t lock;
    pthread_cond_t avail;
    bool closed;

    entry_t *ents; /* live entries: absolute indices [base, base + n) at ents[0..n) */
    size_t n, cap;
    uint64_t base;
    uint64_t next; /* first entry that may still be pending */
    size_t pending_items, pending_entries;
    uint64_t used; /* sizer units of entries not done */

    uint64_t wseg; /* segment being written */
    int wfd;
    uint64_t wsize;
    uint64_t oldest_seg; /* oldest segment file that may exist */
    uint64_t disk_bytes;
    uint64_t cursor_written_ns;

    ct_counter_t *m_size, *m_capacity, *m_disk, *m_recovered, *m_corrupt;
};

static void seg_path(const ct_pqueue_t *q, uint64_t seg, char *out, size_t len)
{
    snprintf(out, len, "%s/%020" PRIu64 ".seg", q->dir, seg);
}

static uint64_t units(const ct_pqueue_t *q, uint32_t len, uint32_t items)
{
    switch (q->o.sizer) {
    case CT_SIZER_ITEMS:
        return items;
    case CT_SIZER_BYTES:
        return len;
    default:
        return 1;
    }
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* CRC over the header's fields after the magic (length, items, signal) and the payload. */
static uint32_t entry_crc(const uint8_t *hdr, const uint8_t *payload, size_t len)
{
    uLong c = crc32(0, hdr + 4, 12);
    return (uint32_t)crc32(c, payload, (uInt)len);
}

static int push_entry(ct_pqueue_t *q, entry_t e)
{
    if (q->n == q->cap) {
        size_t nc = q->cap ? q->cap * 2 : 256;
        entry_t *a = realloc(q->ents, nc * sizeof *a);
        if (a == NULL)
            return -ENOMEM;
        q->ents = a;
        q->cap = nc;
    }
    q->ents[q->n++] = e;
    q->pending_items += e.items;
    q->pending_entries++;
    q->used += units(q, e.len, e.items);
    return 0;
}

static void write_cursor(ct_pqueue_t *q)
{
    char path[4096], tmp[4096], line[64];
    uint64_t seg = q->n ? q->ents[0].seg : q->wseg;
    uint64_t off = q->n ? q->ents[0].off : q->wsize;
    snprintf(path, sizeof path, "%s/cursor", q->dir);
    snprintf(tmp, sizeof tmp, "%s/cursor.tmp", q->dir);
    int len = snprintf(line, sizeof line, "%" PRIu64 " %" PRIu64 "\n", seg, off);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    bool ok = write(fd, line, (size_t)len) == len;
    if (ok && q->o.fsync)
        fdatasync(fd);
    close(fd);
    if (ok)
        rename(tmp, path);
    q->cursor_written_ns = ct_now_mono_ns();
}

static void update_gauges(ct_pqueue_t *q)
{
    ct_gauge_set(q->m_size, q->used);
    ct_gauge_set(q->m_disk, q->disk_bytes);
}

/* Deletes segment files older than the first live entry (and than the one being written). */
static void drop_old_segments(ct_pqueue_t *q)
{
    uint64_t keep = q->n ? q->ents[0].seg : q->wseg;
    if (q->wfd < 0 && q->n == 0)
        keep = q->wseg + 1;
    for (; q->oldest_seg < keep; q->oldest_seg++) {
        char path[4096];
        struct stat st;
        seg_path(q, q->oldest_seg, path, sizeof path);
        if (stat(path, &st) == 0 && unlink(path) == 0)
            q->disk_bytes -=
                (uint64_t)st.st_size < q->disk_bytes ? (uint64_t)st.st_size : q->disk_bytes;
    }
}

static int open_segment(ct_pqueue_t *q)
{
    char path[4096];
    if (q->wfd >= 0) {
        if (q->o.fsync)
            fdatasync(q->wfd);
        close(q->wfd);
        q->wfd = -1;
        q->wseg++;
    }
    seg_path(q, q->wseg, path, sizeof path);
    q->wfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (q->wfd < 0)
        return -errno;
    if (q->o.fsync) {
        int dfd = open(q->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd); /* the new file's name must survive a power loss too */
            close(dfd);
        }
    }
    q->wsize = 0;
    return 0;
}

int ct_pqueue_put(ct_pqueue_t *q, const ct_request_t *req)
{
    uint8_t hdr[HDR_SIZE];
    uint64_t need = HDR_SIZE + req->len;
    uint64_t u = units(q, (uint32_t)req->len, (uint32_t)req->items);
    int rc = 0;

    if (req->len > UINT32_MAX - HDR_SIZE)
        return -E2BIG;
    put_u32(hdr, ENTRY_MAGIC);
    put_u32(hdr + 4, (uint32_t)req->len);
    put_u32(hdr + 8, (uint32_t)req->items);
    put_u32(hdr + 12, (uint32_t)req->signal);
    put_u32(hdr + 16, entry_crc(hdr, req->data, req->len));

    pthread_mutex_lock(&q->lock);
    if (q->closed) {
        rc = -ESHUTDOWN;
        goto out;
    }
    if ((q->o.capacity && q->used > 0 && q->used + u > q->o.capacity) ||
        (q->o.max_bytes && q->disk_bytes + need > q->o.max_bytes)) {
        rc = -ENOSPC;
        goto out;
    }
    if (q->wfd < 0 || (q->wsize > 0 && q->wsize + need > q->o.segment_bytes)) {
        if ((rc = open_segment(q)) != 0)
            goto out;
    }
    struct iovec iov[2] = {{hdr, HDR_SIZE}, {(void *)req->data, req->len}};
    ssize_t w = writev(q->wfd, iov, 2);
    if (w != (ssize_t)need) {
        rc = w < 0 ? -errno : -EIO;
        if (ftruncate(q->wfd, (off_t)q->wsize) != 0)
            rc = -EIO;
        goto out;
    }
    if (q->o.fsync && fdatasync(q->wfd) != 0) {
        rc = -errno;
        goto out;
    }
    entry_t e = {q->wseg,  q->wsize, (uint32_t)req->len, (uint32_t)req->items, (uint8_t)req->signal,
                 E_PENDING};
    q->wsize += need;
    q->disk_bytes += need;
    rc = push_entry(q, e);
    update_gauges(q);
    pthread_cond_signal(&q->avail);

out:
    pthread_mutex_unlock(&q->lock);
    return rc;
}

static int read_payload(ct_pqueue_t *q, const entry_t *e, uint8_t *dst)
{
    char path[4096];
    seg_path(q, e->seg, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t r = pread(fd, dst, e->len, (off_t)(e->off + HDR_SIZE));
    close(fd);
    return r == (ssize_t)e->len ? 0 : -EIO;
}

int ct_pqueue_get(ct_pqueue_t *q, ct_pqueue_ticket_t *t)
{
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (q->next < q->base + q->n && q->ents[q->next - q->base].state != E_PENDING)
            q->next++;
        if (q->next < q->base + q->n)
            break;
        if (q->closed) {
            pthread_mutex_unlock(&q->lock);
            return -ESHUTDOWN;
        }
        pthread_cond_wait(&q->avail, &q->lock);
    }

    /* Merge consecutive pending entries of one signal, within the merge limits. */
    size_t first = (size_t)(q->next - q->base), count = 0, items = 0, bytes = 0;
    uint8_t sig = q->ents[first].signal;
    for (size_t i = first; i < q->n; i++) {
        entry_t *e = &q->ents[i];
        if (e->state != E_PENDING || e->signal != sig)
            break;
        if (count > 0 && ((q->o.merge_max_items && items + e->items > q->o.merge_max_items) ||
                          (q->o.merge_max_bytes && bytes + e->len > q->o.merge_max_bytes)))
            break;
        e->state = E_TAKEN;
        items += e->items;
        bytes += e->len;
        count++;
    }
    q->next = q->base + first + count;
    q->pending_items -= items;
    q->pending_entries -= count;
    entry_t *copy = malloc(count * sizeof *copy);
    if (copy != NULL)
        memcpy(copy, &q->ents[first], count * sizeof *copy);
    t->first = (size_t)(q->base + first);
    t->count = count;
    pthread_mutex_unlock(&q->lock);

    uint8_t *buf = malloc(bytes ? bytes : 1);
    int rc = copy && buf ? 0 : -ENOMEM;
    for (size_t i = 0, at = 0; rc == 0 && i < count; at += copy[i].len, i++)
        rc = read_payload(q, &copy[i], buf + at);
    free(copy);
    if (rc != 0) {
        ct_log_error(q->name,
                     "cannot read %zu queued entries back from %s: %s; they are "
                     "lost",
                     count, q->dir, strerror(-rc));
        free(buf);
        t->req = NULL;
        ct_pqueue_done(q, t);
        return ct_pqueue_get(q, t);
    }
    t->req = ct_request_take((ct_signal_t)sig, buf, bytes, items);
    if (t->req == NULL) {
        ct_pqueue_release(q, t);
        return -ENOMEM;
    }
    return 0;
}

void ct_pqueue_done(ct_pqueue_t *q, ct_pqueue_ticket_t *t)
{
    ct_request_unref(t->req);
    t->req = NULL;
    pthread_mutex_lock(&q->lock);
    for (size_t i = 0; i < t->count; i++) {
        entry_t *e = &q->ents[t->first + i - q->base];
        e->state = E_DONE;
        q->used -= units(q, e->len, e->items);
    }
    size_t drop = 0;
    while (drop < q->n && q->ents[drop].state == E_DONE)
        drop++;
    if (drop > 0) {
        memmove(q->ents, q->ents + drop, (q->n - drop) * sizeof *q->ents);
        q->n -= drop;
        q->base += drop;
        drop_old_segments(q);
        if (ct_now_mono_ns() - q->cursor_written_ns > 200000000ull || q->n == 0)
            write_cursor(q);
    }
    update_gauges(q);
    pthread_mutex_unlock(&q->lock);
}

void ct_pqueue_release(ct_pqueue_t *q, ct_pqueue_ticket_t *t)
{
    ct_request_unref(t->req);
    t->req = NULL;
    pthread_mutex_lock(&q->lock);
    for (size_t i = 0; i < t->count; i++) {
        entry_t *e = &q->ents[t->first + i - q->base];
        e->state = E_PENDING;
        q->pending_items += e->items;
        q->pending_entries++;
    }
    if (t->first < q->next)
        q->next = t->first;
    pthread_cond_broadcast(&q->avail);
    pthread_mutex_unlock(&q->lock);
}

/* Reads one segment's entries into the index; truncates a torn or corrupt tail. */
static void recover_segment(ct_pqueue_t *q, uint64_t seg, uint64_t from, size_t *entries,
                            size_t *items, size_t *corrupt)
{
    char path[4096];
    seg_path(q, seg, path, sizeof path);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return;
    }
    uint64_t size = (uint64_t)st.st_size, off = from;
    size_t before = *entries;
    uint8_t *buf = NULL;
    size_t bufcap = 0;

    while (off < size) {
        uint8_t hdr[HDR_SIZE];
        if (size - off < HDR_SIZE || pread(fd, hdr, HDR_SIZE, (off_t)off) != HDR_SIZE ||
            get_u32(hdr) != ENTRY_MAGIC || get_u32(hdr + 4) > size - off - HDR_SIZE ||
            get_u32(hdr + 12) >= CT_SIGNAL_COUNT)
            break; /* a torn write or a damaged header: nothing after it can be trusted */
        uint32_t len = get_u32(hdr + 4);
        if (len > bufcap) {
            uint8_t *nb = realloc(buf, len);
            if (nb == NULL)
                break;
            buf = nb;
            bufcap = len;
        }
        if (pread(fd, buf, len, (off_t)(off + HDR_SIZE)) != (ssize_t)len)
            break;
        if (entry_crc(hdr, buf, len) != get_u32(hdr + 16)) {
            (*corrupt)++;
            ct_log_error(q->name,
                         "queue entry at %s offset %" PRIu64 " fails its checksum: "
                         "dropped",
                         path, off);
        } else {
            entry_t e = {seg, off, len, get_u32(hdr + 8), (uint8_t)get_u32(hdr + 12), E_PENDING};
            if (push_entry(q, e) != 0)
                break;
            (*entries)++;
            *items += e.items;
        }
        off += HDR_SIZE + len;
    }
    if (off < size) {
        (*corrupt)++;
        ct_log_error(q->name,
                     "%s: %" PRIu64 " bytes after offset %" PRIu64 " are torn or "
                     "corrupt: truncated",
                     path, size - off, off);
        if (ftruncate(fd, (off_t)off) == 0)
            size = off;
    }
    free(buf);
    close(fd);
    if (*entries == before) {
        unlink(path); /* nothing undelivered in it; new entries go to a new segment */
        return;
    }
    q->disk_bytes += size;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int recover(ct_pqueue_t *q, ct_err_t *err)
{
    DIR *d = opendir(q->dir);
    if (d == NULL)
        return ct_errf(err, NULL, "%s: cannot open the queue directory %s: %s", q->name, q->dir,
                       strerror(errno));
    uint64_t *segs = NULL;
    size_t nsegs = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t id;
        char tail[8];
        if (sscanf(de->d_name, "%20" SCNu64 ".%7s", &id, tail) != 2 || strcmp(tail, "seg"))
            continue;
        if (nsegs == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *ns = realloc(segs, cap * sizeof *ns);
            if (ns == NULL)
                break;
            segs = ns;
        }
        segs[nsegs++] = id;
    }
    closedir(d);
    qsort(segs, nsegs, sizeof *segs, cmp_u64);

    uint64_t cseg = 0, coff = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/cursor", q->dir);
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        if (fscanf(f, "%" SCNu64 " %" SCNu64, &cseg, &coff) != 2)
            cseg = coff = 0;
        fclose(f);
    }

    size_t entries = 0, items = 0, corrupt = 0;
    q->oldest_seg = nsegs ? segs[0] : 0;
    for (size_t i = 0; i < nsegs; i++) {
        if (segs[i] < cseg) {
            seg_path(q, segs[i], path, sizeof path);
            unlink(path); /* delivered before the last stop */
            continue;
        }
        recover_segment(q, segs[i], segs[i] == cseg ? coff : 0, &entries, &items, &corrupt);
    }
    q->wseg = nsegs ? segs[nsegs - 1] + 1 : 0;
    if (nsegs == 0 || segs[0] < cseg)
        q->oldest_seg = nsegs ? (cseg < q->wseg ? cseg : q->wseg) : 0;
    free(segs);

    ct_counter_add(q->m_recovered, entries);
    ct_counter_add(q->m_corrupt, corrupt);
    if (entries > 0 || corrupt > 0)
        ct_log_info(q->name,
                    "recovered %zu queued requests (%zu items) from %s; %zu damaged "
                    "parts dropped",
                    entries, items, q->dir, corrupt);
    return 0;
}

static int mkdir_p(const char *dir)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
                return -errno;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int ct_pqueue_open(ct_pqueue_t **out, const ct_pqueue_opts_t *opts, ct_err_t *err)
{
    ct_pqueue_t *q = calloc(1, sizeof *q);
    if (q == NULL)
        return ct_errf(err, NULL, "out of memory");
    q->o = *opts;
    q->dir = strdup(opts->dir);
    q->name = strdup(opts->name);
    q->wfd = -1;
    if (q->o.segment_bytes == 0)
        q->o.segment_bytes = 8u << 20;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->avail, NULL);
    if (q->dir == NULL || q->name == NULL) {
        ct_pqueue_free(q);
        return ct_errf(err, NULL, "out of memory");
    }
    const char *lbl = opts->metric_label ? opts->metric_label : "";
    q->m_size = ct_metrics_gauge("otelcol_exporter_queue_size",
                                 "Current size of the sending "
                                 "queue.",
                                 lbl);
    q->m_capacity = ct_metrics_gauge("otelcol_exporter_queue_capacity",
                                     "Capacity of the "
                                     "sending queue.",
                                     lbl);
    q->m_disk = ct_metrics_gauge("cotel_exporter_queue_disk_bytes",
                                 "Bytes of the persistent "
                                 "queue on disk.",
                                 lbl);
    q->m_recovered = ct_metrics_counter("cotel_exporter_queue_recovered_requests",
                                        "Requests found in the persistent queue at start.", lbl);
    q->m_corrupt = ct_metrics_counter("cotel_exporter_queue_corrupt_parts",
                                      "Damaged entries "
                                      "or tails dropped from the persistent queue at start.",
                                      lbl);
    ct_gauge_set(q->m_capacity, opts->capacity);

    int rc = mkdir_p(q->dir);
    if (rc != 0) {
        ct_errf(err, NULL, "%s: cannot create the queue directory %s: %s", q->name, q->dir,
                strerror(-rc));
        ct_pqueue_free(q);
        return -EINVAL;
    }
    if (recover(q, err) != 0) {
        ct_pqueue_free(q);
        return -EINVAL;
    }
    update_gauges(q);
    *out = q;
    return 0;
}

void ct_pqueue_close(ct_pqueue_t *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_broadcast(&q->avail);
    pthread_mutex_unlock(&q->lock);
}

void ct_pqueue_free(ct_pqueue_t *q)
{
    if (q == NULL)
        return;
    if (q->wfd >= 0) {
        if (q->o.fsync)
            fdatasync(q->wfd);
        close(q->wfd);
        q->wfd = -1;
    }
    if (q->dir != NULL && q->name != NULL)
        write_cursor(q);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->avail);
    free(q->ents);
    free(q->dir);
    free(q->name);
    free(q);
}

size_t ct_pqueue_pending_items(ct_pqueue_t *q)
{
    pthread_mutex_lock(&q->lock);
    size_t v = q->pending_items;
    pthread_mutex_unlock(&q->lock);
    return v;
}

size_t ct_pqueue_pending_entries(ct_pqueue_t *q)
{
    pthread_mutex_lock(&q->lock);
    size_t v = q->pending_entries;
    pthread_mutex_unlock(&q->lock);
    return v;
}
