# Runs the agent's three_sum (sample_code.py) on a few cases and prints each result.
from typing import List

from sample_code import three_sum


def check(nums: List[int], target: int, expected: List[int]) -> None:
    result = three_sum(nums, target)
    print(result)
    assert result == expected, f"three_sum({nums}, {target}) gave {result}, expected {expected}"


if __name__ == "__main__":
    check([2, 7, 11, 15], 20, [0, 1, 2])
    check([2, 7, 0, 15, 12, 0], 2, [0, 2, 5])
    check([-6, 7, 11, 4], 9, [0, 2, 3])
