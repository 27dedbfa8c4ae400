/* mirror.c: the one rule for where a source file is found locally. */
#include "mirror.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"

const char *mirror_root(void)
{
    const char *m = getenv("PPR_MIRROR");
    return m && *m ? m : MIRROR_DEFAULT_ROOT;
}

int mirror_locate(mirror_file *f, const char *store_root, const char *folder,
                  const char *file, ppr_err *e)
{
    memset(f, 0, sizeof *f);
    f->key = path_join(folder, file);
    f->mirror = f->key ? path_join(mirror_root(), f->key) : NULL;
    f->cache_dir = path_join(store_root, MIRROR_DOWNLOADS);
    f->cached = f->key && f->cache_dir ? path_join(f->cache_dir, f->key) : NULL;
    if (!f->mirror || !f->cached) {
        mirror_file_release(f);
        return err_nomem(e);
    }
    f->path = file_exists(f->mirror) ? f->mirror : file_exists(f->cached) ? f->cached : NULL;
    return PPR_OK;
}

void mirror_file_release(mirror_file *f)
{
    if (!f)
        return;
    free(f->key);
    free(f->mirror);
    free(f->cache_dir);
    free(f->cached);
    memset(f, 0, sizeof *f);
}

void mirror_say_missing(const mirror_file *f, char *out, size_t n)
{
    snprintf(out, n, "'%s' is neither in the mirror '%s' nor in '%s'", f->key, mirror_root(),
             f->cache_dir);
}
