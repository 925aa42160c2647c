"""The ideas behind the architectures, as small computations the Concepts page runs live.

Each module covers one idea (activations, convolution arithmetic, normalisation, dropout,
efficient convolutions, label smoothing, the ensemble view of ResNet, evolution search)
and returns plain numbers and arrays; drawing them is the page's job.
"""
