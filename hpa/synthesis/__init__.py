"""The generator of the built-in synthetic HPA-like data set (its command: ``python -m hpa.synthetic``).

    generate            the data set in the Kaggle layout, one random stream per sample
    label_stats         label sets drawn with the real class frequencies and co-occurrences
    layout              where the cells of a field are: seeds, territories, borders
    cells               what is inside each cell: nucleus, nucleoli, MTOC, mitosis
    fields              smooth random fields, spots and ridges the stains are built from
    stains              the red, blue and yellow reference stains
    patterns            one green protein pattern per class, in class order
    nuclear_patterns    the patterns in and beside the nucleus
    cytoplasm_patterns  the patterns of the cytoplasm and the cell outline
    pattern_parts       rods, rings, puncta and texture the patterns share
    cached              the set in the cache folder, generated on first use (runs without --data)

Nothing is imported here: the command (``hpa/synthetic.py``) loads NumPy and the
drawing code inside its ``main``, where Ctrl-C already ends in one line.
Write the set with ``hpa.synthesis.generate.generate``.
"""
