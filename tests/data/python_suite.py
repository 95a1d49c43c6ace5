# Runs Python's regression tests one module at a time (each in its own
# `python3 -m test MODULE` process, so that a module that kills its
# interpreter does not end the others) and prints one line per module:
#     python-suite: MODULE RESULT SECONDS
# RESULT is what regrtest's "Tests result:" line says (SUCCESS, FAILURE,
# ENV_CHANGED, NO_TESTS_RAN...), or SKIPPED (the whole module skipped),
# CRASHED (no result line: the interpreter died) or TIMEOUT. Needs no
# threads (subprocess without threads: fork, exec, poll, waitpid), so it
# runs in Isola before Isola has them. Used by tests/python_suite.rs with
# both `isola run --rootfs` and `isola linux-run --rootfs`.
# Usage: python3 -c "$(cat python_suite.py)" TIMEOUT_SECS MODULE...
import re
import subprocess
import sys
import time

timeout = int(sys.argv[1])
for module in sys.argv[2:]:
    start = time.monotonic()
    try:
        run = subprocess.run([sys.executable, "-m", "test", module], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        out = run.stdout.decode("utf-8", "replace")
        found = re.search(r"^Tests result: (.*)$", out, re.M)
        if found:
            result = found.group(1).strip().split(",")[0].strip().replace(" ", "_")
            if result == "SUCCESS" and re.search(r"^1 test skipped:", out, re.M):
                result = "SKIPPED"
        else:
            result = "CRASHED"
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        result = "TIMEOUT"
    sys.stdout.write(out)
    print("python-suite: %s %s %.1f" % (module, result, time.monotonic() - start), flush=True)
print("python-suite: done", flush=True)
