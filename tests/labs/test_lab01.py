"""Lab 1 meets the contract every lab meets (tests/lab_contract.py).

Its example submissions are graded in more detail by tests/labgrader/test_grading.py (the demo's
fixture), so the contract's examples test is not repeated here.
"""

LAB_ID = "lab01"

from lab_contract import (  # noqa: E402,F401 - the contract's tests, collected in this module
    lab,
    test_contract_alternatives_get_full_marks,
    test_contract_exercises_and_checks_agree,
    test_contract_reference_passes_every_check,
    test_contract_solution_notebook_runs_top_to_bottom,
)
