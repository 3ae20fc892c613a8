/*
 * Component kinds and the lookup of factories built into this binary.
 */
#include "ct_component.h"

#include <string.h>

static const char *const kind_names[] = {"receiver", "processor", "exporter", "extension"};
static const char *const kind_sections[] = {"receivers", "processors", "exporters", "extensions"};

const char *ct_kind_name(ct_kind_t k)
{
    return (unsigned)k < CT_KIND_COUNT ? kind_names[k] : "component";
}

const char *ct_kind_section(ct_kind_t k)
{
    return (unsigned)k < CT_KIND_COUNT ? kind_sections[k] : "components";
}

static bool name_is(const char *name, const char *type, size_t len)
{
    return name != NULL && strlen(name) == len && memcmp(name, type, len) == 0;
}

const ct_factory_t *ct_factory_find(ct_kind_t kind, const char *type, size_t len)
{
    for (const ct_factory_t *const *f = ct_builtin_factories; *f != NULL; f++) {
        if ((*f)->kind == kind &&
            (name_is((*f)->type, type, len) || name_is((*f)->alias, type, len)))
            return *f;
    }
    return NULL;
}
