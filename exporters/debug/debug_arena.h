/*
 * A bump allocator for protobuf-c: a decoded request lives in a few large
 * chunks that are freed in one call, instead of one malloc per field.
 */
#ifndef DEBUG_ARENA_H
#define DEBUG_ARENA_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

typedef struct debug_arena_chunk debug_arena_chunk_t;

typedef struct debug_arena {
    ProtobufCAllocator pb;     /* hand &arena->pb to *__unpack */
    debug_arena_chunk_t *head; /* the chunk being filled; older ones follow */
    size_t chunk_size;         /* size of the next ordinary chunk */
    size_t total;              /* bytes held by all chunks */
    size_t max;                /* allocations fail past this total */
} debug_arena_t;

/*
 * Prepares an empty arena. `hint` sizes the first chunk (a decoded request
 * takes a few times its wire size); `max` bounds the whole arena so a hostile
 * request cannot make the decoder take unbounded memory.
 */
void debug_arena_init(debug_arena_t *a, size_t hint, size_t max);
/* Frees every chunk; the arena can be used again afterwards. */
void debug_arena_release(debug_arena_t *a);

#endif
