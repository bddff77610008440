"""Where the real competition files are: ``shared/hpa-real`` beside the checkout.

``$HPA_REAL_DIR`` overrides the place. Tests that read these files skip
cleanly when they are absent; nothing here is copied into the repository.
"""
import os
import pathlib

CHECKOUT = pathlib.Path(__file__).resolve().parents[2]
REAL_DIR = pathlib.Path(os.environ.get("HPA_REAL_DIR") or CHECKOUT.parent / "shared" / "hpa-real")
TRAIN_CSV = REAL_DIR / "train.csv"
EXTERNAL_DIR = REAL_DIR / "external"
