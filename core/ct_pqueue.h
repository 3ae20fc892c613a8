/*
 * The persistent sending queue: an append-only log of encoded requests in
 * checksummed segment files. A request is acknowledged to the client only
 * once it is in the log; it leaves the disk once delivered.
 */
#ifndef CT_PQUEUE_H
#define CT_PQUEUE_H

#include "ct_config.h"
#include "ct_request.h"

#include <stdbool.h>

/* The file_storage extension's settings, read by exporters that name it in sending_queue. */
typedef struct ct_file_storage_cfg {
    char *directory;
    bool fsync;
    bool create_directory;
    uint64_t timeout;
    uint64_t max_queue_bytes; /* cotel's own: disk bound of each queue */
    uint64_t segment_bytes;   /* cotel's own: size at which a segment file is closed */
    const ct_node_t *compaction;
} ct_file_storage_cfg_t;

typedef struct ct_pqueue_opts {
    const char *dir;          /* the queue's own directory (created) */
    const char *name;         /* for logs and metrics: "exporter/kafka" */
    const char *metric_label; /* e.g. exporter="kafka" */
    bool fsync;
    uint64_t segment_bytes;
    uint64_t max_bytes;     /* 0: no disk bound */
    uint64_t capacity;      /* in sizer units; 0: none */
    int sizer;              /* CT_SIZER_* */
    size_t merge_max_items; /* a read merges consecutive entries up to this many items */
    size_t merge_max_bytes;
} ct_pqueue_opts_t;

typedef struct ct_pqueue ct_pqueue_t;

/* Opens (and recovers) the queue in opts->dir. */
int ct_pqueue_open(ct_pqueue_t **out, const ct_pqueue_opts_t *opts, ct_err_t *err);
/* Appends req durably (per the fsync policy). -ENOSPC when full, -EIO on a write error. */
int ct_pqueue_put(ct_pqueue_t *q, const ct_request_t *req);

/* A request read back from the queue, possibly several entries merged. */
typedef struct ct_pqueue_ticket {
    ct_request_t *req;
    size_t first, count; /* entries it covers */
} ct_pqueue_ticket_t;

/*
 * Waits for entries (until the queue is closed) and returns them merged into
 * one request. Returns 0, or -ESHUTDOWN once closed and nothing more is to be handed out.
 */
int ct_pqueue_get(ct_pqueue_t *q, ct_pqueue_ticket_t *t);
/* The entries of t are delivered (or given up): they leave the disk. Frees t->req. */
void ct_pqueue_done(ct_pqueue_t *q, ct_pqueue_ticket_t *t);
/* Entries of t go back to be handed out again (shutdown before delivery). */
void ct_pqueue_release(ct_pqueue_t *q, ct_pqueue_ticket_t *t);
/* Wakes every waiting get with -ESHUTDOWN; entries stay on disk for the next start. */
void ct_pqueue_close(ct_pqueue_t *q);
void ct_pqueue_free(ct_pqueue_t *q);

size_t ct_pqueue_pending_items(ct_pqueue_t *q);
size_t ct_pqueue_pending_entries(ct_pqueue_t *q);

#endif
