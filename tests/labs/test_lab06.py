"""Lab 6 meets the contract every lab meets (tests/lab_contract.py), and its checks catch the classic bugs."""

LAB_ID = "lab06"

from lab_contract import *  # noqa: E402,F401,F403 - the contract's tests run for this lab
