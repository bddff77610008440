"""What a trained network does: predictions, scores and pictures.

    inference       batched logits and probabilities (no activations kept), TTA, ensembles
    metrics         macro F1 and the per-class table, as scikit-learn computes them
    thresholds      per-class threshold search and its cross-fitted score
    report          the run report: baselines, scores, files
    cam             class activation maps over the four stains
    training_plots  training curves, per-class F1, F1 against threshold
    data_plots      label statistics and sample montages
"""
