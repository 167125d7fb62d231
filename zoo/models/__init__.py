"""Models, one file per family. Builders are keyword-only and return an ``nn.Module`` without
weights; ``zoo.get_model`` and the hub entries load weights on top."""
