"""The built-in synthetic HPA-like data set (``python -m hpa.synthetic``).

    generate     the data set in the Kaggle layout, one random stream per sample
    label_stats  label sets drawn with the real class frequencies and co-occurrences
    cells        a field of cultured cells: nuclei, cytoplasm, mitotic cells
    fields       smooth random fields, spots and ridges the stains are built from
    stains       the red, blue and yellow reference stains
    patterns     one green protein pattern per class
"""
from hpa.synthetic.generate import generate

__all__ = ["generate"]
