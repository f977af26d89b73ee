/* Dropping the resident pages of weights that are mapped from a file, once a stage is done with them
   (peak RSS: the Whisper encoder's 0.67 GB of q8 weights need not stay resident while the language model
   runs). Only pages of a read-only, file-backed mapping are dropped (checked in /proc/self/maps): their
   content comes back from the page cache on the next touch, unchanged. Anonymous memory (decompressed LZ4
   arenas, heap copies) is never touched: MADV_DONTNEED would zero it. */
#define _GNU_SOURCE
#include "internal.h"
#include <stdio.h>
#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>

/* 1 when [lo, hi) lies inside one mapping of /proc/self/maps that has a file (inode != 0) and no write permission. */
static int file_backed_readonly(uintptr_t lo, uintptr_t hi) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return 0;
    char line[512];
    int ok = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b, off, inode;
        char perms[8];
        unsigned dmaj, dmin;
        if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &a, &b, perms, &off, &dmaj, &dmin, &inode) != 7) continue;
        if (lo >= a && hi <= b) { ok = inode != 0 && perms[0] == 'r' && perms[1] != 'w'; break; }
    }
    fclose(f);
    return ok;
}

long sentio_release_file_pages(const void *p, size_t n) {
    long page = sysconf(_SC_PAGESIZE);
    if (!p || n == 0 || page <= 0) return 0;
    uintptr_t lo = ((uintptr_t)p + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page;
    uintptr_t hi = ((uintptr_t)p + n) / (uintptr_t)page * (uintptr_t)page;
    if (hi <= lo || !file_backed_readonly(lo, hi)) return 0;
    return madvise((void *)lo, hi - lo, MADV_DONTNEED) == 0 ? (long)(hi - lo) : 0;
}
#else
long sentio_release_file_pages(const void *p, size_t n) { (void)p; (void)n; return 0; }
#endif
