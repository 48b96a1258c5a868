import re, subprocess, sys
try:
    out = subprocess.run([sys.executable, "stats.py"], capture_output=True, text=True, timeout=10)
except subprocess.TimeoutExpired:
    sys.exit("stats.py ran for more than 10 s")
if out.returncode != 0:
    sys.exit(f"stats.py fails: {out.stderr.strip()[-300:]}")
nums = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", out.stdout)]
if not nums or abs(nums[0] - 45.5) > 1e-6:
    sys.exit(f"stats.py still prints {out.stdout.strip()[:100]!r}, not 45.5")
