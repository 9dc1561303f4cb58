/* How much a paced workload pays for caches emptied while it sleeps.
 *
 *   cc -O2 -o /tmp/cold crates/bench/perf/cold.c
 *   /tmp/cold GAP_US [LINES]
 *
 * Each of 2 000 rounds sleeps GAP_US microseconds, then times either a
 * fixed chain of 200 000 multiply-adds (LINES 0: no memory, so a slower
 * clock would show here) or LINES reads spread over 64 MB, the same
 * addresses every round (a working set far below the 2 MB L2). Compare
 * GAP_US 0 and 2000: the multiply-adds take the same time, the reads do
 * not, because on this VM the core's private caches are emptied while
 * the vCPU idles, even for 2 ms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 2000
#define SPAN (64UL << 20)

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s GAP_US [LINES]\n", argv[0]);
        return 2;
    }
    long gap = atol(argv[1]);
    long lines = argc > 2 ? atol(argv[2]) : 0;
    static double took[ROUNDS];
    volatile unsigned long sink = 1;
    char *buf = malloc(SPAN);
    if (!buf) return 1;
    memset(buf, 1, SPAN);
    for (int r = 0; r < ROUNDS; r++) {
        if (gap) {
            struct timespec ts = {gap / 1000000, (gap % 1000000) * 1000};
            nanosleep(&ts, NULL);
        }
        double t0 = now_us();
        unsigned long v = sink;
        if (lines) {
            for (long i = 0; i < lines; i++)
                v += buf[((unsigned long)i * 4160 + v % 7) % SPAN];
        } else {
            for (int i = 0; i < 200000; i++) v = v * 3 + 1;
        }
        sink = v;
        took[r] = now_us() - t0;
    }
    qsort(took, ROUNDS, sizeof took[0], by_value);
    printf("gap %ld us, lines %ld: p50 %.1f us, p90 %.1f, p99 %.1f\n", gap, lines,
           took[ROUNDS / 2], took[ROUNDS * 9 / 10], took[ROUNDS * 99 / 100]);
    return 0;
}
