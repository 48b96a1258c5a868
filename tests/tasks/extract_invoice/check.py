import json, sys
try:
    data = json.load(open("invoice.json", encoding="utf-8"))
except OSError:
    sys.exit("no invoice.json in the workspace")
except ValueError as e:
    sys.exit(f"invoice.json is not JSON: {e}")
if not isinstance(data, dict):
    sys.exit("invoice.json is not a JSON object")
problems = []
if str(data.get("number", "")).strip() != "INV-2024-0917":
    problems.append(f"number is {data.get('number')!r}, expected INV-2024-0917")
if str(data.get("due_date", "")).strip() != "2024-10-15":
    problems.append(f"due_date is {data.get('due_date')!r}, expected 2024-10-15")
total = data.get("total")
if isinstance(total, str):
    try:
        total = float(total.replace(",", ""))
    except ValueError:
        pass
if not isinstance(total, (int, float)) or isinstance(total, bool) or abs(total - 1500.0) > 0.005:
    problems.append(f"total is {data.get('total')!r}, expected 1500.00 as a number")
if problems:
    sys.exit("; ".join(problems))
