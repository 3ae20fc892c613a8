/*
 * cotel's allocator: jemalloc, tuned so that memory freed after a burst
 * returns to the kernel within about a second. The memory_limiter judges
 * the resident set; memory kept by malloc would keep it refusing
 * (docs/memory.md says why jemalloc and these values).
 */

/*
 * Read by jemalloc when it initialises, before main. MALLOC_CONF in the
 * environment still overrides it.
 * - background_thread: jemalloc's own thread returns unused pages, on time
 *   even when the threads that freed them have gone quiet; two such threads
 *   at most, however many CPUs the node has;
 * - dirty_decay_ms: unused pages go back over about one second;
 * - muzzy_decay_ms 0: they go with MADV_DONTNEED, which lowers the resident
 *   set at once, not MADV_FREE, which the kernel takes back only under
 *   pressure (and which still counts in the resident set until then).
 */
const char *malloc_conf =
    "background_thread:true,max_background_threads:2,dirty_decay_ms:1000,muzzy_decay_ms:0";
