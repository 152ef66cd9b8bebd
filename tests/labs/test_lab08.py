"""Lab 8: the contract (tests/lab_contract.py) and the lab's classic bugs, each caught by its checks."""

import pytest

LAB_ID = "lab08"
from lab_contract import *  # noqa: E402,F401,F403 - the contract's tests run for this lab
from lab_contract import assert_bug_caught  # noqa: E402

from labgrader.validate import lab_source  # noqa: E402

BUGS = [
    # the zero point from floor instead of round: off by one code for most ranges
    ("quant_params", "np.round(-lo / scale)", "np.floor(-lo / scale)",
     {"agrees_with_reference", "widened_range_closed_form"}),
    # round half up instead of half to even: differs only at exact ties
    ("quantize", "q = np.round(x / scale) + zero_point", "q = np.floor(x / scale + 0.5) + zero_point",
     {"ties_round_half_to_even"}),
    # no subnormals: tiny values get the spacing of their own (non-existent) binade
    ("fp_encode", "E = np.where(a > 0, np.maximum(k - 1, 1 - bias), 1 - bias)", "E = k - 1",
     {"agrees_with_reference", "rounds_to_nearest_ties_to_even"}),
    # accumulating in float32, as a float matmul would: long dot products lose their low bits
    ("int_linear", "acc = (x_q.astype(np.int64) - int(zp_x)) @ W_q.astype(np.int64).T",
     "acc = (x_q.astype(np.float32) - int(zp_x)) @ W_q.astype(np.float32).T", {"long_inputs_stay_exact"}),
    # LSQ without its gradient scale g = 1 / sqrt(N Q_P)
    ("lsq_grads", "g = 1.0 / np.sqrt(v.size * Q_P)", "g = 1.0", {"agrees_with_reference", "step_gradient_closed_form"}),
    # Issue 19, exact ties of documented half-to-even rounding (each got full marks before the tie checks):
    # the zero point rounded half up: only differs when -lo / scale is exactly k + 1/2 with k even
    ("quant_params", "np.round(-lo / scale)", "np.floor(-lo / scale + 0.5)", {"zero_point_ties_round_half_to_even"}),
    # the STE's mask rounded half up: only differs half a step beyond / inside an end of the grid
    ("fake_quant_grad", "unclamped = np.round(x / float(scale))", "unclamped = np.floor(x / float(scale) + 0.5)",
     {"clamp_edge_ties_round_half_to_even"}),
    # LSQ's round(v / s) - v / s rounded half up: +1/2 at every tie instead of -1/2 at the even ones
    ("lsq_grads", "np.round(t) - t", "np.floor(t + 0.5) - t", {"step_gradient_ties_round_half_to_even"}),
    # the Q31 multiplier rounded half up (int(x + 0.5)): one code off at exact ties with an even lower code
    ("quantize_multiplier", "M0 = int(np.round(f * 2.0**31))", "M0 = int(np.floor(f * 2.0**31 + 0.5))",
     {"q31_ties_round_half_to_even"}),
    # no saturation of M0 = 2^31 for M_0 within 2^-32 of 1: before, caught only when a seed happened to draw such an M
    ("quantize_multiplier", "return min(M0, 2**31 - 1), n", "return M0, n", {"saturates_just_below_a_power_of_two"}),
]


@pytest.mark.parametrize("ex_id,old,new,must_fail", BUGS, ids=[b[0] for b in BUGS])
def test_classic_bug_is_caught(lab, ex_id, old, new, must_fail):
    assert_bug_caught(lab, lab_source(lab), ex_id, old, new, must_fail)


def test_the_fp_table_is_fp_value_for_every_code():
    """The checks' table of every code's value (vectorised) against their one-code decoder (the definition)."""
    import numpy as np

    from labgrader.checks.lab08_quantization import FORMATS, _fp_table, _fp_value

    for e, m, finite_only in FORMATS:
        expected = np.array([_fp_value(c, e, m, finite_only) for c in range(2 ** (1 + e + m))])
        np.testing.assert_array_equal(_fp_table(e, m, finite_only), expected, err_msg=f"E{e}M{m} {finite_only}")
        assert np.array_equal(np.signbit(_fp_table(e, m, finite_only)), np.signbit(expected))
