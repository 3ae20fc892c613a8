/*
 * Decompression with a ceiling, shared by the receiver's transports: HTTP
 * bodies as they stream in, and gRPC messages, which gRPC hands over still
 * compressed. Output is produced a chunk at a time and stops at the limit.
 */
#include "otlp_receiver.h"

#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define DECOMP_CHUNK 16384 /* output step: what one call may write past the last check */

struct otlp_decomp {
    otlp_coding_t coding;
    ct_buf_t *out; /* borrowed; out->max is the ceiling */
    z_stream z;
    bool z_live; /* z was initialised */
    bool z_end;  /* the last gzip member (or the zlib stream) ended */
    ZSTD_DCtx *zd;
    size_t zstd_hint; /* ZSTD_decompressStream's last answer: 0 at a frame's end */
    uint64_t raw;     /* input bytes taken */
    int err;          /* the first error; sticks */
};

const char *otlp_coding_name(otlp_coding_t coding)
{
    switch (coding) {
    case OTLP_CODING_GZIP:
        return "gzip";
    case OTLP_CODING_DEFLATE:
        return "deflate";
    case OTLP_CODING_ZSTD:
        return "zstd";
    default:
        return "identity";
    }
}

otlp_decomp_t *otlp_decomp_new(otlp_coding_t coding, ct_buf_t *out)
{
    otlp_decomp_t *d = calloc(1, sizeof *d);
    int window_log = 10;

    if (d == NULL)
        return NULL;
    d->coding = coding;
    d->out = out;
    d->zstd_hint = 1;
    if (coding == OTLP_CODING_GZIP || coding == OTLP_CODING_DEFLATE) {
        /* 15 + 16: a gzip wrapper; 15 alone: the zlib one. */
        if (inflateInit2(&d->z, coding == OTLP_CODING_GZIP ? 15 + 16 : 15) != Z_OK)
            goto fail;
        d->z_live = true;
    } else if (coding == OTLP_CODING_ZSTD) {
        d->zd = ZSTD_createDCtx();
        if (d->zd == NULL)
            goto fail;
        /* No frame needs a window larger than the largest output we take. */
        while (window_log < 27 && (out->max == 0 || (1ull << window_log) < out->max))
            window_log++;
        ZSTD_DCtx_setParameter(d->zd, ZSTD_d_windowLogMax, window_log);
    }
    return d;
fail:
    free(d);
    return NULL;
}

void otlp_decomp_free(otlp_decomp_t *d)
{
    if (d == NULL)
        return;
    if (d->z_live)
        inflateEnd(&d->z);
    ZSTD_freeDCtx(d->zd);
    free(d);
}

/* Records the first error, with its reason when it is the stream's fault. */
static int fail_with(otlp_decomp_t *d, int err, char *msg, size_t msglen, const char *why)
{
    if (d->err == 0) {
        d->err = err;
        if (err == -EBADMSG)
            snprintf(msg, msglen, "corrupt %s stream: %s", otlp_coding_name(d->coding), why);
    }
    return d->err;
}

static int put(otlp_decomp_t *d, const void *p, size_t n, char *msg, size_t msglen)
{
    int rc = ct_buf_append(d->out, p, n);

    return rc == 0 ? 0 : fail_with(d, rc == -E2BIG ? -E2BIG : -ENOMEM, msg, msglen, NULL);
}

/*
 * gzip and zlib input. One step fills at most DECOMP_CHUNK bytes of output,
 * so input that inflates without end stops at the ceiling. Several gzip
 * members one after another are all read, as gunzip does.
 */
static int inflate_feed(otlp_decomp_t *d, const uint8_t *p, size_t n, char *msg, size_t msglen)
{
    uint8_t chunk[DECOMP_CHUNK];

    d->z.next_in = (Bytef *)p;
    d->z.avail_in = (uInt)n;
    while (d->err == 0) {
        int zr;

        if (d->z_end) {
            if (d->z.avail_in == 0)
                break;
            if (d->coding != OTLP_CODING_GZIP)
                return fail_with(d, -EBADMSG, msg, msglen, "data after the end of the stream");
            inflateReset(&d->z); /* the next gzip member */
            d->z_end = false;
        }
        d->z.next_out = chunk;
        d->z.avail_out = sizeof chunk;
        zr = inflate(&d->z, Z_NO_FLUSH);
        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
            return fail_with(d, zr == Z_MEM_ERROR ? -ENOMEM : -EBADMSG, msg, msglen,
                             d->z.msg ? d->z.msg : "invalid data");
        if (sizeof chunk - d->z.avail_out > 0 &&
            put(d, chunk, sizeof chunk - d->z.avail_out, msg, msglen) != 0)
            break;
        if (zr == Z_STREAM_END)
            d->z_end = true;
        else if (d->z.avail_in == 0 && d->z.avail_out != 0)
            break; /* all input taken and all output out */
        else if (zr == Z_BUF_ERROR)
            break;
    }
    return d->err;
}

static int zstd_feed(otlp_decomp_t *d, const uint8_t *p, size_t n, char *msg, size_t msglen)
{
    uint8_t chunk[DECOMP_CHUNK];
    ZSTD_inBuffer in = {p, n, 0};

    while (d->err == 0) {
        ZSTD_outBuffer o = {chunk, sizeof chunk, 0};
        size_t zr = ZSTD_decompressStream(d->zd, &o, &in);

        if (ZSTD_isError(zr)) {
            bool oom = ZSTD_getErrorCode(zr) == ZSTD_error_memory_allocation;
            return fail_with(d, oom ? -ENOMEM : -EBADMSG, msg, msglen, ZSTD_getErrorName(zr));
        }
        d->zstd_hint = zr;
        if (o.pos > 0 && put(d, chunk, o.pos, msg, msglen) != 0)
            break;
        if (in.pos == in.size && o.pos < o.size)
            break;
    }
    return d->err;
}

int otlp_decomp_feed(otlp_decomp_t *d, const void *p, size_t n, char *msg, size_t msglen)
{
    if (d->err != 0)
        return d->err;
    d->raw += n;
    switch (d->coding) {
    case OTLP_CODING_GZIP:
    case OTLP_CODING_DEFLATE:
        /* zlib counts input in uInt: a larger piece goes in several steps. */
        while (n > 0 && d->err == 0) {
            size_t step = n > (1u << 30) ? (1u << 30) : n;
            inflate_feed(d, p, step, msg, msglen);
            p = (const uint8_t *)p + step;
            n -= step;
        }
        return d->err;
    case OTLP_CODING_ZSTD:
        return zstd_feed(d, p, n, msg, msglen);
    default:
        return put(d, p, n, msg, msglen);
    }
}

int otlp_decomp_finish(otlp_decomp_t *d, char *msg, size_t msglen)
{
    if (d->err != 0)
        return d->err;
    if ((d->coding == OTLP_CODING_GZIP || d->coding == OTLP_CODING_DEFLATE) && !d->z_end)
        return fail_with(d, -EBADMSG, msg, msglen, "truncated");
    if (d->coding == OTLP_CODING_ZSTD && (d->raw == 0 || d->zstd_hint != 0))
        return fail_with(d, -EBADMSG, msg, msglen, "truncated");
    return 0;
}
