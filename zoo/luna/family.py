"""Registration of the LUNA16 family, and the constants registration, models and datasets share.

A light module: it imports no torch, numpy, scipy or SimpleITK. Models and datasets are registered as
``"module:function"`` strings, so that listing them imports nothing; the implementation modules import
their constants from here.
"""

from __future__ import annotations

from zoo.hookspecs import hookimpl
from zoo.weights import shipped_manifest_path

__all__ = [
    "CROP_SIZE", "INPUT_SHAPE", "SEGMENTATION_INPUT_SHAPE", "CLASS_NAMES", "MALIGNANCY_NAMES", "SEG_CLASS_NAMES",
    "SPLITS", "DEFAULT_SYNTHETIC", "register_models", "register_datasets",
]

CROP_SIZE = (32, 48, 48)  # (index, row, column) voxels of a candidate crop
INPUT_SHAPE = (1, *CROP_SIZE)  # the classifiers' input without the batch: one channel of HU
SEGMENTATION_INPUT_SHAPE = (7, 64, 64)  # (channels = slices, rows, columns) of a segmentation training crop
CLASS_NAMES = ("non-nodule", "nodule")
MALIGNANCY_NAMES = ("benign", "malignant")
SEG_CLASS_NAMES = ("background", "nodule")
SPLITS = ("train", "val", "test", "all")
#: The set generated when no root is given (``zoo.luna.synthetic.synthesize`` arguments): enough nodules
#: for a malignancy test split of about 25 malignant ones; 100 scans of 48 x 128 x 128 voxels, about
#: 160 MB, a minute or two to generate.
DEFAULT_SYNTHETIC = {"n_scans": 100, "seed": 0}

_CROP_INPUT = "float32 [N, 1, 32, 48, 48]: a CT crop (index, row, column) in Hounsfield units clipped to [-1000, 1000]"
#: The LUNA16 models take CT voxels in Hounsfield units, not images: their input is made by the analysis
#: pipeline (zoo.luna.analysis: read the .mhd scan, resample, clip, segment, crop), so they declare no image
#: preprocessing, and `zoo predict` (``predict_inputs``) runs that pipeline on .mhd scans.
_SCAN_INPUTS = {"preprocessing": None, "predict_inputs": "zoo.luna.analysis:predict_scans",
                "preprocessing_note": "CT voxels in HU from a .mhd scan through the analysis pipeline "
                                      "(zoo luna analyze, zoo predict NAME SCAN.mhd), not images"}


@hookimpl
def register_models(register):
    manifest = str(shipped_manifest_path())
    register("luna_classifier", "zoo.luna.models:luna_classifier", task="classification", weights=manifest,
             tags=("luna", "ct", "3d", "book"),
             description="The book's LUNA16 nodule classifier: input batch norm, 4 blocks of 2 conv3d + max-pool (8-64 ch), linear head.",
             input=_CROP_INPUT, output="logits [N, 2] (non-nodule, nodule)", input_shape=INPUT_SHAPE, output_shape=(2,),
             **_SCAN_INPUTS, class_names=CLASS_NAMES, head="head",
             recipe="zoo train luna_classifier --data luna --root ROOT -d balance_ratio=1 --epochs 10")
    register("luna_malignancy", "zoo.luna.models:luna_malignancy", task="classification", weights=manifest,
             tags=("luna", "ct", "3d", "book"),
             description="The LUNA16 backbone with a benign/malignant head, initialised from a nodule classifier (--init ...).",
             init_only_kwargs=("init_from",), input=_CROP_INPUT, output="logits [N, 2] (benign, malignant)",
             input_shape=INPUT_SHAPE, output_shape=(2,), class_names=MALIGNANCY_NAMES, **_SCAN_INPUTS, head="head",
             recipe="zoo train luna_malignancy --data luna_malignancy --root ROOT "
                    "--init runs/luna_classifier-luna/model.safetensors -k finetune=block4 -d balance_ratio=1")
    register("luna_unet", "zoo.luna.models:luna_unet", task="segmentation", weights=manifest,
             tags=("luna", "ct", "2d", "unet", "book"),
             description="The book's LUNA16 nodule segmentation U-Net: input batch norm over 7 slices, depth 3 (16-64 ch), 1 logit per pixel.",
             input="float32 [N, 7, H, W]: a CT slice and 3 neighbours on each side (index order), in Hounsfield units "
                   "clipped to [-1000, 1000]; any H, W (training crops are 64x64, evaluation uses whole slices)",
             output="logits [N, 1, H, W] of the nodule class (sigmoid >= 0.5: nodule)",
             input_shape=SEGMENTATION_INPUT_SHAPE, output_shape=(1, *SEGMENTATION_INPUT_SHAPE[1:]), class_names=SEG_CLASS_NAMES,
             **_SCAN_INPUTS, head="head", dynamic_dims={2: "height", 3: "width"},
             recipe="zoo train luna_unet --data luna_seg --root ROOT --epochs 24 --batch-size 32 --schedule cosine "
                    "--patience 0 --amp --channels-last -k loss=bce_dice")


@hookimpl
def register_datasets(register):
    common = {"extra": "luna", "splits": SPLITS}
    register("luna", "zoo.luna.datasets:luna", task="classification", num_classes=2, class_names=CLASS_NAMES, **common,
             description="LUNA16 nodule candidates, 32x48x48 CT crops, nodule vs non-nodule (root=None: synthetic set)")
    register("luna_malignancy", "zoo.luna.datasets:luna_malignancy", task="classification", num_classes=2,
             class_names=MALIGNANCY_NAMES, **common,
             description="LUNA16 nodules, 32x48x48 CT crops, benign vs malignant (root=None: synthetic set)")
    register("luna_seg", "zoo.luna.segmentation:luna_seg", task="segmentation", num_classes=2, class_names=SEG_CLASS_NAMES,
             **common,
             description="LUNA16 nodule segmentation, 7-slice stacks: 64x64 crops (train) or whole slices, "
                         "masks derived by box growth at -700 HU, not hand-drawn (root=None: synthetic set)")
