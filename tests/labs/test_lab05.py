"""Lab 5 (NAS) meets the contract every lab meets (tests/lab_contract.py), plus its classic bugs."""

LAB_ID = "lab05"

from lab_contract import *  # noqa: E402,F401,F403 - the contract's tests, collected in this module
