"""The figures of the talk and the course, built from code (``make assets``).

``build.py`` lists every figure (``ASSETS``) and builds them into a folder; the figures made
from runs use the simulation's public API (``sim.load``, ``sim.run``) and its figure builders
(``sim.figures``); ``diagram.py`` (the map of the path), ``stack_diagram.py`` (the stack on
AWS, Graphviz) and ``layers_picture.py`` (the layers slide) draw from the layer vocabulary;
``talk_figures.py`` holds the figures made only for the talk. ``python -m assets OUTDIR``.
"""
