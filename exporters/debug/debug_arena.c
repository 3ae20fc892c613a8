/*
 * Bump allocation for decoding one request with protobuf-c: allocations are
 * carved from chunks and never freed one by one; the arena goes in one call.
 */
#include "debug_arena.h"

#include <stdint.h>
#include <stdlib.h>

#define ARENA_ALIGN     16u
#define ARENA_MIN_CHUNK 4096u
#define ARENA_MAX_CHUNK (1u << 20)

struct debug_arena_chunk {
    debug_arena_chunk_t *next;
    size_t cap, used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

static debug_arena_chunk_t *arena_new_chunk(debug_arena_t *a, size_t cap)
{
    if (a->total + cap > a->max)
        return NULL;
    debug_arena_chunk_t *c = malloc(sizeof *c + cap);
    if (!c)
        return NULL;
    c->cap = cap;
    c->used = 0;
    a->total += cap;
    return c;
}

static void *arena_alloc(void *data, size_t n)
{
    debug_arena_t *a = data;
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need < n)
        return NULL;

    debug_arena_chunk_t *c = a->head;
    if (c && c->cap - c->used >= need) {
        void *p = c->data + c->used;
        c->used += need;
        return p;
    }

    /*
     * A big allocation (a long string or bytes value) gets a chunk of its
     * own behind the current one, so the room left in the current chunk is
     * not wasted.
     */
    if (need > a->chunk_size / 4) {
        debug_arena_chunk_t *big = arena_new_chunk(a, need);
        if (!big)
            return NULL;
        big->used = need;
        if (c) {
            big->next = c->next;
            c->next = big;
        } else {
            big->next = NULL;
            a->head = big;
        }
        return big->data;
    }

    debug_arena_chunk_t *fresh = arena_new_chunk(a, a->chunk_size);
    if (!fresh)
        return NULL;
    fresh->next = c;
    a->head = fresh;
    if (a->chunk_size < ARENA_MAX_CHUNK)
        a->chunk_size *= 2;
    fresh->used = need;
    return fresh->data;
}

static void arena_free(void *data, void *p)
{
    /* Freed with the whole arena. */
    (void)data;
    (void)p;
}

void debug_arena_init(debug_arena_t *a, size_t hint, size_t max)
{
    size_t first = hint < ARENA_MIN_CHUNK ? ARENA_MIN_CHUNK : hint;
    if (first > ARENA_MAX_CHUNK)
        first = ARENA_MAX_CHUNK;
    a->pb.alloc = arena_alloc;
    a->pb.free = arena_free;
    a->pb.allocator_data = a;
    a->head = NULL;
    a->chunk_size = first;
    a->total = 0;
    a->max = max;
}

void debug_arena_release(debug_arena_t *a)
{
    debug_arena_chunk_t *c = a->head;
    while (c) {
        debug_arena_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
}
