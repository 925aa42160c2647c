"""Class names of the label sets that weights entries are trained on."""

from __future__ import annotations

import functools

CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# The fine labels in the order of the dataset's meta file (alphabetical).
CIFAR100 = tuple(
    """apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel
    can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin
    elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster
    man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck
    pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk
    skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger
    tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split()
)


@functools.cache
def imagenet() -> tuple[str, ...]:
    """ImageNet-1k's 1000 category names, from torchvision's metadata."""
    import torchvision

    return tuple(torchvision.models.AlexNet_Weights.IMAGENET1K_V1.meta["categories"])


def class_names(labels: str) -> list[str]:
    """The names of a label set: ``imagenet``, ``cifar10`` or ``cifar100``."""
    return list({"imagenet": imagenet, "cifar10": lambda: CIFAR10, "cifar100": lambda: CIFAR100}[labels]())


def default_class_names(num_classes: int) -> list[str]:
    """ImageNet's category names for 1000 classes, else numbered classes."""
    return class_names("imagenet") if num_classes == 1000 else [f"class {i}" for i in range(num_classes)]
