"""Downloading the HPAv18 external images (``python -m hpa.download_hpav18``).

    plan      the labels file, each image's URL and file, a stratified --limit, the disk estimate
    fetch     one file: timeouts, retries with backoff, a bounded body, a decode check, atomic write
    run       the worker threads, the progress bar, a clean stop on Ctrl-C/SIGTERM
    summary   train.csv of the complete samples, failures.csv, the closing lines
"""
