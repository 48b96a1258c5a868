import subprocess, sys
try:
    out = subprocess.run([sys.executable, "fib.py"], capture_output=True, text=True, timeout=10)
except FileNotFoundError:
    sys.exit("cannot run python")
except subprocess.TimeoutExpired:
    sys.exit("fib.py ran for more than 10 s")
if out.returncode != 0:
    sys.exit(f"fib.py failed: {out.stderr.strip()[-300:]}")
if "102334155" not in out.stdout:
    sys.exit(f"fib.py printed {out.stdout.strip()[:200]!r}, not 102334155")
