"""Shape-only analysis of a model: summary table, layer graph and receptive fields.

Everything runs on the meta device from one torch.fx trace, so it needs no weights and
no accelerator, and even the largest registered nets analyse in a fraction of a second::

    from classifier.analysis import analyze
    a = analyze("resnet50")            # or analyze(module, input_size=(3, 224, 224))
    a.params, a.macs, a.depth, a.final_rf
    print(a.to_text())
    a.graph.to_dot(depth=2)
"""

from classifier.analysis.graph import GraphNode, LayerGraph
from classifier.analysis.summary import Analysis, LayerRow, RFPoint, analyze

__all__ = ["Analysis", "GraphNode", "LayerGraph", "LayerRow", "RFPoint", "analyze"]
