/* mapped_file.h — a whole file mapped read-only into memory. The descriptor
 * is closed right after mapping; the mapping lives until slm_mapped_file_close(). */
#ifndef SLM_FORMATS_MAPPED_FILE_H
#define SLM_FORMATS_MAPPED_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "slm.h"

typedef struct {
    char *path;          /* as given to open (owned copy), for error messages */
    const uint8_t *data; /* NULL for an empty file (nothing to map) */
    size_t size;         /* bytes */
} slm_mapped_file;

/* Maps path. On failure *file is left zeroed and err names the file and the OS reason. */
slm_status slm_mapped_file_open(slm_mapped_file *file, const char *path, slm_error *err);

/* Unmaps and frees; safe on a zeroed or already closed file. */
void slm_mapped_file_close(slm_mapped_file *file);

#endif
