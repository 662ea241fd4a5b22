/* zip.h — the entries of a zip archive whose members are stored (not
 * compressed), as torch.save writes them; private to the torch .bin reader.
 * Every header, size and offset is checked against the mapped file, and
 * entry names that would escape the archive's folder are refused. */
#ifndef SLM_FORMATS_ZIP_H
#define SLM_FORMATS_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "formats/mapped_file.h"
#include "slm.h"

typedef struct {
    char *name;      /* owned, NUL-terminated */
    uint64_t offset; /* where the member's bytes begin in the file */
    uint64_t size;   /* bytes */
} slm_zip_entry;

typedef struct {
    slm_zip_entry *entries; /* [count], in central directory order */
    size_t count;
} slm_zip;

/* 1 when data starts like a zip archive (a local file header). */
int slm_zip_looks_like(const uint8_t *data, size_t size);

/* Reads the central directory of file. On error *zip is left empty and err names the file, entry and offset. */
slm_status slm_zip_open(slm_zip *zip, const slm_mapped_file *file, slm_error *err);

/* The entry with exactly this name, or NULL. */
const slm_zip_entry *slm_zip_find(const slm_zip *zip, const char *name);

void slm_zip_close(slm_zip *zip);

#endif
