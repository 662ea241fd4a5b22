/* mapped_file.c — mmap a whole file read-only (see mapped_file.h). */
#include "formats/mapped_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

slm_status slm_mapped_file_open(slm_mapped_file *file, const char *path, slm_error *err) {
    memset(file, 0, sizeof *file);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return slm_fail(err, SLM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return slm_fail(err, SLM_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return slm_fail(err, SLM_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return slm_fail(err, SLM_ERR_IO, "%s: file too large to map", path);
    }
    size_t size = (size_t)st.st_size;
    const uint8_t *data = NULL;
    if (size > 0) { /* mmap refuses length 0; an empty file simply has no data */
        void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return slm_fail(err, SLM_ERR_IO, "%s: cannot map %zu bytes: %s", path, size, strerror(e));
        }
        data = p;
    }
    close(fd); /* the mapping keeps the file's pages reachable */
    char *copy = strdup(path);
    if (!copy) {
        if (data) munmap((void *)data, size);
        return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    file->path = copy;
    file->data = data;
    file->size = size;
    return SLM_OK;
}

void slm_mapped_file_close(slm_mapped_file *file) {
    if (!file) return;
    if (file->data) munmap((void *)file->data, file->size);
    free(file->path);
    memset(file, 0, sizeof *file);
}
