#!/bin/bash
# Run a benchmark ahead of the machine's other work: in a session of its own, whose scheduler
# group (Linux's autogroup) gets nice -20. Every other session's processes then share what the
# benchmark leaves, so a benchmark on a busy shared machine reads close to a quiet one.
#
#     bench/foreground.sh .venv/bin/python bench/peers.py --seconds 6 --rounds 5
#
# It needs autogroup scheduling (/proc/sys/kernel/sched_autogroup_enabled = 1) and the right
# to raise priority (root, or CAP_SYS_NICE); without them it says so and runs the command as is.
# Caches and memory bandwidth are still shared: compare rows of one run, not runs.
set -euo pipefail
if [[ "${1:-}" == "--in-session" ]]; then
    shift
    if [[ "$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null)" == 1 ]] \
        && echo -20 2>/dev/null >/proc/self/autogroup; then
        echo "bench/foreground.sh: $(cat /proc/self/autogroup)" >&2
    else
        echo "bench/foreground.sh: could not raise the priority; running as is" >&2
    fi
    exec "$@"
fi
exec setsid --wait "$0" --in-session "$@"
