"""The hidden checks of each lab: they compare with the reference implementation, run only on the
course's grader, and are never released to students (``course release`` copies labgrader/checks/<lab>.py,
the public checks, as they are, and not this folder). ``labgrader.checks.load`` registers them into
the public module's registry, after its public checks.
"""
