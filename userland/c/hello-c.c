/* The smallest program Isola runs: one line on stdout, exit 0. */
#include <stdio.h>

int main(void)
{
    puts("hello from C");
    return 0;
}
