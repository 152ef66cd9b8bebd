"""Lab 7 meets the contract every lab meets (tests/lab_contract.py), plus its classic bugs.

The classic bugs run in process (InProcessBackend) with few examples: they test the checks, not
the sandbox. Each is a mistake students make with shares and fixed point, and must fail the named
checks with a property and a counterexample.
"""

LAB_ID = "lab07"

from lab_contract import *  # noqa: E402,F401,F403 - the contract's tests, collected in this module
from lab_contract import grade_in_process  # noqa: E402

import pytest  # noqa: E402

from labgrader.validate import lab_source  # noqa: E402



def _grade(lab, source: str, ex_id: str, examples: int = 25):
    return grade_in_process(lab, source, ex_id, examples)


BUGS = {
    # name: (exercise, old, new, checks that must fail)
    "encode without two's complement (negatives clipped to 0 by a uint64 cast)": (
        "encode_fixed", "return scaled.astype(np.int64).view(np.uint64)",
        "return np.clip(scaled, 0, None).astype(np.uint64)",
        {"agrees_with_reference", "integers_encode_exactly", "round_trip_within_half_unit", "negation_is_ring_negation"}),
    # issue 19: exact rounding ties (k + 1/2) 2^-f are drawn now; before, both got full marks (a random float
    # is never halfway, and the round trip allows either neighbour).
    "encode rounding half away from zero": (
        "encode_fixed", "scaled = np.rint(np.asarray(x, dtype=np.float64) * 2.0**frac_bits)",
        "v = np.asarray(x, dtype=np.float64) * 2.0**frac_bits\n    scaled = np.sign(v) * np.floor(np.abs(v) + 0.5)",
        {"agrees_with_reference", "ties_round_half_to_even"}),
    "encode rounding half up": (
        "encode_fixed", "scaled = np.rint(np.asarray(x, dtype=np.float64) * 2.0**frac_bits)",
        "scaled = np.floor(np.asarray(x, dtype=np.float64) * 2.0**frac_bits + 0.5)",
        {"agrees_with_reference", "ties_round_half_to_even", "negation_is_ring_negation"}),
    "decode reading the ring as unsigned": (
        "decode_fixed", "return x_ring.view(np.int64).astype(np.float64) / 2.0**frac_bits",
        "return x_ring.astype(np.float64) / 2.0**frac_bits",
        {"agrees_with_reference", "upper_half_is_negative", "inverts_the_encoding"}),
    "share that hands the secret to party 1": (
        "share", "return r.copy(), x_ring - r", "return r.copy() - r, x_ring",
        {"agrees_with_reference", "first_share_is_the_mask", "second_share_alone_is_uniform"}),
    "both parties add the public e*f": (
        "beaver_mul", "z1 = c1 + e * b1 + a1 * f\n", "z1 = c1 + e * b1 + a1 * f + e * f\n",
        {"agrees_with_reference", "product_reconstructs", "fixed_point_product_within_error_bound"}),
    "matmul triple used elementwise": (
        "beaver_matmul", "Z1 = C1 + E @ B1 + A1 @ F", "Z1 = C1 + E @ B1 + A1 * F.sum()",
        {"agrees_with_reference", "product_reconstructs"}),
    "truncation with an arithmetic shift on party 0": (
        "truncate_shares", "y0 = x0 >> f", "y0 = (x0.view(np.int64) >> np.int64(f)).view(np.uint64)",
        {"agrees_with_reference", "within_one_unit"}),
    "DaPa with E[x^j] on the right-hand side instead of E[x^j ReLU(x)]": (
        "dapa_gaussian_fit", "v = np.array([moment(j + 1, partial) for j in range(d + 1)])",
        "v = np.array([moment(j, partial) for j in range(d + 1)])",
        {"agrees_with_reference", "standard_normal_quadratic", "centred_linear_fit", "one_sided_inputs"}),
    "hysteresis with >= (non-strict)": (
        "hysteresis_update", "return (old & (aux > -t)) | (~old & (aux > t))",
        "return (old & (aux >= -t)) | (~old & (aux >= t))",
        {"agrees_with_reference", "strict_thresholds"}),
    "naive softplus": (
        "ste_backward", "softplus = np.maximum(aux, 0.0) + np.log1p(np.exp(-np.abs(aux)))",
        "softplus = np.log(1 + np.exp(aux))", {"stable_at_large_aux", "precise_at_very_negative_aux"}),
}


@pytest.mark.parametrize("bug", list(BUGS))
def test_classic_bugs_fail_the_named_checks(lab, bug):
    ex_id, old, new, must_fail = BUGS[bug]
    source = lab_source(lab)
    assert source.count(old) == 1, "the bug's anchor text must be unique in the reference"
    outcomes = _grade(lab, source.replace(old, new), ex_id)
    failed = {n for n, o in outcomes.items() if not o.passed}
    assert must_fail <= failed, (must_fail - failed)
    for n in failed:
        assert "Property:" in outcomes[n].output and "Counterexample" in outcomes[n].output
