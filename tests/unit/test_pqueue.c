/*
 * The persistent queue: what is put comes back after a reopen unless it was
 * done; torn tails and flipped bytes are dropped and reported; limits refuse.
 */
#include "ct_exporter.h"
#include "ct_pqueue.h"
#include "ct_test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static ct_pqueue_t *open_q(uint64_t capacity, uint64_t max_bytes, size_t merge)
{
    ct_pqueue_opts_t o = {.dir = dir,
                          .name = "test",
                          .segment_bytes = 4096,
                          .max_bytes = max_bytes,
                          .capacity = capacity,
                          .sizer = CT_SIZER_REQUESTS,
                          .merge_max_items = merge};
    ct_pqueue_t *q = NULL;
    ct_err_t err = {{0}};
    CHECK_EQ_INT(ct_pqueue_open(&q, &o, &err), 0);
    return q;
}

static int put(ct_pqueue_t *q, int i)
{
    char body[200];
    memset(body, 'a' + i % 26, sizeof body);
    snprintf(body, sizeof body, "entry-%04d", i);
    ct_request_t *r = ct_request_copy(CT_SIGNAL_LOGS, body, sizeof body, 1);
    int rc = ct_pqueue_put(q, r);
    ct_request_unref(r);
    return rc;
}

/* Gets one entry (merge limit 1) and returns its number, or -1. */
static int get(ct_pqueue_t *q, ct_pqueue_ticket_t *t)
{
    if (ct_pqueue_get(q, t) != 0)
        return -1;
    int n = -1;
    sscanf((const char *)t->req->data, "entry-%d", &n);
    return n;
}

static void last_segment(char *path, size_t len)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char best[256] = "";
    while ((de = readdir(d)) != NULL) {
        if (strstr(de->d_name, ".seg") && strcmp(de->d_name, best) > 0)
            snprintf(best, sizeof best, "%s", de->d_name);
    }
    closedir(d);
    snprintf(path, len, "%s/%s", dir, best);
}

static void test_recovery(void)
{
    ct_pqueue_t *q = open_q(0, 0, 1);
    for (int i = 0; i < 50; i++)
        CHECK_EQ_INT(put(q, i), 0);
    CHECK_EQ_INT(ct_pqueue_pending_entries(q), 50);

    /* Deliver the first 20; take 5 more without finishing them. */
    ct_pqueue_ticket_t t;
    for (int i = 0; i < 20; i++) {
        CHECK_EQ_INT(get(q, &t), i);
        ct_pqueue_done(q, &t);
    }
    for (int i = 20; i < 25; i++) {
        CHECK_EQ_INT(get(q, &t), i);
        ct_request_unref(t.req);
    }
    ct_pqueue_close(q);
    ct_pqueue_free(q);

    /* Reopen: 20..49 are back (the taken ones were never delivered), in order. */
    q = open_q(0, 0, 1);
    CHECK_EQ_INT(ct_pqueue_pending_entries(q), 30);
    for (int i = 20; i < 50; i++) {
        CHECK_EQ_INT(get(q, &t), i);
        ct_pqueue_done(q, &t);
    }
    CHECK_EQ_INT(ct_pqueue_pending_entries(q), 0);
    ct_pqueue_close(q);
    CHECK_EQ_INT(ct_pqueue_get(q, &t), -ESHUTDOWN);
    ct_pqueue_free(q);

    /* Everything delivered: no segment is left but the one being written. */
    q = open_q(0, 0, 1);
    CHECK_EQ_INT(ct_pqueue_pending_entries(q), 0);
    ct_pqueue_free(q);
}

static void test_merge(void)
{
    ct_pqueue_t *q = open_q(0, 0, 4);
    for (int i = 0; i < 10; i++)
        put(q, i);
    ct_pqueue_ticket_t t;
    CHECK_EQ_INT(ct_pqueue_get(q, &t), 0);
    CHECK_EQ_INT(t.count, 4);
    CHECK_EQ_INT(t.req->items, 4);
    CHECK_EQ_INT(t.req->len, 800);
    CHECK(memcmp(t.req->data + 600, "entry-0003", 10) == 0);
    /* Released entries are handed out again first. */
    ct_pqueue_release(q, &t);
    CHECK_EQ_INT(ct_pqueue_get(q, &t), 0);
    CHECK(memcmp(t.req->data, "entry-0000", 10) == 0);
    ct_pqueue_done(q, &t);
    while (ct_pqueue_pending_entries(q) > 0) {
        ct_pqueue_get(q, &t);
        ct_pqueue_done(q, &t);
    }
    ct_pqueue_free(q);
}

static void test_damage(void)
{
    ct_pqueue_t *q = open_q(0, 0, 1);
    for (int i = 0; i < 5; i++)
        put(q, i);
    ct_pqueue_free(q);

    /* A torn tail: half an entry at the end of the last segment. */
    char path[512];
    last_segment(path, sizeof path);
    int fd = open(path, O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    const char torn[] = "\x43\x54\x51\x31\xff\x00";
    CHECK(write(fd, torn, sizeof torn - 1) == (ssize_t)(sizeof torn - 1));
    close(fd);
    /* A flipped byte inside the payload of entry 2 (entries are 220 bytes). */
    fd = open(path, O_RDWR);
    char c;
    CHECK(pread(fd, &c, 1, 2 * 220 + 20 + 50) == 1);
    c ^= 0x5a;
    CHECK(pwrite(fd, &c, 1, 2 * 220 + 20 + 50) == 1);
    close(fd);

    q = open_q(0, 0, 1);
    CHECK_EQ_INT(ct_pqueue_pending_entries(q), 4);
    ct_pqueue_ticket_t t;
    int want[] = {0, 1, 3, 4};
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(get(q, &t), want[i]);
        ct_pqueue_done(q, &t);
    }
    struct stat st;
    CHECK(stat(path, &st) != 0 || st.st_size == 5 * 220); /* tail truncated (or deleted) */
    ct_pqueue_free(q);
}

static void test_limits(void)
{
    ct_pqueue_t *q = open_q(3, 0, 1);
    CHECK_EQ_INT(put(q, 0), 0);
    CHECK_EQ_INT(put(q, 1), 0);
    CHECK_EQ_INT(put(q, 2), 0);
    CHECK_EQ_INT(put(q, 3), -ENOSPC);
    ct_pqueue_ticket_t t;
    get(q, &t);
    ct_pqueue_done(q, &t);
    CHECK_EQ_INT(put(q, 3), 0);
    while (ct_pqueue_pending_entries(q) > 0) {
        ct_pqueue_get(q, &t);
        ct_pqueue_done(q, &t);
    }
    ct_pqueue_free(q);

    q = open_q(0, 1000, 1); /* disk bound: four 220-byte entries fit, the fifth does not */
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(put(q, i), 0);
    CHECK_EQ_INT(put(q, 4), -ENOSPC);
    while (ct_pqueue_pending_entries(q) > 0) {
        ct_pqueue_get(q, &t);
        ct_pqueue_done(q, &t);
    }
    ct_pqueue_free(q);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/cotel-test-pqueue-%d", (int)getpid());
    test_recovery();
    test_merge();
    test_damage();
    test_limits();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return ct_test_report();
}
