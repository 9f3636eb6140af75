/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * iq-e2e-io: block I/O checker for the end-to-end suite. Built static for
 * arm64 and used both inside the domU (on /dev/vdX) and in dom0 (on the
 * image files). The data is a seeded, position-dependent pattern: the
 * 8-byte word at byte offset O (a multiple of 8) is splitmix64(seed + O/8),
 * little endian, so any region can be produced and checked on its own.
 *
 *   iq-e2e-io write  PATH SEED OFFSET LEN     O_DIRECT write of the pattern
 *   iq-e2e-io verify PATH SEED OFFSET LEN     O_DIRECT read and compare
 *   iq-e2e-io parallel PATH SEED OFFSET LEN N  N processes, one per CPU,
 *                                    each writes and verifies its own LEN
 *   iq-e2e-io loop   PATH SEED OFFSET LEN     write+verify until killed
 *   iq-e2e-io tryw   PATH OFFSET              one 4 KiB O_DIRECT write;
 *                                    exit 0 when it FAILED (read-only disk)
 *
 * O_DIRECT falls back to buffered I/O where the file system refuses it
 * (tmpfs in dom0). Exit status 0 on success, 1 on a mismatch or I/O
 * error, 2 on usage errors. OFFSET and LEN must be multiples of 4096.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BLK 4096u
#define CHUNK (256u * 1024u)

static uint64_t
splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void
fill(unsigned char *buf, size_t len, uint64_t seed, uint64_t off)
{
    size_t i;

    for (i = 0; i < len; i += 8) {
        uint64_t v = splitmix64(seed + (off + i) / 8);
        unsigned b;

        for (b = 0; b < 8; b++) {
            buf[i + b] = (unsigned char)(v >> (8 * b));
        }
    }
}

static int
open_dev(const char *path, int flags)
{
    int fd = open(path, flags | O_DIRECT);

    if (fd < 0 && errno == EINVAL) {
        fd = open(path, flags);
    }
    return fd;
}

static unsigned char *
alloc_buf(size_t len)
{
    void *p = NULL;

    if (posix_memalign(&p, BLK, len) != 0) {
        return NULL;
    }
    return p;
}

static int
do_write(const char *path, uint64_t seed, uint64_t off, uint64_t len)
{
    unsigned char *buf = alloc_buf(CHUNK);
    uint64_t done = 0;
    int fd = open_dev(path, O_RDWR);

    if (fd < 0 || buf == NULL) {
        fprintf(stderr, "iq-e2e-io: open %s: %s\n", path, strerror(errno));
        free(buf);
        return 1;
    }
    while (done < len) {
        size_t n = len - done < CHUNK ? (size_t)(len - done) : CHUNK;
        ssize_t w;

        fill(buf, n, seed, off + done);
        w = pwrite(fd, buf, n, (off_t)(off + done));
        if (w != (ssize_t)n) {
            fprintf(stderr, "iq-e2e-io: write %s at %" PRIu64 ": %s\n", path,
                    off + done, w < 0 ? strerror(errno) : "short write");
            close(fd);
            free(buf);
            return 1;
        }
        done += n;
    }
    if (fsync(fd) < 0) {
        fprintf(stderr, "iq-e2e-io: fsync %s: %s\n", path, strerror(errno));
        close(fd);
        free(buf);
        return 1;
    }
    close(fd);
    free(buf);
    return 0;
}

static int
do_verify(const char *path, uint64_t seed, uint64_t off, uint64_t len)
{
    unsigned char *buf = alloc_buf(CHUNK), *want = alloc_buf(CHUNK);
    uint64_t done = 0;
    int fd = open_dev(path, O_RDONLY), rc = 0;

    if (fd < 0 || buf == NULL || want == NULL) {
        fprintf(stderr, "iq-e2e-io: open %s: %s\n", path, strerror(errno));
        free(buf);
        free(want);
        return 1;
    }
    while (done < len && rc == 0) {
        size_t n = len - done < CHUNK ? (size_t)(len - done) : CHUNK, i;
        ssize_t r = pread(fd, buf, n, (off_t)(off + done));

        if (r != (ssize_t)n) {
            fprintf(stderr, "iq-e2e-io: read %s at %" PRIu64 ": %s\n", path,
                    off + done, r < 0 ? strerror(errno) : "short read");
            rc = 1;
            break;
        }
        fill(want, n, seed, off + done);
        if (memcmp(buf, want, n) != 0) {
            for (i = 0; i < n && buf[i] == want[i]; i++) {
            }
            fprintf(stderr,
                    "iq-e2e-io: %s: mismatch at byte %" PRIu64
                    ": got 0x%02x want 0x%02x\n",
                    path, off + done + i, buf[i], want[i]);
            rc = 1;
        }
        done += n;
    }
    close(fd);
    free(buf);
    free(want);
    return rc;
}

static int
do_parallel(const char *path, uint64_t seed, uint64_t off, uint64_t len,
            unsigned n)
{
    unsigned i, bad = 0;
    int st;

    for (i = 0; i < n; i++) {
        pid_t pid = fork();

        if (pid < 0) {
            perror("iq-e2e-io: fork");
            return 1;
        }
        if (pid == 0) {
            cpu_set_t set;
            uint64_t o = off + (uint64_t)i * len;
            int round, rc = 0;

            CPU_ZERO(&set);
            CPU_SET(i, &set);
            if (sched_setaffinity(0, sizeof(set), &set) < 0) {
                fprintf(stderr, "iq-e2e-io: cpu %u: %s\n", i, strerror(errno));
                _exit(1);
            }
            for (round = 0; round < 4 && rc == 0; round++) {
                rc = do_write(path, seed + (uint64_t)round, o, len);
                if (rc == 0) {
                    rc = do_verify(path, seed + (uint64_t)round, o, len);
                }
            }
            printf("iq-e2e-io: worker %u on cpu %d: %s\n", i, sched_getcpu(),
                   rc == 0 ? "ok" : "FAILED");
            fflush(stdout);
            _exit(rc);
        }
    }
    while (wait(&st) > 0) {
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            bad++;
        }
    }
    return bad == 0 ? 0 : 1;
}

static int
do_loop(const char *path, uint64_t seed, uint64_t off, uint64_t len)
{
    uint64_t round;

    for (round = 0;; round++) {
        if (do_write(path, seed + round, off, len) != 0 ||
            do_verify(path, seed + round, off, len) != 0) {
            return 1;
        }
        if (round == 0) {
            printf("IO-LOOP-STARTED\n");
            fflush(stdout);
        }
    }
}

static int
do_tryw(const char *path, uint64_t off)
{
    unsigned char *buf = alloc_buf(BLK);
    int fd, err;
    ssize_t w;

    if (buf == NULL) {
        return 1;
    }
    memset(buf, 0xa5, BLK);
    fd = open_dev(path, O_RDWR);
    if (fd < 0) {
        printf("iq-e2e-io: open for write refused: %s\n", strerror(errno));
        free(buf);
        return 0;
    }
    w = pwrite(fd, buf, BLK, (off_t)off);
    err = errno;
    if (w == (ssize_t)BLK && fsync(fd) < 0) {
        w = -1;
        err = errno;
    }
    close(fd);
    free(buf);
    if (w == (ssize_t)BLK) {
        printf("iq-e2e-io: write succeeded\n");
        return 1;
    }
    printf("iq-e2e-io: write failed: %s\n", strerror(err));
    return 0;
}

static int
num(const char *s, uint64_t *v)
{
    char *end;

    errno = 0;
    *v = strtoull(s, &end, 0);
    return errno != 0 || *s == '\0' || *end != '\0' ? -1 : 0;
}

int
main(int argc, char **argv)
{
    uint64_t seed = 0, off = 0, len = 0, n = 0;

    if (argc == 4 && strcmp(argv[1], "tryw") == 0) {
        if (num(argv[3], &off) < 0 || off % BLK != 0) {
            return 2;
        }
        return do_tryw(argv[2], off);
    }
    if (argc < 6 || num(argv[3], &seed) < 0 || num(argv[4], &off) < 0 ||
        num(argv[5], &len) < 0 || off % BLK != 0 || len % BLK != 0 ||
        len == 0) {
        fprintf(stderr, "usage: see the comment at the top of the source\n");
        return 2;
    }
    if (argc == 6 && strcmp(argv[1], "write") == 0) {
        return do_write(argv[2], seed, off, len);
    }
    if (argc == 6 && strcmp(argv[1], "verify") == 0) {
        return do_verify(argv[2], seed, off, len);
    }
    if (argc == 6 && strcmp(argv[1], "loop") == 0) {
        return do_loop(argv[2], seed, off, len);
    }
    if (argc == 7 && strcmp(argv[1], "parallel") == 0 &&
        num(argv[6], &n) == 0 && n >= 1 && n <= 64) {
        return do_parallel(argv[2], seed, off, len, (unsigned)n);
    }
    fprintf(stderr, "usage: see the comment at the top of the source\n");
    return 2;
}
