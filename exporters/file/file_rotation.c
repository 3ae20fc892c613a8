/*
 * Backup names and pruning for the file exporter's rotation. A backup's
 * name carries its rotation time, so pruning needs no file metadata.
 */
#include "file_rotation.h"

#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STAMP_LEN  23 /* 2006-01-02T15-04-05.000 */
#define MS_PER_DAY 86400000ull

/* Where the extension starts in path's last element ("" when there is none). */
static const char *path_ext(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    return dot ? dot : path + strlen(path);
}

static int format_stamp(uint64_t unix_ms, bool localtime, char out[STAMP_LEN + 1])
{
    time_t secs = (time_t)(unix_ms / 1000);
    struct tm tm;
    if (!(localtime ? localtime_r(&secs, &tm) : gmtime_r(&secs, &tm)))
        return -EINVAL;
    if (strftime(out, STAMP_LEN + 1, "%Y-%m-%dT%H-%M-%S", &tm) != 19)
        return -EINVAL;
    snprintf(out + 19, 5, ".%03u", (unsigned)(unix_ms % 1000));
    return 0;
}

int file_backup_name(const char *path, uint64_t unix_ms, bool localtime, char *out, size_t outlen)
{
    char stamp[STAMP_LEN + 1];
    int rc = format_stamp(unix_ms, localtime, stamp);
    if (rc != 0)
        return rc;
    const char *ext = path_ext(path);
    int n = snprintf(out, outlen, "%.*s-%s%s", (int)(ext - path), path, stamp, ext);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

/* Reads a stamp back; only the exact form format_stamp writes is accepted. */
static int parse_stamp(const char *s, bool localtime, uint64_t *unix_ms)
{
    struct tm tm = {0};
    unsigned ms;
    int used = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d-%2d-%2d.%3u%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &used) != 7 ||
        used != STAMP_LEN)
        return -EINVAL;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_isdst = -1;
    time_t secs = localtime ? mktime(&tm) : timegm(&tm);
    if (secs == (time_t)-1 || secs < 0)
        return -EINVAL;

    char again[STAMP_LEN + 1];
    *unix_ms = (uint64_t)secs * 1000 + ms;
    if (format_stamp(*unix_ms, localtime, again) != 0 || memcmp(again, s, STAMP_LEN) != 0)
        return -EINVAL;
    return 0;
}

typedef struct backup {
    char *name;
    uint64_t ms;
} backup_t;

static int newest_first(const void *a, const void *b)
{
    uint64_t x = ((const backup_t *)a)->ms, y = ((const backup_t *)b)->ms;
    return x < y ? 1 : x > y ? -1 : 0;
}

int file_prune_backups(const char *path, int64_t max_backups, int64_t max_days, bool localtime,
                       uint64_t now_unix_ms)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *ext = path_ext(path);
    size_t stem_len = (size_t)(ext - base), ext_len = strlen(ext);
    char dir[PATH_MAX];
    backup_t *list = NULL;
    size_t n = 0, cap = 0;
    int removed = 0;

    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path) + (slash == path), path);
    else
        snprintf(dir, sizeof dir, ".");
    DIR *d = opendir(dir);
    if (!d)
        return -errno;

    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        size_t len = strlen(name);
        uint64_t ms;
        if (len != stem_len + 1 + STAMP_LEN + ext_len || memcmp(name, base, stem_len) != 0 ||
            name[stem_len] != '-' || memcmp(name + len - ext_len, ext, ext_len) != 0 ||
            parse_stamp(name + stem_len + 1, localtime, &ms) != 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            backup_t *grown = realloc(list, ncap * sizeof *grown);
            if (!grown) {
                removed = -ENOMEM;
                goto out;
            }
            list = grown;
            cap = ncap;
        }
        list[n].name = strdup(name);
        if (!list[n].name) {
            removed = -ENOMEM;
            goto out;
        }
        list[n++].ms = ms;
    }

    qsort(list, n, sizeof *list, newest_first);
    uint64_t max_age = max_days > 0 ? (uint64_t)max_days * MS_PER_DAY : 0;
    for (size_t i = 0; i < n; i++) {
        bool too_many = max_backups > 0 && i >= (size_t)max_backups;
        bool too_old = max_age > 0 && list[i].ms + max_age < now_unix_ms;
        if (!too_many && !too_old)
            continue;
        if (unlinkat(dirfd(d), list[i].name, 0) == 0)
            removed++;
    }

out:
    for (size_t i = 0; i < n; i++)
        free(list[i].name);
    free(list);
    closedir(d);
    return removed;
}
