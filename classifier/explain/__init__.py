"""Looking inside a model for one image: predictions, activations, ZFNet's deconvnet,
captum's attributions, occlusion, effective receptive fields and ViT attention.

Every function takes the model and a preprocessed batch (from
:class:`classifier.weights.Preprocess`) and returns tensors or numpy arrays;
:mod:`classifier.explain.render` turns them into pictures. Each holds the model's lock
while it runs (:mod:`classifier.explain.safety`), so threads sharing one cached model
get the same answers as a thread alone.
"""

from classifier.explain.activations import Activations, activations, layer_output, map_tiles
from classifier.explain.attention import Attention, attention, has_attention
from classifier.explain.attributions import (LAYER_METHODS, METHODS, OcclusionMap, attribute, gradcam_layers, occlusion,
                                              occlusion_positions)
from classifier.explain.deconvnet import Projection, deconvolution, neuron_deconvolution, top_projections
from classifier.explain.erf import EffectiveField, centre_unit, effective_field
from classifier.explain.layer_info import LayerInfo, default_layer, explainable_layers, find_layer, uses_relu
from classifier.explain.predict import Prediction, logits, predict
from classifier.explain.safety import exclusive, model_lock

__all__ = [
    "Activations",
    "Attention",
    "EffectiveField",
    "LAYER_METHODS",
    "LayerInfo",
    "METHODS",
    "OcclusionMap",
    "Prediction",
    "Projection",
    "activations",
    "attention",
    "attribute",
    "centre_unit",
    "deconvolution",
    "effective_field",
    "exclusive",
    "explainable_layers",
    "find_layer",
    "default_layer",
    "uses_relu",
    "gradcam_layers",
    "has_attention",
    "layer_output",
    "logits",
    "map_tiles",
    "model_lock",
    "neuron_deconvolution",
    "occlusion",
    "occlusion_positions",
    "predict",
    "top_projections",
]
