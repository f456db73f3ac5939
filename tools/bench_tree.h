/* wuji-bench tree: the workloads (W1 escalation chain, W2 joint
 * round trip, W3 catch-up) on a whole local tree of nodes started with
 * deploy/tree.  See the top of bench_tree.c. */
#pragma once

/* Runs the tree benchmark.  argv[0] is the subcommand word ("tree"); the
 * options follow it.  self_exe is the path of the running wuji-bench (argv[0]
 * of main, or "/proc/self/exe"): BUILD/tools/wuji-bench gives the build
 * directory BUILD and the repository BUILD/.. unless --build / --repo say
 * otherwise.  Prints one JSON line per workload on stdout, progress on
 * stderr.  Returns the exit status: 0 all measured without errors, 1 errors
 * or failure, 2 bad usage. */
int wj_bench_tree(int argc, char **argv, const char *self_exe);
