"""latency_probe: one client that measures how long the server takes to
answer it, for the overload tests (test_overload.py).

Run as a separate process so that the test's own threads (slow consumers,
session openers) do not delay it through Python's GIL:

    python3 latency_probe.py HOST PORT PATH START END

From monotonic time START until END (seconds, time.monotonic(); both
processes read the same CLOCK_MONOTONIC) it sends getData(PATH) one at a
time and prints a JSON list of [send_time, latency_seconds] on stdout.
The session times out after 60 s, longer than any run.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import zkraw  # noqa: E402


def main():
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    start, end = float(sys.argv[4]), float(sys.argv[5])
    samples = []
    with zkraw.session(host, port, timeout_ms=60000) as c:
        c.timeout = 30.0
        while time.monotonic() < start:
            time.sleep(min(0.05, max(0.0, start - time.monotonic())))
            c.ping()
        while True:
            t0 = time.monotonic()
            if t0 >= end:
                break
            rep, _ = c.get_data(path)
            if rep.err != 0:
                raise SystemExit("getData %s failed: %d" % (path, rep.err))
            samples.append([t0, time.monotonic() - t0])
    json.dump(samples, sys.stdout)


if __name__ == "__main__":
    main()
