"""How good are these weights? Top-1/top-5 on a labelled set, per class, with the most
confident mistakes, beside the figure the weights' source reports.

:func:`labelled_images` reads the set (an ImageNet-style synset folder, a folder with a
labels file, a folder of the weights' own classes, or a CIFAR test set) and
:func:`evaluate` streams it through the model with the weights' own preprocessing.
"""

from classifier.evaluate.labelled import LabelledImages, from_folder, labelled_images
from classifier.evaluate.run import Evaluation, Mistake, evaluate

__all__ = ["Evaluation", "LabelledImages", "Mistake", "evaluate", "from_folder", "labelled_images"]
