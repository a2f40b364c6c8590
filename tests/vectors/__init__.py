"""Named wire vectors, computed by hand from the specifications with the arithmetic beside them.

Shared by the gateway's decoder tests and, if it wants, the simulator's encoder tests: a vector
is the spec's answer, so neither side's code can hide a bug the other shares.
"""
