/* probe-wrpkru: a program whose executable code contains WRPKRU (0F 01 EF).
 *
 * Isola scans every executable segment at load and must refuse to run it
 * (`isola run` exits 126 and the console names the file offset). On the
 * host it just runs: the instruction sits in a function nobody calls. */
#include <stdio.h>

__attribute__((used, noinline)) void never_called_wrpkru(void)
{
    __asm__ volatile(".byte 0x0f, 0x01, 0xef");
}

int main(void)
{
    puts("probe-wrpkru: running (expected only outside Isola)");
    return 0;
}
