"""What the labs' experiments run on: small training loops and the PyTorch losses used to train.

Not graded and shipped to students (``course release``): the graded exercises are the NumPy
functions of ``reference_impl``, which never leave the instructors' side. The torch losses here
restate formulas that the exercises' docstrings already give in full; they exist so that the
experiments can backpropagate, and each is tested equal to its NumPy reference.
Imports point one way: labkit -> labdatasets.
"""
