/*
 * The configuration tree: YAML parsed by libyaml into nodes that keep their
 * position, environment references expanded in scalar values, and the
 * generic walk of option tables that fills a component's config struct.
 */
#include "ct_config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

int ct_errf(ct_err_t *err, const ct_node_t *at, const char *fmt, ...)
{
    if (err == NULL)
        return -EINVAL;
    int n = 0;
    if (at != NULL && at->file != NULL)
        n = snprintf(err->msg, sizeof err->msg, "%s:%d:%d: ", at->file, at->line, at->col);
    if (n < 0 || (size_t)n >= sizeof err->msg)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg + n, sizeof err->msg - (size_t)n, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

void ct_node_free(ct_node_t *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->n; i++) {
        if (n->keys)
            ct_node_free(n->keys[i]);
        ct_node_free(n->items[i]);
    }
    free(n->keys);
    free(n->items);
    free(n->value);
    free(n);
}

/* Appends the value of a ${...} reference (without the braces) to b. */
static int expand_var(ct_buf_t *b, const char *ref, size_t len, const ct_node_t *at, ct_err_t *err)
{
    char name[256];
    const char *def = NULL;
    size_t deflen = 0;

    if (len > 4 && memcmp(ref, "env:", 4) == 0) {
        ref += 4;
        len -= 4;
    }
    for (size_t i = 0; i + 1 < len; i++) {
        if (ref[i] == ':' && ref[i + 1] == '-') {
            def = ref + i + 2;
            deflen = len - i - 2;
            len = i;
            break;
        }
    }
    if (len == 0 || len >= sizeof name)
        return ct_errf(err, at, "invalid environment variable reference");
    for (size_t i = 0; i < len; i++) {
        if (ref[i] == ':')
            return ct_errf(err, at, "unsupported configuration provider in '${%.*s}'", (int)len,
                           ref);
        if (!isalnum((unsigned char)ref[i]) && ref[i] != '_')
            return ct_errf(err, at, "invalid environment variable name '%.*s'", (int)len, ref);
    }
    memcpy(name, ref, len);
    name[len] = '\0';

    const char *v = getenv(name);
    if (v != NULL && (*v != '\0' || def == NULL))
        return ct_buf_puts(b, v);
    if (def != NULL)
        return ct_buf_append(b, def, deflen);
    return 0; /* unset: expands to nothing, as in the OpenTelemetry Collector */
}

char *ct_config_expand_env(const char *s, const ct_node_t *at, ct_err_t *err)
{
    ct_buf_t b = {0};
    int rc = 0;

    for (const char *p = s; *p && rc == 0;) {
        if (p[0] == '$' && p[1] == '$') {
            rc = ct_buf_putc(&b, '$');
            p += 2;
        } else if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            if (end == NULL) {
                rc = ct_errf(err, at, "unterminated '${' in value");
                break;
            }
            rc = expand_var(&b, p + 2, (size_t)(end - p - 2), at, err);
            p = end + 1;
        } else {
            rc = ct_buf_putc(&b, (uint8_t)*p++);
        }
    }
    if (rc == 0)
        rc = ct_buf_putc(&b, '\0');
    if (rc != 0) {
        if (rc != -EINVAL)
            ct_errf(err, at, "out of memory expanding a value");
        ct_buf_free(&b);
        return NULL;
    }
    return (char *)ct_buf_take(&b, NULL);
}

static bool scalar_is_null(const yaml_node_t *yn)
{
    if (yn->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)yn->data.scalar.value;
    return *v == '\0' || strcmp(v, "~") == 0 || strcasecmp(v, "null") == 0;
}

static ct_node_t *convert(yaml_document_t *doc, yaml_node_t *yn, const char *file, int depth,
                          bool is_key, ct_err_t *err);

/* A deep copy, for entries brought in by a YAML merge key. */
static ct_node_t *node_dup(const ct_node_t *src)
{
    ct_node_t *n = calloc(1, sizeof *n);
    if (n == NULL)
        return NULL;
    *n = *src;
    n->value = NULL;
    n->keys = n->items = NULL;
    n->n = 0;
    if (src->value != NULL && (n->value = strdup(src->value)) == NULL)
        goto fail;
    if (src->n > 0) {
        n->items = calloc(src->n, sizeof *n->items);
        n->keys = src->keys ? calloc(src->n, sizeof *n->keys) : NULL;
        if (n->items == NULL || (src->keys && n->keys == NULL))
            goto fail;
        for (size_t i = 0; i < src->n; i++) {
            n->n = i + 1;
            n->items[i] = node_dup(src->items[i]);
            if (src->keys)
                n->keys[i] = node_dup(src->keys[i]);
            if (n->items[i] == NULL || (src->keys && n->keys[i] == NULL))
                goto fail;
        }
    }
    return n;
fail:
    ct_node_free(n);
    return NULL;
}

static bool map_has(const ct_node_t *map, const char *key)
{
    for (size_t i = 0; i < map->n; i++) {
        if (strcmp(map->keys[i]->value, key) == 0)
            return true;
    }
    return false;
}

/* Appends the entries of src that map does not have (a merge key never overrides). */
static int merge_into(ct_node_t *map, const ct_node_t *src, const ct_node_t *at, ct_err_t *err)
{
    if (src->kind != CT_NODE_MAP)
        return ct_errf(err, at, "a merge key ('<<') takes a map or a list of maps");
    for (size_t i = 0; i < src->n; i++) {
        if (map_has(map, src->keys[i]->value))
            continue;
        ct_node_t **k = realloc(map->keys, (map->n + 1) * sizeof *k);
        if (k != NULL)
            map->keys = k;
        ct_node_t **v = realloc(map->items, (map->n + 1) * sizeof *v);
        if (v != NULL)
            map->items = v;
        if (k == NULL || v == NULL)
            return ct_errf(err, at, "out of memory");
        map->keys[map->n] = node_dup(src->keys[i]);
        map->items[map->n] = node_dup(src->items[i]);
        map->n++;
        if (map->keys[map->n - 1] == NULL || map->items[map->n - 1] == NULL)
            return ct_errf(err, at, "out of memory");
    }
    return 0;
}

/*
 * A YAML map. Keys must be unique; the YAML merge key "<<" (with an alias to
 * a map, or a list of them) adds the entries the map does not set itself.
 */
static int convert_map(yaml_document_t *doc, yaml_node_t *yn, ct_node_t *n, const char *file,
                       int depth, ct_err_t *err)
{
    size_t cnt = (size_t)(yn->data.mapping.pairs.top - yn->data.mapping.pairs.start);
    ct_node_t *merges[16];
    size_t nmerges = 0;
    int rc = 0;

    n->kind = CT_NODE_MAP;
    n->keys = calloc(cnt ? cnt : 1, sizeof *n->keys);
    n->items = calloc(cnt ? cnt : 1, sizeof *n->items);
    if (n->keys == NULL || n->items == NULL)
        return ct_errf(err, n, "out of memory");

    for (size_t i = 0; rc == 0 && i < cnt; i++) {
        yaml_node_pair_t *pair = &yn->data.mapping.pairs.start[i];
        yaml_node_t *k = yaml_document_get_node(doc, pair->key);
        yaml_node_t *v = yaml_document_get_node(doc, pair->value);
        if (k->type != YAML_SCALAR_NODE) {
            rc = ct_errf(err, n, "map keys must be plain strings");
            break;
        }
        if (k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
            strcmp((const char *)k->data.scalar.value, "<<") == 0) {
            if (nmerges == CT_ARRAY_LEN(merges)) {
                rc = ct_errf(err, n, "too many merge keys in one map");
                break;
            }
            merges[nmerges] = convert(doc, v, file, depth + 1, false, err);
            rc = merges[nmerges] ? 0 : -EINVAL;
            nmerges += merges[nmerges] != NULL;
            continue;
        }
        ct_node_t *key = convert(doc, k, file, depth + 1, true, err);
        if (key == NULL) {
            rc = -EINVAL;
            break;
        }
        if (map_has(n, key->value)) {
            rc = ct_errf(err, key, "duplicate key '%s'", key->value);
            ct_node_free(key);
            break;
        }
        n->keys[n->n] = key;
        n->items[n->n] = convert(doc, v, file, depth + 1, false, err);
        n->n++; /* so a failure frees what was built */
        if (n->items[n->n - 1] == NULL)
            rc = -EINVAL;
    }
    for (size_t m = 0; m < nmerges; m++) {
        const ct_node_t *src = merges[m];
        if (rc == 0 && src->kind == CT_NODE_SEQ) {
            for (size_t j = 0; rc == 0 && j < src->n; j++)
                rc = merge_into(n, src->items[j], src, err);
        } else if (rc == 0) {
            rc = merge_into(n, src, src, err);
        }
        ct_node_free(merges[m]);
    }
    return rc;
}

static ct_node_t *convert(yaml_document_t *doc, yaml_node_t *yn, const char *file, int depth,
                          bool is_key, ct_err_t *err)
{
    ct_node_t *n = calloc(1, sizeof *n);
    if (n == NULL) {
        ct_errf(err, NULL, "out of memory");
        return NULL;
    }
    n->file = file;
    n->line = (int)yn->start_mark.line + 1;
    n->col = (int)yn->start_mark.column + 1;
    if (depth > 64) {
        ct_errf(err, n, "configuration nested too deeply");
        goto fail;
    }

    switch (yn->type) {
    case YAML_SCALAR_NODE:
        if (!is_key && scalar_is_null(yn)) {
            n->kind = CT_NODE_NULL;
            break;
        }
        n->kind = CT_NODE_SCALAR;
        n->quoted = yn->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        n->value = is_key ? strdup((const char *)yn->data.scalar.value)
                          : ct_config_expand_env((const char *)yn->data.scalar.value, n, err);
        if (n->value == NULL) {
            if (is_key)
                ct_errf(err, n, "out of memory");
            goto fail;
        }
        break;
    case YAML_MAPPING_NODE:
        if (convert_map(doc, yn, n, file, depth, err) != 0)
            goto fail;
        break;
    case YAML_SEQUENCE_NODE: {
        n->kind = CT_NODE_SEQ;
        size_t cnt = (size_t)(yn->data.sequence.items.top - yn->data.sequence.items.start);
        n->items = calloc(cnt ? cnt : 1, sizeof *n->items);
        if (n->items == NULL) {
            ct_errf(err, n, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < cnt; i++) {
            yaml_node_t *v = yaml_document_get_node(doc, yn->data.sequence.items.start[i]);
            n->items[i] = convert(doc, v, file, depth + 1, false, err);
            if (n->items[i] == NULL)
                goto fail;
            n->n = i + 1;
        }
        break;
    }
    default:
        n->kind = CT_NODE_NULL;
        break;
    }
    return n;

fail:
    ct_node_free(n);
    return NULL;
}

ct_node_t *ct_config_load_string(const char *name, const char *yaml, size_t len, ct_err_t *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    ct_node_t *root = NULL;

    if (!yaml_parser_initialize(&parser)) {
        ct_errf(err, NULL, "%s: cannot initialise the YAML parser", name);
        return NULL;
    }
    /* libyaml asserts on a NULL input: an empty file's buffer may be NULL. */
    yaml_parser_set_input_string(&parser, (const unsigned char *)(yaml ? yaml : ""),
                                 yaml ? len : 0);
    if (!yaml_parser_load(&parser, &doc)) {
        ct_errf(err, NULL, "%s:%zu:%zu: invalid YAML: %s", name, parser.problem_mark.line + 1,
                parser.problem_mark.column + 1, parser.problem ? parser.problem : "error");
        yaml_parser_delete(&parser);
        return NULL;
    }

    yaml_node_t *top = yaml_document_get_root_node(&doc);
    if (top == NULL) {
        root = calloc(1, sizeof *root); /* an empty file is an empty map */
        if (root) {
            root->kind = CT_NODE_MAP;
            root->file = name;
            root->line = root->col = 1;
        }
    } else {
        root = convert(&doc, top, name, 0, false, err);
        if (root != NULL && root->kind != CT_NODE_MAP && root->kind != CT_NODE_NULL) {
            ct_errf(err, root, "the configuration must be a map of sections");
            ct_node_free(root);
            root = NULL;
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return root;
}

ct_node_t *ct_config_load_file(const char *path, ct_err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        ct_errf(err, NULL, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    ct_buf_t b = {.max = 64u << 20};
    char chunk[8192];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = ct_buf_append(&b, chunk, n);
    int rerr = ferror(f);
    fclose(f);
    if (rc != 0 || rerr) {
        ct_errf(err, NULL, "%s: cannot read the file", path);
        ct_buf_free(&b);
        return NULL;
    }
    /* Node positions point at the path for the life of the tree. */
    static char *names[64];
    static size_t nnames;
    const char *name = path;
    if (nnames < CT_ARRAY_LEN(names) && (names[nnames] = strdup(path)) != NULL)
        name = names[nnames++];
    ct_node_t *root = ct_config_load_string(name, (const char *)b.data, b.len, err);
    ct_buf_free(&b);
    return root;
}

const ct_node_t *ct_node_get(const ct_node_t *map, const char *key)
{
    if (map == NULL || map->kind != CT_NODE_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++) {
        if (strcmp(map->keys[i]->value, key) == 0)
            return map->items[i];
    }
    return NULL;
}

bool ct_node_is_null(const ct_node_t *n)
{
    return n == NULL || n->kind == CT_NODE_NULL;
}

int ct_parse_duration(const char *s, uint64_t *ns)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = {{"ns", 1},  {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"ms", 1e6},
                 {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
    const char *p = s;
    double total = 0;

    if (*p == '\0')
        return -EINVAL;
    if (strcmp(p, "0") == 0) {
        *ns = 0;
        return 0;
    }
    while (*p) {
        char *end;
        if (!isdigit((unsigned char)*p) && *p != '.')
            return -EINVAL;
        double v = strtod(p, &end);
        if (end == p)
            return -EINVAL;
        p = end;
        size_t best = 0;
        double mult = 0;
        for (size_t i = 0; i < CT_ARRAY_LEN(units); i++) {
            size_t ul = strlen(units[i].unit);
            if (strncmp(p, units[i].unit, ul) == 0 && ul > best) {
                best = ul;
                mult = units[i].mult;
            }
        }
        if (best == 0)
            return -EINVAL;
        p += best;
        total += v * mult;
    }
    if (total > 9.2e18)
        return -ERANGE;
    *ns = (uint64_t)llround(total);
    return 0;
}

int ct_parse_size(const char *s, uint64_t *bytes)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {{"", 1},
                 {"B", 1},
                 {"KiB", 1ull << 10},
                 {"MiB", 1ull << 20},
                 {"GiB", 1ull << 30},
                 {"KB", 1000},
                 {"MB", 1000000},
                 {"GB", 1000000000},
                 {"Ki", 1ull << 10},
                 {"Mi", 1ull << 20},
                 {"Gi", 1ull << 30}};
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)*s))
        return -EINVAL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return -ERANGE;
    while (*end == ' ')
        end++;
    for (size_t i = 0; i < CT_ARRAY_LEN(units); i++) {
        if (strcasecmp(end, units[i].unit) == 0) {
            if (v > UINT64_MAX / units[i].mult)
                return -ERANGE;
            *bytes = v * units[i].mult;
            return 0;
        }
    }
    return -EINVAL;
}

const char *ct_kvlist_get(const ct_kvlist_t *kv, const char *key)
{
    for (size_t i = 0; kv != NULL && i < kv->n; i++) {
        if (strcmp(kv->k[i], key) == 0)
            return kv->v[i];
    }
    return NULL;
}

/* ---- option tables ---- */

#define AT(base, off, type) ((type *)((char *)(base) + (off)))

static void strlist_free(ct_strlist_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static void kvlist_free(ct_kvlist_t *kv)
{
    for (size_t i = 0; i < kv->n; i++) {
        free(kv->k[i]);
        free(kv->v[i]);
    }
    free(kv->k);
    free(kv->v);
    kv->k = kv->v = NULL;
    kv->n = 0;
}

static int strlist_push(ct_strlist_t *l, const char *s, size_t len)
{
    char **v = realloc(l->v, (l->n + 1) * sizeof *v);
    if (v == NULL)
        return -ENOMEM;
    l->v = v;
    if ((v[l->n] = strndup(s, len)) == NULL)
        return -ENOMEM;
    l->n++;
    return 0;
}

/* Comma-separated values, as the collector's string-to-slice conversion. */
static int strlist_split(ct_strlist_t *l, const char *s)
{
    int rc = 0;
    while (rc == 0 && *s) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        while (len > 0 && isspace((unsigned char)*s)) {
            s++;
            len--;
        }
        while (len > 0 && isspace((unsigned char)s[len - 1]))
            len--;
        if (len > 0)
            rc = strlist_push(l, s, len);
        s = comma ? comma + 1 : s + strlen(s);
    }
    return rc;
}

static int choice_index(const char *choices, const char *v)
{
    int i = 0;
    size_t vl = strlen(v);
    for (const char *p = choices; *p; i++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == vl && strncasecmp(p, v, len) == 0)
            return i;
        if (bar == NULL)
            break;
        p = bar + 1;
    }
    return -1;
}

static bool out_of_bounds(const ct_opt_t *o, double v)
{
    return (o->min != 0 || o->max != 0) && (v < o->min || v > o->max);
}

static const char *type_name(ct_opt_type_t t)
{
    static const char *const names[] = {"string",         "bool",    "int",  "float",
                                        "duration",       "size",    "enum", "list of strings",
                                        "map of strings", "section", "any"};
    return names[t];
}

/* Parses scalar text for one option into its slot. at: for messages. */
static int set_scalar(const ct_opt_t *o, void *slot, const char *text, const ct_node_t *at,
                      const char *path, ct_err_t *err)
{
    char *end;
    switch (o->type) {
    case CT_OPT_STRING: {
        char *dup = strdup(text);
        if (dup == NULL)
            return ct_errf(err, at, "out of memory");
        free(*(char **)slot);
        *(char **)slot = dup;
        return 0;
    }
    case CT_OPT_BOOL:
        if (strcasecmp(text, "true") == 0) {
            *(bool *)slot = true;
            return 0;
        }
        if (strcasecmp(text, "false") == 0) {
            *(bool *)slot = false;
            return 0;
        }
        return ct_errf(err, at, "%s: '%s' is not a boolean (true or false)", path, text);
    case CT_OPT_INT: {
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0')
            return ct_errf(err, at, "%s: '%s' is not an integer", path, text);
        if (out_of_bounds(o, (double)v))
            return ct_errf(err, at, "%s: %lld is out of range [%.0f, %.0f]", path, v, o->min,
                           o->max);
        *(int64_t *)slot = v;
        return 0;
    }
    case CT_OPT_DOUBLE: {
        errno = 0;
        double v = strtod(text, &end);
        if (errno != 0 || end == text || *end != '\0' || isnan(v))
            return ct_errf(err, at, "%s: '%s' is not a number", path, text);
        if (out_of_bounds(o, v))
            return ct_errf(err, at, "%s: %g is out of range [%g, %g]", path, v, o->min, o->max);
        *(double *)slot = v;
        return 0;
    }
    case CT_OPT_DURATION: {
        uint64_t ns;
        errno = 0;
        long long plain = strtoll(text, &end, 10);
        if (end != text && *end == '\0' && errno == 0 && plain >= 0)
            ns = (uint64_t)plain; /* an integer is nanoseconds, as in Go */
        else if (ct_parse_duration(text, &ns) != 0)
            return ct_errf(err, at, "%s: '%s' is not a duration (write e.g. 200ms, 5s, 1m30s)",
                           path, text);
        if (out_of_bounds(o, (double)ns))
            return ct_errf(err, at, "%s: '%s' is out of range", path, text);
        *(uint64_t *)slot = ns;
        return 0;
    }
    case CT_OPT_SIZE: {
        uint64_t b;
        if (ct_parse_size(text, &b) != 0)
            return ct_errf(err, at, "%s: '%s' is not a size (bytes, or e.g. 512KiB, 20MiB)", path,
                           text);
        if (out_of_bounds(o, (double)b))
            return ct_errf(err, at, "%s: %s is out of range [%.0f, %.0f]", path, text, o->min,
                           o->max);
        *(uint64_t *)slot = b;
        return 0;
    }
    case CT_OPT_ENUM: {
        int i = choice_index(o->choices, text);
        if (i < 0)
            return ct_errf(err, at, "%s: '%s' is not one of %s", path, text, o->choices);
        *(int *)slot = i;
        return 0;
    }
    case CT_OPT_STRINGS: {
        ct_strlist_t *l = slot;
        strlist_free(l);
        if (strlist_split(l, text) != 0)
            return ct_errf(err, at, "out of memory");
        return 0;
    }
    default:
        return ct_errf(err, at, "%s: expected a %s", path, type_name(o->type));
    }
}

int ct_opt_defaults(const ct_opt_t *table, void *cfg, ct_err_t *err)
{
    for (const ct_opt_t *o = table; o->key != NULL; o++) {
        void *slot = AT(cfg, o->offset, void);
        if (o->type == CT_OPT_SECTION) {
            if (o->offset != CT_OPT_NO_FLAG)
                *(bool *)slot = false;
            int rc = ct_opt_defaults(o->sub, AT(cfg, o->base, void), err);
            if (rc != 0)
                return rc;
            continue;
        }
        if (o->def == NULL)
            continue;
        int rc = set_scalar(o, slot, o->def, NULL, o->key, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static const ct_opt_t *opt_find(const ct_opt_t *table, const char *key)
{
    for (const ct_opt_t *o = table; o->key != NULL; o++) {
        if (strcmp(o->key, key) == 0)
            return o;
    }
    return NULL;
}

static int unknown_key(const ct_opt_t *table, const ct_node_t *key, const char *what, ct_err_t *err)
{
    char known[512];
    size_t n = 0;
    known[0] = '\0';
    for (const ct_opt_t *o = table; o->key != NULL && n < sizeof known - 64; o++)
        n += (size_t)snprintf(known + n, sizeof known - n, "%s%s", n ? ", " : "", o->key);
    return ct_errf(err, key, "%s: unknown key '%s' (valid keys: %s)", what, key->value,
                   known[0] ? known : "none");
}

static int apply_one(const ct_opt_t *o, void *cfg, const ct_node_t *v, const char *path,
                     ct_err_t *err)
{
    void *slot = AT(cfg, o->offset, void);
    switch (o->type) {
    case CT_OPT_SECTION:
        if (o->offset != CT_OPT_NO_FLAG)
            *(bool *)slot = true;
        if (!ct_node_is_null(v) && v->kind != CT_NODE_MAP)
            return ct_errf(err, v, "%s: expected a map of settings", path);
        return ct_opt_apply(o->sub, AT(cfg, o->base, void), v, path, err);
    case CT_OPT_RAW:
        *(const ct_node_t **)slot = v;
        return 0;
    case CT_OPT_STRINGS:
        if (v->kind == CT_NODE_SEQ) {
            ct_strlist_t *l = slot;
            strlist_free(l);
            for (size_t i = 0; i < v->n; i++) {
                if (v->items[i]->kind != CT_NODE_SCALAR)
                    return ct_errf(err, v->items[i], "%s: expected a string", path);
                if (strlist_push(l, v->items[i]->value, strlen(v->items[i]->value)) != 0)
                    return ct_errf(err, v, "out of memory");
            }
            return 0;
        }
        break;
    case CT_OPT_MAP: {
        if (ct_node_is_null(v))
            return 0;
        if (v->kind != CT_NODE_MAP)
            return ct_errf(err, v, "%s: expected a map of strings", path);
        ct_kvlist_t *kv = slot;
        kvlist_free(kv);
        kv->k = calloc(v->n ? v->n : 1, sizeof *kv->k);
        kv->v = calloc(v->n ? v->n : 1, sizeof *kv->v);
        if (kv->k == NULL || kv->v == NULL)
            return ct_errf(err, v, "out of memory");
        for (size_t i = 0; i < v->n; i++) {
            const ct_node_t *item = v->items[i];
            if (item->kind != CT_NODE_SCALAR && item->kind != CT_NODE_NULL)
                return ct_errf(err, item, "%s.%s: expected a string", path, v->keys[i]->value);
            kv->k[i] = strdup(v->keys[i]->value);
            kv->v[i] = strdup(item->kind == CT_NODE_SCALAR ? item->value : "");
            kv->n = i + 1;
            if (kv->k[i] == NULL || kv->v[i] == NULL)
                return ct_errf(err, v, "out of memory");
        }
        return 0;
    }
    default:
        break;
    }
    if (ct_node_is_null(v)) {
        if (o->type == CT_OPT_STRING) {
            free(*(char **)slot);
            *(char **)slot = NULL;
            return 0;
        }
        return ct_errf(err, v, "%s: a value is required", path);
    }
    if (v->kind != CT_NODE_SCALAR)
        return ct_errf(err, v, "%s: expected a %s", path, type_name(o->type));
    if (v->value[0] == '\0' && o->type != CT_OPT_STRING && o->type != CT_OPT_STRINGS)
        return ct_errf(err, v,
                       "%s: the value is empty (an unset environment variable expands "
                       "to nothing)",
                       path);
    return set_scalar(o, slot, v->value, v, path, err);
}

static int check_required(const ct_opt_t *table, const ct_node_t *map, const char *what,
                          ct_err_t *err)
{
    for (const ct_opt_t *o = table; o->key != NULL; o++) {
        if ((o->flags & CT_OPT_REQUIRED) && ct_node_get(map, o->key) == NULL)
            return ct_errf(err, map, "%s: missing required key '%s'", what, o->key);
    }
    return 0;
}

int ct_opt_apply(const ct_opt_t *table, void *cfg, const ct_node_t *map, const char *what,
                 ct_err_t *err)
{
    if (ct_node_is_null(map))
        return check_required(table, NULL, what, err);
    if (map->kind != CT_NODE_MAP)
        return ct_errf(err, map, "%s: expected a map of settings", what);

    for (size_t i = 0; i < map->n; i++) {
        const ct_node_t *key = map->keys[i];
        const ct_opt_t *o = opt_find(table, key->value);
        if (o == NULL)
            return unknown_key(table, key, what, err);
        char path[256];
        snprintf(path, sizeof path, "%s::%s", what, key->value);
        int rc = apply_one(o, cfg, map->items[i], path, err);
        if (rc != 0)
            return rc;
    }
    return check_required(table, map, what, err);
}

void ct_opt_free(const ct_opt_t *table, void *cfg)
{
    for (const ct_opt_t *o = table; o->key != NULL; o++) {
        void *slot = AT(cfg, o->offset, void);
        switch (o->type) {
        case CT_OPT_STRING:
            free(*(char **)slot);
            *(char **)slot = NULL;
            break;
        case CT_OPT_STRINGS:
            strlist_free(slot);
            break;
        case CT_OPT_MAP:
            kvlist_free(slot);
            break;
        case CT_OPT_SECTION:
            ct_opt_free(o->sub, AT(cfg, o->base, void));
            break;
        default:
            break;
        }
    }
}

/* One line per key: the dotted key, its type, its default (or "required") and what it does. */
void ct_opt_describe(const ct_opt_t *table, const char *prefix, ct_buf_t *out)
{
    for (const ct_opt_t *o = table; o->key != NULL; o++) {
        char key[256], what[160];
        snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", o->key);
        if (o->type == CT_OPT_SECTION)
            snprintf(what, sizeof what, "section");
        else if (o->def != NULL && !(o->flags & CT_OPT_SECRET))
            snprintf(what, sizeof what, "%s, default %s",
                     o->type == CT_OPT_ENUM ? o->choices : type_name(o->type),
                     *o->def ? o->def : "\"\"");
        else
            snprintf(what, sizeof what, "%s%s",
                     o->type == CT_OPT_ENUM ? o->choices : type_name(o->type),
                     (o->flags & CT_OPT_REQUIRED) ? ", required" : "");
        ct_buf_printf(out, "    %s (%s): %s\n", key, what, o->desc ? o->desc : "");
        if (o->type == CT_OPT_SECTION)
            ct_opt_describe(o->sub, key, out);
    }
}
