/*
 * Configuration: the YAML file as a tree of nodes that remember their file,
 * line and column, and option tables through which every component declares
 * its keys once (type, default, bounds, description).
 */
#ifndef CT_CONFIG_H
#define CT_CONFIG_H

#include "ct_common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ct_node_kind { CT_NODE_NULL, CT_NODE_SCALAR, CT_NODE_MAP, CT_NODE_SEQ } ct_node_kind_t;

typedef struct ct_node ct_node_t;
struct ct_node {
    ct_node_kind_t kind;
    const char *file;
    int line, col;     /* 1-based position of the node in its file */
    char *value;       /* SCALAR: the text, environment references expanded */
    bool quoted;       /* SCALAR: written in quotes (never null, never a number) */
    size_t n;          /* MAP, SEQ: number of entries */
    ct_node_t **keys;  /* MAP: key nodes (scalars) */
    ct_node_t **items; /* MAP: values; SEQ: items */
};

/* An error message prefixed with "file:line:col: ". */
typedef struct ct_err {
    char msg[1024];
} ct_err_t;

/* Formats err at node `at` (which may be NULL) and returns -EINVAL. */
int ct_errf(ct_err_t *err, const ct_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Loads and parses a YAML file. Expands ${env:VAR}, ${VAR}, ${env:VAR:-default}
 * and $$ in scalars. On error returns NULL with err set.
 */
ct_node_t *ct_config_load_file(const char *path, ct_err_t *err);
ct_node_t *ct_config_load_string(const char *name, const char *yaml, size_t len, ct_err_t *err);
void ct_node_free(ct_node_t *n);

/* Expands environment references in s; returns a malloc'd string or NULL with err set. */
char *ct_config_expand_env(const char *s, const ct_node_t *at, ct_err_t *err);

/* Map lookup; NULL when absent or when `map` is not a map. */
const ct_node_t *ct_node_get(const ct_node_t *map, const char *key);
bool ct_node_is_null(const ct_node_t *n);

/* Go-style durations ("200ms", "1m30s", "5s"; "0" alone) in nanoseconds. */
int ct_parse_duration(const char *s, uint64_t *ns);
/* Sizes: a plain integer of bytes or with a unit (KiB, MiB, GiB, KB, MB, GB). */
int ct_parse_size(const char *s, uint64_t *bytes);

/* Values of the list and map option types. */
typedef struct ct_strlist {
    size_t n;
    char **v;
} ct_strlist_t;

typedef struct ct_kvlist {
    size_t n;
    char **k;
    char **v;
} ct_kvlist_t;

const char *ct_kvlist_get(const ct_kvlist_t *kv, const char *key);

typedef enum ct_opt_type {
    CT_OPT_STRING,   /* char * (NULL when unset and no default) */
    CT_OPT_BOOL,     /* bool */
    CT_OPT_INT,      /* int64_t */
    CT_OPT_DOUBLE,   /* double */
    CT_OPT_DURATION, /* uint64_t nanoseconds */
    CT_OPT_SIZE,     /* uint64_t bytes */
    CT_OPT_ENUM,     /* int: index into `choices` ("a|b|c") */
    CT_OPT_STRINGS,  /* ct_strlist_t */
    CT_OPT_MAP,      /* ct_kvlist_t: a map of strings to strings */
    CT_OPT_SECTION,  /* a nested map described by `sub`; bool `present` at offset */
    CT_OPT_RAW,      /* const ct_node_t *: kept for the component to read itself */
} ct_opt_type_t;

#define CT_OPT_REQUIRED 0x1u /* must be present in the file */
#define CT_OPT_SECRET   0x2u /* never printed */
#define CT_OPT_NO_FLAG  ((size_t)-1)

/*
 * One configuration key. Offsets are from the start of the component's
 * config struct; a SECTION's sub-table offsets are from `base`, so tables
 * such as the retry settings are written once and embedded anywhere.
 */
typedef struct ct_opt {
    const char *key;
    ct_opt_type_t type;
    size_t offset;
    const char *def;          /* the default, as it would be written in YAML; NULL: none */
    double min, max;          /* bounds for INT, DOUBLE, DURATION (ns), SIZE; both 0: none */
    const char *choices;      /* ENUM */
    const char *desc;         /* one line */
    const struct ct_opt *sub; /* SECTION */
    size_t base;              /* SECTION: where the sub-table's struct starts */
    unsigned flags;
} ct_opt_t;

#define CT_OPT_END                                                                                 \
    {                                                                                              \
        NULL                                                                                       \
    }

/* Context for error messages: the component id and the path inside it. */
typedef struct ct_opt_ctx {
    const char *what; /* e.g. "receivers::otlp" */
} ct_opt_ctx_t;

/* Sets every default of the table into cfg. */
int ct_opt_defaults(const ct_opt_t *table, void *cfg, ct_err_t *err);
/*
 * Applies a YAML map to cfg: every key must be in the table; types, bounds
 * and choices are checked. `map` may be NULL or null (defaults only).
 */
int ct_opt_apply(const ct_opt_t *table, void *cfg, const ct_node_t *map, const char *what,
                 ct_err_t *err);
/* Frees what ct_opt_apply/ct_opt_defaults allocated in cfg. */
void ct_opt_free(const ct_opt_t *table, void *cfg);
/* Writes the table as documentation: one line per key with type, default and description. */
void ct_opt_describe(const ct_opt_t *table, const char *prefix, ct_buf_t *out);

#endif
