"""Command-line options of a parallel LeNet small enough to train in seconds (32 px, narrow layers)."""

TINY_LENET_OPTIONS = ["--image-size", "32", "--batch-size", "16", "--model-option", "branch_features=8",
                      "--model-option", "conv_channels=[4,8]", "--model-option", "hidden=[16,16]"]
TINY_LENET = ["--model", "parallel_lenet", "--val-fraction", "0.25", *TINY_LENET_OPTIONS, "--early-stopping", "0"]
