/*
 * The file_storage extension: a directory on disk that exporters name in
 * sending_queue.storage to keep their queue there (see core/pqueue.c).
 */
#include "ct_component.h"
#include "ct_log.h"
#include "ct_pqueue.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const ct_opt_t file_storage_opts[] = {
    {"directory", CT_OPT_STRING, offsetof(ct_file_storage_cfg_t, directory),
     "/var/lib/cotel/file_storage", 0, 0, NULL, "where the queues live"},
    {"fsync", CT_OPT_BOOL, offsetof(ct_file_storage_cfg_t, fsync), "false", 0, 0, NULL,
     "sync every write to the disk before answering (survives power loss, costs throughput)"},
    {"create_directory", CT_OPT_BOOL, offsetof(ct_file_storage_cfg_t, create_directory), "false", 0,
     0, NULL, "create the directory when missing"},
    {"timeout", CT_OPT_DURATION, offsetof(ct_file_storage_cfg_t, timeout), "1s", 0, 0, NULL,
     "accepted for compatibility"},
    {"max_queue_bytes", CT_OPT_SIZE, offsetof(ct_file_storage_cfg_t, max_queue_bytes), "1GiB", 0, 0,
     NULL, "cotel's own: disk space one queue may use; past it receivers refuse"},
    {"segment_bytes", CT_OPT_SIZE, offsetof(ct_file_storage_cfg_t, segment_bytes), "8MiB", 4096,
     1e12, NULL, "cotel's own: size of one queue segment file"},
    {"compaction", CT_OPT_RAW, offsetof(ct_file_storage_cfg_t, compaction), NULL, 0, 0, NULL,
     "accepted for compatibility; segments are removed as they empty, nothing to compact"},
    CT_OPT_END,
};

static int file_storage_start(ct_instance_t *inst, ct_err_t *err)
{
    ct_file_storage_cfg_t *c = inst->config;
    struct stat st;
    if (stat(c->directory, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return ct_errf(err, inst->node, "%s: %s is not a directory", inst->name, c->directory);
        return 0;
    }
    if (!c->create_directory)
        return ct_errf(err, inst->node,
                       "%s: directory %s does not exist (create it, or set "
                       "create_directory: true)",
                       inst->name, c->directory);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", c->directory);
    for (char *p = tmp + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
                return ct_errf(err, inst->node, "%s: cannot create %s: %s", inst->name, tmp,
                               strerror(errno));
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    ct_log_info(inst->name, "created %s", c->directory);
    return 0;
}

const ct_factory_t ct_file_storage_extension_factory = {
    .type = "file_storage",
    .kind = CT_KIND_EXTENSION,
    .description = "a directory for exporters' persistent sending queues",
    .opts = file_storage_opts,
    .cfg_size = sizeof(ct_file_storage_cfg_t),
    .start = file_storage_start,
    .settings_offset = CT_OPT_NO_FLAG,
};
