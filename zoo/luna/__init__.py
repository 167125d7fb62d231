"""LUNA16 lung nodules (the book "Deep Learning with PyTorch", part 2) as one package.

Importing ``zoo.luna`` imports nothing heavy; the modules, bottom to top:

* :mod:`zoo.luna.family`: registration (light: no torch, numpy or SimpleITK) and the constants it needs;
* :mod:`zoo.luna.geometry`: CT geometry, MetaImage reading, crop placement;
* :mod:`zoo.luna.annotations`: ``candidates.csv`` / ``annotations.csv`` rows, candidate matching;
* :mod:`zoo.luna.synthetic`: the synthetic LUNA16-like generator;
* :mod:`zoo.luna.scans`: the data root, the scan index and the split by scan;
* :mod:`zoo.luna.masks`: nodule masks derived from annotations (the book's box growth);
* :mod:`zoo.luna.cache`: the on-disk cache (crop regions; whole scans with their masks);
* :mod:`zoo.luna.augment`: batched CT augmentation on tensors;
* :mod:`zoo.luna.datasets`: ``luna`` and ``luna_malignancy`` (candidate crops);
* :mod:`zoo.luna.segmentation`: ``luna_seg`` (slice stacks with derived masks);
* :mod:`zoo.luna.models`: ``luna_classifier``, ``luna_malignancy``, ``luna_unet`` and the segmentation loss;
* :mod:`zoo.luna.patches`: CT inference, patch classification and slice-by-slice segmentation;
* :mod:`zoo.luna.froc`: the LUNA16 hit rule, FROC curve and CPM score;
* :mod:`zoo.luna.analysis`: the end-to-end pipeline and its validation;
* :mod:`zoo.luna.commands`: ``zoo cache``, ``zoo data synth-luna``, ``zoo luna analyze/validate``.
"""
