/*
 * Rotation of the file exporter's output, with the Go collector's naming:
 * "data.json" is renamed to "data-2022-09-14T05-02-14.173.json" and old
 * backups are removed by count (max_backups) and age (max_days).
 */
#ifndef FILE_ROTATION_H
#define FILE_ROTATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The name a file at `path` gets when rotated at `unix_ms` (milliseconds
 * since the epoch), in UTC or local time. Returns 0, or -ENAMETOOLONG.
 */
int file_backup_name(const char *path, uint64_t unix_ms, bool localtime, char *out, size_t outlen);

/*
 * Removes backups of `path`: all but the newest max_backups (0: keep any
 * number) and those whose name says they are older than max_days (0: any
 * age). Only names that file_backup_name could have produced are touched.
 * Returns the number of files removed, or a negative errno when the
 * directory cannot be read.
 */
int file_prune_backups(const char *path, int64_t max_backups, int64_t max_days, bool localtime,
                       uint64_t now_unix_ms);

#endif
