"""Lab 3 meets the contract every lab meets (tests/lab_contract.py), plus its classic bugs.

Each classic bug is a realistic student mistake; the test asserts that the named checks catch it
and that the feedback states the property and shows a counterexample.
"""

LAB_ID = "lab03"

from lab_contract import *  # noqa: E402,F401,F403 - the contract's tests, collected in this module
from lab_contract import assert_bug_caught  # noqa: E402

import pytest  # noqa: E402

from labgrader.validate import lab_source  # noqa: E402

BUGS = {
    # name: (exercise, anchor in the reference, replacement, checks that must fail)
    "threshold instead of an exact count": (
        "magnitude_mask", "keep[order[:k]] = False\n    return keep.reshape(w.shape)",
        "return np.abs(w) > (np.abs(w).ravel()[order[k - 1]] if k else -1.0)",
        {"agrees_with_reference", "prunes_exactly_round_s_n", "ties_go_to_the_lower_index"}),
    "ties broken towards the higher index": (
        "magnitude_mask", 'order = np.argsort(np.abs(w).ravel(), kind="stable")',
        'order = np.argsort(-np.abs(w).ravel(), kind="stable")[::-1]  # descending, reversed: ties reversed too',
        {"agrees_with_reference", "ties_go_to_the_lower_index"}),
    "layer-wise masks where a global ranking is asked for": (
        "global_magnitude_masks", "keep = magnitude_mask(flat, sparsity)  # (n_total,) the same rule on the concatenation",
        "keep = np.concatenate([magnitude_mask(a, sparsity).ravel() for a in arrays])",
        {"agrees_with_reference", "one_threshold_for_all_layers", "not_layer_wise"}),
    "next layer pruned along the wrong axis": (
        "prune_filters", "return W[keep], b[keep], W_next[:, keep]", "return W[keep], b[keep], W_next[keep[keep < W_next.shape[0]]]",
        {"agrees_with_reference", "keeps_layers_consistent_and_ordered"}),
    "N:M groups along the output dimension": (
        "nm_mask", "groups = a.reshape(out, -1, m)  # (out, G, m)", "groups = a.T.reshape(-1, out, m) if out % m == 0 else a.reshape(out, -1, m)",
        {"agrees_with_reference"}),
    "s / n of the original weights per round": (
        "imp_rate_per_round", "return float(1.0 - (1.0 - sparsity) ** (1.0 / rounds))", "return float(sparsity / rounds)",
        {"agrees_with_reference", "n_rounds_reach_the_target"}),
    "FPR and FNR swapped": (
        "per_class_fpr_fnr", "return fpr.astype(np.float64), fnr.astype(np.float64)", "return fnr.astype(np.float64), fpr.astype(np.float64)",
        {"agrees_with_reference", "errors_add_up", "absent_class_rates_are_zero"}),
    "0/0 left as nan": (
        "per_class_fpr_fnr", "fnr = np.where(pos > 0, fn / np.maximum(pos, 1), 0.0)", "fnr = fn / pos",
        {"absent_class_rates_are_zero"}),
    "divides by the new rate": (
        "rate_change", "return (new - base) / np.maximum(base, floor)", "return (new - base) / np.maximum(new, floor)",
        {"agrees_with_reference", "doubling_is_plus_one"}),
    "sample variance (ddof = 1)": (
        "cev", "return float(np.mean((d_fpr - d_fpr.mean()) ** 2 + (d_fnr - d_fnr.mean()) ** 2))",
        "return float(np.var(d_fpr, ddof=1) + np.var(d_fnr, ddof=1)) if d_fpr.size > 1 else 0.0",
        {"agrees_with_reference", "two_classes_by_hand"}),
    "signed instead of absolute distance": (
        "sde", "return float(np.mean(np.abs(d_fnr - d_fpr)) / np.sqrt(2.0))",
        "return float(abs(np.mean(d_fnr - d_fpr)) / np.sqrt(2.0))",
        {"agrees_with_reference", "mean_absolute_distance_by_hand"}),
    "SDE without the 1/sqrt(2) of eq. III.6 (the lab's formula before issue 22)": (
        "sde", "return float(np.mean(np.abs(d_fnr - d_fpr)) / np.sqrt(2.0))", "return float(np.mean(np.abs(d_fnr - d_fpr)))",
        {"agrees_with_reference", "mean_absolute_distance_by_hand", "one_class_is_its_euclidean_distance_to_the_diagonal"}),
    "no centring": (
        "svcca", "        X = X - X.mean(axis=1, keepdims=True)  # (n, N) centred per neuron\n", "",
        {"agrees_with_reference", "invariant_to_invertible_maps"}),
    "variance threshold on singular values, not their squares": (
        "svcca", "        energy = S**2\n", "        energy = S\n",
        {"variance_threshold_is_on_squared_singular_values"}),
}


# Issue 19: mistakes the checks could not see before their strategies drew long inputs and exact
# ties. np.argsort's default sort is stable below 17 entries, so a missing kind="stable" breaks the
# tie rule only on longer inputs; round half up differs from half to even only on an exact x.5.
# (The same mistake in magnitude_mask and nm_mask now fails their public ties_go_to_the_lower_index
# checks too; not repeated here, to keep this file's time: a long counterexample takes seconds to shrink.)
BUGS.update({
    # name: (exercise, old, new, checks that must fail); "before" = what the checks of main found
    "prune_filters: argsort without kind='stable' (before: full marks)": (
        "prune_filters", 'removed = np.argsort(scores, kind="stable")[:k]', "removed = np.argsort(scores)[:k]",
        {"ties_go_to_the_lower_index", "agrees_with_reference"}),
    "magnitude_mask: round half up (before: when graded, only the tie check failed)": (
        "magnitude_mask", "k = int(np.round(sparsity * w.size))", "k = int(np.floor(sparsity * w.size + 0.5))",
        {"prunes_exactly_round_s_n", "agrees_with_reference"}),
})


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # buggy code divides 0 / 0: that is the bug
@pytest.mark.parametrize("bug", list(BUGS))
def test_classic_bug_fails_the_named_checks(lab, bug):
    ex_id, old, new, must_fail = BUGS[bug]
    assert_bug_caught(lab, lab_source(lab), ex_id, old, new, must_fail)
