"""Reading the files of a data set.

    labels         the 28 classes, the four stains, ``Target`` strings and label matrices
    sample_ids     what a sample Id may be: a file-name stem, never a path
    channel_files  ``<Id>_<colour>.<ext>`` names, listing a folder, mixed extension spellings
    imageio        one image file -> uint8 array, with one-line errors; area resizing
    dataset        a folder in the Kaggle or HPAv18 layout -> Ids, labels, file paths
"""
