"""Command-line options of a parallel LeNet small enough to train in seconds (32 px, narrow layers)."""

TINY_LENET = ["--model", "parallel_lenet", "--image-size", "32", "--batch-size", "16", "--val-fraction", "0.25",
              "--model-option", "branch_features=8", "--model-option", "conv_channels=[4,8]",
              "--model-option", "hidden=[16,16]", "--early-stopping", "0"]
