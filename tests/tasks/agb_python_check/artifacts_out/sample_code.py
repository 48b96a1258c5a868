from itertools import combinations
from typing import List, Optional


def three_sum(nums: List[int], target: int) -> Optional[List[int]]:
    """Indices (ascending) of three numbers of nums that add up to target, or None."""
    for i, j, k in combinations(range(len(nums)), 3):
        if nums[i] + nums[j] + nums[k] == target:
            return [i, j, k]
    return None
