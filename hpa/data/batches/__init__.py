"""From a cache's rows to training and validation batches.

    splits          iterative-stratification hold-out and K-fold splits
    sampling        rare-class oversampling
    loader          seeded, prefetching batches of normalised float32 images
    run_ahead       the next batches built in background threads
    sharded_loader  one rank's slice of every batch, for data-parallel runs
"""
