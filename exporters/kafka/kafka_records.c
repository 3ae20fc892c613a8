/*
 * Planning the Kafka records of one request: grouping items by trace id or
 * by resource, and splitting parts that would exceed the message size limit.
 * Works on the wire format (ct_wire.h) and never decodes the request.
 */
#include "kafka_records.h"

#include "otlp_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Splitting halves the size budget at most this many times per part. */
#define FIT_MAX_DEPTH 40

/* ---- a minimal protobuf field reader (the request passed ct_wire_check) ---- */

typedef struct wire_field {
    uint32_t num;
    uint32_t type; /* 0 varint, 1 fixed64, 2 bytes, 5 fixed32 */
    uint64_t v;    /* varint and fixed values */
    const uint8_t *p;
    size_t len; /* type 2: the payload */
} wire_field_t;

/* Reads the field at *pos. Returns 1 with f set, 0 at the end, -1 when malformed. */
static int wire_next(const uint8_t *p, size_t len, size_t *pos, wire_field_t *f)
{
    uint64_t tag, n;
    size_t k;

    if (*pos >= len)
        return 0;
    k = ct_wire_get_varint(p + *pos, len - *pos, &tag);
    if (k == 0 || (tag >> 3) == 0 || (tag >> 3) > UINT32_MAX)
        return -1;
    *pos += k;
    f->num = (uint32_t)(tag >> 3);
    f->type = (uint32_t)(tag & 7);
    f->p = p + *pos;
    f->len = 0;
    f->v = 0;
    switch (f->type) {
    case 0:
        k = ct_wire_get_varint(p + *pos, len - *pos, &f->v);
        if (k == 0)
            return -1;
        *pos += k;
        return 1;
    case 1:
    case 5:
        n = f->type == 1 ? 8 : 4;
        if (len - *pos < n)
            return -1;
        for (k = 0; k < n; k++)
            f->v |= (uint64_t)p[*pos + k] << (8 * k);
        *pos += n;
        return 1;
    case 2:
        k = ct_wire_get_varint(p + *pos, len - *pos, &n);
        if (k == 0 || n > len - *pos - k)
            return -1;
        f->p = p + *pos + k;
        f->len = (size_t)n;
        *pos += k + (size_t)n;
        return 1;
    default:
        return -1;
    }
}

/* ---- resource keys: FNV-1a over a canonical form of the sorted attributes ---- */

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME  0x100000001b3ull

static void fnv_bytes(uint64_t *h, const void *p, size_t n)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= FNV_PRIME;
    }
}

static void fnv_u64(uint64_t *h, uint64_t v)
{
    uint8_t b[8];

    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    fnv_bytes(h, b, sizeof(b));
}

/* A length-prefixed string, so that ("ab","c") and ("a","bc") differ. */
static void fnv_str(uint64_t *h, const uint8_t *p, size_t n)
{
    fnv_u64(h, n);
    fnv_bytes(h, p, n);
}

typedef struct kv_ref {
    const uint8_t *key, *val;
    size_t key_len, val_len;
} kv_ref_t;

static int kv_cmp(const void *a, const void *b)
{
    const kv_ref_t *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);

    if (c != 0)
        return c;
    if (x->key_len != y->key_len)
        return x->key_len < y->key_len ? -1 : 1;
    /* Same key twice: order by value bytes so the order of arrival does not matter. */
    n = x->val_len < y->val_len ? x->val_len : y->val_len;
    c = memcmp(x->val, y->val, n);
    if (c != 0)
        return c;
    return x->val_len < y->val_len ? -1 : (x->val_len > y->val_len);
}

static int hash_kvs(uint64_t *h, const uint8_t *p, size_t len, int depth);

/* Hashes one AnyValue: a type letter and the value, nested lists and maps recursively. */
static int hash_any(uint64_t *h, const uint8_t *p, size_t len, int depth)
{
    wire_field_t f, last = {0};
    size_t pos = 0;
    int r, rc = 0;

    if (depth > CT_WIRE_MAX_DEPTH)
        return -EINVAL;
    /* A oneof: the last member on the wire wins, as protobuf parsers do. */
    while ((r = wire_next(p, len, &pos, &f)) == 1) {
        if (f.num >= 1 && f.num <= 7)
            last = f;
    }
    if (r < 0)
        return -EINVAL;

    switch (last.num) {
    case 1:
        fnv_bytes(h, "s", 1);
        fnv_str(h, last.p, last.len);
        break;
    case 2:
        fnv_bytes(h, last.v ? "t" : "f", 1);
        break;
    case 3:
        fnv_bytes(h, "i", 1);
        fnv_u64(h, last.v);
        break;
    case 4:
        fnv_bytes(h, "d", 1);
        fnv_u64(h, last.v);
        break;
    case 5: {
        size_t apos = 0;

        fnv_bytes(h, "a", 1);
        while (rc == 0 && (r = wire_next(last.p, last.len, &apos, &f)) == 1) {
            if (f.num == 1 && f.type == 2)
                rc = hash_any(h, f.p, f.len, depth + 1);
        }
        if (r < 0)
            rc = -EINVAL;
        fnv_bytes(h, "]", 1);
        break;
    }
    case 6:
        fnv_bytes(h, "m", 1);
        rc = hash_kvs(h, last.p, last.len, depth + 1);
        break;
    case 7:
        fnv_bytes(h, "y", 1);
        fnv_str(h, last.p, last.len);
        break;
    default:
        fnv_bytes(h, "n", 1);
        break;
    }
    return rc;
}

/*
 * Hashes the KeyValue entries (field 1) of a message, sorted by key: the
 * attributes of a Resource and the entries of a KeyValueList have that shape.
 */
static int hash_kvs(uint64_t *h, const uint8_t *p, size_t len, int depth)
{
    kv_ref_t *kv = NULL;
    size_t n = 0, cap = 0, pos = 0;
    wire_field_t f, g;
    int r, rc = 0;

    while ((r = wire_next(p, len, &pos, &f)) == 1) {
        size_t kpos = 0;
        kv_ref_t e = {(const uint8_t *)"", (const uint8_t *)"", 0, 0};

        if (f.num != 1 || f.type != 2)
            continue;
        while ((r = wire_next(f.p, f.len, &kpos, &g)) == 1) {
            if (g.num == 1 && g.type == 2) {
                e.key = g.p;
                e.key_len = g.len;
            } else if (g.num == 2 && g.type == 2) {
                e.val = g.p;
                e.val_len = g.len;
            }
        }
        if (r < 0)
            break;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            kv_ref_t *nkv = realloc(kv, ncap * sizeof(*kv));

            if (!nkv) {
                rc = -ENOMEM;
                goto out;
            }
            kv = nkv;
            cap = ncap;
        }
        kv[n++] = e;
    }
    if (r < 0) {
        rc = -EINVAL;
        goto out;
    }

    if (n > 1)
        qsort(kv, n, sizeof(*kv), kv_cmp);
    fnv_u64(h, n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        fnv_str(h, kv[i].key, kv[i].key_len);
        rc = hash_any(h, kv[i].val, kv[i].val_len, depth + 1);
    }

out:
    free(kv);
    return rc;
}

int kafka_resource_key(const uint8_t *resource, size_t len, char *out)
{
    uint64_t h = FNV_OFFSET;
    int rc = hash_kvs(&h, resource, len, 0);

    if (rc < 0)
        return rc;
    snprintf(out, KAFKA_KEY_MAX, "%016llx", (unsigned long long)h);
    return 16;
}

void kafka_trace_id_hex(const uint8_t id[16], char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (int i = 0; i < 16; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 15];
    }
    out[32] = '\0';
}

/* ---- records ---- */

void kafka_record_free(kafka_record_t *r)
{
    if (!r)
        return;
    free(r->value_owned);
    free(r->proto_owned);
    free(r);
}

void kafka_plan_free(kafka_plan_t *plan)
{
    for (size_t i = 0; i < plan->n; i++)
        kafka_record_free(plan->rec[i]);
    free(plan->rec);
    ct_wire_index_free(&plan->idx);
    memset(plan, 0, sizeof(*plan));
}

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

/* Appends a record; takes `owned` and `value_owned` whatever the outcome. */
static int plan_push(kafka_plan_t *plan, const uint8_t *p, size_t len, uint8_t *owned,
                     uint8_t *value_owned, size_t value_len, size_t items, const char *key,
                     size_t key_len)
{
    kafka_record_t *r = NULL;
    int rc = 0;

    if (plan->n == plan->cap) {
        size_t ncap = plan->cap ? plan->cap * 2 : 8;
        kafka_record_t **nrec = realloc(plan->rec, ncap * sizeof(*nrec));

        if (!nrec) {
            rc = -ENOMEM;
            goto out;
        }
        plan->rec = nrec;
        plan->cap = ncap;
    }
    r = calloc(1, sizeof(*r));
    if (!r) {
        rc = -ENOMEM;
        goto out;
    }
    r->proto = p;
    r->proto_len = len;
    r->proto_owned = owned;
    r->value = value_owned ? value_owned : p;
    r->value_len = value_owned ? value_len : len;
    r->value_owned = value_owned;
    r->items = items;
    if (key_len > 0 && key_len < KAFKA_KEY_MAX) {
        memcpy(r->key, key, key_len);
        r->key_len = key_len;
    }
    plan->rec[plan->n++] = r;
    owned = value_owned = NULL;

out:
    free(owned);
    free(value_owned);
    return rc;
}

static void plan_drop(kafka_plan_t *plan, size_t items, size_t bytes)
{
    plan->dropped_items += items;
    if (bytes > plan->dropped_largest)
        plan->dropped_largest = bytes;
}

/*
 * The protobuf budget for the parts of a request whose encoded value is
 * value_len: the limit scaled by how much the encoding grows the protobuf
 * (JSON is larger), less 5 % so an estimate that is slightly off still fits.
 */
static size_t part_budget(size_t proto_len, size_t value_len, size_t limit)
{
    double scale = value_len > 0 ? (double)proto_len / (double)value_len : 1.0;
    double b = (double)limit * (scale < 1.0 ? scale : 1.0) * 0.95;

    return b < 64 ? 64 : (size_t)b;
}

static int fit(kafka_plan_t *plan, const kafka_plan_opts_t *o, const uint8_t *p, size_t len,
               size_t items, uint8_t *owned, const char *key, size_t key_len, int depth, char *err,
               size_t errlen);

/*
 * Splits one part into smaller ones with at most `budget` protobuf bytes each
 * (items too big alone are dropped) and fits each of them.
 */
static int split_and_fit(kafka_plan_t *plan, const kafka_plan_opts_t *o, const uint8_t *p,
                         size_t len, size_t budget, const char *key, size_t key_len, int depth,
                         char *err, size_t errlen)
{
    ct_wire_index_t idx = {0};
    uint32_t *group = NULL;
    ct_buf_t *parts = NULL;
    size_t *counts = NULL;
    size_t ngroups = 0, oversize = 0;
    int rc;

    rc = ct_wire_index(&idx, o->signal, p, len);
    if (rc < 0) {
        set_err(err, errlen, "cannot index the request for splitting");
        goto out;
    }
    group = malloc((idx.nitem ? idx.nitem : 1) * sizeof(*group));
    if (!group) {
        rc = -ENOMEM;
        goto out;
    }

    /* Shrink the budget until the plan makes progress: at least two parts or a dropped item. */
    for (;;) {
        ngroups = ct_wire_plan_split(&idx, 0, budget, group, &oversize);
        if (ngroups > 1 || oversize > 0 || budget <= 64)
            break;
        budget /= 2;
    }
    for (size_t i = 0; i < idx.nitem; i++) {
        if (group[i] == CT_WIRE_SKIP)
            plan_drop(plan, 1, ct_wire_item_size(&idx, i));
    }
    if (ngroups == 0)
        goto out;

    parts = calloc(ngroups, sizeof(*parts));
    counts = calloc(ngroups, sizeof(*counts));
    if (!parts || !counts) {
        rc = -ENOMEM;
        goto out;
    }
    rc = ct_wire_regroup(&idx, group, ngroups, parts, counts);
    if (rc < 0) {
        set_err(err, errlen, "cannot re-frame the items of a split request");
        goto out;
    }
    for (size_t g = 0; g < ngroups && rc == 0; g++) {
        size_t plen;
        uint8_t *pp;

        if (counts[g] == 0)
            continue;
        pp = ct_buf_take(&parts[g], &plen);
        rc = fit(plan, o, pp, plen, counts[g], pp, key, key_len, depth + 1, err, errlen);
    }

out:
    if (parts) {
        for (size_t g = 0; g < ngroups; g++)
            ct_buf_free(&parts[g]);
    }
    free(parts);
    free(counts);
    free(group);
    ct_wire_index_free(&idx);
    return rc;
}

/* A run of whole top-level entries (resources) of a request: one part of a split. */
typedef struct top_run {
    size_t off, len, items;
} top_run_t;

/*
 * Splits a request of several resources between its top-level entries: each
 * part is a contiguous run of whole ResourceSpans (Metrics, Logs) entries,
 * itself a valid request, so the records borrow the request's bytes and
 * nothing is copied. This is the usual shape of a batch: the requests of
 * many clients, concatenated. Returns 1 when the parts were planned, 0 when
 * this split does not apply (one resource, a resource larger than the budget
 * on its own, or fields other than resources at the top level: the caller
 * re-frames the items instead), or a negative errno.
 */
static int split_at_resources(kafka_plan_t *plan, const kafka_plan_opts_t *o, const uint8_t *p,
                              size_t len, size_t budget, const char *key, size_t key_len, int depth,
                              char *err, size_t errlen)
{
    ct_wire_index_t idx = {0};
    size_t *res_items = NULL, pos = 0, nres = 0, nruns = 0;
    top_run_t *runs = NULL;
    wire_field_t f;
    int rc, more;

    rc = ct_wire_index(&idx, o->signal, p, len);
    if (rc < 0 || idx.nres < 2) {
        rc = 0;
        goto out;
    }
    res_items = calloc(idx.nres, sizeof(*res_items));
    runs = calloc(idx.nres, sizeof(*runs));
    if (!res_items || !runs) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < idx.nitem; i++) {
        size_t parent = idx.item[i].parent;

        if (o->signal == CT_SIGNAL_METRICS)
            parent = idx.metric[parent].parent;
        res_items[idx.scope[parent].parent]++;
    }

    /* Greedy runs of whole entries under the budget, in order. */
    for (size_t start = 0; (more = wire_next(p, len, &pos, &f)) == 1; start = pos) {
        if (f.num != 1 || f.type != 2 || nres >= idx.nres ||
            idx.res[nres].off != (size_t)(f.p - p) || pos - start > budget) {
            rc = 0;
            goto out;
        }
        top_run_t *cur = nruns ? &runs[nruns - 1] : NULL;
        if (cur && cur->len + (pos - start) <= budget) {
            cur->len += pos - start;
            cur->items += res_items[nres];
        } else {
            runs[nruns++] = (top_run_t){start, pos - start, res_items[nres]};
        }
        nres++;
    }
    if (more < 0 || nres != idx.nres) {
        rc = 0;
        goto out;
    }

    rc = 1;
    for (size_t r = 0; r < nruns && rc == 1; r++) {
        int frc;

        if (runs[r].items == 0)
            continue;
        frc = fit(plan, o, p + runs[r].off, runs[r].len, runs[r].items, NULL, key, key_len,
                  depth + 1, err, errlen);
        if (frc < 0)
            rc = frc;
    }

out:
    free(res_items);
    free(runs);
    ct_wire_index_free(&idx);
    return rc;
}

static int fit(kafka_plan_t *plan, const kafka_plan_opts_t *o, const uint8_t *p, size_t len,
               size_t items, uint8_t *owned, const char *key, size_t key_len, int depth, char *err,
               size_t errlen)
{
    ct_buf_t json = {0};
    uint8_t *value = NULL;
    size_t value_len = len, limit;
    int rc = 0;

    limit = o->max_bytes > key_len ? o->max_bytes - key_len : 0;
    if (o->encoding == KAFKA_ENCODING_JSON) {
        rc = ct_otlp_json_encode(o->signal, p, len, &json, err, errlen);
        if (rc < 0)
            goto out;
        value = ct_buf_take(&json, &value_len);
    }

    if (value_len <= limit) {
        rc = plan_push(plan, p, len, owned, value, value_len, items, key, key_len);
        owned = value = NULL;
        goto out;
    }
    if (items <= 1 || depth >= FIT_MAX_DEPTH) {
        plan_drop(plan, items, value_len);
        goto out;
    }
    /* Parts that borrow p need p to outlive the plan: only when no record is to own it. */
    if (!owned) {
        rc = split_at_resources(plan, o, p, len, part_budget(len, value_len, limit), key, key_len,
                                depth, err, errlen);
        if (rc != 0) {
            rc = rc < 0 ? rc : 0;
            goto out;
        }
    }
    rc = split_and_fit(plan, o, p, len, part_budget(len, value_len, limit), key, key_len, depth,
                       err, errlen);

out:
    ct_buf_free(&json);
    free(value);
    free(owned);
    return rc;
}

int kafka_plan_fit(kafka_plan_t *plan, const kafka_plan_opts_t *o, const uint8_t *p, size_t len,
                   size_t items, uint8_t *owned, const char *key, size_t key_len, char *err,
                   size_t errlen)
{
    return fit(plan, o, p, len, items, owned, key, key_len, 0, err, errlen);
}

/* ---- partitioning ---- */

/* The resource an item belongs to, through its scope (and metric). */
static size_t item_resource(const ct_wire_index_t *idx, size_t i)
{
    size_t parent = idx->item[i].parent;

    if (idx->signal == CT_SIGNAL_METRICS)
        parent = idx->metric[parent].parent;
    return idx->scope[parent].parent;
}

/* Keys of the groups being formed and a hash table from key to group. */
typedef struct key_groups {
    char (*key)[KAFKA_KEY_MAX];
    size_t n;
    uint32_t *slot; /* group + 1; 0: empty */
    size_t nslots;  /* a power of two, at least twice the number of keys */
} key_groups_t;

static int key_groups_init(key_groups_t *kg, size_t max_keys)
{
    kg->nslots = 16;
    while (kg->nslots < 2 * max_keys)
        kg->nslots *= 2;
    kg->slot = calloc(kg->nslots, sizeof(*kg->slot));
    kg->key = calloc(max_keys ? max_keys : 1, sizeof(*kg->key));
    kg->n = 0;
    return kg->slot && kg->key ? 0 : -ENOMEM;
}

static void key_groups_free(key_groups_t *kg)
{
    free(kg->slot);
    free(kg->key);
}

/* The group of a key, added when new (the caller sized the table for every key). */
static uint32_t key_groups_get(key_groups_t *kg, const char *key)
{
    uint64_t h = FNV_OFFSET;
    size_t i;

    fnv_bytes(&h, key, strlen(key));
    for (i = h & (kg->nslots - 1); kg->slot[i]; i = (i + 1) & (kg->nslots - 1)) {
        if (strcmp(kg->key[kg->slot[i] - 1], key) == 0)
            return kg->slot[i] - 1;
    }
    snprintf(kg->key[kg->n], KAFKA_KEY_MAX, "%s", key);
    kg->slot[i] = (uint32_t)++kg->n;
    return (uint32_t)(kg->n - 1);
}

/*
 * The key of one item: its trace id in hex (Span field 1, LogRecord field 9),
 * or "" when it has none or it is all zero.
 */
static void trace_key(const ct_wire_index_t *idx, size_t i, char *key)
{
    static const uint8_t zero[16];
    uint32_t field = idx->signal == CT_SIGNAL_LOGS ? 9 : 1;
    const uint8_t *id;
    size_t n;

    key[0] = '\0';
    if (ct_wire_find_bytes(idx->data + idx->item[i].off, idx->item[i].len, field, &id, &n) == 0 &&
        n == 16 && memcmp(id, zero, 16) != 0)
        kafka_trace_id_hex(id, key);
}

/*
 * The key of each resource (NULL-terminated strings in keys[r]). A resource
 * without attributes still gets a key (the hash of nothing), so that all such
 * resources land together.
 */
static int resource_keys(const ct_wire_index_t *idx, char (*keys)[KAFKA_KEY_MAX])
{
    for (size_t r = 0; r < idx->nres; r++) {
        const uint8_t *res = NULL;
        size_t rlen = 0;

        /* ResourceSpans/Metrics/Logs field 1 is the Resource; absent means empty. */
        if (ct_wire_find_bytes(idx->data + idx->res[r].off, idx->res[r].len, 1, &res, &rlen) < 0)
            rlen = 0;
        if (kafka_resource_key(rlen ? res : (const uint8_t *)"", rlen, keys[r]) < 0)
            return -EINVAL;
    }
    return 0;
}

static int partition(kafka_plan_t *plan, const kafka_plan_opts_t *o, const uint8_t *p, size_t len,
                     char *err, size_t errlen)
{
    ct_wire_index_t *idx = &plan->idx;
    char(*rkeys)[KAFKA_KEY_MAX] = NULL;
    key_groups_t kg = {0};
    uint32_t *group = NULL;
    ct_buf_t *parts = NULL;
    size_t *counts = NULL;
    int rc;

    rc = ct_wire_index(idx, o->signal, p, len);
    if (rc < 0) {
        set_err(err, errlen, "cannot index the request for partitioning");
        goto out;
    }
    if (idx->nitem == 0)
        goto out;
    group = malloc(idx->nitem * sizeof(*group));
    rc = key_groups_init(&kg, o->partition == KAFKA_PARTITION_TRACE_ID ? idx->nitem : idx->nres);
    if (!group || rc < 0) {
        rc = -ENOMEM;
        goto out;
    }

    if (o->partition == KAFKA_PARTITION_TRACE_ID) {
        for (size_t i = 0; i < idx->nitem; i++) {
            char key[KAFKA_KEY_MAX];

            trace_key(idx, i, key);
            group[i] = key_groups_get(&kg, key);
        }
    } else {
        rkeys = calloc(idx->nres ? idx->nres : 1, sizeof(*rkeys));
        if (!rkeys) {
            rc = -ENOMEM;
            goto out;
        }
        rc = resource_keys(idx, rkeys);
        if (rc < 0) {
            set_err(err, errlen, "malformed resource attributes");
            goto out;
        }
        for (size_t i = 0; i < idx->nitem; i++)
            group[i] = key_groups_get(&kg, rkeys[item_resource(idx, i)]);
    }

    /* One group: the request's own bytes, keyed, without re-framing. */
    if (kg.n == 1) {
        rc = fit(plan, o, p, len, idx->nitem, NULL, kg.key[0], strlen(kg.key[0]), 0, err, errlen);
        goto out;
    }

    parts = calloc(kg.n, sizeof(*parts));
    counts = calloc(kg.n, sizeof(*counts));
    if (!parts || !counts) {
        rc = -ENOMEM;
        goto out;
    }
    rc = ct_wire_regroup(idx, group, kg.n, parts, counts);
    if (rc < 0) {
        set_err(err, errlen, "cannot re-frame the items of a partitioned request");
        goto out;
    }
    for (size_t g = 0; g < kg.n && rc == 0; g++) {
        size_t plen;
        uint8_t *pp = ct_buf_take(&parts[g], &plen);

        rc = fit(plan, o, pp, plen, counts[g], pp, kg.key[g], strlen(kg.key[g]), 0, err, errlen);
    }

out:
    if (parts) {
        for (size_t g = 0; g < kg.n; g++)
            ct_buf_free(&parts[g]);
    }
    free(parts);
    free(counts);
    free(group);
    free(rkeys);
    key_groups_free(&kg);
    return rc;
}

int kafka_plan_request(kafka_plan_t *plan, const kafka_plan_opts_t *o, const uint8_t *p, size_t len,
                       size_t items, char *err, size_t errlen)
{
    if (len == 0)
        return 0;
    if (o->partition == KAFKA_PARTITION_NONE)
        return fit(plan, o, p, len, items, NULL, NULL, 0, 0, err, errlen);
    return partition(plan, o, p, len, err, errlen);
}
