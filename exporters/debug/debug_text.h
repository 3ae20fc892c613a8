/*
 * The debug exporter's text rendering of an OTLP export request: a summary
 * line, one line per item, or every field of every resource, scope and item.
 */
#ifndef DEBUG_TEXT_H
#define DEBUG_TEXT_H

#include "ct_common.h"

#include <stddef.h>
#include <stdint.h>

/* The values of the `verbosity` key, in the order of its choices. */
enum { DEBUG_BASIC = 0, DEBUG_NORMAL = 1, DEBUG_DETAILED = 2 };

/*
 * Appends the text for one encoded Export*ServiceRequest to out, as lines
 * that each end in '\n': first the summary line ("TracesExporter
 * resource_spans=1 spans=3"), then, for normal, one line per span, metric or
 * log record and, for detailed, an indented listing of everything in the
 * request. Control characters in the data are escaped (\n, \t, \xNN) so a
 * client cannot forge lines or send terminal escapes.
 * Returns 0, -EINVAL when the bytes do not decode (err says so), -ENOMEM.
 */
int debug_text_render(ct_signal_t sig, const uint8_t *p, size_t len, int verbosity, ct_buf_t *out,
                      char *err, size_t errlen);

#endif
