/* zip.c — reading the central directory of a zip archive of stored members.
 *
 * Layout (PKWARE APPNOTE): members, each a local header (signature
 * 0x04034b50, 30 bytes + name + extra) then its bytes; the central directory,
 * one 46-byte record (0x02014b50) + name + extra + comment per member; then
 * the end-of-central-directory record (0x06054b50, 22 bytes + comment). When
 * a count, size or offset does not fit its 16- or 32-bit field, the field
 * holds all ones and the real value is in a zip64 record: the end record is
 * preceded by a locator (0x07064b50) pointing at a zip64 end record
 * (0x06064b50), and a member's extra field 0x0001 holds its 64-bit sizes and
 * offset. We trust the central directory for sizes and check each local
 * header agrees on name and method. */
#include "formats/zip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define LOCAL_SIGNATURE 0x04034b50u
#define CENTRAL_SIGNATURE 0x02014b50u
#define END_SIGNATURE 0x06054b50u
#define END64_SIGNATURE 0x06064b50u
#define LOCATOR64_SIGNATURE 0x07064b50u
#define LOCAL_HEADER_SIZE 30
#define CENTRAL_HEADER_SIZE 46
#define END_SIZE 22

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

int slm_zip_looks_like(const uint8_t *data, size_t size) { return size >= 4 && le(data, 4) == LOCAL_SIGNATURE; }

/* A member name must stay inside the archive: relative, no "..", no backslashes or NULs. */
static int name_ok(const uint8_t *name, size_t len) {
    if (len == 0 || name[0] == '/') return 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && (name[i] == '\\' || name[i] == '\0')) return 0;
        if (i == len || name[i] == '/') {
            if (i - start == 2 && name[start] == '.' && name[start + 1] == '.') return 0;
            start = i + 1;
        }
    }
    return 1;
}

/* The name as printable text for messages. */
static void show_name(char *out, size_t cap, const uint8_t *name, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len && n + 5 < cap; i++) {
        if (name[i] >= 0x20 && name[i] < 0x7f)
            out[n++] = (char)name[i];
        else
            n += (size_t)snprintf(out + n, cap - n, "\\x%02x", name[i]);
    }
    out[n] = '\0';
}

void slm_zip_close(slm_zip *zip) {
    for (size_t i = 0; zip->entries && i < zip->count; i++) free(zip->entries[i].name);
    free(zip->entries);
    zip->entries = NULL;
    zip->count = 0;
}

const slm_zip_entry *slm_zip_find(const slm_zip *zip, const char *name) {
    for (size_t i = 0; i < zip->count; i++)
        if (strcmp(zip->entries[i].name, name) == 0) return &zip->entries[i];
    return NULL;
}

/* Finds the end record; fills the directory's entry count, size and offset (zip64 aware). */
static slm_status find_directory(const slm_mapped_file *f, uint64_t *count, uint64_t *dir_size, uint64_t *dir_offset,
                                 uint64_t *dir_limit, slm_error *err) {
    const uint8_t *d = f->data;
    size_t size = f->size;
    if (size < END_SIZE) return slm_fail(err, SLM_ERR_FORMAT, "%s: zip archive truncated (%zu bytes)", f->path, size);
    /* The end record sits in the last 22 + 65535 bytes (its comment is at most 65535 bytes). */
    size_t lowest = size > END_SIZE + 65535 ? size - END_SIZE - 65535 : 0;
    size_t end = size - END_SIZE + 1;
    for (;;) {
        if (end == lowest)
            return slm_fail(err, SLM_ERR_FORMAT, "%s: no zip end-of-central-directory record: truncated or not a zip",
                            f->path);
        end--;
        if (le(d + end, 4) == END_SIGNATURE && end + END_SIZE + le(d + end + 20, 2) == size) break;
    }
    if (le(d + end + 4, 2) != 0 || le(d + end + 6, 2) != 0 || le(d + end + 8, 2) != le(d + end + 10, 2))
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: multi-disk zip archives are not supported (end record at offset %zu)",
                        f->path, end);
    *count = le(d + end + 10, 2);
    *dir_size = le(d + end + 12, 4);
    *dir_offset = le(d + end + 16, 4);
    *dir_limit = end;
    if (*count == 0xffff || *dir_size == 0xffffffffu || *dir_offset == 0xffffffffu) {
        if (end < 20 || le(d + end - 20, 4) != LOCATOR64_SIGNATURE)
            return slm_fail(err, SLM_ERR_FORMAT, "%s: zip end record at offset %zu needs a zip64 locator, which is missing",
                            f->path, end);
        uint64_t end64 = le(d + end - 20 + 8, 8);
        if (end64 > end - 20 || end - 20 - end64 < 56 || le(d + end64, 4) != END64_SIGNATURE)
            return slm_fail(err, SLM_ERR_FORMAT, "%s: zip64 end record offset %llu is not a zip64 end record", f->path,
                            (unsigned long long)end64);
        if (le(d + end64 + 24, 8) != le(d + end64 + 32, 8))
            return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: multi-disk zip archives are not supported", f->path);
        *count = le(d + end64 + 32, 8);
        *dir_size = le(d + end64 + 40, 8);
        *dir_offset = le(d + end64 + 48, 8);
        *dir_limit = end64;
    }
    if (*dir_offset > *dir_limit || *dir_size > *dir_limit - *dir_offset)
        return slm_fail(err, SLM_ERR_FORMAT,
                        "%s: zip central directory [%llu, +%llu) lies outside the file before its end record (offset %llu)",
                        f->path, (unsigned long long)*dir_offset, (unsigned long long)*dir_size,
                        (unsigned long long)*dir_limit);
    if (*count > *dir_size / CENTRAL_HEADER_SIZE)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: zip claims %llu entries in a %llu-byte central directory", f->path,
                        (unsigned long long)*count, (unsigned long long)*dir_size);
    return SLM_OK;
}

/* Replaces all-ones fields by their zip64 extra values (id 0x0001: size, compressed size, offset, in that order). */
static int apply_zip64_extra(const uint8_t *extra, size_t len, uint64_t *size, uint64_t *compressed, uint64_t *offset) {
    uint64_t *fields[3] = {size, compressed, offset};
    uint64_t limits[3] = {0xffffffffu, 0xffffffffu, 0xffffffffu};
    size_t pos = 0;
    while (pos + 4 <= len) {
        uint64_t id = le(extra + pos, 2), n = le(extra + pos + 2, 2);
        if (n > len - pos - 4) return 0;
        if (id == 1) {
            size_t at = pos + 4;
            for (int i = 0; i < 3; i++) {
                if (*fields[i] != limits[i]) continue;
                if (at + 8 > pos + 4 + n) return 0;
                *fields[i] = le(extra + at, 8);
                at += 8;
            }
            return 1;
        }
        pos += 4 + (size_t)n;
    }
    return *size != 0xffffffffu && *compressed != 0xffffffffu && *offset != 0xffffffffu;
}

slm_status slm_zip_open(slm_zip *zip, const slm_mapped_file *f, slm_error *err) {
    memset(zip, 0, sizeof *zip);
    uint64_t count = 0, dir_size = 0, dir_offset = 0, dir_limit = 0;
    slm_status st = find_directory(f, &count, &dir_size, &dir_offset, &dir_limit, err);
    if (st) return st;
    zip->entries = calloc(count ? (size_t)count : 1, sizeof *zip->entries);
    if (!zip->entries) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", f->path);
    const uint8_t *d = f->data;
    uint64_t pos = dir_offset, dir_end = dir_offset + dir_size;
    char shown[300];
    for (uint64_t i = 0; i < count && !st; i++) {
        if (dir_end - pos < CENTRAL_HEADER_SIZE || le(d + pos, 4) != CENTRAL_SIGNATURE) {
            st = slm_fail(err, SLM_ERR_FORMAT, "%s: zip central directory entry %llu at offset %llu is not a central header",
                          f->path, (unsigned long long)i, (unsigned long long)pos);
            break;
        }
        const uint8_t *h = d + pos;
        uint64_t flags = le(h + 8, 2), method = le(h + 10, 2);
        uint64_t compressed = le(h + 20, 4), size = le(h + 24, 4);
        uint64_t name_len = le(h + 28, 2), extra_len = le(h + 30, 2), comment_len = le(h + 32, 2);
        uint64_t local = le(h + 42, 4);
        if (dir_end - pos - CENTRAL_HEADER_SIZE < name_len + extra_len + comment_len) {
            st = slm_fail(err, SLM_ERR_FORMAT, "%s: zip central directory entry %llu at offset %llu runs past the directory",
                          f->path, (unsigned long long)i, (unsigned long long)pos);
            break;
        }
        const uint8_t *name = h + CENTRAL_HEADER_SIZE;
        show_name(shown, sizeof shown, name, (size_t)name_len);
        if (!name_ok(name, (size_t)name_len)) {
            st = slm_fail(err, SLM_ERR_FORMAT, "%s: zip entry \"%s\" (central directory offset %llu) escapes the archive's folder",
                          f->path, shown, (unsigned long long)pos);
            break;
        }
        if (flags & 1) {
            st = slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: zip entry %s is encrypted", f->path, shown);
            break;
        }
        if (method != 0) {
            st = slm_fail(err, SLM_ERR_UNSUPPORTED,
                          "%s: zip entry %s is compressed (method %llu); only stored (uncompressed) entries are supported",
                          f->path, shown, (unsigned long long)method);
            break;
        }
        if (!apply_zip64_extra(name + name_len, (size_t)extra_len, &size, &compressed, &local)) {
            st = slm_fail(err, SLM_ERR_FORMAT, "%s: zip entry %s: malformed zip64 extra field", f->path, shown);
            break;
        }
        if (compressed != size) {
            st = slm_fail(err, SLM_ERR_FORMAT, "%s: zip entry %s is stored but its sizes differ (%llu vs %llu)", f->path,
                          shown, (unsigned long long)compressed, (unsigned long long)size);
            break;
        }
        /* The local header, then the bytes, all before the central directory. */
        if (local > dir_offset || dir_offset - local < LOCAL_HEADER_SIZE || le(d + local, 4) != LOCAL_SIGNATURE) {
            st = slm_fail(err, SLM_ERR_FORMAT, "%s: zip entry %s: local header offset %llu is not a local header", f->path,
                          shown, (unsigned long long)local);
            break;
        }
        uint64_t local_name_len = le(d + local + 26, 2), local_extra_len = le(d + local + 28, 2);
        uint64_t data_start = local + LOCAL_HEADER_SIZE + local_name_len + local_extra_len;
        if (data_start > dir_offset || local_name_len != name_len ||
            memcmp(d + local + LOCAL_HEADER_SIZE, name, (size_t)name_len) != 0 || le(d + local + 8, 2) != method) {
            st = slm_fail(err, SLM_ERR_FORMAT, "%s: zip entry %s: local header at offset %llu disagrees with the central directory",
                          f->path, shown, (unsigned long long)local);
            break;
        }
        if (size > dir_offset - data_start) {
            st = slm_fail(err, SLM_ERR_FORMAT,
                          "%s: zip entry %s: %llu bytes at offset %llu run past the start of the central directory (%llu)",
                          f->path, shown, (unsigned long long)size, (unsigned long long)data_start,
                          (unsigned long long)dir_offset);
            break;
        }
        slm_zip_entry *e = &zip->entries[zip->count];
        e->name = malloc((size_t)name_len + 1);
        if (!e->name) {
            st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", f->path);
            break;
        }
        memcpy(e->name, name, (size_t)name_len);
        e->name[name_len] = '\0';
        e->offset = data_start;
        e->size = size;
        zip->count++;
        pos += CENTRAL_HEADER_SIZE + name_len + extra_len + comment_len;
    }
    if (!st && pos != dir_end)
        st = slm_fail(err, SLM_ERR_FORMAT, "%s: zip central directory holds %llu bytes after its %llu entries", f->path,
                      (unsigned long long)(dir_end - pos), (unsigned long long)count);
    if (st) slm_zip_close(zip);
    return st;
}
