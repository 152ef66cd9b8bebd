"""Exports to the platforms a course already uses (see gradescope.py).

Kept free of imports so that ``python -m labgrader.exports.gradescope`` runs the module once.
"""
