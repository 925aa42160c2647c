"""Vision Transformer — "An Image is Worth 16x16 Words: Transformers for Image Recognition
at Scale", Dosovitskiy et al., 2020, arXiv 2010.11929.

The image is cut into fixed patches, each flattened and linearly embedded like a word;
a learned class token and learned position embeddings are added, and a plain
Transformer encoder (pre-norm self-attention and MLP blocks) does the rest. With almost
no image-specific bias it needs very large pre-training data (ImageNet-21k, JFT-300M) to
beat CNNs, but then scales well.

Attention is written out here rather than taken from ``nn.MultiheadAttention`` so that
every block's attention weights pass through its own ``nn.Softmax`` module: a forward
hook on ``encoder.layers.encoder_layer_N.self_attention.softmax`` receives the
(batch, heads, tokens, tokens) map. Parameter names still match torchvision's, so its
weights load.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F

from classifier.layers import DropPath
from classifier.registry import Family, register_model
from classifier.weights.convert import rename
from classifier.weights.entries import WeightEntry, register_weights
from classifier.weights.preprocess import Preprocess

VIT = Family(
    name="ViT",
    year=2020,
    paper="An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale",
    arxiv="2010.11929",
    authors="Dosovitskiy, Beyer, Kolesnikov, Weissenborn, Zhai, Unterthiner, Dehghani, Minderer, "
    "Heigold, Gelly, Uszkoreit, Houlsby",
    ideas=(
        "An image becomes a sequence of patch embeddings, like words in a sentence.",
        "A standard Transformer encoder relates every patch to every other from the first layer.",
        "A learned class token gathers the image's summary for the classifier.",
        "Few built-in image priors: it needs huge pre-training data, then scales better than CNNs.",
    ),
)


class SelfAttention(nn.Module):
    """Multi-head self-attention with the parameters of ``nn.MultiheadAttention``
    (``in_proj_weight``/``in_proj_bias`` for the stacked query, key and value
    projections, ``out_proj``), and the softmax as a module so hooks can read the maps."""

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        nn.init.xavier_uniform_(self.in_proj_weight)
        self.softmax = nn.Softmax(dim=-1)
        self.attn_dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(dim, dim)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, N, 3·D) → (3, B, heads, N, head_dim)
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        qkv = qkv.unflatten(-1, (3, self.num_heads, self.head_dim)).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attention = self.softmax((q * self.scale) @ k.transpose(-2, -1))
        out = self.attn_dropout(attention) @ v
        return self.out_proj(out.transpose(1, 2).flatten(2))


class EncoderBlock(nn.Module):
    """Pre-norm Transformer block: x + attention(LN(x)), then x + MLP(LN(x)), the MLP
    widening to ``mlp_dim`` with a GELU. Names follow torchvision's ``EncoderBlock``."""

    def __init__(
        self, dim: int, num_heads: int, mlp_dim: int, dropout: float, attention_dropout: float, drop_path: float
    ):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = SelfAttention(dim, num_heads, attention_dropout)
        self.dropout = nn.Dropout(dropout)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(mlp_dim, dim), nn.Dropout(dropout)
        )
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.dropout(self.self_attention(self.ln_1(x))))
        return x + self.drop_path(self.mlp(self.ln_2(x)))


class Encoder(nn.Module):
    """Position embeddings, the stack of blocks and a final LayerNorm."""

    def __init__(
        self, seq_length: int, num_layers: int, num_heads: int, dim: int, mlp_dim: int,
        dropout: float, attention_dropout: float, drop_path: float,
    ):
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, seq_length, dim).normal_(std=0.02))
        self.dropout = nn.Dropout(dropout)
        # Stochastic depth grows linearly with depth, from 0 to ``drop_path``.
        rates = [drop_path * i / max(1, num_layers - 1) for i in range(num_layers)]
        self.layers = nn.Sequential(
            OrderedDict(
                (f"encoder_layer_{i}", EncoderBlock(dim, num_heads, mlp_dim, dropout, attention_dropout, rates[i]))
                for i in range(num_layers)
            )
        )
        self.ln = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(self.layers(self.dropout(x + self.pos_embedding)))


class VisionTransformer(nn.Module):
    """Patch embedding (a conv with kernel = stride = patch size), class token, encoder,
    and a linear head on the class token. The position embeddings fix the input to
    ``image_size``; names follow torchvision's ``VisionTransformer``."""

    def __init__(
        self,
        image_size: int,
        patch_size: int,
        num_layers: int,
        num_heads: int,
        dim: int,
        mlp_dim: int,
        num_classes: int = 1000,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        drop_path: float = 0.0,
    ):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch_size}")
        self.image_size = image_size
        self.patch_size = patch_size
        self.conv_proj = nn.Conv2d(3, dim, patch_size, patch_size)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        seq_length = (image_size // patch_size) ** 2 + 1
        self.encoder = Encoder(seq_length, num_layers, num_heads, dim, mlp_dim, dropout, attention_dropout, drop_path)
        self.heads = nn.Sequential(OrderedDict(head=nn.Linear(dim, num_classes)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = self.conv_proj(x).flatten(2).transpose(1, 2)  # (B, N, D)
        tokens = torch.cat([self.class_token.expand(patches.shape[0], -1, -1), patches], dim=1)
        return self.heads(self.encoder(tokens)[:, 0])


def vit(num_classes: int, image_size: int = 224, **config) -> VisionTransformer:
    return VisionTransformer(image_size, num_classes=num_classes, **config)


# name: (patch, layers, heads, width, MLP width, parameters, source). The counts are
# torchvision's (weights metadata num_params; H/14 built at 224) and timm's for the DeiT
# sizes; the papers round them (ViT Table 1: 86M, 307M, 632M; DeiT Table 1: 5M, 22M).
CONFIGS = {
    "vit_ti_16": (16, 12, 3, 192, 768, 5_717_416, "timm deit_tiny_patch16_224 (DeiT Table 1: 5M)"),
    "vit_s_16": (16, 12, 6, 384, 1536, 22_050_664, "timm deit_small_patch16_224 (DeiT Table 1: 22M)"),
    "vit_b_16": (16, 12, 12, 768, 3072, 86_567_656, "torchvision vit_b_16 (paper Table 1: 86M)"),
    "vit_b_32": (32, 12, 12, 768, 3072, 88_224_232, "torchvision vit_b_32 (paper Table 1: 86M for ViT-Base)"),
    "vit_l_16": (16, 24, 16, 1024, 4096, 304_326_632, "torchvision vit_l_16 (paper Table 1: 307M for ViT-Large)"),
    "vit_l_32": (32, 24, 16, 1024, 4096, 306_535_400, "torchvision vit_l_32 (paper Table 1: 307M for ViT-Large)"),
    "vit_h_14": (14, 32, 16, 1280, 5120, 632_045_800, "torchvision vit_h_14 built at 224 (paper Table 1: 632M)"),
}
TORCHVISION = {"vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14"}


def _register() -> None:
    for name, (patch, layers, heads, dim, mlp_dim, params, source) in CONFIGS.items():
        size = name.split("_")[1].upper()
        register_model(
            name,
            family=VIT,
            variant=f"{size}/{patch}",
            paper_params=params,
            params_source=source,
            stages=[("conv_proj", dim, patch)],
            torchvision=name if name in TORCHVISION else None,
            block="encoder.layers.encoder_layer_0",
            notes="Every encoder layer keeps the token grid of conv_proj (stride "
            f"{patch}); the tokens, (batch, 1 + patches, {dim}), carry no channel axis.",
            patch_size=patch,
            num_layers=layers,
            num_heads=heads,
            dim=dim,
            mlp_dim=mlp_dim,
        )(vit)


_register()
register_model(
    "vit_lite_7_4_cifar",
    family=VIT,
    variant="ViT-Lite-7/4, 32×32 input",
    input_size=(3, 32, 32),
    num_classes=10,
    paper_params=3_717_000,
    params_source="Hassani et al. 2021, arXiv 2104.05704 (Compact Transformers README: ViT-Lite-7/4 3.717M)",
    stages=[("conv_proj", 256, 4)],
    small_input=True,
    block="encoder.layers.encoder_layer_0",
    notes="7 layers, 4 heads, width 256, MLP ratio 2, 4×4 patches: 64 patch tokens and a class token.",
    image_size=32,
    patch_size=4,
    num_layers=7,
    num_heads=4,
    dim=256,
    mlp_dim=512,
    dropout=0.1,
    attention_dropout=0.1,
    drop_path=0.1,
)(vit)


# timm's VisionTransformer names → ours (torchvision's). The stacked qkv projection is laid
# out (q, k, v) × heads × head_dim in both, so it maps as is.
TIMM_VIT = rename(
    (r"^cls_token$", "class_token"),
    (r"^pos_embed$", "encoder.pos_embedding"),
    (r"^patch_embed\.proj\.", "conv_proj."),
    (r"^blocks\.(\d+)\.", r"encoder.layers.encoder_layer_\1."),
    (r"\.norm1\.", ".ln_1."),
    (r"\.norm2\.", ".ln_2."),
    (r"\.attn\.qkv\.weight$", ".self_attention.in_proj_weight"),
    (r"\.attn\.qkv\.bias$", ".self_attention.in_proj_bias"),
    (r"\.attn\.proj\.", ".self_attention.out_proj."),
    (r"\.mlp\.fc1\.", ".mlp.0."),
    (r"\.mlp\.fc2\.", ".mlp.3."),
    (r"^norm\.", "encoder.ln."),
    (r"^head\.", "heads.head."),
)

register_weights(
    *(
        WeightEntry(
            model=model, source="timm", source_model=arch, tag="fb_in1k",
            dataset="ImageNet-1k", num_classes=1000,
            preprocess=Preprocess.imagenet(224, 0.9, "bicubic"),
            hf_repo=f"timm/{arch}.fb_in1k",
            top1=top1, metric_source="timm results-imagenet.csv (via research notes)",
            license="Apache-2.0",
            convert=(TIMM_VIT,),
            notes=f"DeiT-{size} without distillation (Touvron et al. 2020): ViT-{size}/16 trained on "
            "ImageNet-1k alone with DeiT's recipe; the same layers, timm's names renamed to ours.",
        )
        for model, arch, size, top1 in (
            ("vit_ti_16", "deit_tiny_patch16_224", "Ti", 72.19),
            ("vit_s_16", "deit_small_patch16_224", "S", 79.86),
        )
    )
)
