"""The green protein channel: one pattern generator per class.

``PATTERNS[c](scene)`` draws class ``c``: it returns a dense (S, S) float32
image (peak about 1) and/or adds point-like structures to ``scene.spots``.
The generators use the geometry in ``scene.cells`` (masks, distances, MTOC
and nucleolus positions; see :mod:`hpa.synthesis.cells`) and the reference
patterns in ``scene.stains`` (see :mod:`hpa.synthesis.stains`).

Look-alike classes differ in the details a network has to learn, and several
can only be told apart with the reference channels:

* nucleoplasm / speckles / bodies / nucleoli / fibrillar centres: all in the
  nucleus (blue), differing in fill, spot size and count, and nucleolar
  position (nucleoli are dark in blue);
* ER / cytosol / microtubules / intermediate filaments / actin: all fill the
  cytoplasm; ER matches yellow, microtubules match red, the filament classes
  run in other directions than the red mesh;
* peroxisomes / endosomes / lysosomes / mitochondria / cytoplasmic bodies /
  lipid droplets / rods & rings: cytoplasmic puncta differing in size,
  density, brightness spread, shape and distance from the nucleus;
* MTOC / centrosome / Golgi / aggresome: next to the nucleus, at the MTOC;
* plasma membrane / cell junctions: cell outlines, all or shared ones only.

Sizes are in reference pixels (of a 256 px image) times ``u``. The
generators live in :mod:`hpa.synthesis.nuclear_patterns` and
:mod:`hpa.synthesis.cytoplasm_patterns`, built from the shapes in
:mod:`hpa.synthesis.pattern_parts`; this module lists them in class order.
"""
from hpa.synthesis.cytoplasm_patterns import (
    actin_filaments,
    cell_junctions,
    cytokinetic_bridge,
    cytoplasmic_bodies,
    cytosol,
    endoplasmic_reticulum,
    endosomes,
    focal_adhesion_sites,
    intermediate_filaments,
    lipid_droplets,
    lysosomes,
    microtubule_ends,
    microtubules,
    mitochondria,
    mitotic_spindle,
    peroxisomes,
    plasma_membrane,
    rods_and_rings,
)
from hpa.synthesis.nuclear_patterns import (
    aggresome,
    centrosome,
    golgi_apparatus,
    microtubule_organizing_center,
    nuclear_bodies,
    nuclear_membrane,
    nuclear_speckles,
    nucleoli,
    nucleoli_fibrillar_center,
    nucleoplasm,
)

PATTERNS = (
    nucleoplasm,
    nuclear_membrane,
    nucleoli,
    nucleoli_fibrillar_center,
    nuclear_speckles,
    nuclear_bodies,
    endoplasmic_reticulum,
    golgi_apparatus,
    peroxisomes,
    endosomes,
    lysosomes,
    intermediate_filaments,
    actin_filaments,
    focal_adhesion_sites,
    microtubules,
    microtubule_ends,
    cytokinetic_bridge,
    mitotic_spindle,
    microtubule_organizing_center,
    centrosome,
    lipid_droplets,
    plasma_membrane,
    cell_junctions,
    mitochondria,
    aggresome,
    cytosol,
    cytoplasmic_bodies,
    rods_and_rings,
)
