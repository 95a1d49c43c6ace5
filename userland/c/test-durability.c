/* test-durability: the guest half of tests/durability.rs (issue 13).
 *
 *     test-durability FILE SEED [COUNT]
 *
 * Appends fixed-size records 1, 2, ... to FILE (O_APPEND, created if
 * missing), each in two write() calls, fsyncs after each record (fsync for
 * odd N, fdatasync for even N) and only then prints "ack N" on stdout. COUNT records (0 or absent: until killed),
 * then "done N". The host kills QEMU with SIGKILL after a random number of
 * acks and checks that every acknowledged record is in FILE, intact, and
 * that what follows the last acknowledged one is whole records and at most
 * one partial record at the very end.
 *
 * A record (RECORD_BYTES = 256, little endian):
 *     0   u32  magic 0x52435244 ("DRCR" on disk)
 *     4   u32  sequence number, from 1
 *     8   u32  SEED
 *     12  u8[240]  payload: xorshift32 stream seeded with SEED ^ (seq * 0x9e3779b9)
 *     252 u32  CRC-32 (IEEE, as zlib's crc32) of bytes 0..252
 * The payload depends on the seed and the number, so a record written at
 * the wrong place, a stale block or a record of an earlier run is caught
 * even where its checksum holds. tests/durability.rs builds the same bytes.
 *
 * Runs on the host too: `test-durability /tmp/f 1 100` then inspect. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RECORD_BYTES 256
#define MAGIC 0x52435244u
/* The first write() of a record; the rest follows in a second one, so a
 * kill between them leaves a partial record at the tail. */
#define FIRST_PART 100

static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void make_record(uint8_t *rec, uint32_t seq, uint32_t seed)
{
    put32(rec, MAGIC);
    put32(rec + 4, seq);
    put32(rec + 8, seed);
    uint32_t x = seed ^ (seq * 0x9e3779b9u);
    if (x == 0)
        x = 1;
    for (int i = 12; i < RECORD_BYTES - 4; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        rec[i] = (uint8_t)x;
    }
    put32(rec + RECORD_BYTES - 4, crc32_ieee(rec, RECORD_BYTES - 4));
}

static void write_all(int fd, const uint8_t *p, size_t n, const char *what)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fprintf(stderr, "test-durability: write %s: %s\n", what, w < 0 ? strerror(errno) : "wrote 0");
            exit(2);
        }
        p += w;
        n -= (size_t)w;
    }
}

static void say(const char *word, uint32_t n)
{
    char line[32];
    int len = snprintf(line, sizeof line, "%s %u\n", word, n);
    write_all(1, (const uint8_t *)line, (size_t)len, "stdout");
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: test-durability FILE SEED [COUNT]\n");
        return 2;
    }
    uint32_t seed = (uint32_t)strtoul(argv[2], NULL, 0);
    unsigned long count = argc == 4 ? strtoul(argv[3], NULL, 0) : 0;
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "test-durability: open %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    uint8_t rec[RECORD_BYTES];
    for (uint32_t seq = 1; count == 0 || seq <= count; seq++) {
        make_record(rec, seq, seed);
        write_all(fd, rec, FIRST_PART, argv[1]);
        write_all(fd, rec + FIRST_PART, RECORD_BYTES - FIRST_PART, argv[1]);
        if ((seq % 2 ? fsync(fd) : fdatasync(fd)) != 0) {
            fprintf(stderr, "test-durability: %s %s: %s\n", seq % 2 ? "fsync" : "fdatasync", argv[1], strerror(errno));
            return 2;
        }
        say("ack", seq);
    }
    if (close(fd) != 0) {
        fprintf(stderr, "test-durability: close %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    say("done", (uint32_t)count);
    return 0;
}
