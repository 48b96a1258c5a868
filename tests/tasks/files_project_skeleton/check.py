import os, sys
problems = []
try:
    first = open("README.md", encoding="utf-8").read().strip().splitlines()[0].strip()
    if first.lower() != "# weather station":
        problems.append(f"README.md starts with {first!r}")
except (OSError, IndexError):
    problems.append("README.md is missing or empty")
try:
    main = open(os.path.join("src", "main.py"), encoding="utf-8").read()
    if "print(" not in main or "hello" not in main:
        problems.append("src/main.py does not print hello")
except OSError:
    problems.append("src/main.py is missing")
if not os.path.isfile(os.path.join("tests", "test_main.py")):
    problems.append("tests/test_main.py is missing")
if problems:
    sys.exit("; ".join(problems))
