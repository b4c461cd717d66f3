"""bench/startup.py — start-up time: exec of a server until its health URL
first answers 200, repeated RUNS times (the server is stopped after each).

    python3 startup.py RUNS URL -- COMMAND...

Prints one JSON object: runs, median/p90/min/max in ms, and every sample.
The URL is polled every millisecond from the moment of exec; the time
counts from just before exec (fork/exec included) to the first 200.
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request


def once(url, cmd, deadline_s=30.0):
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{cmd[0]} exited with {proc.returncode} before answering")
            try:
                with urllib.request.urlopen(url, timeout=1) as res:
                    if res.status == 200:
                        return (time.monotonic() - started) * 1000
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() - started > deadline_s:
                raise SystemExit(f"{url} did not answer within {deadline_s} s")
            time.sleep(0.001)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main():
    runs, url, sep, *cmd = sys.argv[1:]
    if sep != "--" or not cmd:
        raise SystemExit(__doc__)
    once(url, cmd)  # warm-up: page cache, first migrations
    samples = [once(url, cmd) for _ in range(int(runs))]
    ordered = sorted(samples)
    print(json.dumps({
        "runs": len(samples),
        "median_ms": statistics.median(samples),
        "p90_ms": ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))],
        "min_ms": ordered[0],
        "max_ms": ordered[-1],
        "samples_ms": [round(s, 2) for s in samples],
    }))


if __name__ == "__main__":
    main()
