import csv

totals = {}
for row in csv.DictReader(open("sales.csv")):
    totals[row["region"]] = totals.get(row["region"], 0) + int(row["quantity"]) * float(row["unit_price"])
for region, total in sorted(totals.items(), key=lambda kv: -kv[1]):
    print(f"{region}: {total:.2f}")
