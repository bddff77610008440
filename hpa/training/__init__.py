"""Training a network: the run configuration, its factories, the loop.

    config        ``TrainConfig``: every choice of a run, validated in one place
    factories     loss, optimizer and schedule built from a configuration
    loss_weights  per-class and positive weights for imbalanced labels
    trainer       the epoch loop: early stopping, checkpoints, exact resume
    position      mid-epoch checkpoints: where in an epoch to continue
    loss_watch    stop on a NaN loss with advice, warn on a runaway one
    preflight     paths and the resumed checkpoint checked before the long work
    pipeline      a whole ``hpa.train`` run: first network, run folder, data, every split, reports
    split         one split: rows, loaders, network, loop, thresholds
    network       each split's network, built once, ``--init`` loaded once
    distributed   ``--distributed``: the process group, and the trainer of one rank
"""
