"""Training a network: the run configuration, its factories, the loop.

    config        ``TrainConfig``: every choice of a run, validated in one place
    factories     loss, optimizer and schedule built from a configuration
    loss_weights  per-class and positive weights for imbalanced labels
    trainer       the epoch loop: early stopping, checkpoints, exact resume
    run           one training run of a command: data, model, loop, report
    distributed   ``--distributed``: the process group, and the trainer of one rank
"""
