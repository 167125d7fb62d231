"""The built-in families' registrations, one light module per family: ``mnist``, ``cifar``, ``text``
(LUNA16 registers from ``zoo.luna.family``).

Each module registers its models and datasets as ``"module:function"`` strings through the public
hooks, and holds the constants that the family's models and datasets share (class names,
normalisation, what the models take), so that models never import datasets. These modules import
only the standard library and hubzoo's light core: listing never imports torch or numpy.
"""
