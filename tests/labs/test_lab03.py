"""Lab 3 meets the contract every lab meets (tests/lab_contract.py), plus its classic bugs.

Each classic bug is a realistic student mistake; the test asserts that the named checks catch it
and that the feedback states the property and shows a counterexample.
"""

LAB_ID = "lab03"

from lab_contract import *  # noqa: E402,F401,F403 - the contract's tests, collected in this module
