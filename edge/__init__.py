"""edge: from a folder of labelled photos to an int8 image classifier on a Raspberry Pi-class CPU.

`edge.runtime` (no TensorFlow) runs exported models; `edge.train` and `edge.export` need the `train` extra and
are imported only when used.
"""

__version__ = "0.1.0"
